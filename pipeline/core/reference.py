"""The step reference in Markdown (docs/steps.md), generated from the registry."""

from __future__ import annotations

import inspect
import re
from typing import Any

from pydantic import BaseModel

from pipeline.core.registry import origin, registered
from pipeline.core.step import Step, StepParams

HEADER = """# Steps

Every step tamis registers, generated from the registry by `tamis list --markdown docs/steps.md`
(`make docs`; a test fails when this file is stale). A rejected row's reason is
`<step>:<rule>` (the rules each step lists below), `duplicate:<method>` for dedup steps, or
`invalid:<why>` for a row without usable text. Plugin steps are listed by `tamis list`.
"""


def steps_markdown(only_origin: str | None = "tamis") -> str:
    """The reference of registered steps (those of `only_origin`, or all): shared parameters
    once per base, then each step's description and its own parameters."""
    steps = {n: s for n, s in registered().items() if only_origin in (None, origin(n))}
    bases = _shared_bases(steps.values())
    parts = [HEADER, "## Contents\n"]
    parts += [f"- [`{name}`](#{name}) ({step.kind})" for name, step in steps.items()]
    parts.append("\n## Parameters shared by many steps\n")
    for base in bases:
        parts.append(f"**{_title(base)}**\n\n{_table(base, _own_fields(base, bases))}\n")
    parts.append("## The steps\n")
    for name, step in steps.items():
        parts.append(_section(name, step, bases))
    return "\n".join(parts).rstrip() + "\n"


def _section(name: str, step: type[Step], bases: list[type[BaseModel]]) -> str:
    """One step: kind, version, origin, its docstring, its own parameters."""
    shared = [b for b in step.Params.__mro__ if b in bases]
    doc = inspect.cleandoc(step.__doc__ or "(no description)")
    lines = [
        f"### {name}\n",
        f"*{step.kind} step, version {step.version}, from {origin(name)}; also takes the "
        f"parameters of {' and '.join(_title(b).lower() for b in reversed(shared))}.*\n",
        doc + "\n",
    ]
    fields = _own_fields(step.Params, bases)
    lines.append(_table(step.Params, fields) if fields else "No parameters of its own.")
    return "\n".join(lines) + "\n"


def _shared_bases(steps: Any) -> list[type[BaseModel]]:
    """Parameter classes that steps inherit (StepParams first), in a stable order."""
    found: list[type[BaseModel]] = []
    for step in steps:
        for base in reversed(step.Params.__mro__[1:]):
            if isinstance(base, type) and issubclass(base, StepParams) and base not in found:
                found.append(base)
    return found


def _own_fields(params: type[BaseModel], bases: list[type[BaseModel]]) -> list[str]:
    """Fields `params` declares beyond those of the shared bases it inherits (a base's own)."""
    inherited = {
        f
        for b in params.__mro__[1:]
        if b in bases
        for f in b.model_fields  # type: ignore[attr-defined]
    }
    return [f for f in params.model_fields if f not in inherited]


def _title(base: type[BaseModel]) -> str:
    """'Every step', 'Every filter', ... from the class's docstring ("Parameters every step
    takes...")."""
    found = re.match(r"Parameters (.+?) takes", (base.__doc__ or "").strip())
    return found.group(1).capitalize() if found else base.__name__


def _table(params: type[BaseModel], fields: list[str]) -> str:
    """A Markdown table of fields: name, default, description."""
    rows = ["| parameter | default | description |", "|---|---|---|"]
    for field in fields:
        info = params.model_fields[field]
        default = (
            "required"
            if info.is_required()
            else f"`{info.get_default(call_default_factory=True)!r}`"
        )
        text = " ".join((info.description or "").split()).replace("|", "\\|")
        rows.append(f"| `{field}` | {default} | {text} |")
    return "\n".join(rows)
