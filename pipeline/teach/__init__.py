"""A large model teaches a small one: LLM annotations, then a small classifier (issue #17)."""

from pipeline.teach.annotate import annotate, sample_documents
from pipeline.teach.cache import AnswerCache, answer_key
from pipeline.teach.client import ChatClient, Completion, TeacherError, TeacherUnavailable
from pipeline.teach.prompt import Answer, Rubric, load_rubric
from pipeline.teach.ray_annotate import annotate_on_ray

__all__ = [
    "AnswerCache",
    "Answer",
    "ChatClient",
    "Completion",
    "Rubric",
    "TeacherError",
    "TeacherUnavailable",
    "annotate",
    "annotate_on_ray",
    "answer_key",
    "load_rubric",
    "sample_documents",
]
