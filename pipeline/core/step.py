"""What every recipe step shares: a registered name, a version and validated parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


class StepParams(BaseModel):
    """Parameters every step takes; each step's nested `Params` adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text_column: str = Field("text", description="Column holding the document text.")


class Step:
    """Root of filters and global steps. `__init__` only validates and stores parameters, so a
    step is cheap to build and to pickle to workers."""

    name: ClassVar[str] = "step"
    version: ClassVar[int] = 1  # bump when outputs change for the same params
    Params: ClassVar[type[StepParams]] = StepParams

    def __init__(self, params: BaseModel | Mapping[str, Any] | None = None, **kwargs: Any):
        given = params.model_dump(exclude_unset=True) if isinstance(params, BaseModel) else params
        self.params = self.Params.model_validate({**(given or {}), **kwargs})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params.model_dump(exclude_defaults=True)})"

    def prerequisites(self, earlier: list[Step]) -> list[Step]:
        """Steps a recipe must run before this one that `earlier` lacks (none by default)."""
        return []
