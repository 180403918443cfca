"""The report page without a browser: escaping, partial runs, colour scale, figures.

Runs are hand-built (tests/report_run.py: random relevances, the real analyze stage), so
these tests take seconds. The browser checks are in test_report_browser.py.
"""

from __future__ import annotations

import html
import json
import re

import pytest

from report_run import HOSTILE, build_handmade_run
from stablex.errors import StablexError
from stablex.report import build_report
from stablex.report.colors import STOPS, diverging, grey
from stablex.report.page import script_json
from stablex.report.sections import SECTIONS
from stablex.report.svg import Series, histogram, line_chart

TEXTS = [
    f"Le titre {HOSTILE} et la suite du texte.",
    "Une tribune sur l'école, et « des guillemets » ; puis la fin.",
    "Le gouvernement a annoncé 12 000 emplois lundi selon l'AFP.",
    "Pourquoi faut-il encore en parler ? Parce que rien ne change !",
    "Un texte court.",
    "Le 😀 émoji avant un mot décalerait les offsets UTF-16 : ici non.",
]
SECTION_IDS = [sid for sid, _, _ in SECTIONS]


def scripts(page: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", page, flags=re.I)


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory) -> str:
    run = build_handmade_run(tmp_path_factory.mktemp("hostile"), TEXTS)
    return build_report(run).read_text()


def test_corpus_markup_is_escaped(hostile_page):
    page = hostile_page
    # exactly the page's own two script elements: the viewer's data and its code
    assert scripts(page) == ['<script type="application/json" id="viewer-data">', "<script>"]
    assert "<script>alert(1)" not in page and "<img src=x" not in page and "onerror=alert(2)>" not in page
    # the text is in the data, recoverable exactly, so the viewer shows it as text
    blob = re.search(r'<script type="application/json" id="viewer-data">(.*?)</script>', page, re.S).group(1)
    assert "<" not in blob
    texts = {t["id"]: t["text"] for t in json.loads(blob)["texts"]}
    assert texts["d0"] == TEXTS[0]
    # the run's own strings (study.toml) are escaped in the HTML
    assert html.escape('name = "hand-made <run>"', quote=True) in page


def test_script_json_cannot_close_the_element():
    s = script_json({"t": "</script><!-- <script>x</script>"})
    assert "</" not in s and "<!--" not in s and json.loads(s) == {"t": "</script><!-- <script>x</script>"}


def test_every_section_present_and_partial_sections_name_their_command(hostile_page):
    page = hostile_page
    for sid in SECTION_IDS:
        assert f'<section id="{sid}" data-section="{sid}">' in page
    # this run has seeds, explanations and an analysis, nothing else
    missing = set(re.findall(r'data-missing="([a-z]+)"', page))
    assert missing == {"features", "faithfulness", "explain"}  # explain: conservation needs lrp's summary.json
    assert "stablex features RUN" in page and "stablex faithfulness RUN --method lrp" in page
    assert "ρ = " in page  # the verdict's agreement number


def test_run_with_only_a_split(tmp_path):
    run = build_handmade_run(tmp_path, TEXTS[:2], analyse=False)
    for p in (run / "seeds").rglob("*"):
        p.unlink() if p.is_file() else None
    for p in sorted((run / "explanations").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    page = build_report(run).read_text()
    assert set(re.findall(r'data-missing="([a-z]+)"', page)) == {
        "train",
        "analyze",
        "explain",
        "features",
        "faithfulness",
    }
    assert scripts(page) == []  # no viewer without explanations
    assert all(f'id="{sid}"' in page for sid in SECTION_IDS)


def test_not_a_run(tmp_path):
    with pytest.raises(StablexError, match="not a stablex run directory"):
        build_report(tmp_path)


def test_viewer_without_analysis_uses_the_seeds_shown(tmp_path):
    run = build_handmade_run(tmp_path, TEXTS, analyse=False)
    page = build_report(run).read_text()
    blob = json.loads(re.search(r'id="viewer-data">(.*?)</script>', page, re.S).group(1))
    t = blob["texts"][0]
    assert len(t["seeds"]) == 3 and len(t["consensus"]["mean"]) == len(t["spans"])
    rel = [t["seeds"][s]["rel"][0] for s in ("0", "1", "2")]
    assert t["consensus"]["mean"][0] == pytest.approx(sum(rel) / 3, rel=1e-3)


def test_relevance_is_shown_toward_the_reference_class(tmp_path):
    """Seeds that explained 'news' have their sign flipped: every map reads toward 'opinion'."""
    import pyarrow.parquet as pq

    run = build_handmade_run(tmp_path, TEXTS[:3], analyse=False)
    page = build_report(run).read_text()
    blob = json.loads(re.search(r'id="viewer-data">(.*?)</script>', page, re.S).group(1))
    assert blob["reference"] == "opinion"
    raw = pq.read_table(run / "explanations" / "lrp" / "seed-0.parquet").to_pylist()
    first = next(r for r in raw if r["doc_id"] == "d0" and r["word_index"] == 0)
    shown = blob["texts"][[t["id"] for t in blob["texts"]].index("d0")]["seeds"]["0"]["rel"][0]
    sign = 1 if first["target"] == "opinion" else -1
    assert shown == pytest.approx(sign * first["relevance"], rel=1e-3)


def test_colour_scale_is_diverging_centred_and_readable_in_grey():
    assert diverging(0.0, 1.0) == STOPS[len(STOPS) // 2]
    assert diverging(5.0, 1.0) == STOPS[-1] and diverging(-5.0, 1.0) == STOPS[0]
    assert diverging(0.3, 0.0) == STOPS[len(STOPS) // 2]  # an all-zero text: white, no division by zero
    steps = [i / 10 for i in range(11)]
    for side in (1, -1):
        lum = [grey(diverging(side * v, 1.0)) for v in steps]
        assert all(a > b for a, b in zip(lum, lum[1:])), f"lightness must fall with |value| ({side:+d})"
    # the two sides are distinguishable in colour: red-dominant vs blue-dominant
    r, b = diverging(0.8, 1.0), diverging(-0.8, 1.0)
    assert int(r[1:3], 16) > int(r[5:7], 16) and int(b[5:7], 16) > int(b[1:3], 16)


def test_figures_escape_labels_and_survive_empty_input():
    svg = histogram([], "a <b> label")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "no defined value" in svg
    chart = line_chart([Series("<s>", [1, 2], [0.1, None])], "x", "y")
    assert "<s>" not in chart and "&lt;s&gt;" in chart
