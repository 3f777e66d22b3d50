"""Where a run keeps its outputs, work files and completion markers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipeline.io.storage import Location

_SHARD_ENTRY = re.compile(r"shard-(\d+)(\.done\.json)?")
_PIECE = re.compile(r"(kept|rejected)-\d{12}(-\w+)?\.parquet")


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

    def stage_dir(self, stage: int) -> Location:
        return self.work / f"stage-{stage}"

    def shard_dir(self, stage: int, shard: int) -> Location:
        return self.stage_dir(stage) / f"shard-{shard:05d}"

    def done(self, stage: int, shard: int) -> Location:
        return self.stage_dir(stage) / f"shard-{shard:05d}.done.json"

    def read_marker(self, stage: int, shard: int, attempt: str | None = None) -> Location:
        """Where a shard's reader notes the rows it read (one per attempt at the run)."""
        name = f"_read-{attempt}.json" if attempt else "_read.json"
        return self.shard_dir(stage, shard) / name

    def kept_pieces(self, stage: int, shard: int, attempt: str | None = None) -> list[Location]:
        """The kept pieces in a shard's folder (of one attempt, if given), in input order."""
        return self.shard_dir(stage, shard).glob(piece_pattern("kept", attempt))

    def rejected_pieces(self, stage: int, shard: int, attempt: str | None = None) -> list[Location]:
        """The rejected pieces in a shard's folder (of one attempt, if given), in input order."""
        return self.shard_dir(stage, shard).glob(piece_pattern("rejected", attempt))

    def committed_pieces(
        self, stage: int, shard: int, marker: dict[str, Any] | None = None
    ) -> tuple[list[Location], list[Location]]:
        """The kept and rejected pieces a shard's commit vouches for (from its `.done.json`,
        read unless given): any other file in its folder is stray and never read. A marker
        of an earlier tamis, which lists none, vouches for every piece in the folder."""
        if marker is None:
            marker = self.done(stage, shard).read_json()
        listed = marker.get("pieces")
        if listed is None:
            return self.kept_pieces(stage, shard), self.rejected_pieces(stage, shard)
        folder = self.shard_dir(stage, shard)
        return [folder / n for n in listed["kept"]], [folder / n for n in listed["rejected"]]

    def stage_entries(self, stage: int) -> StageEntries:
        """What one listing of a stage's folder shows: the shards committed (a `.done.json`)
        and the shard folders present."""
        done, folders = set(), set()
        for name in self.stage_dir(stage).entries():
            match = _SHARD_ENTRY.fullmatch(name)
            if match is not None:
                (done if match[2] else folders).add(int(match[1]))
        return StageEntries(frozenset(done), frozenset(folders))

    def shard_pieces(self, stage: int, shard: int) -> list[str]:
        """The names of the pieces in a shard's folder of a stage (one listing)."""
        return [n for n in self.shard_dir(stage, shard).entries() if _PIECE.fullmatch(n)]

    def decisions(self, stage: int, step: int = 0) -> Location:
        """The decisions of a stage's `step`-th global step (most stages apply one)."""
        return self.stage_dir(stage) / ("decisions" if step == 0 else f"decisions-{step}")

    def decisions_done(self, stage: int, step: int = 0) -> Location:
        folder = self.decisions(stage, step)
        return folder.parent / f"{folder.name}.done.json"

    def survivor_keys(self, stage: int, step: int) -> Location:
        """Keys of the rows a stage's earlier decisions keep, for its `step`-th global step."""
        return self.stage_dir(stage) / f"keys-{step}"


@dataclass(frozen=True)
class StageEntries:
    """A stage folder's shards: those committed and those with a folder of pieces."""

    done: frozenset[int]
    folders: frozenset[int]


def piece_name(kind: str, first_row: int, attempt: str | None = None) -> str:
    """A piece's file name: named by its first row, so that name order is input order, and
    by the attempt that wrote it, so that a commit takes only its own attempt's pieces."""
    return f"{kind}-{first_row:012d}{f'-{attempt}' if attempt else ''}.parquet"


def piece_pattern(kind: str, attempt: str | None = None) -> str:
    """The glob pattern of pieces of one kind (of one attempt, if given)."""
    return f"{kind}-*-{attempt}.parquet" if attempt else f"{kind}-*.parquet"
