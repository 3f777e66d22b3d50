"""Rubric prompt files and the strict parser of a teacher's answer."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import RecipeError, first_line

DEFAULT_PATTERN = r"(?m)^\s*Score:[ \t]*(?P<answer>[^\n]*?)\s*$"
_INTEGER = re.compile(r"[+-]?\d+")
_KEYS = {
    "name",
    "system",
    "user",
    "scale",
    "labels",
    "answer_pattern",
    "max_chars",
    "max_tokens",
    "temperature",
}


@dataclass(frozen=True)
class Answer:
    """A parsed answer: the score (an integer, or the index of a label), the label, or why not."""

    score: int | None
    label: str | None
    error: str | None


@dataclass(frozen=True)
class Rubric:
    """A rubric prompt: messages around a document and what a valid answer looks like.

    `scale` (inclusive integer bounds) or `labels` (ordered low to high; a label's score is its
    index) says what the answer may be; `answer_pattern` is a regex whose named group `answer`
    holds it, and the last match in the reply counts.
    """

    name: str
    system: str
    user: str
    scale: tuple[int, int] | None = None
    labels: tuple[str, ...] | None = None
    answer_pattern: str = DEFAULT_PATTERN
    max_chars: int = 2000
    max_tokens: int = 256
    temperature: float = 0.0

    @property
    def hash(self) -> str:
        """sha256 of everything that can change the teacher's answer or its reading."""
        fields = {
            "system": self.system,
            "user": self.user,
            "scale": self.scale,
            "labels": self.labels,
            "answer_pattern": self.answer_pattern,
            "max_chars": self.max_chars,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def messages(self, document: str) -> list[dict[str, str]]:
        """The chat messages for one document, truncated to `max_chars`."""
        text = document[: self.max_chars]
        found = [{"role": "user", "content": self.user.replace("{document}", text)}]
        return ([{"role": "system", "content": self.system}] if self.system else []) + found

    def parse(self, reply: str) -> Answer:
        """The answer in `reply`, strictly: the last `answer_pattern` match must be an integer
        on the scale, or exactly one of the labels (case-insensitive)."""
        matches = list(re.finditer(self.answer_pattern, reply or ""))
        if not matches:
            return Answer(None, None, "no answer line")
        value = matches[-1].group("answer").strip()
        if self.labels is not None:
            known = {label.lower(): i for i, label in enumerate(self.labels)}
            if value.lower() not in known:
                return Answer(None, None, f"unknown label {value[:40]!r}")
            index = known[value.lower()]
            return Answer(index, self.labels[index], None)
        if not _INTEGER.fullmatch(value):
            return Answer(None, None, f"not an integer: {value[:40]!r}")
        low, high = self.scale or (0, 0)
        score = int(value)
        if not low <= score <= high:
            return Answer(None, None, f"out of scale {low}-{high}: {score}")
        return Answer(score, str(score), None)


def load_rubric(path: str | Path) -> Rubric:
    """A Rubric from a YAML prompt file; a malformed file is one RecipeError naming the key."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise RecipeError(f"prompt file {path}: cannot read it ({first_line(err)})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"prompt file {path}: expected a mapping of keys")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise RecipeError(
            f"prompt file {path}: unknown key {unknown[0]!r} (known: {sorted(_KEYS)})"
        )
    for key in ("name", "user"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise RecipeError(f"prompt file {path}: key {key!r} must be a non-empty string")
    if "{document}" not in data["user"]:
        raise RecipeError(f"prompt file {path}: key 'user' must contain {{document}}")
    if ("scale" in data) == ("labels" in data):
        raise RecipeError(f"prompt file {path}: set exactly one of 'scale' or 'labels'")
    return Rubric(
        name=data["name"],
        system=str(data.get("system") or ""),
        user=data["user"],
        scale=_scale(path, data.get("scale")),
        labels=_labels(path, data.get("labels")),
        answer_pattern=_pattern(path, data.get("answer_pattern", DEFAULT_PATTERN)),
        max_chars=_positive(path, data, "max_chars", 2000),
        max_tokens=_positive(path, data, "max_tokens", 256),
        temperature=float(data.get("temperature", 0.0)),
    )


def _scale(path: str | Path, value: Any) -> tuple[int, int] | None:
    """The scale's (min, max), checked."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or set(value) != {"min", "max"}
        or not all(isinstance(value[k], int) for k in ("min", "max"))
        or value["min"] >= value["max"]
    ):
        raise RecipeError(f"prompt file {path}: 'scale' must be {{min: INT, max: INT}}, min < max")
    return value["min"], value["max"]


def _labels(path: str | Path, value: Any) -> tuple[str, ...] | None:
    """The labels, low to high, checked."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, str) for v in value):
        raise RecipeError(f"prompt file {path}: 'labels' must be a list of two or more strings")
    if len({v.lower() for v in value}) != len(value):
        raise RecipeError(f"prompt file {path}: 'labels' repeat a label")
    return tuple(value)


def _pattern(path: str | Path, value: Any) -> str:
    """A regex with an `answer` group."""
    try:
        compiled = re.compile(str(value))
    except re.error as err:
        raise RecipeError(f"prompt file {path}: 'answer_pattern' is no regex ({err})") from None
    if "answer" not in compiled.groupindex:
        raise RecipeError(f"prompt file {path}: 'answer_pattern' needs a group (?P<answer>...)")
    return str(value)


def _positive(path: str | Path, data: dict[str, Any], key: str, default: int) -> int:
    """A positive integer setting."""
    value = data.get(key, default)
    if not isinstance(value, int) or value <= 0:
        raise RecipeError(f"prompt file {path}: {key!r} must be a positive integer")
    return value
