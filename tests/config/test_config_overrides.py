"""Command-line overrides: DictAction value parsing and Config.merge_from_dict paths."""
import argparse

import pytest

from seglab.config import Config, DictAction, add_cfg_options_args
from seglab.config.dict_action import parse_value
from seglab.errors import ConfigError


def make_cfg() -> Config:
    return Config(dict(
        model=dict(backbone=dict(type="ResNetV1c", depth=50),
                   decode_head=dict(in_channels=[256, 512], num_classes=19)),
        data=dict(train=dict(pipeline=[dict(type="LoadImageFromFile"),
                                       dict(type="Resize", img_scale=(2048, 512))])),
        lr=0.01))


@pytest.mark.parametrize("text, expected", [
    ("1", 1), ("-3", -3), ("0.5", 0.5), ("1e-4", 1e-4), ("true", True), ("False", False),
    ("None", None), ("none", "none"), ("abc", "abc"), ("'quoted'", "quoted"), ("", ""),
    ("1,2", [1, 2]), ("[1,2]", [1, 2]), ("(1,2)", (1, 2)), ("[]", []), ("()", ()),
    ("[(1,2),(3,4)]", [(1, 2), (3, 4)]), ("(1,2),(3,4)", [(1, 2), (3, 4)]),
    ("[a, [b, c], (1,)]", ["a", ["b", "c"], (1,)]), ('"[1, 2]"', [1, 2]),
    ("a,b", ["a", "b"]), ("[[1,[2,3]],4]", [[1, [2, 3]], 4]),
])
def test_parse_value_like_mmcv(text, expected):
    value = parse_value(text)
    assert value == expected and type(value) is type(expected)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    add_cfg_options_args(parser)
    return parser


def test_options_and_cfg_options_share_one_dict():
    args = make_parser().parse_args(
        ["--options", "a.b=1", "c=[1,2]", "--cfg-options", "d=(3,4)", "a.b=2"])
    assert args.cfg_options == {"a.b": 2, "c": [1, 2], "d": (3, 4)}
    assert make_parser().parse_args([]).cfg_options is None
    other = argparse.ArgumentParser()
    other.add_argument("--set", nargs="+", action=DictAction)
    assert other.parse_args(["--set", "x=1"]).set == {"x": 1}


def test_dict_action_errors_go_through_argparse(capsys):
    with pytest.raises(SystemExit):
        make_parser().parse_args(["--options", "novalue"])
    assert "--options expects key=value pairs (e.g. model.backbone.depth=101), got 'novalue'" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit):
        make_parser().parse_args(["--cfg-options", "a=[1,2"])
    assert "unbalanced brackets in '[1,2'" in capsys.readouterr().err


def test_merge_from_dict_sets_existing_and_new_leaf_keys():
    cfg = make_cfg()
    cfg.merge_from_dict({"model.backbone.with_cp": True, "model.backbone.depth": 101, "lr": 0.02,
                         "new_top": "x"})
    assert cfg.model.backbone.to_dict() == {"type": "ResNetV1c", "depth": 101, "with_cp": True}
    assert cfg.lr == 0.02 and cfg.new_top == "x"


def test_merge_from_dict_through_list_indices():
    cfg = make_cfg()
    cfg.merge_from_dict({"data.train.pipeline.1.img_scale": (1024, 256),
                         "model.decode_head.in_channels.0": 128,
                         "data.train.pipeline.0": {"to_float32": True}})
    assert cfg.data.train.pipeline[1].img_scale == (1024, 256)
    assert cfg.data.train.pipeline[0].to_dict() == {"type": "LoadImageFromFile", "to_float32": True}
    assert cfg.model.decode_head.in_channels == [128, 512]


def test_merge_from_dict_dict_value_merges_and_is_sequential():
    cfg = make_cfg()
    cfg.merge_from_dict({"model.backbone": {"depth": 18}, "model.neck": {"type": "FPN"},
                         "model.neck.out": 4})
    assert cfg.model.backbone.to_dict() == {"type": "ResNetV1c", "depth": 18}
    assert cfg.model.neck.to_dict() == {"type": "FPN", "out": 4}


def test_bad_paths_name_the_closest_existing_key():
    cfg = make_cfg()
    with pytest.raises(ConfigError) as info:
        cfg.merge_from_dict({"model.backbon.with_cp": True})
    assert str(info.value) == (
        "override 'model.backbon.with_cp': model has no key 'backbon'. Did you mean "
        "'model.backbone'? Only the last part of an override may be a new key. Keys of model: "
        "backbone, decode_head.")
    with pytest.raises(ConfigError, match=r"^override 'modle\.x': the config has no key 'modle'\. "
                                          r"Did you mean 'model'\?"):
        cfg.merge_from_dict({"modle.x": 1})
    with pytest.raises(ConfigError) as info:
        cfg.merge_from_dict({"data.train.pipeline.3.img_scale": (1, 1)})
    assert str(info.value) == (
        "override 'data.train.pipeline.3.img_scale': index 3 is out of range for "
        "'data.train.pipeline', a list of 2 items (valid indices 0..1).")
    with pytest.raises(ConfigError, match=r"'data\.train\.pipeline' is a list of 2 items, so "
                                          r"'type' must be an index 0\.\.1"):
        cfg.merge_from_dict({"data.train.pipeline.type": "x"})
    with pytest.raises(ConfigError, match=r"'lr' is a float \(0\.01\), not a dict, so it has no "
                                          r"key 'x'"):
        cfg.merge_from_dict({"lr.x": 1})
    with pytest.raises(ConfigError, match=r"index 2 is out of range"):
        cfg.merge_from_dict({"data.train.pipeline.2": dict(type="Pad")})
    assert cfg.model.backbone.depth == 50  # failed overrides change nothing


def test_list_keys_can_be_disabled():
    cfg = make_cfg()
    with pytest.raises(ConfigError, match=r"'data\.train\.pipeline' is a list and list indices "
                                          r"are not allowed here"):
        cfg.merge_from_dict({"data.train.pipeline.1.img_scale": 1}, allow_list_keys=False)


def test_new_key_unknown_to_the_built_class_fails_at_build_time():
    from seglab.registry import Registry, build_from_cfg
    from seglab.errors import RegistryError

    registry = Registry("backbone")

    @registry.register_module()
    class TinyNet:
        def __init__(self, depth: int = 18, with_cp: bool = False):
            self.depth, self.with_cp = depth, with_cp

    cfg = Config(dict(model=dict(backbone=dict(type="TinyNet", depth=18))))
    cfg.merge_from_dict({"model.backbone.with_cp": True})
    assert build_from_cfg(cfg.model.backbone, registry).with_cp is True
    cfg.merge_from_dict({"model.backbone.with_cpp": True})  # a new leaf key is accepted here...
    with pytest.raises(RegistryError, match=r"unexpected key\(s\) 'with_cpp' \(did you mean "
                                            r"'with_cp'\?\)\. Accepted keys: depth, with_cp"):
        build_from_cfg(cfg.model.backbone, registry)  # ...and refused, named, when building
