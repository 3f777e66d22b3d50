"""Planted-duplicate evaluation set for the dedup steps (default out: build/dedup-eval.parquet).

`planted_set(originals, seed)` takes `originals` distinct real documents of 80-600 words
(WikiText-2 article parts, State of the Union / inaugural address parts, ABC news stories) and
plants copies of a deterministic subset of them, of known kinds:

  exact             the same text, or with only case / whitespace changes
  near-edit         3-5% of the words rewritten or deleted, in runs of 3-5 words
  near-insert       one or two real sentences from another document inserted (<= 8% of words)
  near-reorder      two adjacent paragraphs or sentence blocks swapped
  near-boilerplate  web header / footer lines added (cookie banner, share bar, navigation)
  paraphrase        same content, new surface: most words of a built-in synonym table replaced,
                    contractions expanded, sentences reordered within each paragraph

Near kinds are drawn until their word 5-gram Jaccard with the original (tamis's normalisation) is
>= 0.8 (they are duplicates by the definition MinHash at 0.8 estimates); paraphrases stay well
under 0.5. About 60% of originals get no copy (distractors); originals share no more than a few
5-grams and under a third of their content words with one another, and at most three parts of
one article or address are used.

Columns: `id` (unique, shuffled so copies are not next to their originals), `text`, `cluster`
(int64: index of the original the row derives from), `kind` (`original` or one above).
Deterministic for a given seed; builds in about a second. ABC news has no stated licence: the
set is for tests and benchmarks only, never committed.

Usage: .venv/bin/python samples/build_dedup_set.py [--out PATH] [--originals N] [--seed S]
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import statistics
import sys
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import regex

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_samples as bs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NEAR_KINDS = ("exact", "near-edit", "near-insert", "near-reorder", "near-boilerplate")
KINDS = (*NEAR_KINDS, "paraphrase")
MIN_WORDS, MAX_WORDS = 80, 600
COPIED_SHARE = 0.4  # originals that get a copy; every 4th of them gets a second one
SECOND_COPY_EVERY = 4
MIN_NEAR_JACCARD, NEAR_TRIES = 0.8, 8
MAX_PARAPHRASE_JACCARD = 0.5
NGRAM = 5
MAX_PARTS_PER_GROUP = 3
SOURCE_SHARES = {"wikitext": 0.35, "speech": 0.30, "abc": 0.35}
STOPWORDS = set(
    """a an the and or but if of to in on at by for with from as is are was were be been being
    it its this that these those he she they we you i his her their our your him them us my me
    has have had do does did not no so than then there here which who whom what when where why
    how all any some more most other such can could will would shall should may might must also
    into over under about after before up down out only just very one two new said says""".split()
)
_PUNCT = regex.compile(r"[\p{P}\p{S}]+")

# A few hundred common words and a replacement that keeps the meaning in most contexts
# (`_` stands for a space).
SYNONYMS = dict(
    pair.replace("_", " ").split(":")
    for pair in """additional:extra almost:nearly nearly:almost also:additionally although:though
    though:although among:amongst approximately:roughly assist:help attempt:try attempted:tried
    attempts:tries begin:start began:started begins:starts big:large bigger:larger biggest:largest
    large:big larger:bigger largest:biggest tiny:minuscule buy:purchase bought:purchased
    buying:purchasing purchase:buy choose:select chose:selected children:kids child:kid
    considerable:substantial country:nation countries:nations nation:country nations:countries
    create:make created:made creates:makes creating:making decision:choice decisions:choices
    demonstrate:show demonstrated:showed difficult:hard ensure:guarantee especially:particularly
    particularly:especially essential:vital everyone:everybody example:instance examples:instances
    fast:quick quick:fast quickly:rapidly rapidly:quickly finally:eventually eventually:ultimately
    finds:discovers frequently:often often:frequently goal:aim goals:aims happy:glad help:assist
    helped:assisted helping:assisting helps:assists however:nevertheless huge:enormous idea:notion
    ideas:notions important:significant importance:significance improve:enhance improved:enhanced
    improvement:enhancement include:encompass includes:encompasses included:encompassed
    indicate:suggest indicated:suggested indicates:suggests job:position jobs:positions
    later:subsequently main:principal mainly:chiefly major:key many:numerous numerous:many
    maybe:perhaps perhaps:maybe method:approach methods:approaches modern:contemporary
    money:funds need:require needed:required needs:requires require:need required:needed
    requires:needs next:following now:currently currently:presently obtain:get obtained:got
    occur:happen occurred:happened occurs:happens opportunity:chance opportunities:chances
    part:portion parts:portions people:individuals permit:allow allow:permit allowed:permitted
    allows:permits possible:feasible prevent:stop prevented:stopped previous:prior
    previously:formerly primary:main probably:likely problem:issue problems:issues issue:matter
    provide:supply provided:supplied provides:supplies providing:supplying quite:rather
    receive:get received:got receives:gets recent:latest recently:lately reduce:cut reduced:cut
    reduces:cuts remain:stay remained:stayed remains:stays result:outcome results:outcomes
    said:stated says:states say:state several:various various:diverse showed:demonstrated
    shows:demonstrates significant:considerable similar:comparable simple:basic start:begin
    started:began starts:begins strong:powerful powerful:mighty student:pupil students:pupils
    suggest:propose suggested:proposed sufficient:adequate supported:backed sure:certain
    task:job tasks:jobs think:believe thinks:believes believe:think believed:thought
    throughout:across together:jointly try:attempt tried:attempted tries:attempts
    understand:comprehend using:utilising usually:typically typically:usually very:extremely
    want:wish wanted:wished wants:wishes war:conflict wars:conflicts whole:entire entire:whole
    world:globe therefore:thus thus:therefore while:whilst answer:reply answered:replied
    area:region areas:regions region:area regions:areas aid:assistance alter:change
    amount:quantity announced:declared appear:seem appeared:seemed appears:seems seem:appear
    seemed:appeared seems:appears attack:assault attacked:assaulted attacks:assaults
    battle:fight battles:fights fight:battle build:construct built:constructed
    buildings:structures called:named capture:seize captured:seized career:profession
    center:centre clearly:plainly commonly:usually company:firm companies:firms
    completed:finished concern:worry concerns:worries concerned:worried construction:building
    contain:hold contains:holds contained:held correct:right costs:expenses damage:harm
    damaged:harmed danger:peril dangerous:hazardous death:demise defeated:beat describe:depict
    described:depicted describes:depicts designed:devised destroyed:wrecked died:perished
    difference:distinction different:distinct discover:find discovered:uncovered
    discuss:debate discussed:debated during:throughout effect:impact effects:impacts
    effort:endeavour efforts:endeavours employ:hire employed:hired encourage:urge
    encouraged:urged enemy:foe enemies:foes entirely:completely completely:entirely
    event:occurrence events:occurrences evidence:proof exactly:precisely expect:anticipate
    expected:anticipated expensive:costly explain:clarify explained:clarified famous:renowned
    farmers:growers fighting:combat film:movie films:movies forces:troops formed:established
    former:previous gained:acquired government:administration governments:administrations
    grow:expand growth:expansion hoped:wished immediately:instantly inside:within
    instead:rather journey:trip knowledge:understanding largely:mostly mostly:largely
    located:situated maintain:preserve maintained:preserved moved:relocated necessary:needed
    normal:ordinary notable:noteworthy noted:remarked obvious:evident officials:authorities
    originally:initially initially:originally particular:specific specific:particular
    performed:executed person:individual persons:individuals price:cost prices:costs
    primarily:mainly process:procedure production:output program:programme
    programs:programmes project:undertaking projects:undertakings protect:safeguard
    protected:safeguarded purpose:aim purposes:aims ready:prepared real:actual really:truly
    rely:depend relied:depended remove:eliminate removed:eliminated respond:reply
    responded:replied response:reply reveal:disclose revealed:disclosed rich:wealthy road:route
    roads:routes ruled:governed safe:secure scientists:researchers scientist:researcher
    researchers:scientists seek:pursue sent:dispatched serious:severe ship:vessel ships:vessels
    short:brief shortly:soon sick:ill simply:merely site:location slow:sluggish
    slowly:gradually soldiers:troops sometimes:occasionally soon:shortly speak:talk spoke:talked
    speech:address stop:halt stopped:halted strange:odd success:achievement suddenly:abruptly
    suffered:endured team:squad teams:squads terrible:awful threat:menace threats:menaces
    trade:commerce trip:journey trouble:difficulty type:kind types:kinds unique:distinctive
    until:till upon:on vast:immense victory:win voters:electors wealth:riches weapons:arms
    wide:broad widely:broadly worker:employee workers:employees wrong:incorrect wrote:penned
    annual:yearly young:youthful but:yet because:since again:anew beside:alongside
    freedom:liberty liberty:freedom duty:obligation duties:obligations security:safety
    prosperity:affluence economic:financial taxes:levies federal:national citizens:residents
    shall:will should:ought faith:belief courage:bravery justice:fairness honor:honour
    labor:labour defense:defence industry:sector industries:sectors data:information
    album:record song:track songs:tracks band:group released:issued critics:reviewers
    positive:favourable reviews:critiques percent:pc rain:rainfall farm:ranch farms:ranches
    near:close_to continue:carry_on continued:carried_on continues:carries_on
    establish:set_up established:founded perform:carry_out unable:not_able great:tremendous
    every:each each:every life:existence research:investigation good:fine two:2 three:3 four:4
    five:5 six:6 seven:7 eight:8 nine:9 ten:10 known:recognised small:little increase:boost
    increases:boosts seen:witnessed within:inside tax:levy toward:towards towards:toward
    responsibility:duty troops:soldiers find:discover income:earnings animals:creatures
    achieve:attain progress:advancement international:global cannot:can_not ability:capacity
    cost:price growers:farmers always:invariably path:route assistance:aid information:data
    disease:illness risk:hazard numbers:figures current:present metres:meters metre:meter
    kilometres:kilometers ft:feet colour:color organisation:organization
    organisations:organizations""".split()
)
PHRASES = {  # lowercase phrase -> replacement, applied before single words
    "such as": "like",
    "a number of": "several",
    "as well as": "and also",
    "in order to": "to",
    "due to": "owing to",
    "more than": "over",
    "at least": "no fewer than",
    "according to": "as stated by",
    "for example": "for instance",
    "in addition": "additionally",
    "as a result": "consequently",
    "at the same time": "simultaneously",
    "per cent": "percent",
}
_PHRASE = re.compile(r"\b(" + "|".join(map(re.escape, PHRASES)) + r")\b")
OPENERS = (
    "In On At During After Before Although When While Because If By For With Despite Following "
    "Under Throughout Until Unlike Once Though Without Within From Since"
).split()
_OPENING = re.compile(rf"^({'|'.join(OPENERS)}) ([^,\"'()]{{2,80}}), ([a-zA-Z][^\"]+?)([.!?])$")
_QUOTE = re.compile(
    r'^"([^"]+?),"\s+(he|she|they|[A-Z][a-z]+(?: [A-Z][a-z]+)?) (said|says|added)\.$'
)
CONTRACTIONS = {
    "won't": "will not",
    "can't": "cannot",
    "shan't": "shall not",
    "let's": "let us",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "here's": "here is",
    "what's": "what is",
    "he's": "he is",
    "she's": "she is",
    "who's": "who is",
}
CLITICS = {
    "n't": " not",
    "'re": " are",
    "'ve": " have",
    "'ll": " will",
    "'m": " am",
    "'d": " would",
}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def default_data() -> Path:
    """The shared data folder: $TAMIS_SHARED_DATA, else ../shared/data beside the repo."""
    return bs.default_data()


def shingles(text: str, ngram: int = NGRAM) -> set[str]:
    """Word n-grams of text normalised as tamis does (lowercase, no punctuation or symbols); a
    text with fewer words has one shingle, all its words."""
    words = _PUNCT.sub("", text.lower()).split()
    if len(words) < ngram:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)}


def jaccard(a: str, b: str, ngram: int = NGRAM) -> float:
    """Jaccard similarity of the word n-gram shingle sets of two texts."""
    x, y = shingles(a, ngram), shingles(b, ngram)
    return len(x & y) / len(x | y) if x | y else 1.0


def sentences(text: str) -> list[str]:
    """Split a paragraph into sentences at . ! ? followed by a capital or digit."""
    return [s for s in SENTENCE_END.split(text.strip()) if s]


def line_count(text: str) -> int:
    """Non-blank lines (paragraphs, headings, or one sentence each in ABC stories)."""
    return sum(1 for ln in text.split("\n") if ln.strip())


def n_words(text: str) -> int:
    """Whitespace-separated words."""
    return len(text.split())


# --- sources --------------------------------------------------------------------------------


def load_wikitext(data: Path) -> list[tuple[str, str, str]]:
    """(source, group, text): WikiText-2 valid+test articles cut into 120-450 word parts."""
    docs = []
    for name in ("valid.txt", "test.txt"):
        raw = (data / "wikitext-2" / name).read_text("utf-8")
        for art in re.split(r"^ = (?=[^=])", raw, flags=re.MULTILINE)[1:]:
            title, _, body = art.partition(" = \n")
            title = bs.detok_wikitext(title)
            paras = bs.wiki_paras(body)
            parts = (
                bs.chunk_paras(paras, 120, 450) if bs.words(paras) > 600 else ["\n\n".join(paras)]
            )
            docs += [("wikitext", f"wiki:{title}", f"{title}\n\n{p}") for p in parts]
    return docs


def load_speeches(data: Path) -> list[tuple[str, str, str]]:
    """(source, group, text): State of the Union and inaugural addresses in 150-450 word parts."""
    docs = []
    for name in ("state_union", "inaugural"):
        with zipfile.ZipFile(data / "nltk-corpora" / f"{name}.zip") as zf:
            for member in sorted(n for n in zf.namelist() if n.endswith(".txt")):
                raw = zf.read(member)
                for bad, good in bs.MOJIBAKE.items():
                    raw = raw.replace(bad, good)
                text = raw.decode("utf-8", "replace").replace("\r", "")
                paras = [" ".join(p.split()) for p in text.split("\n") if p.strip()]
                docs += [("speech", member, c) for c in bs.chunk_paras(paras, 150, 450)]
    return docs


def load_abc(data: Path) -> list[tuple[str, str, str]]:
    """(source, group, text): ABC rural and science news stories (blank-line blocks: a
    headline, then one sentence or quote per line)."""
    docs = []
    with zipfile.ZipFile(data / "nltk-corpora" / "abc.zip") as zf:
        for member in ("abc/rural.txt", "abc/science.txt"):
            text = zf.read(member).decode("utf-8", "replace").replace("\r", "")
            for i, block in enumerate(re.split(r"\n\s*\n", text)):
                lines = [" ".join(ln.split()) for ln in block.split("\n") if ln.strip()]
                if len(lines) >= 4:
                    docs.append(("abc", f"{member}:{i}", lines[0] + "\n\n" + "\n".join(lines[1:])))
    return docs


def load_sample_shards(samples: Path) -> list[tuple[str, str, str]]:
    """(source, group, text): the public-domain and CC-BY-SA documents of the repository's sample
    shards (built from the same shared data): the fallback where ../shared/data is absent."""
    table = pq.read_table(samples, columns=["text", "url", "source"])
    keep = {"wikitext": "wikitext", "state_union": "speech", "inaugural": "speech"}
    return [
        (keep[source], url or text[:40], text)
        for text, url, source in zip(*(table[c].to_pylist() for c in ("text", "url", "source")))
        if source in keep and text
    ]


def content_words(text: str) -> set[str]:
    """Lowercased words that are not stopwords or numbers."""
    return {w for w in _PUNCT.sub("", text.lower()).split() if w not in STOPWORDS and w.isalpha()}


def pick_originals(
    pool: list[tuple[str, str, str]], n: int, rng: random.Random
) -> tuple[list[str], list[str]]:
    """`n` texts of MIN..MAX words in the SOURCE_SHARES mix that are not near duplicates of one
    another (<= 2 shared 5-grams, content-word Jaccard < 0.33, <= 3 per article or address);
    and the texts left over (donors of inserted sentences)."""
    by_source: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for source, group, text in pool:
        if MIN_WORDS <= n_words(text) <= MAX_WORDS:
            by_source[source].append((group, text))
    for docs in by_source.values():
        rng.shuffle(docs)
    # Interleave the sources in proportion to their shares, then fall back to whatever is left.
    order: list[tuple[str, str]] = []
    queues = {s: iter(by_source[s]) for s in SOURCE_SHARES}
    credit = dict.fromkeys(SOURCE_SHARES, 0.0)
    while queues:
        for s in list(queues):
            credit[s] += SOURCE_SHARES[s]
        s = max(queues, key=lambda k: credit[k])
        credit[s] -= 1
        nxt = next(queues[s], None)
        if nxt is None:
            del queues[s]
        else:
            order.append(nxt)
    chosen: list[str] = []
    chosen_words: list[set[str]] = []
    index: dict[str, list[int]] = defaultdict(list)  # shingle -> chosen docs with it
    per_group: Counter[str] = Counter()
    leftover: list[str] = []
    for group, text in order:
        if len(chosen) == n:
            leftover.append(text)
            continue
        grams = shingles(text)
        shared = Counter(j for g in grams for j in index.get(g, ()))
        words = content_words(text)
        if (
            per_group[group] >= MAX_PARTS_PER_GROUP
            or any(c > 2 for c in shared.values())
            or any(len(words & w) > len(words | w) / 3 for w in chosen_words)
        ):
            leftover.append(text)
            continue
        for g in grams:
            index[g].append(len(chosen))
        per_group[group] += 1
        chosen.append(text)
        chosen_words.append(words)
    if len(chosen) < n:
        raise ValueError(f"only {len(chosen)} distinct originals in the shared data, asked {n}")
    return chosen, leftover


# --- copies ---------------------------------------------------------------------------------


def copy_exact(rng: random.Random, text: str, _donors: list[str]) -> str:
    """The same text, or with only case or whitespace changes."""
    variants = [
        text,
        text.lower(),
        "  " + text.replace("\n", "\n\n") + "\n",
        re.sub(r" ", "  ", text),
        text.replace("\n\n", "\n"),
    ]
    return rng.choice(variants)


def copy_edit(rng: random.Random, text: str, donors: list[str]) -> str:
    """Rewrite or delete 3-5% of the words, in runs of 3-5 adjacent words (phrase edits)."""
    lines = [ln.split(" ") for ln in text.split("\n")]
    slots = [(i, j) for i, ln in enumerate(lines) for j in range(len(ln)) if ln[j]]
    budget = max(1, round(rng.uniform(0.03, 0.05) * len(slots)))
    vocab = rng.choice(donors).split()
    taken: set[int] = set()
    while budget > 0:
        run = min(rng.randint(3, 5), budget)
        start = rng.randrange(max(1, len(slots) - run))
        span = range(start, min(start + run, len(slots)))
        if any(k in taken or k - 1 in taken or k + 1 in taken for k in span):
            continue
        delete = rng.random() < 0.3
        for k in span:
            i, j = slots[k]
            lines[i][j] = "" if delete else rng.choice(vocab)
            taken.add(k)
        budget -= len(span)
    return "\n".join(re.sub(r" {2,}", " ", " ".join(ln)).strip() for ln in lines)


def copy_insert(rng: random.Random, text: str, donors: list[str]) -> str:
    """Insert one or two real sentences from other documents, at most 8% of the words, into
    paragraphs after the first line."""
    budget = max(6, int(0.08 * n_words(text)))
    paras = text.split("\n")
    body = [i for i, p in enumerate(paras) if i and p.strip()]
    for _ in range(rng.choice((1, 2))):
        fits = []
        for donor in rng.sample(donors, 20):
            fits += [s for s in sentences(donor.replace("\n", " ")) if 5 <= n_words(s) <= budget]
        if not fits or not body:
            break
        new = rng.choice(fits)
        budget -= n_words(new)
        i = rng.choice(body)
        sents = sentences(paras[i]) or [paras[i]]
        sents.insert(rng.randrange(len(sents) + 1), new)
        paras[i] = " ".join(sents)
        if budget < 5:
            break
    return "\n".join(paras)


def copy_reorder(rng: random.Random, text: str, _donors: list[str]) -> str:
    """Swap two adjacent paragraphs after the first (lines in ABC stories), or the two halves
    of a paragraph's sentences when there are too few."""
    sep = "\n\n" if len(text.split("\n\n")) > 2 else "\n"
    blocks = text.split(sep)
    pairs = [i for i in range(1, len(blocks) - 1) if blocks[i].strip() and blocks[i + 1].strip()]
    if pairs:
        i = rng.choice(pairs)
        blocks[i], blocks[i + 1] = blocks[i + 1], blocks[i]
        return sep.join(blocks)
    i = max(range(len(blocks)), key=lambda k: len(blocks[k]))
    sents = sentences(blocks[i])
    cut = len(sents) // 2
    blocks[i] = " ".join(sents[cut:] + sents[:cut])
    return sep.join(blocks)


def copy_boilerplate(rng: random.Random, text: str, _donors: list[str]) -> str:
    """Add web header and/or footer lines (cookie banner, share bar, navigation), at most ~10%
    of the words."""
    budget = max(4, int(0.1 * n_words(text)))
    head = [ln for ln in bs.HEADER_LINES if n_words(ln) <= budget]
    header = rng.choice(head) if head and rng.random() < 0.6 else ""
    budget -= n_words(header)
    feet = [ln for ln in bs.FOOTER_LINES if n_words(ln) <= budget]
    footer = rng.choice(feet) if feet and (not header or rng.random() < 0.5) else ""
    return "\n".join(p for p in (header, text, footer) if p)


def _respell(word: str, initial: bool) -> str:
    """A word with its synonym (most of the time), keeping punctuation around it and a capital
    (capitalised words only at the start of a sentence: "Great Britain" stays)."""
    core = word.rstrip(".,;:!?\"')")
    tail = word[len(core) :]
    lead = core[: len(core) - len(core.lstrip("\"'(["))]
    core = core[len(lead) :]
    low = core.lower()
    clitic = next((c for c in CLITICS if low.endswith(c) and len(low) > len(c)), "")
    if low in CONTRACTIONS:
        new = CONTRACTIONS[low]
    elif clitic:
        new = low[: -len(clitic)] + CLITICS[clitic]
    elif low in SYNONYMS and (core == low or initial and core == low.capitalize()):
        new = SYNONYMS[low]
    else:
        return word
    if core[:1].isupper():
        new = new[:1].upper() + new[1:]
    return lead + new + tail


def restructure(sentence: str) -> str:
    """Move an opening adverbial clause to the end ("In 1990, the band split." -> "The band
    split in 1990.") and a trailing quote attribution to the front ('"X," he said.' -> 'He
    said: "X."'); anything else is returned as it is."""
    m = _OPENING.match(sentence)
    if m and not m.group(3)[:2].isupper():
        opener, phrase, rest, end = m.groups()
        return f"{rest[:1].upper()}{rest[1:]} {opener.lower()} {phrase}{end}"
    m = _QUOTE.match(sentence)
    if m:
        quote, who, verb = m.groups()
        return f'{who[:1].upper()}{who[1:]} {verb}: "{quote}."'
    return sentence


def rotate(rng: random.Random, units: list[str]) -> list[str]:
    """The units in a new order (a random rotation) when there are two or more."""
    if len(units) < 2:
        return units
    k = rng.randrange(1, len(units))
    return units[k:] + units[:k]


def copy_paraphrase(rng: random.Random, text: str, _donors: list[str]) -> str:
    """Same content, new surface: opening clauses moved, quotes re-attributed, sentences (or the
    one-sentence lines of an ABC story) reordered, phrases and table words replaced by synonyms,
    contractions expanded."""
    out = []
    for block in text.split("\n\n"):
        lines = [restructure(ln) for ln in block.split("\n")]
        if len(lines) >= 3:  # an ABC story body: one sentence or quote per line
            lines = rotate(rng, lines)
        else:  # a paragraph (and its heading): its sentences, unless moving could split a quote
            lines = [
                ln if '"' in ln else " ".join(rotate(rng, [restructure(s) for s in sentences(ln)]))
                for ln in lines
            ]
        out.append("\n".join(paraphrase_words(ln) for ln in lines))
    return "\n\n".join(out)


def paraphrase_words(text: str) -> str:
    """Phrases and table words replaced by synonyms, contractions expanded, a/an fixed where the
    next word changed."""
    raw = _PHRASE.sub(lambda m: PHRASES[m.group(1)], text).split(" ")
    words = [_respell(w, i == 0 or raw[i - 1][-1:] in '.!?:"') for i, w in enumerate(raw)]
    for i in range(len(words) - 1):
        changed = words[i + 1] != raw[i + 1]
        if changed and words[i].lower() in ("a", "an") and words[i + 1][:1].isalpha():
            article = "an" if words[i + 1][0].lower() in "aeiou" else "a"
            words[i] = article.capitalize() if words[i][0].isupper() else article
    return " ".join(words)


COPIERS = {
    "exact": copy_exact,
    "near-edit": copy_edit,
    "near-insert": copy_insert,
    "near-reorder": copy_reorder,
    "near-boilerplate": copy_boilerplate,
    "paraphrase": copy_paraphrase,
}


def eligible(kind: str, text: str) -> bool:
    """Inserted sentences and swapped blocks need a long enough text to stay above 0.8."""
    if kind in ("near-insert", "near-reorder"):
        return n_words(text) >= 150 and line_count(text) >= 4
    return True


def plant(rng: random.Random, kind: str, text: str, donors: list[str]) -> str | None:
    """A copy of `kind`: near kinds drawn until their 5-gram Jaccard with `text` is at least
    MIN_NEAR_JACCARD, a paraphrase only if under MAX_PARAPHRASE_JACCARD; None if not found."""
    if not eligible(kind, text):
        return None
    for _ in range(NEAR_TRIES if kind != "paraphrase" else 1):
        copy = COPIERS[kind](rng, text, donors)
        j = jaccard(text, copy)
        if (j < MAX_PARAPHRASE_JACCARD) if kind == "paraphrase" else (j >= MIN_NEAR_JACCARD):
            return copy
    return None


def planted_set(originals: int = 300, seed: int = 0, data_dir: Path | None = None) -> pa.Table:
    """The planted-duplicate evaluation table (`id`, `text`, `cluster`, `kind`); see the module
    docstring."""
    data = Path(data_dir) if data_dir is not None else default_data()
    rng = random.Random(seed)
    if (data / "wikitext-2").is_dir():
        pool = load_wikitext(data) + load_speeches(data) + load_abc(data)
    else:
        pool = load_sample_shards(REPO / "samples" / "web")
    texts, donors = pick_originals(pool, originals, rng)
    rows = [(c, "original", t) for c, t in enumerate(texts)]
    remaining = rng.sample(range(originals), round(originals * COPIED_SHARE))
    for n in range(len(remaining)):
        # Kinds in turn, each on the first remaining original it can be planted in.
        kind, copy = KINDS[n % len(KINDS)], None
        for cluster in remaining:
            copy = plant(rng, kind, texts[cluster], donors)
            if copy is not None:
                break
        if copy is None:
            cluster, kind, copy = remaining[0], "exact", copy_exact(rng, texts[remaining[0]], [])
        remaining.remove(cluster)
        rows.append((cluster, kind, copy))
        if n % SECOND_COPY_EVERY == 0:
            for other in rng.sample([k for k in KINDS if k != kind], len(KINDS) - 1):
                copy = plant(rng, other, texts[cluster], donors)
                if copy is not None:
                    rows.append((cluster, other, copy))
                    break
    rng.shuffle(rows)
    return pa.table(
        {
            "id": pa.array([f"doc-{i:05d}" for i in range(len(rows))], pa.string()),
            "text": pa.array([t for _, _, t in rows], pa.string()),
            "cluster": pa.array([c for c, _, _ in rows], pa.int64()),
            "kind": pa.array([k for _, k, _ in rows], pa.string()),
        }
    )


# --- evaluation helpers ---------------------------------------------------------------------


def true_pairs(table: pa.Table, kinds: Iterable[str]) -> set[frozenset[str]]:
    """Unordered id pairs within one cluster, among its original and its copies of `kinds`."""
    wanted = {"original", *kinds}
    members: dict[int, list[str]] = defaultdict(list)
    for i, c, k in zip(
        table["id"].to_pylist(), table["cluster"].to_pylist(), table["kind"].to_pylist()
    ):
        if k in wanted:
            members[c].append(i)
    return {frozenset(p) for ids in members.values() for p in itertools.combinations(ids, 2)}


def found_pairs(rejected: pa.Table) -> set[frozenset[str]]:
    """Pairs a dedup step's rejected rows imply: each row with the id it duplicates, and the
    rows rejected as duplicates of the same id with one another."""
    groups: dict[str, set[str]] = defaultdict(set)
    for i, kept in zip(rejected["id"].to_pylist(), rejected["duplicate_of"].to_pylist()):
        if kept is not None:
            groups[kept].update((kept, i))
    return {frozenset(p) for ids in groups.values() for p in itertools.combinations(sorted(ids), 2)}


def precision_recall(found: set[frozenset[str]], truth: set[frozenset[str]]) -> tuple[float, float]:
    """(precision, recall) of `found` pairs against `truth` (1.0 where a set is empty)."""
    hit = len(found & truth)
    return (hit / len(found) if found else 1.0, hit / len(truth) if truth else 1.0)


def kind_jaccards(table: pa.Table) -> dict[str, list[float]]:
    """5-gram Jaccard of every copy with its original, by kind."""
    originals = {
        c: t
        for c, t, k in zip(
            table["cluster"].to_pylist(), table["text"].to_pylist(), table["kind"].to_pylist()
        )
        if k == "original"
    }
    out: dict[str, list[float]] = defaultdict(list)
    for c, t, k in zip(
        table["cluster"].to_pylist(), table["text"].to_pylist(), table["kind"].to_pylist()
    ):
        if k != "original":
            out[k].append(jaccard(originals[c], t))
    return out


def main() -> None:
    """Build the set, write it, and print counts and 5-gram Jaccard per kind."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "build" / "dedup-eval.parquet")
    ap.add_argument("--originals", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=None, help="shared data folder")
    args = ap.parse_args()
    table = planted_set(args.originals, args.seed, args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, args.out, compression="zstd")
    counts = Counter(table["kind"].to_pylist())
    sims = kind_jaccards(table)
    sizes = Counter(Counter(table["cluster"].to_pylist()).values())
    print(f"{args.out}: {table.num_rows} rows, {args.originals} originals (seed {args.seed})")
    print("  cluster sizes: " + ", ".join(f"{n} rows x{c}" for n, c in sorted(sizes.items())))
    print(f"  {'kind':<18}{'rows':>6}{'5-gram Jaccard min':>21}{'median':>9}{'max':>8}")
    for kind in ("original", *KINDS):
        js = sims.get(kind)
        stat = f"{min(js):>21.3f}{statistics.median(js):>9.3f}{max(js):>8.3f}" if js else ""
        print(f"  {kind:<18}{counts.get(kind, 0):>6}{stat}")


if __name__ == "__main__":
    main()
