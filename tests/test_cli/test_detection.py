"""Mask R-CNN configs on COCO, the toy COCO-layout set, mmdet 2.x checkpoints and the tools."""
import glob
import json
import os
import os.path as osp
import pickle
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from recnext_mm.backbones.archs import ARCH_SETTINGS
from utils import REPO, build_cfg_model, downstream_scope, load_toy_module, tree_digest

CONFIG_DIR = osp.join(REPO, 'configs', 'detection')
COCO_CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, 'mask_rcnn_recnext_*_coco.py')))
COCO_CONFIGS = [p for p in COCO_CONFIGS if not p.endswith('_toy_coco.py')]
TOY_CONFIG = osp.join(CONFIG_DIR, 'mask_rcnn_recnext_toy_coco.py')
PYTHON = sys.executable
ARCH_CHANNELS = {arch: list(s['embed_dims']) for arch, s in ARCH_SETTINGS.items()}
toy = load_toy_module('coco')


def _data_options(root):
    """``--cfg-options`` entries that point the toy config at another data root."""
    options = [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
    ann = osp.join(root, 'annotations', 'instances_val.json')
    return options + [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']


def _config(path, data_root=None):
    from mmengine.config import Config
    import recnext_mm  # noqa: F401
    cfg = Config.fromfile(path)
    if data_root is not None:
        cfg.merge_from_dict(dict(option.split('=', 1) for option in _data_options(data_root)))
    return cfg


def _det_batch(num_classes, size=128):
    """One image with one box and its mask, as the data pipeline would pack it."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, size, size), generator=gen, dtype=torch.uint8)
    mask = np.zeros((1, size, size), np.uint8)
    mask[0, 30:90, 20:100] = 1
    sample = DetDataSample()
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[20., 30., 100., 90.]]),
        labels=torch.tensor([num_classes - 1]),
        masks=BitmapMasks(mask, size, size))
    sample.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size),
                             scale_factor=(1., 1.)))
    return dict(inputs=[image], data_samples=[sample])


def _make_toy(root, num_train=8, num_val=4, seed=0, **kwargs):
    toy.make_toy_coco(str(root), num_train=num_train, num_val=num_val, seed=seed, **kwargs)
    return str(root)


# --------------------------------------------------------------------------------------- configs

def test_every_arch_has_a_coco_config():
    names = sorted(osp.basename(p) for p in COCO_CONFIGS)
    assert names == [f'mask_rcnn_recnext_{a}_coco.py' for a in ('a3', 'a4', 'a5', 'm3', 'm4', 'm5')]


@pytest.mark.parametrize('path', COCO_CONFIGS, ids=osp.basename)
def test_coco_config_follows_the_official_recipe(path):
    cfg = _config(path)
    arch = re.search(r'mask_rcnn_recnext_(\w\d)_coco', path).group(1)
    assert cfg.default_scope == 'mmdet' and cfg.model.type == 'MaskRCNN'
    backbone = cfg.model.backbone
    assert backbone.type == 'RecNeXt' and backbone.arch == arch
    assert backbone.norm_cfg.type == 'SyncBN'
    release = 'v1.0' if arch.startswith('m') else 'v2.0'
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint=f'https://github.com/suous/RecNeXt/releases/download/'
                                      f'{release}/recnext_{arch}_distill_300e.pth')
    assert cfg.model.neck.in_channels == ARCH_CHANNELS[arch]
    assert (cfg.model.neck.out_channels, cfg.model.neck.num_outs) == (256, 5)
    assert cfg.model.roi_head.bbox_head.num_classes == 80
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', 2e-4, 0.05)
    assert cfg.optim_wrapper.get('clip_grad') is None
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end) == ('LinearLR', 1e-6, 500)
    assert (steps.type, steps.milestones, steps.gamma) == ('MultiStepLR', [8, 11], 0.1)
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.val_evaluator.metric == ['bbox', 'segm']


@pytest.mark.parametrize('path', COCO_CONFIGS + [TOY_CONFIG], ids=osp.basename)
def test_config_builds_and_computes_finite_losses(path):
    cfg = _config(path)
    # Fewer proposals and sampled RoIs than COCO training uses: the same code paths, a fraction
    # of the time (the 1024-wide box head on 512 RoIs dominates a 128-pixel image).
    cfg.model.train_cfg.rpn_proposal.max_per_img = 64
    cfg.model.train_cfg.rcnn.sampler.num = 32
    num_classes = cfg.model.roi_head.bbox_head.num_classes
    model = build_cfg_model(cfg).train()
    data = model.data_preprocessor(_det_batch(num_classes), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'} <= set(losses)
    total, log_vars = model.parse_losses(losses)
    for name, value in log_vars.items():
        if name.startswith('loss'):
            assert np.isfinite(float(value)) and float(value) > 0, (name, value)
    total.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_toy_config_matches_the_generator():
    cfg = _config(TOY_CONFIG)
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert tuple(dataset.metainfo.classes) == toy.CLASS_NAMES
        assert len(dataset.metainfo.palette) == len(toy.CLASS_NAMES)
        assert dataset.data_root == 'data/toy_coco/'
    assert cfg.train_dataloader.dataset.ann_file == 'annotations/instances_train.json'
    assert cfg.val_evaluator.ann_file == 'data/toy_coco/annotations/instances_val.json'
    assert cfg.test_evaluator.ann_file == cfg.val_evaluator.ann_file
    assert cfg.model.roi_head.bbox_head.num_classes == len(toy.CLASS_NAMES)
    assert cfg.model.roi_head.mask_head.num_classes == len(toy.CLASS_NAMES)
    assert cfg.model.backbone.init_cfg is None  # trained from scratch, nothing is downloaded
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.model.neck.in_channels == ARCH_CHANNELS[cfg.model.backbone.arch]
    assert cfg.default_hooks.checkpoint.save_last is True
    assert cfg.train_cfg.val_interval == cfg.train_cfg.max_epochs
    assert cfg.custom_imports.imports == ['recnext_mm']


# ------------------------------------------------------------------------------------- toy data

def test_toy_generator_is_deterministic_and_seeded(tmp_path):
    a = _make_toy(tmp_path / 'a')
    b = _make_toy(tmp_path / 'b')
    c = _make_toy(tmp_path / 'c', seed=1)
    assert tree_digest(a) == tree_digest(b)  # images and JSON byte-identical
    assert tree_digest(a) != tree_digest(c)
    for split in ('train', 'val'):
        name = f'annotations/instances_{split}.json'
        with open(osp.join(a, name), 'rb') as fa, open(osp.join(c, name), 'rb') as fc:
            assert fa.read() != fc.read()
    # An image does not depend on how many others are written.
    more = _make_toy(tmp_path / 'more', num_train=12)
    with open(osp.join(a, 'train', '000005.jpg'), 'rb') as f1, \
            open(osp.join(more, 'train', '000005.jpg'), 'rb') as f2:
        assert f1.read() == f2.read()


def test_toy_generator_writes_valid_coco(tmp_path):
    from pycocotools.coco import COCO
    root = _make_toy(tmp_path / 'toy', num_train=16, num_val=4, image_size=128)
    seen_labels = set()
    for split, count in (('train', 16), ('val', 4)):
        coco = COCO(osp.join(root, 'annotations', f'instances_{split}.json'))
        assert sorted(coco.getImgIds()) == list(range(1, count + 1))
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(toy.CLASS_NAMES)
        ann_ids = coco.getAnnIds()
        assert len(set(ann_ids)) == len(ann_ids) > 0
        for info in coco.loadImgs(coco.getImgIds()):
            image = cv2.imread(osp.join(root, split, info['file_name']))
            assert image.shape == (info['height'], info['width'], 3) == (128, 128, 3)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=info['id']))
            assert 1 <= len(anns) <= 4
            for ann in anns:
                assert ann['iscrowd'] == 0 and ann['category_id'] in coco.getCatIds()
                poly = np.asarray(ann['segmentation'][0]).reshape(-1, 2)
                assert len(ann['segmentation']) == 1 and len(poly) >= 3
                assert (poly >= 0).all() and (poly[:, 0] <= info['width']).all() and \
                    (poly[:, 1] <= info['height']).all()
                x, y, w, h = ann['bbox']
                assert np.allclose([x, y, x + w, y + h], [*poly.min(0), *poly.max(0)], atol=0.02)
                mask = coco.annToMask(ann).astype(bool)
                assert mask.any()
                assert mask.sum() == pytest.approx(ann['area'], rel=0.15)
                # The pixels under the mask are painted in the colour of the annotated class.
                mean = image[mask].reshape(-1, 3).mean(0)
                distances = [np.abs(mean - np.array(colour)).sum()
                             for _, _, colour in toy.CATEGORIES]
                assert int(np.argmin(distances)) == ann['category_id'] - 1
                seen_labels.add(ann['category_id'])
    assert seen_labels == set(range(1, len(toy.CLASS_NAMES) + 1))


def test_toy_generator_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='image_size must be at least 64'):
        toy.make_toy_coco(str(tmp_path), image_size=32)
    with pytest.raises(ValueError, match=r"Unknown split\(s\) \['test'\]"):
        toy.make_toy_coco(str(tmp_path), splits=['test'])
    with pytest.raises(ValueError, match='num_val must be at least 1'):
        toy.make_toy_coco(str(tmp_path), num_train=1, num_val=0)


def test_toy_generator_cli_imports_no_mm_package(tmp_path):
    script = osp.join(REPO, 'tools', 'data', 'make_toy_coco.py')
    code = ('import sys, runpy; sys.argv = ["make_toy_coco.py", "--out", sys.argv[1], '
            f'"--num-train", "2", "--num-val", "1"]; '
            f'runpy.run_path({script!r}, run_name="__main__"); '
            'heavy = [m for m in sys.modules if m.split(".")[0] in '
            '("mmdet", "mmseg", "mmpretrain")]; assert not heavy, heavy')
    out = subprocess.run([PYTHON, '-c', code, str(tmp_path / 'toy')], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(tmp_path / 'toy' / 'annotations')) == ['instances_train.json',
                                                                    'instances_val.json']
    for split, count in (('train', 2), ('val', 1)):
        with open(tmp_path / 'toy' / 'annotations' / f'instances_{split}.json') as f:
            assert len(json.load(f)['images']) == count
        assert len(os.listdir(tmp_path / 'toy' / split)) == count


@pytest.fixture
def mmdet_scope():
    with downstream_scope('mmdet'):
        yield


def test_toy_dataset_loads_through_the_config_pipelines(tmp_path, mmdet_scope):
    from mmdet.registry import DATASETS
    root = _make_toy(tmp_path / 'toy', num_train=4, num_val=2)
    cfg = _config(TOY_CONFIG, data_root=root)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert (len(train), len(val)) == (4, 2)
    assert train.metainfo['classes'] == toy.CLASS_NAMES
    with open(osp.join(root, 'annotations', 'instances_train.json')) as f:
        coco = json.load(f)
    sample = train[0]['data_samples']
    gt = sample.gt_instances
    expected = [a for a in coco['annotations'] if a['image_id'] == 1]
    assert len(gt) == len(expected)
    assert sorted(gt.labels.tolist()) == sorted(a['category_id'] - 1 for a in expected)
    assert gt.masks.to_ndarray().reshape(len(gt), -1).any(axis=1).all()
    assert tuple(sample.metainfo['img_shape']) == (160, 160)


# ----------------------------------------------------------------------------- bad input errors

def test_missing_data_root_names_the_coco_layout(tmp_path):
    from recnext_mm.data_check import precheck
    cfg = _config(TOY_CONFIG, data_root=str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError) as err:
        precheck(cfg, ('train', 'val', 'test'), mode='paths')
    message = str(err.value)
    assert 'nowhere' in message and 'COCO layout' in message
    assert 'annotations/instances_' in message and 'make_toy_coco.py' in message


def test_train_tool_fails_early_without_data(tmp_path):
    from recnext_mm.cli import train  # what tools/train.py runs
    with pytest.raises(FileNotFoundError, match='COCO layout'):
        train.main([TOY_CONFIG, '--work-dir', str(tmp_path / 'wd'), '--cfg-options',
                    f'train_dataloader.dataset.data_root={tmp_path / "missing"}'])


# ------------------------------------------------------------------ mmdet 2.28 released weights

def _mmdet2_checkpoint(cfg, path):
    """A checkpoint laid out as mmdet 2.28 saved the released ``recnext_*_coco.pth`` files.

    Mask R-CNN parameter names are the same in mmdet 2.x and 3.x, so a 3.x model's state dict
    stands in for the released weights.
    """
    model = build_cfg_model(cfg)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    classes = tuple(f'class{i}' for i in range(cfg.model.roi_head.bbox_head.num_classes))
    meta = dict(mmdet_version='2.28.2', config='model = dict(...)', epoch=12, iter=87960,
                CLASSES=classes)
    torch.save(dict(meta=meta, state_dict=state), path)
    return state, classes


@pytest.mark.parametrize('name', ['mask_rcnn_recnext_m3_coco.py', 'mask_rcnn_recnext_toy_coco.py'])
def test_mmdet2_checkpoint_converts_and_loads_with_no_missing_key(name, tmp_path):
    from recnext_mm.checkpoint import detect_format, read_checkpoint
    from recnext_mm.convert import convert_checkpoint
    path = osp.join(CONFIG_DIR, name)
    cfg = _config(path)
    src = str(tmp_path / 'release_coco.pth')
    state, classes = _mmdet2_checkpoint(cfg, src)
    assert detect_format(read_checkpoint(src)) == 'mmdet2'
    dst = str(tmp_path / 'converted.pth')
    assert convert_checkpoint(src, dst, config=path) == 'mmdet2'  # strict check against path
    converted = read_checkpoint(dst)
    assert converted['meta']['dataset_meta']['classes'] == classes
    model = build_cfg_model(cfg)
    result = model.load_state_dict(converted['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_converter_refuses_a_checkpoint_of_another_arch(tmp_path):
    src = str(tmp_path / 'm3_coco.pth')
    _mmdet2_checkpoint(_config(osp.join(CONFIG_DIR, 'mask_rcnn_recnext_m3_coco.py')), src)
    from recnext_mm.checkpoint import CheckpointError
    from recnext_mm.convert import convert_checkpoint
    dst = tmp_path / 'out.pth'
    with pytest.raises(CheckpointError) as err:
        convert_checkpoint(src, str(dst),
                           config=osp.join(CONFIG_DIR, 'mask_rcnn_recnext_m4_coco.py'))
    message = str(err.value)
    # m4 is m3 with more blocks per stage: the m3 weights lack the extra blocks.
    assert 'do not fit' in message
    assert 'mask_rcnn_recnext_m4_coco.py' in message
    assert re.search(r"missing keys: [1-9]\d*, e\.g\. \['backbone\.stages", message)
    assert not dst.exists()


# ---------------------------------------------------------------------------- library use (API)

def _toy_checkpoint(tmp_path):
    cfg = _config(TOY_CONFIG)
    ckpt = str(tmp_path / 'toy.pth')
    torch.save(dict(meta=dict(dataset_meta=dict(classes=toy.CLASS_NAMES)),
                    state_dict=build_cfg_model(cfg).state_dict()), ckpt)
    return ckpt


def test_init_detector_and_inference_in_a_fresh_process(tmp_path):
    """mmdet.apis works on our config without importing recnext_mm first (custom_imports does);
    a config elsewhere can inherit the toy config by absolute path or use type='RecNeXt'."""
    ckpt = _toy_checkpoint(tmp_path)
    image, _ = toy.render_image(np.random.default_rng(0), 160)
    img_path = str(tmp_path / 'img.jpg')
    cv2.imwrite(img_path, image)
    (tmp_path / 'elsewhere').mkdir()
    inherit = tmp_path / 'elsewhere' / 'inherit.py'
    inherit.write_text(f'_base_ = [{TOY_CONFIG!r}]\nmodel = dict(backbone=dict(arch="a0"))\n')
    direct = tmp_path / 'elsewhere' / 'direct.py'
    direct.write_text('custom_imports = dict(imports=["recnext_mm"], allow_failed_imports=False)\n'
                      'model = dict(type="RecNeXt", arch="m0", out_indices=(3,))\n')
    code = '\n'.join([
        'import sys, torch',
        'from mmdet.apis import inference_detector, init_detector',
        'assert "recnext_mm" not in sys.modules',
        f'model = init_detector({TOY_CONFIG!r}, {ckpt!r}, device="cpu")',
        'assert "recnext_mm" in sys.modules',
        f'result = inference_detector(model, {img_path!r})',
        'pred = result.pred_instances',
        'print("PRED", tuple(pred.masks.shape[1:]), len(pred) == len(pred.scores),',
        '      model.dataset_meta["classes"][3])',
        f'inherited = init_detector({str(inherit)!r}, device="cpu")',
        'print("INHERIT", type(inherited.backbone).__name__, inherited.backbone.arch["family"])',
        'from mmengine.config import Config',
        'from mmengine.registry import MODELS',
        f'cfg = Config.fromfile({str(direct)!r})',
        'out = MODELS.build(cfg.model)(torch.rand(1, 3, 64, 64))',
        'print("DIRECT", tuple(out[0].shape))',
    ])
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run([PYTHON, '-c', code], capture_output=True, text=True, timeout=300,
                         cwd=str(tmp_path), env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'PRED (160, 160) True yellow_star' in out.stdout
    assert 'INHERIT RecNeXt recattn' in out.stdout
    assert 'DIRECT (1, 320, 2, 2)' in out.stdout


# ------------------------------------------------------------------------ end to end (tools/)

@pytest.mark.slow
def test_toy_train_then_test_with_visualization(tmp_path):
    root = _make_toy(tmp_path / 'toy', num_train=8, num_val=4)
    work = tmp_path / 'work'
    options = _data_options(root) + [
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    env = dict(os.environ, PYTHONPATH=REPO)
    train = subprocess.run([PYTHON, osp.join(REPO, 'tools', 'train.py'), TOY_CONFIG, '--work-dir',
                            str(work), '--cfg-options', *options],
                           capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    assert train.returncode == 0, train.stderr[-3000:]
    log = train.stdout + train.stderr
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\].*loss: [0-9.]+.*loss_mask: [0-9.]+', log)
    assert re.search(r'coco/bbox_mAP: [0-9.]+ .*coco/segm_mAP: [0-9.]+', log)
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    assert (work / 'last_checkpoint').read_text().strip() == str(ckpt)

    from recnext_mm.cli import evaluate  # what tools/test.py runs
    metrics = evaluate.main([TOY_CONFIG, str(ckpt), '--work-dir', str(work), '--show-dir', 'vis',
                             '--cfg-options', *options])
    assert {'coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50'} <= set(metrics)
    assert all(0 <= metrics[k] <= 1 for k in ('coco/bbox_mAP', 'coco/segm_mAP'))
    drawn = glob.glob(osp.join(str(work), '**', 'vis', '*.jpg'), recursive=True)
    assert len(drawn) == 4, drawn
    assert cv2.imread(drawn[0]).shape == (160, 320, 3)  # ground truth | prediction side by side

    # --deploy: the fused backbone predicts the same boxes and scores (this caught channels_last
    # feature maps reaching mmcv's RoIAlign, which reads NCHW memory)
    preds = {}
    for form, extra in (('train', []), ('deploy', ['--deploy'])):
        out = str(tmp_path / f'{form}.pkl')
        evaluate.main([TOY_CONFIG, str(ckpt), '--work-dir', str(work), '--out', out, *extra,
                       '--cfg-options', *options])
        with open(out, 'rb') as f:
            preds[form] = pickle.load(f)
    assert len(preds['train']) == len(preds['deploy']) == 4
    for a, b in zip(preds['train'], preds['deploy']):
        a, b = a['pred_instances'], b['pred_instances']
        assert a['bboxes'].shape == b['bboxes'].shape and a['bboxes'].shape[0] > 0
        assert torch.allclose(a['scores'], b['scores'], atol=1e-4)
        assert torch.allclose(a['bboxes'], b['bboxes'], atol=1e-2)
