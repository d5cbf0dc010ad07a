"""A pool worker's guard against a page whose analysis does not end in reasonable time.

trafilatura's work on some pages grows with the square of their elements: libxml2 merges
node sets in time quadratic in their size, and trafilatura asks it for every text node under
a paragraph (``//p//text()``) once per candidate body. A page of 12,500 links in one
paragraph (25,000 tags, 340 KB) took 12.5 s of CPU, 25,000 links (680 KB) 54 s; a 1 MB page
of them had not ended after minutes, and at the 10 MB cap it would take hours. Real pages
stay far below: the largest of the test corpus (2.9 MB, 4,100 tags) takes 0.1 s.

Such a call runs inside C and cannot be interrupted from Python, so the guard ends the
worker process: a thread of the worker checks, every quarter of a second, how much CPU the
page in hand has taken, and past ``PAGE_CPU_SECONDS`` says so on stderr and exits. The pool
then breaks, and ``transforms.analyse`` sends the pages it held again, one at a time, which
makes that page, alone, an ``extract_worker_error`` dead letter. Only a pool worker
(``--extract-processes`` 2 or more) has the guard: a stage running in Beam's own worker
cannot end its process.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator

# CPU seconds one stage may take on one page: some 1,000 times what the largest real page
# of the test corpus takes, and more than a 10 MB page of ordinary paragraphs takes on a
# slow machine (about 2 s a MB at 4 MB in benchmarks/large_pages.py, up to 2.4x slower on
# the slowest nights measured).
PAGE_CPU_SECONDS = 120.0
EXIT_PAGE_TOO_SLOW = 71  # the worker's exit status, for whoever reads the process table
_CHECK_EVERY_SECONDS = 0.25


class PageWatchdog:
    """Ends this process when one page's stage takes more than ``limit`` seconds of CPU.

    Args:
        limit: the CPU seconds (the whole process's: a worker runs one page at a time).
    """

    def __init__(self, limit: float = PAGE_CPU_SECONDS) -> None:
        self.limit = limit
        self._page: tuple[str, float] | None = None  # the link in hand, its start (CPU)
        threading.Thread(target=self._watch, name="newsbeam-page-watchdog", daemon=True).start()

    @contextlib.contextmanager
    def page(self, link: str) -> Iterator[None]:
        """The block's CPU time counts against the limit, under ``link``'s name."""
        self._page = (link, time.process_time())
        try:
            yield
        finally:
            self._page = None

    def _watch(self) -> None:
        while True:
            time.sleep(_CHECK_EVERY_SECONDS)
            page = self._page
            if page is not None and time.process_time() - page[1] > self.limit:
                link = page[0]
                print(
                    f"newsbeam: a page took more than {self.limit:g} s of CPU to analyse, so its "
                    f"worker process ends (the page is a dead letter): {link}",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(EXIT_PAGE_TOO_SLOW)
