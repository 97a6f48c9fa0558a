"""Invariants every config of the repository keeps, so that a wrong config fails here and not in a
training run. None restates a number of a config: each compares a config with another part of
itself, with the model it builds, with the release, with the toy data generators or with the
config it is a variant of.

- It loads with the plugin import and the reliable runner, under its task's package scope; its
  backbone is a RecNeXt with RecNeXt's arguments only and loads the release of its own arch.
- Its model builds; the neck (or head) takes exactly the channels of the backbone stages it is
  given, the heads assume the strides of the features they get, and one forward through the whole
  model runs on a small image.
- Every head predicts the classes of the dataset; the schedule fits the training length; the
  lr-scaling batch is the batch of the GPUs the recipe is for (8; a toy: one process); detection
  and segmentation models normalise images as the backbone's ImageNet training did.
- A toy downloads nothing, uses plain BN, reads what its generator writes and ends with an
  evaluation.
- A variant of another config changes the backbone (and the channels that follow) only.
- Every file of a `_base_` folder is a base of some config.
"""
import ast
import functools
import glob
import inspect
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from recnext_mm import RecNeXt
from recnext_mm.timm_models import release_url
from utils import REPO, build_cfg_model, load_toy_module

ROOT = osp.join(REPO, 'configs')


def rel(path):
    return osp.relpath(path, ROOT)


def is_base(path):
    return '_base_' in rel(path).split(osp.sep)


FILES = sorted(glob.glob(osp.join(ROOT, '**', '*.py'), recursive=True))
CONFIGS = [p for p in FILES if not is_base(p)]
BASES = [p for p in FILES if is_base(p)]
SCOPE = {'classification': 'mmpretrain', 'detection': 'mmdet', 'segmentation': 'mmseg'}
TOY_SET = {'classification': 'imagenet', 'detection': 'coco', 'segmentation': 'ade'}
# The generators' class names (recnext_mm.toy_data.<set>).
TOY_CLASSES = {'imagenet': 'TOY_CLASSES', 'coco': 'CLASS_NAMES', 'ade': 'CLASSES'}


def task(path):
    return rel(path).split(osp.sep)[0]


def is_toy(path):
    return '_toy_' in osp.basename(path)


@functools.lru_cache(maxsize=None)
def load(path):
    """The resolved config (cached: read only)."""
    import recnext_mm  # noqa: F401  (registers RecNeXt before configs are read)
    return Config.fromfile(path)


def local_bases(path):
    """The files of this repository that ``path`` names in ``_base_``."""
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_'
                                                for t in node.targets):
            value = ast.literal_eval(node.value)
            names = [value] if isinstance(value, str) else list(value)
            return [osp.normpath(osp.join(osp.dirname(path), n)) for n in names if '::' not in n]
    return []


# A variant: a config whose only base is another config (another arch of the same recipe).
VARIANTS = {p: local_bases(p)[0] for p in CONFIGS
            if len(local_bases(p)) == 1 and not is_base(local_bases(p)[0])}


def walk(node, path=''):
    """``(dotted path, key, value)`` of every dict entry below ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f'{path}.{key}', key, value
            yield from walk(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from walk(value, f'{path}[{i}]')


def differences(a, b, path=''):
    """Dotted paths at which two resolved configs differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                yield f'{path}.{key}'
            else:
                yield from differences(a[key], b[key], f'{path}.{key}')
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from differences(x, y, f'{path}[{i}]')
    elif a != b:
        yield path


def test_configs_are_found():
    assert {task(p) for p in CONFIGS} == set(SCOPE) and len(CONFIGS) > 60
    assert VARIANTS and all(not is_toy(p) for p in VARIANTS)


def test_every_base_file_is_a_base_of_some_config():
    reached, todo = set(), list(CONFIGS)
    while todo:
        for base in local_bases(todo.pop()):
            assert osp.isfile(base), base
            if base not in reached:
                reached.add(base)
                todo.append(base)
    assert set(BASES) <= reached, sorted(rel(p) for p in set(BASES) - reached)


# ------------------------------------------------------------------------------ the built model

def _feature_strides(model):
    """Strides of the features the heads get: the backbone's as the neck passes them on (from its
    start level), then the neck's extra levels, each twice the last."""
    strides = list(model.backbone.out_strides)
    neck = getattr(model, 'neck', None)
    if neck is None:
        return strides
    strides = strides[getattr(neck, 'start_level', 0):]
    extra = getattr(neck, 'num_outs', len(strides)) - len(strides)
    return strides + [strides[-1] * 2 ** (i + 1) for i in range(extra)]


def _check_strides(model):
    strides = _feature_strides(model)
    for name in ('rpn_head', 'bbox_head'):
        head = getattr(model, name, None)
        if head is not None:  # anchors / points at the features' strides
            assert [s[0] for s in head.prior_generator.strides] == strides, name
    roi_head = getattr(model, 'roi_head', None)
    for name in ('bbox_roi_extractor', 'mask_roi_extractor'):
        extractors = getattr(roi_head, name, None) if roi_head is not None else None
        for extractor in (extractors if isinstance(extractors, torch.nn.ModuleList)
                          else [extractors] if extractors is not None else []):
            assert extractor.featmap_strides == strides[:len(extractor.featmap_strides)], name
    decode_head = getattr(model, 'decode_head', None)
    if hasattr(decode_head, 'feature_strides'):  # FPNHead
        assert list(decode_head.feature_strides) == strides


def _check_channels(model):
    channels = list(model.backbone.out_channels)
    assert len(channels) == len(model.backbone.out_indices)
    neck = getattr(model, 'neck', None)
    neck_in = getattr(neck, 'in_channels', None)
    if neck_in is not None:  # FPN, CSPNeXtPAFPN ...: one input per backbone output
        assert list(neck_in) == channels, (neck_in, channels)
    elif hasattr(model, 'head') and hasattr(model.head, 'in_channels'):  # classifiers
        assert model.head.in_channels == channels[-1]
    elif hasattr(model, 'decode_head'):  # UperNet reads the backbone directly
        assert list(model.decode_head.in_channels) == channels
    auxiliary = getattr(model, 'auxiliary_head', None)
    if auxiliary is not None:  # one backbone stage
        assert auxiliary.in_channels == channels[auxiliary.in_index]


def _forward(model, scope, size):
    """One forward through the whole model (backbone, neck, heads), outputs as a flat list."""
    inputs = torch.rand(1, 3, size, size)
    if scope != 'mmdet':
        return [model(inputs, mode='tensor')]
    from mmdet.structures import DetDataSample
    sample = DetDataSample()
    sample.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size),
                             pad_shape=(size, size), batch_input_shape=(size, size),
                             scale_factor=(1., 1.)))
    if hasattr(model, 'rpn_head'):  # a few proposals: the same code paths, a fraction of the time
        model.rpn_head.test_cfg.nms_pre, model.rpn_head.test_cfg.max_per_img = 64, 8
    outs, flat = [model(inputs, [sample], mode='tensor')], []
    while outs:
        out = outs.pop()
        if isinstance(out, (list, tuple)):
            outs.extend(out)
        elif isinstance(out, torch.Tensor):
            flat.append(out)
    return flat


@pytest.mark.parametrize('path', CONFIGS, ids=rel)
def test_config_builds_with_consistent_channels_and_strides_and_runs_one_forward(path):
    cfg = load(path)
    model = build_cfg_model(cfg).eval()
    _check_channels(model)
    _check_strides(model)
    size = 64 if cfg.default_scope == 'mmpretrain' else 128
    with torch.no_grad():
        outs = _forward(model, cfg.default_scope, size)
    assert outs and all(torch.isfinite(out).all() for out in outs)


# ------------------------------------------------------------------------ the config, unbuilt

def _dataset_classes(cfg):
    """The class names of the training set: its metainfo, or its dataset type's."""
    from mmengine.registry import DATASETS

    from recnext_mm.builder import import_task
    dataset = cfg.train_dataloader.dataset
    if 'classes' in (dataset.get('metainfo') or {}):
        return tuple(dataset.metainfo.classes)
    import_task(cfg.default_scope)
    return tuple(DATASETS.get(f'{cfg.default_scope}.{dataset.type}').METAINFO['classes'])


def _schedule_fits(cfg):
    loop = cfg.train_cfg
    by_epoch = 'max_epochs' in loop
    total = loop.max_epochs if by_epoch else loop.max_iters
    schedulers = cfg.param_scheduler
    schedulers = schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]
    ends = []
    for s in schedulers:
        if s.get('by_epoch', True) != by_epoch:
            continue  # an iteration warmup of an epoch loop: the epoch length is the data's
        begin = s.get('begin', 0)
        assert begin < s.end <= total, s
        ends.append(s.end)
        for key in ('T_max', 't_initial'):  # cosine over exactly its span
            if key in s:
                assert begin + s[key] == s.end, s
        assert all(begin < m < s.end for m in s.get('milestones', [])), s
    assert max(ends) == total, 'the lr schedule ends before or after the training'
    assert loop.get('val_interval', 1) <= total
    checkpoint = cfg.default_hooks.checkpoint
    if checkpoint.get('by_epoch', True) == by_epoch:
        assert checkpoint.interval <= total


@pytest.mark.parametrize('path', CONFIGS, ids=rel)
def test_config_plugin_backbone_classes_schedule_and_batch(path):
    cfg = load(path)
    assert cfg.custom_imports.imports[0] == 'recnext_mm'
    assert cfg.custom_imports.allow_failed_imports is False
    assert cfg.runner_type == 'RecNeXtRunner'
    assert cfg.default_scope == SCOPE[task(path)]
    backbone = cfg.model.backbone
    # Only RecNeXt's own arguments: nothing of the base's ResNet/CSPNeXt/ConvNeXt backbone survives.
    assert backbone.type == 'RecNeXt'
    assert set(backbone) - {'type'} <= set(inspect.signature(RecNeXt.__init__).parameters)
    init = backbone.get('init_cfg')
    if init is not None:  # the release of the config's own arch
        assert init == dict(type='Pretrained', checkpoint=release_url(backbone.arch))
    # Every head (and data check) predicts the classes of the dataset; the RPN is class-agnostic.
    classes = _dataset_classes(cfg)
    counts = {p: v for p, k, v in walk(cfg.to_dict()) if k == 'num_classes' and 'rpn_head' not in p}
    assert counts and set(counts.values()) == {len(classes)}, counts
    _schedule_fits(cfg)
    # The lr is scaled from the batch of the recipe's GPUs: the 8 of the paper and upstream
    # recipes, one process for a toy.
    gpus = 1 if is_toy(path) else 8
    assert cfg.auto_scale_lr.base_batch_size == gpus * cfg.train_dataloader.batch_size
    # One kind of norm layer: BN on one process (the toys), SyncBN for distributed detection and
    # segmentation (the Runner reverts it without a process group). Classifiers keep the default.
    norms = {v['type'] for _, k, v in walk(cfg.model.to_dict()) if k == 'norm_cfg' and v}
    if is_toy(path):
        assert norms <= {'BN'}, norms
    elif task(path) != 'classification':
        assert norms == {'SyncBN'}, norms


@pytest.mark.parametrize('path', [p for p in CONFIGS if task(p) != 'classification'], ids=rel)
def test_dense_config_normalises_as_the_backbone_was_trained(path):
    """RGB, ImageNet mean and std: the normalisation of the ImageNet recipe the release was
    trained with (not, for one, CSPNeXt's BGR one of mmdet's RTMDet); seg crops are padded to the
    crop size."""
    imagenet = load(osp.join(ROOT, 'classification', '_base_', 'recnext_in1k.py')).data_preprocessor
    cfg = load(path)
    ours = cfg.model.data_preprocessor
    assert (list(ours.mean), list(ours.std), ours.bgr_to_rgb) == \
        (list(imagenet.mean), list(imagenet.std), imagenet.to_rgb)
    if task(path) == 'segmentation':
        [crop] = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomCrop']
        assert tuple(ours.size) == tuple(crop.crop_size)


def _generator_root(toy_set):
    """Where ``tools/data/make_toy_<set>.py`` writes the set by default (its ``--out`` default)."""
    return load_toy_module(toy_set).DEFAULT_ROOT


@pytest.mark.parametrize('path', [p for p in CONFIGS if is_toy(p)], ids=rel)
def test_toy_config_reads_its_generator_data_downloads_nothing_and_ends_evaluated(path):
    cfg = load(path)
    toy_set = TOY_SET[task(path)]
    classes = getattr(load_toy_module(toy_set), TOY_CLASSES[toy_set])
    root = _generator_root(toy_set).rstrip('/')
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert tuple(dataset.metainfo.classes) == tuple(classes)
        assert dataset.data_root.rstrip('/') == root
    for name in ('val_evaluator', 'test_evaluator'):
        ann_file = cfg[name].get('ann_file')
        assert ann_file is None or ann_file.startswith(root + '/'), ann_file
    assert cfg.model.backbone.get('init_cfg') is None
    assert not [p for p, _, v in walk(cfg.model.to_dict()) if isinstance(v, str) and '://' in v]
    loop = cfg.train_cfg  # the run ends with an evaluation
    assert loop.get('max_epochs', loop.get('max_iters')) % loop.val_interval == 0


# Where a variant may differ from the config it inherits: the backbone's arch and weights, and the
# channel lists that follow from the arch (their values: the channel invariant above).
VARIANT_PARTS = ('model.backbone.arch', 'model.backbone.init_cfg', 'model.neck.in_channels',
                 'model.decode_head.in_channels', 'model.auxiliary_head.in_channels', 'pretrained')


@pytest.mark.parametrize('path', sorted(VARIANTS), ids=rel)
def test_variant_changes_the_backbone_only(path):
    ours, base = load(path).to_dict(), load(VARIANTS[path]).to_dict()
    changed = [p[1:] for p in differences(base, ours)]
    assert any(p.startswith('model.backbone.arch') for p in changed), changed
    outside = [p for p in changed
               if not any(p == part or p.startswith((part + '.', part + '[')) for part in
                          VARIANT_PARTS)]
    assert not outside, outside
