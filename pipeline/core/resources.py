"""What one worker of a step needs (CPUs, GPUs, memory) and the packages a step imports."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Resources:
    """What one worker of a step needs; the Ray runner turns it into actor options."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_gb: float = 0.0

    def __post_init__(self) -> None:
        if min(self.cpus, self.gpus, self.memory_gb) < 0:
            raise ValueError(f"resources must not be negative: {self}")


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
