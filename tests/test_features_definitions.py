"""Each feature on hand-made French sentences, counts made by hand.

Values are per 100 tokens (tokens = spaCy tokens, spaces excluded, punctuation included),
so each test states the token count N and the raw count c, and checks value == 100 c / N.
Sentences for the POS-based features (verbs, adjectives, relative pronouns) were chosen
among those fr_core_news_sm tags correctly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from stablex.config import FeaturesConfig
from stablex.errors import StablexError
from stablex.features.definitions import DocView, Feature, FeatureSet, TokenCount, default_feature_set, per100
from stablex.features.extract import compute_features, parse


@pytest.fixture(scope="module")
def fs():
    return default_feature_set()


def view(text: str) -> DocView:
    return DocView.from_doc(next(parse([text])))


def values(fs, text: str) -> tuple[int, dict[str, float]]:
    v = view(text)
    return v.n, dict(zip(fs.names, fs.values(v)))


def test_study_features_are_registered_with_descriptions(fs):
    assert len(fs.names) == 19  # the study's 18 + subjective words
    for f in fs.features:
        assert f.description and f.why


@pytest.mark.parametrize(
    "text,n,expected",
    [
        # elisions with a typographic apostrophe; « n'... jamais » and « ne ... pas » once each; « on »
        (
            "L’homme n’a jamais dit qu’il ne viendrait pas... On verra…",
            15,
            {"negations": 2, "pronoun_on": 1, "ellipses": 2, "first_person": 0, "question_marks": 0},
        ),
        # French quotation marks, first person, ; : ? ! and one number written with a space
        (
            "« Je pense que c'est faux », dit-il ; nous savons : 12 000 euros, trois fois ?!",
            23,
            {
                "quotation_marks": 2,
                "first_person": 2,
                "semicolons": 1,
                "colons": 1,
                "question_marks": 1,
                "exclamation_marks": 1,
                "numbers": 2,
                "negations": 0,
                "ellipses": 0,
            },
        ),
        ("Il n’a rien vu.", 6, {"negations": 1}),
        ("C'est pas grave.", 5, {"negations": 1}),  # negation without « ne »
        ("Il ne vient pas et ne mange jamais.", 9, {"negations": 2, "verbs": 2}),
        (
            "La femme dont je parle, qui est venue, est belle.",
            13,
            {"relative_pronouns": 2, "first_person": 1, "verbs": 2, "adjectives": 1},
        ),
        ("Je pense que tu viens.", 6, {"relative_pronouns": 0}),  # « que » conjunction, not relative
        ("Elle a vendu deux maisons en 2021 pour 12 000 euros.", 12, {"numbers": 3}),
        (
            "Un bon film, un mauvais livre, un crime abominable.",
            12,
            {"positive_words": 1, "negative_words": 2, "subjective_words": 3, "numbers": 0, "long_words": 1},
        ),
        (
            "« Ça suffit ! » Pourquoi ? Parce que... bref… voilà : fin ; “OK”.",
            20,
            {
                "quotation_marks": 4,
                "exclamation_marks": 1,
                "question_marks": 1,
                "ellipses": 2,
                "colons": 1,
                "semicolons": 1,
            },
        ),
        ("Extraordinairement, aujourd'hui, le chat.", 7, {"long_words": 2}),
    ],
)
def test_counts_per_100_tokens(fs, text, n, expected):
    got_n, got = values(fs, text)
    assert got_n == n
    for name, count in expected.items():
        assert got[name] == pytest.approx(100 * count / n), name


def test_word_length_and_cttr(fs):
    n, got = values(fs, "Le chat dort.")  # words le(2) chat(4) dort(4)
    assert got["avg_word_length"] == pytest.approx(10 / 3)
    assert got["cttr"] == pytest.approx(3 / math.sqrt(6))
    _, got = values(fs, "Le chat et le chien.")  # 5 words, 4 types (le twice, case folded)
    assert got["cttr"] == pytest.approx(4 / math.sqrt(10))
    _, got = values(fs, "L'homme.")  # « L' » is a one-letter word
    assert got["avg_word_length"] == pytest.approx(6 / 2)


def test_token_weights_sum_to_the_values(fs):
    v = view("« Je ne sais pas », dit-on ; c'est pourtant simple : 3 options… Lesquelles ?")
    assert np.allclose(fs.token_weights(v).sum(axis=0), fs.values(v))


def test_memoised_values_equal_the_per_token_definitions_on_the_corpus(lemonde_path):
    """values() reads TokenCount features from a table of distinct tokens; token_weights()
    evaluates each token: both must agree on real articles (bodies: thousands of distinct
    tokens, so the table grows past its first allocation)."""
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        lemonde_path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(include_columns=["body"]),
    ).slice(0, 60)
    fresh = default_feature_set()  # its own row memo, filled by these texts
    n_tokens = 0
    for doc in parse([b or "" for b in table.column("body").to_pylist()]):
        v = DocView.from_doc(doc)
        n_tokens += v.n
        assert np.allclose(fresh.token_weights(v).sum(axis=0), fresh.values(v), rtol=1e-12, atol=1e-12)
    assert n_tokens > 20_000


def test_a_view_sent_to_another_process_does_not_use_this_processs_word_ids(fs):
    import pickle

    v = view("« Je ne sais pas », dit-on ; 3 options… Lesquelles ?")
    copy = pickle.loads(pickle.dumps(v))
    assert v.word_ids is not None and copy.word_ids is None
    assert np.array_equal(fs.values(copy), fs.values(v))


def test_token_count_extension(fs):
    custom = FeatureSet()
    custom.add(Feature("capitals", "capitalised words", "proper names", TokenCount(lambda w: w.text[:1].isupper())))
    custom.add(
        Feature(
            "verb_lemmas",
            "verbs whose lemma is 'dire'",
            "reported speech",
            TokenCount(lambda w: w.pos == "VERB" and w.lemma == "dire"),
        )
    )
    v = view("Les ministres disent que Paul a dit non à Paris.")  # 11 tokens; « disent », « dit » are VERB
    assert v.n == 11
    assert custom.values(v) == pytest.approx([100 * 3 / 11, 100 * 2 / 11])  # Les, Paul, Paris


def test_empty_text_gives_zeros(fs):
    assert not compute_features(["", "  "], fs).any()


def test_user_word_list_and_plugin(tmp_path, fs):
    words = tmp_path / "hedges.txt"
    words.write_text("# hedges\npeut-être\nsemble  # inline comment\n", encoding="utf-8")
    cfg = FeaturesConfig(word_lists={"hedges": str(words)})
    custom = default_feature_set(cfg)
    assert custom.names[-1] == "hedges"
    v = view("Il semble que ce soit peut-être vrai.")
    assert custom.values(v)[-1] == pytest.approx(100 * 2 / v.n)
    custom.add(
        Feature(
            "capitals",
            "capitalised words",
            "proper names mark reports",
            lambda dv: per100(dv, [w[:1].isupper() for w in dv.text]),
        )
    )
    assert custom.values(view("Paris et Lyon."))[-1] == pytest.approx(100 * 2 / 4)
    with pytest.raises(StablexError, match="defined twice"):
        custom.add(Feature("capitals", "x", "y", lambda dv: np.zeros(dv.n)))
    with pytest.raises(StablexError, match="plugins"):
        default_feature_set(FeaturesConfig(plugins=["no_such_module_xyz"]))
