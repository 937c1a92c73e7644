import numpy as np
import pytest

import gtn
from apps.check_reading.amounts import (
    ALPHABET,
    amount_value,
    encode,
    grammar,
    is_valid_amount,
    same_amount,
    sample_amount,
)
from gtn.composition import intersect


def accepts(text: str) -> bool:
    return bool(np.isfinite(float(gtn.min_energy(intersect(gtn.linear(encode(text)), grammar())))))


@pytest.mark.parametrize(
    "text", ["0", "7", "$12.50", "***5", "$**1,234.00", "123456", "999,999.99", "0.05", "$1,000"]
)
def test_grammar_accepts_valid_amounts(text):
    assert is_valid_amount(text)
    assert accepts(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "$",
        "05",
        "1,23",
        "12,345,678",
        "1234567",
        "1.5",
        "1.505",
        "$$1",
        "1$",
        "****1",
        "1*",
        ".50",
        "12,3456",
        ",",
    ],
)
def test_grammar_rejects_invalid_amounts(text):
    assert not is_valid_amount(text)
    assert not accepts(text)


def test_sampled_amounts_are_grammatical_and_varied():
    rng = np.random.default_rng(0)
    texts = [sample_amount(rng) for _ in range(400)]
    assert all(is_valid_amount(t) for t in texts)
    assert any("," in t for t in texts) and any("$" in t for t in texts)
    assert any("*" in t for t in texts) and any("." in t for t in texts)
    lengths = {len(t.split(".")[0].lstrip("$*").replace(",", "")) for t in texts}
    assert lengths == {1, 2, 3, 4, 5, 6}


def test_grammar_acceptor_agrees_with_regex_on_random_strings():
    rng = np.random.default_rng(1)
    g = grammar()
    texts = ["".join(rng.choice(list(ALPHABET), rng.integers(1, 8))) for _ in range(300)]
    texts += [sample_amount(rng) for _ in range(100)]
    energies = gtn.min_energy(intersect([gtn.linear(encode(t)) for t in texts], g))
    assert [bool(np.isfinite(e)) for e in energies.tolist()] == [is_valid_amount(t) for t in texts]


def test_encode_rejects_unknown_characters():
    with pytest.raises(ValueError, match="not in the alphabet"):
        encode("12a")


@pytest.mark.parametrize(
    "text, value",
    [("$**1,234.00", 123400), ("1234", 123400), ("0.05", 5), ("999,999.99", 99999999), ("7", 700)],
)
def test_amount_value(text, value):
    assert amount_value(text) == value


def test_amount_value_agrees_with_decimal_arithmetic_on_sampled_amounts():
    from decimal import Decimal

    rng = np.random.default_rng(5)
    for text in [sample_amount(rng) for _ in range(500)]:
        dollars = Decimal(text.lstrip("$*").replace(",", ""))
        assert amount_value(text) == int(dollars * 100)


@pytest.mark.parametrize("text", ["", "1,2", "$", "01", "1.5", "12,34"])
def test_amount_value_is_none_outside_the_grammar(text):
    assert amount_value(text) is None


def test_same_amount_needs_an_amount_worth_the_truth():
    assert same_amount("1234.00", "$1,234") and same_amount("$**12", "12.00")
    assert not same_amount("10992", "109.92") and not same_amount("", "0")
    assert not same_amount("1,2", "1,2")  # not an amount, even when it is the truth's string
