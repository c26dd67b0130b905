import warnings

import pytest


@pytest.fixture(autouse=True)
def _quiet_avg_non_ignore_warning():
    # CrossEntropyLoss warns on every default construction (as MMSegmentation does); the warning
    # itself is asserted in test_cross_entropy_loss.py.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Default ``avg_non_ignore``")
        yield
