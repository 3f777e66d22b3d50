"""`tamis train classifier` on labelled annotations, then the `embedding_classifier` scorer:
alone, in a recipe with `keep_top`, and reusing an `embedding` column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main as tamis
from pipeline.core.columns import embedding_array
from pipeline.core.errors import ModelNotFoundError
from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe
from scorers.embedding_classifier import EmbeddingClassifier

pytestmark = pytest.mark.slow
pytest.importorskip("sentence_transformers", reason="pip install sentence-transformers")


@pytest.fixture(scope="module")
def head_model(labelled_annotations: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "edu-head"
    argv = ["train", "classifier", "--annotations", str(labelled_annotations), "--out", str(out)]
    assert tamis(argv) == 0
    return out


def test_train_head_prints_metrics_and_writes_card(
    head_model: Path, labelled_annotations: Path
) -> None:
    card = json.loads((head_model / "card.json").read_text())
    assert card["kind"] == "head" and card["task"] == "regression" and card["embedder"] == "minilm"
    assert card["teacher"] == {"model": "samples' source column"}
    data, found = card["data"], card["metrics_heldout"]
    assert data["train"] + data["heldout"] == data["rated"] and data["stratified"]
    assert data["annotations"] == str(labelled_annotations)
    # Reference text vs synthetic noise is an easy split: the head must learn it.
    assert found["keep_f1"] > 0.75 and found["spearman"] > 0.5, found
    assert sorted(p.name for p in head_model.iterdir()) == ["card.json", "head.npz"]


def test_classification_and_fasttext_kinds(
    labelled_annotations: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "classifier", "--annotations", str(labelled_annotations)]
    assert tamis([*base, "--out", str(tmp_path / "c"), "--task", "classification"]) == 0
    assert "macro F1" in capsys.readouterr().out
    assert tamis([*base, "--out", str(tmp_path / "f"), "--kind", "fasttext"]) == 0
    printed = capsys.readouterr().out
    assert "Spearman" in printed and "fasttext" in printed
    scorer = EmbeddingClassifier(model=str(tmp_path / "f"))
    scored = scorer(["The committee approved the annual budget after a long debate.", "buy"])
    assert scored["edu_score"].null_count == 0


def test_scorer_reuses_an_embedding_column(head_model: Path) -> None:
    scorer = EmbeddingClassifier(model=str(head_model))
    texts = ["The heart pumps blood through the arteries to every organ.", "click here buy now"]
    from_text = scorer(texts)["edu_score"].to_numpy()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    given = pa.table({"text": texts, "embedding": embedding_array(vectors)})
    reused = scorer(given)["edu_score"].to_numpy()
    expected = scorer._head.predict(vectors)  # noqa: SLF001 - the head on the given vectors
    np.testing.assert_allclose(reused, expected, rtol=1e-5)
    assert not np.allclose(reused, from_text)
    wrong = pa.table({"text": texts, "embedding": embedding_array(vectors[:, :10])})
    with pytest.raises(ModelNotFoundError, match="10-d vectors, the classifier needs 384-d"):
        scorer(wrong)


def test_recipe_keeps_top_scores_with_and_without_embed(
    head_model: Path, samples: Path, tmp_path: Path
) -> None:
    def run(steps: list[dict[str, object]], name: str) -> pa.Table:
        recipe = {
            "name": name,
            "input": {"path": str(samples)},
            "output": {"path": str(tmp_path / name)},
            "steps": steps,
        }
        run_recipe(parse_recipe(recipe), "local", limit=120, progress=False)
        return pq.read_table(tmp_path / name / "kept").sort_by("id")

    classify = {"embedding_classifier": {"model": str(head_model), "keep_top": 0.5}}
    alone = run([classify], "alone")
    embedded = run([{"embed": {}}, classify], "embedded")
    assert 40 <= alone.num_rows <= 70 and "edu_score" in alone.column_names
    assert alone["id"].equals(embedded["id"])
    np.testing.assert_allclose(
        alone["edu_score"].to_numpy(), embedded["edu_score"].to_numpy(), atol=1e-4
    )
