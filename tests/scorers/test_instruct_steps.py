"""Instruction steps on handwritten records: every instruct_rules reason, IFD with the packaged
SmolLM2 (a matching answer scores below a swapped one; a cut answer has a low end_prob), and
decontamination against benchmark files."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from pipeline.core.recipe import parse_recipe
from pipeline.io.records import with_fields
from pipeline.run.runner import run_recipe
from scorers import Decontaminate, InstructionFollowingDifficulty, InstructRules
from tests.pipeline.test_runners import outputs

GSM = [
    (
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
        "in May. How many clips did Natalia sell altogether in April and May?",
        "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in "
        "April and May.",
    ),
    (
        "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of "
        "babysitting. How much did she earn?",
        "Weng earns 12/60 = $0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $10.",
    ),
    (
        "Betty is saving money for a new wallet which costs $100. Betty has only half of the "
        "money she needs. Her parents decided to give her $15 for that purpose, and her "
        "grandparents twice as much as her parents. How much more money does Betty need?",
        "In the beginning, Betty has only 100 / 2 = $50.\nBetty's grandparents gave her 15 * 2 "
        "= $30.\nThis means, Betty needs 100 - 50 - 30 - 15 = $5 more.",
    ),
]


def records(pairs: list[tuple[str, str]]) -> pa.Table:
    rows = [{"instruction": q, "input": "", "output": a} for q, a in pairs]
    table, reasons = with_fields(pa.Table.from_pylist(rows), "alpaca")
    assert reasons == [None] * len(rows)
    return table


RULE_CASES = [
    (GSM[0][0], GSM[0][1] + "<|im_end|>", "template_residue"),
    ("Give me the link to the docs.", "https://example.com/docs", "placeholder_response"),
    (
        "Write a cover letter.",
        "Dear Sir,\n\nI am applying.\n\nSincerely,\n[Your Name]",
        "placeholder_response",
    ),
    (GSM[1][0], "As an AI language model, I cannot do your homework.", "refusal"),
    ("Write a function.", "```python\ndef f():\n    return 1", "truncated:code_fence"),
    (
        GSM[1][0],
        "Weng earns 12/60 = $0.2 per minute. Working 50 minutes, she earned 0.2 x 50 and",
        "truncated:mid_sentence",
    ),
    ("Say something.", "...", "placeholder_response"),
    ("Explain. " + "x " * 300, "Yes.", "response_ratio<0.02"),
    (GSM[0][0], GSM[0][0], "repeats_prompt"),
    (
        "Describe a loop.",
        " ".join(["the loop goes on and on again"] * 12),
        "response_repetition>0.3",
    ),
    (GSM[0][0], "\n".join(reversed(GSM[0][1].splitlines())), "steps_out_of_order"),
    (
        GSM[2][0],
        "This means, Betty needs 100 - 50 - 30 - 15 = $5 more. In the beginning, Betty has "
        "only 100 / 2 = $50.\nBetty's grandparents gave her 15 * 2 = $30.",
        "steps_out_of_order",
    ),
    (
        GSM[2][0],
        "La cartera cuesta cien dólares y Betty tiene la mitad del dinero que necesita.",
        "lang_mismatch",
    ),
]


@pytest.mark.parametrize("prompt,answer,reason", RULE_CASES)
def test_each_instruction_rule(prompt, answer, reason):
    assert InstructRules().reasons(records([(prompt, answer)])).to_pylist() == [
        f"instruct_rules:{reason}"
    ]


def test_good_records_and_asked_for_translations_pass():
    good = [
        *GSM,
        (
            "Translate to Spanish: the wallet costs one hundred dollars.",
            "La cartera cuesta cien dólares.",
        ),
    ]
    scored = InstructRules()(records(good))
    assert InstructRules().reasons(records(good)).to_pylist() == [None] * len(good)
    assert scored["prompt_lang"].to_pylist()[0] == "en"


@pytest.fixture(scope="module")
def ifd() -> InstructionFollowingDifficulty:
    step = InstructionFollowingDifficulty(max_ifd=1.0, min_end_prob=0.05)
    step.ready()  # the packaged SmolLM2, loaded once for the module
    return step


def test_ifd_prefers_the_matching_answer_and_spots_a_cut(ifd):
    swapped = [(q, GSM[(i + 1) % 3][1]) for i, (q, _) in enumerate(GSM)]
    cut = [(q, a[: len(a) // 2].rsplit(" ", 1)[0]) for q, a in GSM]
    scored = {
        name: ifd(records(pairs))
        for name, pairs in [("good", GSM), ("swapped", swapped), ("cut", cut)]
    }
    good, bad = scored["good"]["ifd"].to_numpy(), scored["swapped"]["ifd"].to_numpy()
    assert (good < bad).all() and (good < 1).all()
    assert (scored["good"]["end_prob"].to_numpy() > 0.05).all()
    assert (scored["cut"]["end_prob"].to_numpy() < 0.05).all()
    ppl = scored["good"]
    ratio = ppl["ppl_response_given_prompt"].to_numpy() / ppl["ppl_response"].to_numpy()
    assert ratio == pytest.approx(good, rel=1e-5)
    assert ifd.reasons(records(cut)).to_pylist() == ["ifd:end_prob<0.05"] * 3


def test_ifd_plain_template_and_its_reasons(ifd):
    plain = InstructionFollowingDifficulty(template="plain", max_ifd=0.01)
    plain._tokenizer, plain._model, plain._device = ifd._tokenizer, ifd._model, ifd._device
    plain._chat, plain._closing, plain._ready = False, ifd._closing, True
    scored = plain(records(GSM[:1]))
    assert 0 < scored["ifd"][0].as_py() < 1.5
    assert plain.reasons(records(GSM[:1])).to_pylist() == ["ifd:ifd>=0.01"]


def test_ifd_needs_instruction_records(small_samples, tmp_path):
    from pipeline.core.errors import RecipeError

    recipe = {
        "name": "x",
        "input": {"path": str(small_samples)},
        "output": {"path": str(tmp_path / "o")},
        "steps": [{"ifd": {}}],
    }
    with pytest.raises(RecipeError, match="step ifd reads instruction records"):
        run_recipe(parse_recipe(recipe), "local", progress=False)


def benchmark_file(tmp_path) -> str:
    path = tmp_path / "bench.jsonl"
    rows = [{"question": q} for q, _ in GSM] + [
        {"question": "What is the capital city of Peru in South America?"},
        {"question": "Hi"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_decontaminate_finds_verbatim_edited_and_short_prompts(tmp_path):
    step = Decontaminate(benchmarks=[{"path": benchmark_file(tmp_path), "name": "mini-gsm"}])
    edited = GSM[1][0].replace("Yesterday,", "Yesterday").replace("she earn?", "she make?")
    texts = [
        GSM[0][0],  # verbatim
        "Please help: " + edited,  # lightly edited, inside a longer prompt
        # a benchmark prompt shorter than the n-gram, whole:
        "Tell me: what is the capital city of Peru in South America? Thanks",
        "Natalia sold clips to her friends and then went home.",  # shares words, no 13-gram
        "Hi",  # a benchmark prompt under min_words is never matched
    ]
    assert step(texts)["contaminated_by"].to_pylist() == [
        "mini-gsm",
        "mini-gsm",
        "mini-gsm",
        None,
        None,
    ]
    assert step.reasons(texts).to_pylist()[:2] == ["decontaminate:mini-gsm"] * 2


def test_decontaminate_in_a_recipe_builds_its_index_once(tmp_path, small_samples):
    import pyarrow.parquet as pq

    docs = pq.read_table(small_samples).to_pylist()
    questions = [d for d in docs if d["source"] == "gsm8k"][:5]
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"prompt": d["text"][:400]}) + "\n" for d in questions))
    recipe = {
        "name": "decon",
        "input": {"path": str(small_samples)},
        "output": {"path": str(tmp_path / "o")},
        "steps": [{"decontaminate": {"benchmarks": [{"path": str(bench), "name": "gsm"}]}}],
    }
    manifest = run_recipe(parse_recipe(recipe), "local", progress=False)
    assert (tmp_path / "o" / "_work" / "prepared" / "00-decontaminate" / "index.npz").exists()
    _, rejected = outputs(tmp_path / "o")
    hit = rejected.filter(pa.compute.equal(rejected["rejected_by"], "decontaminate"))
    assert set(hit["id"].to_pylist()) >= {d["id"] for d in questions}
    assert manifest["steps"][1]["reasons"] == {"decontaminate:gsm": hit.num_rows}
