"""Imported by the fork server of ``--extract-processes`` before it forks any worker.

Importing this module loads what every worker of ``transforms.analyse`` needs (trafilatura,
the default outlet catalogue and taxonomy, the language model, all through
``transforms.analyser``, which does not import Beam), so that each worker starts with it
already in memory (copy-on-write) instead of loading it again. The fork server ends when the
newsbeam process does, however it ends (``end_with_parent``).
"""

from transforms.analyser import preload
from transforms.pool_start import end_with_parent

preload()
end_with_parent()
