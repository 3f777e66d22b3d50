"""Small-model scorers that add score columns (and may keep/drop rows on those scores)."""

from scorers.base import Requirement, Resources, Scorer, ScorerParams
from scorers.coherence import SentenceOrder
from scorers.decontaminate import Decontaminate
from scorers.embedding import SentenceEmbedder
from scorers.ifd import InstructionFollowingDifficulty
from scorers.instruct_rules import InstructRules
from scorers.kenlm_perplexity import KenlmPerplexity
from scorers.lang_id import FastTextLangId
from scorers.lm_perplexity import CausalLmPerplexity
from scorers.models import resolve_model
from scorers.quality import QualityClassifier

__all__ = [
    "CausalLmPerplexity",
    "Decontaminate",
    "FastTextLangId",
    "InstructRules",
    "InstructionFollowingDifficulty",
    "KenlmPerplexity",
    "QualityClassifier",
    "Requirement",
    "Resources",
    "Scorer",
    "ScorerParams",
    "SentenceEmbedder",
    "SentenceOrder",
    "resolve_model",
]
