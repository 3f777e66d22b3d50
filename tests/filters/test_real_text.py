"""Defaults that hold on real text: a wire story is words, not punctuation; Windows line ends
and invisible characters change nothing; rejected rows carry the value that failed; a filter's
statistics can be kept and reused."""

from __future__ import annotations

import pyarrow as pa
import pytest

from filters import C4, FineWebQuality, GopherQuality, GopherRepetition
from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe
from scorers import FastTextLangId
from tests.pipeline.test_runners import outputs

WIRE = (
    "LONDON, March 5 (Reuters) - Britain's biggest lender, HSBC Holdings Plc, said on Tuesday "
    "its annual profit rose 15% to $17.5 billion, beating analysts' forecasts, as higher "
    "interest rates lifted lending margins in Asia and Europe.\n"
    "The bank, which makes most of its money in Hong Kong, also announced a share buyback of "
    "up to $2 billion and raised its dividend to 31 cents a share, from 23 cents a year "
    "earlier.\n"
    '"We have delivered a strong performance," Chief Executive Noel Quinn said in a statement. '
    '"Our results show the benefit of our international network."\n'
    "Shares in HSBC rose 2.4% in early trading in London, outperforming a 0.3% gain in the "
    "FTSE 100 index (.FTSE).\n"
    'The lender said it expected its net interest income to be "at least $35 billion" in 2024, '
    "up from its earlier guidance of $34 billion, subject to changes in the interest rate "
    "outlook.\n"
    "(Reporting by Lawrence White; Editing by Jason Neely and Kirsten Donovan)"
)
DEFAULT_CHAIN = (GopherRepetition(), GopherQuality(), C4(), FineWebQuality())


def test_a_wire_story_counts_words_as_the_gopher_paper_does():
    assert GopherQuality().measure(WIRE).alpha_word_ratio == pytest.approx(0.924, abs=1e-3)
    assert GopherQuality().reasons([WIRE]).to_pylist() == [None]
    # datatrove's tokens make each comma and period a word without a letter
    strict = GopherQuality(words="datatrove")
    assert strict.reasons([WIRE]).to_pylist() == ["gopher_quality:alpha_word_ratio<0.8"]


@pytest.mark.parametrize("line_end", ["\r\n", "\r"])
def test_windows_and_old_mac_line_ends_change_nothing(line_end):
    for step in DEFAULT_CHAIN:
        assert step.reasons([WIRE.replace("\n", line_end)]).to_pylist() == [None], step.name


def test_invisible_characters_are_not_content():
    blog = "\n\n".join(["\u200b"] * 19 + [p for p in WIRE.split("\n")] + ["\ufeff\u00a0"] * 3)
    for step in DEFAULT_CHAIN:
        assert step.reasons([blog]).to_pylist() == [None], step.name


def test_lang_id_keeps_only_confident_languages_by_default():
    mixed = "como hago esto? for i in range(10): print(i) x = [a for a in b] if x: return y"
    scored = FastTextLangId(languages=["en"])([mixed])
    assert scored["lang_score"][0].as_py() < 0.65
    assert FastTextLangId(languages=["en"]).reasons([mixed]).to_pylist()[0] is not None


def test_rejected_rows_carry_the_value_that_failed():
    short = "Only a few words here, far too few for a page."
    _, rejected = GopherQuality().split(pa.table({"text": [WIRE, short]}))
    assert rejected["reject_reason"].to_pylist() == ["gopher_quality:word_count<50"]
    assert rejected["reject_value"].to_pylist() == [11.0]  # whitespace words
    looping = "the same line again\n" * 10 + WIRE
    _, rejected = GopherRepetition().split([looping])
    assert rejected["reject_reason"][0].as_py() == "gopher_repetition:dup_line_frac>0.3"
    assert rejected["reject_value"][0].as_py() == pytest.approx(9 / 16)


def heuristics(inp, out, min_words: int, **gopher) -> object:
    return parse_recipe(
        {
            "name": "stats",
            "input": {"path": str(inp)},
            "output": {"path": str(out)},
            "steps": [
                {"gopher_quality": {"stats": True, "min_words": min_words, **gopher}},
                {"fineweb_quality": {"stats": True}},
            ],
        }
    )


def test_kept_statistics_are_reused_when_a_threshold_moves(small_samples, tmp_path):
    first = run_recipe(heuristics(small_samples, tmp_path / "a", 50), "local", progress=False)
    kept, rejected = outputs(tmp_path / "a")
    assert {"gopher_quality_word_count", "fineweb_quality_line_punct_ratio"} <= set(
        kept.column_names
    )
    again = run_recipe(
        heuristics(small_samples, tmp_path / "b", 200),
        "local",
        progress=False,
        reuse_scores=tmp_path / "a",
    )
    assert "gopher_quality_alpha_word_ratio" in again["run"]["reused_scores"]["columns"]
    kept_b, _ = outputs(tmp_path / "b")
    assert kept_b.num_rows < kept.num_rows
    assert min(kept_b["gopher_quality_word_count"].to_pylist()) >= 200
    # another word count mode changes the statistics themselves: nothing is reused
    other = run_recipe(
        heuristics(small_samples, tmp_path / "c", 50, words="datatrove"),
        "local",
        progress=False,
        reuse_scores=tmp_path / "a",
    )
    assert not any(c.startswith("gopher_quality") for c in other["run"]["reused_scores"]["columns"])
    assert first["rows"]["in"] == again["rows"]["in"]


def test_reusing_embeddings_after_a_heuristic_threshold_moves(small_samples, tmp_path):
    def recipe(out, min_words: int) -> object:
        return parse_recipe(
            {
                "name": "embed",
                "input": {"path": str(small_samples)},
                "output": {"path": str(out)},
                "steps": [
                    {"gopher_quality": {"min_words": min_words}},
                    {"embed": {"max_tokens": 32}},
                ],
            }
        )

    run_recipe(recipe(tmp_path / "a", 400), "local", progress=False)
    # More rows reach `embed` now: the new ones are embedded, the others reused.
    run_recipe(recipe(tmp_path / "b", 300), "local", progress=False, reuse_scores=tmp_path / "a")
    kept_a, _ = outputs(tmp_path / "a")
    kept_b, _ = outputs(tmp_path / "b")
    assert kept_b.num_rows > kept_a.num_rows and kept_b["embedding"].null_count == 0
    same = kept_b.filter(pa.compute.is_in(kept_b["id"], kept_a["id"]))
    assert (
        same["embedding"].to_pylist()
        == kept_a.filter(pa.compute.is_in(kept_a["id"], same["id"]))["embedding"].to_pylist()
    )


SHORT_STORY = (
    "Wine workers stop work\n"
    "Workers at Hardy Wines' Stanley winery in south-western New South Wales have walked off "
    "the job for the second time in a week.\n"
    "Forty staff walked out this morning in a dispute over a new enterprise agreement.\n"
    "The union says the company wants to cut penalty rates for weekend work.\n"
    "The company says it will take the matter to the Industrial Relations Commission on Friday."
)
WRAPPED = (
    "Home | News | Sport | Weather\nSign in\nSearch\n"
    "Workers at Hardy Wines' Stanley winery have walked off the job for the second time in a "
    "week. Forty staff walked out this morning. The union says the company wants to cut rates.\n"
    "Share this on Facebook\nShare this on Twitter\nRelated stories\nMost read\nNewsletter\n"
    "Copyright 2024 Regional News Network. All rights reserved\nContact us\nAdvertise\n"
)


def test_a_short_story_passes_c4_but_a_paragraph_in_site_chrome_does_not():
    assert C4().reasons([SHORT_STORY]).to_pylist() == [None]  # 4 sentences, 93% prose
    assert C4().reasons([WRAPPED]).to_pylist() == ["c4:sentence_count<5"]
    published = C4(short_page_sentences=None)
    assert published.reasons([SHORT_STORY]).to_pylist() == ["c4:sentence_count<5"]


def test_a_line_ending_in_a_quote_or_a_space_is_punctuated():
    lines = ['He said it was "a good thing."', "The rains came early. ", "Prices rose (again.)"]
    stats = FineWebQuality().measure("\n".join(lines * 3))
    assert stats.line_punct_ratio == 1.0
