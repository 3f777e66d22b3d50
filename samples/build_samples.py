"""Regenerate the tamis sample web shards (samples/web/part-0000N.parquet) from the offline shared data.

Deterministic for a given --seed. Needs pyarrow and faker==40.63.0 (pin: `pip install faker==40.63.0`).
Usage: .venv/bin/python samples/build_samples.py [--data DIR] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from faker import Faker

REPO = Path(__file__).resolve().parents[1]
Doc = dict  # {"text": str | None, "url": str, "source": str}
N_SHARDS = 4
CLEAN_TARGETS = {
    "wikitext": 700,
    "state_union": 400,
    "inaugural": 200,
    "shakespeare": 450,
    "gsm8k": 150,
}
NOISE_TARGETS = {
    "boilerplate": 300,
    "link_list": 200,
    "keyword_spam": 150,
    "repeated_lines": 160,
    "short": 150,
    "bullet_list": 120,
    "ellipsis_hash": 100,
    "lorem_ipsum": 30,
    "curly_brace": 30,
}
N_NON_ENGLISH, N_EXACT_DUP, N_NEAR_DUP = 320, 200, 200
LOCALES = ["de_DE", "fr_FR", "es_ES", "it_IT", "ru_RU", "zh_CN", "ja_JP", "pl_PL"]
DJ_FILES = {
    "arxiv": "arxiv",
    "demo-dataset-deduplication": "dedup_demo",
    "redpajama-cc-2023-06-refined": "redpajama_cc",
    "redpajama-pile-stackexchange-refined": "pile_stackexchange",
    "stack_exchange": "stack_exchange",
    "the-pile-uspto-refined": "uspto",
}
MOJIBAKE = {b"\xa1\xa6": b"'", b"\xa1@": b"", b"\xa1X": b" -- ", b"\xbd\xa2": b"1/2"}
LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo "
    "consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur."
)
HEADER_LINES = [
    "Home | About Us | Services | Blog | Shop | Contact",
    "Skip to main content",
    "Sign in | Register | My Account",
    "Menu",
    "Search this site",
    "JavaScript is required to view this page. Please enable JavaScript and reload.",
    "We use cookies to improve your experience. By continuing to browse this site you agree to our use of cookies. Accept | Reject | Manage preferences",
    "This website uses cookies. Learn more",
    "You are here: Home > News > Article",
]
FOOTER_LINES = [
    "Privacy Policy | Terms of Use | Cookie Settings | Sitemap",
    "Share this: Facebook Twitter Email Print",
    "Subscribe to our newsletter for the latest updates.",
    "Related posts",
    "Leave a comment",
    "Posted in Uncategorized | Tagged news, updates",
    "Back to top",
    "Powered by WordPress",
    "Do not sell my personal information",
    "Contact us | Careers | Advertise with us",
]
SHORT_PAGES = [
    "Page not found",
    "404 Not Found",
    "Loading...",
    "Coming soon!",
    "Access denied",
    "Click here to continue",
    "This page has moved.",
    "Under construction",
    "Session expired. Please log in again.",
    "Thank you for your order!",
]
BULLETS = ["• ", "- ", "* ", "· ", "1. "]


def detok_wikitext(line: str) -> str:
    """Undo WikiText tokenisation (@-@ joins, spaces before punctuation, <unk>) on one line."""
    s = line.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".").replace("<unk>", " ")
    s = re.sub(r'" ([^"]*?) "', r'"\1"', s)
    s = re.sub(r"\(\s*[,;]?\s*\)", "", s)
    s = re.sub(r"\s+([,.;:!?%)\]])", r"\1", s)
    s = re.sub(r"([.,;:])(?:\s*[,;:])+", r"\1", s)
    s = re.sub(r"([(\[$]) ", r"\1", s)
    s = re.sub(r" (n't|'s|'re|'ve|'m|'ll|'d)\b", r"\1", s)
    s = re.sub(r"(s) ' ", r"\1' ", s)
    return re.sub(r"\s+", " ", s).strip()


def chunk_paras(paras: list[str], lo: int, hi: int) -> list[str]:
    """Greedily group paragraphs into chunks of lo..hi words (a final short chunk is merged back)."""
    chunks: list[list[str]] = [[]]
    for p in paras:
        if chunks[-1] and words(chunks[-1]) + len(p.split()) > hi and words(chunks[-1]) >= lo:
            chunks.append([])
        chunks[-1].append(p)
    if len(chunks) > 1 and words(chunks[-1]) < lo:
        chunks[-2].extend(chunks.pop())
    return ["\n\n".join(c) for c in chunks if c]


def words(paras: list[str]) -> int:
    """Count whitespace-separated words in a list of paragraphs."""
    return sum(len(p.split()) for p in paras)


def slug(s: str) -> str:
    """Make a URL path slug."""
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:60] or "page"


def wiki_paras(body: str) -> list[str]:
    """Detokenise an article body into paragraphs, attaching each section heading to the paragraph after it."""
    paras, heading = [], ""
    for ln in (ln for ln in body.split("\n") if ln.strip()):
        if ln.startswith(" = ="):
            heading = detok_wikitext(ln.strip(" =")) + "\n"
        else:
            paras.append(heading + detok_wikitext(ln))
            heading = ""
    return paras


def load_wikitext(data: Path) -> list[Doc]:
    """Split WikiText-2 valid+test into articles, then long articles into section groups."""
    docs: list[Doc] = []
    for name in ("valid.txt", "test.txt"):
        for art in re.split(
            r"^ = (?=[^=])", (data / "wikitext-2" / name).read_text("utf-8"), flags=re.MULTILINE
        )[1:]:
            title, _, body = art.partition(" = \n")
            title = detok_wikitext(title)
            paras = wiki_paras(body)
            url = f"https://en.wikipedia.org/wiki/{title.replace(' ', '_')}"
            for i, chunk in enumerate(
                chunk_paras(paras, 150, 600) if words(paras) > 900 else ["\n\n".join(paras)]
            ):
                if len(chunk.split()) >= 60:
                    docs.append(
                        {
                            "text": f"{title}\n\n{chunk}",
                            "url": url + (f"#part{i}" if i else ""),
                            "source": "wikitext",
                        }
                    )
    return docs


def load_speeches(data: Path, name: str) -> list[Doc]:
    """Read an NLTK speech zip (one file per speech) and cut speeches into 200-700 word parts."""
    docs: list[Doc] = []
    with zipfile.ZipFile(data / "nltk-corpora" / f"{name}.zip") as zf:
        for member in sorted(n for n in zf.namelist() if n.endswith(".txt")):
            raw = zf.read(member)
            for bad, good in MOJIBAKE.items():
                raw = raw.replace(bad, good)
            paras = [p.strip() for p in raw.decode("utf-8", "replace").split("\n") if p.strip()]
            stem = Path(member).stem.lower()
            for i, chunk in enumerate(chunk_paras(paras, 200, 700)):
                docs.append(
                    {
                        "text": chunk,
                        "url": f"https://www.presidency-archive.org/{name}/{stem}/{i + 1}",
                        "source": name,
                    }
                )
    return docs


def load_shakespeare(data: Path) -> list[Doc]:
    """Cut tinyshakespeare into scene-sized chunks of 120-400 words."""
    blocks = (data / "tinyshakespeare" / "input.txt").read_text("utf-8").split("\n\n")
    return [
        {
            "text": c,
            "url": f"https://shakespeare-texts.net/folio/{i:04d}.html",
            "source": "shakespeare",
        }
        for i, c in enumerate(chunk_paras([b.strip() for b in blocks if b.strip()], 120, 400))
    ]


def load_dj(data: Path) -> list[Doc]:
    """Load data-juicer demo docs (>= 30 words, exact duplicates dropped)."""
    docs, seen = [], set()
    for stem, label in DJ_FILES.items():
        for n, line in enumerate(
            (data / "data-juicer-demos" / f"{stem}.jsonl").read_text("utf-8").splitlines()
        ):
            rec = json.loads(line)
            text, key = rec["text"].strip(), " ".join(rec["text"].lower().split())
            if len(text.split()) >= 30 and key not in seen:
                seen.add(key)
                url = (
                    rec.get("meta", {}).get("url")
                    or f"https://{label.replace('_', '-')}.example.com/doc/{n}"
                )
                docs.append({"text": text, "url": url, "source": f"dj:{label}"})
    return docs


def load_gsm8k(data: Path) -> list[Doc]:
    """Turn GSM8K train items into question + answer documents."""
    items = json.loads((data / "gpteacher-gsm8k" / "gsm_8k_train.json").read_text("utf-8"))
    return [
        {
            "text": f"Question: {it['instruction'].strip()}\n\nAnswer: {it['output'].strip()}",
            "url": f"https://math-help-forum.net/t/{i}",
            "source": "gsm8k",
        }
        for i, it in enumerate(items)
    ]


def sentences(text: str) -> list[str]:
    """Split text into rough sentences."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


def boilerplate(rng: random.Random, fake: Faker, para: str) -> str:
    """Wrap a real paragraph in header/cookie/nav and footer/copyright lines."""
    head = rng.sample(HEADER_LINES, rng.randint(2, 5))
    foot = rng.sample(FOOTER_LINES, rng.randint(2, 5)) + [
        f"© {rng.randint(2005, 2024)} {fake.company()}. All rights reserved."
    ]
    return "\n".join(head + [fake.catch_phrase().title(), para] + foot)


def link_list(rng: random.Random, fake: Faker, para: str) -> str:
    """A navigation / sitemap page: many short anchor texts, optionally with URLs."""
    title = rng.choice(
        ["Sitemap", "Related links", "Categories", "Useful Resources", "Archives", "Quick Links"]
    )
    lines = []
    for _ in range(rng.randint(12, 60)):
        anchor = rng.choice([fake.catch_phrase, fake.bs, fake.city, fake.month_name])().title()
        lines.append(
            rng.choice(
                [
                    f"{anchor} - {fake.url()}{slug(anchor)}",
                    f"» {anchor} ({rng.randint(1, 400)})",
                    anchor,
                ]
            )
        )
    return "\n".join([title] + lines)


def keyword_spam(rng: random.Random, fake: Faker, para: str) -> str:
    """SEO keyword stuffing: a few keyword phrases repeated many times."""
    kws = [" ".join(fake.words(rng.randint(1, 3))) for _ in range(rng.randint(3, 7))]
    kws += rng.sample(
        [
            "cheap",
            "best price",
            "free shipping",
            "buy now",
            "discount",
            "online",
            "top rated",
            "sale",
        ],
        2,
    )
    seps = rng.choice([", ", " ", " | ", "\n"])
    return (
        rng.choice(kws).title()
        + "\n"
        + seps.join(rng.choice(kws) for _ in range(rng.randint(60, 250)))
    )


def repeated_lines(rng: random.Random, fake: Faker, para: str) -> str:
    """A page where one line or one paragraph is repeated many times."""
    unit = rng.choice([sentences(para)[0], para, rng.choice(FOOTER_LINES), fake.sentence()])
    body = ["\n".join([unit] * rng.randint(5, 30))]
    return "\n\n".join(body + [para] if rng.random() < 0.5 else body)


def short(rng: random.Random, fake: Faker, para: str) -> str:
    """A page of one or two short lines."""
    return rng.choice(
        [
            rng.choice(SHORT_PAGES),
            sentences(para)[0],
            f"{rng.choice(SHORT_PAGES)}\n{fake.sentence()}",
        ]
    )


def bullet_list(rng: random.Random, fake: Faker, para: str) -> str:
    """A page that is mostly bullet points of short fragments."""
    mark = rng.choice(BULLETS)
    items = [" ".join(s.split()[: rng.randint(2, 8)]) for s in sentences(para)] + [
        fake.bs() for _ in range(rng.randint(4, 15))
    ]
    rng.shuffle(items)
    return "\n".join(
        [fake.catch_phrase().title()]
        + [(f"{i + 1}. " if mark == "1. " else mark) + it for i, it in enumerate(items)]
    )


def ellipsis_hash(rng: random.Random, fake: Faker, para: str) -> str:
    """Snippet pages full of '...' truncations and #hashtags."""
    snippets = [" ".join(s.split()[: rng.randint(3, 9)]) + "..." for s in sentences(para)]
    tags = " ".join(f"#{w.lower()}" for w in fake.words(rng.randint(5, 25)))
    return "\n".join(snippets + ["Read more...", tags, "#" * rng.randint(3, 40)])


def lorem_ipsum(rng: random.Random, fake: Faker, para: str) -> str:
    """A placeholder page containing lorem ipsum text."""
    return "\n\n".join(
        [fake.catch_phrase().title(), LOREM] + ([para] if rng.random() < 0.5 else [])
    )


def curly_brace(rng: random.Random, fake: Faker, para: str) -> str:
    """A page with leaked CSS/JS code (curly brackets) around real text."""
    code = rng.choice(
        [
            "body { margin: 0; padding: 0; font-family: Arial, sans-serif; }",
            "function init() { document.getElementById('menu').style.display = 'none'; }",
            '{"status": "ok", "items": []}',
            "window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}",
        ]
    )
    return "\n".join([code, para, code] if rng.random() < 0.5 else [para, code])


NOISE_FNS: dict[str, Callable[[random.Random, Faker, str], str]] = {
    "boilerplate": boilerplate,
    "link_list": link_list,
    "keyword_spam": keyword_spam,
    "repeated_lines": repeated_lines,
    "short": short,
    "bullet_list": bullet_list,
    "ellipsis_hash": ellipsis_hash,
    "lorem_ipsum": lorem_ipsum,
    "curly_brace": curly_brace,
}


def non_english(rng: random.Random, fakes: dict[str, Faker]) -> Doc:
    """A localized page from faker's text generators (title, paragraphs, address footer)."""
    loc = rng.choice(LOCALES)
    f = fakes[loc]
    paras = [f.paragraph(nb_sentences=rng.randint(3, 9)) for _ in range(rng.randint(1, 6))]
    text = "\n\n".join(
        [f.sentence(nb_words=5).rstrip(".。")]
        + paras
        + [f"{f.company()} · {f.address().replace(chr(10), ', ')}"]
    )
    return {
        "text": text,
        "url": f.url() + slug(f.word()) + ".html",
        "source": f"noise:non_english:{loc[:2]}",
    }


def exact_dup(rng: random.Random, doc: Doc) -> str:
    """Copy a doc byte-identically or with only case/whitespace/punctuation changes."""
    t = doc["text"]
    return rng.choice(
        [
            lambda: t,
            lambda: t,
            lambda: t.lower(),
            lambda: t.upper(),
            lambda: "  " + t.replace("\n", "\n\n") + "\n",
            lambda: re.sub(r"[ \t]+", "  ", t),
            lambda: re.sub(r"[.,;:!?]", "", t),
        ]
    )()


def near_dup(rng: random.Random, doc: Doc, pool: list[str]) -> str:
    """Edit a few words, insert or remove a sentence, or append a boilerplate line."""
    t = doc["text"]
    op = rng.choice(["words", "insert", "remove", "append"])
    if op == "words":
        toks = t.split(" ")
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(toks))
            toks[i] = rng.choice(
                ["", rng.choice(rng.choice(pool).split()), toks[i] + " " + toks[i]]
            )
        return re.sub(r" {2,}", " ", " ".join(toks))
    if op == "append":
        return t + "\n" + rng.choice(FOOTER_LINES)
    lines = t.split("\n")
    i = max(range(len(lines)), key=lambda k: len(lines[k]))
    sents = sentences(lines[i])
    if op == "insert" or len(sents) < 3:
        sents.insert(rng.randrange(len(sents) + 1), rng.choice(sentences(rng.choice(pool))))
    else:
        sents.pop(rng.randrange(len(sents)))
    lines[i] = " ".join(sents)
    return "\n".join(lines)


def build(data: Path, seed: int) -> list[Doc]:
    """Assemble the full, shuffled document list."""
    rng = random.Random(seed)
    Faker.seed(seed)
    fake = Faker("en_US")
    fakes = {loc: Faker(loc) for loc in LOCALES}
    for k, f in enumerate([fake, *fakes.values()]):
        f.seed_instance(seed + k)
    pools = {
        "wikitext": load_wikitext(data),
        "state_union": load_speeches(data, "state_union"),
        "inaugural": load_speeches(data, "inaugural"),
        "shakespeare": load_shakespeare(data),
        "gsm8k": load_gsm8k(data),
    }
    clean = load_dj(data)
    for name, n in CLEAN_TARGETS.items():
        clean += rng.sample(pools[name], min(n, len(pools[name])))
    paras = [
        p
        for d in clean
        if d["source"] in ("wikitext", "state_union", "inaugural")
        for p in d["text"].split("\n\n")
        if 25 <= len(p.split()) <= 120
    ]
    noise = [
        {
            "text": NOISE_FNS[k](rng, fake, rng.choice(paras)),
            "url": fake.url() + slug(fake.word()),
            "source": f"noise:{k}",
        }
        for k, n in NOISE_TARGETS.items()
        for _ in range(n)
    ]
    noise += [non_english(rng, fakes) for _ in range(N_NON_ENGLISH)]
    originals = clean + noise
    dups = [
        {
            "text": exact_dup(rng, d),
            "url": d["url"].rstrip("/") + "?ref=mirror",
            "source": "dup:exact",
        }
        for d in rng.sample(originals, N_EXACT_DUP)
    ]
    long_docs = [d for d in originals if len(d["text"].split()) >= 80]
    dups += [
        {
            "text": near_dup(rng, d, paras),
            "url": fake.url() + slug(d["text"][:40]),
            "source": "dup:near",
        }
        for d in rng.sample(long_docs, N_NEAR_DUP)
    ]
    invalid = [{"text": "", "url": fake.url(), "source": "invalid:empty"} for _ in range(3)]
    invalid += [{"text": None, "url": fake.url(), "source": "invalid:null"} for _ in range(2)]
    docs = originals + dups + invalid
    rng.shuffle(docs)
    return [{"id": f"web-{i:06d}", **d} for i, d in enumerate(docs)]


def write_shards(docs: list[Doc], out: Path) -> list[Path]:
    """Write docs into N_SHARDS zstd parquet files with an all-string schema."""
    out.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(c, pa.string()) for c in ("id", "text", "url", "source")])
    paths, per = [], -(-len(docs) // N_SHARDS)
    for s in range(N_SHARDS):
        part = docs[s * per : (s + 1) * per]
        table = pa.Table.from_pylist(part, schema=schema)
        paths.append(out / f"part-{s:05d}.parquet")
        pq.write_table(table, paths[-1], compression="zstd", compression_level=9)
    return paths


def default_data() -> Path:
    """The shared data folder: $TAMIS_SHARED_DATA, else ../shared/data beside the repo."""
    return Path(os.environ.get("TAMIS_SHARED_DATA", REPO.parent / "shared" / "data"))


def main() -> None:
    """Parse arguments, build the shards and print a summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--out", type=Path, default=REPO / "samples" / "web")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    docs = build(args.data, args.seed)
    paths = write_shards(docs, args.out)
    for p in paths:
        print(f"{p.name}: {pq.read_metadata(p).num_rows} docs, {p.stat().st_size:,} bytes")
    for src, n in sorted(Counter(d["source"] for d in docs).items()):
        print(f"  {src:32s} {n:5d}")
    print(f"total: {len(docs)} docs, {sum(p.stat().st_size for p in paths):,} bytes")


if __name__ == "__main__":
    main()
