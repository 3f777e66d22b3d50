"""The core's declared contracts: import direction, the executor interface, step kinds, and
score reuse keyed by everything that can change a score."""

from __future__ import annotations

import ast
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import Field

from pipeline.cli import parser
from pipeline.core.columns import set_column, text_list
from pipeline.core.errors import ManifestError
from pipeline.core.executor import Executor
from pipeline.core.recipe import parse_recipe
from pipeline.core.registry import register, registered
from pipeline.core.step import StepKind
from pipeline.run.executors import BUILTIN, make_executor, runner_names
from pipeline.run.runner import run_recipe
from scorers import Scorer, ScorerParams
from tests.conftest import REPO
from tests.pipeline.test_runners import outputs

PLUGIN_PACKAGES = ("filters", "scorers")


def module_level_imports(path) -> set[str]:
    """Top-level packages a module imports outside any function or class."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.partition(".")[0])
    return found


def test_pipeline_never_imports_the_step_packages_at_module_level():
    offenders = {
        str(path.relative_to(REPO)): sorted(module_level_imports(path) & set(PLUGIN_PACKAGES))
        for path in (REPO / "pipeline").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_whole_core_imports_without_filters_or_scorers():
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / "pipeline").rglob("*.py")
    )
    probe = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(set(sys.modules) & {set(PLUGIN_PACKAGES)!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_both_runners_implement_the_executor_and_the_cli_offers_the_table():
    assert list(BUILTIN) == ["local", "ray"] and runner_names()[:2] == ["local", "ray"]
    local = make_executor("local", cpu_fallback=True)
    assert isinstance(local, Executor) and local.cpu_fallback
    from pipeline.run.ray_executor import RayExecutor

    assert issubclass(RayExecutor, Executor)
    run = parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    (runner,) = [a for a in run._actions if a.dest == "runner"]
    assert list(runner.choices) == runner_names()


def test_every_step_declares_a_kind_its_base_agrees_with():
    from filters import Filter
    from pipeline.global_steps.base import GlobalStep

    expected = {Filter: StepKind.ROW, Scorer: StepKind.MODEL, GlobalStep: StepKind.GLOBAL}
    for name, step in registered().items():
        (kind,) = {k for base, k in expected.items() if issubclass(step, base)}
        assert step.kind is kind, name


@register("test_length_score")
class LengthScore(Scorer):
    """Text length in characters times `scale` (a test scorer whose author added `scale` later
    and never told reuse about it)."""

    outputs = {"length_score": pa.float32()}
    score_column = "length_score"
    decision_params = Scorer.decision_params | {"min"}

    class Params(ScorerParams):
        scale: float = Field(1.0, description="Multiplies the length.")
        min: float | None = Field(None, description="Lowest score kept.")

    def score(self, batch: pa.Table) -> pa.Table:
        lengths = [len(t) * self.params.scale for t in text_list(batch, self.params.text_column)]
        return set_column(batch, "length_score", pa.array(lengths, pa.float32()))

    def checks(self, scored: pa.Table):
        from pipeline.core.rows import threshold_checks

        return threshold_checks(scored["length_score"], "length_score", self.params.min, None)


def length_recipe(inp, out, **params) -> object:
    return parse_recipe(
        {
            "name": "lengths",
            "input": {"path": str(inp)},
            "output": {"path": str(out)},
            "steps": [{"test_length_score": params}],
        }
    )


def scores(out) -> dict[str, float]:
    kept, rejected = outputs(out)
    both = pa.concat_tables(
        [kept.select(["id", "length_score"]), rejected.select(["id", "length_score"])]
    )
    return dict(zip(both["id"].to_pylist(), both["length_score"].to_pylist(), strict=True))


def test_a_new_score_parameter_keys_reuse_without_being_declared(small_samples, tmp_path):
    run_recipe(length_recipe(small_samples, tmp_path / "a", scale=1.0), "local", progress=False)
    first = scores(tmp_path / "a")
    # A threshold only changes decisions: the scores are reused.
    reused = run_recipe(
        length_recipe(small_samples, tmp_path / "b", scale=1.0, min=500),
        "local",
        progress=False,
        reuse_scores=tmp_path / "a",
    )
    assert reused["run"]["reused_scores"]["columns"] == ["length_score"]
    # `scale` changes every score and was never listed anywhere: nothing is reused.
    rescored = run_recipe(
        length_recipe(small_samples, tmp_path / "c", scale=2.0),
        "local",
        progress=False,
        reuse_scores=tmp_path / "a",
    )
    assert rescored["run"]["reused_scores"]["columns"] == []
    second = scores(tmp_path / "c")
    valid = [i for i, s in first.items() if s is not None]
    assert valid and all(second[i] == 2 * first[i] for i in valid)


def test_a_new_step_version_is_neither_reused_nor_resumed(small_samples, tmp_path, monkeypatch):
    run_recipe(length_recipe(small_samples, tmp_path / "a"), "local", progress=False)
    monkeypatch.setattr(LengthScore, "version", 2)
    again = run_recipe(
        length_recipe(small_samples, tmp_path / "b"),
        "local",
        progress=False,
        reuse_scores=tmp_path / "a",
    )
    assert again["run"]["reused_scores"]["columns"] == []
    with pytest.raises(
        ManifestError, match=r"other versions of its steps \(test_length_score v1 -> v2\)"
    ):
        run_recipe(length_recipe(small_samples, tmp_path / "a"), "local", progress=False)


def test_another_model_file_under_the_same_name_is_not_reused(small_samples, tmp_path):
    from scorers import QualityClassifier

    model = tmp_path / "q.bin"
    model.write_bytes(b"first model")
    step = QualityClassifier(model=str(model))
    key, digest = step.reuse_key(), step.model_digest()
    model.write_bytes(b"another model")
    assert step.reuse_key() == key and step.model_digest() != digest
    model.unlink()
    assert step.model_digest() is None  # not on this machine: taken on its name


def test_scores_keep_their_values_through_reuse(small_samples, tmp_path):
    run_recipe(length_recipe(small_samples, tmp_path / "a"), "local", progress=False)
    run_recipe(
        length_recipe(small_samples, tmp_path / "b", min=300),
        "local",
        progress=False,
        reuse_scores=tmp_path / "a",
    )
    kept, _ = outputs(tmp_path / "b")
    assert pc.min(kept["length_score"]).as_py() >= 300
    assert scores(tmp_path / "a") == scores(tmp_path / "b")


ROW_STEP_VARIANTS = [
    ("c4", {}),
    ("c4", {"remove_lines": True, "stats": True}),
    ("gopher_quality", {"stats": True}),
    ("gopher_repetition", {"stats": True}),
    ("fineweb_quality", {"stats": True}),
    ("fineweb_quality", {}),
    ("extract", {"html_column": "html"}),
]


@pytest.mark.parametrize(("name", "params"), ROW_STEP_VARIANTS)
def test_row_steps_add_exactly_the_columns_they_declare(name, params):
    from pipeline.core.registry import get_step

    page = "<html><body><article><p>" + "The council met on Tuesday. " * 20 + "</p></article>"
    batch = pa.table(
        {
            "id": ["a", "b"],
            "text": ["The council met on Tuesday to discuss the budget. " * 30, "short"],
            "html": [page, page],
        }
    )
    step = get_step(name)(params)
    kept, rejected = step.split(batch)
    added = {f.name: f.type for f in kept.schema if f.name not in batch.column_names}
    declared = {k: v for k, v in step.output_columns().items() if k not in batch.column_names}
    assert added == declared
