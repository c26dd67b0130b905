"""ConfigDict / Config behaviour: attribute access, copies, pickling, dump and pretty text."""
import copy
import json
import multiprocessing
import pickle
import textwrap

import pytest
import yaml

from seglab.config import Config, ConfigDict
from seglab.errors import ConfigError


def sample() -> Config:
    return Config(dict(
        model=dict(type="EncoderDecoder", backbone=dict(depth=50, out_indices=(0, 1, 2, 3)),
                   heads=[dict(type="FCNHead", in_index=2), dict(type="PSPHead")]),
        crop_size=(512, 512), label_map={1: 2, 0: 255}, scales=[0.5, 1.0], empty=dict(),
        single=(1,), none=None, flag=True, name="it's", inf=float("inf"), n=1e-4,
        odd_keys={"with space": 1, "class": 2}, nested_t=((1, 2), [3, (4,)])),
        filename="x.py")


def test_config_dict_attribute_and_item_access():
    d = ConfigDict(a=dict(b=[dict(c=1), (dict(e=2),)]))
    assert d.a.b[0].c == 1 and isinstance(d.a.b[1], tuple) and d.a.b[1][0].e == 2
    d.a.x = dict(y=3)
    assert isinstance(d["a"]["x"], ConfigDict) and d.a.x.y == 3
    d.update(z=dict(k=1))
    assert d.z.k == 1 and d.setdefault("w", dict(v=1)).v == 1
    with pytest.raises(AttributeError, match="'ConfigDict' object has no attribute 'zz'"):
        d.zz
    with pytest.raises(AttributeError, match="Did you mean 'a'"):
        d.aa
    with pytest.raises(KeyError):
        d["zz"]
    assert getattr(d, "zz", 7) == 7 and not hasattr(d, "zz")
    del d.w
    assert "w" not in d
    assert d.to_dict() == {"a": {"b": [{"c": 1}, ({"e": 2},)], "x": {"y": 3}}, "z": {"k": 1}}
    assert type(d.to_dict()["a"]) is dict


def test_config_access_get_and_mutation():
    cfg = sample()
    assert cfg.model.backbone.depth == 50 and cfg["crop_size"] == (512, 512)
    assert cfg.get("missing", "d") == "d" and "model" in cfg and len(cfg) == len(list(cfg))
    cfg.model.backbone.depth = 101
    cfg.work_dir = "w"
    cfg["gpu_ids"] = [0]
    assert cfg.model.backbone.depth == 101 and cfg.work_dir == "w" and cfg.gpu_ids == [0]
    assert isinstance(cfg.model, ConfigDict)
    with pytest.raises(AttributeError):
        cfg.nothing
    with pytest.raises(ConfigError, match="read-only"):
        cfg.text = "x"
    assert cfg.filename == "x.py" and repr(cfg).startswith("Config (path: x.py): {'model':")


def test_deepcopy_and_pickle_preserve_everything():
    cfg = sample()
    clone = copy.deepcopy(cfg)
    assert clone == cfg and clone.filename == cfg.filename and clone.text == cfg.text
    clone.model.backbone.depth = 18
    assert cfg.model.backbone.depth == 50
    shallow = copy.copy(cfg)
    assert shallow.model is cfg.model
    restored = pickle.loads(pickle.dumps(cfg))
    assert restored == cfg and isinstance(restored.model.heads[0], ConfigDict)
    assert isinstance(restored.nested_t[1][1], tuple)
    part = pickle.loads(pickle.dumps(cfg.model))
    assert part == cfg.model and part.backbone.depth == 50


def _worker_read(part, queue):
    queue.put((part.backbone.depth, type(part).__name__))


def test_config_parts_cross_process_boundaries():
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker_read, args=(sample().model, queue))
    proc.start()
    result = queue.get(timeout=60)
    proc.join(timeout=60)
    assert result == (50, "ConfigDict")


def test_pretty_text_is_a_loadable_py_config(tmp_path):
    cfg = sample()
    text = cfg.pretty_text
    assert "crop_size = (512, 512)" in text and "single = (1,)" in text
    assert "label_map = {1: 2, 0: 255}" in text and "inf = float('inf')" in text
    assert "odd_keys = {'with space': 1, 'class': 2}" in text and "empty = dict()" in text
    assert "model = dict(" in text
    path = tmp_path / "dumped.py"
    path.write_text(text)
    assert Config.fromfile(path) == cfg


def test_dump_round_trips_py_with_tuples(tmp_path):
    cfg = sample()
    target = tmp_path / "out" / "cfg.py"
    cfg.dump(target)
    loaded = Config.fromfile(target)
    assert loaded == cfg
    assert isinstance(loaded.model.backbone.out_indices, tuple)
    assert isinstance(loaded.nested_t[1][1], tuple) and isinstance(loaded.nested_t[1], list)
    assert cfg.dump() == cfg.pretty_text  # no file: return the text of the source format
    cfg.dump(path=tmp_path / "alias.py")
    assert Config.fromfile(tmp_path / "alias.py") == cfg
    assert not list((tmp_path / "out").glob(".*tmp"))  # atomic write leaves no temp file


def test_dump_json_and_yaml(tmp_path):
    cfg = Config(dict(a=dict(b=(1, 2)), c=[dict(d=None)]))
    cfg.dump(tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text()) == {"a": {"b": [1, 2]}, "c": [{"d": None}]}
    cfg.dump(tmp_path / "c.yaml")
    assert yaml.safe_load((tmp_path / "c.yaml").read_text()) == {"a": {"b": [1, 2]},
                                                                  "c": [{"d": None}]}
    assert Config.fromfile(tmp_path / "c.yaml").a.b == [1, 2]
    from_json = Config.fromfile(tmp_path / "c.json")
    assert json.loads(from_json.dump()) == {"a": {"b": [1, 2]}, "c": [{"d": None}]}
    with pytest.raises(ConfigError, match="unsupported config file type '.txt'"):
        cfg.dump(tmp_path / "c.txt")


def test_dump_refuses_values_that_cannot_load_back(tmp_path):
    cfg = Config(dict(model=dict(type=ConfigDict)))
    with pytest.raises(ConfigError, match=r"cannot write config key 'model\.type' = <class"):
        cfg.dump(tmp_path / "bad.py")
    assert not (tmp_path / "bad.py").exists()
    assert "type=<class" in cfg.pretty_text  # display still works


def test_long_values_are_split_and_short_ones_kept_inline(tmp_path):
    cfg = Config(dict(short=dict(a=1), long=dict(
        keys=[f"key_number_{i}" for i in range(12)], sub=dict(x=(1, 2)))))
    text = cfg.pretty_text
    assert "short = dict(a=1)\n" in text
    assert text.startswith("short = dict(a=1)\nlong = dict(\n    keys=[\n        'key_number_0',")
    assert max(len(line) for line in text.splitlines()) <= 100
    (tmp_path / "long.py").write_text(text)
    assert Config.fromfile(tmp_path / "long.py") == cfg


def test_text_of_a_config_built_from_a_dict_or_file(tmp_path):
    assert Config(dict(a=1)).text == ""
    path = tmp_path / "t.py"
    path.write_text(textwrap.dedent("a = 1  # comment\n"))
    assert Config.fromfile(path).text == f"{path}\na = 1  # comment\n"
