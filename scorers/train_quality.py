"""Train a DCLM-style fastText quality classifier and write its model card."""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from pipeline.io.readers import ReadOptions, discover, read_shard
from scorers.fasttext_training import train_supervised
from scorers.quality import fasttext_input


def read_texts(paths: list[str], text_column: str = "text") -> list[str]:
    """Valid texts from any input tamis reads (Parquet, JSONL, HF datasets; files, folders)."""
    texts: list[str] = []
    for path in paths:
        for shard in discover(path):
            for chunk in read_shard(shard, ReadOptions(text_column=text_column)):
                valid = chunk.filter(chunk["reject_reason"].is_null())
                texts += valid[text_column].to_pylist()
    return texts


def is_heldout(text: str, fraction: float, seed: int) -> bool:
    """A deterministic held-out split by hash of the text."""
    return xxhash.xxh64_intdigest(text.encode("utf-8"), seed) % 10_000 < fraction * 10_000


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties get average ranks)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts):
        ranks[order[start : start + count]] = start + (count + 1) / 2
    positives = labels.astype(bool)
    n_pos, n_neg = positives.sum(), (~positives).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def train_quality(
    positive: list[str],
    negative: list[str],
    out: Path,
    text_column: str = "text",
    labels: tuple[str, str] = ("hq", "lq"),
    holdout: float = 0.1,
    seed: int = 0,
    epoch: int = 5,
    dim: int = 64,
    word_ngrams: int = 2,
    lr: float = 0.1,
    bucket: int = 200_000,
) -> dict[str, Any]:
    """Train on positive vs negative texts, evaluate on a held-out split, save model and card."""
    import fasttext

    pos, neg = read_texts(positive, text_column), read_texts(negative, text_column)
    if not pos or not neg:
        raise ValueError(
            f"need both classes: {len(pos)} positive and {len(neg)} negative texts found"
        )
    rows = [(labels[0], t) for t in pos] + [(labels[1], t) for t in neg]
    train = [r for r in rows if not is_heldout(r[1], holdout, seed)]
    test = [r for r in rows if is_heldout(r[1], holdout, seed)]
    random.Random(seed).shuffle(train)
    params = {"epoch": epoch, "dim": dim, "wordNgrams": word_ngrams, "lr": lr, "bucket": bucket}
    started = time.time()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        for (label, _), text in zip(train, fasttext_input([t for _, t in train])):
            fh.write(f"__label__{label} {text}\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        # One thread keeps training reproducible for a given seed.
        train_supervised(Path(fh.name), out, params | {"seed": seed, "thread": 1})
    finally:
        Path(fh.name).unlink()
    model = fasttext.load_model(str(out))
    metrics = evaluate(model, test, labels[0]) if test else {}
    card = {
        "name": out.stem,
        "kind": "fasttext quality classifier",
        "positive_label": labels[0],
        "negative_label": labels[1],
        "data": {
            "positive": positive,
            "negative": negative,
            "positive_docs": len(pos),
            "negative_docs": len(neg),
            "train_docs": len(train),
            "heldout_docs": len(test),
        },
        "params": params | {"holdout": holdout, "seed": seed},
        "metrics_heldout": metrics,
        "train_seconds": round(time.time() - started, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out.with_suffix(".json").write_text(json.dumps(card, indent=2))
    return card


def evaluate(model: Any, rows: list[tuple[str, str]], positive: str) -> dict[str, float]:
    """Precision and recall of the positive class at P >= 0.5, and ROC AUC."""
    labels_k, probs_k = model.predict(fasttext_input([t for _, t in rows]), k=-1)
    scores = np.array(
        [dict(zip(lab, p)).get(f"__label__{positive}", 0.0) for lab, p in zip(labels_k, probs_k)]
    )
    truth = np.array([label == positive for label, _ in rows])
    predicted = scores >= 0.5
    tp = int((predicted & truth).sum())
    return {
        "precision": round(tp / max(int(predicted.sum()), 1), 4),
        "recall": round(tp / max(int(truth.sum()), 1), 4),
        "auc": round(roc_auc(truth, scores), 4),
        "docs": len(rows),
    }
