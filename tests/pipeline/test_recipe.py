"""Recipe validation: errors name the step, the key and what was expected."""

from pathlib import Path

import pytest

from pipeline.core.errors import RecipeError
from pipeline.core.recipe import build_steps, load_recipe, parse_recipe

BASE = {"name": "t", "input": {"path": "in"}, "output": {"path": "out"}}


def error_of(steps=None, **changes):
    with pytest.raises(RecipeError) as err:
        parse_recipe({**BASE, **changes, "steps": steps or [{"c4": {}}]})
    return str(err.value)


def test_unknown_step_suggests_close_names():
    message = error_of([{"c4": {}}, {"gopher_qualty": {}}])
    assert "step 2" in message and "Did you mean gopher_quality?" in message


def test_unknown_key_names_step_and_key():
    message = error_of([{"gopher_quality": {"min_wrds": 3}}])
    assert "step 1 (gopher_quality): unknown key 'min_wrds'" in message
    assert "min_words" in message  # the keys that exist


def test_wrong_type_names_key_and_expectation():
    message = error_of([{"gopher_quality": {"min_words": "many"}}])
    assert "key 'min_words'" in message and "valid integer" in message


def test_out_of_bounds_value():
    assert "key 'max_bullet_lines_ratio'" in error_of(
        [{"gopher_quality": {"max_bullet_lines_ratio": 2}}]
    )


def test_unknown_top_level_key():
    assert "unknown key 'outptu'" in error_of(outptu={})


def test_no_steps():
    with pytest.raises(RecipeError) as err:
        parse_recipe({**BASE, "steps": []})
    assert str(err.value).endswith(": steps: give at least one step")  # not the whole recipe


def test_a_path_alone_stands_for_input_and_output(tmp_path):
    recipe = parse_recipe({"name": "t", "input": "in", "output": "out", "steps": [{"c4": {}}]})
    assert (recipe.input.path, recipe.output.path) == ("in", "out")
    (tmp_path / "r.yaml").write_text("name: t\ninput: in\noutput: out\nsteps: [c4: {}]\n")
    assert load_recipe(tmp_path / "r.yaml", output_path="other").output.path == "other"


@pytest.mark.parametrize("path", sorted(Path("configs").glob("*.yaml")), ids=str)
def test_shipped_recipes_are_valid(path):
    assert build_steps(load_recipe(path))


def test_heuristic_recipe_steps():
    recipe = load_recipe("configs/web-en-heuristics.yaml")
    names = [s.name for s in build_steps(recipe)]
    assert names == ["exact_dedup", "gopher_repetition", "gopher_quality", "c4", "fineweb_quality"]


def test_text_column_flows_to_steps():
    recipe = parse_recipe(
        {**BASE, "input": {"path": "in", "text_column": "body"}, "steps": [{"c4": {}}]}
    )
    assert build_steps(recipe)[0].params.text_column == "body"


def test_bad_yaml(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(path)
