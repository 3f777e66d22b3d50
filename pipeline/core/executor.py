"""The executor interface both runners implement: what a runner must provide to run a recipe.

An executor runs one stage's row work over pending shards and commits each shard, and gives
global steps their two whole-dataset primitives (see pipeline/global_steps/shuffle.py). Its
settings are given at construction; the runner never sets attributes on it afterwards.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:  # types only: the core imports none of the runners' modules
    from pipeline.global_steps.shuffle import Resolve, Source, Summary
    from pipeline.io.readers import InputShard
    from pipeline.io.storage import Location
    from pipeline.run.stages import StageContext


class Executor(ABC):
    """Runs stages over shards and provides shuffles and summaries to global steps.

    `cpu_fallback`: steps that ask for GPUs run on CPU when there are none (otherwise the run
    stops before reading data).
    """

    name: ClassVar[str]

    def __init__(self, cpu_fallback: bool = False):
        self.cpu_fallback = cpu_fallback

    @abstractmethod
    def run_stage(
        self, ctx: StageContext, pending: list[InputShard], on_rows: Callable[[int], None]
    ) -> None:
        """Process and commit every pending shard of one stage; `on_rows(n)` reports progress.
        Each commit's statistics go to its shard's marker, not back to the caller."""

    @abstractmethod
    def shuffle(
        self, sources: list[Source], resolve: Resolve, dest: Location, buckets: int
    ) -> None:
        """Group the sources' prepared rows by `_bucket` into `buckets` groups, call `resolve`
        once per group and write what it returns under `dest`."""

    @abstractmethod
    def summarise(
        self, files: list[Location], columns: list[str], fn: Summary, size: int
    ) -> np.ndarray:
        """The element-wise sum of `fn(batch)` (an int64 array of `size`) over every batch of
        `files`; only that sum reaches the caller."""

    @abstractmethod
    def gpus(self) -> int:
        """GPUs this executor can give to steps."""

    def close(self) -> None:  # noqa: B027 - optional hook: most executors hold nothing
        """Release what the executor holds (nothing by default)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
