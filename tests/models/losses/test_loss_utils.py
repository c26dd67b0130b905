import numpy as np
import pytest
import torch

from seglab.errors import ConfigError
from seglab.models.losses import get_class_weight, reduce_loss, weight_reduce_loss
from seglab.models.losses.utils import EPS


def test_eps_is_float32_epsilon_as_python_float():
    assert isinstance(EPS, float) and EPS == 2.0 ** -23


def test_reduce_loss():
    loss = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    assert reduce_loss(loss, "none") is loss
    assert reduce_loss(loss, "mean").item() == 3.0
    assert reduce_loss(loss, "sum").item() == 12.0
    with pytest.raises(ValueError):
        reduce_loss(loss, "avg")


def test_weight_reduce_loss():
    loss = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    w = torch.tensor([[1.0], [0.5]])  # size-1 second axis broadcasts
    assert torch.equal(weight_reduce_loss(loss, w, "none"), torch.tensor([[1.0, 2.0], [1.5, 3.0]]))
    assert weight_reduce_loss(loss, w, "mean").item() == pytest.approx(7.5 / 4)
    assert weight_reduce_loss(loss, w, "mean", avg_factor=3).item() == pytest.approx(2.5)
    assert weight_reduce_loss(loss, None, "mean", avg_factor=0).item() == pytest.approx(12 / EPS)
    assert torch.equal(weight_reduce_loss(loss, None, "none", avg_factor=3), loss)
    with pytest.raises(ValueError, match="avg_factor"):
        weight_reduce_loss(loss, None, "sum", avg_factor=3)
    with pytest.raises(ValueError, match="does not match"):
        weight_reduce_loss(loss, torch.ones(2), "mean")


def test_get_class_weight_values(tmp_path):
    assert get_class_weight(None) is None
    assert get_class_weight((1, 2.5)) == [1.0, 2.5]
    assert get_class_weight(np.array([0.5, 1.5], dtype=np.float32)) == [0.5, 1.5]
    assert get_class_weight(torch.tensor([2.0, 3.0])) == [2.0, 3.0]
    path = tmp_path / "w.txt"
    path.write_text("1 2 3")
    with pytest.raises(ConfigError, match="unsupported extension '.txt'"):
        get_class_weight(str(path))
    bad = tmp_path / "w.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="w.json' could not be read"):
        get_class_weight(str(bad))
    obj = tmp_path / "w.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ConfigError, match="w.npy' could not be read"):
        get_class_weight(str(obj))
