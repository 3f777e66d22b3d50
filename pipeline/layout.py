"""Where a run keeps its outputs, work files and completion markers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunLayout:
    """Paths under one output folder. `_work/` holds per-stage pieces and markers for resume."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def work(self) -> Path:
        return self.root / "_work"

    @property
    def state(self) -> Path:
        return self.work / "state.json"

    def kept(self, shard: int) -> Path:
        return self.root / "kept" / f"part-{shard:05d}.parquet"

    def rejected(self, shard: int) -> Path:
        return self.root / "rejected" / f"part-{shard:05d}.parquet"

    def shard_dir(self, stage: int, shard: int) -> Path:
        return self.work / f"stage-{stage}" / f"shard-{shard:05d}"

    def done(self, stage: int, shard: int) -> Path:
        return self.work / f"stage-{stage}" / f"shard-{shard:05d}.done.json"

    def read_marker(self, stage: int, shard: int) -> Path:
        return self.shard_dir(stage, shard) / "_read.json"

    def kept_pieces(self, stage: int, shard: int) -> list[Path]:
        return _pieces(self.shard_dir(stage, shard), "kept")

    def rejected_pieces(self, stage: int, shard: int) -> list[Path]:
        return _pieces(self.shard_dir(stage, shard), "rejected")

    def decisions(self, stage: int) -> Path:
        return self.work / f"stage-{stage}" / "decisions"

    def decisions_done(self, stage: int) -> Path:
        return self.work / f"stage-{stage}" / "decisions.done.json"


def _pieces(folder: Path, kind: str) -> list[Path]:
    """Committed pieces of one kind, in row order (their names are the first row, zero-padded)."""
    return sorted(folder.glob(f"{kind}-*.parquet")) if folder.exists() else []
