"""Which sentence-order statistic separates shuffled answers from originals? A study for the
`coherence` step: every answer (original, and shuffled as bench_instruct.py shuffles it) is
scored by the step's model under many orders of its units, then each statistic's best single
cut is printed (chosen on the same records, so an upper bound).

    .venv/bin/python benchmarks/bench_coherence_stats.py --source gsm8k --records 60
    .venv/bin/python benchmarks/bench_coherence_stats.py --source roleplay --records 24
    .venv/bin/python benchmarks/bench_coherence_stats.py --source roleplay --records 40 --start 1000

Orders: 16 random reorderings (the step draws 8) and the one-step neighbours of the given
order (each adjacent swap, each unit moved to the front, each moved to the back). Statistics:
z8 / z16 (the step's `order_z` with 8 or 16 reorderings), margin (`order_margin`), best
neighbour gain (mean NLL per token of the best neighbour less the given order's: negative when
one move makes the answer likelier), share of neighbours that read worse, that gain or z16,
the pairwise test's share of all orders that read worse (`pair_beaten`, see its docstring), a
flow test on the `embed` step's MiniLM vectors (`flow_z`, see its docstring), and z8 plus half
the flow's z-score.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_instruct import corrupt, load  # noqa: E402

from scorers import SentenceEmbedder, SentenceOrder  # noqa: E402
from scorers.causal_lm import span_nll, torch_threads  # noqa: E402
from scorers.coherence import orders  # noqa: E402
from scorers.sentences import split_units  # noqa: E402

PAIR_UNITS = 8  # the pairwise test ranks all orders of at most this many units (8! = 40,320)
SOURCES = {
    "gsm8k": ("gsm_8k_train.json", 3000),
    "roleplay": ("roleplay-simple-deduped-roleplay-dataset.json", 0),
}


def neighbours(k: int) -> list[list[int]]:
    """Orders one move away from 0..k-1: adjacent swaps, a unit to the front, to the back."""
    found = []
    for i in range(k - 1):
        swap = list(range(k))
        swap[i], swap[i + 1] = swap[i + 1], swap[i]
        found.append(swap)
    found += [[i] + [j for j in range(k) if j != i] for i in range(1, k)]
    found += [[j for j in range(k) if j != i] + [i] for i in range(k - 1)]
    return found


def scores(
    step: SentenceOrder, embedder: SentenceEmbedder, record: dict[str, str]
) -> dict[str, float] | None:
    """The statistics of one record's answer; None when it has too few units to test."""
    pieces = step._fitting(split_units(record["output"], "sentences"), 384)
    k = len(pieces)
    if k < 3:
        return None
    seed = xxhash.xxh64_intdigest(record["output"].encode())
    shuffles, near = orders(k, 16, seed), neighbours(k)
    texts = [
        "".join(pieces[j][0] + pieces[i][1] for i, j in enumerate(order)).rstrip()
        for order in [list(range(k)), *shuffles, *near]
    ]
    tok = step._tokenizer
    head = (
        step.bos()
        + tok(
            step.render([{"role": "user", "content": record["instruction"]}])[0],
            add_special_tokens=False,
        )["input_ids"]
    )
    answers = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    spans = [(len(head), len(head) + len(a)) for a in answers]
    with torch_threads(1):
        nll, _ = span_nll(
            step._model, [head + a for a in answers], spans, "cpu", 8, tok.pad_token_id
        )
    means = np.array([float(x.mean()) for x in nll])
    given, rand, moves = means[0], means[1 : 1 + len(shuffles)], means[1 + len(shuffles) :]
    z16 = (rand.mean() - given) / max(np.std(rand, ddof=1), 1e-3)
    z8 = (rand[:8].mean() - given) / max(np.std(rand[:8], ddof=1), 1e-3)
    flow = flow_z(embedder, record["instruction"], [u for u, _ in pieces], seed)
    return {
        "z8": z8,
        "z16": z16,
        "margin": rand.mean() - given,
        "neighbour_gain": moves.min() - given,
        "worse_share": float(np.mean(moves > given)),
        "gain_or_z16": min(moves.min() - given + 0.025, z16 - 1.25),  # < 0: either one rejects
        "pair_beaten": pair_beaten(step, head, [u + s for u, s in pieces[:PAIR_UNITS]]),
        "flow_z": flow,
        "z8_plus_half_flow": z8 + 0.5 * flow,
    }


def flow_z(embedder: SentenceEmbedder, prompt: str, units: list[str], seed: int) -> float:
    """Semantic flow (sentence embeddings, no LM): an order's score sums the cosine of the
    prompt with its first unit and of each unit with the next; returns the given order's
    z-score among all orders of up to 7 units (else 2,000 drawn ones)."""
    vectors = embedder.embed([prompt] + [u.strip() for u in units])
    first, near = vectors[1:] @ vectors[0], vectors[1:] @ vectors[1:].T
    k = len(units)
    every = every_order(k) if k <= 7 else np.array(orders(k, 2000, seed))
    flows, given = chain_scores(first, near, every), chain_scores(first, near, np.arange(k)[None])
    return float((given[0] - flows.mean()) / max(flows.std(), 1e-6))


def every_order(k: int) -> np.ndarray:
    """All orders of k units, one per row."""
    return np.array(list(itertools.permutations(range(k))))


def chain_scores(first: np.ndarray, link: np.ndarray, every: np.ndarray) -> np.ndarray:
    """Each order's score as a chain: its first unit's score plus each transition's
    (`link[i, j]`: unit j right after unit i)."""
    return first[every[:, 0]] + link[every[:, :-1], every[:, 1:]].sum(1)


def pair_beaten(step: SentenceOrder, head: list[int], units: list[str]) -> float:
    """The pairwise (Markov) test: each unit's NLL after the prompt alone and after the prompt
    and one other unit, for every ordered pair; an order's cost sums its first unit's and its
    transitions'. Returns the share of all orders of the units that cost more than the given
    one (ties count half): near 1 for a coherent order, uniform for a random one."""
    tok, k = step._tokenizer, len(units)
    ids = [tok(u.strip(), add_special_tokens=False)["input_ids"] for u in units]
    after = [tok(" " + u.strip(), add_special_tokens=False)["input_ids"] for u in units]
    pairs = [(i, j) for i in range(k) for j in range(k) if i != j]
    seqs = [head + ids[j] for j in range(k)] + [head + ids[i] + after[j] for i, j in pairs]
    spans = [(len(head), len(head) + len(ids[j])) for j in range(k)]
    spans += [(len(head) + len(ids[i]), len(head) + len(ids[i]) + len(after[j])) for i, j in pairs]
    with torch_threads(1):
        nll, _ = span_nll(step._model, seqs, spans, "cpu", 16, tok.pad_token_id)
    totals = [float(x.sum()) for x in nll]
    first, step_cost = np.array(totals[:k]), np.zeros((k, k))
    for (i, j), cost in zip(pairs, totals[k:], strict=True):
        step_cost[i, j] = cost
    costs = chain_scores(first, step_cost, every_order(k))
    given = chain_scores(first, step_cost, np.arange(k)[None])[0]
    return float(np.mean(costs > given + 1e-9) + 0.5 * np.mean(np.abs(costs - given) <= 1e-9))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=sorted(SOURCES), default="gsm8k")
    parser.add_argument("--records", type=int, default=60)
    parser.add_argument("--start", type=int, help="first record (default: per source)")
    args = parser.parse_args()
    name, start = SOURCES[args.source]
    rows = load(name, start if args.start is None else args.start, args.records)
    step = SentenceOrder()
    step.ready()
    embedder = SentenceEmbedder()
    found = {
        kind: [s for r in records if (s := scores(step, embedder, r)) is not None]
        for kind, records in (("original", rows), ("shuffled", corrupt(rows, seed=3)["shuffled"]))
    }
    print(
        f"{args.source}: {len(found['original'])} originals and {len(found['shuffled'])} "
        "shuffles tested (3+ units)"
    )
    print("| statistic | originals median | shuffles median | best cut | caught | kept |")
    print("|---|---|---|---|---|---|")
    for stat in found["original"][0]:
        own = np.array([s[stat] for s in found["original"]])
        mixed = np.array([s[stat] for s in found["shuffled"]])
        cut = max(
            np.unique(np.r_[own, mixed]), key=lambda t: min(np.mean(mixed < t), np.mean(own >= t))
        )
        print(
            f"| {stat} | {np.median(own):.3f} | {np.median(mixed):.3f} | {cut:.3f} | "
            f"{np.mean(mixed < cut):.1%} | {np.mean(own >= cut):.1%} |"
        )


if __name__ == "__main__":
    main()
