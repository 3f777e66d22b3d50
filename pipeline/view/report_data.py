"""The numbers `tamis report` shows, gathered from a finished run's manifest and Parquet files.

Files are read batch by batch, only the columns needed: numeric columns whole (a few million
floats fit), text columns only to measure bytes and, in a second pass, for the few rows chosen
as examples (a bounded heap per step keeps the rows nearest each threshold).
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import (
    INVALID_RECORD,
    REJECT_ONLY,
    REJECT_REASON,
    REJECT_VALUE,
    REJECTED_BY,
)
from pipeline.core.errors import ManifestError
from pipeline.io.records import turn_text
from pipeline.io.storage import Location, parquet_file, parquet_schema

EXAMPLES = 3  # examples per step and side
SNIPPET = 600  # characters of an example's text
BINS = 40
HISTOGRAM_ROWS = 200_000  # values a histogram is drawn from: a uniform sample beyond this
# `step:stat<thr`, `step.keep_top:col<thr`, `ifd:ifd>=0.7`: a rule with a numeric threshold.
_RULE = re.compile(r"^(?P<step>[^:]+):(?P<stat>[A-Za-z_][\w.]*)(?P<op><=|>=|<|>)(?P<value>.+)$")
_RECORD_FIELDS = ("instruction", "input", "output", "prompt", "response")


@dataclass(frozen=True)
class Threshold:
    """One rule's cut: rows of `step` whose `stat` is `op` `value` were rejected."""

    step: str
    stat: str
    op: str
    value: float
    column: str | None  # the column holding the statistic per row, when the output has one


@dataclass
class StepFunnel:
    """Rows, bytes and (when the manifest has them) tokens in, kept and rejected by one step."""

    step: str
    rows_in: int
    rejected: int
    kept: int
    bytes_in: int
    bytes_rejected: int
    tokens_in: int | None
    tokens_rejected: int | None
    seconds: float


@dataclass
class Histogram:
    """Counts of one score or statistic column in bins, for rows kept and rejected."""

    column: str
    edges: list[float]
    series: list[tuple[str, list[int]]]  # (label, counts): kept, rejected here, rejected elsewhere
    log: bool  # binned on log10 of the values
    thresholds: list[Threshold]
    rows: int  # values drawn (finite ones of the sample)
    total: int = 0  # rows the column was read from (more than `rows` when sampled)


@dataclass
class Example:
    """A row near a threshold: its text (truncated) and the measured value."""

    id: str
    text: str
    value: float | None
    column: str | None
    reason: str | None


@dataclass
class StepExamples:
    """Rows just kept and just rejected by one step."""

    step: str
    rejected: list[Example]
    kept: list[Example]
    note: str = ""


@dataclass
class ReportData:
    """Everything the report shows."""

    out: str
    manifest: dict[str, Any]
    funnel: list[StepFunnel]
    reasons: list[tuple[str, str, int]]  # (reason, step, rows)
    histograms: list[Histogram]
    languages: dict[str, dict[str, tuple[int, int]]]  # column -> lang -> (kept, rejected)
    dedup: dict[str, dict[str, Any]]
    examples: list[StepExamples]
    thresholds: list[Threshold]
    compare: dict[str, Any] | None = None


def load_manifest(out: Location) -> dict[str, Any]:
    """The run's manifest; one line naming the folder when it is not a finished run."""
    path = out / "manifest.json"
    if not path.is_file():
        raise ManifestError(f"{out}: no manifest.json (not a finished tamis run)")
    try:
        return path.read_json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: not readable JSON ({err})") from None


def parse_rule(reason: str) -> tuple[str, str, str, float] | None:
    """(step, stat, op, threshold) of a reason like `gopher_quality:word_count<50`, or None."""
    found = _RULE.match(reason)
    if not found:
        return None
    try:
        value = float(found["value"])
    except ValueError:
        return None
    return found["step"], found["stat"], found["op"], value


def step_thresholds(step: dict[str, Any], numeric: set[str]) -> list[Threshold]:
    """The cuts of one manifest step: from its reasons, its global cutoff and its params."""
    name = step["step"]
    base = name.split(".", 1)[0]
    found: dict[tuple[str, str], float] = {}
    for reason in step.get("reasons", {}):
        rule = parse_rule(reason)
        if rule:
            found[(rule[1], rule[2])] = rule[3]
    stats = step.get("global") or {}
    if isinstance(stats.get("cutoff"), (int, float)) and stats.get("column"):
        op = ">" if stats.get("side") == "bottom" else "<"
        found.setdefault((stats["column"], op), float(stats["cutoff"]))
    params = step.get("params") or {}
    if base == "lang_id" and isinstance(params.get("min_score"), (int, float)):
        found.setdefault(("lang_score", "<"), float(params["min_score"]))

    def column(stat: str) -> str | None:
        return next((c for c in (f"{base}_{stat}", stat) if c in numeric), None)

    return [Threshold(name, s, op, v, column(s)) for (s, op), v in found.items()]


def _distance(values: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """How far values are from their thresholds, relative to the threshold's size."""
    return np.abs(values - threshold) / np.maximum(np.abs(threshold), 1e-9)


class _Nearest:
    """The k rows with the smallest distance seen so far (a bounded max-heap)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.heap: list[tuple[float, int, tuple[Any, ...]]] = []
        self.count = itertools.count()

    def offer(self, distance: np.ndarray, payload: Callable[[int], tuple[Any, ...]]) -> None:
        """Consider rows with these distances (NaN ones are skipped); `payload(i)` describes
        row i, and is called only for rows that may be kept."""
        order = np.argsort(np.where(np.isnan(distance), np.inf, distance))[: self.k]
        for i in order:
            d = float(distance[i])
            if math.isnan(d):
                break
            if len(self.heap) >= self.k and -d <= self.heap[0][0]:
                break
            item = (-d, next(self.count), payload(int(i)))
            if len(self.heap) < self.k:
                heapq.heappush(self.heap, item)
            elif item[0] > self.heap[0][0]:
                heapq.heapreplace(self.heap, item)

    def rows(self) -> list[tuple[Any, ...]]:
        """The kept rows, nearest first."""
        return [p for _, _, p in sorted(self.heap, key=lambda h: (-h[0], h[1]))]


def _floats(batch: pa.RecordBatch, name: str) -> np.ndarray:
    return batch.column(name).to_numpy(zero_copy_only=False).astype(float)


def _numeric(schema: pa.Schema) -> set[str]:
    return {f.name for f in schema if pa.types.is_floating(f.type) and f.name not in REJECT_ONLY}


def _languages(schema: pa.Schema) -> set[str]:
    return {
        f.name
        for f in schema
        if (f.name == "lang" or f.name.endswith("_lang")) and pa.types.is_string(f.type)
    }


def text_columns(schema: pa.Schema, text_column: str) -> list[str]:
    """The columns that hold a row's text: the recipe's text column, else an instruction
    record's fields and messages."""
    names = set(schema.names)
    if text_column in names:
        return [text_column]
    return [c for c in (*_RECORD_FIELDS, "messages", "conversations") if c in names]


def text_bytes(batch: pa.RecordBatch | pa.Table, columns: list[str]) -> np.ndarray:
    """UTF-8 bytes of each row's text."""
    total = np.zeros(batch.num_rows, dtype=np.int64)
    for name in columns:
        array = batch.column(name)
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
            flat = pc.list_flatten(array)
            if pa.types.is_struct(flat.type):  # messages {role, content}, sharegpt {from, value}
                names = [flat.type.field(i).name for i in range(flat.type.num_fields)]
                if not {"content", "value"} & set(names):
                    continue
                flat = pc.struct_field(flat, "content" if "content" in names else "value")
            if pa.types.is_string(flat.type) or pa.types.is_large_string(flat.type):
                lengths = pc.fill_null(pc.binary_length(flat), 0).to_numpy(zero_copy_only=False)
            else:  # content as a list of parts
                texts = (turn_text({"content": v}) for v in flat.to_pylist())
                lengths = np.array([len(t.encode()) for t in texts], dtype=np.int64)
            parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
            total += np.bincount(parents, weights=lengths, minlength=batch.num_rows).astype(
                np.int64
            )
        elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            total += pc.fill_null(pc.binary_length(array), 0).to_numpy(zero_copy_only=False)
    return total


def row_text(row: dict[str, Any], columns: list[str]) -> str:
    """A row's text for display (field names shown when it has several), truncated."""
    parts = []
    for name in columns:
        value = row.get(name)
        if isinstance(value, list):
            turns = [m for m in value if isinstance(m, dict)]
            value = "\n".join(f"{m.get('role') or m.get('from')}: {turn_text(m)}" for m in turns)
        if value is not None and value != "":
            parts.append((name, str(value)))
    text = "\n".join(f"{n}: {v}" if len(parts) > 1 else v for n, v in parts)
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


class _Reservoir:
    """A seeded uniform sample of at most `size` (value, position) pairs: every row draws a
    random key and the smallest keys stay, so memory is bounded whatever the run's size."""

    def __init__(self, size: int = HISTOGRAM_ROWS, seed: int = 0):
        self.size, self.seen = size, 0
        self._rng = np.random.default_rng(seed)
        self._keys = np.empty(0)
        self._values = np.empty(0)
        self._positions = np.empty(0, np.int32)

    def add(self, values: np.ndarray, positions: np.ndarray) -> None:
        """Offer one batch's values and the positions of their rows."""
        self.seen += len(values)
        self._keys = np.concatenate([self._keys, self._rng.random(len(values))])
        self._values = np.concatenate([self._values, values])
        self._positions = np.concatenate([self._positions, positions])
        if len(self._keys) > 2 * self.size:
            self._trim()

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, positions) of the sample."""
        self._trim()
        return self._values, self._positions

    def _trim(self) -> None:
        if len(self._keys) > self.size:
            keep = np.argpartition(self._keys, self.size)[: self.size]
            self._keys, self._values = self._keys[keep], self._values[keep]
            self._positions = self._positions[keep]


@dataclass
class _Scan:
    """What one pass over the output files accumulates."""

    # column -> a sample of (value, index of the step that rejected the row, len(steps) if kept)
    values: dict[str, _Reservoir] = field(default_factory=lambda: defaultdict(_Reservoir))
    languages: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    bytes_rejected: Counter = field(default_factory=Counter)
    bytes_kept: int = 0


def gather(out: str | Path | Location, examples: int = EXAMPLES) -> ReportData:
    """Read the run in `out` and gather the report's numbers."""
    out = Location.of(out)
    manifest = load_manifest(out)
    steps = manifest["steps"]
    order = {s["step"]: i for i, s in enumerate(steps)}
    text_column = manifest.get("recipe", {}).get("input", {}).get("text_column", "text")
    files = [(path, True) for path in (out / "kept").glob("*.parquet")] + [
        (path, False) for path in (out / "rejected").glob("*.parquet")
    ]
    schemas = [parquet_schema(path) for path, _ in files]
    numeric = set().union(*(_numeric(s) for s in schemas)) if schemas else set()
    thresholds = {s["step"]: step_thresholds(s, numeric) for s in steps}
    near_rejected = {s["step"]: _Nearest(examples) for s in steps if s.get("rejected")}
    near_kept = {
        name: _Nearest(examples) for name, ts in thresholds.items() if any(t.column for t in ts)
    }
    scan = _Scan()
    for index, ((path, kept), schema) in enumerate(zip(files, schemas, strict=True)):
        _scan_file(
            path, index, kept, schema, text_column, order, thresholds, near_rejected,
            near_kept, scan,
        )  # fmt: skip
    chosen = {
        name: (near_rejected[name].rows() if name in near_rejected else [],
               near_kept[name].rows() if name in near_kept else [])
        for name in order
    }  # fmt: skip
    texts = _fetch_texts(files, schemas, chosen, text_column, manifest)
    return ReportData(
        out=str(out),
        manifest=manifest,
        funnel=_funnel(steps, scan),
        reasons=sorted(
            ((r, s["step"], n) for s in steps for r, n in s.get("reasons", {}).items()),
            key=lambda x: -x[2],
        ),
        histograms=_histograms(scan, [t for ts in thresholds.values() for t in ts], order),
        languages={
            column: {
                lang: (counts[(lang, True)], counts[(lang, False)])
                for lang in sorted(
                    {k[0] for k in counts},
                    key=lambda x: -sum(counts[(x, s)] for s in (True, False)),
                )
            }
            for column, counts in sorted(scan.languages.items())
        },  # fmt: skip
        dedup=_dedup(out),
        examples=_examples(steps, chosen, texts, thresholds),
        thresholds=[t for ts in thresholds.values() for t in ts],
    )


def _scan_file(
    path: Location,
    index: int,
    kept: bool,
    schema: pa.Schema,
    text_column: str,
    order: dict[str, int],
    thresholds: dict[str, list[Threshold]],
    near_rejected: dict[str, _Nearest],
    near_kept: dict[str, _Nearest],
    scan: _Scan,
) -> None:
    """One file, batch by batch: values, languages, bytes and candidate examples."""
    names = set(schema.names)
    numeric = sorted(_numeric(schema))
    texts = text_columns(schema, text_column)
    bookkeeping = [c for c in (REJECTED_BY, REJECT_REASON, REJECT_VALUE) if c in names]
    columns = numeric + sorted(_languages(schema)) + texts + bookkeeping
    last = len(order)
    offset = 0
    for batch in parquet_file(path).iter_batches(columns=columns, batch_size=65536):
        n = batch.num_rows
        rows = np.arange(offset, offset + n)
        offset += n
        lengths = text_bytes(batch, texts)
        if kept:
            scan.bytes_kept += int(lengths.sum())
            by = [None] * n
            position = np.full(n, last)
        else:
            by = batch.column(REJECTED_BY).to_pylist() if REJECTED_BY in names else [None] * n
            for step, size in zip(by, lengths.tolist(), strict=True):
                scan.bytes_rejected[step] += size
            position = np.array([order.get(s, -1) for s in by])
        for name in numeric:
            scan.values[name].add(_floats(batch, name), position.astype(np.int32))
        for name in _languages(schema):
            counts = pc.value_counts(batch.column(name)).to_pylist()
            for item in counts:
                if item["values"] is not None:
                    scan.languages[name][(item["values"], kept)] += item["counts"]
        if not kept:
            _offer_rejected(batch, names, by, index, rows, thresholds, near_rejected)
        for step, nearest in near_kept.items():
            passed = position > order[step]
            if not passed.any():
                continue
            best = np.full(n, np.nan)
            which = np.full(n, -1)
            cuts = [t for t in thresholds[step] if t.column in numeric]
            values = [_floats(batch, t.column) for t in cuts]
            for j, (t, v) in enumerate(zip(cuts, values, strict=True)):
                d = np.where(passed, _distance(v, np.full(n, t.value)), np.nan)
                better = ~np.isnan(d) & (np.isnan(best) | (d < best))
                best, which = np.where(better, d, best), np.where(better, j, which)

            def payload(
                i: int, cuts=cuts, values=values, which=which, rows=rows
            ) -> tuple[Any, ...]:
                j = int(which[i])
                return index, int(rows[i]), (cuts[j].column, float(values[j][i]))

            nearest.offer(best, payload)


def _offer_rejected(
    batch: pa.RecordBatch,
    names: set[str],
    by: list[str | None],
    index: int,
    rows: np.ndarray,
    thresholds: dict[str, list[Threshold]],
    near_rejected: dict[str, _Nearest],
) -> None:
    """Rejected rows of a batch as candidates, nearest their own rule's threshold first."""
    reasons = batch.column(REJECT_REASON).to_pylist() if REJECT_REASON in names else []
    values = (
        batch.column(REJECT_VALUE).to_numpy(zero_copy_only=False).astype(float).copy()
        if REJECT_VALUE in names
        else np.full(batch.num_rows, np.nan)
    )
    rules = {r: parse_rule(r) for r in set(reasons) if r}
    by_step: dict[str, list[int]] = defaultdict(list)
    for i, step in enumerate(by):
        if step in near_rejected:
            by_step[step].append(i)
    for step, where in by_step.items():
        # a scorer's rule may leave reject_value empty; its score column then has the value
        columns = {t.stat: t.column for t in thresholds.get(step, []) if t.column in names}
        for i in where:
            rule = rules.get(reasons[i]) if reasons else None
            if math.isnan(values[i]) and rule and rule[1] in columns:
                values[i] = batch.column(columns[rule[1]])[i].as_py() or math.nan
        limit = np.array(
            [(rules.get(reasons[i] if reasons else None) or (0, 0, 0, np.nan))[3] for i in where]
        )
        v = values[where]
        distance = _distance(v, limit)
        # rows without a value or a numeric rule still make examples, after those with one
        distance = np.where(np.isnan(distance), 1e12 + np.arange(len(where)), distance)

        def payload(j: int, where=where) -> tuple[Any, ...]:
            i = where[j]
            value = None if math.isnan(values[i]) else float(values[i])
            reason = reasons[i] if reasons else None
            rule = rules.get(reason) if reason else None
            return index, int(rows[i]), (rule[1] if rule else None, value), reason

        near_rejected[step].offer(distance, payload)


def _fetch_texts(
    files: list[tuple[Location, bool]],
    schemas: list[pa.Schema],
    chosen: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]],
    text_column: str,
    manifest: dict[str, Any],
) -> dict[tuple[int, int], tuple[str, str]]:
    """(file index, row) -> (id, text) for the chosen rows, reading only their files."""
    wanted: dict[int, set[int]] = defaultdict(set)
    for rejected, kept in chosen.values():
        for item in [*rejected, *kept]:
            wanted[item[0]].add(item[1])
    id_column = manifest.get("recipe", {}).get("input", {}).get("id_column", "id")
    found: dict[tuple[int, int], tuple[str, str]] = {}
    for index, rows in wanted.items():
        path, schema = files[index][0], schemas[index]
        texts = text_columns(schema, text_column)
        texts += [INVALID_RECORD] if INVALID_RECORD in schema.names else []
        columns = texts + ([id_column] if id_column in schema.names else [])
        offset = 0
        for batch in parquet_file(path).iter_batches(columns=columns, batch_size=65536):
            inside = [r for r in rows if offset <= r < offset + batch.num_rows]
            if inside:
                picked = batch.take(pa.array([r - offset for r in inside])).to_pylist()
                for r, row in zip(inside, picked, strict=True):
                    found[(index, r)] = (str(row.get(id_column, r)), row_text(row, texts))
            offset += batch.num_rows
    return found


def _examples(
    steps: list[dict[str, Any]],
    chosen: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]],
    texts: dict[tuple[int, int], tuple[str, str]],
    thresholds: dict[str, list[Threshold]],
) -> list[StepExamples]:
    """Per step with rejections or a threshold, its examples."""
    result = []
    for step in steps:
        name = step["step"]
        rejected, kept = chosen[name]
        if not rejected and not kept:
            continue
        rows_rejected = [
            Example(*texts[(i, r)], value=w[1], column=w[0], reason=reason)
            for i, r, w, reason in rejected
        ]
        rows_kept = [
            Example(*texts[(i, r)], value=w[1], column=w[0], reason=None) for i, r, w in kept
        ]
        note = ""
        numeric_rule = any(t.step == name for t in thresholds[name])
        if numeric_rule and not any(t.column for t in thresholds[name]):
            note = (
                "no per-row value for kept rows: run the step with `stats: true` to keep its "
                "statistics as columns"
            )
        result.append(StepExamples(name, rows_rejected, rows_kept, note))
    return result


def _funnel(steps: list[dict[str, Any]], scan: _Scan) -> list[StepFunnel]:
    """Rows, bytes and tokens per step; bytes in = bytes kept + bytes rejected here or later."""
    later = scan.bytes_kept + sum(
        n for s, n in scan.bytes_rejected.items() if s not in {x["step"] for x in steps}
    )
    result = []
    for step in reversed(steps):
        rejected = scan.bytes_rejected.get(step["step"], 0)
        later += rejected
        tokens_in = step.get("tokens_in")
        result.append(
            StepFunnel(
                step=step["step"],
                rows_in=step["rows_in"],
                rejected=step["rejected"],
                kept=step.get("kept", step["rows_in"] - step["rejected"]),
                bytes_in=later,
                bytes_rejected=rejected,
                tokens_in=tokens_in,
                tokens_rejected=step.get("tokens_rejected") if tokens_in is not None else None,
                seconds=float(step.get("seconds") or 0.0),
            )
        )
    return result[::-1]


def _histograms(scan: _Scan, thresholds: list[Threshold], order: dict[str, int]) -> list[Histogram]:
    """A histogram of every score and statistic column: rows kept, rows rejected by the
    column's own steps (those with a threshold on it) and rows rejected by other steps."""
    result = []
    for column in sorted(scan.values):
        values, position = scan.values[column].arrays()
        finite = np.isfinite(values)
        values, position = values[finite], position[finite]
        if not values.size:
            continue
        cuts = [t for t in thresholds if t.column == column]
        own = np.isin(position, [order[t.step] for t in cuts])
        kept = position == len(order)
        log = "perplexity" in column and values.min() > 0 and values.max() / values.min() > 100
        shown = np.log10(values) if log else values
        points = [shown.min(), shown.max()]
        points += [math.log10(t.value) if log else t.value for t in cuts if not log or t.value > 0]
        low, high = float(min(points)), float(max(points))
        edges = np.linspace(low, high if high > low else low + 1.0, BINS + 1)
        groups = [("kept", kept), ("rejected by other steps", ~kept & ~own)]
        if cuts:
            steps = ", ".join(dict.fromkeys(t.step for t in cuts))
            groups.insert(1, (f"rejected by {steps}", own))
        else:
            groups[1] = ("rejected", ~kept)
        result.append(
            Histogram(
                column=column,
                edges=[float(e) for e in edges],
                series=[(label, np.histogram(shown[m], edges)[0].tolist()) for label, m in groups],
                log=bool(log),
                thresholds=cuts,
                rows=int(values.size),
                total=scan.values[column].seen,
            )
        )
    return result


def _dedup(out: Location) -> dict[str, dict[str, Any]]:
    """Cluster reports of the run's dedup steps."""
    from pipeline.dedup.clusters import dedup_reports

    return dedup_reports(out)
