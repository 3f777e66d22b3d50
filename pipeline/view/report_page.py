"""The report's HTML: one self-contained page, plotly.js inlined once, every text from the
data HTML-escaped."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

import plotly.graph_objects as go
import plotly.offline

from pipeline.view.report_data import Example, ReportData, StepExamples

COMPARE_GROUPS, COMPARE_ROWS = 6, 60  # groups with examples, groups listed
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2b33;
  margin: 0; background: #f6f7f9; }
header { background: #264653; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; opacity: .9; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #dde;
  padding: 8px 32px; z-index: 10; }
nav a { margin-right: 14px; color: #264653; text-decoration: none; font-weight: 600; }
main { padding: 8px 32px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid #e3e6ea; border-radius: 6px; padding: 12px 20px;
  margin: 16px 0; }
h2 { font-size: 18px; margin: 6px 0 10px; } h3 { font-size: 15px; margin: 14px 0 6px; }
h4 { font-size: 13px; margin: 10px 0 4px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border-bottom: 1px solid #e8eaed; padding: 3px 10px; text-align: right; }
th { background: #f0f2f4; } td.t, th.t { text-align: left; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
  gap: 10px; }
.note { color: #5b6770; font-style: italic; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.ex { border-left: 4px solid #ccc; padding: 4px 8px; margin: 6px 0; background: #fafbfc; }
.ex.rejected { border-color: #e76f51; } .ex.kept { border-color: #2a9d8f; }
.ex .meta { font-size: 12px; color: #44525c; }
.ex pre { white-space: pre-wrap; word-break: break-word; margin: 4px 0 0; font-size: 12px;
  max-height: 12em; overflow: auto; }
code { background: #eef0f2; padding: 0 3px; border-radius: 3px; }
"""


def _n(value: Any) -> str:
    """A number for a table cell."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else escape(str(value))


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _bytes(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1000
    return str(count)


def table(headers: list[str], rows: Iterable[list[str]], text_columns: int = 1) -> str:
    """An HTML table; cells are already HTML (escaped by the caller); the first
    `text_columns` columns are left-aligned."""
    head = "".join(
        f'<th class="{"t" if i < text_columns else ""}">{escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"t" if i < text_columns else ""}">{c}</td>' for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure_html(figure_id: str, figure: go.Figure) -> str:
    """A figure as a div and its script, without plotly.js."""
    return figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=figure_id,
        config={"displaylogo": False, "responsive": True},
    )


def _header(data: ReportData) -> str:
    m = data.manifest
    recipe, run, rows = m.get("recipe", {}), m.get("run", {}), m.get("rows", {})
    tokens = m.get("tokens")
    token_line = (
        f"<p>tokens ({escape(str(tokens.get('tokenizer')))}): {_n(tokens.get('in'))} in, "
        f"{_n(tokens.get('kept'))} kept</p>"
        if isinstance(tokens, dict)
        else ""
    )
    return (
        f"<header><h1>tamis report: {escape(str(recipe.get('name', '?')))}</h1>"
        f"<p>{escape(str(recipe.get('description', '')).strip())}</p>"
        f"<p>{escape(data.out)} · {escape(str(run.get('runner', '?')))} runner · started "
        f"{escape(str(run.get('started', '?')))} · {_n(run.get('seconds'))} s</p>"
        f"<p><b>{_n(rows.get('in'))}</b> rows in, <b>{_n(rows.get('kept'))}</b> kept "
        f"({_pct(rows.get('kept', 0), rows.get('in', 0))}), <b>{_n(rows.get('rejected'))}</b> "
        f"rejected</p>{token_line}</header>"
    )


def _funnel(data: ReportData, figs: str) -> str:
    has_tokens = any(f.tokens_in is not None for f in data.funnel)
    headers = ["step", "rows in", "rejected", "kept", "% rejected"]
    headers += ["bytes in", "bytes rejected", "bytes kept"]
    if has_tokens:
        headers += ["tokens in", "tokens rejected", "tokens kept"]
    rows = []
    for f in data.funnel:
        row = [escape(f.step), _n(f.rows_in), _n(f.rejected), _n(f.kept)]
        row += [_pct(f.rejected, f.rows_in), _bytes(f.bytes_in), _bytes(f.bytes_rejected)]
        row += [_bytes(f.bytes_in - f.bytes_rejected)]
        if has_tokens:
            rejected = f.tokens_rejected or 0
            kept = f.tokens_in - rejected if f.tokens_in is not None else None
            row += [_n(f.tokens_in), _n(f.tokens_rejected), _n(kept)]
        rows.append(row)
    return (
        '<section id="funnel"><h2>Funnel</h2>'
        + figs
        + table(headers, rows)
        + '<p class="note">Bytes are the UTF-8 length of the text as written out (after any '
        "step that rewrites it).</p></section>"
    )


def _reasons(data: ReportData, figs: str) -> str:
    total = data.manifest.get("rows", {})
    rejected, rows_in = total.get("rejected", 0), total.get("in", 0)
    rows = [
        [escape(r), escape(s), _n(n), _pct(n, rejected), _pct(n, rows_in)]
        for r, s, n in data.reasons
    ]
    body = (
        table(["reason", "step", "rows", "share of rejected", "share of input"], rows, 2)
        if rows
        else '<p class="note">no row was rejected</p>'
    )
    return f'<section id="reasons"><h2>Rejections by reason</h2>{figs}{body}</section>'


def _histograms(data: ReportData, figs: str) -> str:
    drawn = {h.column for h in data.histograms}
    others = [t for t in data.thresholds if t.column not in drawn]
    rows = [[escape(t.step), escape(t.stat), escape(f"{t.op} {t.value:g}")] for t in others]
    extra = (
        "<h3>Thresholds without a per-row column</h3>"
        + table(["step", "statistic", "rejects"], rows, 2)
        + '<p class="note">Filters keep their statistics as columns with <code>stats: true'
        "</code>; their histograms then appear above.</p>"
        if rows
        else ""
    )
    body = (
        f'<div class="grid">{figs}</div>'
        if data.histograms
        else '<p class="note">no score or statistic column in this run</p>'
    )
    return f'<section id="scores"><h2>Scores and statistics</h2>{body}{extra}</section>'


def _languages(data: ReportData, figs: str) -> str:
    if not data.languages:
        return ""
    return f'<section id="languages"><h2>Languages</h2><div class="grid">{figs}</div></section>'


def _dedup(data: ReportData, figs: list[str]) -> str:
    if not data.dedup:
        return ""
    parts = ['<section id="dedup"><h2>Deduplication</h2><div class="grid">']
    shown = iter(figs)
    for step, report in data.dedup.items():
        parts.append(
            f"<div><h3>{escape(step)}: {_n(report.get('clusters'))} clusters, "
            f"{_n(report.get('duplicates'))} duplicates removed</h3>"
        )
        if report.get("cluster_sizes"):
            parts.append(next(shown, ""))
        rows = []
        for cluster in report.get("largest_clusters", []):
            members = ", ".join(escape(str(x)) for x in cluster.get("members", []))
            more = cluster.get("size", 0) - 1 - len(cluster.get("members", []))
            rows.append(
                [
                    escape(str(cluster.get("kept"))),
                    _n(cluster.get("size")),
                    members + (f" and {more} more" if more > 0 else ""),
                ]
            )
        if rows:
            parts.append(table(["kept row", "size", "duplicates"], rows, 3))
        parts.append("</div>")
    parts.append(
        '</div><p class="note"><code>tamis clusters OUT ID</code> shows a cluster\'s rows.'
        "</p></section>"
    )
    return "".join(parts)


def _time(data: ReportData, figs: str) -> str:
    run = data.manifest.get("run", {})
    rows = [
        [escape(f.step), _n(f.rows_in), _n(round(f.seconds, 3)), _rate(f.rows_in, f.seconds)]
        for f in data.funnel
    ]
    stages = [
        [
            escape(str(s.get("steps"))),
            _n(s.get("stage")),
            _n(s.get("shards_run")),
            _n(s.get("shards_skipped")),
            _n(s.get("seconds")),
        ]
        for s in run.get("stages", [])
    ]
    rows_in = data.manifest.get("rows", {}).get("in", 0)
    return (
        '<section id="time"><h2>Throughput and time</h2>'
        f"<p>{_n(run.get('seconds'))} s in all, {_rate(rows_in, run.get('seconds') or 0)} "
        "rows/s over the rows in.</p>"
        + figs
        + '<div class="pair"><div><h3>Steps</h3>'
        + table(["step", "rows in", "seconds", "rows/s"], rows)
        + "</div><div><h3>Stages</h3>"
        + table(["steps", "stage", "shards run", "shards skipped", "seconds"], stages)
        + '</div></div><p class="note">Step seconds add up the time of every shard and worker; '
        "stage seconds are wall-clock.</p></section>"
    )


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds else "–"


def _example(example: Example, side: str) -> str:
    value = (
        f" · {escape(example.column or 'value')} = <b>{example.value:.6g}</b>"
        if example.value is not None
        else ""
    )
    reason = f" · {escape(example.reason)}" if example.reason else ""
    return (
        f'<div class="ex {side}"><div class="meta">{escape(example.id)}{value}{reason}</div>'
        f"<pre>{escape(example.text) or '<i>(no text)</i>'}</pre></div>"
    )


def _examples(data: ReportData) -> str:
    parts = [
        '<section id="examples"><h2>Examples near each threshold</h2>'
        '<p class="note">Per step, the rows just rejected (nearest their rule\'s threshold '
        "first, then any) and the rows just kept (nearest a threshold, among the rows that "
        "passed the step). Texts are truncated.</p>"
    ]
    for step in data.examples:
        parts.append(_step_examples(step, data))
    parts.append("</section>")
    return "".join(parts)


def _step_examples(step: StepExamples, data: ReportData) -> str:
    cuts = ", ".join(
        escape(f"{t.stat} {t.op} {t.value:g}") for t in data.thresholds if t.step == step.step
    )
    note = f'<p class="note">{escape(step.note)}</p>' if step.note else ""
    rejected = "".join(_example(e, "rejected") for e in step.rejected) or (
        '<p class="note">none</p>'
    )
    kept = "".join(_example(e, "kept") for e in step.kept) or '<p class="note">none</p>'
    return (
        f"<h3>{escape(step.step)}{' (rejects ' + cuts + ')' if cuts else ''}</h3>{note}"
        f'<div class="pair"><div><b>just rejected</b>{rejected}</div>'
        f"<div><b>just kept</b>{kept}</div></div>"
    )


def _compare(data: ReportData) -> str:
    if data.compare is None:
        return ""
    diff = data.compare
    parts = [
        '<section id="compare"><h2>Compared with</h2>',
        f"<p>A: {escape(str(diff.get('a')))}<br>B: {escape(str(diff.get('b')))}</p>",
        f"<p>{_n(diff.get('rows_compared'))} rows in both; {_n(diff.get('only_in_a'))} only in "
        f"A, {_n(diff.get('only_in_b'))} only in B.</p>",
    ]
    for key, title in (("moved", "Rows that moved"), ("changed_reason", "Reason changed")):
        groups = diff.get(key) or []
        parts.append(f"<h3>{title}</h3>")
        if not groups:
            parts.append('<p class="note">none</p>')
            continue
        rows = [
            [
                escape(f"{g.get('from')} → {g.get('to')}"),
                escape(str(g.get("step") or "")),
                escape(str(g.get("reason") or "")),
                _n(g.get("rows")),
            ]
            for g in groups
        ]
        parts.append(table(["move", "step", "reason", "rows"], rows[:COMPARE_ROWS], 3))
        if len(rows) > COMPARE_ROWS:
            parts.append(f'<p class="note">and {len(rows) - COMPARE_ROWS} more groups</p>')
        biggest = sorted(groups, key=lambda g: -(g.get("rows") or 0))[:COMPARE_GROUPS]
        parts.append(f'<p class="note">Examples of the {len(biggest)} largest groups:</p>')
        for g in biggest:
            title = (
                f"{g.get('from')} → {g.get('to')}: {g.get('step') or ''} {g.get('reason') or ''}"
            )
            parts.append(f"<h4>{escape(title)} ({_n(g.get('rows'))} rows)</h4>")
            for e in (g.get("examples") or [])[:3]:
                example = Example(
                    id=str(e.get("id")),
                    text=str(e.get("text") or ""),
                    value=e.get("value"),
                    column=None,
                    reason=f"A: {e.get('reason_a') or 'kept'} → B: {e.get('reason_b') or 'kept'}",
                )
                parts.append(_example(example, "kept" if g.get("to") == "kept" else "rejected"))
    parts.append("</section>")
    return "".join(parts)


def render(data: ReportData, figures: dict[str, list[tuple[str, go.Figure]]]) -> str:
    """The whole page."""
    html = {k: [figure_html(i, f) for i, f in v] for k, v in figures.items()}
    nav = [
        ("funnel", "Funnel"),
        ("reasons", "Reasons"),
        ("scores", "Scores"),
        ("languages", "Languages") if data.languages else None,
        ("dedup", "Dedup") if data.dedup else None,
        ("time", "Time"),
        ("examples", "Examples"),
        ("compare", "Compared with") if data.compare else None,
    ]
    links = "".join(f'<a href="#{a}">{t}</a>' for a, t in filter(None, nav))
    name = escape(str(data.manifest.get("recipe", {}).get("name", "run")))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>tamis report: {name}</title><style>{CSS}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head><body>'
        + _header(data)
        + f"<nav>{links}</nav><main>"
        + _funnel(data, "".join(html["funnel"]))
        + _reasons(data, "".join(html["reasons"]))
        + _histograms(data, "".join(html["histograms"]))
        + _languages(data, "".join(html["languages"]))
        + _dedup(data, html["dedup"])
        + _time(data, "".join(html["time"]))
        + _examples(data)
        + _compare(data)
        + "</main></body></html>"
    )
