"""Where a run keeps its outputs, work files and completion markers."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.io.storage import Location


@dataclass(frozen=True)
class RunLayout:
    """Locations under one output folder or URI. `_work/` holds per-stage pieces and markers
    for resume; a marker is written after everything it vouches for."""

    root: Location

    @classmethod
    def at(cls, output: str | Location) -> RunLayout:
        """The layout of `output.path`: a local or shared-filesystem path, or a URI."""
        return cls(Location.of(output))

    @property
    def manifest(self) -> Location:
        return self.root / "manifest.json"

    @property
    def work(self) -> Location:
        return self.root / "_work"

    @property
    def lock(self) -> Location:
        """The lease of the run writing here (pipeline/run/lock.py)."""
        return self.work / "lock.json"

    @property
    def attempts(self) -> Location:
        """One file per attempt at the run: when it started and was last seen alive."""
        return self.work / "attempts"

    @property
    def state(self) -> Location:
        return self.work / "state.json"

    def kept(self, shard: int) -> Location:
        return self.root / "kept" / f"part-{shard:05d}.parquet"

    def rejected(self, shard: int) -> Location:
        return self.root / "rejected" / f"part-{shard:05d}.parquet"

    def shard_dir(self, stage: int, shard: int) -> Location:
        return self.work / f"stage-{stage}" / f"shard-{shard:05d}"

    def done(self, stage: int, shard: int) -> Location:
        return self.work / f"stage-{stage}" / f"shard-{shard:05d}.done.json"

    def read_marker(self, stage: int, shard: int) -> Location:
        return self.shard_dir(stage, shard) / "_read.json"

    def kept_pieces(self, stage: int, shard: int) -> list[Location]:
        return self.shard_dir(stage, shard).glob("kept-*.parquet")

    def rejected_pieces(self, stage: int, shard: int) -> list[Location]:
        return self.shard_dir(stage, shard).glob("rejected-*.parquet")

    def decisions(self, stage: int) -> Location:
        return self.work / f"stage-{stage}" / "decisions"

    def decisions_done(self, stage: int) -> Location:
        return self.work / f"stage-{stage}" / "decisions.done.json"
