"""newsbeam's benchmarks: each module is a command (``python -m benchmarks.NAME``).

``CORPUS`` is where they read third-party data by default: ``../shared/corpus`` beside the
repository (never copied into it); each takes ``--corpus`` to read it elsewhere, and skips
with a reason (exit 0) where it is absent.
"""

from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
