"""Order checks without a model: markers and worked steps out of sequence, and the orders
people really write that must pass."""

import pytest

from scorers.answer_order import ASKS_TO_CONCLUDE, markers_out_of_order, result_used_early


@pytest.mark.parametrize(
    "answer",
    [
        "Additionally, the handle is loose. The door sticks. Oil the hinges.",
        "Then, add the flour. Mix the butter and sugar. Bake for an hour.",
        "1. Boil the water.\n3. Wait three minutes.\n2. Pour it over the tea bag.",
        "Second, pour the water. First, boil it. Third, wait.",
        "Firstly, boil the water. Finally, drink it. Next, pour it over the tea bag.",
        "2) Pour the water. It will steam. Steps: 1) Boil the water. 3) Wait.",
        "Next, pour the water. First, boil it. It will steam.",
        "2. Pour the water.\n1. Boil the water.\n2. Wait three minutes.",
        # GPTeacher roleplay answers shuffled: an ordinal after the last step, a summing-up opener
        "First, I would visit the scene. Third, I would list the suspects. Finally, I would "
        "weigh the evidence. Fourth, I would question the suspects.",
        "So, you see, photosynthesis feeds the fern. The plant turns sunlight into sugar. "
        "Young Zogarian, let me tell you about photosynthesis.",
    ],
)
def test_markers_out_of_order_are_caught(answer):
    assert markers_out_of_order(answer)


@pytest.mark.parametrize(
    "answer",
    [
        # Written so by people or in the GPTeacher sets, in their own order.
        "So far, Mary has paid back $15 +$23=$38 of the credit. So she still needs $62.",
        "Thus far, I have found several large footprints. I also interviewed witnesses.",
        "Next week, Michelangelo will paint 12/4=3 ceilings. He will have 13 more to paint.",
        "Second person = 27 - 7 = 20 kg\n103 - 27 - 20 = 56 kg\n56/2 = 28 kg",
        "Instead of resorting to violence, I would talk. The dragon may listen.",
        "Finally, after countless hours of work, we cracked the code. I am relieved.",
        "The window was broken. Next, the footprints. Lastly, the handkerchief. "
        "Additionally, its fabric helps.",
        "Here are the steps:\n1. Dice the fruits.\n2. Finally, sprinkle the coconut.\n3. Serve.",
        "First, boil the water. Second, pour it. Finally, wait three minutes.",
        "However you slice it, the cake has 24 pieces. Each of us gets 6.",
        "Just one sentence, however it starts.",
        "Subtract the quarter (25) and the dime (10): $0.75 - $0.25 - $0.10 = $0.40. Done.",
        "Yolanda rides x + 15 minutes. Her distance is 20 mph * (x + 15). His is 40 mph * x.",
        "Key features: 1) speed, 2) safety. 3) Comfort matters too.",
        "Pros:\n1. It is fast.\n2. It is cheap.\nCons:\n1. It is loud.\n2. It is ugly.",
        "1. Make the dough.\n   1. Mix flour and water.\n   2. Knead it.\n2. Bake it.",
        "First, make the dough. Second, bake it. The sauce is quick. First, chop. Second, simmer.",
        "So you see the problem now. The pump is too small. Buy a larger one.",
        "In a nutshell, an API is a contract between two programs. One asks, the other answers.",
        # LIMA's answers (written by people): a TL;DR opener, a how-to whose sections each have
        # their steps, a list number written twice, an inline list inside a quote
        "In short, iceberg lettuce is mostly water. A rabbit fills up on it but starves.",
        "## Cleaning with vinegar\nMix the vinegar. Then, stir it.\n\n## Drying the rings\n"
        "First, soak up the water. Then, buff them.",
        "Instructions:\n1. Slice the roast.\n2. Rub the spices in.\n2. Heat the oil.\n3. Serve.",
        "1. List his faults.\nLike this: “1) Late; 2) Rude; 3) Vain.”\n2. Read the list daily.",
        "Mix the soda. Then, stir it.\r\n\r\nFirst, soak the rings. Then, buff them.",
        "Mix the soda. Then, stir it.\n  \nFirst, soak the rings. Then, buff them.",
    ],
)
def test_orders_people_write_pass(answer):
    assert not markers_out_of_order(answer)


def test_a_verdict_asked_for_may_open_the_answer():
    verdict = "Overall, the article is clear. It cites its sources and reads well."
    assert markers_out_of_order(verdict)
    asked = "An evaluation of the article's quality should be carried out."
    assert not markers_out_of_order(verdict, asked_to_conclude=bool(ASKS_TO_CONCLUDE.search(asked)))


def test_a_result_used_before_the_step_that_computes_it():
    prompt = "Betty has half of the $100 she needs. Her parents give $15. How much is missing?"
    ordered = "Betty has 100 / 2 = $50.\nShe still needs 50 - 15 = $35."
    assert not result_used_early(prompt, ordered)
    assert result_used_early(prompt, "She still needs 50 - 15 = $35.\nBetty has 100 / 2 = $50.")


def test_operands_with_units_and_known_factors():
    prompt = "Kate sold 2 wands for $130 in all, $5 more each than she paid. What did she pay?"
    ordered = "She charged $130 / 2 wands = $65/wand.\nShe paid $65 - $5 = $60 for each wand."
    assert not result_used_early(prompt, ordered)
    assert result_used_early(prompt, "\n".join(reversed(ordered.splitlines())))
    # 60 seconds a minute is not a result used early, though a later step computes 60.
    laps = "Margaret took 10 minutes * 60 seconds = 600 seconds.\nLap 9 took 1 minute * 60 = 60."
    assert not result_used_early("Margaret swims 10 laps in 10 minutes.", laps)
    # Added, though, a known factor is a count like any other (GSM8K's watches, shuffled).
    watches = "Julia owns 20 silver watches and three times as many bronze. How many in all?"
    mixed = "60 + 20 = 80 watches in all.\nJulia owns 3 * 20 = 60 bronze watches."
    assert result_used_early(watches, mixed)
    # A whole in percent is known too ("100% - 25%"), though a later step computes 100.
    price = "Eunice spent $7500 on a car, 25% less than the original price. What was it?"
    solved = "$7500 is 100% - 25% = 75% of it.\nSo 1% is $7500/75% = $100.\nIt was $10000."
    assert not result_used_early(price, solved)
