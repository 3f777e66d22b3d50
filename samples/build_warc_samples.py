"""Build samples/warc/: two small gzipped WARC files of web pages written for the purpose.

Each page wraps a document of samples/web (clean prose: public-domain speeches, CC BY-SA
Wikipedia text, MIT GSM8K; or one of its junk pages) in the chrome of a real site: a
navigation bar, a cookie banner, a sidebar of links, related stories and a footer, so that
extraction has something to remove. Besides HTML responses the files hold what a crawl holds:
request and metadata records, a PDF and an image response, a page in Latin-1, the same article
at two URLs, and a truncated record. Every response carries `X-Tamis-Source`, the row's
`source`, for checking decisions. Deterministic for a given --seed.
"""

from __future__ import annotations

import argparse
import gzip
import html
import random
import uuid
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
CLEAN = ("wikitext", "state_union", "inaugural", "gsm8k")
NOISE = ("noise:boilerplate", "noise:keyword_spam", "noise:link_list", "noise:repeated_lines")
SITES = ["dailyledger.example.org", "civicnotes.example.com", "openarchive.example.net"]


def page(rng: random.Random, title: str, body: str, site: str) -> str:
    """An HTML page: site chrome around one article."""
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n") if p.strip())
    links = "".join(
        f'<li><a href="/{w.lower()}">{w}</a></li>'
        for w in rng.sample(
            ["World", "Politics", "Business", "Science", "Sport", "Culture", "Opinion", "Travel"], 6
        )
    )
    related = "".join(
        f'<li><a href="/story/{rng.randrange(10**6)}">{t}</a></li>'
        for t in rng.sample(
            [
                "Ten things you missed this week",
                "Markets close higher after a quiet session",
                "Photos: the city in winter",
                "Opinion: what the budget means for you",
                "Subscribe to our morning newsletter",
                "Watch: highlights from last night",
            ],
            4,
        )
    )
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)} | "
        f"{site}</title><script>window.dataLayer=[];function track(){{}}</script>"
        "<style>.nav{display:flex}</style></head><body>"
        f'<div class="cookie-banner">We use cookies to improve your experience. '
        f'<a href="/privacy">Privacy policy</a> <button>Accept all</button></div>'
        f'<header><a class="logo" href="/">{site}</a><nav class="nav"><ul>{links}</ul></nav>'
        '<form action="/search"><input name=q placeholder="Search"></form></header>'
        f"<main><article><h1>{html.escape(title)}</h1><p class=byline>By Staff Writer, "
        f"{rng.randint(1, 28)} March 2024</p>{paragraphs}</article>"
        f"<aside><h2>Related stories</h2><ul>{related}</ul></aside></main>"
        f"<footer><p>&copy; 2024 {site}. All rights reserved.</p><a href=/terms>Terms of use"
        "</a> &middot; <a href=/contact>Contact us</a></footer></body></html>"
    )


def record(rng: random.Random, kind: str, uri: str, payload: bytes, content_type: str) -> bytes:
    """One WARC/1.0 record, gzipped on its own (as Common Crawl writes them)."""
    head = (
        f"WARC/1.0\r\nWARC-Type: {kind}\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}>\r\n"
        f"WARC-Date: 2024-03-{rng.randint(1, 28):02d}T12:00:00Z\r\nWARC-Target-URI: {uri}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return gzip.compress(head.encode() + payload + b"\r\n\r\n", mtime=0)


def response(
    rng: random.Random, uri: str, body: bytes, mime: str, source: str, charset: str = "utf-8"
) -> bytes:
    """An HTTP response record."""
    http = (
        f"HTTP/1.1 200 OK\r\nContent-Type: {mime}; charset={charset}\r\n"
        f"X-Tamis-Source: {source}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return record(rng, "response", uri, http + body, "application/http; msgtype=response")


def build(docs: list[dict], rng: random.Random) -> list[bytes]:
    """Every record of the sample, in crawl order."""
    fields = "application/warc-fields"
    records = [record(rng, "warcinfo", "", b"software: tamis samples\r\n", fields)]
    for i, doc in enumerate(docs):
        site = rng.choice(SITES)
        uri = f"https://{site}/story/{i:04d}"
        title = doc["text"].split("\n")[0][:80].strip(" =") or "Untitled"
        body = page(rng, title, doc["text"], site)
        request = f"GET /story/{i:04d} HTTP/1.1\r\n\r\n".encode()
        records.append(record(rng, "request", uri, request, "application/http; msgtype=request"))
        if i % 17 == 3:  # the same article sold under a second address
            again = uri + "?utm_source=feed"
            records.append(response(rng, again, body.encode(), "text/html", doc["source"]))
        if i % 23 == 5:  # an older site still in Latin-1
            encoded = body.replace("utf-8", "iso-8859-1").encode("latin-1", "replace")
            records.append(response(rng, uri, encoded, "text/html", doc["source"], "iso-8859-1"))
        else:
            records.append(response(rng, uri, body.encode(), "text/html", doc["source"]))
        records.append(record(rng, "metadata", uri, b"fetchTimeMs: 120\r\n", fields))
    pdf, png = b"%PDF-1.4\n%binary", b"\x89PNG\r\n\x1a\n"
    records.append(response(rng, f"https://{SITES[0]}/report.pdf", pdf, "application/pdf", "pdf"))
    records.append(response(rng, f"https://{SITES[1]}/logo.png", png, "image/png", "image"))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "samples" / "warc"))
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    table = pq.read_table(REPO / "samples" / "web")
    table = table.filter(pc.is_valid(table["text"]))
    pick = {s: [r for r in table.to_pylist() if r["source"] == s] for s in CLEAN + NOISE}
    docs = [d for s in CLEAN for d in rng.sample(pick[s], min(22, len(pick[s])))]
    docs += [d for s in NOISE for d in rng.sample(pick[s], 8)]
    rng.shuffle(docs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = build(docs, rng)
    half = len(records) // 2
    (out / "crawl-00000.warc.gz").write_bytes(b"".join(records[:half]))
    # The second file ends with a record cut short, as a crawl interrupted mid-write leaves it.
    png = b"\x89PNG\r\n\x1a\n"  # a fresh record (its own id), cut inside its headers
    cut = gzip.decompress(response(rng, f"https://{SITES[1]}/icon.png", png, "image/png", "image"))
    tail = gzip.compress(cut[: len(cut) // 2], mtime=0)
    (out / "crawl-00001.warc.gz").write_bytes(b"".join(records[half:]) + tail)
    print(f"{len(records) + 1} WARC records ({len(docs)} pages) in {out}")


if __name__ == "__main__":
    main()
