"""Remote checkpoint names resolve to the local cache, or fail at once saying where to put the file."""
import os

import pytest
import torch

from seglab.engine import load_checkpoint, resolve_checkpoint_path
from seglab.engine.model_zoo import MMCLS_URLS, OPEN_MMLAB_URLS
from seglab.errors import CheckpointError


@pytest.fixture
def caches(tmp_path, monkeypatch):
    torch_home, seglab_home = tmp_path / "torch", tmp_path / "seglab"
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.delenv("SEGLAB_HOME", raising=False)
    return dict(hub=torch_home / "hub" / "checkpoints", seglab_home=seglab_home)


def test_mmseg_backbone_names_map_to_openmmlab_urls():
    for depth, digest in (("18", "b5776b93"), ("50", "2cccc1ad"), ("101", "e67eebb6")):
        assert OPEN_MMLAB_URLS[f"resnet{depth}_v1c"] == (
            f"https://download.openmmlab.com/pretrain/third_party/resnet{depth}_v1c-{digest}.pth")
    assert OPEN_MMLAB_URLS["msra/hrnetv2_w18"].endswith("hrnetv2_w18-00eb2006.pth")
    assert MMCLS_URLS["mobilenet_v2"].endswith("mobilenet_v2_batch256_imagenet_20200708-3b2dc3af.pth")


def test_uncached_open_mmlab_name_fails_naming_url_target_path_and_alternative(caches):
    with pytest.raises(CheckpointError) as info:
        resolve_checkpoint_path("open-mmlab://resnet50_v1c")
    msg = str(info.value)
    assert "https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth" in msg
    assert str(caches["hub"] / "resnet50_v1c-2cccc1ad.pth") in msg
    assert "model.pretrained=None" in msg and "--options model.pretrained=None" in msg
    assert "does not download" in msg


def test_cached_files_are_found_in_torch_hub_dir_and_seglab_home(caches, monkeypatch, toys):
    caches["hub"].mkdir(parents=True)
    target = caches["hub"] / "resnet18_v1c-b5776b93.pth"
    torch.manual_seed(0)
    model = toys["TinySegmentor"]()
    torch.save({"state_dict": model.state_dict()}, target)
    assert resolve_checkpoint_path("open-mmlab://resnet18_v1c") == str(target)
    other = toys["TinySegmentor"]()
    load_checkpoint(other, "open-mmlab://resnet18_v1c", strict=True)
    assert torch.equal(other.conv.weight, model.conv.weight)

    monkeypatch.setenv("SEGLAB_HOME", str(caches["seglab_home"]))
    url = "https://example.com/weights/mit_b0.pth?raw=1"
    with pytest.raises(CheckpointError) as info:
        resolve_checkpoint_path(url)
    assert str(caches["seglab_home"] / "checkpoints" / "mit_b0.pth") in str(info.value)
    (caches["seglab_home"] / "checkpoints").mkdir(parents=True)
    (caches["seglab_home"] / "checkpoints" / "mit_b0.pth").write_bytes(b"x")
    assert resolve_checkpoint_path(url) == str(caches["seglab_home"] / "checkpoints" / "mit_b0.pth")


def test_torchvision_names_accept_any_published_hash(caches):
    caches["hub"].mkdir(parents=True)
    (caches["hub"] / "resnet50-19c8e357.pth").write_bytes(b"x")
    assert resolve_checkpoint_path("torchvision://resnet50").endswith("resnet50-19c8e357.pth")


def test_unknown_names_and_schemes(caches):
    with pytest.raises(CheckpointError, match="Did you mean 'resnet50_v1c'"):
        resolve_checkpoint_path("open-mmlab://resnet50_v1")
    with pytest.raises(CheckpointError, match="'s3://' scheme is not supported"):
        resolve_checkpoint_path("s3://bucket/model.pth")


def test_local_paths_expand_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "w.pth").write_bytes(b"x")
    assert resolve_checkpoint_path("~/w.pth") == os.path.join(str(tmp_path), "w.pth")
