import pytest
import torch
from torch import nn

from seglab.errors import ConfigError
from seglab.models.layers import build_activation_layer


def test_common_activations_and_arguments():
    assert isinstance(build_activation_layer(dict(type="ReLU", inplace=True)), nn.ReLU)
    leaky = build_activation_layer(dict(type="LeakyReLU", negative_slope=0.1))
    assert leaky.negative_slope == 0.1
    x = torch.linspace(-5, 5, 11)
    torch.testing.assert_close(build_activation_layer(dict(type="HSigmoid"))(x),
                               torch.clamp((x + 3) / 6, 0, 1))
    torch.testing.assert_close(build_activation_layer(dict(type="HSwish"))(x),
                               x * torch.clamp(x + 3, 0, 6) / 6)
    torch.testing.assert_close(build_activation_layer(dict(type="Swish"))(x), x * torch.sigmoid(x))
    torch.testing.assert_close(build_activation_layer(dict(type="Clamp", min=-2., max=2.))(x),
                               x.clamp(-2, 2))
    assert isinstance(build_activation_layer(dict(type="GELU")), nn.GELU)


def test_unknown_type_and_bad_argument():
    with pytest.raises(ConfigError, match="'Relu'.*ReLU"):
        build_activation_layer(dict(type="Relu"))
    with pytest.raises(ConfigError, match="invalid arguments for ReLU"):
        build_activation_layer(dict(type="ReLU", slope=1))
