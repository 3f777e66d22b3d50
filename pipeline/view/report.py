"""`tamis report OUT`: one self-contained HTML page about a finished run (opens offline)."""

from __future__ import annotations

import argparse

from pipeline.io.storage import Location
from pipeline.view.report_data import gather, load_manifest


def write_report(
    out: str | Location,
    compare: str | Location | None = None,
    output: str | Location | None = None,
) -> Location:
    """Write OUT/report.html (or `output`) for the run in `out`, compared with `compare`."""
    from pipeline.view.diff import diff_runs
    from pipeline.view.report_figures import figures
    from pipeline.view.report_page import render

    where = Location.of(out)
    data = gather(where)
    if compare is not None:
        load_manifest(Location.of(compare))  # a wrong folder fails before any work
        data.compare = diff_runs(out, compare, examples=3)
    dest = Location.of(output) if output is not None else where / "report.html"
    dest.write_bytes(render(data, figures(data)).encode("utf-8"))
    return dest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `tamis report` arguments."""
    parser.add_argument("out", help="output folder or URI of a finished run")
    parser.add_argument(
        "--compare", metavar="OUT_B", help="a second run's output: add the rows that moved"
    )
    parser.add_argument("--output", metavar="FILE", help="where to write (default OUT/report.html)")


def main(args: argparse.Namespace) -> int:
    """Run `tamis report`: write the page and print where it is."""
    print(write_report(args.out, compare=args.compare, output=args.output))
    return 0
