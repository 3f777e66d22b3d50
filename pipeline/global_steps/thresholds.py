"""Global percentile cuts: keep the top (or bottom) fraction of a score over the whole dataset.

The cut-off is found exactly, in two passes of 65,536-bin histograms over an order-preserving
32-bit key of each float32 score (a radix select): memory stays flat whatever the data size,
and the local and Ray runners give the same value.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.executor import Executor
from pipeline.global_steps.base import GlobalStep, reject_where
from pipeline.global_steps.checkpoint import fingerprint, once, work_dir
from pipeline.io.storage import Location

BINS = 1 << 16


def float_keys(values: np.ndarray) -> np.ndarray:
    """uint32 keys that sort like the float32 values (NaN must be removed first)."""
    bits = values.astype(np.float32).view(np.uint32)
    return np.where(bits >> 31 == 1, ~bits, bits | np.uint32(1 << 31)).astype(np.uint32)


def key_to_float(key: int) -> float:
    """The float32 value of a key from `float_keys`."""
    bits = key & 0x7FFFFFFF if key >> 31 else ~key & 0xFFFFFFFF
    return float(np.array([bits], np.uint32).view(np.float32)[0])


def key_histogram(values: np.ndarray, prefix: int | None) -> np.ndarray:
    """Counts of the high 16 key bits, or of the low 16 among keys with high bits `prefix`."""
    values = values[~np.isnan(values)]
    keys = float_keys(values)
    if prefix is None:
        return np.bincount(keys >> 16, minlength=BINS).astype(np.int64)
    low = keys[(keys >> 16) == prefix] & 0xFFFF
    return np.bincount(low, minlength=BINS).astype(np.int64)


def batch_histogram(batch: pa.Table, column: str, prefix: int | None) -> np.ndarray:
    """`key_histogram` of one table's score column (nulls count as missing)."""
    values = pc.fill_null(pc.cast(batch[column], pa.float32()), float("nan")).to_numpy()
    return key_histogram(np.asarray(values, np.float32), prefix)


def rank_bin(histogram: np.ndarray, rank: int) -> tuple[int, int]:
    """(bin holding the value of 0-based `rank`, rank within that bin)."""
    cumulative = np.cumsum(histogram)
    found = int(np.searchsorted(cumulative, rank, side="right"))
    return found, rank - (int(cumulative[found - 1]) if found else 0)


class PercentileCut(GlobalStep):
    """Keep the `keep_top` (or `keep_bottom`) fraction of rows by a scorer's score column,
    over all rows that reach it. Rows at the cut-off value are kept; rows without a score are
    rejected. Reasons (step `<scorer>.keep_top` / `.keep_bottom`): <column><N or <column>>N
    with the cut-off found, <column>=nan.
    """

    method = "percentile"
    version = 1

    def __init__(self, step_name: str, column: str, fraction: float, top: bool):
        super().__init__()
        self.step_name, self.column, self.fraction, self.top = step_name, column, fraction, top
        self.name = f"{step_name}.keep_{'top' if top else 'bottom'}"  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"PercentileCut({self.name}={self.fraction} of {self.column})"

    @classmethod
    def for_step(cls, step: Any) -> PercentileCut | None:
        """The cut a scorer's `keep_top` / `keep_bottom` parameter asks for, if any."""
        params = getattr(step, "params", None)
        top, bottom = getattr(params, "keep_top", None), getattr(params, "keep_bottom", None)
        if top is None and bottom is None:
            return None
        return cls(
            step.name, step.score_column, top if top is not None else bottom, top is not None
        )

    def decide_columns(self) -> list[str]:
        return [self.column]

    def decide(
        self, executor: Executor, sources: list[Location], dest: Location, rows: int
    ) -> dict[str, Any]:
        """Find the cut-off with two histogram passes (the first checkpointed: a rerun of the
        same decision starts at the second); write it to `dest/cutoff.json`."""
        work = work_dir(dest)
        inputs = fingerprint(repr(self), [s.path for s in sources], rows)
        first = once(work / "high-bins", inputs, lambda: self._high_bin(executor, sources))
        scored, cutoff = first["scored"], None
        if first["bin_high"] is not None:
            bin_high = first["bin_high"]
            low = executor.summarise(sources, [self.column], self._histogram(bin_high), BINS)
            bin_low, _ = rank_bin(low, first["within"])
            cutoff = key_to_float((bin_high << 16) | bin_low)
        stats = {
            "column": self.column,
            "fraction": self.fraction,
            "side": "top" if self.top else "bottom",
            "cutoff": cutoff,
            "scored_rows": scored,
            "unscored_rows": rows - scored,
        }
        (dest / "cutoff.json").write_json(stats)
        work.remove()
        return stats | ({"resumed_passes": ["high bins"]} if first.get("resumed") else {})

    def _high_bin(self, executor: Executor, sources: list[Location]) -> dict[str, Any]:
        """The first pass: rows scored, the high 16-bit bin holding the cut-off's rank (None
        when nothing is kept) and the rank within it."""
        high = executor.summarise(sources, [self.column], self._histogram(None), BINS)
        scored = int(high.sum())
        keep = min(scored, round(self.fraction * scored))
        if not keep:
            return {"scored": scored, "bin_high": None, "within": None}
        rank = scored - keep if self.top else keep - 1  # 0-based, ascending order
        bin_high, within = rank_bin(high, rank)
        return {"scored": scored, "bin_high": int(bin_high), "within": int(within)}

    def _histogram(self, prefix: int | None) -> Any:
        """A picklable per-batch histogram of this step's score keys."""
        return partial(batch_histogram, column=self.column, prefix=prefix)

    def load_decisions(self, folder: Location, shard: int) -> float | None:
        """The cut-off value (None: keep nothing)."""
        return (folder / "cutoff.json").read_json()["cutoff"]

    def apply_decisions(self, chunk: pa.Table, cutoff: float | None) -> pa.Table:
        values = pc.cast(chunk[self.column], pa.float32())
        missing = pc.fill_null(pc.is_nan(values), True)
        chunk = reject_where(chunk, missing, f"{self.name}:{self.column}=nan", self.name)
        if cutoff is None:
            return reject_where(
                chunk, pc.invert(missing), f"{self.name}:{self.column}:none kept", self.name
            )
        # Compare in float32, as the cut-off was found on float32 values.
        limit = pa.scalar(cutoff, pa.float32())
        if self.top:
            return reject_where(
                chunk,
                pc.fill_null(pc.less(values, limit), False),
                f"{self.name}:{self.column}<{cutoff:.6g}",
                self.name,
            )
        return reject_where(
            chunk,
            pc.fill_null(pc.greater(values, limit), False),
            f"{self.name}:{self.column}>{cutoff:.6g}",
            self.name,
        )
