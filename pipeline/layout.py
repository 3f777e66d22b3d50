"""Where a run keeps its outputs, work files and completion markers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from pipeline.errors import RecipeError
from pipeline.io import is_uri


def output_root(path: str) -> Path:
    """The output folder named by `output.path`: a local or shared-filesystem path, or a
    `file://` URI. Every worker writes pieces and markers there with atomic renames, which
    object stores do not offer, so their URIs are refused with the fix."""
    if not is_uri(path):
        return Path(path)
    parts = urlsplit(path)
    if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
        return Path(url2pathname(parts.path))
    raise RecipeError(
        f"output.path {path!r}: {parts.scheme}:// output is not supported (every worker writes "
        "pieces with file renames into one folder); use a shared filesystem path: NFS, Lustre, "
        "or the bucket mounted with a FUSE driver that supports rename, e.g. gcsfuse"
    )


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
