"""Tag stories about controversies between online platforms and state actors.

Public API::

    from transforms.tagger import Tagger, TaxonomyError, fields

    tagger = Tagger.load()            # bundled taxonomy; Tagger.load("mine.yaml") merges a file
    result = tagger.tag(title, text)  # -> transforms.records.TagResult

Every :class:`~transforms.records.Evidence` satisfies
``fields(title, text)[ev.field][ev.start:ev.end] == ev.snippet``.
The taxonomy format and rule language are described in ``transforms/data/taxonomy.yaml``,
:mod:`transforms.tagger.taxonomy` and :mod:`transforms.tagger.rules`.
"""

from transforms.tagger.matcher import fields
from transforms.tagger.rules import RuleSyntaxError
from transforms.tagger.tagger import Tagger
from transforms.tagger.taxonomy import TaxonomyError

__all__ = ["RuleSyntaxError", "Tagger", "TaxonomyError", "fields"]
