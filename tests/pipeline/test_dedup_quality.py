"""Dedup quality on real text with planted duplicates of known clusters
(samples/build_dedup_set.py): exact, near (edits, insertions, reordered paragraphs, added
boilerplate) and paraphrased copies among distinct originals."""

from __future__ import annotations

import pytest

from pipeline.dedup import MinHashDeduplicator, SemanticDeduplicator
from samples.build_dedup_set import found_pairs, planted_set, precision_recall, true_pairs

NEAR = ["exact", "near-edit", "near-insert", "near-reorder", "near-boilerplate"]


@pytest.fixture(scope="module")
def planted():
    return planted_set(originals=300, seed=0)


def test_minhash_finds_near_duplicates_precisely(planted):
    truth = true_pairs(planted, NEAR)
    assert len(truth) > 80
    _, rejected = MinHashDeduplicator(threshold=0.8).split(planted)
    precision, recall = precision_recall(found_pairs(rejected), truth)
    assert precision >= 0.99 and recall >= 0.95, (precision, recall)


def test_minhash_is_deterministic(planted):
    first = MinHashDeduplicator(threshold=0.8).split(planted)[1]
    again = MinHashDeduplicator(threshold=0.8).split(planted)[1]
    assert first.select(["id", "duplicate_of"]) == again.select(["id", "duplicate_of"])


def test_semantic_finds_paraphrases_minhash_misses(planted):
    paraphrases = true_pairs(planted, ["paraphrase"])
    everything = true_pairs(planted, [*NEAR, "paraphrase"])
    minhash = found_pairs(MinHashDeduplicator(threshold=0.8).split(planted)[1])
    semantic = found_pairs(SemanticDeduplicator(threshold=0.9).split(planted)[1])
    missed_by_minhash = paraphrases - minhash
    assert len(missed_by_minhash) >= 0.9 * len(paraphrases)
    assert len(semantic & missed_by_minhash) >= 0.6 * len(missed_by_minhash)
    precision, _ = precision_recall(semantic, everything)
    assert precision >= 0.95, sorted(map(sorted, semantic - everything))[:10]
