"""The textblob-fr lexicon loader and user word lists."""

from __future__ import annotations

import pytest

from stablex.errors import StablexError
from stablex.features.lexicons import load_sentiment_lexicon, load_word_list, normalise_word, polarity_lexicons


def test_textblob_fr_lexicon_is_read_from_the_package():
    lex = load_sentiment_lexicon()
    assert 5000 < len(lex) < 5200  # 5,116 entries, 3 forms listed twice
    assert lex["bon"].polarity == pytest.approx(0.70) and lex["bon"].subjectivity == pytest.approx(0.70)
    assert lex["abominable"].polarity == pytest.approx(-0.90)


def test_duplicates_are_averaged_and_forms_normalised(tmp_path):
    xml = tmp_path / "lex.xml"
    xml.write_text(
        '<?xml version="1.0" encoding="utf-8"?><sentiment>'
        '<word form="Fort" polarity="0.2" subjectivity="0.4" />'
        '<word form="fort" polarity="0.6" subjectivity="0.8" />'
        '<word form="aujourd’hui" polarity="-0.5" subjectivity="0.1" /></sentiment>',
        encoding="utf-8",
    )
    lex = load_sentiment_lexicon(str(xml))
    assert lex["fort"].polarity == pytest.approx(0.4) and lex["fort"].subjectivity == pytest.approx(0.6)
    assert "aujourd'hui" in lex
    lists = polarity_lexicons(0.3, 0.5, path=str(xml))
    assert lists.positive == {"fort"} and lists.negative == {"aujourd'hui"} and lists.subjective == {"fort"}


def test_thresholds_split_the_lexicon():
    loose, strict = polarity_lexicons(0.1, 0.5), polarity_lexicons(0.5, 0.9)
    assert strict.positive < loose.positive and strict.negative < loose.negative
    assert "bon" in loose.positive and "mauvais" in loose.negative and "abominable" in strict.subjective
    assert not loose.positive & loose.negative
    with pytest.raises(StablexError, match="polarity_threshold"):
        polarity_lexicons(1.5, 0.5)


def test_bad_lexicon_files(tmp_path):
    with pytest.raises(StablexError, match="not found"):
        load_sentiment_lexicon(str(tmp_path / "missing.xml"))
    bad = tmp_path / "bad.xml"
    bad.write_text("<sentiment><word form='x' polarity='high' subjectivity='0'/></sentiment>")
    with pytest.raises(StablexError, match="numeric"):
        load_sentiment_lexicon(str(bad))


def test_normalise_word():
    assert normalise_word("L’Homme") == "homme"
    assert normalise_word("n’") == "n'"
    assert normalise_word("«") == "«"
    assert normalise_word("-je") == "je"
    assert normalise_word("aujourd'hui,") == "aujourd'hui"


def test_word_list(tmp_path):
    f = tmp_path / "w.txt"
    f.write_text("Certes\n\n# comment\nDoute # a comment\n", encoding="utf-8")
    assert load_word_list(f) == {"certes", "doute"}
    (tmp_path / "phrase.txt").write_text("certes\nsans doute\n", encoding="utf-8")
    with pytest.raises(StablexError, match=r"phrase.txt, line 2: 'sans doute' has several words"):
        load_word_list(tmp_path / "phrase.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(StablexError, match="no words"):
        load_word_list(tmp_path / "empty.txt")
    with pytest.raises(StablexError, match="not found"):
        load_word_list(tmp_path / "nope.txt")
