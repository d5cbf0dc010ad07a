"""Checks the Pub/Sub commands make before they ask the service anything.

``filter_problem`` refuses a subscription filter Pub/Sub's syntax surely forbids (the
emulator stores any filter unchecked); ``check_emulator`` finds out at once whether anything
listens at ``PUBSUB_EMULATOR_HOST``; ``service_name`` says what the clients talk to.
"""

from __future__ import annotations

import os
import re
import socket

EMULATOR_CONNECT_TIMEOUT = 2.0  # seconds to find something listening at PUBSUB_EMULATOR_HOST


class SetupError(RuntimeError):
    """Pub/Sub could not be set up; the message says what to fix."""


MAX_FILTER_BYTES = 256
# A filter's tokens: a quoted string, a quote never closed, an operator, a word (attributes,
# attributes.KEY, hasPrefix, AND, -attributes ...), anything else.
_FILTER_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<quote>["'])"""
    r"""|(?P<op>!=|[():=,])|(?P<word>[^\s()"':=,!]+)|(?P<other>\S))"""
)


def filter_problem(expression: str) -> str | None:
    """What makes a subscription filter certainly invalid, or None. The emulator stores any
    filter unchecked; this catches only what Pub/Sub's syntax surely forbids (over 256 bytes,
    and/or/not not in capitals, AND and OR mixed without parentheses, an unquoted value after
    = or !=, unbalanced parentheses or quotes) and leaves the rest to the service."""
    size = len(expression.encode())
    if size > MAX_FILTER_BYTES:
        return f"a filter is at most {MAX_FILTER_BYTES} bytes, this one is {size}"
    levels: list[set[str]] = [set()]  # AND/OR seen at each level of parentheses
    previous = ""
    for match in _FILTER_TOKEN.finditer(expression):
        kind, token = str(match.lastgroup), match.group(str(match.lastgroup))
        if kind == "quote":
            return f"unbalanced quotes: a {token} is never closed"
        if previous in ("=", "!=") and kind != "string":
            return f'the value after {previous} must be a quoted string ("value"), not {token}'
        if token == "(":
            levels.append(set())
        elif token == ")":
            if len(levels) == 1:
                return "unbalanced parentheses: a ')' has no '(' before it"
            levels.pop()
        elif token in ("AND", "OR"):
            levels[-1].add(token)
            if len(levels[-1]) == 2:
                return (
                    "AND and OR mixed without parentheses: write (A AND B) OR C, or A AND (B OR C)"
                )
        elif token.lower() in ("and", "or", "not") and token != "NOT" and previous != ":":
            return f"operators are written in capitals: {token.upper()}, not {token}"
        previous = token if kind in ("op", "word") else kind
    if previous in ("=", "!="):
        return f'the value after {previous} must be a quoted string ("value"), not nothing'
    if len(levels) > 1:
        return "unbalanced parentheses: a '(' is never closed"
    return None


def service_name() -> str:
    """What the Pub/Sub clients here talk to, for messages: the emulator or Pub/Sub."""
    emulator = os.environ.get("PUBSUB_EMULATOR_HOST")
    return f"the emulator at {emulator} (PUBSUB_EMULATOR_HOST)" if emulator else "Pub/Sub"


def check_emulator(timeout: float = EMULATOR_CONNECT_TIMEOUT) -> None:
    """With ``PUBSUB_EMULATOR_HOST`` set, check with one TCP connect that something listens
    there: a stopped emulator is reported at once, not after the clients' retries.

    Raises:
        SetupError: nothing listens there, or the value is not HOST:PORT.
    """
    emulator = os.environ.get("PUBSUB_EMULATOR_HOST")
    if not emulator:
        return
    start = "start one with 'export PUBSUB_EMULATOR_HOST=\"$(scripts/pubsub-emulator start)\"'"
    host, _, port = emulator.rpartition(":")
    # a URL's scheme ("http://127.0.0.1:8085") or a port past 65535 is no HOST:PORT either:
    # both were reported as "nothing accepts connections there"
    if not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SetupError(f"PUBSUB_EMULATOR_HOST={emulator!r} is not HOST:PORT; {start}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout):
            return
    except OSError:
        pass
    raise SetupError(
        f"cannot reach {service_name()}: nothing accepts connections there; {start}, "
        "or unset PUBSUB_EMULATOR_HOST to use Google Cloud"
    )
