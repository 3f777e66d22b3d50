"""`instruct_rules` (and, with --ends, `ifd`'s cut-answer checks as configs/instruct.yaml sets
them) on real, human-written instruction records nobody corrupted: how many good records does
each reject, by which rule, and which? (The corruption benchmark, bench_instruct.py, measures
the other side: what the steps catch.)

    .venv/bin/python benchmarks/bench_rules_real.py [--ends] [--extra more.jsonl ...] [--show N]

Always read, from ../shared/data: the Self-Instruct seed tasks (175) and user-oriented tasks
(252) in instruction-eval-sets, first instance of each; Stack Exchange questions with their
first answer (Spanish, code-heavy; data-juicer-demos, Apache-2.0). `--extra`: JSONL of alpaca
records (instruction, input, output), e.g. a slice of Databricks Dolly-15k.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_instruct import recipe_ifd, table  # noqa: E402

from scorers import InstructionFollowingDifficulty, InstructRules  # noqa: E402

DATA = Path(os.environ.get("TAMIS_SHARED_DATA", REPO.parent / "shared" / "data"))
SELF_INSTRUCT = ("alpaca_seed_tasks.jsonl", "sinstruct_test_set.jsonl")


def self_instruct() -> list[dict[str, str]]:
    """The seed and user-oriented tasks with their first written answer, as alpaca records."""
    rows = []
    for name in SELF_INSTRUCT:
        for line in (DATA / "instruction-eval-sets" / name).read_text().splitlines():
            task = json.loads(line)
            first = task["instances"][0]
            rows.append(
                {
                    "instruction": task["instruction"],
                    "input": first["input"],
                    "output": first["output"],
                }
            )
    return rows


def stack_exchange() -> list[dict[str, str]]:
    """Questions and their first answer from the data-juicer Stack Exchange demo documents."""
    rows = []
    folder = DATA / "data-juicer-demos"
    for name in ("stack_exchange.jsonl", "redpajama-pile-stackexchange-refined.jsonl"):
        for line in (folder / name).read_text().splitlines():
            text = json.loads(line)["text"]
            if not text.startswith("Q:") or "\nA:" not in text:
                continue
            question, answers = text[2:].split("\nA:", 1)
            answer = re.split(r"\n+A:", answers)[0].strip()
            record = {"instruction": question.strip(), "input": "", "output": answer}
            if answer and record not in rows:  # the two files share some questions
                rows.append(record)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", nargs="*", default=[], help="more alpaca JSONL files")
    parser.add_argument("--show", type=int, default=5, help="rejected records printed per set")
    parser.add_argument(
        "--ends", action="store_true", help="also ifd's cut-answer checks (SmolLM2, minutes)"
    )
    args = parser.parse_args()
    sets = {"Self-Instruct seed + user tasks": self_instruct(), "Stack Exchange": stack_exchange()}
    for path in args.extra:
        sets[Path(path).name] = [
            {k: r.get(k) or "" for k in ("instruction", "input", "output")}
            for r in map(json.loads, Path(path).read_text().splitlines())
        ]
    steps: list[tuple[str, Any]] = [("instruct_rules", InstructRules())]
    if args.ends:
        ends = {k: v for k, v in recipe_ifd().items() if k.startswith("min_end")}
        steps.append((f"ifd {ends}", InstructionFollowingDifficulty(max_ifd=None, **ends)))
    for label, step in steps:
        step.ready()
        print(f"\n# {label}")
        for name, rows in sets.items():
            report(name, rows, step.reasons(table(rows)).to_pylist(), args.show)


def report(name: str, rows: list[dict[str, str]], reasons: list[str | None], show: int) -> None:
    """Print how many records a step rejected, by reason, and the first few."""
    hit = [(r, row) for r, row in zip(reasons, rows, strict=True) if r]
    print(f"\n## {name}: {len(rows)} records, {len(hit)} rejected ({len(hit) / len(rows):.1%})")
    for reason, count in Counter(r for r, _ in hit).most_common():
        print(f"  {reason}: {count}")
    for reason, row in hit[:show]:
        print(f"  - {reason}: {row['instruction'][:70]!r} -> {row['output'][-90:]!r}")


if __name__ == "__main__":
    main()
