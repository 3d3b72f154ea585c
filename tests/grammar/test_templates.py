"""Templates split into static text and placeholders; braces escape; errors point at the brace."""

from __future__ import annotations

import pytest

from heliumsql.errors import ParseError
from heliumsql.grammar.templates import Placeholder, Static, parse_template


def test_segments_columns_and_static_prefix() -> None:
    t = parse_template("Review: {review} ({r.stars} stars)")
    assert t.segments == (Static("Review: "), Placeholder("review"), Static(" ("),
                          Placeholder("stars", "r"), Static(" stars)"))
    assert t.columns == ("review", "r.stars")
    assert t.static_prefix == "Review: "


def test_escaped_braces_are_static_text() -> None:
    t = parse_template('{{"a": {x}}}')
    assert t.segments == (Static('{"a": '), Placeholder("x"), Static("}"))


def test_no_placeholders_and_leading_placeholder() -> None:
    assert parse_template("plain").segments == (Static("plain"),)
    assert parse_template("{x} then").static_prefix == ""
    assert parse_template("").segments == ()


@pytest.mark.parametrize(("text", "message"), [
    ("Hi {name", "not closed"), ("Hi name}", "without a matching"), ("{a {b}}", "not closed"),
    ("{}", "not a column name"), ("{a b}", "not a column name"), ("{1x}", "not a column name"),
])
def test_malformed_templates(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        parse_template(text)
    assert text in info.value.excerpt and "^" in info.value.excerpt
