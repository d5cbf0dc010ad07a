"""The subscription filter check of ``newsbeam topics setup`` (``filter_problem``): it refuses
only what Pub/Sub's filter syntax certainly forbids, and lets every filter README.md shows
through. The emulator stores any filter unchecked, so without it these mistakes went unseen.
(The command refusing one: tests/test_pubsub_commands.py and tests/test_topics_subscribe.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.pubsub_checks import filter_problem


def _sized_filter(size: int, char: str = "x") -> str:
    """A valid filter of exactly ``size`` bytes: ``attributes.k = "xxx..."``."""
    body = char * ((size - len('attributes.k = ""')) // len(char.encode()))
    key = "k" * (1 + size - len('attributes.k = ""') - len(body.encode()))
    expression = f'attributes.{key} = "{body}"'
    assert len(expression.encode()) == size
    return expression


VALID_FILTERS = [
    # README's filter table, its dead-letter example and its note on record_type
    "attributes:platform_tiktok AND attributes:state_china",
    "attributes:controversy_ban_or_restriction",
    'attributes:platform_tiktok AND attributes.outlet_country = "CN" AND '
    'attributes.outlet_state_affiliation = "SC"',
    'attributes.outlet_state_affiliation = "SC" OR attributes.outlet_state_affiliation = "CaPu" '
    'OR attributes.outlet_state_affiliation = "CaPr"',
    'attributes.relevant = "true"',
    'NOT attributes.outlet_domain = "example.com"',
    "NOT attributes:text_truncated",
    'attributes.retryable = "true"',
    "NOT attributes:record_type",
    # the rest of the syntax
    'hasPrefix(attributes.outlet_domain, "global") AND -attributes:text_truncated',
    "(attributes:platform_tiktok OR attributes:platform_meta) AND NOT attributes:record_type",
    "attributes:a AND (attributes:b OR (attributes:c AND attributes:d)) AND attributes:e",
    'attributes.outlet_country != "CN"',
    'attributes."iana.org/language_tag" = "en"',
    'attributes.title = "say \\"and\\" or (not)"',  # operators and brackets in a string
    "attributes:and AND attributes:or",  # keys, not operators
    "-(attributes:a OR attributes:b)",
    _sized_filter(256),
    _sized_filter(256, "\u00e9"),  # 2 bytes a character
]


@pytest.mark.parametrize("expression", VALID_FILTERS)
def test_valid_filters_pass_the_check(expression: str) -> None:
    assert filter_problem(expression) is None


def test_every_filter_readme_and_the_terraform_deployment_show_passes() -> None:
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    shown = re.findall(r"`((?:NOT |-)?attributes[.:][^`]*)`", readme)
    shown += re.findall(r"--filter '([^']*)'", readme)
    shown += re.findall(r'filter\s*=\s*"(.*)"', (root / "deploy/terraform/main.tf").read_text())
    assert len(set(shown)) >= 9  # the table's 7, the dead-letter example, record_type ...
    assert {f: filter_problem(f.replace('\\"', '"')) for f in shown} == dict.fromkeys(shown)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        (_sized_filter(257), "a filter is at most 256 bytes, this one is 257"),
        ("attributes:a " * 70, "a filter is at most 256 bytes, this one is 910"),
        (_sized_filter(258, "\u00e9"), "a filter is at most 256 bytes, this one is 258"),
        ("attributes:a and attributes:b", "operators are written in capitals: AND, not and"),
        ("attributes:a Or attributes:b", "operators are written in capitals: OR, not Or"),
        ("not attributes:a", "operators are written in capitals: NOT, not not"),
        ("attributes:a AND (not attributes:b)", "operators are written in capitals: NOT"),
        ("attributes.x = 1", 'the value after = must be a quoted string ("value"), not 1'),
        ("attributes.x != CN", "the value after != must be a quoted string"),
        ("attributes.x =", "the value after = must be a quoted string"),
        ("attributes.x = (", "the value after = must be a quoted string"),
        (
            "attributes:a AND attributes:b OR attributes:c",
            "AND and OR mixed without parentheses: write (A AND B) OR C, or A AND (B OR C)",
        ),
        ("attributes:a OR attributes:b AND attributes:c", "AND and OR mixed without parentheses"),
        ("(attributes:a OR attributes:b AND attributes:c)", "AND and OR mixed without parentheses"),
        ("(attributes:a AND attributes:b", "unbalanced parentheses: a '(' is never closed"),
        ("attributes:a)", "unbalanced parentheses: a ')' has no '(' before it"),
        ('hasPrefix(attributes.x, "a"', "unbalanced parentheses: a '(' is never closed"),
        ('attributes.x = "CN', 'unbalanced quotes: a " is never closed'),
        ('attributes.x = "C\\"', 'unbalanced quotes: a " is never closed'),  # \" is escaped
    ],
)
def test_certainly_invalid_filters_are_named_with_their_problem(
    expression: str, problem: str
) -> None:
    assert problem in (filter_problem(expression) or "")
