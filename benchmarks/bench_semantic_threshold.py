"""Semantic dedup threshold: precision and recall of "cosine >= t" against real same-topic pairs.

    .venv/bin/python benchmarks/bench_semantic_threshold.py [--seed S] [--max-tokens 256,128]

`semantic_dedup` (SemDeDup over all-MiniLM-L6-v2 embeddings) drops a document whose cosine to a
document already kept reaches `threshold`. For t = 0.80, 0.82, ..., 0.98, 0.99 this measures how
well "two documents are duplicates if their cosine is >= t" separates duplicate pairs from pairs
of real documents on the same subject that are not duplicates, and recommends the smallest t
from which on precision stays >= 98%.

Documents have 80-600 words (longer ones are cut to 600 words at a paragraph end); each is
embedded as the `embed` step embeds it, its first `max_tokens` word pieces, by
`scorers.SentenceEmbedder`: 256 (the step's default) and 128 (configs/web-en.yaml). Cosine = dot
product of the unit-length vectors.

Positive pairs: an original and its copy, made by samples/build_dedup_set.py (`pick_originals`:
real documents that share little text with one another, from WikiText-2 article parts, State of
the Union / inaugural address parts and ABC news stories; `plant`: the copy):
  paraphrase        `copy_paraphrase`: synonyms, expanded contractions, reordered sentences
                    (5-gram Jaccard < 0.5), the pairs semantic dedup is for: precision and
                    recall are computed on these;
  near-*            near-edit, near-insert, near-reorder, near-boilerplate (Jaccard >= 0.8):
                    an easier set (MinHash's job), whose recall is reported separately.

Negative pairs: real text written by others, on one subject, not duplicates (a candidate pair
whose word 5-gram Jaccard reaches 0.1 may be a copy and is left out):
  wiki-sections     two parts (120-450 words, each led by the title) of one WikiText-2 article;
  wiki-topic        the same-numbered parts of two WikiText-2 articles whose titles share a topic
                    word (hurricanes and typhoons, roads, battles, warships, songs, ...);
  sotu-topic        parts of two State of the Union addresses of different years on one subject
                    (economy, defence, health, education, ...: the part's most frequent topic
                    keywords), each paired with the next address in time that has that subject;
  abc-topic         two ABC rural / science news stories sharing several rare words (a story in
                    at most two pairs, most shared words first);
  aeb-nearest       the English articles (lid.176, as the recipes' lang_id) of the
                    article-extraction-benchmark's ground truth (news and blog posts, 2019), each
                    with its nearest other by cosine at 256 word pieces: the hardest negatives
                    (the nearest are often the same news event told by two outlets).

Precision: raw = positives / all pairs at or above t, on the pairs drawn; balanced = as if
positives and negatives were equally many, recall / (recall + false positive rate), which does
not depend on how many of each were drawn. The recommendation takes the smaller of the two.

Sources and licences: WikiText-2 (CC-BY-SA 3.0) and the NLTK state_union, inaugural (public
domain) and abc (ABC news, no stated licence: benchmark only, never committed) corpora from
../shared/data ($TAMIS_SHARED_DATA); the article-extraction-benchmark's ground-truth.json
(Zyte, MIT), read from --aeb or exported from a local git mirror of it. Nothing is written:
the texts stay in memory. Deterministic for a seed; 4-7 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "samples")]
import build_dedup_set as planted  # noqa: E402
import build_samples as bs  # noqa: E402

Pair = tuple[str, str]

THRESHOLDS = (0.80, 0.82, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94, 0.96, 0.98, 0.99)
TARGET_PRECISION = 0.98
MIN_WORDS, MAX_WORDS = planted.MIN_WORDS, planted.MAX_WORDS
MAX_NEGATIVE_JACCARD = 0.1  # word 5-gram Jaccard from which a "negative" may be a copy
PARAPHRASES = 300
NEAR_PER_KIND = 50
NEAR_KINDS = ("near-edit", "near-insert", "near-reorder", "near-boilerplate")
NEGATIVE_KINDS = ("wiki-sections", "wiki-topic", "sotu-topic", "abc-topic", "aeb-nearest")
WIKI_PAIRS_PER_ARTICLE = 3
WIKI_PARTS_PER_TOPIC_PAIR = 2
WIKI_TOPICS = {  # topic -> title regex (titles are lowercased; WikiText's <unk> words are gone)
    "tropical cyclone": r"hurricane|typhoon|tropical storm",
    "road": r"\broute\b|highway|interchange",
    "battle": r"\bbattle\b|invasion|\braid\b|military history",
    "warship / tank": r"battleship|warship|submarine|\btank\b",
    "song / album": r"\bsong\b|\balbum\b",
    "film / tv": r"\bfilm\b|\(the office\)|die another day",
    "sports team": r"\bteam\b|olympics|boat race",
}
SOTU_TOPICS = {  # topic -> keywords counted in a part
    "economy": "economy economic inflation prices jobs unemployment growth recession wages income "
    "productivity business businesses tax taxes budget deficit spending interest",
    "defence": "defense military soviet nuclear arms forces allies weapons nato missiles troops "
    "communist aggression",
    "health": "health medicare medicaid medical hospital hospitals insurance care disease",
    "education": "education schools school teachers students college colleges learning",
    "energy": "energy oil fuel gas conservation environment pollution coal",
    "welfare": "welfare poverty poor retirement elderly aged unemployed",
    "crime": "crime drugs criminals police violence violent drug",
}
SOTU_MIN_HITS = 6
SOTU_PAIRS_PER_TOPIC = 40
ABC_RARE_DF = 6  # a word in at most this many stories is rare
ABC_MIN_SHARED = 3
ABC_PAIRS = 150
ABC_USES = 2
AEB_DIR = Path("/tmp/aeb")
AEB_MIRROR = Path("/work/.mirror/scrapinghub+article-extraction-benchmark/repo")
_WORD = re.compile(r"[a-z]+")


# --- documents ----------------------------------------------------------------------------------


def fits(text: str) -> bool:
    """Whether a text has MIN_WORDS..MAX_WORDS words."""
    return MIN_WORDS <= planted.n_words(text) <= MAX_WORDS


def truncate(text: str, limit: int = MAX_WORDS) -> str:
    """The text's leading paragraphs up to `limit` words (the first paragraph cut if longer)."""
    kept: list[str] = []
    count = 0
    for para in (p.strip() for p in text.split("\n") if p.strip()):
        n = planted.n_words(para)
        if count + n > limit:
            if not kept:
                kept.append(" ".join(para.split()[:limit]))
            break
        kept.append(para)
        count += n
    return "\n\n".join(kept)


def not_copies(pairs: list[Pair]) -> tuple[list[Pair], int]:
    """The pairs whose word 5-gram Jaccard is under MAX_NEGATIVE_JACCARD, and how many were not."""
    kept = [p for p in pairs if planted.jaccard(*p) < MAX_NEGATIVE_JACCARD]
    return kept, len(pairs) - len(kept)


def wiki_articles(data: Path) -> list[tuple[str, list[str]]]:
    """(title, parts of 80-600 words) per WikiText-2 article, cut as load_wikitext cuts them."""
    out = []
    for name in ("valid.txt", "test.txt"):
        raw = (data / "wikitext-2" / name).read_text("utf-8")
        for art in re.split(r"^ = (?=[^=])", raw, flags=re.MULTILINE)[1:]:
            title, _, body = art.partition(" = \n")
            title = bs.detok_wikitext(title)
            paras = bs.wiki_paras(body)
            parts = (
                bs.chunk_paras(paras, 120, 450) if bs.words(paras) > 600 else ["\n\n".join(paras)]
            )
            out.append((title, [t for p in parts if fits(t := f"{title}\n\n{p}")]))
    return out


# --- positive pairs -----------------------------------------------------------------------------


def positive_pairs(data: Path, seed: int) -> dict[str, list[Pair]]:
    """Kind -> (original, copy) pairs: paraphrases, and copies of each near kind."""
    rng = random.Random(seed)
    pool = planted.load_wikitext(data) + planted.load_speeches(data) + planted.load_abc(data)
    originals, donors = planted.pick_originals(pool, PARAPHRASES + 30, rng)
    out: dict[str, list[Pair]] = defaultdict(list)
    for text in originals:
        copy = planted.plant(rng, "paraphrase", text, donors)
        if copy is not None and len(out["paraphrase"]) < PARAPHRASES:
            out["paraphrase"].append((text, copy))
    for kind in NEAR_KINDS:  # copies of the same originals, as few new texts to embed as can be
        for text in originals:
            if len(out[kind]) == NEAR_PER_KIND:
                break
            copy = planted.plant(rng, kind, text, donors)
            if copy is not None:
                out[kind].append((text, copy))
    return dict(out)


# --- negative pairs -----------------------------------------------------------------------------


def wiki_section_pairs(articles: list[tuple[str, list[str]]], rng: random.Random) -> list[Pair]:
    """Up to WIKI_PAIRS_PER_ARTICLE pairs of two different parts of one article, per article."""
    out: list[Pair] = []
    for _, parts in articles:
        combos = list(itertools.combinations(parts, 2))
        out += rng.sample(combos, min(WIKI_PAIRS_PER_ARTICLE, len(combos)))
    return out


def wiki_topics(articles: list[tuple[str, list[str]]]) -> dict[str, list[int]]:
    """Topic -> indices of the articles whose title matches its regex (first topic wins)."""
    out: dict[str, list[int]] = defaultdict(list)
    for i, (title, parts) in enumerate(articles):
        topic = next((t for t, rx in WIKI_TOPICS.items() if re.search(rx, title.lower())), None)
        if topic and parts:
            out[topic].append(i)
    return dict(out)


def wiki_topic_pairs(articles: list[tuple[str, list[str]]]) -> list[Pair]:
    """Part i of an article with part i of another on its topic, for the first few i."""
    out: list[Pair] = []
    for members in wiki_topics(articles).values():
        for a, b in itertools.combinations(members, 2):
            pa, pb = articles[a][1], articles[b][1]
            out += list(zip(pa, pb))[:WIKI_PARTS_PER_TOPIC_PAIR]
    return out


def topic_hits(text: str) -> Counter[str]:
    """SOTU topic -> how many of its keywords the text holds (with repeats)."""
    words = Counter(_WORD.findall(text.lower()))
    return Counter({t: sum(words[w] for w in kws.split()) for t, kws in SOTU_TOPICS.items()})


def sotu_pairs(data: Path, rng: random.Random) -> list[Pair]:
    """State of the Union parts paired with the same-topic part of the next year that has one."""
    by_topic: dict[str, list[tuple[int, str, int, str]]] = defaultdict(list)
    for _, member, text in planted.load_speeches(data):
        if not member.startswith("state_union/") or not fits(text):
            continue
        hits = topic_hits(text).most_common(2)
        (topic, best), second = hits[0], hits[1][1]
        if best >= SOTU_MIN_HITS and best >= 1.5 * second:
            year = int(Path(member).stem[:4])
            by_topic[topic].append((year, member, best, text))
    out: list[Pair] = []
    for parts in by_topic.values():
        pairs = []
        for year, _, _, text in parts:
            later = [p for p in parts if p[0] > year]
            if later:
                nxt = min(p[0] for p in later)
                _, _, _, other = max((p for p in later if p[0] == nxt), key=lambda p: p[2])
                pairs.append((text, other))
        out += rng.sample(pairs, min(SOTU_PAIRS_PER_TOPIC, len(pairs)))
    return out


def abc_pairs(data: Path) -> list[Pair]:
    """ABC stories sharing several rare content words, most shared first, each in few pairs."""
    stories = [t for _, _, t in planted.load_abc(data) if fits(t)]
    words = [planted.content_words(t) for t in stories]
    df = Counter(w for ws in words for w in ws)
    index: dict[str, list[int]] = defaultdict(list)
    for i, ws in enumerate(words):
        for w in ws:
            if 2 <= df[w] <= ABC_RARE_DF:
                index[w].append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for ids in index.values():
        shared.update(itertools.combinations(ids, 2))
    ranked = sorted((-n, a, b) for (a, b), n in shared.items() if n >= ABC_MIN_SHARED)
    uses: Counter[int] = Counter()
    out: list[Pair] = []
    for _, a, b in ranked:
        if len(out) == ABC_PAIRS:
            break
        pair = (stories[a], stories[b])
        if uses[a] < ABC_USES and uses[b] < ABC_USES and not_copies([pair])[0]:
            out.append(pair)
            uses.update((a, b))
    return out


def aeb_articles(folder: Path) -> list[str] | None:
    """English article bodies of the AEB ground truth, 80-600 words; None if there is none."""
    path = folder / "ground-truth.json"
    if not path.exists() and AEB_MIRROR.exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", f"--git-dir={AEB_MIRROR}", "archive", "HEAD", "ground-truth.json"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "x"], input=archive, cwd=folder, check=True)
    if not path.exists():
        return None
    truth = json.loads(path.read_text("utf-8"))
    texts = [truncate(truth[k]["articleBody"]) for k in sorted(truth)]
    texts = [t for t in texts if fits(t)]
    from scorers import FastTextLangId

    langs = FastTextLangId(languages=["en"])(texts)
    return [
        t
        for t, lang, score in zip(texts, langs["lang"].to_pylist(), langs["lang_score"].to_pylist())
        if lang == "en" and score >= 0.65
    ]


def nearest_pairs(texts: list[str], vectors: np.ndarray) -> list[Pair]:
    """Each text with its nearest other by cosine, each unordered pair once."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    seen = sorted({tuple(sorted((i, int(j)))) for i, j in enumerate(sims.argmax(axis=1))})
    return [(texts[i], texts[j]) for i, j in seen]


# --- measuring ----------------------------------------------------------------------------------


class Embeddings:
    """Unit vectors of texts under one SentenceEmbedder, each text embedded once."""

    def __init__(self, max_tokens: int) -> None:
        """Load the packaged MiniLM, embedding the first `max_tokens` word pieces."""
        from scorers import SentenceEmbedder

        self.embedder = SentenceEmbedder(max_tokens=max_tokens)
        self.cache: dict[str, np.ndarray] = {}
        self.seconds = 0.0

    def of(self, texts: list[str]) -> np.ndarray:
        """(len(texts) x dim) vectors, embedding the texts not seen yet."""
        new = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if new:
            start = time.perf_counter()
            self.cache.update(zip(new, self.embedder.embed(new)))
            self.seconds += time.perf_counter() - start
        return np.stack([self.cache[t] for t in texts])

    def cosines(self, pairs: list[Pair]) -> np.ndarray:
        """Cosine of the two texts of each pair."""
        self.of([t for p in pairs for t in p])
        return np.array([float(self.cache[a] @ self.cache[b]) for a, b in pairs])


def ratio(num: float, den: float) -> float:
    """num / den, 1.0 when den is 0 (no pair flagged: nothing wrong)."""
    return num / den if den else 1.0


def measure(cos: dict[str, np.ndarray], t: float) -> dict[str, float]:
    """Precision (raw, balanced), recalls and false positives per negative kind at threshold t."""
    tp = int((cos["paraphrase"] >= t).sum())
    recall = tp / len(cos["paraphrase"])
    near = np.concatenate([cos[k] for k in NEAR_KINDS])
    fps = {k: int((cos[k] >= t).sum()) for k in NEGATIVE_KINDS if k in cos}
    fp, negatives = sum(fps.values()), sum(len(cos[k]) for k in fps)
    balanced = ratio(recall, recall + fp / negatives)
    return {
        "raw": ratio(tp, tp + fp),
        "balanced": balanced,
        "recall": recall,
        "near": float((near >= t).mean()),
        **fps,
    }


def wilson_upper(hits: int, n: int, z: float = 1.96) -> float:
    """Upper end of the 95% Wilson score interval of a rate of hits / n."""
    p = hits / n
    centre, spread = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + spread) / (1 + z * z / n)


def pct(x: float) -> str:
    """A share as a percentage with one decimal."""
    return f"{100 * x:.1f}%"


def report(
    max_tokens: int, cos: dict[str, np.ndarray], examples: dict[str, list[Pair]], show: int
) -> None:
    """Print the threshold table, cosine spreads, the recommendation and the top negatives."""
    negs = [k for k in NEGATIVE_KINDS if k in cos]
    print(f"\nmax_tokens={max_tokens}:")
    print(f"  {'':>37}| false positives at or above t / negative pairs")
    head = f"  {'t':>5}{'P raw':>8}{'P bal':>8}{'R para':>8}{'R near':>8} |"
    print(head + "".join(f"{k:>15}" for k in negs))
    rows = {t: measure(cos, t) for t in THRESHOLDS}
    for t, m in rows.items():
        cells = "".join(f"{m[k]:>11}/{len(cos[k]):<3}" for k in negs)
        print(
            f"  {t:>5.2f}{pct(m['raw']):>8}{pct(m['balanced']):>8}{pct(m['recall']):>8}"
            f"{pct(m['near']):>8} |{cells}"
        )
    print(f"  cosine per kind: {'pairs':>6}{'min':>7}{'median':>8}{'p95':>7}{'max':>7}")
    for kind, values in cos.items():
        q = np.quantile(values, [0, 0.5, 0.95, 1])
        print(f"    {kind:<16}{len(values):>6}" + "".join(f"{v:>7.3f}" for v in q))
    ok = [min(rows[t]["raw"], rows[t]["balanced"]) >= TARGET_PRECISION for t in THRESHOLDS]
    start = next((i for i in range(len(ok)) if all(ok[i:])), None)
    if start is None:
        print(f"  no threshold reaches precision >= {pct(TARGET_PRECISION)}")
    else:
        t = THRESHOLDS[start]
        m = rows[t]
        fp, n = sum(int(m[k]) for k in negs), sum(len(cos[k]) for k in negs)
        upper = wilson_upper(fp, n)
        print(
            f"  recommended threshold (smallest with precision >= {pct(TARGET_PRECISION)} there "
            f"and above, raw and balanced): {t:.2f}: precision {pct(m['raw'])} raw, "
            f"{pct(m['balanced'])} balanced; recall {pct(m['recall'])} of paraphrases, "
            f"{pct(m['near'])} of near duplicates"
        )
        print(
            f"  at {t:.2f}: {fp} of {n} negatives flagged, false positive rate {pct(fp / n)} "
            f"(95% upper bound {pct(upper)}: balanced precision "
            f">= {pct(ratio(m['recall'], m['recall'] + upper))})"
        )
    ranked = sorted(((float(c), k, i) for k in negs for i, c in enumerate(cos[k])), reverse=True)
    top = ranked[:show]
    print("  highest-cosine negatives:")
    for c, kind, i in top:
        a, b = examples[kind][i]
        print(f"    {c:.3f} {kind}: {snippet(a)!r} ~ {snippet(b)!r}")


def snippet(text: str, width: int = 60) -> str:
    """The first `width` characters of a text, on one line."""
    return " ".join(text.split())[:width]


def main() -> None:
    """Build the pairs, embed them at each max_tokens, print the tables and recommendations."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--max-tokens", default="256,128", help="comma-separated, e.g. 256,128")
    parser.add_argument("--aeb", type=Path, default=AEB_DIR, help="folder of ground-truth.json")
    parser.add_argument("--data", type=Path, default=None, help="shared data folder")
    parser.add_argument("--show", type=int, default=6, help="highest-cosine negatives to print")
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    data = args.data or planted.default_data()
    start = time.perf_counter()
    rng = random.Random(args.seed)
    pairs = positive_pairs(data, args.seed)
    articles = wiki_articles(data)
    dropped: dict[str, int] = {}
    candidates = {
        "wiki-sections": wiki_section_pairs(articles, rng),
        "wiki-topic": wiki_topic_pairs(articles),
        "sotu-topic": sotu_pairs(data, rng),
        "abc-topic": abc_pairs(data),  # copies already left out while ranking
    }
    for kind, found in candidates.items():
        pairs[kind], dropped[kind] = not_copies(found)
    sizes = [int(t) for t in args.max_tokens.split(",")]
    embeddings = {n: Embeddings(n) for n in sizes}
    aeb = aeb_articles(args.aeb)
    if aeb is None:
        print(f"aeb-nearest skipped: no {args.aeb / 'ground-truth.json'} and no mirror to export")
    else:
        picker = embeddings.get(256) or Embeddings(256)
        pairs["aeb-nearest"], dropped["aeb-nearest"] = not_copies(
            nearest_pairs(aeb, picker.of(aeb))
        )
    print(f"pairs built in {time.perf_counter() - start:.0f} s (seed {args.seed}; AEB embedded):")
    topics = wiki_topics(articles)
    print(
        "  positives: "
        + ", ".join(f"{k} {len(pairs[k])}" for k in ("paraphrase", *NEAR_KINDS))
        + "\n  negatives: "
        + ", ".join(f"{k} {len(pairs[k])}" for k in NEGATIVE_KINDS if k in pairs)
        + f" (left out as sharing 5-grams, Jaccard >= {MAX_NEGATIVE_JACCARD}: "
        + ", ".join(f"{k} {n}" for k, n in dropped.items())
        + ")\n  wiki-topic titles (WikiText's <unk> words dropped):"
    )
    for topic, ids in topics.items():
        print(f"    {topic}: " + ", ".join(repr(articles[i][0]) for i in ids))
    for n in sizes:
        cos = {kind: embeddings[n].cosines(found) for kind, found in pairs.items()}
        report(n, cos, pairs, args.show)
        texts = len(embeddings[n].cache)
        print(f"  ({texts} texts embedded in {embeddings[n].seconds:.0f} s)")
    print(
        "\nP raw: paraphrase pairs / all pairs at or above t; P bal: the same with as many "
        "negative as positive pairs; R para / R near: share of paraphrase / near-duplicate "
        "pairs at or above t; false positives: negative pairs at or above t / pairs of the kind."
    )
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
