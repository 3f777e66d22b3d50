"""Users' own steps: an installed plugin package (entry point `tamis.steps`) and a module a
recipe imports, on both runners, with their origin shown and their needs checked first."""

from __future__ import annotations

import textwrap

import pytest

from pipeline.cli import main
from pipeline.core.errors import MissingDependencyError, RecipeError
from pipeline.core.recipe import load_recipe, parse_recipe
from pipeline.core.registry import origin
from pipeline.run.runner import run_recipe
from tests.pipeline.test_runners import outputs

PLUGIN = "tamis-example-steps"
pytest.importorskip("tamis_example_steps", reason="make setup installs tests/plugins/*")


def plugin_recipe(inp, out) -> dict:
    return {
        "name": "plugin",
        "input": {"path": str(inp), "chunk_rows": 200},
        "output": {"path": str(out)},
        "steps": [
            {"max_line_length": {"max_chars": 600}},
            {"prefix_dedup": {"chars": 120}},
            {"lang_mix": {"max_mix": 0.5, "keep_bottom": 0.9}},
        ],
    }


def test_list_shows_plugin_steps_with_their_package(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, kind in [
        ("max_line_length", "row"),
        ("lang_mix", "model"),
        ("prefix_dedup", "global"),
    ]:
        assert f"\n{name} (v1, {kind}, from {PLUGIN} 0.1.0)" in f"\n{out}"
    assert origin("lang_mix").startswith(PLUGIN)


@pytest.mark.slow
def test_plugin_steps_run_the_same_on_both_runners(small_samples, tmp_path, ray_session):
    manifests = {
        runner: run_recipe(
            parse_recipe(plugin_recipe(small_samples, tmp_path / runner)), runner, progress=False
        )
        for runner in ("local", "ray")
    }
    local, ray = outputs(tmp_path / "local"), outputs(tmp_path / "ray")
    assert local[0].equals(ray[0]) and local[1].equals(ray[1])
    steps = {s["step"]: s for s in manifests["local"]["steps"]}
    assert set(steps["max_line_length"]["reasons"]) == {"max_line_length:line_length>600"}
    assert set(steps["prefix_dedup"]["reasons"]) == {"duplicate:prefix"}
    assert steps["lang_mix"]["rejected"] > 0 and steps["lang_mix.keep_bottom"]["rejected"] > 0
    assert "lang_mix" in local[0].column_names


MY_STEPS = '''
import numpy as np
from pipeline.core.registry import register
from filters import Check, Filter


@register("vowel_free_words")
class VowelFreeWords(Filter):
    """Reject rows where a tenth of the words have no vowel (keyboard mash, codes)."""

    def checks(self, batch):
        words = [t.split() for t in batch[self.params.text_column].to_pylist()]
        share = np.array(
            [sum(not set(w.lower()) & set("aeiouy") for w in ws) / max(len(ws), 1) for ws in words]
        )
        return [Check(share > 0.1, "vowel_free>0.1")]
'''


@pytest.mark.slow
def test_a_module_the_recipe_imports_runs_on_ray_workers(small_samples, tmp_path, ray_session):
    """The module lives only beside the recipe: Ray workers get it by value, not by import."""
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "my_vowel_steps.py").write_text(textwrap.dedent(MY_STEPS))
    for runner in ("local", "ray"):
        (folder / f"{runner}.yaml").write_text(
            f"name: mine\nimports: [my_vowel_steps]\ninput: {{path: {small_samples}}}\n"
            f"output: {{path: {tmp_path / runner}}}\nsteps:\n  - vowel_free_words: {{}}\n"
        )
        manifest = run_recipe(load_recipe(folder / f"{runner}.yaml"), runner, progress=False)
        assert manifest["steps"][1]["reasons"]["vowel_free_words:vowel_free>0.1"] > 0
    assert outputs(tmp_path / "local")[1].equals(outputs(tmp_path / "ray")[1])
    assert origin("vowel_free_words") == "imports: my_vowel_steps"


def test_an_unimportable_module_is_one_line(tmp_path):
    with pytest.raises(RecipeError, match=r"imports: cannot import 'no_such_steps_mod'"):
        parse_recipe(
            {
                "name": "x",
                "imports": ["no_such_steps_mod"],
                "input": {"path": str(tmp_path)},
                "output": {"path": str(tmp_path / "out")},
                "steps": [{"c4": {}}],
            }
        )


NEEDS_MISSING = '''
from pipeline.core.registry import register
from scorers import Requirement, Scorer


@register("needs_a_missing_module")
class NeedsAMissingModule(Scorer):
    """A scorer whose model package is not installed."""

    requires = (Requirement("no_such_model_pkg", "no-such-model-pkg==1.0", "models"),)
'''


def test_missing_packages_stop_the_run_before_any_data_is_read(small_samples, tmp_path):
    (tmp_path / "missing_steps.py").write_text(NEEDS_MISSING)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"name: m\nimports: [missing_steps]\ninput: {{path: {small_samples}}}\n"
        f"output: {{path: {tmp_path / 'out'}}}\nsteps:\n  - c4: {{}}\n"
        "  - needs_a_missing_module: {}\n"
    )
    expected = (
        r"step needs_a_missing_module needs the 'no_such_model_pkg' module: "
        r"pip install 'tamis\[models\]' \(or pip install 'no-such-model-pkg==1.0'\)"
    )
    with pytest.raises(MissingDependencyError, match=expected):
        run_recipe(load_recipe(recipe), "local", progress=False)
    assert not (tmp_path / "out").exists()  # nothing was written
