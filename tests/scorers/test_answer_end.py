"""Where an answer's end is judged: open sentences yes; sentence marks, labels, links, lists no."""

import pytest

from scorers.answer_end import (
    cut_mid_sentence,
    ends_on_link,
    ends_with_sentence_mark,
    leaves_sentence_open,
)


@pytest.mark.parametrize(
    "answer",
    [
        "Weng earns 12/60 = $0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50",
        "Love, on the other hand, is a more complex feeling that can change",
        "The solved puzzle is below and the first row reads",
        "She named Viserion after her late brother and then",
        "The steps:\n- Preheat the oven\n- Mix the flour and the butter until they",
        "- Preheat the oven to 180 degrees and mix the",
    ],
)
def test_a_sentence_left_open_is_judged(answer):
    assert leaves_sentence_open(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "Natalia sold 48+24 = 72 clips altogether in April and May.",
        '"I will be there," she said.',
        "It probably means (headland overgrown with birch).",
        "Red",
        "Russia and China",
        "Rock collecting, coin collecting, bird watching, gardening, writing",
        "Vehicles with four wheels include: car, van, all-terrain vehicle (ATV)",
        "Matthew Tkachuk; Sean Couturier; Brady Tkachuk; Tage Thompson",
        "Shows you may enjoy:\n- Squid Game\n- All of Us Are Dead\n- Sweet Home",
        "Try these:\n1. Charades\n2. Pictionary\n3. Truth or Dare",
        "Games: 1. Mafia 2. Charades 3. Pictionary 4. Uno 5. Kubb",
        "Templates:\n- https://www.overleaf.com/latex/templates/homework/wdsxknmntnxk",
    ],
)
def test_a_finished_sentence_a_label_a_list_or_a_link_is_not(answer):
    assert not leaves_sentence_open(answer)


def test_only_a_link_at_the_very_end_counts():
    assert ends_on_link("See https://example.com/a\n")
    assert not ends_on_link("See https://example.com/a for the details")


@pytest.mark.parametrize(
    "answer",
    [
        "And so, after all that, he called it a day…",
        "_Always read the label on the bottle first._ ",
        "Il a dit : «Pour aujourd'hui, c'est fini.»",
        "इस प्रश्न का सही उत्तर यही है।",
    ],
)
def test_an_ellipsis_emphasis_guillemets_or_another_script_end_a_sentence(answer):
    assert ends_with_sentence_mark(answer)
    assert not leaves_sentence_open(answer)


def test_a_link_glued_to_a_bracket_still_ends_on_a_link():
    assert ends_on_link("The docs are here (https://example.com/a)")


def test_a_closing_rule_and_verse_are_not_cuts():
    # AlpacaEval answers closing with a markdown rule; a LIMA poem whose lines end unmarked
    assert not cut_mid_sentence("Best regards,\n\n[Your Full Name]\n\n---")
    assert cut_mid_sentence("The ideal readings are:\n\n---")
    poem = (
        "I say hello to the man called Jude\nAsking that he make happier notes from sad tunes\n"
        "Once you let inside your love, notes happier hued\n"
        "So come now Jude, you must go out and get her"
    )
    assert not cut_mid_sentence(poem)
    # a list of short items can still be cut in its last one
    assert cut_mid_sentence("1. Secretariat - Owned by Meadow Stable\n2. Trigger - Owned by")
    assert cut_mid_sentence("Mix the flour.\nThen you take the butter and put it into the")
    recipe = "Ingredients\n2 cups flour\n1 cup sugar\n3 large eggs\nPreheat the oven, put in the"
    assert cut_mid_sentence(recipe)


def test_a_game_waiting_for_the_readers_pick_is_not_cut():
    # Arena-Bench: a text game's turn (graded 10) ends on its prompt for a move
    turn = (
        "You arrive at the academy. Where will you train first?\n\n"
        "A) Join the Warrior's Guild to increase your Strength.\n"
        "B) Join the Archery Guild to hone your precision and Agility.\n"
        "E) Propose your own unique path (please specify).\n\nChoose your path:"
    )
    assert not cut_mid_sentence(turn)
    assert not cut_mid_sentence("Option A: Rest.\nOption B: Train.\nYour move:")
    # a lead-in to options still missing, or no options before it, is cut
    assert cut_mid_sentence("- Rest at the inn\n- Train\nChoose one of the following:")
    assert cut_mid_sentence("You wake up in a dark cave with a torch.\nChoose your path:")


@pytest.mark.parametrize(
    "steps",
    [
        "1. Open the terminal.\n2. Go to your project folder.\nEnter this command in the terminal:",
        "- 1 cup flour\n- 2 eggs\nMake the batter:",
        "- Close all apps.\n- Restart.\nMake sure you also have:",
        "**Step 2: Log in**\n**Step 3: Configure the router**\nSelect Advanced Settings:",
        "1. Open it.\n2. Install pip.\nEnter the values as follows:",
        "2. Click on File.\n3. Click on Save As.\nSelect the menu item:",
        "A) Red.\nB) Blue.\nChoose your color:",
        "- Player 1 draws a card.\n- Player 2 draws a card.\nYour turn to write the function:",
        "1. Install it.\n2. Run it.\nChoose one of these options:",
    ],
)
def test_a_steps_lead_in_after_a_list_is_still_cut(steps: str):
    # the game exemption asks for a menu (two options or more) and a pick of one of them
    assert cut_mid_sentence(steps)
