"""A user's file, read by path: local, or remote (``gs://``, ``s3://`` ...) through Beam.

The feed list, ``--taxonomy`` and ``--outlets`` may live on Cloud Storage, as a Dataflow job's
do (its launcher and workers read them there). Local paths are read directly, so the pool's
worker processes (``transforms.analysis``) load their files without importing Beam; Beam's
``FileSystems`` is imported only for a remote path.
"""

from __future__ import annotations

import errno
from pathlib import Path


def is_remote(path: str | Path) -> bool:
    """True for paths Beam's FileSystems serve from elsewhere (gs://, s3://, ...)."""
    return "://" in str(path)


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes.

    Args:
        path: a local path, or a remote one Beam's FileSystems can open (``gs://...``).

    Raises:
        OSError: the file is missing or cannot be read; for a remote file, whatever the store
            raised (an API error, a timeout) becomes an OSError whose message is its type
            and the first line of its message.
    """
    if not is_remote(path):
        return Path(path).read_bytes()
    from apache_beam.io.filesystems import FileSystems

    name = str(path)
    try:
        if not FileSystems.exists(name):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", name)
        with FileSystems.open(name) as handle:
            data: bytes = handle.read()
    except OSError:
        raise
    except Exception as exc:  # the store's own errors (google.api_core ...), one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise OSError(f"{type(exc).__name__}: {first}"[:300]) from exc
    return data
