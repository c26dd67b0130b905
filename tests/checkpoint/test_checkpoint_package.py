"""seglab.checkpoint sits below models and engine; the old seglab.engine names keep working."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

import seglab.checkpoint as ckpt
import seglab.engine as engine

UPPER = ("seglab.engine", "seglab.models", "seglab.apis", "seglab.datasets", "seglab.config",
         "seglab.evaluation", "seglab.visualization")


def _fresh_imports(code: str) -> dict:
    """Run ``code`` in a new interpreter whose importer refuses the upper packages."""
    script = textwrap.dedent(f"""
        import importlib.abc, json, sys
        UPPER = {UPPER!r}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.startswith(UPPER):
                    raise ImportError(f"blocked upward import of {{name}}")
                return None

        sys.meta_path.insert(0, Block())
    """) + textwrap.dedent(code) + textwrap.dedent("""
        seglab_mods = sorted(m for m in sys.modules if m.startswith("seglab"))
        print(json.dumps(seglab_mods))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_checkpoint_package_imports_nothing_above_it():
    loaded = _fresh_imports("""
        import seglab.checkpoint
        import seglab.checkpoint.converters, seglab.checkpoint.converter_cli
    """)
    assert "seglab.checkpoint.io" in loaded and "seglab.checkpoint.converters" in loaded
    assert not [m for m in loaded if m.startswith(UPPER)]
    assert {m.split(".")[1] for m in loaded if m.count(".")} <= {"checkpoint", "errors", "utils",
                                                                 "version"}


def test_models_load_pretrained_weights_without_the_engine():
    # weight_init imports seglab.checkpoint at the top: building models never needs the engine.
    script = ("import sys, seglab.models; "
              "print([m for m in sys.modules if m.startswith(('seglab.engine', 'seglab.apis'))])")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_old_engine_modules_are_the_moved_ones():
    import seglab.engine.checkpoint as old_io
    import seglab.engine.convert as old_convert
    import seglab.engine.model_zoo as old_zoo
    from seglab.checkpoint import convert, io, model_zoo
    from seglab.engine.checkpoint import CheckpointMismatchError, _extract_state_dict  # noqa: F401

    assert old_io is io and old_zoo is model_zoo and old_convert is convert
    assert CheckpointMismatchError is ckpt.CheckpointMismatchError
    assert "resnet50_v1c" in old_zoo.OPEN_MMLAB_URLS


@pytest.mark.parametrize("name", [
    "apply_checkpoint", "get_state_dict", "load_checkpoint", "load_checkpoint_file",
    "load_checkpoint_with_prefix", "load_state_dict", "save_checkpoint", "weights_to_cpu",
    "convert_checkpoint", "resolve_checkpoint_path"])
def test_engine_still_exports_the_checkpoint_functions(name):
    assert name in engine.__all__
    assert getattr(engine, name) is getattr(ckpt, name)


def test_monkeypatching_the_old_path_reaches_the_code_in_use(tmp_path, monkeypatch):
    weights = tmp_path / "cache" / "resnet18_v1c-b5776b93.pth"
    weights.parent.mkdir()
    torch.save({"w": torch.zeros(1)}, weights)
    monkeypatch.setattr("seglab.engine.model_zoo.cache_dirs", lambda: [str(weights.parent)])
    assert ckpt.resolve_checkpoint_path("open-mmlab://resnet18_v1c") == str(weights)
