"""Every failure a user can cause ends in one line naming the culprit, and a bad row is never
more than a rejected row: each case below reproduced a traceback, a lost row or a collision
before it was fixed."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.core.errors import ModelNotFoundError, OutputError, RecipeError, SchemaError
from pipeline.core.recipe import parse_recipe
from pipeline.dedup import ExactDedup
from pipeline.io.layout import RunLayout
from pipeline.run.lock import OutputLock
from pipeline.run.runner import run_recipe
from scorers import FastTextLangId, KenlmPerplexity, QualityClassifier
from tests.conftest import REPO, write_parquet
from tests.pipeline.test_runners import outputs


def recipe(inp, out, steps=None, **input_spec) -> object:
    return parse_recipe(
        {
            "name": "hard",
            "input": {"path": str(inp), **input_spec},
            "output": {"path": str(out)},
            "steps": steps or [{"c4": {}}],
        }
    )


def cli(*args: str, capsys) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err.strip()


# 1. One run at a time per output folder.


def lease(out: Path, **held) -> None:
    lock = RunLayout.at(str(out)).lock
    lock.parent.mkdir()
    lock.write_json(
        {
            "run": "other",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": "now",
            "heartbeat": time.time(),
        }
        | held
    )


def test_a_second_run_is_refused_while_the_first_holds_the_output(small_samples, tmp_path):
    lease(tmp_path / "out")  # a live process of this host holds it
    with pytest.raises(OutputError, match=r"is in use by another run \(host .*, pid \d+"):
        run_recipe(recipe(small_samples, tmp_path / "out"), "local", progress=False, overwrite=True)
    assert not (tmp_path / "out" / "kept").exists()  # --overwrite deleted nothing under it


def test_a_lock_left_by_a_dead_run_is_taken_over(small_samples, tmp_path, caplog):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    lease(tmp_path / "out", pid=int(dead.stdout))
    manifest = run_recipe(recipe(small_samples, tmp_path / "out"), "local", progress=False)
    assert manifest["rows"]["in"] == 1200 and "taking over from a run that stopped" in caplog.text
    assert not RunLayout.at(str(tmp_path / "out")).lock.exists()  # released at the end


def test_another_hosts_lease_counts_until_its_heartbeat_is_old(tmp_path):
    lease(tmp_path / "a", host="node-7", pid=1)
    with pytest.raises(OutputError):
        OutputLock(RunLayout.at(str(tmp_path / "a"))).acquire()
    lease(tmp_path / "b", host="node-7", pid=1, heartbeat=time.time() - 3600)
    lock = OutputLock(RunLayout.at(str(tmp_path / "b")))
    lock.acquire()
    lock.release()


SLOW_STEPS = '''
import time
from filters import Filter


from pipeline.core.registry import register


@register("slow_pass")
class SlowPass(Filter):
    """Keeps everything, slowly."""

    def checks(self, batch):
        time.sleep(0.3)
        return []
'''


@pytest.mark.slow
def test_two_real_runs_into_one_folder(small_samples, tmp_path):
    (tmp_path / "slow_steps.py").write_text(SLOW_STEPS)
    spec = (
        f"name: slow\nimports: [slow_steps]\ninput: {{path: {small_samples}, chunk_rows: 20}}\n"
        f"output: {{path: {tmp_path / 'out'}}}\nsteps:\n  - slow_pass: {{}}\n"
    )
    (tmp_path / "slow.yaml").write_text(spec)
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "run",
        str(tmp_path / "slow.yaml"),
        "--runner",
        "local",
        "--quiet",
    ]
    first = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not RunLayout.at(str(tmp_path / "out")).lock.exists() and time.time() < deadline:
        time.sleep(0.2)
    second = subprocess.run([*command, "--overwrite"], cwd=REPO, capture_output=True, text=True)
    assert first.wait(timeout=300) == 0
    assert second.returncode == 2
    assert (
        second.stderr.strip().startswith("tamis: error: ")
        and "in use by another run" in second.stderr
    )
    assert len(second.stderr.strip().splitlines()) == 1


# 2. No process of a killed local Ray run is left.


@pytest.mark.slow
def test_killing_a_ray_run_leaves_no_process(tmp_path):
    marker = f"/tmp/tk{os.getpid()}"  # Ray's socket paths must stay short
    env = {**os.environ, "RAY_TMPDIR": marker}
    Path(marker).mkdir(exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "run",
        str(REPO / "configs" / "web-en-heuristics.yaml"),
    ]
    run = subprocess.Popen(
        [*command, "--output", str(tmp_path / "out")],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in run.stderr:  # wait until Ray is up and a stage runs
        if "stage 1/2" in line:
            break
    time.sleep(2)
    run.send_signal(signal.SIGKILL)
    run.wait()

    def left() -> list[int]:
        found = []
        for environ in Path("/proc").glob("[0-9]*/environ"):
            try:
                if (
                    marker.encode() in environ.read_bytes()
                    and int(environ.parent.name) != os.getpid()
                ):
                    found.append(int(environ.parent.name))
            except OSError:
                continue
        return found

    deadline = time.time() + 30
    while left() and time.time() < deadline:
        time.sleep(1)
    assert left() == []


# 3. A bad row is a rejected row, its original kept.


def test_a_lone_surrogate_and_undecodable_bytes_are_rejected_rows(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good = [json.dumps({"text": f"A sentence of plain text, number {i}. " * 6}) for i in range(6)]
    lines = [*good[:3], '{"text": "bad \\ud800 here"}', *good[3:]]
    data = ("\n".join(lines) + "\n").encode() + b'{"text": "caf\xe9 au lait"}\n'
    (folder / "a.jsonl").write_bytes(data)
    manifest = run_recipe(
        recipe(folder, tmp_path / "out", [{"exact_dedup": {}}]),
        "local",
        progress=False,
    )
    _, rejected = outputs(tmp_path / "out")
    reasons = dict(zip(rejected["id"].to_pylist(), rejected["reject_reason"].to_pylist()))
    assert (
        reasons["a.jsonl:3"] == "invalid:lone_surrogate"
        and reasons["a.jsonl:7"] == "invalid:invalid_utf8"
    )
    raw = rejected.filter(pa.compute.equal(rejected["id"], "a.jsonl:7"))["invalid_bytes"][0].as_py()
    assert raw == b'{"text": "caf\xe9 au lait"}'
    assert manifest["rows"] == {"in": 8, "kept": 6, "rejected": 2}


FAILING_STEPS = '''
from filters import Check, Filter
from pipeline.core.registry import register
import numpy as np


@register("fragile")
class Fragile(Filter):
    """Raises on any text holding 'boom'."""

    def checks(self, batch):
        texts = batch[self.params.text_column].to_pylist()
        if any("boom" in t for t in texts):
            raise ZeroDivisionError("no good")
        return [Check(np.zeros(len(texts), bool), "never")]
'''


def test_a_step_failing_on_a_row_rejects_that_row(tmp_path, monkeypatch):
    (tmp_path / "fragile_steps.py").write_text(FAILING_STEPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    texts = ["fine text"] * 9 + ["this goes boom"]
    write_parquet(tmp_path / "in" / "a.parquet", id=[f"r{i}" for i in range(10)], text=texts)
    spec = {
        "name": "f",
        "imports": ["fragile_steps"],
        "input": {"path": str(tmp_path / "in")},
        "output": {"path": str(tmp_path / "out")},
        "steps": [{"fragile": {}}],
    }
    run_recipe(parse_recipe(spec), "local", progress=False)
    kept, rejected = outputs(tmp_path / "out")
    row = rejected.to_pylist()[0]
    assert kept.num_rows == 9 and {k: v for k, v in row.items() if v is not None} == {
        "id": "r9",
        "text": "this goes boom",
        "reject_reason": "error:fragile",
        "rejected_by": "fragile",
        "error": "ZeroDivisionError: no good",
    }


# 4. One line for what used to be a traceback.


@pytest.mark.parametrize("cut", ["half", "first record"])
def test_a_truncated_gzip_file_is_one_line_naming_it(tmp_path, capsys, cut):
    data = gzip.compress(
        ("\n".join(json.dumps({"text": f"Line {i} of text."}) for i in range(500))).encode()
    )
    (tmp_path / "in").mkdir()
    end = len(data) // 2 if cut == "half" else 40  # 40: the plan's first look fails too
    (tmp_path / "in" / "cut.jsonl.gz").write_bytes(data[:end])
    (tmp_path / "r.yaml").write_text(
        f"name: x\ninput: {{path: {tmp_path / 'in'}}}\n"
        f"output: {{path: {tmp_path / 'out'}}}\nsteps: [c4]\n"
    )
    code, err = cli("run", str(tmp_path / "r.yaml"), "--runner", "local", "--quiet", capsys=capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(
        f"tamis: error: {tmp_path / 'in' / 'cut.jsonl.gz'}: cannot read jsonl file"
    )


def test_an_unwritable_output_is_one_line_naming_the_path(small_samples, tmp_path, capsys):
    out = "/sys/tamis-hardening-test"  # read-only even for root
    (tmp_path / "r.yaml").write_text(
        f"name: x\ninput: {{path: {small_samples}}}\noutput: {{path: {out}}}\nsteps: [c4]\n"
    )
    code, err = cli("run", str(tmp_path / "r.yaml"), "--runner", "local", "--quiet", capsys=capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"tamis: error: {out}: cannot write there")


def test_a_garbage_model_file_is_one_clear_error(tmp_path):
    (tmp_path / "q.bin").write_bytes(b"not a model at all" * 100)
    with pytest.raises(ModelNotFoundError, match=r"q.bin: not a fastText model"):
        QualityClassifier(model=str(tmp_path / "q.bin"))(["some text"])
    (tmp_path / "lm").mkdir()
    for name in ("model.bin", "sp.model"):
        (tmp_path / "lm" / name).write_bytes(b"garbage")
    with pytest.raises(ModelNotFoundError, match=r"cannot load the KenLM model"):
        KenlmPerplexity(model=str(tmp_path / "lm"))(["some text"])


def test_missing_models_and_columns_fail_before_anything_is_written(
    small_samples, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # outside the repository: models/ is not here
    cases = [
        ([{"quality_classifier": {"model": "quality-demo"}}], "set TAMIS_MODELS"),
        (
            [{"embed": {"model": "no-such-embedder"}}],
            "model 'no-such-embedder' is not a packaged model",
        ),
        ([{"c4": {"text_column": "body"}}], "step c4: no column 'body' in the input"),
    ]
    for steps, message in cases:
        with pytest.raises((ModelNotFoundError, RecipeError)) as found:
            run_recipe(recipe(small_samples, tmp_path / "out", steps), "local", progress=False)
        assert message in str(found.value)
        assert not (tmp_path / "out").exists()
    assert str(tmp_path / "models" / "quality-demo.bin") in str(
        pytest.raises(
            ModelNotFoundError,
            run_recipe,
            recipe(small_samples, tmp_path / "o", cases[0][0]),
            "local",
            progress=False,
        ).value
    )


def test_a_gpu_step_without_gpu_writes_nothing(small_samples, tmp_path):
    from pipeline.core.errors import TamisError

    with pytest.raises(TamisError, match="asks for GPUs"):
        run_recipe(
            recipe(small_samples, tmp_path / "out", [{"embed": {"gpus": 1}}]),
            "local",
            progress=False,
        )
    assert not (tmp_path / "out").exists()


# 5. Ids repeat.


def test_repeated_ids_stop_the_run_unless_ids_are_made(tmp_path):
    write_parquet(
        tmp_path / "in" / "a.parquet", id=["x"] * 50 + ["y"], text=[f"Text {i}." for i in range(51)]
    )
    with pytest.raises(
        SchemaError, match=r"1 ids repeat \('x' \(50 rows\), \.\.\.; 49 extra rows\)"
    ):
        run_recipe(recipe(tmp_path / "in", tmp_path / "out"), "local", progress=False)
    run_recipe(
        recipe(tmp_path / "in", tmp_path / "made", id_policy="file_row"), "local", progress=False
    )
    kept, rejected = outputs(tmp_path / "made")
    both = pa.concat_tables(
        [kept.select(["id", "source_id"]), rejected.select(["id", "source_id"])]
    )
    assert len(set(both["id"].to_pylist())) == 51 and both["source_id"].to_pylist().count("x") == 50


def test_files_of_one_name_in_two_folders_give_distinct_ids(tmp_path):
    for folder in ("a", "b"):
        write_parquet(tmp_path / "in" / folder / "out.parquet", text=["One.", "Two."])
    run_recipe(recipe(tmp_path / "in", tmp_path / "o"), "local", progress=False)
    kept, rejected = outputs(tmp_path / "o")
    ids = kept["id"].to_pylist() + rejected["id"].to_pylist()
    assert sorted(ids) == [
        "a/out.parquet:0",
        "a/out.parquet:1",
        "b/out.parquet:0",
        "b/out.parquet:1",
    ]


# 6. The output inside the input.


def test_an_output_inside_the_input_is_refused(small_samples, tmp_path):
    with pytest.raises(RecipeError, match="is inside the input"):
        run_recipe(recipe(small_samples, small_samples / "out"), "local", progress=False)
    with pytest.raises(RecipeError, match="is around the input"):
        run_recipe(recipe(small_samples, small_samples.parent), "local", progress=False)


def test_a_step_listed_twice_is_refused(tmp_path):
    with pytest.raises(RecipeError, match=r"step 2 \(c4\) repeats step 1"):
        recipe(tmp_path, tmp_path / "out", [{"c4": {}}, {"c4": {"min_sentences": 1}}])


def test_empty_files_and_emptied_shards_write_files_of_the_run_schema(tmp_path):
    """Found by tests/test_fuzz.py: a file of no rows, or whose rows all went before the
    last stage, wrote a file with no columns, and a folder read took its empty schema."""
    inp = tmp_path / "in"
    inp.mkdir()
    story = "The council met on Tuesday to discuss the budget for the city schools. " * 8
    empty = pa.array([], pa.string())
    pq.write_table(pa.table({"id": empty, "text": empty}), inp / "a.parquet")
    write_parquet(inp / "b.parquet", id=["b0", "b1"], text=["short text", "short"])
    write_parquet(inp / "c.parquet", id=["c0"], text=[story])
    (inp / "d.jsonl").write_text("")
    steps = [{"c4": {"remove_lines": True, "min_sentences": 1}}, {"exact_dedup": {}}]
    run_recipe(recipe(inp, tmp_path / "out", steps), "local", progress=False)
    for part in ("kept", "rejected"):
        schemas = {pq.read_schema(f) for f in (tmp_path / "out" / part).glob("*.parquet")}
        assert len(schemas) == 1, part
        table = pq.read_table(tmp_path / "out" / part)
        assert table.num_rows == {"kept": 1, "rejected": 2}[part]
        assert {"id", "text", "c4_lines_removed"} <= set(table.column_names)


# 8. Library classes on odd input behave as the pipeline does.


def test_library_classes_treat_odd_text_like_the_readers():
    kept, rejected = ExactDedup().split([None, "", "!!!", "???", 7, "a b", "A  B"])
    assert kept["text"].to_pylist() == ["!!!", "???", "a b"]
    assert rejected["reject_reason"].to_pylist() == [
        "duplicate:exact",
        "invalid:null_text",
        "invalid:empty_text",
        "invalid:not_a_string",
    ]
    scored = FastTextLangId()([None, "Bonjour tout le monde", 3])
    assert scored["lang"].to_pylist() == [None, "fr", None]
    assert FastTextLangId().reasons([None, 3]).to_pylist() == [
        "invalid:null_text",
        "invalid:not_a_string",
    ]
    table = pa.table({"text": pa.array([1, 2], pa.int64())})
    assert FastTextLangId().reasons(table).to_pylist() == ["invalid:not_a_string"] * 2
