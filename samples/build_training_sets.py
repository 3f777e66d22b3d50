"""Build the data that trains and evaluates tamis's small models (default out: models/data/).

Outputs (zstd Parquet, all-string columns `text`, `source`, plus `label` in the eval set):
  quality-positive.parquet  clean docs: WikiText-2 articles/section groups, State of the Union and
      inaugural speech parts, GSM8K question+answer docs, instruction-eval-sets prompts of >= 20
      words (instruction + input + output), English data-juicer arxiv/stack-exchange docs.
  quality-negative.parquet  noisy web pages from build_samples.py's noise generators (seed 777,
      not the demo shards' 1234) around real paragraphs of the positives; no non-English pages.
  labelled-eval.parquet     label clean / noisy / non_english (600 / 600 / 400; 14 faker locales).
  wiki-en.txt               detokenised WikiText-2 valid+test, one paragraph per line, no headings.
Disjointness: clean docs are grouped (one WikiText article, one speech, else the doc itself) and
every 5th group of each source is held out. Positives come only from the other groups, eval clean
docs only from held-out ones. Eval noisy docs wrap only paragraphs of held-out docs and use their
own seed (4242); eval texts equal (case/whitespace folded) to a training text are dropped, and the
script asserts that no text is shared. wiki-en.txt is NOT held out: it contains the eval articles.
instruction-eval-sets are "as published by their authors": check licences before committing.
Deterministic. Needs pyarrow and faker==40.63.0.
Usage: .venv/bin/python samples/build_training_sets.py [--data DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from faker import Faker

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_samples as bs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
Doc = dict  # {"text": str, "source": str, "url": str (grouping key only), "label": str (eval only)}
TRAIN_SEED, EVAL_SEED = 777, 4242
N_GSM8K = 1500  # GSM8K items sampled before the hold-out split
HOLDOUT_EVERY = 5
N_EVAL_CLEAN, N_EVAL_NOISY, N_EVAL_NON_EN = 600, 600, 400
EVAL_LOCALES = [*bs.LOCALES, "nl_NL", "cs_CZ", "uk_UA", "el_GR", "da_DK", "vi_VN"]
DJ_KEEP = ("dj:arxiv", "dj:stack_exchange", "dj:pile_stackexchange")
EN_STOP = set(
    "the of and to a in is that for it with as on are be this by was have you not".split()
)
ES_STOP = set("de la el que en y los las por para con una un es se del como al lo pero".split())
INSTRUCTION_FIELDS = {  # file stem -> field holding the prompt ("instances" adds input/output)
    "alpaca_seed_tasks": "instruction",
    "sinstruct_test_set": "instruction",
    "koala_test_set": "prompt",
    "lima_test_set": "conversations",
    "vicuna_test_set": "text",
    "wizardlm_test_set": "Instruction",
}


def norm(text: str) -> str:
    """Fold case and whitespace so trivially different texts compare equal."""
    return " ".join(text.lower().split())


def is_english(text: str) -> bool:
    """Tell English from Spanish (most data-juicer stack-exchange demos) by stopword counts."""
    toks = re.findall(r"[a-záéíóúñ]+", text.lower())
    return sum(t in EN_STOP for t in toks) > 2 * sum(t in ES_STOP for t in toks)


def load_instructions(data: Path) -> list[Doc]:
    """Read instruction-eval-sets prompts (instruction + input + output) of at least 20 words."""
    docs: list[Doc] = []
    for stem, field in INSTRUCTION_FIELDS.items():
        path = data / "instruction-eval-sets" / f"{stem}.jsonl"
        for n, line in enumerate(path.read_text("utf-8").splitlines()):
            rec = json.loads(line)
            parts = [str(rec.get(field) or "")]
            for inst in rec.get("instances", []):
                parts += [inst.get("input") or "", inst.get("output") or ""]
            text = "\n\n".join(p.strip() for p in parts if p.strip())
            if len(text.split()) >= 20:
                docs.append(
                    {"text": text, "source": f"instruct:{stem.split('_')[0]}", "url": f"{stem}/{n}"}
                )
    return docs


def clean_pool(data: Path, rng: random.Random) -> list[Doc]:
    """Load every clean document that may become a positive or an eval clean doc."""
    gsm = bs.load_gsm8k(data)
    docs = (
        bs.load_wikitext(data)
        + bs.load_speeches(data, "state_union")
        + bs.load_speeches(data, "inaugural")
    )
    docs += rng.sample(gsm, N_GSM8K) + load_instructions(data)
    docs += [d for d in bs.load_dj(data) if d["source"] in DJ_KEEP and is_english(d["text"])]
    return docs


def group_key(doc: Doc) -> str:
    """Key that keeps parts of one article or speech together across the train/eval split."""
    key = doc["url"].split("#")[0]
    return key.rsplit("/", 1)[0] if doc["source"] in ("state_union", "inaugural") else key


def split_holdout(docs: list[Doc]) -> tuple[list[Doc], list[Doc]]:
    """Hold out every HOLDOUT_EVERY-th group of each source, in load order; return (train, held)."""
    groups: dict[str, dict[str, int]] = {}
    train, held = [], []
    for d in docs:
        seen = groups.setdefault(d["source"], {})
        idx = seen.setdefault(group_key(d), len(seen))
        (held if idx % HOLDOUT_EVERY == HOLDOUT_EVERY - 1 else train).append(d)
    return train, held


def paragraphs(docs: list[Doc]) -> list[str]:
    """Real 25-120 word paragraphs of the WikiText and speech docs, used as noise carriers."""
    srcs = ("wikitext", "state_union", "inaugural")
    return [
        p
        for d in docs
        if d["source"] in srcs
        for p in d["text"].split("\n\n")
        if 25 <= len(p.split()) <= 120
    ]


def noise_docs(
    rng: random.Random, fake: Faker, paras: list[str], n: int, banned: set[str]
) -> list[Doc]:
    """Make n distinct noisy pages, mixed like the demo shards' NOISE_TARGETS, avoiding banned."""
    total = sum(bs.NOISE_TARGETS.values())
    docs: list[Doc] = []
    for kind, weight in bs.NOISE_TARGETS.items():
        want = round(n * weight / total)
        for _ in range(20 * want):
            if not want:
                break
            text = bs.NOISE_FNS[kind](rng, fake, rng.choice(paras))
            if norm(text) not in banned:
                banned.add(norm(text))
                docs.append({"text": text, "source": f"noise:{kind}"})
                want -= 1
    return docs[:n]


def foreign_page(rng: random.Random, fake: Faker, loc: str) -> Doc:
    """A localized faker page (title, paragraphs, address footer), as in build_samples."""
    paras = [fake.paragraph(nb_sentences=rng.randint(3, 9)) for _ in range(rng.randint(1, 6))]
    head = fake.sentence(nb_words=5).rstrip(".。")
    text = "\n\n".join(
        [head, *paras, f"{fake.company()} · {fake.address().replace(chr(10), ', ')}"]
    )
    return {"text": text, "source": f"noise:non_english:{loc[:2]}"}


def wiki_lines(data: Path) -> list[str]:
    """Detokenised WikiText-2 valid+test paragraphs, headings and empty lines dropped."""
    out: list[str] = []
    for name in ("valid.txt", "test.txt"):
        for ln in (data / "wikitext-2" / name).read_text("utf-8").splitlines():
            if ln.strip() and not re.fullmatch(r"\s*=.*=\s*", ln):
                out.extend(s for s in [bs.detok_wikitext(ln)] if s)
    return out


def write_table(rows: list[Doc], path: Path, cols: tuple[str, ...]) -> None:
    """Write rows as a zstd Parquet file with an all-string schema of the given columns."""
    schema = pa.schema([(c, pa.string()) for c in cols])
    table = pa.Table.from_pylist([{c: r[c] for c in cols} for r in rows], schema=schema)
    pq.write_table(table, path, compression="zstd", compression_level=9)


def build(data: Path) -> dict[str, list[Doc]]:
    """Assemble the positive, negative and labelled-eval document lists."""
    rng, erng = random.Random(TRAIN_SEED), random.Random(EVAL_SEED)
    fake, efake = Faker("en_US"), Faker("en_US")
    fake.seed_instance(TRAIN_SEED)
    efake.seed_instance(EVAL_SEED)
    train, held = split_holdout(clean_pool(data, rng))
    train_texts = {norm(d["text"]) for d in train}
    neg = noise_docs(rng, fake, paragraphs(train), len(train), set(train_texts))
    train_texts |= {norm(d["text"]) for d in neg}
    held = [d for d in held if norm(d["text"]) not in train_texts]
    clean = [{**d, "label": "clean"} for d in erng.sample(held, min(N_EVAL_CLEAN, len(held)))]
    noisy = noise_docs(erng, efake, paragraphs(held), N_EVAL_NOISY, set(train_texts))
    fakes = {loc: Faker(loc) for loc in EVAL_LOCALES}
    for k, f in enumerate(fakes.values()):
        f.seed_instance(EVAL_SEED + 1 + k)
    locs = [EVAL_LOCALES[i % len(EVAL_LOCALES)] for i in range(N_EVAL_NON_EN)]
    foreign = [foreign_page(erng, fakes[loc], loc) for loc in locs]
    evals = (
        clean
        + [{**d, "label": "noisy"} for d in noisy]
        + [{**d, "label": "non_english"} for d in foreign]
    )
    assert not train_texts & {norm(d["text"]) for d in evals}, "eval set overlaps the training sets"
    for docs, r in ((train, rng), (neg, rng), (evals, erng)):
        r.shuffle(docs)
    return {"quality-positive": train, "quality-negative": neg, "labelled-eval": evals}


def main() -> None:
    """Parse arguments, build and write the outputs, and print a summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=bs.default_data())
    ap.add_argument("--out", type=Path, default=REPO / "models" / "data")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, docs in build(args.data).items():
        cols = ("text", "source", "label") if name == "labelled-eval" else ("text", "source")
        path = args.out / f"{name}.parquet"
        write_table(docs, path, cols)
        key = "label" if name == "labelled-eval" else "source"
        mix = ", ".join(f"{k} {v}" for k, v in sorted(Counter(d[key] for d in docs).items()))
        print(f"{path.name}: {len(docs)} rows, {path.stat().st_size:,} bytes ({mix})")
    lines = wiki_lines(args.data)
    path = args.out / "wiki-en.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{path.name}: {len(lines)} lines, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
