"""Real clean prose and the samples' junk through the default web heuristics: tamis vs datatrove.

    make bench    # once: creates .bench-venv (datatrove 0.10.1) and runs bench_heuristics.py
    .venv/bin/python benchmarks/bench_real_prose.py [--examples K] [--movies N]

Measures, on clean English prose written by others and absent from samples/, the share of
documents the default web heuristics keep, and on the samples' junk the share they reject. The
chain is the default recipe's: `gopher_repetition`, `gopher_quality`, `c4` (remove_lines false)
and `fineweb_quality`, in that order, a document rejected by one step never reaching the next.
tamis runs its public filter classes (`.reasons`) in this process, so it measures the filters as
they are when it runs; datatrove runs the same four filters with their defaults (C4 with
filter_no_terminal_punct) in .bench-venv (benchmarks/datatrove_keep.py). datatrove's C4 rewrites
a kept text without its dropped lines; the comparison gives FineWeb the original text on both
sides, and the "datatrove as shipped" column shows the verdict with the rewritten text.

Clean corpora (each reported apart, then the total without the CRLF copy); documents under 50
whitespace-separated words are dropped and counted:

- abc: ABC (Australian Broadcasting Commission) rural and science news stories, 2006, from
  NLTK's abc.zip: one blank-line block per story (headline or caption line, one sentence per
  line); a rural block whose first line has at most 2 words is a subheading and joins the
  story before it. science.txt's CRLF line ends are made LF here. Licence unstated: benchmark
  only, never copied into the repository.
- aeb: article bodies of scrapinghub/article-extraction-benchmark's ground-truth.json (news and
  blog pages, 2019-2020; the repository is MIT, the texts belong to their publishers: benchmark
  only), English only: fastText lid.176 says en with a score >= 0.65.
- aeb-crlf: the same bodies with Windows line ends (CR LF), as text often arrives.
- movies: --movies reviews (default 300, a seeded sample of pos/ and neg/) of Pang and Lee's
  polarity dataset v2.0 (NLTK's movie_reviews.zip, "distributed with NLTK with permission from
  the authors"): lowercased and tokenised as distributed, here re-joined (no space before
  punctuation), one sentence per line.
- brown: the Brown corpus (1961 American English; NLTK's brown.zip, which says redistribution
  is permitted; treated as non-commercial, benchmark only), the news, editorial and reviews
  categories of its cats.txt: word/tag tokens detokenised (tags dropped, punctuation and ``''
  quotes re-joined), sentences joined into paragraphs.

Junk: samples/web rows whose source starts with `noise:`, but not `noise:non_english` (lang_id's
job), per noise kind, short ones included.

Data: $TAMIS_SHARED_DATA or ../shared/data (nltk-corpora/*.zip) and --aeb (default
/tmp/aeb/ground-truth.json, extracted from --aeb-git-dir when missing). Deterministic; about 4
minutes on 2 cores: ~5,000 documents, datatrove's side (spaCy's tokenizer) the longest, run
beside tamis's.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filters import C4, FineWebQuality, GopherQuality, GopherRepetition  # noqa: E402
from scorers import FastTextLangId  # noqa: E402

BENCH_PY = REPO / ".bench-venv" / "bin" / "python"
HELPER = REPO / "benchmarks" / "datatrove_keep.py"
AEB_JSON = Path("/tmp/aeb/ground-truth.json")
AEB_GIT = Path("/work/.mirror/scrapinghub+article-extraction-benchmark/repo")
MIN_WORDS = 50
BROWN_CATEGORIES = ("news", "editorial", "reviews")
NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", "%", ")", "]", "}", "''", "'", "'s", "n't"}
NO_SPACE_AFTER = {"(", "[", "{", "$", "``"}
QUOTES = {"``": '"', "''": '"'}


@dataclass
class Corpus:
    """Documents of one clean corpus, with how many were too short to count."""

    name: str
    docs: list[str]
    short: int = 0
    notes: list[str] = field(default_factory=list)


def shared_data() -> Path:
    """The shared data folder: $TAMIS_SHARED_DATA, else ../shared/data beside the repo."""
    return Path(os.environ.get("TAMIS_SHARED_DATA", REPO.parent / "shared" / "data"))


def decode(raw: bytes) -> str:
    """UTF-8 text, or Windows-1252 for files that are not UTF-8 (ABC science)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def long_enough(name: str, texts: list[str], notes: list[str] | None = None) -> Corpus:
    """The corpus of `texts` with at least MIN_WORDS words; the others are counted."""
    docs = [t for t in texts if len(t.split()) >= MIN_WORDS]
    return Corpus(name, docs, len(texts) - len(docs), notes or [])


def detokenise(tokens: list[str]) -> str:
    """Tokens re-joined as prose: no space before closing punctuation or after opening."""
    out: list[str] = []
    glue = True  # no space before the next token
    quote_open = False
    for token in tokens:
        if token == '"':  # straight quotes alternate: opening, then closing
            quote_open = not quote_open
            out.append('"' if glue or not quote_open else ' "')
            glue = quote_open
            continue
        if token == "." and out and out[-1].endswith("."):  # "Jr." ending a sentence
            glue = False
            continue
        if not glue and token not in NO_SPACE_BEFORE:
            out.append(" ")
        out.append(QUOTES.get(token, token))
        glue = token in NO_SPACE_AFTER
    return "".join(out)


def load_abc(data: Path) -> Corpus:
    """ABC rural and science news stories, one per blank-line block (rural subheadings joined)."""
    texts: list[str] = []
    with zipfile.ZipFile(data / "nltk-corpora" / "abc.zip") as zf:
        for member in ("abc/rural.txt", "abc/science.txt"):
            text = decode(zf.read(member)).replace("\r\n", "\n")
            stories: list[str] = []
            for block in re.split(r"\n[ \t]*\n", text):
                block = block.strip("\n")
                if not block.strip():
                    continue
                heading = block.split("\n", 1)[0].split()
                if member.endswith("rural.txt") and stories and len(heading) <= 2:
                    stories[-1] += "\n\n" + block
                else:
                    stories.append(block)
            texts += stories
    return long_enough("abc", texts)


def aeb_bodies(path: Path, git_dir: Path) -> list[str]:
    """Article bodies of the benchmark's ground truth, in key order; extracted when missing."""
    if not path.exists():
        if not git_dir.exists():
            return []
        archive = subprocess.run(
            ["git", f"--git-dir={git_dir}", "archive", "HEAD", path.name],
            check=True,
            capture_output=True,
        ).stdout
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extract(path.name, path.parent, filter="data")
    truth = json.loads(path.read_text(encoding="utf-8"))
    return [truth[key]["articleBody"] or "" for key in sorted(truth)]


def load_aeb(path: Path, git_dir: Path) -> list[Corpus]:
    """English article bodies, as they are and with CRLF line ends (none when unavailable)."""
    bodies = aeb_bodies(path, git_dir)
    if not bodies:
        return []
    scored = FastTextLangId()(bodies)
    english = [
        text
        for text, lang, score in zip(
            bodies, scored["lang"].to_pylist(), scored["lang_score"].to_pylist(), strict=True
        )
        if lang == "en" and score >= 0.65
    ]
    note = f"{len(bodies) - len(english)} of {len(bodies)} bodies not English (lid.176 >= 0.65)"
    aeb = long_enough("aeb", english, [note])
    crlf = Corpus("aeb-crlf", [t.replace("\n", "\r\n") for t in aeb.docs], aeb.short, [note])
    return [aeb, crlf]


def load_movies(data: Path, count: int, seed: int) -> Corpus:
    """A seeded sample of movie reviews, detokenised, one sentence per line."""
    with zipfile.ZipFile(data / "nltk-corpora" / "movie_reviews.zip") as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".txt") and "/README" not in n)
        picked = sorted(random.Random(seed).sample(names, min(count, len(names))))
        texts = [
            "\n".join(detokenise(line.split()) for line in decode(zf.read(n)).splitlines())
            for n in picked
        ]
    return long_enough("movies", [t.strip() for t in texts])


def load_brown(data: Path) -> Corpus | None:
    """Brown's news, editorial and reviews files, detokenised (None when cats.txt lacks them)."""
    with zipfile.ZipFile(data / "nltk-corpora" / "brown.zip") as zf:
        if "brown/cats.txt" not in zf.namelist():
            return None
        cats = [ln.split() for ln in decode(zf.read("brown/cats.txt")).splitlines()]
        files = sorted(c[0] for c in cats if len(c) >= 2 and c[1] in BROWN_CATEGORIES)
        if not files:
            return None
        texts = []
        for name in files:
            paragraphs = re.split(r"\n\s*\n", decode(zf.read(f"brown/{name}")))
            words = [[t.rpartition("/")[0] or t for t in p.split()] for p in paragraphs]
            texts.append("\n\n".join(detokenise(w) for w in words if w))
    return long_enough("brown", texts, [f"{len(files)} files: {', '.join(BROWN_CATEGORIES)}"])


def load_junk() -> tuple[list[str], list[str]]:
    """(noise kind, text) of samples/web's noise rows, non-English ones left out."""
    table = pq.read_table(REPO / "samples" / "web", columns=["text", "source"])
    source = table["source"]
    noise = pc.and_(
        pc.starts_with(source, "noise:"), pc.invert(pc.starts_with(source, "noise:non_english"))
    )
    table = table.filter(pc.fill_null(noise, False))
    kinds = [s.removeprefix("noise:") for s in table["source"].to_pylist()]
    return kinds, [t or "" for t in table["text"].to_pylist()]


def run_tamis(texts: list[str]) -> tuple[list[str | None], float]:
    """Per text, tamis's first reject reason (null when kept), and the seconds it took."""
    steps = [GopherRepetition(), GopherQuality(), C4(remove_lines=False), FineWebQuality()]
    verdicts: list[str | None] = [None] * len(texts)
    live = list(range(len(texts)))
    start = time.perf_counter()
    for step in steps:
        if not live:
            break
        reasons = step.reasons([texts[i] for i in live]).to_pylist()
        for i, reason in zip(live, reasons, strict=True):
            verdicts[i] = reason
        live = [i for i, reason in zip(live, reasons, strict=True) if reason is None]
    return verdicts, time.perf_counter() - start


def start_datatrove(ids: list[str], texts: list[str], scratch: Path) -> subprocess.Popen[str]:
    """datatrove_keep.py on the documents, in the benchmark venv, started in the background."""
    source = scratch / "docs.parquet"
    pq.write_table(pa.table({"id": ids, "text": texts}), source)
    return subprocess.Popen(
        [str(BENCH_PY), str(HELPER), str(source), str(scratch / "datatrove.parquet")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_datatrove(
    proc: subprocess.Popen[str], scratch: Path, ids: list[str]
) -> tuple[list[str | None], list[str | None], dict]:
    """(rule verdicts, as-shipped verdicts, the helper's JSON line), in `ids` order."""
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"datatrove_keep.py failed ({proc.returncode}):\n{err[-3000:]}")
    table = pq.read_table(scratch / "datatrove.parquet")
    rules = {
        i: None if f is None else f"{f}:{r}"
        for i, f, r in zip(
            table["id"].to_pylist(),
            table["filter"].to_pylist(),
            table["reason"].to_pylist(),
            strict=True,
        )
    }
    shipped = dict(zip(table["id"].to_pylist(), table["shipped"].to_pylist(), strict=True))
    info = json.loads(out.strip().splitlines()[-1])
    return [rules[i] for i in ids], [shipped[i] for i in ids], info


def pct(part: int, whole: int) -> str:
    """A share as a percentage with one decimal, or a dash for an empty whole."""
    return f"{100 * part / whole:.1f}%" if whole else "–"


def top(verdicts: list[str | None], k: int = 3) -> str:
    """The k most common reject reasons with their counts."""
    counts = Counter(v for v in verdicts if v is not None).most_common(k)
    return "; ".join(f"{reason} {n}" for reason, n in counts) or "–"


def git_head() -> str:
    """The repository's HEAD commit (read only), or '?'."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "?"


def filters_digest() -> str:
    """A short hash of filters/*.py: which version of the rules this run measured."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "filters").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def excerpt(text: str, width: int = 220) -> str:
    """The start of a text on one line, line ends shown as their escapes."""
    short = text[:width] + ("…" if len(text) > width else "")
    return short.replace("\r", "\\r").replace("\n", "\\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aeb", type=Path, default=AEB_JSON, help="ground-truth.json")
    parser.add_argument("--aeb-git-dir", type=Path, default=AEB_GIT, help="its git mirror")
    parser.add_argument("--movies", type=int, default=300, help="movie reviews to sample")
    parser.add_argument("--seed", type=int, default=0, help="seed of the movie review sample")
    parser.add_argument("--examples", type=int, default=2, help="rejected texts shown per rule")
    args = parser.parse_args()
    if not BENCH_PY.exists():
        sys.exit("benchmark venv missing: run `make bench` (it creates .bench-venv with datatrove)")
    data = shared_data()
    start = time.perf_counter()
    corpora = [load_abc(data), *load_aeb(args.aeb, args.aeb_git_dir)]
    if not any(c.name == "aeb" for c in corpora):
        print(f"skipped aeb and aeb-crlf: {args.aeb} missing and no {args.aeb_git_dir}")
    corpora.append(load_movies(data, args.movies, args.seed))
    brown = load_brown(data)
    if brown is None:
        print("skipped brown: cats.txt lacks the news / editorial / reviews categories")
    else:
        corpora.append(brown)
    kinds, junk = load_junk()

    ids, texts, owner = [], [], []
    for corpus in corpora:
        for n, text in enumerate(corpus.docs):
            ids.append(f"{corpus.name}-{n:05d}")
            texts.append(text)
            owner.append(corpus.name)
    for n, (kind, text) in enumerate(zip(kinds, junk, strict=True)):
        ids.append(f"junk-{n:05d}")
        texts.append(text)
        owner.append(f"junk:{kind}")

    with tempfile.TemporaryDirectory(prefix="tamis-prose-") as tmp:
        proc = start_datatrove(ids, texts, Path(tmp))
        ours, t_ours = run_tamis(texts)
        theirs, shipped, info = finish_datatrove(proc, Path(tmp), ids)
    versions = info["versions"]

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}; python {platform.python_version()}, pyarrow {pa.__version__}"
    )
    print(
        f"tamis {version('tamis')} (HEAD {git_head()}, filters/*.py sha256 {filters_digest()}); "
        f"datatrove {versions['datatrove']}, spacy {versions['spacy']} "
        f"(python {versions['python']})"
    )
    print(
        f"documents: {len(texts)}; tamis {t_ours:.1f} s, datatrove {info['seconds']:.1f} s "
        f"(in parallel); total {time.perf_counter() - start:.1f} s"
    )
    print()
    print("## Clean prose: share kept (gopher_repetition, gopher_quality, c4, fineweb_quality)")
    print()
    print(
        "| corpus | docs (< 50 words dropped) | tamis kept | datatrove kept "
        "| datatrove as shipped | verdicts differ | tamis top rejects | datatrove top rejects |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows: dict[str, list[int]] = {c.name: [] for c in corpora}
    for i, name in enumerate(owner):
        if name in rows:
            rows[name].append(i)
    total = [i for c in corpora if c.name != "aeb-crlf" for i in rows[c.name]]
    lines = [(c.name, rows[c.name], c.short) for c in corpora]
    short_total = sum(c.short for c in corpora if c.name != "aeb-crlf")
    lines.append(("**total** (no CRLF copy)", total, short_total))
    for name, idx, short in lines:
        mine = [ours[i] for i in idx]
        other = [theirs[i] for i in idx]
        as_shipped = [shipped[i] for i in idx]
        differ = sum((a is None) != (b is None) for a, b in zip(mine, other, strict=True))
        print(
            f"| {name} | {len(idx)} ({short}) "
            f"| {pct(mine.count(None), len(idx))} | {pct(other.count(None), len(idx))} "
            f"| {pct(as_shipped.count(None), len(idx))} | {differ} "
            f"| {top(mine)} | {top(other)} |"
        )
    for corpus in corpora:
        for note in corpus.notes:
            print(f"- {corpus.name}: {note}")
    print()
    print("## Junk: share rejected (samples/web noise rows, non-English left out)")
    print()
    print("| noise kind | rows | tamis rejected | datatrove rejected | tamis top rejects |")
    print("|---|---|---|---|---|")
    junk_rows: dict[str, list[int]] = {}
    for i, name in enumerate(owner):
        if name.startswith("junk:"):
            junk_rows.setdefault(name.removeprefix("junk:"), []).append(i)
    every = [i for idx in junk_rows.values() for i in idx]
    for kind, idx in [*sorted(junk_rows.items()), ("**all**", every)]:
        mine = [ours[i] for i in idx]
        other = [theirs[i] for i in idx]
        rejected = len(idx) - mine.count(None)
        print(
            f"| {kind} | {len(idx)} | {pct(rejected, len(idx))} "
            f"| {pct(len(idx) - other.count(None), len(idx))} | {top(mine, 2)} |"
        )
    if args.examples > 0:
        print()
        print(f"## Clean documents tamis rejects: up to {args.examples} per rule")
        clean = [i for i, name in enumerate(owner) if not name.startswith("junk:")]
        by_rule: dict[str, list[int]] = {}
        for i in clean:
            if ours[i] is not None:
                by_rule.setdefault(ours[i], []).append(i)
        for rule, idx in sorted(by_rule.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            where = Counter(owner[i] for i in idx)
            print(f"- {rule}: {len(idx)} ({', '.join(f'{k} {n}' for k, n in where.items())})")
            firsts = {owner[i]: i for i in reversed(idx)}  # the first of each corpus
            for i in sorted(firsts.values())[: args.examples]:
                print(f"  - {ids[i]} (datatrove: {theirs[i] or 'kept'}): {excerpt(texts[i])}")


if __name__ == "__main__":
    main()
