"""Models in a given form for the measurement tools: a :class:`~.specs.ModelSpec` built as
:class:`BuiltModel` (the module and the callables that run it and that fvcore traces).

Forms:

- ``train``: as built, in eval mode (BatchNorms, RepVGG branches and the two heads unfused).
- ``deploy``: our deploy form (``to_form(model, 'deploy')``: every BatchNorm folded, including the ones
  after each RecConv / downsampling conv). Peers: ``timm.utils.reparameterize_model`` and, where
  the graph traces, every remaining Conv2d -> BatchNorm pair folded (see ``fold_conv_bn``).
- ``official_fused``: the official fused graph (``to_form(model, 'official_fused')``), whose
  parameter and MAC counts equal the official ``fuse()``. Only defined for RecNeXt models; the
  official implementation itself is fused with its own ``fuse()`` whatever the form.

Parameters and MACs are counted by :mod:`recnext_mm.complexity`.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn

import recnext_mm  # noqa: F401  (registers RecNeXt and the timm recnext_* models)
from recnext_mm.backbones.archs import get_arch, official_model_args
from recnext_mm.backbones.recnext import RecNeXt
from recnext_mm.backbones.forms import to_form
from recnext_mm.timm_models import RecNeXtClassifier

from .specs import ModelSpec, load_config

__all__ = ['FORMS', 'build_config_model', 'load_official_module', 'build_official',
           'to_recnext_form', 'fold_conv_bn', 'BuiltModel', 'build', 'make_data_samples']

FORMS = ('train', 'deploy', 'official_fused')  # recnext_mm.FORMS, timing order
# The official model file and constructor arguments per family.
_OFFICIAL_FILES = {'recconv': 'recnext_m.py', 'recattn': 'recnext_a.py', 'lsnet': 'recnext_ls.py',
                   'lsnet_share_channel': 'recnext_ls_share.py'}


def build_config_model(path: str) -> nn.Module:
    """Builds the model of a detector / segmentor / classifier config, without pretrained weights.

    ``init_cfg`` of the backbone (the ImageNet checkpoint URL) is dropped so nothing is downloaded;
    weights stay random, which is all that FLOPs and timings need.
    """
    from recnext_mm.builder import build_model_from_cfg
    cfg = load_config(path)
    cfg.model.pop('init_cfg', None)
    return build_model_from_cfg(cfg)


def load_official_module(official_dir: str, family: str):
    """Imports the official model file of ``family`` from ``official_dir`` (timm registry untouched).

    Raises:
        FileNotFoundError: ``official_dir`` lacks ``load_official.py`` or the model file.
    """
    loader = osp.join(official_dir, 'load_official.py')
    model_file = osp.join(official_dir, _OFFICIAL_FILES[family])
    for path in (loader, model_file):
        if not osp.isfile(path):
            raise FileNotFoundError(f'--official-dir {official_dir}: missing {osp.basename(path)}')
    import importlib.util
    spec = importlib.util.spec_from_file_location('_recnext_official_loader', loader)
    loader_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loader_mod)
    return loader_mod.load(model_file)


def build_official(arch: str, official_dir: str, fuse: bool = True) -> nn.Module:
    """Builds the official implementation's 1000-class classifier of ``arch`` (random weights)."""
    module = load_official_module(official_dir, get_arch(arch)['family'])
    model = module.RecNext(num_classes=1000, **official_model_args(arch)).eval()
    if fuse:
        model.fuse()  # in place; returns None
    return model


def to_recnext_form(model: nn.Module, form: str) -> nn.Module:
    """Puts every RecNeXt part of ``model`` into ``form`` in place (eval mode) and returns it.

    ``official_fused`` keeps the BatchNorms after each RecConv / downsampling conv, as the official
    ``fuse()`` does; ``deploy`` is our deploy form (:func:`recnext_mm.to_form`).
    """
    if form not in FORMS:
        raise ValueError(f'Unknown form {form!r}; choose from {FORMS}')
    model.eval()
    if form == 'train':
        return model
    try:
        return to_form(model, form)
    except ValueError as err:
        raise ValueError(f'form={form!r} needs a RecNeXt model: {err}') from None


@torch.no_grad()
def fold_conv_bn(model: nn.Module) -> Tuple[nn.Module, int]:
    """Folds every ``Conv2d -> BatchNorm2d`` pair of a traceable eval-mode model (peers' deploy form).

    The model is traced with torch.fx, BatchNorm layers kept as leaves (timm's ``BatchNormAct2d``
    included: its norm is folded and its drop/activation kept). A pair is folded when the conv's
    only user is the norm. Models that do not trace are returned unchanged.

    Returns:
        tuple: ``(model, number of folded pairs)``; the model is a ``GraphModule`` when any folded.
    """
    import torch.fx as fx
    from recnext_mm.backbones.layers import biased_conv, fold_bn
    from torch.nn.modules.batchnorm import _BatchNorm

    class _Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return isinstance(m, _BatchNorm) or super().is_leaf_module(m, qualname)

    try:
        graph = _Tracer().trace(model)
    except Exception:  # dynamic control flow: leave the model as it is
        return model, 0
    gm = fx.GraphModule(model, graph)
    modules = dict(gm.named_modules())
    folded = 0
    for node in list(gm.graph.nodes):
        if node.op != 'call_module' or not isinstance(modules.get(node.target), _BatchNorm):
            continue
        src = node.args[0] if node.args else None
        if not (isinstance(src, fx.Node) and src.op == 'call_module' and len(src.users) == 1
                and type(modules.get(src.target)) is nn.Conv2d):
            continue
        bn, conv = modules[node.target], modules[src.target]
        if not bn.track_running_stats or bn.running_mean is None:
            continue
        w, b = fold_bn(conv.weight, conv.bias, bn)
        _set_submodule(gm, src.target, biased_conv(conv, w, b))
        rest = nn.Sequential(*[m for m in (getattr(bn, 'drop', None), getattr(bn, 'act', None))
                               if m is not None and not isinstance(m, nn.Identity)])
        _set_submodule(gm, node.target, rest if len(rest) else nn.Identity())
        folded += 1
    gm.recompile()
    return (gm if folded else model), folded


def _set_submodule(root: nn.Module, target: str, new: nn.Module):
    parent_name, _, child = target.rpartition('.')
    setattr(root.get_submodule(parent_name) if parent_name else root, child, new)


@dataclass
class BuiltModel:
    """A model in a given form with the callable that runs it on an input batch.

    Attributes:
        module (nn.Module): The network (eval mode).
        run (Callable): ``run(x)`` runs one inference on the image batch ``x``.
        trace_fn (Callable): ``trace_fn(x)``, a tensor-only forward for fvcore (may equal run).
        notes (str): What was done to reach the form (fusions, modes).
    """
    module: nn.Module
    run: Callable
    trace_fn: Callable
    notes: str = ''


def build(spec: ModelSpec, form: str, official_dir: Optional[str] = None,
          config_mode: str = 'predict', peer_bn_fold: bool = True,
          shape: Optional[Tuple[int, int]] = None) -> BuiltModel:
    """Builds ``spec`` in ``form``.

    Args:
        spec (ModelSpec): What to build.
        form (str): 'train', 'deploy' or 'official_fused'. For peers 'official_fused' is not defined
            (ValueError); for ``official:<arch>`` only the official fused model exists (any form).
        official_dir (str, optional): Directory of the official implementation.
        config_mode (str): For configs, what ``run`` does: 'predict' (full inference with
            post-processing: NMS, mask pasting, resizing) or 'tensor' (raw head outputs).
        peer_bn_fold (bool): In the deploy form of peers, also fold Conv2d -> BatchNorm pairs.
        shape (tuple, optional): (H, W) of the input, needed by configs for their data samples.

    Returns:
        BuiltModel: The model and how to run it.
    """
    torch.manual_seed(0)
    if spec.kind == 'official':
        if not official_dir:
            raise ValueError(f'{spec.name} needs --official-dir')
        model = build_official(spec.arch, official_dir, fuse=True)
        return BuiltModel(model, model, model, 'official fuse()')
    if spec.kind == 'timm':
        if form == 'official_fused':
            raise ValueError(f'form "official_fused" is only defined for RecNeXt models, not {spec.name}')
        import timm
        model = timm.create_model(spec.name, pretrained=False).eval()
        notes = 'eval mode, unfused'
        if form == 'deploy':
            model = timm.utils.reparameterize_model(model)
            notes = 'reparameterize_model'
            if peer_bn_fold:
                model, folded = fold_conv_bn(model)
                notes += f' + {folded} conv-bn folded'
        return BuiltModel(model, model, model, notes)
    if spec.kind == 'backbone':
        model = RecNeXt(arch=spec.arch)
    elif spec.kind == 'classifier':
        model = RecNeXtClassifier(arch=spec.arch, num_classes=1000)
    else:
        model = build_config_model(spec.name)
    to_recnext_form(model, form)
    notes = {'train': 'eval mode, unfused', 'deploy': 'all BN folded',
             'official_fused': 'official fuse() graph'}[form]
    if spec.kind != 'config':
        return BuiltModel(model, model, model, notes)
    shape = shape or spec.default_shape
    run, trace_fn = _config_callables(model, spec.task, shape, config_mode)
    return BuiltModel(model, run, trace_fn, notes)


def make_data_samples(task: str, batch: int, shape: Tuple[int, int]):
    """Data samples with the meta information inference needs (no pre-processing: scale 1)."""
    h, w = shape
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1.0, 1.0), flip=False, flip_direction=None)
    if task == 'detection':
        from mmdet.structures import DetDataSample as Sample
    elif task == 'segmentation':
        from mmseg.structures import SegDataSample as Sample
    else:
        from mmpretrain.structures import DataSample as Sample
        meta = dict(img_shape=(h, w), ori_shape=(h, w))
    return [Sample(metainfo=dict(meta)) for _ in range(batch)]


def _config_callables(model, task, shape, mode):
    if mode not in ('predict', 'tensor'):
        raise ValueError(f'config mode must be predict or tensor, got {mode!r}')
    cache: Dict[Tuple[int, int, int], list] = {}

    def samples(x):
        # int(): under jit tracing (fvcore) sizes are tensors.
        batch, h, w = (int(s) for s in (x.shape[0], x.shape[-2], x.shape[-1]))
        if (batch, h, w) not in cache:
            cache[batch, h, w] = make_data_samples(task, batch, (h, w))
        return cache[batch, h, w]

    def run(x):
        return model(x, samples(x), mode=mode)

    def trace_fn(x):
        # Tensor-only forward for fvcore: backbone, neck and heads (mmdet's/mmseg's ``_forward``,
        # mmpretrain's logits), without post-processing.
        return _flatten(model(x, samples(x), mode='tensor'))

    return run, trace_fn


def _flatten(out):
    if isinstance(out, torch.Tensor):
        return out
    flat = []
    stack = [out]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            flat.append(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return tuple(flat)
