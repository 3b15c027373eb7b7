"""The one Prometheus text writer: escaping and number formatting."""

from __future__ import annotations

import math

from microrack.exposition import escape_help, escape_label, format_value, render
from microrack.sample import Point, SeriesKey


def test_label_values_escape_backslash_quote_and_newline() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_help_escapes_only_backslash_and_newline() -> None:
    # A quote in HELP is literal in the text format; escaping it would be an invalid sequence.
    assert escape_help('say "hi"\\\n') == 'say "hi"\\\\\\n'
    text = render([Point(SeriesKey.of("x"), 1.0)], {"x": 'the "x"\nvalue'})
    assert text.splitlines()[0] == '# HELP x the "x"\\nvalue'


def test_help_is_written_as_given_trailing_blanks_included() -> None:
    # client_golang writes a family's HELP verbatim (a textfile's "text " stays "text ")
    text = render([Point(SeriesKey.of("x"), 1.0)], {"x": " padded  "})
    assert text.split("\n")[0] == "# HELP x  padded  "


def test_the_agents_own_help_texts_have_no_stray_blanks() -> None:
    from microrack.agent import HELP

    assert {k: v for k, v in HELP.items() if v != v.strip()} == {}


def test_numbers_as_go_formats_them() -> None:
    assert format_value(math.nan) == "NaN"
    assert format_value(math.inf) == "+Inf"
    assert format_value(-math.inf) == "-Inf"
    assert format_value(3.0) == "3"
    assert format_value(1e20) == "1e+20"
    assert format_value(0.25) == "0.25"
