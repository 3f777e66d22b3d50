"""Recipe model: a validated YAML description of input, output and steps."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.core.errors import RecipeError
from pipeline.core.registry import get_step, import_modules


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """Where the documents are and which columns hold text and ids."""

    path: str = Field(description="File, folder, glob or saved HF dataset.")
    format: Literal["auto", "parquet", "jsonl", "hf"] = Field(
        "auto", description="File format (jsonl also reads a JSON array)."
    )
    records: Literal["auto", "text", "alpaca", "messages", "sharegpt"] = Field(
        "auto",
        description="text: documents in text_column; alpaca, messages or sharegpt: instruction "
        "records; auto: text when the first file has text_column, else the records its fields "
        "show (each file's own kind).",
    )
    text_column: str = Field("text", description="Column holding the document text.")
    id_column: str = Field("id", description="Column holding ids; made from file:row when absent.")
    id_policy: Literal["unique", "file_row"] = Field(
        "unique",
        description="unique: the id column's values must not repeat (checked over the whole "
        "input); file_row: ids made from file and row, the column kept as source_<id_column>.",
    )
    max_text_chars: int = Field(
        1_000_000, gt=0, description="Longer texts are invalid:text_too_long."
    )
    chunk_rows: int = Field(4096, gt=0, description="Rows read and processed at a time.")
    max_invalid_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A file with a larger share of invalid rows stops the run (a wrong "
        "text_column or format, most likely).",
    )


class OutputSpec(_Strict):
    """Where kept rows, rejected rows and the manifest go."""

    path: str = Field(description="Output folder.")
    format: Literal["keep", "alpaca", "messages", "sharegpt"] = Field(
        "keep",
        description="Instruction records: write kept records in this kind (keep: as read).",
    )
    report: bool = Field(True, description="Write OUT/report.html at the end of the run.")
    tokenizer: str | None = Field(
        "smollm2-135m",
        description="Count tokens in, kept and rejected per step with this tokenizer: a "
        "packaged name, a tokenizer.json or a folder holding one, or a hub id; null: no counts.",
    )


class StepSpec(_Strict):
    """One step: a registered name and its parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class Recipe(_Strict):
    """A whole recipe, as written in configs/*.yaml."""

    name: str
    description: str = ""
    imports: list[str] = Field(
        default_factory=list,
        description="Modules to import before the steps are looked up (they register steps); "
        "searched on sys.path, then beside the recipe and in the working directory.",
    )
    input: InputSpec
    output: OutputSpec
    steps: list[StepSpec] = Field(
        description="The steps, in order; may be empty only to convert records (output.format)."
    )

    @model_validator(mode="after")
    def _has_work(self) -> Recipe:
        if not self.steps and self.output.format == "keep":
            raise ValueError("steps: give at least one step")
        return self

    @field_validator("input", "output", mode="before")
    @classmethod
    def _path_alone(cls, value: Any) -> Any:
        """`input: shards/` is short for `input: {path: shards/}`."""
        return {"path": value} if isinstance(value, str) else value

    @field_validator("steps", mode="before")
    @classmethod
    def _steps_from_mappings(cls, value: Any) -> Any:
        """Accept the YAML form `- step_name: {params}`."""
        if not isinstance(value, list):
            return value
        steps = []
        for i, item in enumerate(value, 1):
            if isinstance(item, dict) and set(item) - {"name", "params"} and len(item) == 1:
                ((name, params),) = item.items()
                item = {"name": name, "params": params or {}}
            elif isinstance(item, str):
                item = {"name": item, "params": {}}
            elif not isinstance(item, dict):
                raise ValueError(f"step {i}: expected `- step_name: {{params}}`, got {item!r}")
            steps.append(item)
        return steps

    def fingerprint(self) -> str:
        """A stable hash of everything that changes the output."""
        settings = self.model_dump(exclude={"output": {"report"}})  # the report changes no row
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _describe(err: ValidationError, where: str) -> str:
    """One line per problem: the key and what was expected."""
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parts.append(f"{where}unknown key {key!r}")
        elif not key:  # a rule over several keys: its message names them
            parts.append(f"{where}{message}")
        else:
            parts.append(f"{where}key {key!r}: {message} (got {e.get('input')!r})")
    return "; ".join(parts)


def parse_recipe(data: Any, source: str = "recipe", folder: Path | None = None) -> Recipe:
    """A Recipe from a mapping, with every step's parameters checked against its class. The
    recipe's `imports` are imported first (also searched in `folder` and the working
    directory)."""
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: expected a mapping with name, input, output and steps")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as err:
        raise RecipeError(f"{source}: {_describe(err, '')}") from None
    if recipe.imports:
        for place in (folder, Path.cwd()):
            if place is not None and str(place) not in sys.path:
                sys.path.append(str(place))
        try:
            import_modules(recipe.imports)
        except RecipeError as err:
            raise RecipeError(f"{source}: {err}") from None
    seen: dict[str, int] = {}
    for i, spec in enumerate(recipe.steps, 1):
        if spec.name in seen:
            # Rejections are counted, reused and reported by step name.
            raise RecipeError(
                f"{source}: step {i} ({spec.name}) repeats step {seen[spec.name]}; a recipe "
                "runs each step once: merge their parameters into one"
            )
        seen[spec.name] = i
        try:
            step_class = get_step(spec.name)
        except RecipeError as err:
            raise RecipeError(f"{source}: step {i}: {err}") from None
        try:
            step_class.Params.model_validate(spec.params)
        except ValidationError as err:
            known = ", ".join(step_class.Params.model_fields)
            raise RecipeError(
                f"{source}: step {i} ({spec.name}): {_describe(err, '')} (keys: {known})"
            ) from None
    return recipe


def load_recipe(
    path: str | Path, input_path: str | None = None, output_path: str | None = None
) -> Recipe:
    """Read and validate a YAML recipe; `input_path` / `output_path` override its paths."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe {str(path)!r} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML: {err}") from None
    if isinstance(data, dict):
        for key, given in (("input", input_path), ("output", output_path)):
            if given:
                spec = data.get(key) or {}
                data[key] = {**(spec if isinstance(spec, dict) else {}), "path": given}
    return parse_recipe(data, str(path), path.resolve().parent)


def build_steps(recipe: Recipe, text_column: str | None = None) -> list[Any]:
    """Step instances for a recipe; text and id columns default to the input's (or to
    `text_column`: instruction records' conversation text). An output in another record kind
    ends with the `convert_records` step."""
    steps = []
    specs = [(spec.name, spec.params) for spec in recipe.steps]
    if recipe.output.format != "keep":
        specs.append(("convert_records", {"to": recipe.output.format}))
    for name, given in specs:
        step_class = get_step(name)
        fields = step_class.Params.model_fields
        defaults = {
            "text_column": text_column or recipe.input.text_column,
            "id_column": recipe.input.id_column,
        }
        if given.get("field") is not None:
            defaults.pop("text_column")
        params = {k: v for k, v in defaults.items() if k in fields} | given
        step = step_class(params)
        steps.extend(step.prerequisites(steps))
        steps.append(step)
    return steps
