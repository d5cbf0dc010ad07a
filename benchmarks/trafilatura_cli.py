"""trafilatura's own command-line tool, with the benchmark site's host names on loopback.

trafilatura's CLI rejects feed and page URLs whose host is a bare IP address, so the
benchmark serves it the site under names (``<outlet>.example.com``). Rather than writing
those names into /etc/hosts (root only, and the whole machine sees them), this launcher
resolves them to their 127.0.0.N address inside the CLI's own process, then runs the CLI's
``main`` unchanged with the arguments given. trafilatura fetches feeds and pages with
threads in that process (its process pool serves only ``--input-dir``), so every request
it makes goes through the mapping; any other name resolves as usual.

Usage: python -m benchmarks.trafilatura_cli NAME=IP[,NAME=IP...] [trafilatura arguments]
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any


def parse_names(spec: str) -> dict[str, str]:
    """``"a.example.com=127.0.0.2,b.example.com=127.0.0.3"`` -> ``{name: ip}``.

    Raises:
        ValueError: an item is not ``NAME=IP`` or its address is not on loopback.
    """
    names = {}
    for item in filter(None, spec.split(",")):
        name, sep, ip = item.partition("=")
        if not sep or not name or not ip.startswith("127."):
            raise ValueError(f"expected NAME=127.x.y.z, got {item!r}")
        names[name.lower()] = ip
    return names


def resolving(names: dict[str, str], resolve: Callable[..., Any]) -> Callable[..., Any]:
    """``resolve`` (``socket.getaddrinfo``'s signature) with ``names`` looked up first."""

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if isinstance(host, str):
            host = names.get(host.lower().rstrip("."), host)
        return resolve(host, *args, **kwargs)

    return getaddrinfo


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    try:
        names = parse_names(args[0])
    except ValueError as exc:
        print(f"trafilatura_cli: {exc}", file=sys.stderr)
        return 2
    socket.getaddrinfo = resolving(names, socket.getaddrinfo)
    from trafilatura.cli import main as trafilatura_main

    sys.argv = ["trafilatura", *args[1:]]
    trafilatura_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
