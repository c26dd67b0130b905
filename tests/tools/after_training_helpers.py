"""Shared by the tests of the after-training tools (tests/tools/test_{analyze_logs,get_flops,
confusion_matrix,publish_model,model_ensemble}.py).

They reuse the session's trained smoke run (``workflow`` of tests/tools/test_end_to_end.py: its
work dir, json log, latest.pth and the ``results.pkl`` of tools/test.py --out) instead of
training again; import ``workflow`` into a test module to use it.
"""
import importlib.util

from test_end_to_end import SMOKE, workflow  # noqa: F401 (a fixture, re-exported)
from train_helpers import ROOT


def load_tool(script):
    """``tools/<script>`` as a module, so a test calls its ``main(argv)`` in this process
    (a subprocess costs a torch import; the end-to-end runs use one per tool)."""
    name = "seglab_tools_" + script.replace("/", "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module



def error_line(capsys):
    """The one ``error: ...`` line a tool printed for a user mistake (no traceback). Other
    stderr lines may be log records: another test of this worker may have given the seglab
    logger a console handler."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    return line
