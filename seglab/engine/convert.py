"""Moved to :mod:`seglab.checkpoint.convert`; this name keeps older imports working.

The module object itself is shared (not a copy of its names), so private helpers, and a test's
``monkeypatch.setattr('seglab.engine.convert.NAME', ...)``, reach the one that the code uses.
"""
import sys

from ..checkpoint import convert as _moved

sys.modules[__name__] = _moved
