"""The rubric file and the strict answer parser, on handwritten replies."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.errors import RecipeError
from pipeline.teach.prompt import Rubric, load_rubric

EDU = Path(__file__).resolve().parents[2] / "configs" / "prompts" / "edu.yaml"


@pytest.fixture
def edu() -> Rubric:
    return load_rubric(EDU)


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("Score: 3", 3),
        ("The page explains photosynthesis.\nScore: 4", 4),
        ("Score: 1\nOn reflection, more.\nScore: 2", 2),  # the last answer line counts
        ("  Score:   0  \n", 0),
        ("Score: 5", 5),
    ],
)
def test_parser_accepts_exact_format(edu: Rubric, reply: str, score: int) -> None:
    answer = edu.parse(reply)
    assert (answer.score, answer.label, answer.error) == (score, str(score), None)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("I would give it a 3.", "no answer line"),
        ("", "no answer line"),
        ("Score: 3/5", "not an integer: '3/5'"),
        ("Score: 3.", "not an integer: '3.'"),
        ("Score: three", "not an integer: 'three'"),
        ("Score: 6", "out of scale 0-5: 6"),
        ("Score: -1", "out of scale 0-5: -1"),
        ("The Score: 4", "no answer line"),  # the answer must be its own line
    ],
)
def test_parser_rejects_anything_else(edu: Rubric, reply: str, error: str) -> None:
    answer = edu.parse(reply)
    assert (answer.score, answer.label, answer.error) == (None, None, error)


def test_labels_rubric_scores_by_position(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: yn\nuser: 'Is it good? {document}'\nlabels: [bad, ok, good]\n"
        "answer_pattern: '(?m)^Verdict: (?P<answer>.*)$'\n"
    )
    rubric = load_rubric(path)
    assert rubric.parse("Verdict: Good").__dict__ == {"score": 2, "label": "good", "error": None}
    assert rubric.parse("Verdict: great").error == "unknown label 'great'"
    assert rubric.messages("x" * 5000)[0]["content"] == "Is it good? " + "x" * 2000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: a\nuser: 'no placeholder'\nscale: {min: 0, max: 5}\n", "must contain {document}"),
        ("name: a\nuser: '{document}'\n", "set exactly one of 'scale' or 'labels'"),
        ("name: a\nuser: '{document}'\nscale: {min: 5, max: 0}\n", "'scale' must be"),
        ("name: a\nuser: '{document}'\nscale: {min: 0, max: 5}\ncolour: red\n", "unknown key"),
        (
            "name: a\nuser: '{document}'\nscale: {min: 0, max: 5}\nanswer_pattern: 'S: (\\d)'\n",
            "needs a group (?P<answer>...)",
        ),
    ],
)
def test_bad_prompt_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError, match="prompt file .*p.yaml") as err:
        load_rubric(path)
    assert message in str(err.value)


def test_prompt_hash_follows_what_the_teacher_sees(edu: Rubric) -> None:
    from dataclasses import replace

    assert edu.hash == load_rubric(EDU).hash
    assert replace(edu, max_chars=100).hash != edu.hash
    assert replace(edu, user=edu.user + " ").hash != edu.hash
