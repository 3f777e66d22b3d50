"""Rules for instruction records: empty, cut, refused, echoed, looping, templated, placeholder,
made-up (input never seen) and wrong-language answers."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import regex
from pydantic import Field

from filters.text_stats import has_alnum, repeated_ngram_chars, split_words
from pipeline.core.columns import MESSAGES, RECORD_FIELDS, set_column, text_list
from pipeline.core.registry import register
from pipeline.core.rows import Check
from pipeline.io.records import answers_of
from scorers.answer_echo import echoes_prompt, repeats_earlier_answer
from scorers.answer_end import cut_mid_sentence, leaves_code_fence_open
from scorers.answer_language import PROSE_WORD, in_other_language, read_languages
from scorers.answer_length import too_few_words, too_short
from scorers.answer_order import (
    ASKS_TO_CONCLUDE,
    markers_out_of_order,
    result_used_early,
    without_code,
)
from scorers.base import Requirement, Resources, Scorer, ScorerParams
from scorers.chat_residue import (
    has_template_residue,
    is_service_error,
    leaves_slots_unfilled,
    wraps_in_made_up_tags,
)
from scorers.models import load_fasttext
from scorers.refusals import disclaims, offers_tools, refuses
from scorers.unseen_input import LINK, asks_about_unseen

Rule = Literal[
    "template_residue",
    "service_error",
    "placeholder_response",
    "refusal",
    "ai_disclaimer",
    "unseen_input",
    "truncated",
    "response_words",
    "response_ratio",
    "repeats_prompt",
    "response_repetition",
    "repeats_earlier_answer",
    "steps_out_of_order",
    "markers_out_of_order",
    "lang_mismatch",
]
PLACEHOLDER = regex.compile(
    r"^\s*(https?://\S+|n/?a|tbd|todo|\.{3}|…|-+|none|null|lorem ipsum.*"
    r"|<\s*no\s*[ _-]?\s*(output|input|answer|response)\s*>|no(output|input))\s*$",
    regex.IGNORECASE,
)
# A slot left for the reader ("[Your Name]", "<insert answer>"): a letter signed with one is a
# usable answer; an answer of slots and a few words is not.
SLOT = regex.compile(r"\[(insert|your|add|enter|put)\b[^\]]*\]|<(insert|your|add)\b[^>]*>", regex.I)
WORDS_BESIDE_SLOTS = 3
TOOLS = ("tools", "functions")  # the tools a record offers (LLaMA-Factory, OpenAI files)


@register("instruct_rules")
class InstructRules(Scorer):
    """Rules for instruction records, each with its own reason: template residue in any turn
    (`<|im_start|>`, `### Instruction:`, a next task run on as `18. Instruction:`, a base model's
    made-up `[SOL] ... [/SOL]`, a generation template's slot left unfilled, `{{name}}`, outside
    code, a chat page's "Copy code" scraped with the answer), a chat service's error saved as an
    answer ("Too many requests in 1 hour"), a placeholder or URL-only answer (`<No Output>`, or
    reader's slots such as `[Your Name]` with fewer than 3 words besides), a refusal or AI
    disclaimer (not in a record offering tools, where declining what they cannot do is taught),
    a prompt whose input
    the model never saw (an attachment marker, or a bare link to the article it asks about that the
    answer neither uses nor cites), an answer cut off (unclosed code fence, ending on a comma or a
    word no sentence ends on; not on a URL or a letter's short closing line), an answer too short
    for its prompt (a label picked as asked is not), an answer echoing the prompt and its request,
    an answer looping over itself, a follow-up answered by the conversation's earlier answer
    again, a worked answer whose steps are out of order (an equation uses a
    number above 3 that neither the prompt nor an earlier step gives, but a later equation
    computes), an answer whose sentences open on markers out of order (a first sentence starting
    "However,", list numbers or ordinals that do not rise, "Next," after "Finally,"), and an answer
    in another language than its prompt (fastText language ID on the answer's lines of prose; an
    answer in the language of the prompt's first or last line of prose, where a request around
    a pasted text sits, or in a language the prompt may also be in, or a prompt asking for a
    translation or naming the language ("in Finnish"), is exempt).

    In a conversation each answer is judged for cuts, loops, placeholders, refusals and
    disclaimers on its own, wherever it sits
    (an answer a tool turn follows is a call, not judged for a cut); a later answer is compared
    with the earlier ones on its prose outside code blocks.
    Reads `_messages`; adds `prompt_lang`, `response_lang`, `prompt_alt_langs` (the first and
    last prose lines' languages, the prompt's other guesses of 0.1 or more, the Han languages
    for a prompt in Han characters alone, and the answer's where the prompt quotes its script).
    Reasons: template_residue, service_error, placeholder_response, refusal, ai_disclaimer,
    unseen_input, truncated:code_fence, truncated:mid_sentence, response_words<N,
    response_ratio<R, repeats_prompt, response_repetition>R, repeats_earlier_answer,
    steps_out_of_order, markers_out_of_order, lang_mismatch.
    """

    requires = (Requirement("fasttext", "fasttext-numpy2-wheel==0.9.2", "models"),)
    resources = Resources(cpus=1, memory_gb=0.5)
    batch_size = 1024
    requires_records: ClassVar[bool] = True
    version = 2  # Han and kana spaced off for fastText; Han-only text read as a Han language
    outputs = {
        "prompt_lang": pa.string(),
        "response_lang": pa.string(),
        "prompt_alt_langs": pa.list_(pa.string()),
    }
    decision_params = Scorer.decision_params | {
        "min_response_words",
        "min_response_ratio",
        "ratio_min_prompt_chars",
        "max_repetition",
        "max_answer_copy",
        "min_lang_score",
        "skip",
    }

    class Params(ScorerParams):
        model: str = Field("lid176", description="fastText language ID model.")
        min_response_words: int = Field(1, ge=0, description="Fewest words in an answer.")
        min_response_ratio: float | None = Field(
            0.02,
            ge=0,
            description="Shortest answer, in characters per character of the prompt's prose "
            "(pasted code and data do not count).",
        )
        ratio_min_prompt_chars: int = Field(
            400, ge=0, description="min_response_ratio applies to prompt prose at least this long."
        )
        max_repetition: float | None = Field(
            0.3,
            ge=0,
            le=1,
            description="Most characters of one answer in word 5-grams repeated within it.",
        )
        max_answer_copy: float | None = Field(
            0.9,
            ge=0,
            le=1,
            description="Most words of a later answer (outside code blocks) in word 5-grams of the "
            "earlier answers.",
        )
        min_lang_score: float = Field(
            0.6, ge=0, le=1, description="Both languages must be this sure to disagree."
        )
        skip: list[Rule] = Field(
            default_factory=list,
            description="Rules not applied, by reason (e.g. [refusal, ai_disclaimer] for a "
            "tool-use set whose answers say which tools they lack).",
        )

    params: Params

    def setup(self) -> None:
        self._model: Any = load_fasttext(self.params.model)

    def score(self, batch: pa.Table) -> pa.Table:
        prompts = text_list(batch, RECORD_FIELDS["prompt"])
        responses = text_list(batch, RECORD_FIELDS["response"])
        langs = read_languages(self._model, prompts, responses, self.params.min_lang_score)
        for (name, kind), values in zip(self.outputs.items(), langs, strict=True):
            batch = set_column(batch, name, pa.array(values, kind))
        return batch

    def checks(self, scored: pa.Table) -> list[Check]:
        p = self.params
        prompts = text_list(scored, RECORD_FIELDS["prompt"])
        responses = text_list(scored, RECORD_FIELDS["response"])
        conversations = scored[MESSAGES].to_pylist()
        answers = [answers_of(m) for m in conversations]
        finished = [answers_of(m, calls=False) for m in conversations]
        last = [a[-1] if a else "" for a in answers]
        # A reply after earlier answers may open on "Also," pointing back at them.
        first_reply = [len(a) <= 1 for a in answers]
        turns = text_list(scored, RECORD_FIELDS["conversation"])
        given = [scored[c].to_pylist() for c in TOOLS if c in scored.column_names]
        tools = list(zip(*given, strict=True)) or [()] * len(last)  # a row's tool fields
        tooled = [offers_tools(t, m) for t, m in zip(tools, conversations, strict=True)]

        def check(reason: str, rule: Callable[..., Any], *columns: list[Any]) -> Check | None:
            """The rule applied to each row; None, at no cost, for a skipped rule."""
            if regex.split(r"[:<>]", reason)[0] in p.skip:
                return None
            return _check(reason, rule, *columns)

        found = [
            check("template_residue", has_template_residue, prompts, turns),
            check("template_residue", _any_turn(wraps_in_made_up_tags), prompts, answers),
            check("template_residue", _any_turn(leaves_slots_unfilled), prompts, answers),
            check("service_error", _any_turn(is_service_error), answers),
            check("placeholder_response", _any_turn(_placeholder), answers),
            check("refusal", _untooled(_any_turn(refuses)), tooled, prompts, answers),
            check("ai_disclaimer", _untooled(_any_turn(disclaims)), tooled, prompts, answers),
            check("unseen_input", asks_about_unseen, prompts, responses),
            check("truncated:code_fence", _any_turn(leaves_code_fence_open), finished),
            check("truncated:mid_sentence", _any_turn(cut_mid_sentence), finished),
            check(
                f"response_words<{p.min_response_words}",
                partial(too_few_words, fewest=p.min_response_words),
                responses,
            ),
        ]
        if p.min_response_ratio is not None:
            short = partial(
                too_short, ratio=p.min_response_ratio, min_prompt_chars=p.ratio_min_prompt_chars
            )
            found.append(
                check(f"response_ratio<{p.min_response_ratio:g}", short, prompts, responses)
            )
        found.append(check("repeats_prompt", echoes_prompt, prompts, responses))
        if p.max_repetition is not None:
            looped = _any_turn(partial(_looped, most=p.max_repetition))
            found.append(check(f"response_repetition>{p.max_repetition:g}", looped, answers))
        if p.max_answer_copy is not None:
            copied = partial(_copies_earlier, most=p.max_answer_copy)
            found.append(check("repeats_earlier_answer", copied, answers))
        found.append(check("steps_out_of_order", result_used_early, prompts, last))
        concluding = [ASKS_TO_CONCLUDE.search(q) is not None for q in prompts]
        found.append(
            check("markers_out_of_order", _markers_out_of_order, last, first_reply, concluding)
        )
        langs = [
            scored[c].to_pylist() for c in ("prompt_lang", "response_lang", "prompt_alt_langs")
        ]
        found.append(check("lang_mismatch", in_other_language, prompts, *langs))
        return [c for c in found if c is not None]


def _copies_earlier(answers: list[str], most: float) -> bool:
    """True when a later answer's prose (outside code) mostly repeats the earlier answers'."""
    return repeats_earlier_answer([without_code(a) for a in answers], most)


def _markers_out_of_order(answer: str, first_reply: bool, asked_to_conclude: bool) -> bool:
    """True when the answer's prose sentences open on markers out of order."""
    return markers_out_of_order(without_code(answer), first_reply, asked_to_conclude)


def _check(reason: str, rule: Callable[..., Any], *columns: list[Any]) -> Check:
    """`reason` for each row where `rule`, given the row's value in each column, is true."""
    rows = zip(*columns, strict=True)
    return Check(np.array([bool(rule(*row)) for row in rows], dtype=bool), reason)


def _untooled(rule: Callable[..., bool]) -> Callable[..., bool]:
    """`rule` on a record that offers no tools (the first argument); with tools, declining what
    they cannot do ("I'm unable to book flights: I can calculate distances") is the lesson."""
    return lambda tooled, *given: not tooled and rule(*given)


def _any_turn(rule: Callable[..., bool]) -> Callable[..., bool]:
    """`rule` on a conversation: true when it holds for any of its answers (the last argument;
    any before it, such as the prompt, are passed to the rule with each answer)."""
    return lambda *given: any(rule(*given[:-1], answer) for answer in given[-1])


def _placeholder(answer: str) -> bool:
    """True when the answer is a placeholder (N/A, TBD, a bare URL, ...) or reader's slots
    ("[insert answer]") with fewer than WORDS_BESIDE_SLOTS words besides."""
    if PLACEHOLDER.search(answer):
        return True
    rest = SLOT.sub(" ", answer)
    return rest != answer and len(PROSE_WORD.findall(rest)) < WORDS_BESIDE_SLOTS


def _looped(answer: str, most: float) -> bool:
    """True when more than `most` of the answer's words (letters or digits: no punctuation,
    grid bars or URLs) are in word 5-grams that repeat an earlier one."""
    words = [w for w in split_words(LINK.sub(" ", answer)) if has_alnum(w)]
    chars = sum(map(len, words)) + len(words)
    return len(words) >= 30 and repeated_ngram_chars(words, 5) / max(chars, 1) > most
