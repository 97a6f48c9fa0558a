"""Shared helpers of the analysis tools: building a model from a name or a config, putting it in a
given form (train / deploy / official-equivalent), counting parameters and fvcore MACs.

A *model spec* is one of

- an arch name (``m3``, ``a0``, ``t_share_channel`` ...): the mmengine ``RecNeXt`` backbone
  (all four stage outputs);
- ``recnext_<arch>``: the timm classifier (1000 classes, two heads in train form);
- any other timm model name (``repvit_m1_1``, ``resnet50`` ...): a peer, built with
  ``pretrained=False``;
- a path to an mmengine config (``*.py``): a detector, segmentor or classifier, built without its
  pretrained backbone weights; ``package::rel/path.py`` names a config installed with a
  downstream package (``mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py``: the R50 Mask R-CNN);
- ``official:<arch>`` (or ``official:recnext_<arch>``): the official implementation's classifier,
  imported from ``--official-dir`` (never part of this repository).

Forms:

- ``train``: as built, in eval mode (BatchNorms, RepVGG branches and the two heads unfused).
- ``deploy``: our deploy form (``switch_to_deploy``: every BatchNorm folded, including the ones
  after each RecConv / downsampling conv). Peers: ``timm.utils.reparameterize_model`` and, where
  the graph traces, every remaining Conv2d -> BatchNorm pair folded (see ``fold_conv_bn``).
- ``official``: the official-equivalent fused graph (``official_graph=True``), whose
  parameter and MAC counts equal the official ``fuse()``. Only defined for RecNeXt models; the
  official implementation itself is fused with its own ``fuse()`` whatever the form.
"""
import json
import os
import os.path as osp
import platform
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

import recnext_mm  # noqa: F401  (registers RecNeXt and the timm recnext_* models)
from recnext_mm.backbones.recnext import ARCH_SETTINGS, RecNeXt, get_arch, official_model_args
from recnext_mm.deploy import deploy_model
from recnext_mm.reference import REFERENCE_JSON
from recnext_mm.timm_models import RecNeXtClassifier

from .ort_runtime import cpu_name

FORMS = ('train', 'deploy', 'official')
# The measured facts about the official release ship with the package (recnext_mm/reference).
DEFAULT_REFERENCE = os.environ.get('RECNEXT_REFERENCE', REFERENCE_JSON)
# Default input sizes (H, W) per kind of model.
DEFAULT_SHAPES = {'backbone': (224, 224), 'classifier': (224, 224), 'timm': (224, 224),
                  'official': (224, 224), 'detection': (800, 1280), 'segmentation': (512, 512),
                  'classification': (224, 224)}
# The official model file and constructor arguments per family.
_OFFICIAL_FILES = {'recconv': 'recnext_m.py', 'recattn': 'recnext_a.py', 'lsnet': 'recnext_ls.py',
                   'lsnet_share_channel': 'recnext_ls_share.py'}


@dataclass
class ModelSpec:
    """A parsed model spec.

    Attributes:
        name (str): The spec as given.
        kind (str): 'backbone', 'classifier', 'timm', 'official' or 'config'.
        arch (str, optional): RecNeXt arch name for backbone/classifier/official.
        task (str, optional): For configs: 'detection', 'segmentation' or 'classification'.
    """
    name: str
    kind: str
    arch: Optional[str] = None
    task: Optional[str] = None

    @property
    def default_shape(self) -> Tuple[int, int]:
        return DEFAULT_SHAPES[self.task if self.kind == 'config' else self.kind]


def parse_spec(name: str) -> ModelSpec:
    """Parses a model spec (see the module docstring).

    Raises:
        ValueError: A ``.py`` path that does not exist, or an unknown timm / arch name.
    """
    if name.endswith('.py'):
        return ModelSpec(name, 'config', task=_config_task(resolve_config_path(name)))
    if name.startswith('official:'):
        arch = name.split(':', 1)[1].replace('recnext_', '')
        get_arch(arch)  # validates
        return ModelSpec(name, 'official', arch=arch)
    key = name.lower().replace('-', '_')
    if key in ARCH_SETTINGS:
        return ModelSpec(name, 'backbone', arch=key)
    if key.startswith('recnext_') and key[len('recnext_'):] in ARCH_SETTINGS:
        return ModelSpec(name, 'classifier', arch=key[len('recnext_'):])
    import timm
    if not timm.is_model(name):
        raise ValueError(f'Unknown model {name!r}: not a RecNeXt arch ({", ".join(ARCH_SETTINGS)}), '
                         f'not recnext_<arch>, not a timm model and not a config file.')
    return ModelSpec(name, 'timm')


def resolve_config_path(name: str) -> str:
    """The file of a config spec: a local path, or ``package::rel/path.py`` resolved to the config
    installed with that package (``<site-packages>/mmdet/.mim/configs/rel/path.py``), the way
    mmengine resolves ``_base_ = 'mmdet::...'``.

    Raises:
        ValueError: The file does not exist, the package is unknown to mmengine or not installed.
    """
    if '::' not in name:
        if not osp.isfile(name):
            raise ValueError(f'Config file not found: {name}')
        return name
    from mmengine.config.utils import _get_package_and_cfg_path
    from mmengine.utils import get_installed_path
    try:
        package, rel_path = _get_package_and_cfg_path(name)
    except (AssertionError, ValueError) as err:
        raise ValueError(f'Bad package config spec {name!r} (expected e.g. '
                         f'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py): {err}') from None
    try:
        root = get_installed_path(package)
    except Exception as err:  # noqa: BLE001  (importlib.metadata.PackageNotFoundError and others)
        raise ValueError(f'Config {name!r}: package {package!r} is not installed ({err})') from None
    path = osp.join(root, '.mim', 'configs', rel_path)
    if not osp.isfile(path):
        raise ValueError(f'Config {name!r} not found: {path} does not exist.')
    return path


def _config_task(path: str) -> str:
    """Guesses the task of a config from its model type (falls back to the path)."""
    cfg = load_config(path)
    model_type = str(cfg.model.get('type', ''))
    default_scope = cfg.get('default_scope', '')
    if 'EncoderDecoder' in model_type or default_scope == 'mmseg' or 'segmentation' in path:
        return 'segmentation'
    if 'Classifier' in model_type or default_scope == 'mmpretrain' or 'classification' in path:
        return 'classification'
    return 'detection'


def load_config(path: str):
    """Loads an mmengine config (a path or a ``package::`` spec) and imports its
    ``custom_imports``."""
    from mmengine.config import Config
    cfg = Config.fromfile(resolve_config_path(path))
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    return cfg


def build_config_model(path: str) -> nn.Module:
    """Builds the model of a detector / segmentor / classifier config, without pretrained weights.

    ``init_cfg`` of the backbone (the ImageNet checkpoint URL) is dropped so nothing is downloaded;
    weights stay random, which is all that FLOPs and timings need.
    """
    from ..builder import build_model_from_cfg
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

    ``official`` keeps the BatchNorms after each RecConv / downsampling conv, as the official
    ``fuse()`` does; ``deploy`` is our deploy form (:func:`recnext_mm.deploy.deploy_model`).
    """
    if form not in FORMS:
        raise ValueError(f'Unknown form {form!r}; choose from {FORMS}')
    model.eval()
    if form == 'train':
        return model
    try:
        return deploy_model(model, official_graph=form == 'official')
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
        form (str): 'train', 'deploy' or 'official'. For peers 'official' is not defined
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
        if form == 'official':
            raise ValueError(f'form "official" is only defined for RecNeXt models, not {spec.name}')
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
             'official': 'official-equivalent fuse'}[form]
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


def count_params(model: nn.Module) -> int:
    """Number of parameters (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters())


class _TraceWrapper(nn.Module):
    def __init__(self, module: nn.Module, fn: Callable):
        super().__init__()
        self.module = module
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@torch.no_grad()
def count_macs(model: nn.Module, inputs: torch.Tensor, fn: Optional[Callable] = None,
               by_operator: bool = False):
    """fvcore MACs of ``fn(inputs)`` (``model(inputs)`` by default), the paper's "FLOPs".

    fvcore counts one multiply-add as one flop and ignores element-wise ops it has no handle for
    (additions, activations); these are the figures the model card and ``measured_official_impl``
    report.

    Returns:
        int or tuple: total MACs, or ``(total, {operator: MACs})`` with ``by_operator``.
    """
    from fvcore.nn import FlopCountAnalysis
    target = model if fn is None or fn is model else _TraceWrapper(model, fn)
    was_training = target.training
    target.eval()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        analysis = FlopCountAnalysis(target, inputs)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings('none')
        total = int(analysis.total())
        ops = dict(analysis.by_operator()) if by_operator else None
    target.train(was_training)
    return (total, ops) if by_operator else total


def load_reference(path: Optional[str] = None) -> dict:
    """Loads ``recnext_reference.json`` (model card strings and measured official figures).

    Raises:
        FileNotFoundError: With a hint about ``--reference`` / ``RECNEXT_REFERENCE``.
    """
    path = path or DEFAULT_REFERENCE
    if not osp.isfile(path):
        raise FileNotFoundError(f'Reference file {path} not found: pass --reference PATH or set '
                                f'RECNEXT_REFERENCE.')
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def base_environment() -> Dict:
    """What every measurement depends on: versions, CPU, OpenMP setting, load."""
    env = dict(python=platform.python_version(), torch=torch.__version__,
               platform=platform.platform(), cpu=cpu_name(), cpu_count=os.cpu_count(),
               omp_num_threads=os.environ.get('OMP_NUM_THREADS'))
    try:
        import timm
        env['timm'] = timm.__version__
    except ImportError:
        pass
    try:
        env['load_average'] = list(os.getloadavg())
    except OSError:
        pass
    return env


def write_json(path: str, payload: Dict):
    """Writes ``payload`` to ``path`` (folders created) and says where."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(payload, f, indent=1)
    print(f'\nJSON: {path}')


def parse_shape(values: Optional[Sequence[int]]) -> Optional[Tuple[int, int]]:
    """``[S]`` -> (S, S); ``[H, W]`` -> (H, W); None -> None."""
    if not values:
        return None
    if len(values) == 1:
        return int(values[0]), int(values[0])
    if len(values) == 2:
        return int(values[0]), int(values[1])
    raise ValueError(f'--shape takes 1 or 2 integers (H W), got {values}')


def shape_arg(text: str) -> Tuple[int, int]:
    """An argparse type for ``224`` or ``256x320`` (also ``256,320``): ``(H, W)``."""
    import argparse
    parts = text.lower().replace(',', 'x').split('x')
    if len(parts) == 1:
        parts = parts * 2
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f'shape must look like 224 or 256x320, got {text!r}')
    return h, w
