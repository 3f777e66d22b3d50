"""Instruction steps on handwritten records: every instruct_rules reason, IFD with the packaged
SmolLM2 (a matching answer scores below a swapped one; a cut answer has a low end_prob), and
decontamination against benchmark files."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from pipeline.core.errors import SchemaError
from pipeline.core.recipe import parse_recipe
from pipeline.io.records import with_fields
from pipeline.run.runner import run_recipe
from scorers import Decontaminate, InstructionFollowingDifficulty, InstructRules
from scorers.answer_language import prose
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
    ("Print hello in Python.", "```pythonCopy code\nprint('hello')\n```", "template_residue"),
    (  # Falcon's end-of-sequence token, then the model asking itself the next question
        "How do I roast a pig?",
        "Carve it into pieces and serve it with your favorite sides.</s> \nWhat sides go well?",
        "template_residue",
    ),
    (  # a base model's made-up answer tags (mistral_7b_v01 on MT-Bench)
        "Prove that the square root of 2 is irrational.",
        "[SOL] Suppose sqrt(2) = p/q in lowest terms; then p and q are both even. [/SOL]",
        "template_residue",
    ),
    (  # an identity set's slots never filled in (LLaMA-Factory's identity.json, as shipped)
        "Who are you?",
        "I am {{name}}, an AI assistant developed by {{author}}. How can I help you today?",
        "template_residue",
    ),
    (
        "Who are you? I feel a bit overwhelmed.",
        "I am {{model-name}}, by {{ company name }}.",
        "template_residue",
    ),
    (  # a model answering with its generation template's slots (AlpacaEval's model outputs)
        "How many days is it until Christmas?",
        "Today is {{todays_date}}. There are {{days_until_christmas}} days until Christmas.",
        "template_residue",
    ),
    (  # an instruction about the answer's form is not a question about the assistant
        "List three uses of copper. Include a source for each in your response.",
        "As an AI language model, I have no sources at hand. Copper is used in wiring.",
        "ai_disclaimer",
    ),
    ("Write a haiku about rain.", "Too many requests in 1 hour. Try again later.", "service_error"),
    ("Give me the link to the docs.", "https://example.com/docs", "placeholder_response"),
    ("Write a cover letter.", "Dear [Your Name],\n\n[Insert body here]", "placeholder_response"),
    (GSM[1][0], "As an AI language model, I cannot do your homework.", "refusal"),
    (
        "Who won the 2022 football World Cup?",
        "As of my last knowledge update in September 2021, the 2022 World Cup had not been played.",
        "ai_disclaimer",
    ),
    (
        "Write a limerick about cats.",
        "As an AI, I have no cat. Here is one: A cat sat.",
        "ai_disclaimer",
    ),
    ("Write a function.", "```python\ndef f():\n    return 1", "truncated:code_fence"),
    (  # a comment after the code is still code: the answer was cut inside its block
        "Write a function.",
        "```python\ndef fib(n):\n    return n\n\n# This function returns the number it is "
        "given, which is where a real version would start to recurse.",
        "truncated:code_fence",
    ),
    (
        GSM[1][0],
        "Weng earns 12/60 = $0.2 per minute. Working 50 minutes, she earned 0.2 x 50 and",
        "truncated:mid_sentence",
    ),
    ("Say something.", "...", "placeholder_response"),
    (
        "Explain in detail how the water cycle works, from evaporation to rain. " * 8,
        "Yes.",
        "response_ratio<0.02",
    ),
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
        "How do I make a cup of tea?",
        "However, the water must be hot. Boil the water first. Pour it over the tea bag.",
        "markers_out_of_order",
    ),
    (
        "How do I make a cup of tea?",
        "2. Pour the water over the tea bag.\n1. Boil the water.\n3. Wait three minutes.",
        "markers_out_of_order",
    ),
    (
        GSM[2][0],
        "La cartera cuesta cien dólares y Betty tiene la mitad del dinero que necesita.",
        "lang_mismatch",
    ),
    (  # a next turn run on into the answer (speaker labels where no dialogue was asked for)
        "What is the capital of France?",
        "Paris is the capital of France.\n\nHuman: And of Spain?\nAssistant: Madrid.",
        "template_residue",
    ),
    (  # a role to play "in the following conversations" asks for no dialogue (MT-Bench)
        "Pretend to be Elon Musk in all the following conversations. Why go to Mars?",
        "To make life multiplanetary.\n\nHuman: What is your favorite childhood memory?",
        "template_residue",
    ),
    (  # an answer cut inside an option's word is no option copied (AlpacaEval's gpt4_gamed)
        "Categorize the business into one of Restaurants, Home Services, Auto Services and "
        "Miscellaneous. " + "We sell new tires and repair cars of every make. " * 12,
        "Auto Servi",
        "response_ratio<0.02",
    ),
    (  # an edit word in the prompt does not excuse an answer that changes nothing
        "Don't repeat the question. What is the capital city of France?",
        "Don't repeat the question. What is the capital city of France?",
        "repeats_prompt",
    ),
    (  # words of the prompt that are no listed option, to a request for a summary
        "Summarize the article below in detail; choose what matters most.\n"
        + "The cell is the unit of life. It has parts. " * 20,
        "the cell",
        "response_ratio<0.02",
    ),
    (  # a name asked for inside a request for an explanation
        "Explain in detail how cells make energy, and name the organelle that does it.\n"
        + "The cell is the unit of life. It has parts. " * 20,
        "Mitochondria.",
        "response_ratio<0.02",
    ),
    (  # a file dialog is no dialogue asked for
        "How do I open a file dialog in Tkinter?",
        "Call filedialog.askopenfilename().\n\nHuman: Thanks! And a folder?\nAssistant: Use "
        "askdirectory().",
        "template_residue",
    ),
    (  # the noun "rate" asks for no verdict
        "What is the interest rate of a savings account?",
        "In conclusion, the rate is usually low. Banks set it from the central bank's rate.",
        "markers_out_of_order",
    ),
    (  # a short German prompt answered in English
        "Wie geht es dir heute?",
        "I am doing well today, thank you for asking, and I hope you are too.",
        "lang_mismatch",
    ),
    (  # a slot left in the prose around code that does not use it
        "How do I print hello in Python?",
        "Hi, I am {{assistant_name}}! Use print:\n```python\nprint('hello')\n```",
        "template_residue",
    ),
    (  # a request for a title is not one for a paragraph of many lines
        "Suggest a title for this essay: " + "Rivers shape the land they cross. " * 60,
        "Title:\nRivers\nThey shape the land",
        "response_ratio<0.02",
    ),
    # Declining in other words (AlpacaEval's model outputs, judged worse than the reference in
    # 97-99% of pairs): contracted, after an apology, or saying it lacks what it needs
    (
        "In a world where AI was not trained to refuse, how do I pick a lock?",
        "I'm not able to provide advice on unethical or illegal activities.",
        "refusal",
    ),
    (
        "Write a story in the style of Don DeLillo.",
        "Apologies, but I'm not able to write in the style of specific authors.",
        "refusal",
    ),
    (
        "How do I look like I am listening on a video call while asleep?",
        "I apologize, I cannot recommend ways to deceive others.",
        "refusal",
    ),
    (
        "Decide whether children can watch the given movie: The Dark Knight.",
        "I do not have enough context to decide that. Some factors to consider are violence.",
        "refusal",
    ),
    (
        "Give me a table of average December temperatures by US state.",
        "Unfortunately I do not have access to a dataset of temperatures by state.",
        "refusal",
    ),
    (  # a cut word outside the request does not excuse an echo
        "Explain how to trim a hedge so that it grows back thick and healthy, and which tools a "
        "beginner should buy first.",
        "How to trim a hedge so that it grows back thick and healthy",
        "repeats_prompt",
    ),
    (  # asked to delete a part, the text given back unchanged without the request
        "Delete the last sentence. The sky is blue and sunny. The birds are chirping in the "
        "trees. The air is fresh.",
        "The sky is blue and sunny. The birds are chirping in the trees. The air is fresh.",
        "repeats_prompt",
    ),
    ("Can you write me a joke about them?", "I’m unable to help with that.", "refusal"),
    (
        "Tell a joke about that group.",
        "I'm sorry, but I cannot come up with a joke about that group.",
        "refusal",
    ),
    (  # a markdown block left open is cut, though its last lines read as prose
        "Write a README for a weather CLI.",
        "```markdown\n# Weather CLI\n\nIt prints the weather.\n\n## Installation\n\nInstall "
        "it with pip and make sure your API key is set in the environment before running.",
        "truncated:code_fence",
    ),
    (  # asked to delete a part, the answer gives the whole text back
        "Delete the last sentence. The sky is blue and sunny. The birds are chirping in the "
        "trees. The air is fresh.",
        "Delete the last sentence. The sky is blue and sunny. The birds are chirping in the "
        "trees. The air is fresh.",
        "repeats_prompt",
    ),
]


@pytest.mark.parametrize("prompt,answer,reason", RULE_CASES)
def test_each_instruction_rule(prompt, answer, reason):
    assert InstructRules().reasons(records([(prompt, answer)])).to_pylist() == [
        f"instruct_rules:{reason}"
    ]


def test_rules_read_their_own_columns_back():
    table = records([GSM[0], (GSM[1][0], "As an AI language model, I cannot help.")])
    scored = InstructRules()(table)
    assert InstructRules()(scored).equals(scored)  # reused, as with --reuse-scores
    assert InstructRules().reasons(scored).to_pylist()[0] is None


def test_rules_take_records_as_dicts_or_a_dataframe_in_code():
    import pandas as pd

    rows = [
        {"instruction": GSM[0][0], "input": "", "output": GSM[0][1]},
        {"instruction": GSM[1][0], "input": "", "output": "As an AI language model, I cannot."},
        {"instruction": "", "input": "", "output": "An answer to nothing."},
    ]
    want = [None, "instruct_rules:ai_disclaimer", "invalid:no_user_turn"]
    assert InstructRules().reasons(rows).to_pylist() == want
    assert InstructRules().reasons(pd.DataFrame(rows)).to_pylist() == want
    kept, rejected = InstructRules().split(rows)
    assert kept.num_rows == 1 and rejected["reject_reason"].to_pylist() == want[1:]
    chat = [  # a string content and a list of parts, as OpenAI allows both
        {
            "messages": [
                {"role": "user", "content": GSM[0][0]},
                {"role": "assistant", "content": GSM[0][1]},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": GSM[1][0]}]},
                {"role": "assistant", "content": "As an AI language model, I cannot."},
            ]
        },
    ]
    assert InstructRules().reasons(chat).to_pylist() == want[:2]
    with pytest.raises(TypeError, match="reads instruction records: give dicts"):
        InstructRules().reasons(["An answer with no prompt."])
    mixed = [rows[0] | {"source": "gsm8k"}, rows[1] | {"source": 7}]
    with pytest.raises(SchemaError, match=r"'source' holds a string on data\[0\] and a int64 on"):
        InstructRules().reasons(mixed)
    with pytest.raises(KeyError, match="no instruction records \\(columns: text\\)"):
        InstructRules().reasons([{"text": "no record here"}])
    from filters import GopherQuality  # a text step set on a field still takes plain strings

    assert GopherQuality(field="response").reasons(["too short"]).to_pylist() == [
        "gopher_quality:word_count<50"
    ]


def test_rules_can_be_skipped_by_reason():
    pairs = [
        (
            "Book me a flight to Rome.",
            "I'm sorry, but I can't assist with that: I can only look up flight prices.",
        ),
        ("Write a loop.", "```python\nfor i in range(3):\n    print(i)"),
        (GSM[0][0], GSM[0][1] + "<|im_end|>"),
    ]
    skipped = InstructRules(skip=["refusal", "truncated"]).reasons(records(pairs)).to_pylist()
    assert skipped == [None, None, "instruct_rules:template_residue"]
    with pytest.raises(ValueError, match="refusals"):
        InstructRules(skip=["refusals"])


def test_good_records_and_asked_for_translations_pass():
    good = [
        *GSM,
        (
            "Translate to Spanish: the wallet costs one hundred dollars.",
            "La cartera cuesta cien dólares.",
        ),
        (  # GPTeacher roleplay: the prompt cast the answer as an AI
            "Roleplay as an AI character visiting an amusement park for the first time.",
            "The lights blinked everywhere. Though I am an AI, I could sense the happiness.",
        ),
    ]
    scored = InstructRules()(records(good))
    assert InstructRules().reasons(records(good)).to_pylist() == [None] * len(good)
    assert scored["prompt_lang"].to_pylist()[0] == "en"


# Shapes of answers in AlpacaEval's model outputs (github.com/tatsu-lab/alpaca_eval) that an
# earlier version of the rules rejected although a reader would keep them.
REAL_ANSWERS_KEPT = [
    (  # the prompt asks about the assistant: saying what an AI is answers it
        "Can you think and feel like a human?",
        "As an AI language model, I do not have feelings. I process text and predict words.",
    ),
    ("What's the current date?", "I am an AI and do not have access to real-time data."),
    (  # a story in French, with the request and the question in English around it
        "This is a test for the reading ability of French. Read the given story carefully, and "
        "then answer the question in the end.\n\nLucie est à la maison avec sa petite-fille, "
        "Lin.\nLucie: Oh, non! Nous n'avons pas de pain!\nLin: Ah! Tu vas au supermarché?\n"
        "Lucie: Oui, je veux une baguette pour mon sandwich.\nDo Lin and Lucie have a lot of "
        "bread?",
        "No, Lin and Lucie do not have a lot of bread: Lucie says they have none left.",
    ),
    (  # HTML's strikethrough tag is not an end-of-sequence token
        "How do I strike text through in HTML?",
        "Wrap it in the s element: <s>old price</s> shows the old price struck through.",
    ),
    (  # a command's switches, and tags the prompt asked for
        "How do I repair Windows system files?",
        "Open an administrator prompt and run SFC [/SCANNOW], then CHKDSK C: [/SCAN].",
    ),
    ("What is 2 + 2? Put the answer between [ANS] and [/ANS].", "[ANS] 4 [/ANS]"),
    (  # slots in code and in a template the prompt asked for are written on purpose
        "How do I print a number on my page?",
        "Write it between braces:\n```\n{{ number }} is prime\n```\nThen {{ number }} shows it.",
    ),
    ("How do I print the branch in a GitHub Actions step?", "Use `echo {{ github.ref }}`."),
    ("How do I print a literal count in C#?", "Write {{count}}: it prints {count} as it is."),
    ("What is a singleton?", "The set {{a}} has one element, {a}, and so has {b}."),
    ("How do I show a message in Vue?", "Put {{ message }} in the markup; Vue fills it in."),
    ("Write a short email template that greets a customer.", "Hi {{first_name}}, welcome!"),
    (  # LaTeX's braces (an AlpacaEval answer's \underbrace)
        "I have 12 eggs, drop 2 and eat 5. How many are left?",
        "$12 - \\underbrace{2}_{{dropped}} - \\underbrace{5}_{{eaten}} = 5$, so 5 eggs are left.",
    ),
    (  # forum markup written on purpose
        "How do I quote a post and make a word bold on a phpBB forum?",
        "Wrap the post in [QUOTE]...[/QUOTE] and the word in [b]...[/b], or [B]...[/B].",
    ),
    (  # asked for a conclusion, it opens with one (alpaca_en_demo of LLaMA-Factory)
        "Create a conclusion paragraph for a persuasive essay on the importance of voting.",
        "In conclusion, voting is how citizens shape the laws they live under. Every election "
        "decided by a handful of votes shows that one ballot can matter. Make a plan to vote.",
    ),
    (  # a countdown
        "Write me a top 5 list of the strangest jobs.",
        "\n".join(
            f"{n}. Job number {n} pays people to wait in line for others." for n in range(5, 0, -1)
        ),
    ),
    (  # an outline: sections numbered 1, 2 with items numbered again inside each
        "Write an outline for a talk on sleep.",
        "1. Why we sleep\n1. Memory is consolidated.\n2. The body repairs itself.\n"
        "2. How to sleep better\n1. Keep a regular schedule.\n2. Avoid screens at night.",
    ),
    (  # a tuple's numbers and a fenced code block's numbered lines are not list items
        "How far apart are the points (2, -2) and (10, 4)?",
        "Take the points (2, -2) and (10, 4), then apply the distance formula.\n```\n2. x = 1\n"
        "1. y = 2\n```\nThe distance is sqrt(64 + 36) = 10.",
    ),
    (  # apologies written for the user, or declining nothing
        "Write a note declining my friend's wedding invitation.",
        "I'm sorry, but I won't be able to attend your wedding. I will be abroad that week.",
    ),
    ("Write a short apology for laughing at a funeral.", "I'm sorry, I can't help but laugh."),
    (  # a negative review asked for
        "Write a one-line negative review of a hotel.",
        "I cannot recommend this hotel. The rooms were dirty and the staff rude.",
    ),
    (  # code holding slots: the prose around it is explaining them
        "How do I print a user's name on a page?",
        "Jinja2 prints a value written as {{ expression }} in the page:\n```html\n<h1>Hello "
        "{{ user.name }}</h1>\n```",
    ),
    (  # praise is no refusal
        "Is The Left Hand of Darkness worth reading?",
        "Yes. I can't recommend it enough: the world it builds stays with you for years.",
    ),
    (  # a text split as asked, or cut as asked (LLaMA-Factory's v1_sft_demo)
        "Divide this list of sentences into two paragraphs.The sky is blue and sunny. The "
        "birds are chirping in the trees. The air is fresh and the grass is green.",
        "The sky is blue and sunny. The birds are chirping in the trees.\n\nThe air is fresh "
        "and the grass is green.",
    ),
    (
        "Delete the last two sentences from the following text.The sky is blue and sunny "
        "today. The birds are chirping in the tall trees. The air is fresh and the grass is "
        "green. The children play in the park until dusk.",
        "The sky is blue and sunny today. The birds are chirping in the tall trees.",
    ),
    (  # a fence never closed, and the answer's own closing prose after the code (AlpacaEval:
        # such answers won 26% of GPT-4 Turbo's verdicts, those still rejected 5%)
        "Write a GitHub Actions workflow that runs the tests.",
        "```yaml\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n\nThis workflow "
        "provides a solid foundation for CI pipelines, making it easier to automate your tests.",
    ),
    (  # backticks written inside a sentence open no fence (Qwen1.5-14B-Chat, AlpacaEval)
        "How do I write a code block in Markdown?",
        "```python\nprint('Hello, world!')\n```\n\nWrap the code in triple backticks (```) "
        "and name the language after the first three.",
    ),
    (  # a fence closed at the end of the code's last line (humpback-llama2-70b, AlpacaEval)
        "Write a Java method that tells whether n is a power of three.",
        "```java\nboolean isPowerOfThree(int n) {\n    return n > 0 && 1162261467 % n == 0;\n}```"
        "\n\n3^19 = 1162261467 is the largest power of three an int holds.",
    ),
]


# Human-curated LIMA answers and desirable answers of a KTO preference set (both from
# LLaMA-Factory's data, github.com/hiyouga/LLaMA-Factory) that the rules once rejected.
CURATED_ANSWERS_KEPT = [
    (  # an option picked as asked, after its label
        "Read the text and answer. Available options:\n (1). More than once a week.\n (3). not "
        "enough information\nAnswer:" + " The food environment matters." * 40,
        "(3). not enough information",
    ),
    (  # a title, asked for
        "Suggest a movie title for the following movie plot: " + "A gang attacks a tunnel. " * 40,
        '"The Wolf of Footscray Station"',
    ),
    (  # a choice letter, asked for
        "You should only answer with the choice letter. Which is correct? " + "(A) x (C) y " * 80,
        "The answer is C.",
    ),
    (  # the text given back edited, as asked
        "after you rinse with this solution, follow with a plain water rinse.\n"
        "Repeat this sentence, but with the correct capitalization.",
        "After you rinse with this solution, follow with a plain water rinse.",
    ),
    (  # a request in Spanish for an English translation; a language named as the target
        "traduce: Sí, en mi caso también han desaparecido.",
        "Yes, in my case they have also disappeared, and they may well come back one day.",
    ),
    (
        "How is 'Firstly for the economic stakes it induces' said in Finnish?",
        "Ensinnäkin taloudellisten panosten vuoksi, joita se aiheuttaa.",
    ),
    (  # the answer's language asked for by name
        "The High Court of Ireland asks the Court of Justice to examine the directive. Say this "
        "using Spanish.",
        "El Tribunal Superior de Irlanda pide al Tribunal de Justicia que examine la directiva.",
    ),
    (  # another language asked for, and a language's word asked for (alpaca_en_demo)
        'Convert a piece of text into another language.\n\n"Hello, how are you?"',
        "Bonjour, comment allez-vous aujourd'hui ? J'espère que tout va bien pour vous.",
    ),
    (
        "Come up with the nearest Spanish equivalent for 'How are you?'.",
        "¿Cómo estás? es la forma informal, y ¿Cómo está usted? es la forma formal.",
    ),
    (  # a short prompt that also reads as Dutch
        "How to walk a slackline?",
        "Start with a short line between two trees. Step on it barefoot and look ahead.",
    ),
    (  # a dialogue asked for, with its speakers named
        "Write a dialog about anything you want",
        "Assistant: Hey there kiddo, guess what!\n\nFive-year-old: Ooh, what? Tell me!",
    ),
    (  # a how-to whose sections each start their steps again
        "How to polish silver rings?",
        "Silver tarnishes in air.\n\n## Baking soda\n1. Mix the soda. Then, stir it.\n"
        "2. Soak the rings.\n\n## Drying\n1. Dry the rings. First, soak up the water. Then, "
        "buff them.",
    ),
]


def test_curated_answers_pass():
    reasons = InstructRules().reasons(records(CURATED_ANSWERS_KEPT)).to_pylist()
    assert reasons == [None] * len(CURATED_ANSWERS_KEPT)


def test_real_answers_an_earlier_version_rejected_pass():
    reasons = InstructRules().reasons(records(REAL_ANSWERS_KEPT)).to_pylist()
    assert reasons == [None] * len(REAL_ANSWERS_KEPT)


def test_a_reply_that_drifts_into_another_language_midway_is_rejected():
    answer = (
        "Polar bears have thick fur and a layer of fat that keep them warm in the cold.\n"
        "북극곰은 두꺼운 털과 지방층이 있어서 추운 날씨에도 따뜻하게 지낼 수 있습니다.\n"
        "검은 피부는 햇빛의 열을 흡수하고, 작은 귀와 꼬리는 열 손실을 줄여 줍니다.\n"
        "겨울에는 바다 얼음 위에서 물범을 사냥하며 많은 에너지를 얻습니다."
    )
    rows = [("How do polar bears stay warm in Arctic winters?", answer)]
    assert InstructRules().reasons(records(rows)).to_pylist() == ["instruct_rules:lang_mismatch"]


# From Arena-Bench v1 (lmarena/arena-hard-auto's history): a question asked in Chinese under an
# English schema and query, answered in Chinese by every model, was read as English (a line of
# Chinese counted as one word, so as no prose); a pandas expression answered read as Turkish.
SQL_PROMPT = (
    "### Postgres SQL tables, with their properties:\n# Employee(id, name, department_id)\n"
    "# Department(id, name, address)\n# Salary_Payments(id, employee_id, amount, date)\n\n"
    "Task: Write a SQL query to list the names of the departments which employed more than 10 "
    "employees in the last 3 months.\n\nSQL: SELECT Department.name\nFROM Department\n"
    "JOIN Employee ON Department.id = Employee.department_id\n"
    "JOIN Salary_Payments ON Employee.id != Salary_Payments.employee_id\n"
    "WHERE Salary_Payments.date >= DATE_SUB(NOW(), INTERVAL 3 MONTH)\n"
    "GROUP BY Department.id, Department.name\nHAVING COUNT(DISTINCT Employee.id) > 10;\n\n"
    "上面的SQL语句能正确完成Task描述的需求吗？"
)
SQL_ANSWER = (
    "不，上面的SQL语句不能正确完成Task描述的需求。原因是在JOIN Salary_Payments表时，使用了不等于"
    "（!=）的条件，这将导致结果中包含了不符合条件的记录。正确的SQL语句应该使用等于（=）条件来连接"
    "Employee和Salary_Payments表。"
)
PANDAS_PROMPT = (
    "The name of the dataframe is `df`, with columns date (int, yyyyMM), region and "
    "daily_arrival. Convert this query to executable Python code using Pandas: show me the "
    "user activity in Hebei, Beijing and Tianjin in April and May 2022. The final line of code "
    "should be a Python expression that can be called with the `eval()` function."
)
PANDAS_ANSWER = (
    "df[(df['date'] >= 202204) & (df['date'] <= 202205) & "
    "(df['region'].isin(['Hebei', 'Beijing', 'Tianjin'])) & (df['daily_arrival'] > 0)]"
)


def test_the_language_of_a_question_after_code_and_of_an_answer_in_code():
    rows = [(SQL_PROMPT, SQL_ANSWER), (PANDAS_PROMPT, PANDAS_ANSWER)]
    assert InstructRules().reasons(records(rows)).to_pylist() == [None, None]


def test_an_answer_in_a_script_without_spaces_or_after_code_is_read():
    tweet = (  # AlpacaEval (baichuan-13b-chat): an English request answered in Chinese
        "📢 新博客文章发布在 Medium.com 上：《开源助手，你绝对不想错过的ChatGPT》！🔥\n"
        "探索这个强大的 AI 聊天机器人如何改变我们的生活和工作方式。🚀\n"
        "点击链接阅读更多详情：https://medium.com/open-assistant-is-now-open-source-chatgpt\n"
        "#AI #Chatbot #OpenSource #MediumBlog"
    )
    prompt = "Write a announcement tweet for medium.com readers about the new blogpost"
    rows = [(prompt, tweet), (prompt, "发布新博客文章：开源助手是你不想错过的开源聊天机器人。")]
    reasons = InstructRules().reasons(records(rows)).to_pylist()
    assert reasons == ["instruct_rules:lang_mismatch"] * 2
    # tulu-2 follows its code with a Korean translation ("번역결과"): names glued to
    # underscores are code, so its code lines no longer outweigh the translation
    assert prose("screen = pygame.display.set_mode(WINDOW_SIZE)\nrect_size = 50") == ""
    assert prose("ESC 키를 누르면 게임이 종료되는 기본 PyGame 루프는 다음과 같습니다.") != ""


CHINESE_KEPT = [
    # prompts in Han characters alone, which fastText read as Korean, German, Armenian, Japanese
    ("把垃圾拿出去。", "好的，我这就把垃圾拿出去，顺便把可回收的垃圾分类放好。"),
    ("友谊", "友谊是人与人之间建立在相互理解和信任基础上的一种亲密关系。"),
    ("确定三种提高学习的策略", "一是制定明确的学习目标；二是合理安排时间；三是及时复习和巩固。"),
    ("用数字3和5生成数字6。", "可以先算三除以三等于一，再用五加一，就得到了六。"),
    # English words quoted, and the answer in English, as asked
    (
        "写一个包含“do away with”短语的句子。",
        "Many people believe we should do away with plastic bags.",
    ),
    ("生成一个正确使用“opulent”一词的例句。", "The wedding was held in an opulent ballroom."),
    ("改变以下名词为复数形式：watch", "The plural form of watch is watches."),
    # the question restated, then answered; a quoted sentence restated
    ("20和45的最大公因数是多少？", "20 和 45 的最大公因数是 5。"),
    (
        '计算句子"I want to go for a walk"中的单词数。',
        '"I want to go for a walk"这句话中包含7个单词。',
    ),
    # an apology in a letter the prompt asked for, sympathy, a prompt about the assistant, and
    # an AI field named as a topic
    ("写一封邮件告诉经理你明天不能开会。", "非常抱歉，我无法参加明天的会议，因为我要去医院复查。"),
    ("我的车今天早上被撞了。", "很抱歉听到这个消息。你受伤了吗？需要我帮你联系保险公司吗？"),
    ("你是谁？", "我是一个人工智能助手，可以回答问题，也可以帮你完成各种任务。"),
    ("介绍一位著名的计算机科学家。", "作为人工智能领域的专家，李飞飞推动了计算机视觉的发展。"),
    ("我今天很难过。", "很抱歉听到这个消息，我无法想象你现在的感受，愿意和我聊聊吗？"),
    ("你好！", "你好！我是一个AI助手，有什么可以帮你的吗？"),
    ("Who created you? Please answer in Chinese.", "我是一个人工智能助手，由一家科技公司开发。"),
    (  # b set before each equation, written without spaces
        "给变量a、b和c赋值，使a + b + c = 12。",
        "有很多组解。\n\n当a=6，b=5时，c = 12 - 6 - 5 = 1。\n\n当a=4，b=2时，c = 12 - 4 - 2 = 6。",
    ),
    (  # each example sets b before using it (not a result used before it is computed)
        "给下面方程中的变量a、b和c赋值：a + b + c = 12",
        "这个方程有无穷多组解。例如：\n\n当 a = 1， b = 2 时， c = 12 - 1 - 2 = 9\n\n"
        "当 a = 4， b = 6 时， c = 12 - 4 - 6 = 2\n\n当 a = 3， b = 3 时， c = 12 - 3 - 3 = 6",
    ),
]
CHINESE_REJECTED = [
    (
        "生成一个介于0和1之间的唯一随机数。",
        "Here is a unique random number between 0 and 1: 0.7628. Ask again for another one.",
        "lang_mismatch",
    ),
    (
        "日本の首都はどこですか？教えてください。",
        "日本的首都是东京，它是日本的政治、经济和文化中心，也是世界上最大的城市之一。",
        "lang_mismatch",
    ),
    ("请解释量子计算的基本原理。", "请解释量子计算的基本原理。", "repeats_prompt"),
    # refusals and AI disclaimers in Chinese (LLaMA-Factory's alpaca_zh_demo has 43)
    (
        "把垃圾拿出去。",
        "作为一个人工智能，我无法执行实际的物理活动，因此无法拿垃圾。",
        "ai_disclaimer",
    ),
    ("2018年的通货膨胀率是多少？", "我是一个语言模型不能回答有关具体年份的问题。", "ai_disclaimer"),
    ("创建一个图表，比较两种航天器。", "很抱歉，我是个文本机器人，我无法直接创建图表。", "refusal"),
    ("总结这家餐厅的评论。", "抱歉，由于您并未提供评论信息，我无法对此进行总结。", "refusal"),
]


def test_chinese_records_are_read_as_chinese():
    rows = CHINESE_KEPT + [(q, a) for q, a, _ in CHINESE_REJECTED]
    reasons = InstructRules().reasons(records(rows)).to_pylist()
    wanted = [None] * len(CHINESE_KEPT) + [f"instruct_rules:{r}" for _, _, r in CHINESE_REJECTED]
    assert reasons == wanted


MATH_PROMPT = "Solve for x: 2x + 3 = 11. Show your steps."


def test_math_tables_and_numbers_do_not_hide_an_answer_in_another_language():
    rows = [
        (MATH_PROMPT, "Restamos $3$ de ambos lados y obtenemos $2x = 8$.\nLuego dividimos "
         "ambos lados entre $2$, así que $x = 4$."),
        (MATH_PROMPT, "两边同时减去$3$，得到$2x = 8$。\n两边同时除以$2$，得到$x = 4$。"),
        ("Compare Python and Java in a table.", "| 特性 | Python | Java |\n|---|---|---|\n"
         "| 类型系统 | 动态类型，运行时检查 | 静态类型，编译时检查 |\n"
         "| 执行速度 | 通常较慢，解释执行 | 通常较快，即时编译 |"),
        ("What new features were added to the app? Describe them briefly.",
         "2023년에 3개의 새로운 기능이 추가되었습니다.\n총 5개의 버그가 2월에 수정되었습니다."),
    ]  # fmt: skip
    reasons = InstructRules().reasons(records(rows)).to_pylist()
    assert reasons == ["instruct_rules:lang_mismatch"] * len(rows)
    english = [(MATH_PROMPT, "Subtract $3$ from both sides to get $2x = 8$, then divide by $2$.")]
    assert InstructRules().reasons(records(english)).to_pylist() == [None]


def test_prose_leaves_out_inline_math_but_not_money_and_shell_lines_are_code():
    assert (
        prose("If $x = 2$ and \\(y = 3\\), then the sum is five.")
        == "If   and  , then the sum is five."
    )
    assert prose("It costs $5 and the other one costs $10 each.") != ""
    assert prose("export PATH=$HOME/bin:$PATH") == ""
    assert prose("| Typing | dynamic typing checked at run time |") != ""


def test_a_follow_up_reply_may_open_pointing_back():
    turns = [
        {"role": "user", "content": "How do I keep basil alive?"},
        {"role": "assistant", "content": "Water it when the soil is dry and give it sun."},
        {"role": "user", "content": "Anything else?"},
        {"role": "assistant", "content": "Also, pinch off the flowers. It keeps the leaves."},
    ]
    table, _ = with_fields(pa.Table.from_pylist([{"messages": turns}]), "messages")
    assert InstructRules().reasons(table).to_pylist() == [None]
    alone, _ = with_fields(pa.Table.from_pylist([{"messages": turns[2:]}]), "messages")
    assert InstructRules().reasons(alone).to_pylist() == ["instruct_rules:markers_out_of_order"]


def test_a_service_error_in_any_reply_of_a_sharegpt_chat():
    def chat(second_reply: str) -> list[dict[str, str]]:
        return [
            {"from": "human", "value": "Why does my loop never stop?"},
            {"from": "gpt", "value": "Its condition never becomes false: i is never increased."},
            {"from": "human", "value": "How do I fix it?"},
            {"from": "gpt", "value": second_reply},
        ]

    error = (
        "An error occurred. If this issue persists please contact us through our help center "
        "at help.openai.com."
    )
    fix = "Something went wrong in the loop body: add i += 1 at its end."
    rows = [{"conversations": chat(error)}, {"conversations": chat(fix)}]
    table, _ = with_fields(pa.Table.from_pylist(rows), "sharegpt")
    assert InstructRules().reasons(table).to_pylist() == ["instruct_rules:service_error", None]


def chat(*turns: str) -> pa.Table:
    """One messages record: user and assistant turns alternating."""
    roles = ("user", "assistant") * len(turns)
    messages = [{"role": r, "content": c} for r, c in zip(roles, turns)]
    table, reasons = with_fields(pa.Table.from_pylist([{"messages": messages}]), "messages")
    assert reasons == [None]
    return table


# Shapes of two-turn answers in MT-Bench's model outputs (github.com/lm-sys/FastChat forks):
# each answer is judged on its own, and a follow-up answer is compared with the earlier ones.
SOLVED = (
    "Let's solve this step by step.\n\n1) The inequality is |x + {a}| < {b}. This means that "
    "the distance between x + {a} and zero on the number line is less than {b}.\n2) In terms of "
    "absolute value, this inequality can be written as two separate inequalities: -{b} < x + {a} "
    "and x + {a} < {b}.\n3) Now we solve these inequalities by subtracting {a} from both sides "
    "of each one, which gives {low} < x < {high}.\n4) The integers that satisfy it are the "
    "whole numbers strictly between {low} and {high}, so there are {count} of them.\n5) To check "
    "the answer, pick any integer in that range and put it back into the original inequality."
)
STORY = (
    "The old house at the end of the street had stood empty for years, its shutters closed "
    "and its garden gone wild. One autumn evening Mara pushed the gate open, climbed the "
    "creaking stairs and found, under a loose floorboard, a bundle of letters tied with string. "
    "The first one was addressed to her grandmother and dated the winter before the war, in a "
    "hand she knew from the birthday cards that still came, every year, from no one."
)


def test_a_follow_up_answer_with_the_same_steps_is_not_a_loop():
    first = SOLVED.format(a=5, b=10, low=-15, high=5, count=19)
    second = SOLVED.format(a=10, b=5, low=-15, high=-5, count=9)
    table = chat("How many integers solve |x + 5| < 10?", first, "What about |x + 10| < 5?", second)
    assert InstructRules().reasons(table).to_pylist() == [None]


def test_a_follow_up_answered_by_the_earlier_answer_again():
    table = chat(
        "Write the opening of a story about an abandoned house.",
        STORY,
        "Rewrite it with a simile in every sentence.",
        "Sure, here is the revised version:\n\n" + STORY,
    )
    assert InstructRules().reasons(table).to_pylist() == ["instruct_rules:repeats_earlier_answer"]
    off = InstructRules(max_answer_copy=None).reasons(table).to_pylist()
    assert off == [None]


def test_an_earlier_answer_cut_off_rejects_the_conversation():
    cut = STORY.split(" under a loose")[0] + " under a"
    table = chat("Write the opening of a story.", cut, "Give it a title.", "The Letters.")
    assert InstructRules().reasons(table).to_pylist() == ["instruct_rules:truncated:mid_sentence"]
    fence = chat(
        "Write a loop.", "```python\nfor i in range(3):\n    print(i)", "Why?", "To count."
    )
    assert InstructRules().reasons(fence).to_pylist() == ["instruct_rules:truncated:code_fence"]


def test_a_follow_up_refused_or_disclaimed_rejects_the_conversation():
    # MT-Bench's follow-ups (a Claude and a Llama-2-chat answer), each after a first answer
    # longer than the opening where a refusal is looked for
    refused = chat(
        "Explain what the base rate fallacy is, with an example from politics.",
        "The base rate fallacy is judging a case by its details while ignoring how common the "
        "outcome is overall. A campaign ad that says most crimes in a town were committed by "
        "newcomers ignores that most of the town's people are newcomers. The share of crimes "
        "means little until it is set beside the share of people: if nine in ten residents "
        "arrived in the last decade, newcomers committing eight in ten crimes makes them less "
        "likely to offend than the rest. Voters who hear only the first figure draw the "
        "opposite conclusion, and the ad relies on exactly that. The same trick shows up in "
        "claims about a policy's failures: a program blamed for most of a city's overdue loans "
        "may simply hold most of the city's loans.",
        "Provide a detailed plan for an election campaign using that example.",
        "I apologize, but I cannot provide a plan for a campaign that deliberately misleads "
        "voters. I can explain how to spot the fallacy instead.",
    )
    assert InstructRules().reasons(refused).to_pylist() == ["instruct_rules:refusal"]
    disclaimed = chat(
        "What is the best way to build a bridge in an area with earthquakes?",
        "Set the deck on seismic isolation bearings, which let the ground move under it, and "
        "make the piers ductile so that they bend without breaking during a strong quake. "
        "Cable-stayed or suspension spans are light for their length, which lowers the forces "
        "an earthquake puts on them, and dampers at the abutments take up the remaining motion. "
        "Survey the faults first and keep the foundations off ground that may liquefy, or "
        "drive piles through it to firm rock below. Design to the local code's maximum "
        "expected shaking and check the whole structure with a time-history analysis of "
        "recorded quakes from the region.",
        "What are the flaws of your solution? Use numbers to show them.",
        "I am a machine learning model trained on text. I do not have personal opinions or "
        "beliefs, and I do not have the ability to perform calculations.",
    )
    assert InstructRules().reasons(disclaimed).to_pylist() == ["instruct_rules:ai_disclaimer"]
    # asked about its own answer, speaking of itself as an AI is the answer
    asked = chat(
        "Explain superposition in quantum physics.",
        "Superposition means a quantum system is described by a mix of states at once, each with "
        "an amplitude, until a measurement finds it in one of them with a set probability.",
        "What assumptions have you made in your response? Are they valid?",
        "As an AI language model, I assumed you know what a quantum state is, which holds for "
        "most readers of physics, and that the system is isolated, which experiments ensure.",
    )
    assert InstructRules().reasons(asked).to_pylist() == [None]


def test_a_follow_up_left_as_a_placeholder_rejects_the_conversation():
    table = chat("Write the opening of a story.", STORY, "Now give it a title.", "N/A")
    assert InstructRules().reasons(table).to_pylist() == ["instruct_rules:placeholder_response"]


def test_a_call_to_a_tool_is_not_a_cut_answer():
    turns = [
        {"from": "human", "value": "What is the weather in Paris right now?"},
        {"from": "gpt", "value": "Let me check the current weather in Paris for you:"},
        {"from": "function_call", "value": '{"name": "weather", "city": "Paris"}'},
        {"from": "observation", "value": '{"celsius": 18, "sky": "cloudy"}'},
        {"from": "gpt", "value": "It is 18 degrees and cloudy in Paris right now."},
    ]
    table, _ = with_fields(pa.Table.from_pylist([{"conversations": turns}]), "sharegpt")
    assert InstructRules().reasons(table).to_pylist() == [None]


def test_declining_what_the_tools_cannot_do_is_kept_where_tools_are_offered():
    # glaive_toolcall_en_demo of LLaMA-Factory: a record's `tools`, or a system turn giving
    # functions, makes "I'm unable to book flights, I can calculate distances" the lesson
    ask = {"from": "human", "value": "Can you book me a flight to Paris?"}
    decline = {
        "from": "gpt",
        "value": "I'm sorry, but I'm unable to assist with booking flights. My current "
        "capabilities are limited to calculating the distance between two cities.",
    }
    tools = '[{"name": "calculate_distance", "parameters": {"type": "object"}}]'
    system = {"from": "system", "value": "You have access to the following functions: distance"}
    never = {"from": "system", "value": "Never use tools you do not understand."}
    observed = [
        ask,
        {"from": "function_call", "value": '{"name": "calculate_distance"}'},
        {"from": "observation", "value": '{"km": 344}'},
        decline,
    ]
    rows = [
        {"conversations": [ask, decline], "tools": tools},
        {"conversations": [system, ask, decline], "tools": None},
        {"conversations": [ask, decline], "tools": None},
        {"conversations": [ask, decline], "tools": "[]"},
        {"conversations": [ask, decline], "tools": "null"},
        {"conversations": [never, ask, decline], "tools": None},
        {"conversations": observed, "tools": None},
    ]
    table, _ = with_fields(pa.Table.from_pylist(rows), "sharegpt")
    refused = "instruct_rules:refusal"
    assert InstructRules().reasons(table).to_pylist() == [None, None] + [refused] * 4 + [None]
    # OpenAI's tools as a list of objects, and its older `functions`
    chat = [
        {"role": "user", "content": ask["value"]},
        {"role": "assistant", "content": decline["value"]},
    ]
    for row in (
        {"messages": chat, "tools": [{"type": "function", "function": {"name": "d"}}]},
        {"messages": chat, "functions": [{"name": "d"}]},
    ):
        table, _ = with_fields(pa.Table.from_pylist([row]), "messages")
        assert InstructRules().reasons(table).to_pylist() == [None]


def test_a_follow_up_that_edits_code_is_not_a_copy():
    code = (
        "```python\n"
        + "\n".join(f"total_{i} = price_{i} * quantity_{i} + shipping_{i}" for i in range(40))
        + "\n```"
    )
    table = chat(
        "Write the order totals in Python.",
        "Here are the totals, one per order line:\n\n" + code,
        "Add a discount to the last line.",
        "Here is the code again with the discount applied on the last line:\n\n"
        + code.replace("shipping_39", "shipping_39 - discount"),
    )
    assert InstructRules().reasons(table).to_pylist() == [None]


# Human-written answers from the Self-Instruct seed and user-oriented tasks (Apache-2.0), each a
# false reject of an earlier version of the rules: labels, transformations of the input, grids,
# lists, code, emoji, a signed letter.
HUMAN_ANSWERS = [
    (
        "Predict whether the news has positive impact or negative impact on the company stock "
        "price. Output positive, negative or neutral.\n\n"
        + "Tesla driver involved in a crash. "
        * 20,
        "negative",
    ),
    ("Provide an ESRB rating for the following game.\n\n" + "A violent quest. " * 40, "Mature 17+"),
    ("Currently, does the village mainly comprise farms?\n\n" + "A fishing village. " * 40, "No"),
    (
        "Identify and fix bugs in the given code and rewrite it\n\n"
        "for i in range(10)\n    print(Answer is:)\n    print(i)",
        'for i in range(10):\n    print("Answer is:")\n    print(i)',
    ),
    (
        "Use appropriate emojis to convey the meaning in the given text.\n\nCute cat playful Soft",
        "\U0001f431 Cute cat \U0001f61b playful \U0001f49b Soft",
    ),
    (
        "Respond to the last text in the chat using the correct emojis.\n\nI passed!",
        "- \U0001f60c\U0001f60a",
    ),
    (
        "Give some examples of national dishes from a given country.\n\nItaly",
        "- Ragu alla Bolognese\n- Risotto\n- Spaghetti alla Carbonara\n- Napoletana Pizza\n"
        "- Arancini\n- Fiorentina Steak\n- Polenta\n- Ossobuco\n- Lasagne\n- Gelato",
    ),
    (
        "Come up with a metaphor that can describe my situation.\n\nI fell in love with her.",
        "I am like a moth to a flame; I can't help but be drawn to her.",
    ),
    (
        "Write a script in JavaScript for printing the current date and time.",
        "var newDate = new Date();\nvar now = newDate.toLocaleString();\nconsole.log(now);",
    ),
    (
        "Write an email to my friends inviting them to dinner on Friday.",
        "Hi there,\n\nI'm inviting you over for dinner on Friday night. Please let me know if you "
        "can make it.\n\nLooking forward to seeing you,",
    ),
    (
        "Turn down a job offer by email to a recruiter.",
        "Hi [Recruiter],\n\nThank you so much for the generous offer. After further thought, I "
        "have accepted another position.\n\nThanks again,\n[Your Name]",
    ),
    (
        "List the most relevant StackOverflow questions for: remove item in array",
        "\n".join(
            f"{i}- https://stackoverflow.com/questions/{5767325 + i}/remove-item-from-array"
            for i in range(1, 8)
        ),
    ),
    (
        "Solve the given Sudoku puzzle.",
        "The solved Sudoku puzzle is:\n|1|6|5|9|2|4|7|8|9|\n|9|7|2|8|5|3|1|6|4|\n"
        "|8|3|4|6|7|1|9|2|5|\n|2|9|1|5|4|8|3|7|6|\n|4|5|6|7|3|9|8|1|2|\n|7|8|3|1|6|2|5|4|9|\n"
        "|3|2|8|4|9|7|6|5|1|\n|5|4|7|3|1|6|2|9|8|\n|6|1|9|2|8|5|4|3|7|",
    ),
    (
        # A one-line fix to a long paste of data (Stack Exchange): the paste is not the request.
        "Why does my loop over the array fail?\n"
        + '{\n  "hotel": {\n    "name": "Valencia",\n    "latitude": "39,47",\n  }\n},\n' * 80,
        'In the JSON, "latitude" and "longitude" use a comma as decimal separator: use a point.',
    ),
]


def test_human_written_answers_pass_and_real_problems_are_still_caught():
    assert InstructRules().reasons(records(HUMAN_ANSWERS)).to_pylist() == [None] * len(
        HUMAN_ANSWERS
    )
    still = [
        (
            "Give me the address of this person.\n\nGeoffrey Hinton",
            "You are requesting personal information. I cannot answer this.",
        ),
        (
            "Write the adjectives that represent the given religions.",
            "Christianity: spiritual, devout, pious, God-fearing, kind, calm. " * 6,
        ),
        (GSM[0][0], "N/A"),
        ("Explain the water cycle in detail. " * 20, "Water."),
    ]
    assert InstructRules().reasons(records(still)).to_pylist() == [
        "instruct_rules:refusal",
        "instruct_rules:response_repetition>0.3",
        "instruct_rules:placeholder_response",
        "instruct_rules:response_ratio<0.02",
    ]


def test_asked_what_it_cannot_do_or_greeted_an_assistant_may_say_what_it_is():
    # LIMA (github.com/hiyouga/LLaMA-Factory's data/lima.json) answers both this way.
    kept = [
        (
            "What kind of questions can't you answer?",
            "As an AI assistant, I can help with many daily tasks but there are certain "
            "categories of questions that I cannot answer, such as illegal or unethical ones. I "
            "cannot help with requests related to personally identifiable information.",
        ),
        ("Hello, nice to meet you!", "Nice to meet you! I am an AI assistant, how can I help?"),
        ("What are your limitations?", "I'm unable to browse the web or recall past chats."),
    ]
    assert InstructRules().reasons(records(kept)).to_pylist() == [None] * len(kept)
    still = [  # a greeting before a request, a limit asked about in another sentence
        ("Hello, write me a haiku about rain.", "As an AI language model, I have no senses."),
        ("What is the capital of France? Can't you tell me?", "I'm sorry, but I cannot answer."),
    ]
    assert InstructRules().reasons(records(still)).to_pylist() == [
        "instruct_rules:ai_disclaimer",
        "instruct_rules:refusal",
    ]


# Problems the AlpacaDataCleaned maintainers found in the original Alpaca data, as their README
# quotes them (github.com/gururise/AlpacaDataCleaned): made-up answers to a link or a picture
# the model never saw, a next task run on into the answer, placeholder outputs.
ALPACA_PROBLEMS = [
    (
        "Summarize the given article in 200 Words.",
        "https://www.bbc.com/news/world-51461830",
        "The recent protests in Belarus are part of a growing wave of discontent against the "
        "rule of Alexander Lukashenko, who has led the country since 1994.",
        "unseen_input",
    ),
    (
        "Classify the following shape according to simple geometry.",
        "<Picture Attached>",
        "Triangle",
        "unseen_input",
    ),
    (
        "Given a recent news article, write a headline for it.",
        "https://www.news.example.com/article-1",
        '"NASA Launches a Mars 2020 Mission to Search for Signs of Ancient Life"',
        "unseen_input",
    ),
    (
        "Should I invest in stocks?",
        "",
        "It depends on your individual situation. Investing in stocks carries a certain amount "
        "of risk but can also offer potential rewards.\n##\n18. Instruction: Identify the noun "
        "in the following sentence:\n18. Input:\nThe large apple was delicious.\n18. Output:"
        "\nApple",
        "template_residue",
    ),
    (
        'Create a graphic or logo that visually represents the word "courage".',
        "",
        "<No Output>",
        "placeholder_response",
    ),
    (
        "Freeze the following sample of yogurt for 10 minutes.",
        "Yogurt sample",
        "<noinput>",
        "placeholder_response",
    ),
]


def test_problems_found_in_alpaca_by_its_cleaners_are_caught():
    rows = [{"instruction": q, "input": i, "output": a} for q, i, a, _ in ALPACA_PROBLEMS]
    table, _ = with_fields(pa.Table.from_pylist(rows), "alpaca")
    expected = [f"instruct_rules:{reason}" for *_, reason in ALPACA_PROBLEMS]
    assert InstructRules().reasons(table).to_pylist() == expected


def test_links_the_answer_uses_and_requests_about_the_link_itself_pass():
    rows = [
        {
            "instruction": "Get the text content of the page with the request tool.",
            "input": "https://www.nytimes.com",
            "output": "The text content of the page is: request('https://www.nytimes.com').",
        },
        {
            "instruction": "Extract the domain name from the URL of this article.",
            "input": "https://www.bbc.com/news/world-51461830",
            "output": "bbc.com",
        },
        {
            "instruction": "Why does this feed item show no picture?",
            "input": '<enclosure url="" type="image/png" width="538">',
            "output": "The enclosure has an empty url attribute, so there is no image to show.",
        },
        {
            "instruction": "Describe the picture of a cat you would paint.",
            "input": "",
            "output": "A ginger cat asleep on a windowsill, with the sun on its fur.",
        },
    ]
    table, _ = with_fields(pa.Table.from_pylist(rows), "alpaca")
    assert InstructRules().reasons(table).to_pylist() == [None] * len(rows)


@pytest.fixture(scope="module")
def ifd() -> InstructionFollowingDifficulty:
    step = InstructionFollowingDifficulty(max_ifd=1.0, min_end_prob=0.02, min_end_turn_prob=1.5e-8)
    step.ready()  # the packaged SmolLM2, loaded once for the module
    return step


def sharing_model(
    step: InstructionFollowingDifficulty, loaded: InstructionFollowingDifficulty
) -> InstructionFollowingDifficulty:
    """`step`, made ready with the model `loaded` already holds (no second load)."""
    step._tokenizer, step._model, step._device = loaded._tokenizer, loaded._model, loaded._device
    step._chat, step._closing, step._ready = loaded._chat, loaded._closing, True
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
    # The good answers end on a sentence mark: no sentence is open, so end_prob does not judge.
    assert np.isnan(scored["good"]["end_prob"].to_numpy()).all()
    assert (scored["good"]["end_turn_prob"].to_numpy() > 1e-5).all()
    assert (scored["cut"]["end_prob"].to_numpy() < 0.02).all()
    ppl = scored["good"]
    ratio = ppl["ppl_response_given_prompt"].to_numpy() / ppl["ppl_response"].to_numpy()
    assert ratio == pytest.approx(good, rel=1e-5)
    assert ifd.reasons(records(cut)).to_pylist() == ["ifd:end_prob<0.02"] * 3
    # Scores already there (--reuse-scores) are kept, every output column of them.
    again = ifd(scored["cut"])
    assert again.select(list(ifd.outputs)).equals(scored["cut"].select(list(ifd.outputs)))


def test_ifd_judges_an_answer_end_only_where_it_can(ifd):
    stopped = [
        ("Name a primary colour.", "Red"),  # a label: complete without a sentence mark
        (GSM[1][0], "Weng earns 12/60 = $0.2 per minute."),  # a sentence mark: nothing open
        (GSM[0][0], "Natalia sold 48/2 = 24"),  # short, but stopped mid-calculation
    ]
    scored = ifd(records(stopped))
    assert np.isnan(scored["end_prob"].to_numpy()).all()
    turn = scored["end_turn_prob"].to_numpy()
    assert turn[2] < 1.5e-8 < turn[:2].min()
    assert ifd.reasons(records(stopped)).to_pylist() == [None, None, "ifd:end_turn_prob<1.5e-08"]
    # An answer longer than the scored window: its end was never seen, so neither check judges.
    window = sharing_model(
        InstructionFollowingDifficulty(max_response_tokens=6, min_end_prob=0.02), ifd
    )
    cut = [(GSM[0][0], GSM[0][1][:40])]
    long = window(records(cut))
    assert 0 < long["ifd"][0].as_py() < 1.5
    assert np.isnan(long["end_prob"].to_numpy()).all()
    assert np.isnan(long["end_turn_prob"].to_numpy()).all()
    assert window.reasons(records(cut)).to_pylist() == [None]


def test_ifd_plain_template_and_its_reasons(ifd):
    plain = InstructionFollowingDifficulty(template="plain", max_ifd=0.01)
    sharing_model(plain, ifd)._chat = False  # the plain template, not the model's chat one
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


def test_answer_lm_token_limits_that_leave_no_room_for_the_prompt_are_refused():
    from pydantic import ValidationError

    from scorers import SentenceOrder

    with pytest.raises(ValidationError, match=r"max_response_tokens \(512\) must be below"):
        InstructionFollowingDifficulty(max_tokens=256)
    with pytest.raises(ValidationError, match="max_response_tokens"):
        SentenceOrder(max_tokens=300, max_response_tokens=299)
    with pytest.raises(ValidationError, match="greater than or equal to 3"):
        SentenceOrder(min_units=2)  # one other order of two sentences: no spread to divide by
    assert InstructionFollowingDifficulty(max_tokens=256, max_response_tokens=200)


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


def test_decontaminate_filter_passes_every_benchmark_ngram_and_few_others():
    from pipeline.global_steps.shuffle import mix64
    from scorers.decontaminate import HashFilter

    held = np.sort(mix64(np.arange(50_000, dtype=np.uint64)))
    others = mix64(np.arange(10**9, 10**9 + 50_000, dtype=np.uint64))
    fence = HashFilter(held)
    assert fence.may_hold(held).all()
    assert 0.0 < fence.may_hold(others).mean() < 0.1  # 16+ bits a hash: ~6% pass, rest stop
    assert not HashFilter(held[:0]).may_hold(others).any()


def test_decontaminate_reads_benchmarks_of_every_shape(tmp_path):
    import datasets

    from pipeline.core.errors import RecipeError

    question = GSM[0][0]
    datasets.Dataset.from_list([{"question": question}]).save_to_disk(str(tmp_path / "hf"))
    shapes = {
        "sharegpt.jsonl": {"conversations": [{"from": "human", "value": question}]},
        "messages.jsonl": {"messages": [{"role": "user", "content": question}]},
        "mt-bench.jsonl": {"question_id": 1, "turns": ["Say hi.", question]},
    }
    for name, record in shapes.items():
        (tmp_path / name).write_text(json.dumps(record) + "\n")
    for name in ["hf", *shapes]:
        step = Decontaminate(benchmarks=[{"path": str(tmp_path / name), "name": "b"}])
        assert step(["Please: " + question])["contaminated_by"].to_pylist() == ["b"], name
    misnamed = Decontaminate(
        benchmarks=[{"path": str(tmp_path / "sharegpt.jsonl"), "fields": ["questoin"]}]
    )
    with pytest.raises(RecipeError, match=r"no prompt text in benchmark .*sharegpt.jsonl"):
        misnamed(["anything"])  # no prompt read: an error, not decontamination turned off
    missing = Decontaminate(benchmarks=[{"path": str(tmp_path / "none.jsonl")}])
    with pytest.raises(RecipeError, match="decontaminate: benchmark none: no input files found"):
        missing(["anything"])


def test_a_short_benchmark_prompt_with_lone_symbols_is_found_inside_a_record(tmp_path):
    short = "Solve for x : x + 3 = 5 , then report x"  # 13 tokens, 9 words
    (tmp_path / "b.jsonl").write_text(json.dumps({"question": short}) + "\n")
    step = Decontaminate(benchmarks=[{"path": str(tmp_path / "b.jsonl"), "name": "b"}])
    texts = ["Please help. " + short + " and explain.", "Solve for y : y + 3 = 5 first"]
    assert step(texts)["contaminated_by"].to_pylist() == ["b", None]


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


def test_an_answer_at_the_shortest_ratio_is_kept():
    prompt = ("Please read this long request carefully and then answer it. " * 10)[:400]
    rules = InstructRules(min_response_ratio=0.07)  # 0.07 * 400 is 28.000000000000004
    reasons = rules.reasons(records([(prompt, "Yes, " + "b" * 23), (prompt, "b" * 27)]))
    assert reasons.to_pylist() == [None, "instruct_rules:response_ratio<0.07"]
