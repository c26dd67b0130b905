"""The restricted evaluator: what a .py config may contain, and the refusal of everything else."""
import textwrap

import pytest

from seglab.config import Config
from seglab.config.evaluator import RestrictedEvaluator
from seglab.errors import ConfigError


def run(source: str) -> dict:
    return RestrictedEvaluator("cfg.py", textwrap.dedent(source)).run()


def refused(source: str) -> str:
    with pytest.raises(ConfigError) as info:
        run(source)
    return str(info.value)


# ------------------------------------------------------------------------------- allowed
def test_literals_names_and_dict_calls_with_unpacking():
    ns = run("""
        '''docstring'''
        norm = dict(type='BN', requires_grad=True)
        extra = {'a': 1}
        head = dict(norm_cfg=norm, **extra, k=(1, 2), n=None)
        lst = [1, *[2, 3]]
        s = {1, 2}
        """)
    assert list(ns) == ["norm", "extra", "head", "lst", "s"]
    assert ns["head"] == {"norm_cfg": {"type": "BN", "requires_grad": True}, "a": 1,
                          "k": (1, 2), "n": None}
    assert isinstance(ns["head"]["k"], tuple)
    assert ns["lst"] == [1, 2, 3] and ns["s"] == {1, 2}


def test_arithmetic_comparisons_conditionals_and_builtins():
    ns = run("""
        a = 2 ** 3 + 7 // 2 - 10 % 4 / 2
        b = -a if a > 5 and not False else a
        c = 1 < 2 <= 2 != 3
        d = sum(range(5)), len('abc'), min(3, 1), max([4, 9]), abs(-2), round(2.567, 2)
        e = int('7'), float('1.5'), str(3), bool(0), list(enumerate('ab')), tuple(zip([1], [2]))
        f = sorted([3, 1]), any([0, 1]), all([1, 0]), list(reversed([1, 2])), set([1, 1])
        g = 'a' in ['a'] and 'b' not in 'xyz' and None is None
        """)
    assert ns["a"] == 8 + 3 - 1.0
    assert ns["b"] == -10.0
    assert ns["c"] is True
    assert ns["d"] == (10, 3, 1, 9, 2, 2.57)
    assert ns["e"] == (7, 1.5, "3", False, [(0, "a"), (1, "b")], ((1, 2),))
    assert ns["f"] == ([1, 3], True, False, [2, 1], {1})
    assert ns["g"] is True


def test_comprehensions_fstrings_subscripts_and_slices():
    ns = run("""
        scales = [0.5, 1.0]
        aug = [dict(type='Resize', ratio=r) for r in scales if r > 0.6]
        pairs = {k: v for k, v in zip('ab', [1, 2])}
        flat = [x * y for x in range(2) for y in (1, 10)]
        uniq = {x % 2 for x in range(4)}
        total = sum(x for x in range(4))
        name = f"fcn_{len(scales)}x{scales[-1]:.2f}_{'v'!r}"
        part = scales[0:1], 'abcdef'[::2], pairs['b']
        """)
    assert ns["aug"] == [{"type": "Resize", "ratio": 1.0}]
    assert ns["pairs"] == {"a": 1, "b": 2}
    assert ns["flat"] == [0, 0, 1, 10]
    assert ns["uniq"] == {0, 1} and ns["total"] == 6
    assert ns["name"] == "fcn_2x1.00_'v'"
    assert ns["part"] == ([0.5], "ace", 2)
    assert "r" not in ns and "x" not in ns  # comprehension variables do not leak


def test_assignment_forms_update_and_if():
    ns = run("""
        a, (b, c) = 1, [2, 3]
        first, *rest = [1, 2, 3]
        n: int = 5
        n += 1
        lst = [1]
        alias = lst
        lst += [2]
        cfg = dict(x=1)
        cfg.update(dict(y=2), z=3)
        cfg['w'] = [0, 0]
        cfg['w'][1] = 9
        cfg['x'] *= 10
        if n > 5:
            mode = 'big'
        elif n > 1:
            mode = 'mid'
        else:
            mode = 'small'
        pass
        """)
    assert (ns["a"], ns["b"], ns["c"]) == (1, 2, 3)
    assert ns["first"] == 1 and ns["rest"] == [2, 3]
    assert ns["n"] == 6
    assert ns["alias"] == [1, 2]  # += mutates the list in place, as in Python
    assert ns["cfg"] == {"x": 10, "y": 2, "z": 3, "w": [0, 9]}
    assert ns["mode"] == "big"


def test_allowed_methods_on_builtins():
    ns = run("""
        d = dict(a=1)
        keys = list(d.keys())
        got = d.get('b', 7)
        parts = 'a,b'.split(',')
        joined = '-'.join(parts).upper()
        l = [3]
        l.append(4)
        l.extend([5])
        """)
    assert ns["keys"] == ["a"] and ns["got"] == 7
    assert ns["joined"] == "A-B" and ns["l"] == [3, 4, 5]


# ------------------------------------------------------------------------------- refused
@pytest.mark.parametrize("source, construct, advice", [
    ("import os", "an import statement", "no module can be imported"),
    ("from os import path", "a 'from ... import' statement", "no module can be imported"),
    ("def f():\n    return 1", "a function definition (def)", "compute the value directly"),
    ("class A:\n    pass", "a class definition", "dict(type='ClassName'"),
    ("f = lambda x: x", "a lambda", "configs cannot hold functions"),
    ("for i in range(3):\n    pass", "a for loop", "use a comprehension"),
    ("while False:\n    pass", "a while loop", "comprehension"),
    ("with open('x') as f:\n    pass", "a with statement", "cannot open files"),
    ("try:\n    a = 1\nexcept Exception:\n    pass", "a try statement", "remove it"),
    ("a = 1\ndel a", "a del statement", "_delete_=True"),
    ("a = (b := 1)", "an assignment expression (:=)", "own line"),
])
def test_refused_statements_name_file_line_construct_and_fix(source, construct, advice):
    message = refused(source)
    line = source.count("\n") + 1 if source.startswith("a = 1\n") else 1
    assert message.startswith(f"cfg.py:{line}: {construct} is not allowed in a seglab config (")
    assert advice in message


def test_attribute_access_on_other_objects_is_refused():
    message = refused("a = 1\nx = dict(p=os.path.join('a', 'b'))")
    assert message.startswith("cfg.py:2: calling 'os.path.join(...)' is not allowed in a seglab "
                              "config (")
    message = refused("d = dict(a=1)\nb = d.a")
    assert message.startswith("cfg.py:2: attribute access 'd.a' is not allowed")
    assert "d['a']" in message


def test_dunder_names_and_attributes_are_refused():
    message = refused("x = ().__class__")
    assert message.startswith("cfg.py:1: access to the dunder attribute '__class__' (().__class__)"
                              " is not allowed in a seglab config")
    message = refused("x = ''.__class__.__mro__[1].__subclasses__()")
    assert "dunder attribute '__subclasses__'" in message
    assert refused("x = __builtins__").startswith(
        "cfg.py:1: the dunder name '__builtins__' is not allowed")
    assert refused("__all__ = []").startswith("cfg.py:1: the dunder name '__all__' is not allowed")
    assert refused("x = __import__('os')").startswith(
        "cfg.py:1: calling '__import__' is not allowed")


def test_calls_outside_the_whitelist_are_refused():
    message = refused("x = open('/etc/passwd')")
    assert message.startswith("cfg.py:1: calling 'open(...)' is not allowed in a seglab config (")
    assert "only these builtins can be called: abs, all, any, bool, dict" in message
    assert refused("x = getattr(1, 'real')").startswith("cfg.py:1: calling 'getattr(...)'")
    assert refused("x = eval('1')").startswith("cfg.py:1: calling 'eval(...)'")
    # str.format can read attributes through its fields, so it is not on the method list
    message = refused("x = '{0.__class__}'.format(1)")
    assert message.startswith("cfg.py:1: calling the method ''{0.__class__}'.format' on a str is "
                              "not allowed")
    assert "methods allowed on a str:" in message
    assert refused("x = dict\n").startswith("cfg.py:1: using the builtin 'dict' as a value")


def test_attribute_assignment_is_refused_with_item_syntax_hint():
    message = refused("d = dict()\nd.a = 1")
    assert message.startswith("cfg.py:2: assignment to the attribute 'd.a' is not allowed")
    assert "d['a'] = ..." in message


def test_undefined_name_points_to_base_reference_syntax():
    message = refused("model = dict(norm_cfg=norm_cfg)")
    assert message == ("cfg.py:1: name 'norm_cfg' is not defined. A config can only use names "
                       "assigned earlier in the same file; to use a value from a _base_ file "
                       "write {{_base_.norm_cfg}}.")


def test_runtime_errors_carry_file_and_line():
    assert refused("a = 1\nb = 'x' + 1").startswith("cfg.py:2: 'x' + 1 failed: TypeError")
    assert refused("d = dict(a=1)\nb = d['zz']").startswith(
        "cfg.py:2: d['zz']: key 'zz' not found (keys: 'a')")
    assert refused("x = 1 +").startswith("cfg.py:1: syntax error in config")


def test_size_limits_stop_memory_and_cpu_bombs(monkeypatch):
    assert "larger than a config needs" in refused("x = 10 ** 100000")
    assert "more than 10000000 items" in refused("x = 'ab' * 10 ** 8")
    assert "larger than a config needs" in refused("x = list(range(10 ** 9))")
    monkeypatch.setattr(RestrictedEvaluator, "max_steps", 10_000)
    assert refused("x = sum(1 for a in range(999) for b in range(999))") == (
        "cfg.py:1: the config takes more than 10000 evaluation steps; it is too expensive to be "
        "a config")
    assert "nested too deeply" in refused("x = " + "+".join(["1"] * 20000))


def test_os_system_config_is_refused_without_running(tmp_path):
    marker = tmp_path / "marker"
    attacks = [
        f"import os\nos.system('touch {marker}')\n",
        f"x = __import__('os').system('touch {marker}')\n",
        f"x = [c for c in ().__class__.__base__.__subclasses__()]\n",
        f"x = dict(a=os.system('touch {marker}'))\n",
        f"def f():\n    import os\n    os.system('touch {marker}')\nx = f()\n",
    ]
    for i, text in enumerate(attacks):
        path = tmp_path / f"attack{i}.py"
        path.write_text(text)
        with pytest.raises(ConfigError, match=r"is not allowed in a seglab config"):
            Config.fromfile(path)
    assert not marker.exists()
