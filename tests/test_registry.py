import pytest

from seglab.errors import RegistryError
from seglab.registry import Registry, build_from_cfg, current_build_path


def make_registry():
    reg = Registry("model")

    @reg.register_module()
    class FCNHead:
        def __init__(self, in_channels, channels=8, num_classes=2):
            self.in_channels, self.channels, self.num_classes = in_channels, channels, num_classes

    @reg.register_module()
    class PSPHead(FCNHead):
        pass

    @reg.register_module()
    class EncoderDecoder:
        def __init__(self, backbone=None, decode_head=None):
            self.decode_head = build_from_cfg(decode_head, reg, key="decode_head")

    @reg.register_module()
    class Flexible:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    return reg


def test_build_passes_args_and_defaults():
    reg = make_registry()
    head = build_from_cfg(dict(type="FCNHead", in_channels=4), reg, default_args=dict(num_classes=7))
    assert (head.in_channels, head.channels, head.num_classes) == (4, 8, 7)
    # a value in cfg wins over default_args
    head = reg.build(dict(type="FCNHead", in_channels=4, num_classes=3), default_args=dict(num_classes=7))
    assert head.num_classes == 3


def test_cfg_is_not_mutated_and_class_type_works():
    reg = make_registry()
    cfg = dict(type="FCNHead", in_channels=4)
    build_from_cfg(cfg, reg)
    assert cfg == dict(type="FCNHead", in_channels=4)
    cls = reg.get("FCNHead")
    assert isinstance(build_from_cfg(dict(type=cls, in_channels=1), reg), cls)


def test_duplicate_registration_is_an_error():
    reg = make_registry()
    with pytest.raises(RegistryError, match="'FCNHead' is already registered in the model registry"):
        @reg.register_module(name="FCNHead")
        class Other:
            pass
    # force=True replaces on purpose
    reg.register_module(name="FCNHead", force=True, module=dict)
    assert reg.get("FCNHead") is dict


def test_unknown_type_names_path_closest_and_available():
    reg = make_registry()
    with pytest.raises(RegistryError) as info:
        build_from_cfg(dict(type="EncoderDecoder", decode_head=dict(type="FCNHeed", in_channels=1)),
                       reg, key="model")
    msg = str(info.value)
    assert "model.decode_head.type = 'FCNHeed' is not a registered model type" in msg
    assert "Did you mean 'FCNHead'" in msg
    assert "Available model types: EncoderDecoder, FCNHead, Flexible, PSPHead." in msg
    assert current_build_path() == ""  # the path context is restored after a failure


def test_scoped_names():
    reg = make_registry()
    assert isinstance(reg.build(dict(type="mmseg.FCNHead", in_channels=1)), reg.get("FCNHead"))
    with pytest.raises(RegistryError, match=r"backbone.type = 'mmcls.ConvNeXt': types from the 'mmcls' "
                                            r"package are not available in seglab"):
        reg.build(dict(type="mmcls.ConvNeXt"), key="backbone")


def test_a_type_registered_with_a_foreign_scope_answers_to_it_and_only_to_it():
    reg = make_registry()

    @reg.register_module(scopes=("mmcls",))
    class ConvNeXt:
        def __init__(self, depth=1):
            self.depth = depth

    assert reg.build(dict(type="mmcls.ConvNeXt", depth=2)).depth == 2
    assert reg.get("ConvNeXt") is reg.get("mmseg.ConvNeXt") is ConvNeXt
    assert reg.get("mmdet.ConvNeXt") is None and reg.get("mmcls.FCNHead") is None
    with pytest.raises(RegistryError, match=r"'mmcls.ResNeSt': types from the 'mmcls' package are "
                                            r"not available in seglab \(it does not depend on OpenMMLab "
                                            r"packages\). seglab implements these 'mmcls' types "
                                            r"itself: mmcls.ConvNeXt."):
        reg.build(dict(type="mmcls.ResNeSt"), key="backbone")
    with pytest.raises(RegistryError, match="not OpenMMLab project scopes"):
        reg.register_module(name="Other", module=ConvNeXt, scopes=("mmcsl",))


def test_unknown_constructor_key_names_class_and_accepted_keys():
    reg = make_registry()
    with pytest.raises(RegistryError) as info:
        build_from_cfg(dict(type="EncoderDecoder",
                            decode_head=dict(type="PSPHead", in_channels=1, num_clases=3)), reg, key="model")
    msg = str(info.value)
    assert "PSPHead at model.decode_head got unexpected key(s) 'num_clases' (did you mean 'num_classes'?)" in msg
    assert "Accepted keys: in_channels, channels, num_classes." in msg
    # **kwargs constructors accept anything
    assert reg.build(dict(type="Flexible", anything=1)).kwargs == {"anything": 1}


def test_missing_type_and_non_dict():
    reg = make_registry()
    with pytest.raises(RegistryError, match="model has no 'type' key"):
        reg.build(dict(in_channels=1), key="model")
    with pytest.raises(RegistryError, match="decode_head must be a dict with a 'type' key, got list"):
        reg.build([1], key="decode_head")


def test_registry_container_protocol():
    reg = make_registry()
    assert "FCNHead" in reg and "Nope" not in reg
    assert len(reg) == 4
    assert sorted(reg) == ["EncoderDecoder", "FCNHead", "Flexible", "PSPHead"]
    assert "FCNHead" in repr(reg)
