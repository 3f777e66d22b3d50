"""`instruct_rules` on answers written by others, next to a judge's verdict on the same answers:
AlpacaEval's model outputs (805 instructions answered by each of ~200 chat models) and its
GPT-4 annotations (which of two answers is better). A rule that rejects good answers shows up
as rejects the judge prefers as often as kept ones; a useful one rejects answers it dislikes.

    git clone https://github.com/tatsu-lab/alpaca_eval /tmp/alpaca_eval   (data: CC BY-NC 4.0)
    .venv/bin/python benchmarks/bench_alpaca_eval.py /tmp/alpaca_eval [--annotator NAME]
        [--leaderboard] [--show REASON]

Prints, for the models with annotations by `--annotator`: records rejected by each reason and
the judge's win rate of those answers against the annotator's reference answer, next to the
kept answers' win rate. `--leaderboard`: also runs the rules on every model's outputs and
prints the rank correlation (Spearman) between a model's share of rejected answers and its
leaderboard win rate. `--show REASON`: prints rejected answers of that reason.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_instruct import table  # noqa: E402

from scorers import InstructRules  # noqa: E402

LEADERBOARD = "docs/data_AlpacaEval_2/weighted_alpaca_eval_gpt4_turbo_leaderboard.csv"


def outputs(folder: Path) -> list[dict[str, str]]:
    """A model's answers as alpaca records (AlpacaEval's prompts carry their input inline)."""
    rows = json.loads((folder / "model_outputs.json").read_text())
    return [
        {"instruction": r["instruction"], "input": "", "output": r["output"] or ""} for r in rows
    ]


def wins(folder: Path, annotator: str) -> dict[str, float]:
    """Per instruction, the judge's preference for the model's answer over the reference one
    (1 = the model's, 0 = the reference's, 0.5 = a tie); instructions without one left out."""
    path = folder / annotator / "annotations.json"
    found = {}
    for note in json.loads(path.read_text()) if path.exists() else []:
        try:
            preference = float(note["preference"])
        except (TypeError, ValueError, KeyError):
            continue
        if preference == preference:  # not NaN
            found[note["instruction"]] = preference - 1
    return found


def leaderboard(root: Path) -> dict[str, float]:
    """Model folder name -> leaderboard win rate."""
    board = {}
    for row in csv.DictReader((root / LEADERBOARD).read_text().splitlines()):
        found = re.search(r"results/([^/]+)/model_outputs", row.get("samples") or "")
        if found and row["win_rate"]:
            board[found.group(1)] = float(row["win_rate"])
    return board


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a clone of tatsu-lab/alpaca_eval")
    parser.add_argument("--annotator", default="alpaca_eval_gpt4")
    parser.add_argument("--leaderboard", action="store_true")
    parser.add_argument("--show", default="", help="print rejected answers of this reason")
    args = parser.parse_args()
    rules = InstructRules()
    rules.ready()
    board = leaderboard(args.root) if args.leaderboard else {}
    kept: list[float] = []
    rejected: dict[str, list[float]] = defaultdict(list)
    shown: list[tuple[str, str, dict[str, str]]] = []
    reject_share: dict[str, float] = {}
    read = rejects = 0
    for folder in sorted((args.root / "results").iterdir()):
        judged = wins(folder, args.annotator)
        if not (folder / "model_outputs.json").exists() or not (judged or folder.name in board):
            continue
        rows = outputs(folder)
        reasons = rules.reasons(table(rows)).to_pylist()
        reject_share[folder.name] = sum(map(bool, reasons)) / len(rows)
        read, rejects = read + len(rows), rejects + sum(map(bool, reasons))
        for row, reason in zip(rows, reasons, strict=True):
            if args.show and reason and args.show in reason:
                shown.append((folder.name, reason, row))
            if row["instruction"] in judged:
                win = judged[row["instruction"]]
                (rejected[re.sub(r"[<>].*", "", reason)] if reason else kept).append(win)
    everyone = len(kept) + sum(map(len, rejected.values()))
    print(f"## {args.annotator}: {everyone} judged answers")
    print(f"{'':40s} {'answers':>8s} {'share':>7s} {'judge win rate':>15s}")
    print(f"{'kept':40s} {len(kept):8d} {len(kept) / everyone:7.1%} {np.mean(kept):15.3f}")
    for reason, found in sorted(rejected.items(), key=lambda item: -len(item[1])):
        print(f"{reason:40s} {len(found):8d} {len(found) / everyone:7.2%} {np.mean(found):15.3f}")
    print(f"\n## {read} answers of {len(reject_share)} models read: {rejects / read:.1%} rejected")
    if board:
        names = [n for n in board if n in reject_share]
        rho = spearmanr([reject_share[n] for n in names], [board[n] for n in names]).statistic
        print(f"\n## {len(names)} models: Spearman(share rejected, leaderboard win rate) {rho:.3f}")
    random.Random(0).shuffle(shown)
    for model, reason, row in shown[:20]:
        print(f"\n--- {model} [{reason}]")
        print(f"Q: {row['instruction'][:200]!r}\nA: {row['output'][:400]!r}")


if __name__ == "__main__":
    main()
