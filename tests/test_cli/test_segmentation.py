"""Semantic FPN configs on ADE20K, the toy ADE20K-layout set, checkpoints and data checks."""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from recnext_mm.backbones.archs import ARCH_SETTINGS
from utils import REPO, build_cfg_model, downstream_scope, load_toy_module, seg_batch, tree_digest

CONFIG_DIR = osp.join(REPO, 'configs', 'segmentation')
ADE_CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, 'fpn_recnext_*_ade20k.py')))
TOY_CONFIG = osp.join(CONFIG_DIR, 'fpn_recnext_toy_ade.py')
ALL_CONFIGS = ADE_CONFIGS + [TOY_CONFIG]
PYTHON = sys.executable
ARCH_CHANNELS = {arch: list(s['embed_dims']) for arch, s in ARCH_SETTINGS.items()}
toy = load_toy_module('ade')


def _config(path, data_root=None):
    from mmengine.config import Config
    import recnext_mm  # noqa: F401
    cfg = Config.fromfile(path)
    if data_root is not None:
        for split in ('train', 'val', 'test'):
            cfg[f'{split}_dataloader'].dataset.data_root = data_root
    return cfg


def _make_toy(root, num_train=6, num_val=3, seed=0):
    toy.make_toy_ade(str(root), seed=seed, num_train=num_train, num_val=num_val)
    return str(root)


# --------------------------------------------------------------------------------------- configs

def test_every_arch_has_a_config():
    names = sorted(osp.basename(p) for p in ADE_CONFIGS)
    assert names == [f'fpn_recnext_{a}_ade20k.py' for a in ('a3', 'a4', 'a5', 'm3', 'm4', 'm5')]


@pytest.mark.parametrize('path', ADE_CONFIGS, ids=osp.basename)
def test_ade_config_follows_the_official_recipe(path):
    cfg = _config(path)
    arch = re.search(r'fpn_recnext_(\w\d)_ade20k', path).group(1)
    assert cfg.default_scope == 'mmseg'
    assert cfg.model.type == 'EncoderDecoder' and cfg.model.get('pretrained') is None
    backbone = cfg.model.backbone
    assert backbone.type == 'RecNeXt' and backbone.arch == arch
    assert backbone.norm_cfg.type == 'SyncBN' and cfg.model.decode_head.norm_cfg.type == 'SyncBN'
    release = 'v1.0' if arch.startswith('m') else 'v2.0'
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint=f'https://github.com/suous/RecNeXt/releases/download/'
                                      f'{release}/recnext_{arch}_distill_300e.pth')
    assert cfg.model.neck.type == 'FPN' and cfg.model.neck.in_channels == ARCH_CHANNELS[arch]
    assert cfg.model.neck.out_channels == 256 and cfg.model.neck.num_outs == 4
    assert cfg.model.decode_head.type == 'FPNHead' and cfg.model.decode_head.num_classes == 150
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', 1e-4, 0.05)
    [poly] = cfg.param_scheduler
    assert (poly.type, poly.power, poly.eta_min, poly.end) == ('PolyLR', 0.9, 1e-6, 80000)
    assert cfg.train_cfg.max_iters == 80000
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 32
    train_types = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert train_types == ['LoadImageFromFile', 'LoadAnnotations', 'CheckSegLabels', 'RandomResize',
                           'RandomCrop', 'RandomFlip', 'PhotoMetricDistortion', 'PackSegInputs']
    resize, crop = cfg.train_dataloader.dataset.pipeline[3:5]
    assert resize.scale == (2048, 512) and resize.ratio_range == (0.5, 2.0)
    assert crop.crop_size == (512, 512) and crop.cat_max_ratio == 0.75
    test_types = [t.type for t in cfg.test_dataloader.dataset.pipeline]
    assert test_types[:3] == ['LoadImageFromFile', 'Resize', 'ResizeToMultiple']
    assert cfg.test_dataloader.dataset.pipeline[2].size_divisor == 32
    assert cfg.model.data_preprocessor.size == (512, 512)


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=osp.basename)
def test_config_builds_and_computes_finite_losses(path):
    cfg = _config(path)
    num_classes = cfg.model.decode_head.num_classes
    model = build_cfg_model(cfg).train()
    inputs, samples = seg_batch(num_classes)
    losses = model.loss(inputs, samples)
    assert 'decode.loss_ce' in losses
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total) and total.item() > 0
    total.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
    assert logits.shape == (2, num_classes, 16, 16)  # stride 4


def test_toy_config_matches_the_generator():
    cfg = _config(TOY_CONFIG)
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert tuple(dataset.metainfo.classes) == toy.CLASSES
        assert [tuple(c) for c in dataset.metainfo.palette] == [tuple(c) for c in toy.PALETTE]
        assert dataset.reduce_zero_label is True
    assert cfg.model.decode_head.num_classes == toy.NUM_CLASSES
    assert cfg.model.backbone.init_cfg is None  # trained from scratch, nothing is downloaded
    assert cfg.model.backbone.arch in ('m0', 'a0')
    assert cfg.model.neck.in_channels == ARCH_CHANNELS[cfg.model.backbone.arch]
    assert cfg.default_hooks.checkpoint.interval == cfg.train_cfg.max_iters
    assert cfg.train_cfg.val_interval == cfg.train_cfg.max_iters


# ------------------------------------------------------------------------------------- toy data

def test_toy_generator_is_deterministic_and_seeded(tmp_path):
    a = _make_toy(tmp_path / 'a')
    b = _make_toy(tmp_path / 'b')
    c = _make_toy(tmp_path / 'c', seed=1)
    assert tree_digest(a) == tree_digest(b)
    assert tree_digest(a) != tree_digest(c)
    # A sample does not depend on how many others are written.
    more = _make_toy(tmp_path / 'more', num_train=8)
    for name in ('images/training/ADE_train_00000005.jpg',
                 'annotations/training/ADE_train_00000005.png'):
        with open(osp.join(a, name), 'rb') as f1, open(osp.join(more, name), 'rb') as f2:
            assert f1.read() == f2.read()


def test_toy_generator_writes_the_ade20k_layout(tmp_path):
    root = _make_toy(tmp_path / 'toy', num_train=12, num_val=4)
    seen = set()
    for split, prefix, count in (('training', 'ADE_train_', 12), ('validation', 'ADE_val_', 4)):
        images = sorted(os.listdir(osp.join(root, 'images', split)))
        annotations = sorted(os.listdir(osp.join(root, 'annotations', split)))
        assert len(images) == count
        assert all(n.startswith(prefix) and n.endswith('.jpg') for n in images)
        assert [osp.splitext(n)[0] for n in images] == [osp.splitext(n)[0] for n in annotations]
        for name in images:
            img = cv2.imread(osp.join(root, 'images', split, name), cv2.IMREAD_UNCHANGED)
            label = cv2.imread(osp.join(root, 'annotations', split, name[:-4] + '.png'),
                               cv2.IMREAD_UNCHANGED)
            assert img.ndim == 3 and img.shape[2] == 3
            assert label.dtype == np.uint8 and label.ndim == 2 and label.shape == img.shape[:2]
            assert label.max() <= toy.NUM_CLASSES
            seen.update(np.unique(label).tolist())
    # Every class and the unlabelled value 0 occur.
    assert seen == set(range(toy.NUM_CLASSES + 1))


def test_toy_generator_imports_no_mm_package(tmp_path):
    script = osp.join(REPO, 'tools', 'data', 'make_toy_ade.py')
    code = '\n'.join([
        'import runpy, sys',
        f'sys.argv = [{script!r}, "--out", sys.argv[1], "--num-train", "2", "--num-val", "1"]',
        f'runpy.run_path({script!r}, run_name="__main__")',
        'heavy = [m for m in sys.modules',
        '         if m.split(".")[0] in ("mmdet", "mmseg", "mmpretrain")]',
        'assert not heavy, heavy',
    ])
    out = subprocess.run([PYTHON, '-c', code, str(tmp_path / 'toy')], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for split, count in (('training', 2), ('validation', 1)):
        assert len(os.listdir(tmp_path / 'toy' / 'images' / split)) == count
        assert len(os.listdir(tmp_path / 'toy' / 'annotations' / split)) == count


@pytest.fixture
def mmseg_scope():
    with downstream_scope('mmseg'):
        yield


def test_toy_dataset_loads_through_the_config_pipelines(tmp_path, mmseg_scope):
    from mmseg.registry import DATASETS
    root = _make_toy(tmp_path / 'toy', num_train=4, num_val=2)
    cfg = _config(TOY_CONFIG, data_root=root)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert (len(train), len(val)) == (4, 2)
    assert train.metainfo['classes'] == toy.CLASSES
    item = train[0]
    sample = item['data_samples']
    # Random resize then crop: at most crop_size (the data preprocessor pads smaller crops).
    assert all(s <= c for s, c in zip(sample.gt_sem_seg.shape, cfg.crop_size))
    assert tuple(sample.gt_sem_seg.shape) == tuple(item['inputs'].shape[-2:])
    assert tuple(cfg.model.data_preprocessor.size) == tuple(cfg.crop_size)
    values = set(sample.gt_sem_seg.data.unique().tolist())
    assert values <= set(range(toy.NUM_CLASSES)) | {255}  # reduce_zero_label: 0 -> 255, k -> k-1
    val_sample = val[0]['data_samples']
    height, width = val_sample.metainfo['img_shape']
    assert height % 32 == 0 and width % 32 == 0  # ResizeToMultiple
    assert tuple(val_sample.gt_sem_seg.shape) == tuple(val_sample.metainfo['ori_shape'])


# ----------------------------------------------------------------------------- bad input errors

@pytest.mark.parametrize('path', ALL_CONFIGS, ids=osp.basename)
def test_missing_data_root_names_the_ade20k_layout(path, tmp_path):
    from recnext_mm.data_check import precheck
    cfg = _config(path, data_root=str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError) as err:
        precheck(cfg, ('train', 'val', 'test'), mode='paths')
    message = str(err.value)
    assert 'nowhere' in message and 'ADE20K layout' in message
    assert 'annotations/training/*.png' in message and 'make_toy_ade.py' in message


def test_train_tool_fails_early_without_data(tmp_path):
    from recnext_mm.cli import train  # what tools/train.py runs
    with pytest.raises(FileNotFoundError, match='ADE20K layout'):
        train.main([TOY_CONFIG, '--work-dir', str(tmp_path / 'wd'), '--cfg-options',
                    f'train_dataloader.dataset.data_root={tmp_path / "missing"}'])


def test_generator_check_rejects_out_of_range_labels(tmp_path):
    root = _make_toy(tmp_path / 'toy', num_train=2, num_val=1)
    assert toy.check_ade_labels(root, toy.NUM_CLASSES) == 3
    bad = osp.join(root, 'annotations', 'training', 'ADE_train_00000001.png')
    label = cv2.imread(bad, cv2.IMREAD_UNCHANGED)
    label[:3, :3] = 9
    cv2.imwrite(bad, label)
    with pytest.raises(ValueError, match=r'ADE_train_00000001\.png: values \[9\]'):
        toy.check_ade_labels(root, toy.NUM_CLASSES)


def test_check_seg_labels_transform():
    from recnext_mm.seg_transforms import CheckSegLabels
    check = CheckSegLabels(num_classes=5)
    good = np.array([[0, 4], [255, 2]], np.uint8)
    assert check(dict(gt_seg_map=good))['gt_seg_map'] is good
    assert check(dict(img=np.zeros((2, 2, 3))))  # inference: no labels, nothing to check
    bad = np.array([[0, 7], [255, 5]], np.uint8)
    with pytest.raises(ValueError) as err:
        check(dict(gt_seg_map=bad, seg_map_path='x/ann.png', reduce_zero_label=True))
    message = str(err.value)
    assert "'x/ann.png'" in message and '[5, 7]' in message and '[6, 8]' in message
    assert 'num_classes=5' in message


def test_out_of_range_label_in_a_data_set_fails_with_the_file_name(tmp_path, mmseg_scope):
    from mmseg.registry import DATASETS
    root = _make_toy(tmp_path / 'toy', num_train=2, num_val=1)
    bad = osp.join(root, 'annotations', 'validation', 'ADE_val_00000000.png')
    label = cv2.imread(bad, cv2.IMREAD_UNCHANGED)
    label[0, 0] = toy.NUM_CLASSES + 1  # one class too many: 6 -> 5 after reduce_zero_label
    cv2.imwrite(bad, label)
    cfg = _config(TOY_CONFIG, data_root=root)
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    with pytest.raises(ValueError, match=r'ADE_val_00000000\.png.*labels \[5\]'):
        dataset[0]


def test_bad_checkpoint_file_is_a_clear_error(tmp_path):
    from recnext_mm.checkpoint import CheckpointError
    from recnext_mm.convert import read_for_task  # what tools/test.py reads the checkpoint with
    cfg = _config(TOY_CONFIG)
    # An interrupted download: the first half of a real checkpoint.
    whole = tmp_path / 'whole.pth'
    torch.save(dict(state_dict=build_cfg_model(cfg).state_dict()), whole)
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"Cannot read checkpoint '.*truncated\.pth'.*corrupted"):
        read_for_task(str(truncated), 'mmseg', str(tmp_path))
    with pytest.raises(CheckpointError, match=r'not found: .*absent\.pth'):
        read_for_task(str(tmp_path / 'absent.pth'), 'mmseg', str(tmp_path))


@pytest.mark.parametrize('kind', ['mmseg0', 'mmengine'])
def test_test_tool_reads_the_checkpoint_once(kind, tmp_path, monkeypatch):
    """tools/test.py (recnext_mm.cli.evaluate) reads its checkpoint once: a released file is
    converted from what was read, and the Runner loads from memory, not from a file."""
    from recnext_mm.cli import evaluate
    root = _make_toy(tmp_path / 'toy', num_train=1, num_val=1)
    state = build_cfg_model(_config(TOY_CONFIG)).state_dict()
    ckpt = str(tmp_path / f'{kind}.pth')
    if kind == 'mmseg0':
        torch.save(dict(meta=dict(mmseg_version='0.30.0', CLASSES=toy.CLASSES), state_dict=state),
                   ckpt)
    else:
        torch.save(dict(meta=dict(), state_dict=state, message_hub=dict()), ckpt)
    reads = []
    load = torch.load

    def counting_load(f, *args, **kwargs):
        reads.append(os.fspath(f) if isinstance(f, (str, os.PathLike)) else f)
        return load(f, *args, **kwargs)
    monkeypatch.setattr(torch, 'load', counting_load)
    work = tmp_path / 'work'
    metrics = evaluate.main([TOY_CONFIG, ckpt, '--work-dir', str(work), '--cfg-options',
                             f'test_dataloader.dataset.data_root={root}',
                             'test_dataloader.num_workers=0',
                             'test_dataloader.persistent_workers=False'])
    assert reads == [ckpt]
    assert 'mIoU' in metrics
    assert (work / 'converted_mmseg0.pth').is_file() == (kind == 'mmseg0')


# ------------------------------------------------------------------- mmseg 0.x released weights

def _mmseg0_checkpoint(cfg, path, classes):
    """A checkpoint laid out as mmseg 0.x saved the released ``recnext_*_ade20k.pth`` files."""
    model = build_cfg_model(cfg)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    palette = [[i, 255 - i, (7 * i) % 256] for i in range(len(classes))]
    meta = dict(mmseg_version='0.30.0+abc', config='model = dict(...)', iter=80000, epoch=1,
                CLASSES=tuple(classes), PALETTE=palette)
    torch.save(dict(meta=meta, state_dict=state), path)
    return state


@pytest.mark.parametrize('name', ['fpn_recnext_a3_ade20k.py', 'fpn_recnext_toy_ade.py'])
def test_mmseg0_checkpoint_converts_and_loads_with_no_missing_key(name, tmp_path):
    from recnext_mm.checkpoint import detect_format, read_checkpoint
    from recnext_mm.convert import convert_checkpoint
    path = osp.join(CONFIG_DIR, name)
    cfg = _config(path)
    classes = [f'class{i}' for i in range(cfg.model.decode_head.num_classes)]
    src = str(tmp_path / 'release_ade20k.pth')
    state = _mmseg0_checkpoint(cfg, src, classes)
    assert any(k.startswith('decode_head.') for k in state)
    assert detect_format(read_checkpoint(src)) == 'mmseg0'
    dst = str(tmp_path / 'converted.pth')
    assert convert_checkpoint(src, dst, task='mmseg', config=path) == 'mmseg0'  # strict check
    converted = read_checkpoint(dst)
    assert converted['meta']['dataset_meta']['classes'] == tuple(classes)
    model = build_cfg_model(cfg)
    result = model.load_state_dict(converted['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_convert_tool_refuses_a_checkpoint_of_another_arch(tmp_path):
    m3 = _config(osp.join(CONFIG_DIR, 'fpn_recnext_m3_ade20k.py'))
    src = str(tmp_path / 'm3_ade20k.pth')
    _mmseg0_checkpoint(m3, src, [f'c{i}' for i in range(150)])
    out = subprocess.run([PYTHON, osp.join(REPO, 'tools', 'convert_checkpoint.py'), src,
                          str(tmp_path / 'out.pth'), '--config',
                          osp.join(CONFIG_DIR, 'fpn_recnext_m5_ade20k.py')],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0, out.stderr[-3000:]
    assert not (tmp_path / 'out.pth').exists()


# ---------------------------------------------------------------------------- library use (API)

def test_init_model_and_inference_in_a_fresh_process(tmp_path):
    """mmseg.apis works on our config without importing recnext_mm first (custom_imports does)."""
    cfg = _config(TOY_CONFIG)
    ckpt = str(tmp_path / 'toy.pth')
    model = build_cfg_model(cfg)
    torch.save(dict(meta=dict(dataset_meta=dict(classes=toy.CLASSES, palette=toy.PALETTE)),
                    state_dict=model.state_dict()), ckpt)
    img, _ = toy.make_sample(0, 'validation', 0)
    img_path = str(tmp_path / 'img.jpg')
    cv2.imwrite(img_path, img)
    code = '\n'.join([
        'import sys',
        'from mmseg.apis import inference_model, init_model',
        'assert "recnext_mm" not in sys.modules',
        f'model = init_model({TOY_CONFIG!r}, {ckpt!r}, device="cpu")',
        'assert "recnext_mm" in sys.modules',
        f'result = inference_model(model, {img_path!r})',
        'print("SHAPE", tuple(result.pred_sem_seg.shape), model.dataset_meta["classes"][1])',
    ])
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run([PYTHON, '-c', code], capture_output=True, text=True, timeout=300,
                         cwd=str(tmp_path), env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f'SHAPE {img.shape[:2]} disc' in out.stdout


# ------------------------------------------------------------------------ end to end (tools/)

def _metric(output, name):
    values = re.findall(rf'{name}: ([0-9.]+)', output)
    assert values, output[-3000:]
    return float(values[-1])


def _test_metrics(work_dir):
    """The metrics tools/test.py wrote."""
    with open(osp.join(str(work_dir), 'test_metrics.json')) as f:
        return json.load(f)


def _run_tool(script, args, cwd):
    # One intra-op thread: on a shared 2-core machine two OpenMP threads per process are several
    # times slower than one (they wait for each other whenever one is descheduled).
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    out = subprocess.run([PYTHON, osp.join(REPO, 'tools', script), *args], capture_output=True,
                         text=True, timeout=300, env=env, cwd=cwd)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    return out.stdout + out.stderr


@pytest.mark.slow
def test_toy_train_then_test_with_visualization(tmp_path):
    root = _make_toy(tmp_path / 'toy', num_train=8, num_val=3)
    work = tmp_path / 'work'
    options = [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
    options += ['train_cfg.max_iters=4', 'train_cfg.val_interval=4',
                'default_hooks.checkpoint.interval=4', 'default_hooks.logger.interval=2',
                'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
                'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
                'test_dataloader.persistent_workers=False', 'param_scheduler.0.end=2',
                'param_scheduler.1.begin=2', 'param_scheduler.1.end=4']
    log = _run_tool('train.py', [TOY_CONFIG, '--work-dir', str(work), '--cfg-options', *options],
                    cwd=str(tmp_path))
    assert re.search(r'Iter\(train\) \[2/4\].*loss: [0-9.]+', log)  # progress is logged
    train_miou = _metric(log, 'mIoU')
    assert 0 <= train_miou <= 100
    ckpt = work / 'iter_4.pth'
    assert ckpt.is_file()

    _run_tool('test.py', [TOY_CONFIG, str(ckpt), '--work-dir', str(work), '--show-dir', 'vis',
                          '--cfg-options', *options], cwd=str(tmp_path))
    # same weights, same data
    assert _test_metrics(work)['mIoU'] == pytest.approx(train_miou, abs=0.01)
    drawn = sorted(glob.glob(osp.join(str(tmp_path), '**', 'vis', '**', '*.png'), recursive=True))
    assert len(drawn) == 3, drawn
    # Each drawing is ground truth | prediction, overlaid on the image at its original size.
    name = re.search(r'(ADE_val_\d+)', osp.basename(drawn[0])).group(1)
    original = cv2.imread(osp.join(root, 'images', 'validation', name + '.jpg'))
    drawing = cv2.imread(drawn[0])
    assert drawing.shape == (original.shape[0], 2 * original.shape[1], 3)

    # The same weights in the mmseg 0.x release layout are converted on the fly by tools/test.py.
    from recnext_mm.checkpoint import read_checkpoint  # registers the Runner checkpoint types
    state = read_checkpoint(str(ckpt))['state_dict']
    release = tmp_path / 'toy_ade20k_mmseg0.pth'
    torch.save(dict(meta=dict(mmseg_version='0.30.0', CLASSES=toy.CLASSES,
                              PALETTE=[list(c) for c in toy.PALETTE]), state_dict=state), release)
    _run_tool('test.py', [TOY_CONFIG, str(release), '--work-dir', str(tmp_path / 'work0'),
                          '--cfg-options', *options], cwd=str(tmp_path))
    assert _test_metrics(tmp_path / 'work0')['mIoU'] == pytest.approx(train_miou, abs=0.01)
