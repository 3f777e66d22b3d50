"""Keep/drop steps: heuristic filters, each usable from recipes or directly as a library."""

from filters.base import Check, Filter, FilterParams
from filters.c4 import C4
from filters.end_tokens import StripEndTokens
from filters.extract import Extract
from filters.fineweb import FineWebQuality
from filters.gopher import GopherQuality, GopherRepetition
from filters.records import ConvertRecords

__all__ = [
    "C4",
    "Check",
    "ConvertRecords",
    "Extract",
    "Filter",
    "FilterParams",
    "FineWebQuality",
    "GopherQuality",
    "GopherRepetition",
    "StripEndTokens",
]
