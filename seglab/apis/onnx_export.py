"""ONNX export of a segmentor and its ONNX Runtime twin (``tools/pytorch2onnx.py``,
``tools/deploy_test.py``).

The graph: input ``input`` (N, 3, H, W) normalised float32 images, output ``output``
(N, C, H, W) float32 logits, the network's ``encode_decode`` (backbone, neck, decode head and
the bilinear resize to the input size). MMSegmentation 0.x exports ``forward`` instead, whose
output is the argmax label map (1, N, H, W); seglab keeps the logits so that ``--verify`` can
compare numbers and ONNX Runtime testing runs the same post-processing (rescale to the original
size, softmax, flip, argmax) as tools/test.py, which gives the same mIoU.

Inference modes:

- ``whole``: the graph is the whole image.
- ``slide``: the graph is one window (``test_cfg.crop_size``) and the sliding-window loop runs
  around ONNX Runtime (:func:`seglab.models.segmentors.inference.slide_inference`, MMSeg's
  count-matrix average). One file then serves every image size, where MMSeg 0.x traces the
  loop for one image size.

``dynamic_export`` makes N, H and W dynamic in both modes (MMSeg 0.x: only N in slide mode; here
the windows of an image smaller than the crop are smaller, and need a dynamic H or W).

The legacy TorchScript-based exporter (``torch.onnx.export(dynamo=False)``) is used: it needs
no ``onnxscript`` and exports every family the sweep covers. Two ops get an export-only
symbolic with the same numbers: ``adaptive_avg_pool2d`` to a size that does not divide the input
(two matrix products with the bins' averaging weights; needs a static input size) and
``diag`` (criss-cross attention's -inf mask; Where over EyeLike).

onnx and onnxruntime are an optional extra: ``pip install seglab[onnx]``.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from typing import Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, SeglabError
from ..models.layers import resize
from ..models.layers.wrappers import symbolic_sizes_when_tracing
from ..models.segmentors import BaseSegmentor, EncoderDecoder
from .torchscript_export import demo_input

DEFAULT_OPSET = 17  # MMSeg 0.x's default 11 lacks scaled_dot_product_attention (opset 14)
INPUT_NAME, OUTPUT_NAME = "input", "output"
INSTALL_HINT = "pip install seglab[onnx] (or pip install onnx onnxruntime)"


class OnnxExportError(SeglabError, RuntimeError):
    """The model cannot be exported, or ONNX Runtime disagrees with PyTorch."""


def require(module: str, tool: str):
    """Import ``onnx`` or ``onnxruntime``, or fail with the install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{tool} needs the {module} package: {INSTALL_HINT}.") from None


# -- export ---------------------------------------------------------------------------------------
class LogitsGraph(nn.Module):
    """What is exported: ``encode_decode`` without metas, optionally resized to ``rescale_shape``.

    Args:
        segmentor: an EncoderDecoder (or subclass) in eval mode.
        rescale_shape: (h, w) of the output (bilinear, the segmentor's align_corners), or None.
    """

    def __init__(self, segmentor: nn.Module, rescale_shape: Optional[Sequence[int]] = None):
        super().__init__()
        self.segmentor = segmentor
        self.rescale_shape = tuple(rescale_shape) if rescale_shape else None

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        logits = self.segmentor.encode_decode(img, None)
        if self.rescale_shape is not None:
            logits = resize(logits, size=self.rescale_shape, mode="bilinear",
                            align_corners=self.segmentor.align_corners, warning=False)
        return logits


def _averaging_matrix(size: int, bins: int) -> np.ndarray:
    """(bins, size) weights of adaptive average pooling along one axis (torch's bin edges
    floor(i * size / bins) .. ceil((i + 1) * size / bins))."""
    weights = np.zeros((bins, size), np.float32)
    for i in range(bins):
        start, end = (i * size) // bins, -((-(i + 1) * size) // bins)
        weights[i, start:end] = 1.0 / (end - start)
    return weights


def _adaptive_avg_pool2d_symbolic(g, input, output_size):  # noqa: A002 - torch's name
    from torch.onnx import symbolic_helper, symbolic_opset9

    out = symbolic_helper._parse_arg(output_size, "is")
    sizes = symbolic_helper._get_tensor_sizes(input)
    spatial = list(sizes[2:]) if sizes is not None and len(sizes) == 4 else [None, None]
    out = [s if o is None else o for o, s in zip(out, spatial)]
    if all(o == 1 for o in out) or (None not in spatial and
                                    all(s % o == 0 for s, o in zip(spatial, out))):
        return symbolic_opset9.adaptive_avg_pool2d(g, input, output_size)
    if None in spatial:
        raise OnnxExportError(
            f"adaptive_avg_pool2d to {tuple(out)} bins needs a static input size (the bins of a "
            "size they do not divide depend on it): export without --dynamic-export.")
    rows = g.op("Constant", value_t=torch.from_numpy(_averaging_matrix(spatial[0], out[0])))
    cols = g.op("Constant", value_t=torch.from_numpy(_averaging_matrix(spatial[1], out[1]).T))
    return g.op("MatMul", g.op("MatMul", rows, input), cols)


def _diag_symbolic(g, input, diagonal):  # noqa: A002
    from torch.onnx import symbolic_helper

    sizes = symbolic_helper._get_tensor_sizes(input)
    if symbolic_helper._parse_arg(diagonal, "i") != 0 or sizes is None or len(sizes) != 1:
        raise OnnxExportError("torch.diag is exported only for a 1-D input and diagonal=0.")
    n = g.op("Shape", input)
    square = g.op("ConstantOfShape", g.op("Concat", n, n, axis_i=0),
                  value_t=torch.zeros(1, dtype=torch.float32))
    eye = g.op("Cast", g.op("EyeLike", square), to_i=9)  # 9: BOOL
    row = g.op("Unsqueeze", input, g.op("Constant", value_t=torch.tensor([0])))
    zero = g.op("CastLike", g.op("Constant", value_t=torch.tensor(0.0)), input)
    return g.op("Where", eye, row, zero)


@contextlib.contextmanager
def export_symbolics(opset_version: int) -> Iterator[None]:
    """The module doc's export-only symbolics, registered for the duration of one export."""
    ops = {"aten::adaptive_avg_pool2d": _adaptive_avg_pool2d_symbolic,
           "aten::diag": _diag_symbolic}
    for name, fn in ops.items():
        torch.onnx.register_custom_op_symbolic(name, fn, opset_version)
    try:
        yield
    finally:
        for name in ops:
            torch.onnx.unregister_custom_op_symbolic(name, opset_version)


def test_mode_of(model: nn.Module) -> str:
    """'whole' or 'slide' (``model.test_cfg.mode``), for a segmentor ONNX can run."""
    if not isinstance(model, EncoderDecoder):
        raise ConfigError(f"ONNX export supports EncoderDecoder segmentors (and subclasses), not "
                          f"{type(model).__name__}.")
    return model._test_mode()


def graph_input_shape(model: nn.Module, input_shape: Sequence[int]) -> Tuple[int, int, int, int]:
    """The (N, 3, h, w) the graph is traced with: ``input_shape`` in whole mode, one
    ``test_cfg.crop_size`` window in slide mode."""
    if test_mode_of(model) == "slide":
        h, w = model._slide_options()["crop_size"]
        return (int(input_shape[0]), 3, int(h), int(w))
    return tuple(int(s) for s in input_shape)


def dynamic_axes() -> dict:
    """Batch, height and width of the input and the output."""
    axes = {0: "batch", 2: "height", 3: "width"}
    return {INPUT_NAME: dict(axes), OUTPUT_NAME: dict(axes)}


def _declare_output_channels(onnx_file: str, channels: int) -> None:
    """Write the logits' channel count into the output's declared shape (shape inference
    through a dynamic-size Resize leaves it symbolic)."""
    onnx = require("onnx", "ONNX export")
    proto = onnx.load(onnx_file)
    dim = proto.graph.output[0].type.tensor_type.shape.dim[1]
    if dim.dim_value != channels:
        dim.dim_value = channels
        onnx.save(proto, onnx_file)


# The dynamic-export check's bound, relative to the logits' scale: max |onnx - pytorch| <=
# CHECK_TOL * max(1, max |logit|). A graph whose sizes are trace constants misses it (the tiny
# HRNet: 7e-4 with logits below 1); float op-order differences stay far below it (~1e-6).
CHECK_TOL = 1e-4
_STATIC_HINT = ("sizes this model computes in Python are constants of the trace: export "
                "without --dynamic-export")


def _check_other_size(graph: nn.Module, onnx_file: str, traced: Sequence[int],
                      slide: bool) -> None:
    """Run a dynamic graph at another size than the traced one and compare with PyTorch, so
    that a graph which only holds at the traced size is refused instead of written: a batch of
    two at 1.5x the height and 1.25x the width in whole mode, at 0.75x and 0.625x the window in
    slide mode (the windows of an image smaller than the crop). Skipped (with a warning)
    without onnxruntime, and where PyTorch itself refuses that size."""
    try:
        import onnxruntime  # noqa: F401 - only its presence is checked here
    except ImportError:
        warnings.warn(f"onnxruntime is not installed: the dynamic graph was not checked at "
                      f"another size than the traced one ({INSTALL_HINT}).", stacklevel=3)
        return
    n, c, h, w = traced
    # H and W scaled differently: a uniform scale hides sizes computed from one scale factor.
    scale_h, scale_w = (0.75, 0.625) if slide else (1.5, 1.25)
    shape = (2, c, max(1, round(h * scale_h)), max(1, round(w * scale_w)))
    img = demo_input(shape, seed=1)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = graph(img)
    except Exception:  # noqa: BLE001 - the model refuses this size itself: nothing to compare
        return
    name = "x".join(map(str, shape))
    try:
        other = run_session(ort_session(onnx_file, "ONNX export"), img)
    except SeglabError:
        raise
    except Exception as exc:  # onnxruntime's own error types
        raise OnnxExportError(f"The dynamic graph fails in ONNX Runtime on a {name} input "
                              f"({str(exc).strip().splitlines()[0]}): {_STATIC_HINT}.") from None
    bound = CHECK_TOL * max(1.0, float(reference.abs().max()))
    result = logits_difference(reference, other, bound, 0.0)
    if not result["bound_ok"]:
        raise OnnxExportError(
            f"The dynamic graph gives wrong logits on a {name} input (max abs difference "
            f"{result['max_abs']:.3g} from PyTorch, above {bound:.3g}, {CHECK_TOL:g} of the "
            f"largest logit): {_STATIC_HINT}.")


def export_onnx(model: nn.Module, output_file: str, input_shape: Sequence[int],
                opset_version: int = DEFAULT_OPSET, dynamic_export: bool = False,
                rescale_shape: Optional[Sequence[int]] = None, show: bool = False,
                check_dynamic: bool = True) -> str:
    """Export ``model`` (eval mode, on the CPU) to ``output_file``.

    Args:
        model: an EncoderDecoder.
        output_file: the .onnx path (written through a temporary file).
        input_shape: (N, 3, H, W) of the traced input (whole mode; see :func:`graph_input_shape`).
        opset_version: ONNX opset.
        dynamic_export: dynamic batch, height and width.
        rescale_shape: whole mode: the graph resizes its logits to this (h, w).
        show: print the traced graph (``verbose``).
        check_dynamic: with ``dynamic_export``, refuse a graph that fails or gives other
            logits than PyTorch at another size (:func:`_check_other_size`; ONNX Runtime).

    Returns:
        ``output_file``.
    """
    mode = test_mode_of(model)
    if rescale_shape is not None and mode == "slide":
        raise ConfigError("--rescale_shape applies to whole mode; in slide mode the graph is one "
                          "window and deploy_test resizes the averaged logits to each image.")
    graph = LogitsGraph(model.cpu().eval(), rescale_shape).eval()
    traced = graph_input_shape(model, input_shape)
    dummy = demo_input(traced)
    tmp = f"{output_file}.tmp{os.getpid()}"
    try:
        sizes = symbolic_sizes_when_tracing() if dynamic_export else contextlib.nullcontext()
        with torch.no_grad(), warnings.catch_warnings(), export_symbolics(opset_version), sizes:
            warnings.simplefilter("ignore")  # TracerWarnings and the exporter's deprecation note
            torch.onnx.export(graph, (dummy,), tmp, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], opset_version=opset_version,
                              dynamic_axes=dynamic_axes() if dynamic_export else None,
                              verbose=show, do_constant_folding=True, dynamo=False)
        _declare_output_channels(tmp, model.out_channels)
        if dynamic_export and check_dynamic:
            _check_other_size(graph, tmp, traced, mode == "slide")
        os.replace(tmp, output_file)
    except OnnxExportError:
        raise
    except Exception as exc:  # the exporter's own errors name the op; keep that line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        parts = [model.backbone] + [head for _, _, head in model._decode_stages()]
        names = ", ".join(type(part).__name__ for part in parts)
        raise OnnxExportError(f"{type(model).__name__} ({names}) cannot be exported to ONNX: "
                              f"{first}") from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return output_file


# -- ONNX Runtime ---------------------------------------------------------------------------------
def ort_session(onnx_file: str, tool: str = "seglab", device_id: int = 0):
    """An ONNX Runtime session on CUDA when onnxruntime-gpu has it, else on the CPU."""
    ort = require("onnxruntime", tool)
    if not os.path.isfile(onnx_file):
        raise ConfigError(f"ONNX file '{onnx_file}' does not exist.")
    providers: List = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", dict(device_id=device_id)))
    try:
        return ort.InferenceSession(onnx_file, providers=providers)
    except Exception as exc:  # onnxruntime raises its own types for unreadable models
        raise ConfigError(f"ONNX Runtime cannot load '{onnx_file}': {exc}") from None


def run_session(session, img: torch.Tensor) -> torch.Tensor:
    """The graph's output for ``img`` (N, 3, H, W), as a CPU float32 tensor."""
    feed = {session.get_inputs()[0].name: img.detach().float().cpu().numpy()}
    return torch.from_numpy(session.run(None, feed)[0])


class ONNXRuntimeSegmentor(EncoderDecoder):
    """A segmentor whose network is an exported .onnx run by ONNX Runtime (``deploy_test``).

    Everything but the network is EncoderDecoder's own code (whole / slide inference, rescale,
    softmax, flip, argmax), configured from ``model_cfg`` (built on the meta device, so no
    weights are made): its predictions equal the PyTorch model's up to the logits' float
    differences. Static graph sizes are respected: a static batch runs image by image (or
    window by window); a static H x W that is not the image's fails with the fix.

    Args:
        onnx_file: a file written by :func:`export_onnx`.
        model_cfg: the config's ``model`` (test_cfg included).
        device_id: the GPU of ONNX Runtime's CUDA provider, when installed.
    """

    def __init__(self, onnx_file: str, model_cfg: Mapping, device_id: int = 0):
        from ..models import build_segmentor

        BaseSegmentor.__init__(self)
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = build_segmentor(dict(model_cfg, pretrained=None, train_cfg=None))
        self.onnx_file = onnx_file
        self.test_cfg = dict(ref.test_cfg or {}, precision="fp32")  # ONNX runs in float32
        self.align_corners, self.num_classes = ref.align_corners, ref.num_classes
        self.out_channels = ref.out_channels
        self._meta_stages = tuple(ref._decode_stages())  # a tuple: not registered as children
        test_mode_of(self)
        self.session = ort_session(onnx_file, "tools/deploy_test.py", device_id)
        output = self.session.get_outputs()[0]
        channels = output.shape[1] if len(output.shape) == 4 else None  # int, or a dim name
        if output.type != "tensor(float)" or len(output.shape) != 4 or \
                (isinstance(channels, int) and channels != self.out_channels):
            raise ConfigError(
                f"{onnx_file} outputs {output.type} {list(output.shape)}, not float logits "
                f"(N, {self.out_channels}, H, W) for this config: a file from MMSegmentation's "
                "pytorch2onnx (argmax label maps) or another model? Export it with seglab's "
                "tools/pytorch2onnx.py.")
        dims = self.session.get_inputs()[0].shape
        self.static_batch = dims[0] if isinstance(dims[0], int) else None
        self.static_hw = tuple(dims[2:]) if all(isinstance(d, int) for d in dims[2:]) else None
        if self.static_hw is not None and self._test_mode() == "slide":
            crop = tuple(int(s) for s in self._slide_options()["crop_size"])
            if crop != self.static_hw:
                raise ConfigError(
                    f"{onnx_file} was exported for {self.static_hw[0]}x{self.static_hw[1]} "
                    f"windows (a static shape), but the config's model.test_cfg.crop_size is "
                    f"{crop}: export again with this config (or with --dynamic-export).")

    def _decode_stages(self):
        return list(self._meta_stages)

    def encode_decode(self, img: torch.Tensor, img_metas=None) -> torch.Tensor:
        """Logits (N, C, H, W) of ONNX Runtime, in chunks of the graph's static batch."""
        if self.static_hw is not None and tuple(img.shape[2:]) != self.static_hw:
            h, w = img.shape[2:]
            if self._test_mode() == "slide":
                raise ConfigError(
                    f"{self.onnx_file} was exported for {self.static_hw[0]}x{self.static_hw[1]} "
                    f"windows (a static shape), but an image is smaller than the crop and its "
                    f"window is {h}x{w}: export again with --dynamic-export.")
            raise ConfigError(
                f"{self.onnx_file} was exported for {self.static_hw[0]}x{self.static_hw[1]} "
                f"inputs (a static shape), but a test input is {h}x{w}: export again with "
                f"--dynamic-export (or --shape {h} {w}), or make the test pipeline resize "
                "every image to the exported size.")
        step = self.static_batch or img.shape[0]
        outs = [run_session(self.session, img[i:i + step]) for i in range(0, img.shape[0], step)]
        logits = torch.cat(outs, dim=0).to(img.device)
        if logits.shape[2:] != img.shape[2:]:  # a graph exported with --rescale_shape
            logits = resize(logits, size=img.shape[2:], mode="bilinear",
                            align_corners=self.align_corners, warning=False)
        return logits

    def head_logits(self, img: torch.Tensor, img_metas=None) -> torch.Tensor:
        """The graph's logits, already at the input size (slide windows are not resized)."""
        return self.encode_decode(img, img_metas)

    def forward_train(self, img, img_metas, gt_semantic_seg):
        raise NotImplementedError("An ONNX Runtime segmentor only tests.")

    def extract_feat(self, img):
        raise NotImplementedError("An ONNX graph gives logits, not features.")


# -- verification ---------------------------------------------------------------------------------
def logits_difference(reference: torch.Tensor, other: torch.Tensor, atol: float,
                      rtol: float) -> dict:
    """``max_abs`` difference, ``bound_ok`` (``|a - b| <= atol + rtol * |a|`` everywhere, as
    ``np.allclose``) and ``same_labels`` (fraction of pixels with the same argmax)."""
    if reference.shape != other.shape:
        raise OnnxExportError(f"ONNX Runtime's output is {tuple(other.shape)}, PyTorch's "
                              f"{tuple(reference.shape)}.")
    diff = (reference - other).abs()
    ok = bool((diff <= atol + rtol * reference.abs()).all())
    same = float((reference.argmax(1) == other.argmax(1)).float().mean()) \
        if reference.shape[1] > 1 else float(((reference > 0) == (other > 0)).float().mean())
    return dict(max_abs=float(diff.max()), bound_ok=ok, same_labels=same)


def verify_inputs(model: nn.Module, input_shape: Sequence[int], dynamic_export: bool,
                  image: Optional[torch.Tensor] = None) -> List[torch.Tensor]:
    """Images to compare on: ``image`` (default: uniform noise of ``input_shape``); with dynamic
    export also MMSeg's check of a 1.5x larger batch of the image and its flip (batch and size
    both change)."""
    img = image if image is not None else demo_input(input_shape)
    inputs = [img]
    if dynamic_export:
        big = resize(img, scale_factor=1.5, mode="nearest")
        inputs.append(torch.cat([big, big.flip(-1)], dim=0))
    return inputs


def verify_onnx(model: nn.Module, onnx_file: str, input_shape: Sequence[int],
                dynamic_export: bool = False, rescale_shape: Optional[Sequence[int]] = None,
                atol: float = 1e-4, rtol: float = 1e-5, image: Optional[torch.Tensor] = None,
                model_cfg: Optional[Mapping] = None) -> List[dict]:
    """Compare ONNX Runtime with PyTorch on :func:`verify_inputs`.

    Whole mode compares the graph's logits with ``encode_decode``'s (resized to
    ``rescale_shape`` when given); slide mode compares the full sliding-window logits of a
    ``input_shape`` image, the windows run by ONNX Runtime, with PyTorch's. The ONNX model is
    also checked with ``onnx.checker``. ``model_cfg`` (slide mode; default ``model.cfg.model``,
    which :func:`seglab.apis.inference.build_and_load` sets) configures the ONNX Runtime twin.

    Returns:
        One :func:`logits_difference` dict per input, with its ``shape``.

    Raises:
        OnnxExportError: a difference above the bound.
    """
    onnx = require("onnx", "--verify")
    onnx.checker.check_model(onnx_file)
    twin = None
    if test_mode_of(model) == "slide":
        if model_cfg is None and getattr(model, "cfg", None) is None:
            raise ConfigError("verify_onnx in slide mode needs model_cfg (the config's model).")
        twin = ONNXRuntimeSegmentor(onnx_file, model_cfg or model.cfg.model)
    graph = LogitsGraph(model, rescale_shape).eval()
    session = ort_session(onnx_file, "--verify") if twin is None else None
    results = []
    for index, img in enumerate(verify_inputs(model, input_shape, dynamic_export, image)):
        metas = [dict(img_shape=tuple(img.shape[2:]), ori_shape=tuple(img.shape[2:]))] * len(img)
        shape = "x".join(map(str, img.shape))
        hint = (" The graph holds at the exported size only (sizes this model computes in "
                "Python are constants of the trace): export without --dynamic-export."
                if index > 0 else "")
        with torch.no_grad():
            reference = graph(img) if twin is None else model.slide_inference(img, metas, False)
            try:
                other = run_session(session, img) if twin is None else \
                    twin.slide_inference(img, metas, rescale=False)
            except SeglabError:
                raise
            except Exception as exc:  # onnxruntime's own error types
                raise OnnxExportError(f"ONNX Runtime fails on a {shape} input: "
                                      f"{str(exc).strip().splitlines()[0]}.{hint}") from None
        result = dict(logits_difference(reference, other, atol, rtol), shape=tuple(img.shape))
        results.append(result)
        if not result["bound_ok"]:
            raise OnnxExportError(
                f"The outputs are different between PyTorch and ONNX Runtime on a {shape} "
                f"input: max abs logit difference "
                f"{result['max_abs']:.3g} exceeds atol {atol:g} + rtol {rtol:g} * |logit| "
                f"({100 * result['same_labels']:.2f}% of the pixels get the same class).{hint}")
    return results
