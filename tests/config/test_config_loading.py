"""Config.fromfile: _base_ inheritance, merging, references, formats and their errors."""
import json
import os
import textwrap
from pathlib import Path

import pytest

from seglab.config import Config, ConfigDict, ConfigMergeError
from seglab.errors import ConfigError


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_base_as_string_with_recursive_merge_and_key_order(tmp_path):
    write(tmp_path, "base.py", """
        norm_cfg = dict(type='SyncBN', requires_grad=True)
        model = dict(type='EncoderDecoder',
                     backbone=dict(type='ResNetV1c', depth=50, out_indices=(0, 1, 2, 3)),
                     decode_head=dict(type='FCNHead', num_classes=19, norm_cfg=norm_cfg))
        lr = 0.01
        """)
    child = write(tmp_path, "child.py", """
        _base_ = './base.py'
        model = dict(backbone=dict(depth=101, with_cp=True), neck=None)
        lr = 0.02
        """)
    cfg = Config.fromfile(child)
    assert list(cfg) == ["norm_cfg", "model", "lr"]
    assert cfg.model.to_dict() == {
        "type": "EncoderDecoder",
        "backbone": {"type": "ResNetV1c", "depth": 101, "out_indices": (0, 1, 2, 3),
                     "with_cp": True},
        "decode_head": {"type": "FCNHead", "num_classes": 19,
                        "norm_cfg": {"type": "SyncBN", "requires_grad": True}},
        "neck": None}
    assert list(cfg.model.backbone) == ["type", "depth", "out_indices", "with_cp"]
    assert isinstance(cfg.model.backbone, ConfigDict)
    assert isinstance(cfg.model.backbone.out_indices, tuple)
    assert cfg.lr == 0.02
    assert cfg.filename == str(child)


def test_base_list_several_levels_deep_with_relative_paths(tmp_path):
    write(tmp_path, "_base_/models/m.py", "model = dict(a=1, b=dict(c=2))\n")
    write(tmp_path, "_base_/data/d.py", "data = dict(samples_per_gpu=2)\n")
    write(tmp_path, "_base_/rt.py", "log_level = 'INFO'\n")
    write(tmp_path, "method/level1.py", """
        _base_ = ['../_base_/models/m.py', '../_base_/data/d.py', '../_base_/rt.py']
        model = dict(b=dict(c=3))
        """)
    write(tmp_path, "method/level2.py", "_base_ = './level1.py'\ndata = dict(samples_per_gpu=4)\n")
    leaf = write(tmp_path, "method/sub/level3.py",
                 "_base_ = ('../level2.py',)\nmodel = dict(a=0)\n")
    cfg = Config.fromfile(leaf)
    assert cfg.to_dict() == {"model": {"a": 0, "b": {"c": 3}}, "data": {"samples_per_gpu": 4},
                             "log_level": "INFO"}
    # cfg.text holds every file, bases first, each headed by its absolute path
    assert cfg.text.index(str(tmp_path / "_base_/models/m.py")) < cfg.text.index(str(leaf))
    assert "model = dict(a=0)" in cfg.text


def test_lists_and_scalars_replace_nested_lists_of_dicts_are_not_merged(tmp_path):
    write(tmp_path, "base.py", """
        pipeline = [dict(type='Load'), dict(type='Resize', scale=(2, 2))]
        data = dict(train=dict(pipeline=pipeline, times=[1, 2]), flag=dict(on=True))
        """)
    child = write(tmp_path, "child.py", """
        _base_ = 'base.py'
        data = dict(train=dict(pipeline=[dict(type='Resize')]), flag=False)
        """)
    cfg = Config.fromfile(child)
    assert cfg.data.train.pipeline == [{"type": "Resize"}]
    assert cfg.data.train.times == [1, 2]
    assert cfg.data.flag is False
    assert cfg.pipeline[1].scale == (2, 2)  # the base's own top-level list is untouched


def test_delete_replaces_a_dict_instead_of_merging(tmp_path):
    write(tmp_path, "base.py", """
        optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
        model = dict(head=dict(type='A', x=1, loss=dict(type='CE', w=1.0)))
        """)
    child = write(tmp_path, "child.py", """
        _base_ = './base.py'
        optimizer = dict(_delete_=True, type='AdamW', lr=0.001)
        model = dict(head=dict(loss=dict(_delete_=True, type='Dice')),
                     neck=dict(_delete_=True, k=1))
        """)
    cfg = Config.fromfile(child)
    assert cfg.optimizer.to_dict() == {"type": "AdamW", "lr": 0.001}
    assert cfg.model.head.to_dict() == {"type": "A", "x": 1, "loss": {"type": "Dice"}}
    # _delete_ where nothing is replaced is dropped rather than left for the build to trip on
    assert cfg.model.neck.to_dict() == {"k": 1}
    assert "_delete_" not in cfg.pretty_text


def test_delete_false_merges_and_delete_allows_dict_over_list(tmp_path):
    write(tmp_path, "base.py", "a = dict(x=1)\nb = [1, 2]\n")
    child = write(tmp_path, "child.py", """
        _base_ = './base.py'
        a = dict(_delete_=False, y=2)
        b = dict(_delete_=True, z=3)
        """)
    cfg = Config.fromfile(child)
    assert cfg.a.to_dict() == {"x": 1, "y": 2}
    assert cfg.b.to_dict() == {"z": 3}


def test_child_dict_over_base_list_or_scalar_is_a_type_error(tmp_path):
    write(tmp_path, "base.py", "model = dict(in_channels=[256, 512], depth=50)\n")
    child = write(tmp_path, "child.py", """
        _base_ = './base.py'
        model = dict(in_channels=dict(a=1))
        """)
    with pytest.raises(ConfigMergeError) as info:
        Config.fromfile(child)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ConfigError)
    message = str(info.value)
    assert message.startswith(f"model.in_channels={{'a': 1}} (in {child}) is a dict in the child "
                              f"config but a list ([256, 512]) in the base config")
    assert "Set `_delete_=True` in the child dict to replace the base value." in message
    child2 = write(tmp_path, "child2.py", "_base_ = './base.py'\nmodel = dict(depth=dict(v=1))\n")
    with pytest.raises(ConfigMergeError, match=r"model\.depth=\{'v': 1\} .* but a int \(50\)"):
        Config.fromfile(child2)


def test_duplicate_key_across_bases_is_an_error(tmp_path):
    write(tmp_path, "a.py", "model = dict(x=1)\nlr = 1\n")
    write(tmp_path, "b.py", "model = dict(y=2)\n")
    child = write(tmp_path, "c.py", "_base_ = ['./a.py', './b.py']\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(child)
    assert str(info.value) == (
        f"{child}: duplicate key is not allowed among bases: 'model' (in {tmp_path / 'a.py'} and "
        f"{tmp_path / 'b.py'}). Define each key in one base only, or set it in c.py itself.")


def test_base_references_resolve_to_values_also_inside_strings(tmp_path):
    write(tmp_path, "base.py", """
        crop_size = (512, 1024)
        model = dict(backbone=dict(depth=50), heads=[dict(n=19), dict(n=7)])
        img_norm_cfg = dict(mean=[1, 2, 3], to_rgb=True)
        """)
    child = write(tmp_path, "child.py", """
        _base_ = './base.py'
        norm = {{_base_.img_norm_cfg}}
        test_cfg = dict(mode='slide', crop_size={{ _base_.crop_size }}, stride=(32, 32))
        aux = [{{_base_.model.heads.1}}, {{_base_.model.backbone.depth}}]
        alias = norm
        work_dir = './work_dirs/r{{_base_.model.backbone.depth}}_x'
        """)
    cfg = Config.fromfile(child)
    assert cfg.norm.to_dict() == {"mean": [1, 2, 3], "to_rgb": True}
    assert cfg.alias == cfg.norm  # a name bound to a reference refers to the same base value
    assert cfg.test_cfg.crop_size == (512, 1024) and isinstance(cfg.test_cfg.crop_size, tuple)
    assert cfg.aux == [{"n": 7}, 50]
    assert cfg.work_dir == "./work_dirs/r50_x"
    # references are copies: changing one does not change the base's value
    cfg.norm.mean.append(4)
    assert cfg.img_norm_cfg.mean == [1, 2, 3]


def test_base_reference_to_missing_key_names_closest(tmp_path):
    base = write(tmp_path, "base.py", "model = dict(backbone=dict(depth=50))\n")
    child = write(tmp_path, "child.py",
                  "_base_ = './base.py'\nx = {{_base_.model.backbon.depth}}\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(child)
    assert str(info.value) == (
        f"{child}: {{{{_base_.model.backbon.depth}}}} refers to 'model.backbon.depth', but model "
        f"has no 'backbon' (bases: {base}). Did you mean 'model.backbone'?")
    child2 = write(tmp_path, "child2.py", "_base_ = './base.py'\nx = {{_base_.nokey}}\n")
    with pytest.raises(ConfigError, match=r"refers to 'nokey', but the base config has no 'nokey'"):
        Config.fromfile(child2)
    lonely = write(tmp_path, "lonely.py", "x = {{_base_.model}}\n")
    with pytest.raises(ConfigError,
                       match=r"\{\{_base_\.model\}\} is used but the file has no _base_"):
        Config.fromfile(lonely)


def test_predefined_file_variables(tmp_path):
    path = write(tmp_path, "sub/my_cfg.py", """
        work_dir = './work_dirs/{{fileBasenameNoExtension}}'
        info = ('{{ fileBasename }}', '{{fileExtname}}', '{{fileDirname}}')
        """)
    cfg = Config.fromfile(path)
    assert cfg.work_dir == "./work_dirs/my_cfg"
    assert cfg.info == ("my_cfg.py", ".py", str(tmp_path / "sub"))
    raw = Config.fromfile(path, use_predefined_variables=False)
    assert raw.work_dir == "./work_dirs/{{fileBasenameNoExtension}}"


def test_missing_file_unknown_base_and_cycles(tmp_path):
    with pytest.raises(ConfigError) as info:
        Config.fromfile(tmp_path / "nope.py")
    assert str(info.value).startswith(f"config file not found: {tmp_path / 'nope.py'}.")
    write(tmp_path, "fcn_r50.py", "a = 1\n")
    with pytest.raises(ConfigError, match=r"Did you mean '.*fcn_r50\.py'\?"):
        Config.fromfile(tmp_path / "fcn_r5.py")
    child = write(tmp_path, "child.py", "_base_ = './_base_/missing.py'\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(child)
    assert str(info.value).startswith(
        f"config file not found: {tmp_path / '_base_/missing.py'} (a _base_ of {child}).")
    assert "_base_ paths are relative to the file that names them." in str(info.value)

    a = write(tmp_path, "a.py", "_base_ = './b.py'\n")
    b = write(tmp_path, "b.py", "_base_ = './a.py'\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(a)
    assert str(info.value) == (f"cyclic _base_ inheritance: {a} -> {b} -> {a}. Remove one of "
                               f"these _base_ entries.")
    selfref = write(tmp_path, "self.py", "_base_ = 'self.py'\n")
    with pytest.raises(ConfigError, match="cyclic _base_ inheritance"):
        Config.fromfile(selfref)


def test_bad_base_values(tmp_path):
    path = write(tmp_path, "x.py", "_base_ = [1]\n")
    with pytest.raises(ConfigError, match=r"_base_ must be a path or a list of paths, got 1"):
        Config.fromfile(path)
    path = write(tmp_path, "y.py", "_base_ = 'mmdet::faster_rcnn.py'\n")
    with pytest.raises(ConfigError, match=r"names a file of another package"):
        Config.fromfile(path)


def test_json_and_yaml_configs_with_bases(tmp_path):
    write(tmp_path, "base.py", "model = dict(depth=50, out=(0, 1))\nlr = 0.1\n")
    write(tmp_path, "mid.json", json.dumps({"_base_": "./base.py", "model": {"depth": 101},
                                           "ref": "{{_base_.lr}}"}))
    leaf = write(tmp_path, "leaf.yaml", """
        _base_: ./mid.json
        model:
          with_cp: true
        steps: [1, 2]
        """)
    cfg = Config.fromfile(leaf)
    assert cfg.to_dict() == {"model": {"depth": 101, "out": (0, 1), "with_cp": True},
                             "lr": 0.1, "ref": 0.1, "steps": [1, 2]}
    # an unquoted reference in JSON/YAML is a value (mmcv quotes it before parsing)
    bare = write(tmp_path, "bare.json", '{"_base_": "base.py", "m": {{_base_.model}}, '
                                        '"p": "x{{_base_.lr}}"}')
    cfg = Config.fromfile(bare)
    assert cfg.m.to_dict() == {"depth": 50, "out": (0, 1)} and cfg.p == "x0.1"
    yml = write(tmp_path, "plain.yml", "a: {b: 1}\n")
    assert Config.fromfile(yml).a.b == 1


def test_bad_json_yaml_and_unsupported_suffix(tmp_path):
    bad = write(tmp_path, "bad.json", '{"a": 1,\n "b": }\n')
    with pytest.raises(ConfigError, match=r"bad\.json:2: invalid JSON"):
        Config.fromfile(bad)
    bad = write(tmp_path, "bad.yaml", "a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*invalid YAML"):
        Config.fromfile(bad)
    top = write(tmp_path, "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"top level of a config must be a mapping.*got a list"):
        Config.fromfile(top)
    txt = write(tmp_path, "cfg.txt", "a = 1\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(txt)
    assert str(info.value) == (f"unsupported config file type '.txt' for {txt}: seglab reads .py, "
                               f".json, .yaml, .yml config files. Rename or convert the file.")


def test_deprecation_key_warns_and_is_removed(tmp_path):
    path = write(tmp_path, "old.py", """
        _deprecation_ = dict(expected='new.py', reference='https://example.org/pr')
        a = 1
        """)
    with pytest.warns(DeprecationWarning, match=r"Please use new\.py instead"):
        cfg = Config.fromfile(path)
    assert cfg.to_dict() == {"a": 1}


def test_custom_imports_are_never_imported(tmp_path):
    path = write(tmp_path, "c.py",
                 "custom_imports = dict(imports=['os'], allow_failed_imports=False)\n")
    with pytest.warns(UserWarning, match=r"custom_imports \[.os.\] are not imported"):
        cfg = Config.fromfile(path)
    assert cfg.custom_imports.imports == ["os"]


def test_custom_imports_of_openmmlab_packages_do_not_warn(tmp_path, recwarn):
    """0.x ConvNeXt/PoolFormer configs import mmcls.models for types seglab implements itself."""
    path = write(tmp_path, "c.py",
                 "custom_imports = dict(imports='mmcls.models', allow_failed_imports=False)\n")
    assert Config.fromfile(path).custom_imports.imports == "mmcls.models"
    assert not [w for w in recwarn if "custom_imports" in str(w.message)]
    path = write(tmp_path, "d.py", "custom_imports = dict(imports=['mmcls.models', 'my_pkg.x'])\n")
    with pytest.warns(UserWarning, match=r"custom_imports \['my_pkg.x'\] are not imported"):
        Config.fromfile(path)


def test_shared_dicts_in_a_file_are_independent_after_loading(tmp_path):
    write(tmp_path, "base.py", """
        norm_cfg = dict(type='BN')
        model = dict(a=dict(norm=norm_cfg), b=dict(norm=norm_cfg))
        """)
    child = write(tmp_path, "child.py", """
        _base_ = './base.py'
        shared = dict(_delete_=True, type='GN')
        model = dict(a=dict(norm=shared), b=dict(norm=shared))
        """)
    cfg = Config.fromfile(child)
    # both occurrences of the same dict object get the _delete_ semantics
    assert cfg.model.a.norm.to_dict() == {"type": "GN"} == cfg.model.b.norm.to_dict()
    cfg.model.a.norm.type = "SyncBN"
    assert cfg.model.b.norm.type == "GN"


def test_fromstring_and_reserved_keys(tmp_path):
    cfg = Config.fromstring("a = dict(b=(1, 2))\n", ".py")
    assert cfg.a.b == (1, 2)
    assert Config.fromstring('{"a": 1}', ".json").a == 1
    with pytest.raises(ConfigError, match="unsupported config file type '.ini'"):
        Config.fromstring("a=1", ".ini")
    with pytest.raises(ConfigError, match=r"'filename' is reserved"):
        Config(dict(filename="x"))
    path = write(tmp_path, "r.py", "text = 'x'\n")
    with pytest.raises(ConfigError, match=r"'text' is reserved"):
        Config.fromfile(path)


def test_relative_config_path_from_cwd(tmp_path, monkeypatch):
    write(tmp_path, "cfgs/base.py", "a = 1\n")
    write(tmp_path, "cfgs/child.py", "_base_ = 'base.py'\nb = 2\n")
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(os.path.join("cfgs", "child.py"))
    assert cfg.to_dict() == {"a": 1, "b": 2}
    assert cfg.filename == os.path.join("cfgs", "child.py")


def test_typical_0x_configs_by_others_load_unchanged(tmp_path):
    """Shapes found in MMSeg 0.x method configs: _delete_ optimizers, dict literals with
    non-identifier keys, comprehensions over stage counts, RepeatDataset wrapping, fp16."""
    write(tmp_path, "_base_/models/upernet_swin.py", """
        norm_cfg = dict(type='SyncBN', requires_grad=True)
        backbone_norm_cfg = dict(type='LN', requires_grad=True)
        model = dict(
            type='EncoderDecoder',
            pretrained=None,
            backbone=dict(type='SwinTransformer', embed_dims=96, depths=[2, 2, 6, 2],
                          norm_cfg=backbone_norm_cfg),
            decode_head=dict(type='UPerHead', in_channels=[96, 192, 384, 768],
                             num_classes=19, norm_cfg=norm_cfg),
            train_cfg=dict(),
            test_cfg=dict(mode='whole'))
        """)
    write(tmp_path, "_base_/schedules/schedule_160k.py", """
        optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
        optimizer_config = dict()
        lr_config = dict(policy='poly', power=0.9, min_lr=1e-4, by_epoch=False)
        runner = dict(type='IterBasedRunner', max_iters=160000)
        """)
    write(tmp_path, "_base_/datasets/ade20k.py", """
        img_norm_cfg = dict(
            mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
        crop_size = (512, 512)
        train_pipeline = [dict(type='LoadImageFromFile'), dict(type='Normalize', **img_norm_cfg)]
        data = dict(samples_per_gpu=4, workers_per_gpu=4,
                    train=dict(type='ADE20KDataset', pipeline=train_pipeline))
        """)
    method = write(tmp_path, "swin/upernet_swin_tiny_512x512_160k_ade20k.py", """
        _base_ = [
            '../_base_/models/upernet_swin.py', '../_base_/datasets/ade20k.py',
            '../_base_/schedules/schedule_160k.py'
        ]
        checkpoint_file = 'https://download.openmmlab.com/swin_tiny.pth'  # noqa
        num_stages = 3
        model = dict(
            backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file),
                          window_size=7, use_abs_pos_embed=False, drop_path_rate=0.3),
            decode_head=dict(num_classes=150),
            auxiliary_head=[dict(type='FCNHead', in_index=i, num_classes=150)
                            for i in range(num_stages - 1)],
            test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))
        optimizer = dict(
            _delete_=True,
            type='AdamW',
            lr=0.00006,
            betas=(0.9, 0.999),
            weight_decay=0.01,
            paramwise_cfg=dict(custom_keys={
                'absolute_pos_embed': dict(decay_mult=0.),
                'relative_position_bias_table': dict(decay_mult=0.),
                'norm': dict(decay_mult=0.)
            }))
        lr_config = dict(_delete_=True, policy='poly', warmup='linear', warmup_iters=1500,
                         warmup_ratio=1e-6, power=1.0, min_lr=0.0, by_epoch=False)
        data = dict(samples_per_gpu=2, train=dict(_delete_=True, type='RepeatDataset', times=2,
                                                  dataset={{_base_.data.train}}))
        fp16 = dict(loss_scale='dynamic')
        find_unused_parameters = True
        """.replace("crop_size=crop_size", "crop_size=(512, 512)"))
    cfg = Config.fromfile(method)
    assert cfg.optimizer.to_dict() == {
        "type": "AdamW", "lr": 6e-05, "betas": (0.9, 0.999), "weight_decay": 0.01,
        "paramwise_cfg": {"custom_keys": {"absolute_pos_embed": {"decay_mult": 0.0},
                                          "relative_position_bias_table": {"decay_mult": 0.0},
                                          "norm": {"decay_mult": 0.0}}}}
    assert cfg.lr_config.to_dict() == {"policy": "poly", "warmup": "linear", "warmup_iters": 1500,
                                       "warmup_ratio": 1e-6, "power": 1.0, "min_lr": 0.0,
                                       "by_epoch": False}
    assert cfg.model.backbone.to_dict() == {
        "type": "SwinTransformer", "embed_dims": 96, "depths": [2, 2, 6, 2],
        "norm_cfg": {"type": "LN", "requires_grad": True},
        "init_cfg": {"type": "Pretrained",
                     "checkpoint": "https://download.openmmlab.com/swin_tiny.pth"},
        "window_size": 7, "use_abs_pos_embed": False, "drop_path_rate": 0.3}
    assert [h.in_index for h in cfg.model.auxiliary_head] == [0, 1]
    assert cfg.model.test_cfg.to_dict() == {"mode": "slide", "crop_size": (512, 512),
                                            "stride": (341, 341)}
    assert cfg.data.to_dict() == {
        "samples_per_gpu": 2, "workers_per_gpu": 4,
        "train": {"type": "RepeatDataset", "times": 2, "dataset": {
            "type": "ADE20KDataset",
            "pipeline": [{"type": "LoadImageFromFile"},
                         {"type": "Normalize", "mean": [123.675, 116.28, 103.53],
                          "std": [58.395, 57.12, 57.375], "to_rgb": True}]}}}
    assert cfg.fp16.loss_scale == "dynamic" and cfg.find_unused_parameters is True
    assert cfg.num_stages == 3 and cfg.runner.max_iters == 160000


def test_errors_show_base_references_as_written(tmp_path):
    write(tmp_path, "base.py", "lr = 0.1\n")
    child = write(tmp_path, "child.py", "_base_ = './base.py'\nx = {{_base_.lr}} + 1\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(child)
    assert str(info.value).startswith(f"{child}:2: {{{{_base_.lr}}}} + 1 failed: TypeError")
    assert "_seglab_base_ref" not in str(info.value)
