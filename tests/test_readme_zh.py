"""README_zh-CN.md cannot rot: every command line of its code blocks names an existing tool and
parses with that tool's own ``parse_args`` (dist_*.sh lines with the tool they launch), every
config path it mentions exists, the config it quotes is the file's text, and its links into
README.md land on headings. Also: the images both READMEs show exist and are PNGs."""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import re
import shlex
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_ZH = ROOT / "README_zh-CN.md"
SHELL_BLOCKS = ("bash", "shell", "sh", "")
# dist_*.sh CONFIG [CKPT] GPUS ARGS: the positional arguments the script keeps for the tool.
LAUNCHERS = {"tools/dist_train.sh": ("train.py", 1), "tools/dist_test.sh": ("test.py", 2)}


def _blocks(text: str):
    """(language, body) of every fenced code block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def _commands(text: str):
    """(line, tool path, arguments) of each shell line that runs a tool under tools/."""
    found = []
    for lang, body in _blocks(text):
        if lang not in SHELL_BLOCKS:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # PORT=0 NNODES=2 ...
                words.pop(0)
            if words and words[0] in ("python", "python3", "sh", "bash"):
                words.pop(0)
            if words and re.match(r"(\./)?tools/", words[0]):
                found.append((" ".join(line.split()), words[0].removeprefix("./"), words[1:]))
    return found


COMMANDS = _commands(README_ZH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def _tool_module(tool: str):
    spec = importlib.util.spec_from_file_location(
        "readme_zh_" + re.sub(r"\W", "_", tool), ROOT / "tools" / tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse(tool: str, args: list) -> None:
    """``tools/<tool>``'s ``parse_args(args)``; argparse's complaint becomes the failure."""
    module = _tool_module(tool)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            module.parse_args(list(args))
        except SystemExit as exit_:
            pytest.fail(f"tools/{tool} rejects {args}: {err.getvalue().strip()} (exit {exit_})")


def test_the_walkthrough_has_its_commands():
    tools = {tool for _, tool, _ in COMMANDS}
    assert {"tools/train.py", "tools/test.py", "tools/benchmark.py", "tools/dist_train.sh",
            "tools/dist_test.sh", "tools/convert_datasets/voc_aug.py"} <= tools
    flags = {word for _, _, args in COMMANDS for word in args if word.startswith("--")}
    assert {"--work-dir", "--resume-from", "--load-from", "--options", "--seed", "--deterministic",
            "--show", "--show-dir", "--opacity", "--eval", "--out", "--aug-test",
            "--repeat-times"} <= flags


@pytest.mark.parametrize("line, tool, args", COMMANDS, ids=[c[0][:70] for c in COMMANDS])
def test_command_names_a_tool_and_only_flags_it_accepts(line, tool, args, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")  # train.py / test.py set it when it is missing
    assert (ROOT / tool).is_file(), f"{line}: there is no {tool}"
    if tool.endswith(".sh"):
        assert tool in LAUNCHERS, f"{line}: teach this test which tool {tool} runs"
        target, kept = LAUNCHERS[tool]
        assert args[kept].isdigit(), f"{line}: GPUS must follow the script's positional arguments"
        _parse(target, args[:kept] + args[kept + 1:])
    else:
        _parse(tool.removeprefix("tools/"), args)


def test_every_config_path_exists():
    text = README_ZH.read_text(encoding="utf-8")
    paths = set(re.findall(r"configs/[\w./-]+?\.py", text))
    assert "configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py" in paths
    assert [p for p in sorted(paths) if not (ROOT / p).is_file()] == []


def test_quoted_config_and_base_values_are_the_files():
    text = README_ZH.read_text(encoding="utf-8")
    config = (ROOT / "configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py").read_text()
    assert ("python", config) in _blocks(text)
    squash = lambda s: re.sub(r"\s+", "", s)  # noqa: E731
    voc = squash((ROOT / "configs/_base_/datasets/pascal_voc12.py").read_text())
    aug = squash((ROOT / "configs/_base_/datasets/pascal_voc12_aug.py").read_text())
    assert squash("data_root = 'data/VOCdevkit/VOC2012'") in voc and "data_root" in text
    for value in ("ann_dir=['SegmentationClass', 'SegmentationClassAug']",
                  "split=['ImageSets/Segmentation/train.txt', 'ImageSets/Segmentation/aug.txt']"):
        assert value in text and squash(value) in aug


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_the_readmes():
    zh = README_ZH.read_text(encoding="utf-8")
    en = README.read_text(encoding="utf-8")
    assert "[English](README.md)" in zh.splitlines()[2]
    assert "(README_zh-CN.md)" in "\n".join(en.splitlines()[:4])
    anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", en, flags=re.M)}
    links = set(re.findall(r"\(README\.md#([\w-]+)\)", zh))
    assert links and sorted(links - anchors) == []


@pytest.mark.parametrize("readme", [README, README_ZH], ids=lambda p: p.name)
def test_shown_images_exist_and_are_small_pngs(readme):
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", readme.read_text(encoding="utf-8"))
    for image in images:
        with Image.open(ROOT / image) as png:
            assert png.format == "PNG", f"{image} is not a PNG"
            png.verify()  # the whole file decodes
        size = (ROOT / image).stat().st_size
        assert size < 150_000, f"{image}: {size} bytes; keep README images small"
    if readme == README:
        assert "docs/demo_curves.png" in images
