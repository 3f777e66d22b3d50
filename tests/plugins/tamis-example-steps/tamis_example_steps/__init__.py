"""Example third-party tamis steps; importing the package registers them."""

from tamis_example_steps.lang_mix import LangMix
from tamis_example_steps.line_length import MaxLineLength
from tamis_example_steps.prefix_dedup import PrefixDedup

__all__ = ["LangMix", "MaxLineLength", "PrefixDedup"]
