"""The taxonomy's settings: their defaults, and the checks of those a file sets.

Consumes one taxonomy file as read by :mod:`transforms.tagger.taxonomy_file` (its ``settings``
mapping); produces the settings it sets as floats (:func:`file_settings`), or raises
:class:`~transforms.tagger.taxonomy_file.TaxonomyError` naming the file and the setting.
:data:`SETTINGS` holds the defaults of the settings the bundled file does not set;
:func:`transforms.tagger.taxonomy.load_taxonomy` lays each file's settings over them.
"""

from __future__ import annotations

import math
from typing import Any

from transforms.tagger.taxonomy_file import TaxonomyError, mapping
from transforms.userfiles import closest

SETTINGS = {  # for keys the bundled file does not set
    "threshold": 0.5,  # score at and above which a story is relevant
    "salience": 2.0,  # a value is salient (reported) when its mention weight reaches this
    "title_weight": 2.0,  # mention weights by field
    "lede_weight": 2.0,
    "body_weight": 1.0,
    "max_evidence": 3,  # evidence items kept per tag
    "window": 12,  # default context window of ambiguous aliases, in words
    "relative": 0.0,  # and at least this fraction of the facet's most salient value's weight
    "controversy_salience": 2.0,  # the salience floor for controversy types
    "controversy_relative": 0.0,  # the relative rule for controversy types
    "strong": 1000.0,  # a value whose mentions weigh this much is salient whatever the top
    # a controversy term counts only within this many words of a platform or state actor
    # mention in the same field (0: anywhere)
    "controversy_window": 0.0,
    # 1: the catch-all controversy value "other" is reported only when no listed type is
    "controversy_other_alone": 1.0,
}
_WHOLE_SETTINGS = frozenset({"window", "max_evidence"})  # whole numbers >= 1


def file_settings(doc: dict[str, Any], where: str) -> dict[str, float]:
    """The ``settings`` one file sets, checked (errors name that file)."""
    out = {}
    for key, val in mapping(doc.get("settings"), f"{where}: settings").items():
        if key not in SETTINGS:
            raise TaxonomyError(f"{where}: settings.{key}: unknown setting{closest(key, SETTINGS)}")
        if key in _WHOLE_SETTINGS:
            if not isinstance(val, int) or isinstance(val, bool) or val < 1:
                raise TaxonomyError(f"{where}: settings.{key}: must be a whole number >= 1")
        elif (
            not isinstance(val, int | float)
            or isinstance(val, bool)
            or not math.isfinite(val)  # .nan and .inf compare false or win every comparison
            or val < 0
        ):
            raise TaxonomyError(f"{where}: settings.{key}: must be a finite number >= 0")
        if key == "threshold" and val > 1:
            raise TaxonomyError(f"{where}: settings.threshold: must be in [0, 1]")
        out[key] = float(val)
    return out
