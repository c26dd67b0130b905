"""The README's demo numbers say which machine gave them (they depend on the CPU, issue 9)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _demo_paragraph() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("`make demo` generates")
    return " ".join(text[start:text.index("\n\n", start)].split())


def test_demo_numbers_name_their_machines_and_why_they_differ():
    demo = _demo_paragraph()
    assert re.search(r"2 cores of an AMD EPYC .*torch 2\.13\.0 CPU.*mIoU 53\.07", demo)
    assert re.search(r"2 cores of an Intel Xeon with AVX-512 and AMX .*torch 2\.13\.0 CPU.*"
                     r"mIoU 55\.37", demo)
    assert "one machine gives the same numbers each time" in demo
    assert "another CPU gives close but not equal numbers" in demo
