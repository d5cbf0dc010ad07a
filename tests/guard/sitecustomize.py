"""Python runs this at start-up when ``tests/guard`` is on ``PYTHONPATH`` (the tests put it
there): in a process the tests started, only loopback connections (``loopback_guard``)."""

import os

if os.environ.get("NEWSBEAM_TESTS_LOOPBACK_ONLY") == "1":
    import loopback_guard

    loopback_guard.install()
