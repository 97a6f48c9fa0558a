"""ONNX export of deploy-form models, shared by ``tools/deployment/export_onnx.py``,
``tools/analysis_tools/benchmark.py --runtime onnxruntime`` and ``tools/deployment/quantize_onnx.py``.

What is exported is the deploy form in NCHW memory (``channels_last`` only changes strides in
PyTorch, but the attention's token-major path would add Transpose nodes to the graph), with
torch's TorchScript-based exporter (``dynamo=False``, no package beyond onnx needed).

Two graph shapes:

- ``dynamic=True`` (the default of ``export_onnx.py``): batch, height and width are dynamic axes.
  The RecConv upsampling to the exact size of the finer level (odd sizes included) is a ``Resize``
  with a ``sizes`` input computed from the runtime shape (opset >= 11).
- ``dynamic=False`` (one input size, what the benchmark times): every shape is a constant, and
  :func:`lean_resizes` turns each ``Resize`` whose output is an integer multiple of its input into
  a ``Resize`` with constant ``scales`` and drops the shape arithmetic, the form ONNX Runtime's
  graph optimiser can run in its blocked (NCHWc) layout without reorders.
"""
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from recnext_mm.backbones.forms import set_channels_last, to_form

from .golden import randomize_norms
from .optional import require

__all__ = ['TARGETS', 'MIN_OPSET', 'DEFAULT_OPSET', 'build_deploy_model', 'to_nchw', 'io_names',
           'export', 'runtime_shapes', 'lean_resizes', 'graph_summary', 'verify',
           'export_and_verify', 'markdown']

TARGETS = ('classifier', 'backbone')
MIN_OPSET = 11  # Resize with a runtime `sizes` input
DEFAULT_OPSET = 17


@torch.no_grad()
def to_nchw(model: nn.Module) -> nn.Module:
    """Switches every RecNeXt backbone / classifier inside ``model`` to NCHW memory, in place.

    Same weights and outputs; in an ONNX graph the channels_last mode of the attention reads
    tokens through Transpose nodes that the NCHW mode does not need.
    """
    return set_channels_last(model, False)


def build_deploy_model(arch: str, target: str = 'classifier',
                       checkpoint: Optional[str] = None) -> nn.Module:
    """The NCHW deploy form of ``recnext_<arch>`` (target 'classifier') or of the backbone.

    A checkpoint (official release, mmengine or plain state dict) is loaded into the training form,
    strictly, before fusing; without one the weights are random, with random BatchNorm statistics
    so that the folding is not trivial.

    Raises:
        ValueError: Unknown target.
    """
    from recnext_mm.backbones.recnext import RecNeXt
    from recnext_mm.timm_models import RecNeXtClassifier
    if target not in TARGETS:
        raise ValueError(f'target must be one of {TARGETS}, got {target!r}')
    torch.manual_seed(0)
    if target == 'classifier':
        model = RecNeXtClassifier(arch=arch, num_classes=1000)
        if checkpoint:
            from recnext_mm.checkpoint import load_into, model_state_dict, read_checkpoint
            load_into(model, model_state_dict(read_checkpoint(checkpoint)), checkpoint)
        else:
            randomize_norms(model)
        return to_form(model, 'deploy', channels_last=False)
    model = RecNeXt(arch=arch, out_indices=(0, 1, 2, 3))
    if checkpoint:
        from recnext_mm.backbones.loading import load_pretrained_backbone
        load_pretrained_backbone(model, checkpoint)
    else:
        randomize_norms(model)
    model.eval()
    to_form(model, 'deploy', channels_last=False)
    return model


def io_names(model: nn.Module, num_outputs: Optional[int] = None
             ) -> Tuple[List[str], Dict[str, Dict[int, str]]]:
    """Output names and the dynamic axes of input and outputs.

    A backbone (a module with ``out_indices``, or ``num_outputs`` > 1) has outputs ``out0`` ..
    ``out<n-1>`` (feature maps: batch, height and width dynamic); anything else one ``logits``.
    """
    if num_outputs is None:
        num_outputs = len(model.out_indices) if hasattr(model, 'out_indices') else 1
    if num_outputs > 1:
        outputs = [f'out{i}' for i in range(num_outputs)]
        axes = {name: {0: 'batch', 2: f'{name}_height', 3: f'{name}_width'} for name in outputs}
    else:
        outputs = ['logits']
        axes = {'logits': {0: 'batch'}}
    axes['input'] = {0: 'batch', 2: 'height', 3: 'width'}
    return outputs, axes


def export(model: nn.Module, path: str, shape: Tuple[int, int] = (224, 224),
           opset: int = DEFAULT_OPSET, dynamic: bool = True, batch: int = 1,
           lean: bool = True) -> str:
    """Exports ``model`` (eval mode, NCHW: see :func:`to_nchw`) to ``path`` and checks it.

    Args:
        model (nn.Module): A deploy-form RecNeXt model or any traceable image model (peers).
        path (str): The .onnx file to write (folders are created).
        shape (tuple): (H, W) of the example input; with ``dynamic=False`` the only input size.
        opset (int): ONNX opset (>= 11).
        dynamic (bool): Dynamic batch, height and width; otherwise ``batch`` x 3 x H x W only.
        batch (int): Batch of the example input (the fixed batch when not dynamic).
        lean (bool): With ``dynamic=False``, rewrite the Resize nodes with :func:`lean_resizes`.

    Returns:
        str: ``path``.

    Raises:
        ValueError: ``opset`` below :data:`MIN_OPSET`; ``dynamic=True`` on a model whose RecConv
            upsampling is in the transposed-conv form (the traced size test would hold for the
            example size only).
    """
    if opset < MIN_OPSET:
        raise ValueError(f'opset {opset} < {MIN_OPSET}: Resize to runtime sizes (RecConv) needs '
                         f'opset >= {MIN_OPSET}.')
    if dynamic and any(getattr(m, 'transposed_upsample', False) for m in model.modules()):
        raise ValueError('A dynamic-axes graph needs the interpolation form of the RecConv '
                         'upsampling: call recnext_mm.backbones.forms.set_transposed_upsampling'
                         '(model, False) first, or export one input size (dynamic=False).')
    import onnx
    model.eval()
    to_nchw(model)
    x = torch.randn(batch, 3, *shape)
    with torch.no_grad():
        out = model(x)
    num_outputs = len(out) if isinstance(out, (tuple, list)) else 1
    outputs, axes = io_names(model, num_outputs)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with warnings.catch_warnings():
        # TracerWarnings on shape arithmetic and the exporter's deprecation notice; the outputs
        # are compared with PyTorch afterwards (verify).
        warnings.simplefilter('ignore')
        torch.onnx.export(model, (x,), path, dynamo=False, input_names=['input'],
                          output_names=outputs, opset_version=opset, do_constant_folding=True,
                          dynamic_axes=axes if dynamic else None)
    proto = onnx.load(path)
    if lean and not dynamic:
        proto = lean_resizes(proto)
        onnx.save(proto, path)
    onnx.checker.check_model(proto)
    return path


def runtime_shapes(proto, names: Sequence[str]) -> Dict[str, List[int]]:
    """Shapes of the tensors ``names`` of a fixed-shape graph, read from one ONNX Runtime run
    (zeros in, no graph optimisation; ONNX shape inference cannot follow shapes computed at run
    time, such as a Resize's ``sizes``)."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper
    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    have = {o.name for o in probe.graph.output}
    elem = {vi.name: vi.type.tensor_type.elem_type for vi in
            list(probe.graph.value_info) + list(probe.graph.input) + list(probe.graph.output)}
    for name in names:
        if name not in have:
            probe.graph.output.append(
                helper.make_tensor_value_info(name, elem.get(name, TensorProto.FLOAT), None))
            have.add(name)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(probe.SerializeToString(), sess_options=opts,
                                   providers=['CPUExecutionProvider'])
    feeds = {}
    for inp in session.get_inputs():
        feeds[inp.name] = np.zeros(inp.shape, dtype=np.float32)
    outputs = [o.name for o in session.get_outputs()]
    values = session.run(outputs, feeds)
    return {n: list(v.shape) for n, v in zip(outputs, values) if n in set(names)}


def lean_resizes(proto):
    """Rewrites the ``Resize`` nodes of a fixed-shape graph to constant inputs (returns a new model).

    Each Resize gets constant ``scales`` when every output dimension is an integer multiple of the
    input's (the 2x upsampling of a RecConv level on an even map), else constant ``sizes``; the
    Shape / Gather / Concat chains that computed the sizes are removed. Scales and sizes give the
    same sampling positions here (the exporter's ``half_pixel`` / ``asymmetric`` modes divide by
    the same ratio), so outputs do not change. ONNX Runtime runs a nearest Resize with integer
    constant scales in its blocked NCHWc layout; with ``sizes`` it reorders around it.

    Raises:
        ValueError: The graph has a dynamic input dimension.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper
    for inp in proto.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if any(not d.HasField('dim_value') for d in dims):
            raise ValueError(f'lean_resizes needs fixed input shapes; input {inp.name!r} is dynamic '
                             f'(export with dynamic=False).')
    resizes = [n for n in proto.graph.node if n.op_type == 'Resize']
    if not resizes:
        return proto
    shapes = runtime_shapes(proto, [t for n in resizes for t in (n.input[0], n.output[0])])
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    counter = 0
    for node in graph.node:
        if node.op_type != 'Resize':
            continue
        src, dst = shapes[node.input[0]], shapes[node.output[0]]
        if all(d % s == 0 for s, d in zip(src, dst)):
            name = f'lean_resize_scales_{counter}'
            value = np.array([d // s for s, d in zip(src, dst)], dtype=np.float32)
            new_inputs = [node.input[0], '', name]
        else:
            name = f'lean_resize_sizes_{counter}'
            value = np.array(dst, dtype=np.int64)
            new_inputs = [node.input[0], '', '', name]
        counter += 1
        graph.initializer.append(numpy_helper.from_array(value, name))
        del node.input[:]
        node.input.extend(new_inputs)
    # Drop the nodes nothing reads any more (the shape arithmetic), repeatedly.
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in graph.node for i in n.input} | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = {i for n in graph.node for i in n.input}
    for init in list(graph.initializer):
        if init.name not in used:
            graph.initializer.remove(init)
    del graph.value_info[:]
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version,
                             producer_name=model.producer_name)


def graph_summary(path_or_proto) -> Dict[str, int]:
    """Number of nodes per op type of an ONNX graph (sorted by count)."""
    import onnx
    proto = onnx.load(path_or_proto) if isinstance(path_or_proto, str) else path_or_proto
    counts: Dict[str, int] = {}
    for node in proto.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


@torch.no_grad()
def verify(model: nn.Module, path: str, shapes: Sequence[Tuple[int, int]], batch: int = 2,
           tol: float = 1e-4, seed: int = 0, threads: Optional[int] = None) -> List[Dict]:
    """Runs random inputs of each shape through onnxruntime and PyTorch.

    The session is the one the benchmark times (:func:`~recnext_bench.ort_runtime.
    make_session`: all graph optimisations), so the checked graph is the timed one.

    Returns:
        list[dict]: per shape: shape, batch, outputs (shapes), max_abs, max_rel (max |onnx - torch|
        / max |torch|, each output scaled by its own maximum, the worst over all outputs) and
        ok (max_rel <= tol).

    Raises:
        RuntimeError: The number or shapes of the outputs differ.
    """
    import numpy as np
    from .ort_runtime import make_session
    session = make_session(path, threads=threads)
    gen = torch.Generator().manual_seed(seed)
    results = []
    for h, w in shapes:
        x = torch.randn(batch, 3, h, w, generator=gen)
        expected = model(x)
        expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        if len(got) != len(expected):
            raise RuntimeError(f'{path}: {len(got)} outputs, PyTorch gives {len(expected)}')
        max_abs = max_rel = 0.
        for g, e in zip(got, expected):
            e = e.contiguous().numpy()
            if g.shape != e.shape:
                raise RuntimeError(f'{path} at {h}x{w}: output shape {g.shape} != {e.shape}')
            diff = float(np.abs(g - e).max())
            max_abs = max(max_abs, diff)
            max_rel = max(max_rel, diff / max(float(np.abs(e).max()), 1e-12))
        results.append(dict(shape=[h, w], batch=batch, outputs=[list(e.shape) for e in expected],
                            max_abs=max_abs, max_rel=max_rel, ok=max_rel <= tol))
    return results


def export_and_verify(arch: str, target: str, out_dir: str, checkpoint: Optional[str] = None,
                      opset: int = DEFAULT_OPSET, export_shape=(224, 224),
                      verify_shapes: Sequence[Tuple[int, int]] = ((224, 224), (256, 320)),
                      batch: int = 2, tol: float = 1e-4, dynamic: bool = True) -> Dict:
    """Builds, exports and verifies one model; returns a summary (``ok`` when all checks pass).

    With ``dynamic=False`` the graph takes ``batch`` x 3 x ``export_shape`` only, and only that
    shape is verified.
    """
    require('onnx', 'onnxruntime', purpose='ONNX export')
    model = build_deploy_model(arch, target, checkpoint)
    suffix = '' if target == 'classifier' else '_backbone'
    tag = '' if dynamic else f'_{export_shape[0]}x{export_shape[1]}_b{batch}'
    path = osp.join(out_dir, f'recnext_{arch}{suffix}_deploy{tag}.onnx')
    export(model, path, export_shape, opset, dynamic=dynamic, batch=1 if dynamic else batch)
    checks = verify(model, path, verify_shapes if dynamic else [tuple(export_shape)], batch, tol)
    return dict(arch=arch, target=target, path=path, size_mb=os.path.getsize(path) / 2**20,
                opset=opset, dynamic=dynamic, checks=checks, ok=all(c['ok'] for c in checks))


def markdown(rows: List[Dict]) -> str:
    """The verification table of :func:`export_and_verify` results."""
    lines = ['| model | target | file | MB | opset | input (batch x HxW) | outputs | max abs diff | '
             'max rel diff | ok |', '|' + '---|' * 10]
    for r in rows:
        for c in r['checks']:
            outs = ', '.join('x'.join(map(str, s)) for s in c['outputs'])
            lines.append(f'| recnext_{r["arch"]} | {r["target"]} | {osp.basename(r["path"])} | '
                         f'{r["size_mb"]:.1f} | {r["opset"]} | {c["batch"]} x {c["shape"][0]}x'
                         f'{c["shape"][1]} | {outs} | {c["max_abs"]:.2e} | {c["max_rel"]:.2e} | '
                         f'{"yes" if c["ok"] else "**NO**"} |')
    return '\n'.join(lines)
