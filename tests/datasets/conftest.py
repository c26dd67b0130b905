"""Shared data for the dataset tests: MMSeg's test data and a tiny synthetic VOC dataset."""
from __future__ import annotations

import os.path as osp

import pytest
from shared_data import SHARED

TESTDATA = f"{SHARED}/data/mmseg-testdata/tests/data"


@pytest.fixture(scope="session")
def mmseg_testdata() -> str:
    if not osp.isdir(TESTDATA):
        pytest.skip(f"MMSeg test data not found at {TESTDATA}")
    return TESTDATA


@pytest.fixture(scope="session")
def synthetic_voc_root(tmp_path_factory) -> str:
    """8 train / 4 val images of at most 64 px (read-only: copy before planting errors)."""
    from seglab.datasets import make_synthetic_voc

    return make_synthetic_voc(str(tmp_path_factory.mktemp("synthetic") / "voc"), num_train=8,
                              num_val=4, size=64, seed=1)
