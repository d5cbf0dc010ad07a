"""How many files (sockets included) a run may have open at once: raised where it is low.

A run keeps connections open to the hosts it fetched from, for the next request to each (up
to 256 hosts' connections, ``--per-host-in-flight`` each), besides its requests in flight,
Beam's own files, threads and channels, and its output files. macOS gives a process 256
(``ulimit -n``) unless told otherwise: a one-shot run over 400 hosts failed there with "Too
many open files" in a 140-line traceback, its stories lost with the run. Linux's usual 1,024
holds today's defaults, and not 256 hosts at ``--per-host-in-flight 4``. ``raise_limit``
raises the process's soft limit as far as its hard limit allows, as a shell's ``ulimit -n``
would; ``limit_note`` says what the limit is, for the error a run still hits.
"""

from __future__ import annotations

import resource

# Enough for 256 hosts' kept connections at --per-host-in-flight 4 (1,024) and the rest;
# below macOS's per-process ceiling (OPEN_MAX, 10,240), which an "unlimited" hard limit means.
WANTED = 4096


def raise_limit(wanted: int = WANTED) -> int:
    """Raise this process's soft limit on open files to ``wanted`` where it is lower and
    the hard limit allows; returns the soft limit now. Processes it starts inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # a system that refuses it: the limit stays as it was
        return soft
    return target


def limit_note() -> str:
    """The open-files limit, for a "Too many open files" message."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft >= hard:
        raise_it = f"its hard limit too ({hard}): ask the system's administrator"
    else:
        raise_it = "raise it (ulimit -n 4096) before the run"
    return f"this process may have {soft} files and connections open at once; {raise_it}"
