"""The outlet catalogue and the tagger, loaded once per process for each content of their files.

Beam calls a DoFn's ``setup()`` once per instance, and a runner makes an instance for each
bundle it runs at a time: each thread of Dataflow's SDK process (up to 12 in a streaming job),
each worker of the local runner. With a user's taxonomy of 5,000 entities (34 MB, a second to
load and compile) or a catalogue of 50,000 outlets (31 MB), each instance held a copy of its
own; ``newsbeam run`` had loaded both once already, to check them before the launch. Here the
first load in a process is kept (the tagger and the catalogue are only read once built) and
given to every later one, as long as the file's bytes are the same: a file changed in between
(a test's, one process running several pipelines) is loaded again.

Consumed by ``transforms.enrich``, ``transforms.tag``, ``transforms.analyser`` (the pool's
processes) and ``pipelines.config`` (the launch's check). Plain Python: no Beam.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from pathlib import Path

from transforms.outlets import OutletCatalogue
from transforms.tagger import Tagger
from transforms.userfiles import read_bytes

_KEPT = 4  # files' contents kept per kind (a run has one; tests run several in a process)
# Held while a file is loaded: instances set up at once (Dataflow's SDK threads, as a job
# starts) wait for the first load and share it. functools.lru_cache holds no one back while
# it calls: each thread found nothing kept yet, loaded its own copy and held it.
_LOADING = threading.Lock()


def tagger(taxonomy_path: str | Path | None) -> Tagger:
    """``Tagger.load(taxonomy_path)``, the same object for the same file's content.

    Raises:
        TaxonomyError: as ``Tagger.load``.
    """
    digest = _digest(taxonomy_path)
    with _LOADING:
        return _tagger(None if taxonomy_path is None else str(taxonomy_path), digest)


def outlets(outlets_path: str | Path | None) -> OutletCatalogue:
    """``OutletCatalogue.load(outlets_path)``, the same object for the same file's content.

    Raises:
        OutletFileError: as ``OutletCatalogue.load``.
    """
    digest = _digest(outlets_path)
    with _LOADING:
        return _outlets(None if outlets_path is None else str(outlets_path), digest)


def _digest(path: str | Path | None) -> str | None:
    """The file's bytes' SHA-256, or None: no file, or one that cannot be read (its loader
    then raises its own error, which is not kept)."""
    if path is None:
        return None
    try:
        return hashlib.sha256(read_bytes(path)).hexdigest()
    except OSError:
        return None


@functools.lru_cache(maxsize=_KEPT)
def _tagger(path: str | None, digest: str | None) -> Tagger:
    return Tagger.load(path)


@functools.lru_cache(maxsize=_KEPT)
def _outlets(path: str | None, digest: str | None) -> OutletCatalogue:
    return OutletCatalogue.load(path)
