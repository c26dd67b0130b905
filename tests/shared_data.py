"""Where the read-only shared test data lives.

CI clones the repository into some folder with a copy of ``shared/`` beside it, so the data is
looked up next to the checkout first; ``SEGLAB_SHARED_DIR`` overrides it.
"""
import os
from pathlib import Path


def _find_shared() -> str:
    env = os.environ.get("SEGLAB_SHARED_DIR")
    if env:
        return env
    beside = Path(__file__).resolve().parents[2] / "shared"
    if (beside / "data").is_dir():
        return str(beside)
    return "/work/shared"


SHARED = _find_shared()
