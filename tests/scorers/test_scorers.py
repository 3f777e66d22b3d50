"""Scorers on real models: packaged lid.176, a quality classifier and a KenLM trained here."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.core.errors import MissingDependencyError, ModelNotFoundError
from scorers import FastTextLangId, KenlmPerplexity, QualityClassifier, Scorer, resolve_model
from scorers.ccnet import normalise
from scorers.train_quality import roc_auc
from tests.conftest import CLEAN, by_source

ENGLISH = "The river rose quickly after three days of heavy rain, and the bridge was closed."
FRENCH = "La rivière a monté rapidement après trois jours de pluie et le pont a été fermé."


def test_lang_id_columns_and_reasons():
    step = FastTextLangId(languages=["en"], min_score=0.5)
    scored = step([ENGLISH, FRENCH, "ok"])
    assert scored["lang"].to_pylist()[:2] == ["en", "fr"]
    assert scored["lang_score"].type == pa.float32()
    assert step.reasons([ENGLISH, FRENCH]).to_pylist() == [None, "lang_id:lang=fr"]


def test_lang_id_accepts_dataframe_and_table():
    step = FastTextLangId()
    assert step(pd.DataFrame({"text": [FRENCH]}))["lang"].to_pylist() == ["fr"]
    assert step(pa.table({"body": [ENGLISH]}).rename_columns(["text"]))["lang"].to_pylist() == [
        "en"
    ]


def test_lang_id_separates_english_from_other_languages(sample_docs):
    step = FastTextLangId(languages=["en"], min_score=0.65)
    english = step.reasons(by_source(sample_docs, ["wikitext", "state_union", "inaugural"]))
    foreign = step.reasons(by_source(sample_docs, prefix="noise:non_english"))
    assert english.null_count / len(english) >= 0.98
    assert 1 - foreign.null_count / len(foreign) >= 0.98


def test_lang_id_reads_short_chinese_and_japanese():
    # lid.176 reads a run of unspaced Han characters as one word it does not know: these read
    # as ko 0.97, vi 0.74, hy 0.70 and wuu before each character was spaced off
    chinese = [
        "把垃圾拿出去。",
        "腐败往往源自人类内心的贪婪欲望。",
        "确定三种提高学习的策略",
        "记忆单词的策略。",
    ]
    japanese = ["日本の首都はどこですか？", "今日は良い天気ですね。"]
    assert FastTextLangId()(chinese + japanese)["lang"].to_pylist() == ["zh"] * 4 + ["ja"] * 2
    assert FastTextLangId(space_cjk=False)(chinese[:1])["lang"].to_pylist() == ["ko"]
    # English that names a few Chinese words is left as it is, and stays English
    english = ["Ma Yuan (马远) painted 踏歌图 around 1200.", "What does “你好” mean?"]
    assert FastTextLangId()(english)["lang"].to_pylist() == ["en", "en"]


def test_scorers_pickle_without_their_model():
    step = FastTextLangId()
    step([ENGLISH])  # loads the model
    clone = pickle.loads(pickle.dumps(step))
    assert len(pickle.dumps(step)) < 2000 and clone([FRENCH])["lang"].to_pylist() == ["fr"]


def test_quality_classifier_card_and_ranking(quality_model, sample_docs):
    card = json.loads(quality_model.with_suffix(".json").read_text())
    assert card["metrics_heldout"]["auc"] >= 0.95
    assert card["data"]["heldout_docs"] > 100
    step = QualityClassifier(model=str(quality_model))
    clean = step(by_source(sample_docs, CLEAN))["quality_score"].to_numpy()
    noise = step(by_source(sample_docs, ["noise:boilerplate", "noise:keyword_spam"]))[
        "quality_score"
    ].to_numpy()
    labels = np.r_[np.ones(len(clean)), np.zeros(len(noise))]
    assert roc_auc(labels, np.r_[clean, noise]) >= 0.95


def test_quality_classifier_threshold_reason(quality_model):
    step = QualityClassifier(model=str(quality_model), min=0.5)
    spam = "best cheap deals click here buy now " * 30
    kept, rejected = step.split([spam])
    assert rejected["reject_reason"].to_pylist() == ["quality_classifier:quality_score<0.5"]
    assert "quality_score" in rejected.column_names and kept.num_rows == 0


def test_quality_classifier_unknown_label(quality_model):
    with pytest.raises(ModelNotFoundError, match="labels: "):
        QualityClassifier(model=str(quality_model), positive_label="good")([ENGLISH])


def test_ccnet_normalisation():
    # As CCNet: an em dash becomes " - " (spaces are not collapsed), digits become 0.
    assert normalise("  Café №1 — “Quote” …\x07 ") == 'cafe №0  -  "quote" ...'


def test_kenlm_perplexity_follows_ccnet(kenlm_model):
    import kenlm
    import sentencepiece

    step = KenlmPerplexity(model=str(kenlm_model))
    text = "The river rose quickly.\n\nThe bridge was closed for two days."
    lm = kenlm.Model(str(kenlm_model / "model.bin"))
    sp = sentencepiece.SentencePieceProcessor(model_file=str(kenlm_model / "sp.model"))
    lines = [normalise(x) for x in text.split("\n") if x.strip()]
    pieces = [sp.encode(x, out_type=str) for x in lines]
    log10 = sum(lm.score(" ".join(p)) for p in pieces)
    expected = round(10 ** (-log10 / sum(len(p) + 1 for p in pieces)), 1)
    assert step([text])["kenlm_perplexity"][0].as_py() == pytest.approx(expected, rel=1e-6)
    # no usable text, no score: null, as for every scorer (the pipeline rejects such rows)
    assert step(["   \n  ", None])["kenlm_perplexity"].to_pylist() == [None, None]


def test_kenlm_wikipedia_scores_below_noise(kenlm_model, sample_docs):
    step = KenlmPerplexity(model=str(kenlm_model), buckets=True, max_perplexity=1e9)
    speech = step(by_source(sample_docs, ["state_union"]))
    noise = step(by_source(sample_docs, ["noise:keyword_spam", "noise:link_list"]))
    foreign = step(by_source(sample_docs, prefix="noise:non_english"))
    assert np.median(speech["kenlm_perplexity"]) < np.median(noise["kenlm_perplexity"])
    assert np.median(speech["kenlm_perplexity"]) < np.median(foreign["kenlm_perplexity"])
    assert set(speech["kenlm_bucket"].to_pylist()) <= {"head", "middle", "tail"}


def test_kenlm_threshold_reason(kenlm_model):
    step = KenlmPerplexity(model=str(kenlm_model), max_perplexity=50)
    assert step.reasons(["zzq xqv wwk plo qqq"]).to_pylist() == [
        "kenlm_perplexity:kenlm_perplexity>50"
    ]


def test_resolve_model(monkeypatch, tmp_path):
    assert resolve_model("lid176").name == "lid.176.ftz"
    (tmp_path / "mine.bin").write_bytes(b"x")
    monkeypatch.setenv("TAMIS_MODELS", str(tmp_path))
    assert resolve_model("mine") == tmp_path / "mine.bin"
    with pytest.raises(ModelNotFoundError, match="make models"):
        resolve_model("no-such-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads the variable once, at import: say it to the loaded module too
    # (otherwise it tries the network until its timeouts end, ~20 s)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFoundError, match="hub id"):
        resolve_model("some-org/some-model:model.bin")


def test_missing_dependency_names_the_pip_command():
    class NeedsNothingReal(Scorer):
        name = "needs_nothing_real"
        requires = (("no_such_module_xyz", "no-such-package==1.0"),)

    with pytest.raises(MissingDependencyError, match="pip install 'no-such-package==1.0'"):
        NeedsNothingReal()(["text"])


def test_scorers_take_empty_batches(quality_model, kenlm_model):
    empty = pa.table({"text": pa.array([], pa.string())})
    for step in (
        FastTextLangId(languages=["en"]),
        QualityClassifier(model=str(quality_model), min=0.5),
        KenlmPerplexity(model=str(kenlm_model), max_perplexity=10, buckets=True),
    ):
        kept, rejected = step.split(empty)
        assert kept.num_rows == rejected.num_rows == 0
        assert set(step.outputs) & set(kept.column_names)


def test_embeddings_in_float16_agree_with_float32_within_the_gpu_checks_tolerance():
    # CUDA runs MiniLM in float16 by default; benchmarks/gpu_check.py asks cosine >= 0.999 there.
    from pipeline.core.columns import embedding_matrix
    from scorers import SentenceEmbedder

    texts = [
        "The river rose after three days of heavy rain, so the town closed the old bridge.",
        "Natalia sold clips to 48 of her friends in April, and half as many in May.",
        "cheap cheap buy now click best price deal deal click here now free free win",
    ]
    full = embedding_matrix(SentenceEmbedder(max_tokens=64)(texts)["embedding"])
    half = embedding_matrix(SentenceEmbedder(max_tokens=64, dtype="float16")(texts)["embedding"])
    cosines = (full * half).sum(axis=1)
    assert cosines.min() >= 0.999
    assert not (full == half).all()  # it did run in another precision
