"""What every recipe step shares: a registered name, a version, a kind, validated parameters,
the packages it imports and the resources one of its workers needs.

The kind says how a runner runs the step, so the core never asks which package a step comes
from: a `row` step runs on each chunk as a plain task, a `model` step loads a model once per
worker (an actor pool on Ray), a `global` step decides over the whole dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.core.columns import RECORD_FIELDS
from pipeline.core.errors import MissingDependencyError
from pipeline.core.resources import Requirement, Resources

if TYPE_CHECKING:
    from pipeline.io.storage import Location

# Parameters a step may take to override its declared resources, per worker.
RESOURCE_PARAMS = ("cpus", "gpus", "memory_gb")


class StepKind(StrEnum):
    """How a runner runs a step."""

    ROW = "row"  # a vectorised decision on each chunk, run as plain tasks
    MODEL = "model"  # loads a model once per worker; an actor pool on Ray
    GLOBAL = "global"  # decides over the whole dataset (dedup, percentile cuts)


class StepParams(BaseModel):
    """Parameters every step takes; each step's nested `Params` adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text_column: str = Field("text", description="Column holding the document text.")
    field: Literal["prompt", "response", "conversation"] | None = Field(
        None,
        description="For instruction records: run on the user turns (prompt), the assistant "
        "turns (response) or every turn (conversation) instead of text_column.",
    )

    @model_validator(mode="before")
    @classmethod
    def _field_names_the_text(cls, data: Any) -> Any:
        """`field: prompt` reads the record's prompt text; it replaces `text_column`."""
        if isinstance(data, dict) and data.get("field") is not None:
            if data.get("text_column", RECORD_FIELDS.get(data["field"])) != RECORD_FIELDS.get(
                data["field"]
            ):
                raise ValueError("set field or text_column, not both")
            data = {**data, "text_column": RECORD_FIELDS.get(data["field"], data["field"])}
        return data


class Step:
    """Root of every step. `__init__` only validates and stores parameters, so a step is cheap
    to build and to pickle to workers. Subclasses declare, as class data: `kind`, `Params`,
    `requires` (modules to import, checked on the driver before any data is read) and
    `resources` (what one worker needs; a `gpus`/`cpus`/`memory_gb` parameter overrides it).
    """

    name: ClassVar[str] = "step"
    version: ClassVar[int] = 1  # bump when outputs change for the same params
    kind: ClassVar[StepKind] = StepKind.ROW
    Params: ClassVar[type[StepParams]] = StepParams
    requires: ClassVar[tuple[Requirement | tuple[str, ...], ...]] = ()
    resources: ClassVar[Resources] = Resources()
    requires_records: ClassVar[bool] = False  # reads instruction records' columns (`_messages`)

    def __init__(self, params: BaseModel | Mapping[str, Any] | None = None, **kwargs: Any):
        given = params.model_dump(exclude_unset=True) if isinstance(params, BaseModel) else params
        self.params = self.Params.model_validate({**(given or {}), **kwargs})
        self.prepared: dict[str, Any] = {}  # what `prepare` made for the workers

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params.model_dump(exclude_defaults=True)})"

    def prepare(self, work: Location) -> None:
        """Run once on the driver after the run's checks, before any row is read: build what
        every worker needs (an index, say) under the folder `work`, which all workers can read,
        and keep where in `self.prepared`. Nothing by default."""

    def prerequisites(self, earlier: list[Step]) -> list[Step]:
        """Steps a recipe must run before this one that `earlier` lacks (none by default)."""
        return []

    def text_input(self) -> str:
        """The column of text this step reads: its text column, or for a step of instruction
        records, the conversation text."""
        return RECORD_FIELDS["conversation"] if self.requires_records else self.params.text_column

    def input_columns(self) -> list[str]:
        """Columns this step reads from its rows, checked against the input before a run (its
        text column by default)."""
        return [self.text_input()]

    def output_columns(self) -> dict[str, pa.DataType]:
        """Columns this step adds to the rows it keeps (none by default)."""
        return {}

    def may_change(self, column: str) -> bool:
        """Whether this step may change the values of input `column` in the rows it keeps. Yes
        unless a subclass knows better: a stage leaves input columns no step has changed out of
        its pieces and reads them again from the input (pipeline/run/deferred_columns.py)."""
        return True

    def reuse_key(self) -> str | None:
        """A key of everything but the model file that can change this step's output columns,
        so that another run may reuse them (`--reuse-scores`); None when they cannot be."""
        return None

    def model_digest(self) -> str | None:
        """A content hash of the model this step loads, or None when it loads none or the
        model is not on this machine (a hub id not downloaded, a file since removed)."""
        return None

    def worker_resources(self) -> Resources:
        """The declared `resources`, with any resource parameter the recipe sets."""
        given = {k: getattr(self.params, k, None) for k in RESOURCE_PARAMS}
        given = {k: v for k, v in given.items() if v is not None}
        if "gpus" in given:  # the recipe decides: no automatic GPUs on top
            given["auto_gpus"] = given["gpus"]
        return replace(type(self).resources, **given)

    def requirements(self) -> list[Requirement]:
        """The declared `requires`, as Requirements."""
        return [r if isinstance(r, Requirement) else Requirement(*r) for r in self.requires]

    def check_models(self) -> None:
        """Raise a ModelNotFoundError when the model this step loads cannot be found (nothing
        by default): checked on the driver before anything is written."""

    def check_requirements(self) -> None:
        """Raise one MissingDependencyError naming the first module this step lacks."""
        for requirement in self.requirements():
            if requirement.missing():
                raise MissingDependencyError(
                    f"step {self.name} needs the {requirement.module!r} module: "
                    f"{requirement.install_hint()}"
                )
