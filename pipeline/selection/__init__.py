"""Selection steps: choosing records under a budget."""

from pipeline.selection.diversity import Select

__all__ = ["Select"]
