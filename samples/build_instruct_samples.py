"""Build samples/instruct/: a small instruction set from GSM8K (MIT) with planted problems.

Three shards, one per record kind: alpaca JSONL, messages JSONL (with multi-turn
conversations) and a sharegpt JSON array. Every record carries `planted`, what was done to it,
so tests and benchmarks can check each step's decisions. Problems planted among clean GSM8K
records: exact and reworded duplicates of prompts, refusals, cut answers, answers in another
language, chat-template residue, answers swapped with another problem's, benchmark prompts
(verbatim and lightly edited) from a held-out GSM8K slice written to
samples/instruct-benchmarks/gsm8k-heldout.jsonl, and malformed records.

Deterministic for a given --seed (faker==40.63.0 for the foreign-language answers).
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path
from typing import Any

from faker import Faker

REPO = Path(__file__).resolve().parent.parent
CLEAN, HELDOUT = 210, 300
REFUSALS = [
    "I'm sorry, but I cannot help with that request.",
    "As an AI language model, I am not able to solve math problems for you.",
    "I apologize, but I can't provide an answer to this question.",
    "As an AI, I don't have personal opinions, so I cannot answer this.",
]
RESIDUE = ["<|im_end|>\n<|im_start|>user\nThanks!", "\n\n### Instruction:\nSolve the next one."]
NAMES = ["Maria", "Tom", "Aisha", "Kenji", "Lucas", "Priya", "Omar", "Elena"]
SYNONYMS = [
    ("How many", "What is the number of"),
    ("How much", "What amount"),
    ("altogether", "in total"),
    ("each", "every"),
    ("bought", "purchased"),
]


def data_dir(given: str | None) -> Path:
    """--data, then $TAMIS_SHARED_DATA, then ../shared/data beside the repository."""
    return Path(given or os.environ.get("TAMIS_SHARED_DATA") or REPO.parent / "shared" / "data")


def reword(prompt: str, rng: random.Random) -> str:
    """The same problem asked in other words: the question first, synonyms, a new opener."""
    sentences = [
        s.strip() for s in prompt.replace("?", "?|").replace(". ", ".|").split("|") if s.strip()
    ]
    if len(sentences) > 1 and sentences[-1].endswith("?"):
        sentences = [sentences[-1], *sentences[:-1]]
    text = " ".join(sentences)
    for old, new in SYNONYMS:
        text = text.replace(old, new)
    return rng.choice(["Solve this: ", "Here is a problem. ", "Please work out: "]) + text


def edit_lightly(prompt: str, rng: random.Random) -> str:
    """A benchmark prompt with one word changed and punctuation dropped: still contaminated."""
    words = prompt.replace(",", "").split()
    words[rng.randrange(len(words))] = rng.choice(["exactly", "really", "also"])
    return " ".join(words)


def cut(answer: str, rng: random.Random) -> str:
    """The answer stopped mid-sentence, between 30% and 70% of its words."""
    words = answer.split(" ")
    return " ".join(words[: max(2, int(len(words) * rng.uniform(0.3, 0.7)))])


def planted_records(gsm: list[dict[str, str]], rng: random.Random) -> list[dict[str, Any]]:
    """GSM8K records (instruction/output) with every planted problem, labelled."""
    fakes = {loc: Faker(loc) for loc in ("es_ES", "fr_FR", "de_DE")}
    clean = gsm[:CLEAN]
    heldout = gsm[CLEAN : CLEAN + HELDOUT]
    spare = gsm[CLEAN + HELDOUT :]
    rows = [{"q": r["instruction"], "a": r["output"], "planted": "clean"} for r in clean]
    for r in rng.sample(clean, 15):
        q = r["instruction"].upper() if rng.random() < 0.3 else "  " + r["instruction"]
        rows.append({"q": q, "a": r["output"], "planted": "dup:exact"})
    for r in rng.sample(clean, 15):
        rows.append(
            {"q": reword(r["instruction"], rng), "a": r["output"], "planted": "dup:reworded"}
        )
    pool = iter(spare)
    for kind, count in (
        ("refusal", 12),
        ("truncated", 15),
        ("wrong_language", 12),
        ("template_residue", 8),
        ("swapped", 12),
    ):
        for _ in range(count):
            r, other = next(pool), next(pool)
            answer = {
                "refusal": lambda: rng.choice(REFUSALS),
                "truncated": lambda r=r: cut(r["output"], rng),
                "wrong_language": lambda: rng.choice(list(fakes.values())).paragraph(5),
                "template_residue": lambda r=r: r["output"] + rng.choice(RESIDUE),
                "swapped": lambda other=other: other["output"],
            }[kind]()
            rows.append({"q": r["instruction"], "a": answer, "planted": kind})
    for r in heldout[:10]:
        rows.append({"q": r["instruction"], "a": r["output"], "planted": "benchmark"})
    for r in heldout[10:20]:
        q = edit_lightly(r["instruction"], rng)
        rows.append({"q": q, "a": r["output"], "planted": "benchmark:edited"})
    rng.shuffle(rows)
    for i, row in enumerate(rows):
        row["id"] = f"inst-{i:04d}"
    return rows


def as_alpaca(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "instruction": row["q"],
        "input": "",
        "output": row["a"],
        "planted": row["planted"],
    }


def as_messages(row: dict[str, Any], follow_up: dict[str, Any] | None) -> dict[str, Any]:
    turns = [{"role": "user", "content": row["q"]}, {"role": "assistant", "content": row["a"]}]
    if follow_up is not None:  # a second problem in the same conversation
        turns += [
            {"role": "user", "content": "Another one: " + follow_up["instruction"]},
            {"role": "assistant", "content": follow_up["output"]},
        ]
    return {
        "id": row["id"],
        "messages": turns,
        "planted": row["planted"] if follow_up is None else "multi_turn",
    }


def as_sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    turns = [{"from": "human", "value": row["q"]}, {"from": "gpt", "value": row["a"]}]
    return {"id": row["id"], "conversations": turns, "planted": row["planted"]}


MALFORMED = [
    {"id": "bad-0", "messages": [{"role": "assistant", "content": "Hello!"}], "planted": "invalid"},
    {
        "id": "bad-1",
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": ""},
        ],
        "planted": "invalid",
    },
    {
        "id": "bad-2",
        "messages": [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Hi!"}],
        "planted": "invalid",
    },
    {"id": "bad-3", "messages": [{"role": "user", "content": "Hi"}], "planted": "invalid"},
    {
        "id": "bad-4",
        "messages": [{"role": "user", "content": 12}, {"role": "assistant", "content": "Twelve."}],
        "planted": "invalid",
    },
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="shared data folder (default: ../shared/data)")
    parser.add_argument("--out", default=str(REPO / "samples" / "instruct"))
    parser.add_argument("--benchmarks", default=str(REPO / "samples" / "instruct-benchmarks"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    Faker.seed(args.seed)
    gsm = json.loads((data_dir(args.data) / "gpteacher-gsm8k" / "gsm_8k_train.json").read_text())
    rng.shuffle(gsm)
    rows = planted_records(gsm, rng)
    out, bench = Path(args.out), Path(args.benchmarks)
    out.mkdir(parents=True, exist_ok=True)
    bench.mkdir(parents=True, exist_ok=True)
    third = len(rows) // 3
    extra = iter(gsm[-40:])
    with (out / "part-00000.jsonl").open("w") as fh:
        for row in rows[:third]:
            fh.write(json.dumps(as_alpaca(row)) + "\n")
    with (out / "part-00001.jsonl").open("w") as fh:
        for i, row in enumerate(rows[third : 2 * third]):
            follow_up = next(extra) if row["planted"] == "clean" and i % 8 == 0 else None
            fh.write(json.dumps(as_messages(row, follow_up)) + "\n")
        for record in MALFORMED:
            fh.write(json.dumps(record) + "\n")
        fh.write('{"id": "bad-5", "messages": [ broken json\n')
    (out / "part-00002.json").write_text(
        json.dumps([as_sharegpt(r) for r in rows[2 * third :]], indent=1)
    )
    heldout = gsm[CLEAN : CLEAN + HELDOUT]
    with (bench / "gsm8k-heldout.jsonl").open("w") as fh:
        for i, r in enumerate(heldout):
            fh.write(
                json.dumps(
                    {"id": f"heldout-{i}", "question": r["instruction"], "answer": r["output"]}
                )
                + "\n"
            )
    planted: dict[str, int] = {}
    for row in rows:
        planted[row["planted"]] = planted.get(row["planted"], 0) + 1
    malformed = len(MALFORMED) + 1  # and one line of broken JSON
    print(f"{len(rows) + malformed} records in {out}: {planted}, malformed {malformed}")
    print(f"{len(heldout)} benchmark prompts in {bench / 'gsm8k-heldout.jsonl'}")


if __name__ == "__main__":
    main()
