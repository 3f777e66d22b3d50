"""`tamis report`: the page's numbers against a real run's manifest and files, escaping,
offline use, the command line."""

from __future__ import annotations

import json
import re
import shutil
from html import escape
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.core.errors import ManifestError
from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe
from pipeline.view.report import write_report
from pipeline.view.report_data import gather, parse_rule, row_text, text_bytes

PLANTED = '<script>alert("x")</script> planted ' + "word " * 80
STEPS = [
    {"exact_dedup": {}},
    {"gopher_quality": {"stats": True}},
    {"c4": {"remove_lines": False}},
    {"fineweb_quality": {}},
]


def run(inp: Path, out: Path, steps: list[dict]) -> Path:
    spec = {
        "name": "report-test",
        "description": "a small heuristic run <b>for the report</b>",
        "input": {"path": str(inp), "format": "parquet", "text_column": "text"},
        "output": {"path": str(out)},
        "steps": steps,
    }
    run_recipe(parse_recipe(spec), "local", progress=False)
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, samples: Path) -> Path:
    """100 rows of each sample shard, and first a shard with a planted `<script>` row twice
    (one copy is rejected as an exact duplicate, and shown as an example)."""
    folder = tmp_path_factory.mktemp("report") / "in"
    folder.mkdir()
    first = pq.read_table(sorted(samples.glob("*.parquet"))[0]).slice(0, 2)
    planted = pa.table(
        {
            c: ["planted-1", "planted-2"]
            if c == "id"
            else [PLANTED, PLANTED]
            if c == "text"
            else first[c].to_pylist()  # fmt: skip
            for c in first.column_names
        }
    )
    pq.write_table(planted, folder / "a-planted.parquet")
    for shard in sorted(samples.glob("*.parquet")):
        pq.write_table(pq.read_table(shard).slice(0, 100), folder / shard.name)
    return folder


@pytest.fixture(scope="module")
def out(inputs: Path) -> Path:
    return run(inputs, inputs.parent / "out", STEPS)


@pytest.fixture(scope="module")
def page(out: Path) -> str:
    return Path(str(write_report(out))).read_text(encoding="utf-8")


def cells(*values: object) -> str:
    """Table cells as the page writes them (first one left-aligned)."""
    first, *rest = values
    return f'<td class="t">{first}</td>' + "".join(f'<td class="">{v}</td>' for v in rest)


def test_funnel_rows_equal_the_manifest(out: Path, page: str) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    assert (out / "report.html").is_file()
    for step in manifest["steps"]:
        row = cells(step["step"], f"{step['rows_in']:,}", f"{step['rejected']:,}")
        assert row + f'<td class="">{step["kept"]:,}</td>' in page, step["step"]
    rows = manifest["rows"]
    assert f"<b>{rows['in']:,}</b> rows in, <b>{rows['kept']:,}</b> kept" in page


def test_bytes_are_the_utf8_length_of_the_text(out: Path) -> None:
    data = gather(out)

    def size(folder: str, where=None) -> int:
        table = pq.read_table(out / folder)
        if where is not None:
            table = table.filter(pc.field("rejected_by") == where)
        return pc.sum(pc.binary_length(table["text"])).as_py() or 0

    everything = size("kept") + size("rejected")
    assert data.funnel[0].bytes_in == everything
    for step in data.funnel:
        assert step.bytes_rejected == size("rejected", step.step)
    assert data.funnel[-1].bytes_in - data.funnel[-1].bytes_rejected == size("kept")


def test_every_reason_appears_with_its_count_and_share(out: Path, page: str) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    rejected = manifest["rows"]["rejected"]
    for step in manifest["steps"]:
        for reason, count in step["reasons"].items():
            share = f"{100 * count / rejected:.1f}%"
            assert (
                f'<td class="t">{escape(reason)}</td><td class="t">{step["step"]}</td>'
                f'<td class="">{count:,}</td><td class="">{share}</td>'
            ) in page


def test_a_histogram_per_statistic_column_with_its_threshold(out: Path, page: str) -> None:
    columns = set()
    for part in (out / "rejected").glob("*.parquet"):
        schema = pq.read_schema(part)
        columns |= {f.name for f in schema if f.name.startswith("gopher_quality_")}
    assert "gopher_quality_word_count" in columns  # stats: true kept the statistics
    data = gather(out)
    drawn = {h.column: h for h in data.histograms}
    assert columns <= set(drawn)
    for column in columns:
        assert f"{column} (" in page  # the figure's title
    word_count = drawn["gopher_quality_word_count"]
    assert [(t.op, t.value) for t in word_count.thresholds] == [("<", 50.0)]
    assert "gopher_quality: rejects \\u003c 50" in page  # the line's label, in plotly's JSON
    assert sum(map(sum, (c for _, c in word_count.series))) == word_count.rows
    # a filter without stats has its thresholds listed, and says how to get its values
    assert "Thresholds without a per-row column" in page
    assert "stats: true" in page


def test_examples_near_thresholds_and_escaped(out: Path, page: str) -> None:
    data = gather(out)
    by_step = {e.step: e for e in data.examples}
    quality = by_step["gopher_quality"]
    assert quality.kept and quality.rejected
    assert all(e.value is not None for e in quality.kept)
    assert not quality.note  # its statistics are columns
    assert "stats: true" in by_step["c4"].note  # c4 keeps none: only rejected examples
    assert by_step["c4"].rejected and not by_step["c4"].kept
    for e in by_step["c4"].rejected:
        if e.reason and parse_rule(e.reason):
            assert e.value is not None
    # the planted row, rejected as a duplicate, is shown escaped
    assert any(e.id == "planted-2" for e in by_step["exact_dedup"].rejected)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert "&lt;b&gt;for the report&lt;/b&gt;" in page  # the recipe's description
    assert len(max(re.findall(r"<pre>(.*?)</pre>", page, re.S), key=len)) < 1500


def test_page_is_offline_and_has_plotly_once(page: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link[^>]*https?://", page)
    assert page.count("Plotly.newPlot(") >= 4
    assert page.count("plotly.js v") <= 2  # the bundle's banner: one copy inlined
    assert 4_000_000 < len(page) < 6_000_000


def test_dedup_and_time_sections(out: Path, page: str) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    dedup = next(s for s in manifest["steps"] if s["step"] == "exact_dedup")["global"]
    assert f"exact_dedup: {dedup['clusters']:,} clusters" in page
    for cluster in dedup["largest_clusters"]:
        assert f'<td class="t">{cluster["kept"]}</td>' in page
    for stage in manifest["run"]["stages"]:
        assert escape(stage["steps"]) in page
    assert 'id="time"' in page and "rows/s" in page


def test_tokens_in_the_funnel_when_the_manifest_has_them(out: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(out, tmp_path / "copy"))
    (copy / "report.html").unlink(missing_ok=True)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["tokens"] = {"tokenizer": "demo-tok", "in": 123456, "kept": 65432}
    for i, step in enumerate(manifest["steps"]):
        step["tokens_in"], step["tokens_rejected"] = 123456 - i * 1000, 1000
    (copy / "manifest.json").write_text(json.dumps(manifest))
    page = Path(str(write_report(copy))).read_text()
    assert "<th>tokens in</th>" not in page  # headers carry a class
    assert ">tokens in</th>" in page and ">tokens kept</th>" in page
    first = manifest["steps"][0]["step"]
    assert cells(first, "3,960") not in page
    assert '<td class="">123,456</td><td class="">1,000</td><td class="">122,456</td>' in page
    assert "tokens (demo-tok): 123,456 in, 65,432 kept" in page


@pytest.mark.slow
def test_compare_section(inputs: Path, out: Path, tmp_path: Path) -> None:
    steps = [*STEPS[:1], {"gopher_quality": {"stats": True, "min_words": 20}}, *STEPS[2:]]
    other = run(inputs, tmp_path / "other", steps)
    dest = write_report(out, compare=other, output=str(tmp_path / "cmp.html"))
    page = Path(str(dest)).read_text()
    assert 'id="compare"' in page and 'href="#compare"' in page
    assert "Compared with" in page


def test_cli_writes_the_report_and_prints_its_path(out: Path, tmp_path: Path, capsys) -> None:
    dest = tmp_path / "r.html"
    assert main(["report", str(out), "--output", str(dest)]) == 0
    assert capsys.readouterr().out.strip() == str(dest)
    assert dest.stat().st_size > 4_000_000


def test_cli_refuses_a_folder_without_manifest(tmp_path: Path, capsys) -> None:
    (tmp_path / "kept").mkdir()
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"tamis: error: {tmp_path}: no manifest.json")
    with pytest.raises(ManifestError):
        write_report(tmp_path)


def test_record_texts_and_bytes() -> None:
    table = pa.table(
        {
            "messages": [[{"role": "user", "content": "héllo"}, {"role": "bot", "content": "ok"}]],
            "conversations": [[{"from": "human", "value": "abc"}]],
        }
    )
    assert text_bytes(table, ["messages"]).tolist() == [8]
    assert text_bytes(table, ["conversations"]).tolist() == [3]
    row = table.to_pylist()[0]
    assert row_text(row, ["messages"]) == "user: héllo\nbot: ok"
    assert row_text(row, ["conversations"]) == "human: abc"
    assert len(row_text({"text": "x" * 5000}, ["text"])) == 600


def test_histograms_of_a_large_run_are_drawn_from_a_bounded_sample():
    from pipeline.view.report_data import _Reservoir

    reservoir = _Reservoir(size=1000, seed=3)
    rng = np.random.default_rng(0)
    for _ in range(50):  # 50,000 values offered, 1,000 kept
        values = rng.normal(size=1000)
        reservoir.add(values, (values > 1).astype(np.int32))
    values, positions = reservoir.arrays()
    assert reservoir.seen == 50_000 and len(values) == len(positions) == 1000
    assert abs(values.mean()) < 0.1 and abs(values.std() - 1) < 0.1  # a uniform sample
    assert (positions == (values > 1)).all()  # each value keeps its row's position
