"""Sentence-order coherence of instruction answers: the shuffle test with a small causal LM."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import xxhash
from pydantic import Field

from pipeline.core.columns import MESSAGES, set_column
from pipeline.core.registry import register
from pipeline.core.rows import Check, threshold_checks
from scorers.answer_lm import AnswerLMParams, AnswerLMScorer
from scorers.causal_lm import span_nll, torch_threads
from scorers.sentences import split_units


def orders(count: int, wanted: int, seed: int) -> list[list[int]]:
    """Up to `wanted` distinct orders of `count` units other than the given one, drawn with a
    generator seeded from the text (so a record always gets the same ones)."""
    rng = np.random.default_rng(seed)
    found: list[list[int]] = []
    given = list(range(count))
    for _ in range(wanted * 20):  # few units have few orders: stop drawing at some point
        order = rng.permutation(count).tolist()
        if order != given and order not in found:
            found.append(order)
        if len(found) == wanted:
            break
    return found


@register("coherence")
class SentenceOrder(AnswerLMScorer):
    """The shuffle test for coherence (Barzilay & Lapata 2008,
    https://aclanthology.org/J08-1001/): a coherent answer is likelier, to a small causal LM,
    in its own sentence order than with its sentences shuffled; an answer whose sentences are
    already in a random order is no likelier than its reshuffles. For each answer of at least
    `min_units` sentences (or lines), `order_margin` is the mean NLL per answer token (given the
    prompt, rendered as `ifd` renders it) of `permutations` reorderings of its units, less that
    of the answer as given: clearly positive for coherent text, about 0 for a random order.
    `order_z` is that margin over the spread (standard deviation) of the reorderings' NLLs:
    how far the given order stands out among orders of the same sentences, comparable between
    answers where the margin is not (how much order moves the NLL varies with the text). An
    answer whose order is itself random stands out no more than its reorderings (`order_z`
    about 0); the decision is on `order_z` by default. Each reordering keeps the separators in
    place (so only the order changes, not the layout) and is drawn with a seed from the text.
    An answer too long for `max_response_tokens` is tested on the units that fit. Fewer
    units: both scores are null and the record is kept.

    Reads `_messages` (instruction records); adds `order_margin`, `order_z`, `order_units`.
    Reasons: order_z<R, order_margin<R.
    """

    outputs = {"order_margin": pa.float32(), "order_z": pa.float32(), "order_units": pa.int32()}
    score_column = "order_z"
    decision_params = AnswerLMScorer.decision_params | {"min_order_margin", "min_order_z"}

    class Params(AnswerLMParams):
        unit: Literal["sentences", "lines"] = Field(
            "sentences", description="What is reordered: sentences (within lines) or lines."
        )
        min_units: int = Field(
            3, ge=3, description="Answers with fewer units are not tested (two have no spread)."
        )
        permutations: int = Field(
            8, ge=2, description="Reorderings scored per answer (their spread needs two)."
        )
        max_tokens: int = Field(
            768, gt=8, description="Prompt and answer tokens per sequence (the prompt is cut)."
        )
        max_response_tokens: int = Field(384, gt=1, description="Answer tokens tested at most.")
        min_order_z: float | None = Field(
            1.0,
            description="Reject answers whose order stands out less from its reorderings "
            "(margin over the reorderings' standard deviation).",
        )
        min_order_margin: float | None = Field(
            None, description="Reject answers whose order helps less (nats per token)."
        )

    params: Params

    def score(self, batch: pa.Table) -> pa.Table:
        records = batch[MESSAGES].to_pylist()
        tests = [self._sequences(turns) for turns in records]
        size = self.forward_batch()
        todo = [i for i, t in enumerate(tests) if t is not None]
        margins = np.full(len(records), np.nan, np.float32)
        zs = np.full(len(records), np.nan, np.float32)
        units = np.zeros(len(records), np.int32)
        with torch_threads(round(self.worker_resources().cpus)):
            for lo in range(0, len(todo), size):
                chosen = todo[lo : lo + size]
                seqs = [s for i in chosen for s in tests[i][1]]
                spans = [s for i in chosen for s in tests[i][2]]
                per_pass = max(len(tests[i][1]) for i in chosen) * len(chosen)
                nll, _ = span_nll(
                    self._model, seqs, spans, self._device, per_pass, self._tokenizer.pad_token_id
                )
                at = 0
                for i in chosen:
                    means = [float(x.mean()) for x in nll[at : at + len(tests[i][1])]]
                    at += len(means)
                    margins[i] = np.mean(means[1:]) - means[0]
                    # floored: reorderings of repeated units can give the very same text
                    zs[i] = margins[i] / max(float(np.std(means[1:], ddof=1)), 1e-3)
                    units[i] = tests[i][0]
        scored = pa.array(margins, pa.float32(), mask=np.isnan(margins))
        batch = set_column(batch, "order_margin", scored)
        batch = set_column(batch, "order_z", pa.array(zs, pa.float32(), mask=np.isnan(zs)))
        return set_column(batch, "order_units", pa.array(units, pa.int32()))

    def _sequences(self, turns: list[dict[str, str]] | None):
        """(units tested, token sequences of the answer as given and reordered after its
        prompt, the answer's span in each); None when the answer has too few units."""
        if not turns or turns[-1]["role"] != "assistant" or not turns[-1]["content"]:
            return None
        p, encode = self.params, self._tokenizer
        answer = turns[-1]["content"]
        pieces = self._fitting(split_units(answer, p.unit), p.max_response_tokens)
        if len(pieces) < p.min_units:
            return None
        texts = ["".join(u + s for u, s in pieces).rstrip()]
        for order in orders(len(pieces), p.permutations, xxhash.xxh64_intdigest(texts[0].encode())):
            texts.append("".join(pieces[j][0] + pieces[i][1] for i, j in enumerate(order)).rstrip())
        prompt = encode(self.render(turns[:-1])[0], add_special_tokens=False)["input_ids"]
        bos = self.bos()
        answers = [encode(t, add_special_tokens=False)["input_ids"] for t in texts]
        head = (bos + prompt)[-max(1, p.max_tokens - max(map(len, answers))) :]
        spans = [(len(head), len(head) + len(ids)) for ids in answers]
        return len(pieces), [head + ids for ids in answers], spans

    def _fitting(self, pieces: list[tuple[str, str]], budget: int) -> list[tuple[str, str]]:
        """The leading units whose tokens fit in `budget`."""
        kept, used = [], 0
        for unit, sep in pieces:
            used += len(self._tokenizer(unit + sep, add_special_tokens=False)["input_ids"])
            if used > budget:
                break
            kept.append((unit, sep))
        return kept

    def checks(self, scored: pa.Table) -> list[Check]:
        p = self.params
        return [
            *threshold_checks(scored["order_z"], "order_z", p.min_order_z, None),
            *threshold_checks(scored["order_margin"], "order_margin", p.min_order_margin, None),
        ]
