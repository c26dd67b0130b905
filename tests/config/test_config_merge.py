"""merge_a_into_b: mmcv's merge rules, checked on plain dicts."""
import pytest

from seglab.config.config_dict import ConfigDict
from seglab.config.merge import ConfigMergeError, merge_a_into_b, strip_delete_keys
from seglab.errors import ConfigError


def test_merge_is_recursive_non_inplace_and_keeps_base_order():
    base = {"a": {"x": 1, "y": {"z": 2}}, "b": 1}
    child = {"c": 3, "a": {"y": {"w": 4}, "x": 0}}
    merged = merge_a_into_b(child, base)
    assert merged == {"a": {"x": 0, "y": {"z": 2, "w": 4}}, "b": 1, "c": 3}
    assert list(merged) == ["a", "b", "c"] and list(merged["a"]["y"]) == ["z", "w"]
    assert base == {"a": {"x": 1, "y": {"z": 2}}, "b": 1}
    assert child == {"c": 3, "a": {"y": {"w": 4}, "x": 0}}


def test_lists_tuples_and_none_replace():
    base = {"l": [dict(type="A", k=1), dict(type="B")], "t": (1, 2), "d": {"k": 1}}
    merged = merge_a_into_b({"l": [dict(k=2)], "t": (3,), "d": None}, base)
    assert merged == {"l": [{"k": 2}], "t": (3,), "d": None}


def test_delete_key_replaces_and_is_not_kept():
    base = {"opt": {"type": "SGD", "lr": 0.1, "momentum": 0.9}}
    child = {"opt": {"_delete_": True, "type": "Adam", "lr": 1e-3}}
    merged = merge_a_into_b(child, base)
    assert merged == {"opt": {"type": "Adam", "lr": 1e-3}}
    assert child["opt"]["_delete_"] is True  # the caller's dict is untouched


def test_dict_over_non_dict_needs_delete():
    with pytest.raises(ConfigMergeError, match=r"^k=\{'a': 1\} is a dict in the child config but "
                                               r"a list \(\[1\]\) in the base config"):
        merge_a_into_b({"k": {"a": 1}}, {"k": [1]})
    with pytest.raises(ConfigMergeError, match=r"a\.b=\{'c': 1\} is a dict .* but a str \('s'\)"):
        merge_a_into_b({"a": {"b": {"c": 1}}}, {"a": {"b": "s"}})
    assert merge_a_into_b({"k": {"_delete_": True, "a": 1}}, {"k": [1]}) == {"k": {"a": 1}}


def test_list_index_keys_only_with_allow_list_keys():
    base = {"pipeline": [dict(type="Load"), dict(type="Resize", scale=(1, 1))]}
    option = {"pipeline": {"1": {"scale": (2, 2)}}}
    merged = merge_a_into_b(option, base, allow_list_keys=True)
    assert merged["pipeline"][1] == {"type": "Resize", "scale": (2, 2)}
    assert base["pipeline"][1]["scale"] == (1, 1)
    with pytest.raises(ConfigMergeError, match=r"is a dict in the child config but a list"):
        merge_a_into_b(option, base, allow_list_keys=False)
    with pytest.raises(ConfigError, match=r"index 5 is out of range for 'pipeline', a list of 2"):
        merge_a_into_b({"pipeline": {"5": {"a": 1}}}, base, allow_list_keys=True)
    with pytest.raises(ConfigMergeError, match=r"'pipeline' is a list in the base config, so the "
                                               r"child dict key 'x'"):
        merge_a_into_b({"pipeline": {"x": 1}}, base, allow_list_keys=True)
    # a plain value at an index replaces the element
    assert merge_a_into_b({"pipeline": {"0": "X"}}, base, True)["pipeline"][0] == "X"


def test_new_dicts_become_config_dicts_and_strip_delete_is_recursive():
    merged = merge_a_into_b({"n": {"a": {"b": 1}}}, {})
    assert isinstance(merged["n"], ConfigDict) and merged["n"].a.b == 1
    value = {"_delete_": True, "x": [{"_delete_": False, "y": 1}], "z": ({"_delete_": 1},)}
    assert strip_delete_keys(value) == {"x": [{"y": 1}], "z": ({},)}


def test_child_list_over_base_dict_replaces_it():
    assert merge_a_into_b({"k": [1, 2]}, {"k": {"a": 1}}) == {"k": [1, 2]}
    assert merge_a_into_b({"k": "s"}, {"k": {"a": 1}}) == {"k": "s"}
