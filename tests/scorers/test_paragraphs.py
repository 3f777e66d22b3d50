"""A line holding only white space breaks paragraphs for every rule that reads paragraphs."""

from filters.text_stats import blocks
from scorers.answer_echo import echoes_prompt
from scorers.answer_end import ends_on_prose
from scorers.answer_order import markers_out_of_order
from scorers.unseen_input import asks_about_unseen

BLANK = "\n \t\u00a0\r\n"  # spaces, a tab, a no-break space and a CR: still a blank line


def test_blocks_split_on_blank_lines_and_drop_empty_ones():
    assert blocks(f"A.{BLANK}B.\n\n\n\nC.\nD.\n") == ["A.", "B.", "C.\nD."]
    assert blocks("") == [] and blocks(BLANK) == []


def test_a_copy_with_its_paragraphs_is_an_echo():
    prompt = f"Fix the grammar: the cat sat on the mat.{BLANK}The dog lay on the rug all day."
    answer = "Fix the grammar: the cat sat on the mat.\n\nThe dog lay on the rug all day."
    assert echoes_prompt(prompt, answer)


def test_closing_prose_after_white_space_lines_is_its_own_paragraph():
    # from AlpacaEval: the answer's last paragraph followed four blank lines, one of spaces
    answer = (
        "```\nfrom artists import joel\n```\n- Lou Reed, The Ramones: NYC artists.\n\n\n\n  \n"
        "This structure highlights the key musical and thematic threads that link artists to "
        "Billy Joel's appeal."
    )
    assert ends_on_prose(answer)
    assert not ends_on_prose("")
    indented = (
        "Run it like this.\n  \n    for name in names: print(name) and then print the sum of them."
    )
    assert not ends_on_prose(indented)  # an indented last paragraph is code, however wordy
    assert ends_on_prose(indented.replace("\n    ", "\n"))


def test_steps_are_ordered_within_a_paragraph_only():
    steps = "First, preheat the oven. Finally, bake the bread for thirty minutes."
    assert markers_out_of_order(f"{steps}\nNext, we look at how to store it.")
    assert not markers_out_of_order(f"{steps}{BLANK}Next, we look at how to store it.")


def test_a_link_in_its_own_paragraph_stands_for_unseen_text():
    prompt = f"Summarize this article.{BLANK}https://www.bbc.com/news/world-51461830"
    assert asks_about_unseen(prompt, "The article says the economy grew by two percent.")
    assert not asks_about_unseen(
        "Summarize this article: https://www.bbc.com/news/world-51461830 and more.",
        "The article says the economy grew by two percent.",
    )
