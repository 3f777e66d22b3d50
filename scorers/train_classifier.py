"""`tamis train classifier`: a small model that learns an LLM's ratings (from `tamis annotate`),
a linear head on frozen sentence embeddings or fastText, with held-out metrics and a card."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.core.errors import RecipeError, SchemaError, first_line
from scorers.embedding_classifier import CARD, FASTTEXT, Head, fasttext_scores

NEEDED = ("text", "score")


def read_annotations(path: str) -> tuple[list[str], np.ndarray, dict[str, Any], int]:
    """(texts, integer scores) of the rated rows, what annotate recorded, and the unparsed count."""
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as err:
        raise SchemaError(f"{path}: cannot read annotations ({first_line(err)})") from None
    missing = [c for c in NEEDED if c not in table.column_names]
    if missing:
        raise SchemaError(f"{path}: no column {missing[0]!r}; make it with `tamis annotate`")
    raw = (table.schema.metadata or {}).get(b"tamis.annotations")
    about = json.loads(raw) if raw else {}
    rated = table.filter(pc.is_valid(table["score"]))
    scores = np.asarray(rated["score"].to_pylist(), dtype=np.int64)
    return rated["text"].to_pylist(), scores, about, table.num_rows - rated.num_rows


def split(scores: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Train and held-out row indices, stratified by score when every score has two rows."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(scores))
    _, counts = np.unique(scores, return_counts=True)
    stratified = bool(counts.min() >= 2 and round(holdout * len(rows)) >= len(counts))
    train, test = train_test_split(
        rows, test_size=holdout, random_state=seed, stratify=scores if stratified else None
    )
    return np.sort(train), np.sort(test), stratified


def metrics(truth: np.ndarray, predicted: np.ndarray, threshold: int) -> dict[str, float]:
    """Macro F1 over integer scores, F1 and accuracy of the keep decision (score >= threshold),
    and Spearman's rho between predicted and teacher scores."""
    from scipy.stats import spearmanr
    from sklearn.metrics import accuracy_score, f1_score

    rounded = np.rint(predicted).astype(np.int64)
    keep_true, keep_pred = truth >= threshold, rounded >= threshold
    rho = spearmanr(truth, predicted).statistic if len(set(truth.tolist())) > 1 else float("nan")
    return {
        "macro_f1": round(float(f1_score(truth, rounded, average="macro", zero_division=0)), 4),
        "keep_f1": round(
            float(f1_score(keep_true, keep_pred, average="macro", zero_division=0)), 4
        ),
        "keep_accuracy": round(float(accuracy_score(keep_true, keep_pred)), 4),
        "spearman": round(float(rho), 4),
        "docs": len(truth),
    }


def fit_head(
    vectors: np.ndarray, scores: np.ndarray, task: str, bounds: tuple[float, float]
) -> Head:
    """Ridge regression or (multinomial) logistic regression on the embeddings."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "regression":
        model = Ridge(alpha=1.0).fit(vectors, scores.astype(np.float32))
        return Head(
            task, model.coef_.reshape(1, -1), np.atleast_1d(model.intercept_), np.zeros(0), *bounds
        )
    model = LogisticRegression(max_iter=2000, class_weight="balanced").fit(vectors, scores)
    return Head(task, model.coef_, model.intercept_, model.classes_.astype(np.float32), *bounds)


def fit_fasttext(texts: list[str], scores: np.ndarray, out: Path, seed: int) -> Any:
    """A bigram fastText model with labels `__label__<score>`, saved to `out`."""
    import fasttext

    from scorers.fasttext_training import train_supervised
    from scorers.quality import fasttext_input

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        for score, text in zip(scores.tolist(), fasttext_input(texts)):
            fh.write(f"__label__{score} {text}\n")
    params = {"epoch": 20, "dim": 64, "wordNgrams": 2, "lr": 0.1, "bucket": 200_000}
    try:
        train_supervised(Path(fh.name), out, params | {"seed": seed, "thread": 1})
    finally:
        Path(fh.name).unlink()
    return fasttext.load_model(str(out))


def train_classifier(
    annotations: str,
    out: Path,
    embedder: str = "minilm",
    kind: str = "head",
    task: str = "regression",
    threshold: int = 3,
    holdout: float = 0.2,
    seed: int = 0,
    max_tokens: int = 256,
) -> dict[str, Any]:
    """Train on the rated rows of `annotations`, evaluate on a held-out split, write the model
    and `card.json` into the folder `out`; the card."""
    texts, scores, about, unparsed = read_annotations(annotations)
    if len(texts) < 10 or len(set(scores.tolist())) < 2:
        raise SchemaError(
            f"{annotations}: {len(texts)} rated rows with {len(set(scores.tolist()))} distinct "
            "scores; training needs at least 10 rows and 2 scores (annotate more, or a "
            "stronger teacher)"
        )
    scale = (about.get("rubric") or {}).get("scale") or [int(scores.min()), int(scores.max())]
    started = time.time()
    train, test, stratified = split(scores, holdout, seed)
    out.mkdir(parents=True, exist_ok=True)
    if kind == "fasttext":
        model = fit_fasttext([texts[i] for i in train], scores[train], out / FASTTEXT, seed)
        predicted = fasttext_scores(model, [texts[i] for i in test])
        task = "classification"
    else:
        from scorers.embedding import SentenceEmbedder

        vectors = SentenceEmbedder(model=embedder, max_tokens=max_tokens).embed(texts)
        head = fit_head(vectors[train], scores[train], task, (float(scale[0]), float(scale[1])))
        head.save(out)
        predicted = head.predict(vectors[test])
    values, counts = np.unique(scores, return_counts=True)
    card = {
        "name": out.name,
        "kind": kind,
        "task": task,
        "embedder": embedder if kind == "head" else None,
        "max_tokens": max_tokens,
        "threshold": threshold,
        "scale": list(scale),
        "prompt": about.get("prompt"),
        "rubric": about.get("rubric"),
        "teacher": about.get("teacher"),
        "data": {
            "annotations": str(annotations),
            "input": about.get("input"),
            "sample": about.get("sample", len(texts) + unparsed),
            "rated": len(texts),
            "unparsed": unparsed,
            "scores": {str(v): int(c) for v, c in zip(values, counts)},
            "train": len(train),
            "heldout": len(test),
            "stratified": stratified,
        },
        "params": {"holdout": holdout, "seed": seed},
        "metrics_heldout": metrics(scores[test], predicted, threshold),
        "train_seconds": round(time.time() - started, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / CARD).write_text(json.dumps(card, indent=2))
    return card


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `tamis train classifier` arguments."""
    parser.add_argument("--annotations", required=True, help="Parquet from `tamis annotate`")
    parser.add_argument("--out", required=True, help="model folder, e.g. models/edu")
    parser.add_argument("--embedder", default="minilm", help="sentence-transformers model")
    parser.add_argument("--kind", choices=["head", "fasttext"], default="head")
    parser.add_argument("--task", choices=["regression", "classification"], default="regression")
    parser.add_argument("--threshold", type=int, default=3, help="keep score for F1/accuracy")
    parser.add_argument("--holdout", type=float, default=0.2, help="held-out fraction")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=256, help="word pieces embedded")


def main(args: argparse.Namespace) -> int:
    """Run `tamis train classifier`."""
    if not 0 < args.holdout < 1:
        raise RecipeError("--holdout must be between 0 and 1")
    card = train_classifier(
        args.annotations,
        Path(args.out),
        embedder=args.embedder,
        kind=args.kind,
        task=args.task,
        threshold=args.threshold,
        holdout=args.holdout,
        seed=args.seed,
        max_tokens=args.max_tokens,
    )
    data, found = card["data"], card["metrics_heldout"]
    print(
        f"trained {args.out} ({card['kind']}, {card['task']}) on {data['train']} rows in "
        f"{card['train_seconds']} s; held-out {found['docs']} rows: macro F1 {found['macro_f1']}, "
        f"keep (score >= {args.threshold}) F1 {found['keep_f1']} accuracy "
        f"{found['keep_accuracy']}, Spearman {found['spearman']}; card {Path(args.out) / CARD}"
    )
    return 0
