"""The README's "Write your own step" section runs as written: its code becomes a module, its
recipe imports that module, and both runners give the same output."""

from __future__ import annotations

import ast
import re

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe
from tests.conftest import REPO
from tests.pipeline.test_runners import outputs

SECTION = "## Write your own step"


def readme_blocks(language: str) -> list[str]:
    """The fenced `language` blocks of the README's step-writing section, in order."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(SECTION) : text.index("\n## ", text.index(SECTION) + 1)]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


@pytest.fixture
def readme_recipe(tmp_path, small_samples):
    """The section's recipe, reading 60 rows of each sample shard, with its module beside it."""
    folder = tmp_path / "recipe"
    folder.mkdir()
    (folder / "my_steps.py").write_text("\n\n".join(readme_blocks("python")))
    small = tmp_path / "readme-in"
    small.mkdir()
    for shard in small_samples.glob("*.parquet"):
        pq.write_table(pq.read_table(shard).slice(0, 60), small / shard.name)
    (recipe,) = [yaml.safe_load(block) for block in readme_blocks("yaml")]
    recipe["input"]["path"] = str(small)

    def at(out):
        return parse_recipe({**recipe, "output": {"path": str(out)}}, "README", folder)

    return at


def test_one_step_in_your_own_code_runs_as_written(monkeypatch):
    text = (REPO / "README.md").read_text()
    start = text.index("## One step in your own code")
    (code,) = re.findall(r"```python\n(.*?)```", text[start : text.index("\n## ", start + 1)], re.S)
    monkeypatch.chdir(REPO)
    names: dict = {}
    exec(code, names)
    shown = re.findall(r"^(\S.*?)\s+# (\[.*\])$", code, re.M)  # `expr  # [result]` lines
    assert len(shown) >= 2
    for expression, result in shown:
        assert eval(expression, names) == ast.literal_eval(result), expression


def test_the_section_has_a_filter_a_scorer_and_a_dedup_method():
    code = "\n".join(readme_blocks("python"))
    for base in ("(Filter)", "(Scorer)", "(Deduplicator)"):
        assert base in code


@pytest.mark.slow
def test_readme_steps_run_on_both_runners(readme_recipe, tmp_path, ray_session):
    manifests = {}
    for runner in ("local", "ray"):
        manifests[runner] = run_recipe(readme_recipe(tmp_path / runner), runner, progress=False)
    kept_local, rejected_local = outputs(tmp_path / "local")
    kept_ray, rejected_ray = outputs(tmp_path / "ray")
    # The same rows go the same way; only the printed cut-off may differ in its last digit.
    decided = ["id", "rejected_by", "duplicate_of"]
    assert rejected_local.select(decided) == rejected_ray.select(decided)
    rule = pc.replace_substring_regex(rejected_local["reject_reason"], r"<[0-9.e-]+$", "<")
    assert rule == pc.replace_substring_regex(rejected_ray["reject_reason"], r"<[0-9.e-]+$", "<")
    assert kept_local.drop_columns(["topic_similarity"]) == kept_ray.drop_columns(
        ["topic_similarity"]
    )
    # Model batches differ between runners, so embeddings agree to float precision only.
    for local, ray in ((kept_local, kept_ray), (rejected_local, rejected_ray)):
        difference = pc.abs(pc.subtract(local["topic_similarity"], ray["topic_similarity"]))
        assert (pc.max(difference).as_py() or 0) < 1e-5
    steps = {s["step"]: s for s in manifests["local"]["steps"]}
    assert steps["digit_ratio"]["reasons"] or steps["digit_ratio"]["rejected"] == 0
    assert steps["url_dedup"]["reasons"] == {"duplicate:url": steps["url_dedup"]["rejected"]}
    assert steps["url_dedup"]["rejected"] > 0  # the samples repeat some URLs
    cut = steps["topic_similarity.keep_top"]
    assert cut["rejected"] == pytest.approx(cut["rows_in"] / 2, abs=2)
    assert (
        pc.min(kept_local["topic_similarity"]).as_py()
        >= pc.max(
            rejected_local.filter(pc.equal(rejected_local["rejected_by"], cut["step"]))[
                "topic_similarity"
            ]
        ).as_py()
    )
