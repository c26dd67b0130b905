"""Fixtures of the apis tests: tiny synthetic data, a tiny FCN config and its checkpoint."""
from __future__ import annotations

import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from apis_helpers import make_fixture_files  # noqa: E402


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory):
    """dict(data_root, config, checkpoint): 5 images of different sizes (longer side 40)."""
    return make_fixture_files(str(tmp_path_factory.mktemp("apis")))


@pytest.fixture
def cfg(fixture_files):
    from seglab.config import Config

    return Config.fromfile(fixture_files["config"])
