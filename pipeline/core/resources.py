"""What one worker of a step needs (CPUs, GPUs, memory) and the packages a step imports."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace
from typing import NamedTuple


@dataclass(frozen=True)
class Resources:
    """What one worker of a step needs; the Ray runner turns it into actor options."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_gb: float = 0.0
    # GPUs a worker asks for when the cluster has some and the recipe sets no `gpus`: a step
    # that runs on CUDA when it can (torch scorers) but also runs on CPU.
    auto_gpus: float = 0.0

    def __post_init__(self) -> None:
        if min(self.cpus, self.gpus, self.memory_gb, self.auto_gpus) < 0:
            raise ValueError(f"resources must not be negative: {self}")

    def on_cluster(self, cluster_gpus: float) -> Resources:
        """What to ask a cluster with `cluster_gpus` GPUs for: `auto_gpus` where it has GPUs
        and nothing asks for more."""
        if cluster_gpus > 0 and self.gpus == 0 and self.auto_gpus > 0:
            return replace(self, gpus=min(self.auto_gpus, cluster_gpus))
        return self


class Requirement(NamedTuple):
    """A module a step imports, the pip requirement that provides it, and tamis's extra that
    brings it (`pip install 'tamis[models]'`), if any."""

    module: str
    pip: str
    extra: str | None = None

    def missing(self) -> bool:
        """True when the module cannot be imported here (checked without importing it)."""
        try:
            return importlib.util.find_spec(self.module) is None
        except (ImportError, ValueError):  # a parent package that is missing or broken
            return True

    def install_hint(self) -> str:
        """The command that installs the module."""
        if self.extra:
            return f"pip install 'tamis[{self.extra}]' (or pip install '{self.pip}')"
        return f"pip install '{self.pip}'"
