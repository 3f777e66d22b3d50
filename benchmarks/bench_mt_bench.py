"""`instruct_rules` on conversations written by others, next to a judge's score of each turn:
MT-Bench (80 questions, each with a follow-up) answered by the models whose answers and GPT-4
single-answer grades (1-10 per turn) are committed in forks of FastChat; or any folder laid out
the same way, such as Arena-Bench v1 (300 one-turn questions from Chatbot Arena, 17 models'
answers, GPT-4 grades against a reference answer) in the history of lmarena/arena-hard-auto. A
rule that rejects good conversations shows up as rejects scored like the kept ones.

    git clone https://github.com/alvarobartt/FastChat /tmp/mt/alvarobartt   (and any of
        don-tpanic/FastChat, muhan421/fastchat-eval, Stefanstud/FastChat, Hameed92/FastChat,
        dreaming-panda/MTBench, jxiw/FastChat, wgm20/FastChat: FastChat is Apache-2.0; the
        answers are the models')
    .venv/bin/python benchmarks/bench_mt_bench.py /tmp/mt/*/ [--show REASON]
    git clone https://github.com/lmarena/arena-hard-auto /tmp/ah && git -C /tmp/ah checkout \
        4a705dd -- data/arena-bench-v1   (Apache-2.0; the answers are the models')
    .venv/bin/python benchmarks/bench_mt_bench.py /tmp/ah/data/arena-bench-v1

Each argument is a clone (or its `fastchat/llm_judge/data/mt_bench` folder). Prints the
conversations rejected by each reason, how many have grades and their mean grade per turn,
next to the kept conversations'. `--strip`: strip end-of-turn tokens first. `--show REASON`:
prints rejected conversations of that reason.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filters import StripEndTokens  # noqa: E402
from pipeline.io.records import with_fields  # noqa: E402
from scorers import InstructRules  # noqa: E402

DATA = "fastchat/llm_judge/data/mt_bench"


def jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON Lines file that parse (forks hold a few broken lines)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def grades(folder: Path) -> dict[tuple[str, int, int], float]:
    """(model, question id, turn) -> the judge's grade, from every single-answer judgment file
    (FastChat's `*single*.jsonl`, or one file per model holding one-turn grades)."""
    judged = folder / "model_judgment"
    found = {}
    for path in sorted(judged.glob("*single*.jsonl")) or sorted(judged.glob("*.jsonl")):
        for row in jsonl(path):
            if isinstance(row.get("score"), int | float) and row["score"] >= 1 and "model" in row:
                found[(row["model"], row["question_id"], row.get("turn", 1))] = float(row["score"])
    return found


def conversations(folder: Path, questions: dict[int, list[str]]) -> list[dict[str, Any]]:
    """Each model's answers in `folder`, as messages records with their turns' grades."""
    graded = grades(folder)
    records = []
    for path in sorted((folder / "model_answer").glob("*.jsonl")):
        for row in jsonl(path):
            asked, model = questions.get(row["question_id"]), row["model_id"]
            if not asked:
                continue
            answers = row["choices"][0]["turns"]
            turns = []
            for question, answer in zip(asked, answers, strict=False):
                turns += [{"role": "user", "content": question}]
                turns += [{"role": "assistant", "content": answer}]
            scores = [graded.get((model, row["question_id"], t + 1)) for t in range(len(asked))]
            records.append({"model": model, "messages": turns, "grades": scores})
    return records


def _mean(values: list[float]) -> float:
    """The mean, or NaN for none."""
    return float(np.mean(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", type=Path, nargs="+", help="FastChat clones or data folders")
    parser.add_argument("--show", default="", help="print rejected conversations of this reason")
    parser.add_argument(
        "--strip", action="store_true", help="run strip_end_tokens first, as the recipe does"
    )
    args = parser.parse_args()
    folders = [r / DATA if (r / DATA).is_dir() else r for r in args.roots]
    questions: dict[int, list[str]] = {}
    for folder in folders:
        for row in jsonl(folder / "question.jsonl") if (folder / "question.jsonl").exists() else []:
            questions.setdefault(row["question_id"], row["turns"])
    records = [r for folder in folders for r in conversations(folder, questions)]
    table, invalid = with_fields(
        pa.Table.from_pylist([{"messages": r["messages"]} for r in records]), "messages"
    )
    if args.strip:
        table = StripEndTokens().rewrite(table)
    rules = InstructRules()
    rules.ready()
    reasons = rules.reasons(table).to_pylist()
    reasons = [bad or reason for bad, reason in zip(invalid, reasons)]
    by_reason: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record, reason in zip(records, reasons, strict=True):
        by_reason[re.sub(r"[<>].*", "", reason or "kept")].append(record)
    models = len({r["model"] for r in records})
    print(f"## {len(records)} conversations by {models} models, {len(folders)} folders")
    print(f"{'':40s} {'records':>8s} {'share':>7s} {'graded':>7s} {'turn 1':>7s} {'turn 2':>7s}")
    for reason, found in sorted(
        by_reason.items(), key=lambda item: (item[0] != "kept", -len(item[1]))
    ):
        graded = [r["grades"] for r in found if None not in r["grades"]]
        means = [_mean([g[t] for g in graded if len(g) > t]) for t in (0, 1)]
        share = len(found) / len(records)
        print(
            f"{reason:40s} {len(found):8d} {share:7.2%} {len(graded):7d} "
            f"{means[0]:7.2f} {means[1]:7.2f}"
        )
    shown = [
        r for reason, found in by_reason.items() if args.show and args.show in reason for r in found
    ]
    random.Random(0).shuffle(shown)
    for record in shown[:10]:
        print(f"\n--- {record['model']} grades {record['grades']}")
        for turn in record["messages"]:
            print(f"{turn['role']}: {turn['content'][-300:]!r}")


if __name__ == "__main__":
    main()
