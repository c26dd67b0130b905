"""Moved to :mod:`seglab.checkpoint.model_zoo`; this name keeps older imports working.

The module object itself is shared (not a copy of its names), so private helpers, and a test's
``monkeypatch.setattr('seglab.engine.model_zoo.NAME', ...)``, reach the one that the code uses.
"""
import sys

from ..checkpoint import model_zoo as _moved

sys.modules[__name__] = _moved
