"""The report's plotly figures, each built from numbers already gathered (no raw rows: a
histogram is sent as bin counts, so the page stays small whatever the run's size)."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from pipeline.view.report_data import HISTOGRAM_ROWS, Histogram, ReportData, StepFunnel

KEPT, REJECTED, OTHER, CUT = "#2a9d8f", "#e76f51", "#c9ced3", "#264653"
_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 64, "b": 50},
    "height": 340,
    "legend": {
        "orientation": "h",
        "x": 1,
        "xanchor": "right",
        "y": 1.0,
        "yanchor": "bottom",
        "traceorder": "normal",
    },
    "font": {"size": 12},
}


def _figure(title: str, **layout: Any) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(**(_LAYOUT | {"title": {"text": title, "x": 0}} | layout))
    return figure


def funnel_figure(funnel: list[StepFunnel]) -> go.Figure:
    """Rows kept and rejected at each step, stacked: the bar's height is the rows in."""
    figure = _figure("rows in per step: kept and rejected", barmode="stack")
    names = [f.step for f in funnel]
    figure.add_bar(x=names, y=[f.kept for f in funnel], name="kept", marker_color=KEPT)
    figure.add_bar(x=names, y=[f.rejected for f in funnel], name="rejected", marker_color=REJECTED)
    return figure


def reasons_figure(reasons: list[tuple[str, str, int]], top: int = 25) -> go.Figure:
    """The most frequent rejection reasons, largest on top."""
    shown = reasons[:top][::-1]
    figure = _figure(
        f"rejections by reason (top {len(shown)})",
        height=max(300, 22 * len(shown) + 90),
        margin={"l": 330, "r": 20, "t": 40, "b": 40},
    )
    figure.add_bar(
        x=[n for _, _, n in shown],
        y=[r for r, _, _ in shown],
        orientation="h",
        marker_color=REJECTED,
        name="rows",
    )
    return figure


def histogram_figure(histogram: Histogram) -> go.Figure:
    """One column's distribution, kept and rejected rows stacked, each threshold a line."""
    name = f"log10({histogram.column})" if histogram.log else histogram.column
    figure = _figure(f"{name} ({_rows(histogram)})", barmode="stack", bargap=0.02, xaxis_title=name)
    edges = histogram.edges
    centers = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
    widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
    colors = [KEPT, REJECTED, OTHER] if len(histogram.series) == 3 else [KEPT, REJECTED]
    for (label, counts), color in zip(histogram.series, colors, strict=True):
        figure.add_bar(x=centers, y=counts, width=widths, name=label, marker_color=color)
    for t in histogram.thresholds:
        if histogram.log and t.value <= 0:
            continue
        x = math.log10(t.value) if histogram.log else t.value
        figure.add_vline(
            x=x,
            line={"color": CUT, "dash": "dash", "width": 2},
            annotation_text=f"{t.step}: rejects {t.op} {t.value:g}",
            annotation_position="top right",
            annotation_y=0.98,
            annotation_yanchor="top",
            annotation_bgcolor="rgba(255,255,255,0.8)",
        )
    return figure


def languages_figure(column: str, counts: dict[str, tuple[int, int]], top: int = 20) -> go.Figure:
    """Rows per language of a language column, kept and rejected stacked."""
    langs = list(counts)[:top]
    figure = _figure(f"{column}: rows per language (top {len(langs)})", barmode="stack")
    figure.add_bar(x=langs, y=[counts[k][0] for k in langs], name="kept", marker_color=KEPT)
    figure.add_bar(x=langs, y=[counts[k][1] for k in langs], name="rejected", marker_color=REJECTED)
    return figure


def clusters_figure(step: str, report: dict[str, Any]) -> go.Figure:
    """How many duplicate clusters a dedup step found, by cluster size."""
    sizes = report.get("cluster_sizes", {})
    figure = _figure(
        f"{step}: clusters by size",
        xaxis_title="rows in cluster",
        yaxis_title="clusters",
        height=280,
        bargap=0.4,
    )
    figure.add_bar(x=list(sizes), y=list(sizes.values()), marker_color=CUT, name="clusters")
    figure.update_xaxes(type="category")
    return figure


def time_figure(funnel: list[StepFunnel]) -> go.Figure:
    """Seconds spent in each step (summed over shards and workers)."""
    figure = _figure("seconds per step", yaxis_title="seconds")
    figure.add_bar(x=[f.step for f in funnel], y=[f.seconds for f in funnel], marker_color=CUT)
    return figure


def figures(data: ReportData) -> dict[str, list[tuple[str, go.Figure]]]:
    """Every figure of the report, by section, each with an id."""
    result: dict[str, list[tuple[str, go.Figure]]] = {
        "funnel": [("fig-funnel", funnel_figure(data.funnel))],
        "reasons": [("fig-reasons", reasons_figure(data.reasons))] if data.reasons else [],
        "histograms": [
            (f"fig-hist-{i}", histogram_figure(h)) for i, h in enumerate(data.histograms)
        ],
        "languages": [
            (f"fig-lang-{i}", languages_figure(column, counts))
            for i, (column, counts) in enumerate(data.languages.items())
            if counts
        ],
        "dedup": [
            (f"fig-dedup-{i}", clusters_figure(step, report))
            for i, (step, report) in enumerate(data.dedup.items())
            if report.get("cluster_sizes")
        ],
        "time": [("fig-time", time_figure(data.funnel))],
    }
    return result


def _rows(histogram: Histogram) -> str:
    """'1614 rows', or 'a sample of 200000 of 3100000 rows' for a large run."""
    if histogram.total > HISTOGRAM_ROWS:
        return f"a uniform sample of {HISTOGRAM_ROWS:,} of {histogram.total:,} rows"
    return f"{histogram.rows} rows"
