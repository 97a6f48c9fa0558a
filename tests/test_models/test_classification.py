"""ImageNet classification with mmpretrain: configs, head, distillation, release checkpoints, deploy
form, toy data and bad input. Inputs are small (64 px); data and checkpoints live in tmp_path."""
import copy
import glob
import json
import os
import os.path as osp
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import recnext_mm
from recnext_mm.backbones.archs import ARCH_SETTINGS, get_arch
from recnext_mm.checkpoint import CheckpointError
from recnext_mm.builder import build_model_from_cfg

from utils import REPO as ROOT  # noqa: E402
CFG_DIR = osp.join(ROOT, 'configs', 'classification')

pytest.importorskip('mmpretrain')
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import recnext_mm.classification  # noqa: E402,F401
from mmpretrain.registry import DATASETS, MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402
from mmpretrain.utils import register_all_modules  # noqa: E402

register_all_modules(init_default_scope=False)

from utils import downstream_scope, randomize_norms, reference  # noqa: E402  (tests/utils.py)


@pytest.fixture(autouse=True, scope='module')
def _mmpretrain_scope():
    """Builds here resolve in mmpretrain's registries, whatever scope earlier tests left current."""
    with downstream_scope('mmpretrain'):
        yield


ARCHS = list(ARCH_SETTINGS)
# Facts measured on the official implementation (parameter counts, drop path of the runs without
# distillation), shipped in recnext_mm/reference.
REFERENCE = reference()
TOY_CLASSES = ('circle', 'cross', 'square', 'stripes_h', 'stripes_v', 'triangle')


# ----------------------------------------------------------------------------- helpers
def load_cfg(name: str) -> Config:
    return Config.fromfile(osp.join(CFG_DIR, name))


def build_model(cfg: Config):
    """Builds ``cfg.model`` as the Runner does (top-level data_preprocessor merged in)."""
    return build_model_from_cfg(cfg)


def make_batch(model, num=2, size=64, num_classes=1000, training=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    data = dict(
        inputs=[torch.randint(0, 256, (3, size, size), generator=gen, dtype=torch.uint8)
                for _ in range(num)],
        data_samples=[DataSample().set_gt_label((7 * i) % num_classes) for i in range(num)])
    return model.data_preprocessor(data, training)


@torch.no_grad()
def run_tool(args, timeout=600):
    """Runs a tools/ script in a fresh process; returns its combined output."""
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


@pytest.fixture(scope='module')
def tiny_teacher(tmp_path_factory):
    """A tiny timm stand-in for RegNetY-16GF (same wrapper, 1000 classes) and its weights file."""
    cfg = dict(type='TimmClassifier', model_name='test_resnet', num_classes=1000)
    torch.manual_seed(0)
    teacher = MODELS.build(cfg)
    path = str(tmp_path_factory.mktemp('teacher') / 'teacher.pth')
    torch.save({'model': teacher.state_dict()}, path)  # the DeiT release layout
    return cfg, path


def distill_cfg(arch, teacher):
    cfg = load_cfg(f'recnext_{arch}_distill_in1k.py')
    cfg.model.teacher = dict(teacher[0])
    cfg.model.teacher_checkpoint = teacher[1]
    return cfg


@pytest.fixture
def toy_data(tmp_path):
    from recnext_mm.toy_data.imagenet import make_toy_imagenet
    root = str(tmp_path / 'toy_imagenet')
    make_toy_imagenet(root, seed=0, train_per_class=6, val_per_class=3)
    return root


# ----------------------------------------------------------------------------- configs
def test_every_arch_has_both_configs():
    names = sorted(osp.basename(p) for p in glob.glob(osp.join(CFG_DIR, 'recnext_*_in1k.py')))
    expected = sorted([f'recnext_{a}_in1k.py' for a in ARCHS] +
                      [f'recnext_{a}_distill_in1k.py' for a in ARCHS] + ['recnext_toy_in1k.py'])
    assert names == expected


def test_toy_config_optimizer_decays_only_weights_and_learns_a_batch():
    from mmengine.optim import build_optim_wrapper
    cfg = load_cfg('recnext_toy_in1k.py')
    model = build_model(cfg).train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {id(p): g['weight_decay'] for g in optim.optimizer.param_groups for p in g['params']}
    for name, param in model.named_parameters():
        expected = 0.025 if param.ndim > 1 else 0.0  # timm: no decay on norms, biases, 1-D params
        assert decay[id(param)] == expected, name
    data = make_batch(model, num=8, num_classes=6)
    losses = []
    for _ in range(5):
        loss, _ = model.parse_losses(model(**data, mode='loss'))
        optim.update_params(loss)  # with the config's gradient clipping
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize('arch', ARCHS)
def test_configs_build_and_compute_a_loss(arch, tiny_teacher):
    """Both configs of ``arch`` build the official network and train on a 2x3x64x64 batch."""
    for distill in (False, True):
        cfg = distill_cfg(arch, tiny_teacher) if distill else load_cfg(f'recnext_{arch}_in1k.py')
        torch.manual_seed(0)
        model = build_model(cfg).train()
        assert model.backbone.arch == get_arch(arch)
        assert model.head.in_channels == model.backbone.out_channels[-1]
        losses = model(**make_batch(model), mode='loss')  # Mixup/CutMix targets
        assert set(losses) == ({'loss_cls', 'loss_distill'} if distill else {'loss'})
        total = sum(losses.values())
        assert torch.isfinite(total) and total.item() > 0 and total.requires_grad
        if REFERENCE is not None:
            ref = REFERENCE['variants'][arch]
            expected_dpr = 0.0 if distill else ref['drop_path_rate_without_distill']
            assert cfg.model.backbone.drop_path_rate == expected_dpr
            n_params = sum(p.numel() for p in model.parameters())
            assert n_params == ref['measured_official_impl']['params_with_1000cls_head_train_form']


# ----------------------------------------------------------------------------- head
def test_head_averages_both_heads_and_fuses_into_one_linear():
    from recnext_mm.classification import RecNeXtClsHead
    torch.manual_seed(0)
    head = randomize_norms(RecNeXtClsHead(num_classes=10, in_channels=16)).eval()
    feats = (torch.randn(4, 16), )
    expected = (head.head(feats[0]) + head.head_dist(feats[0])) / 2
    assert torch.allclose(head(feats), expected)
    head.switch_to_deploy()
    assert head.deploy and not hasattr(head, 'head_dist')
    assert type(head.head) is torch.nn.Linear and 'head.weight' in head.state_dict()
    assert torch.allclose(head(feats), expected, atol=1e-5)
    head.train()
    assert torch.allclose(head(feats), expected, atol=1e-5)  # fused: no batch statistics left


def test_distillation_head_returns_both_outputs_only_in_training():
    from recnext_mm.classification import RecNeXtClsHead
    head = RecNeXtClsHead(num_classes=10, in_channels=16, distillation=True)
    feats = (torch.randn(4, 16), )
    out, out_dist = head.train()(feats)
    assert out.shape == out_dist.shape == (4, 10)
    with pytest.raises(RuntimeError, match='RecNeXtDistillClassifier'):
        head.loss(feats, [DataSample().set_gt_label(1)] * 4)
    head.eval()
    assert torch.allclose(head(feats), (head.head(feats[0]) + head.head_dist(feats[0])) / 2)


# ----------------------------------------------------------------------------- distillation
def test_distillation_loss_is_the_deit_hard_loss(tiny_teacher):
    cfg = distill_cfg('m0', tiny_teacher)
    cfg.model.train_cfg = None  # plain labels, so the expected loss is written out below
    torch.manual_seed(0)
    model = build_model(cfg).train()
    inputs = torch.randn(4, 3, 64, 64)
    labels = torch.tensor([1, 5, 7, 999])
    losses = model.loss(inputs, [DataSample().set_gt_label(int(y)) for y in labels])

    logits, logits_dist = model.head(model.extract_feat(inputs))
    with torch.no_grad():
        teacher_logits = model.teacher(inputs)
    smoothed = F.one_hot(labels, 1000).float() * 0.9 + 0.1 / 1000
    cls_term = -(smoothed * F.log_softmax(logits, dim=1)).sum(1).mean()
    dist_term = F.cross_entropy(logits_dist, teacher_logits.argmax(1))
    assert torch.allclose(losses['loss_cls'], 0.5 * cls_term, atol=1e-5)
    assert torch.allclose(losses['loss_distill'], 0.5 * dist_term, atol=1e-5)

    sum(losses.values()).backward()
    assert model.head.head_dist.linear.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())


def test_teacher_stays_outside_the_student(tiny_teacher, tmp_path):
    from mmengine.runner.checkpoint import get_state_dict, save_checkpoint
    model = build_model(distill_cfg('m0', tiny_teacher))
    model.init_weights()  # what the Runner calls before training: builds and loads the teacher
    teacher = model.teacher
    loaded = torch.load(tiny_teacher[1])['model']
    assert all(torch.equal(v, loaded[k]) for k, v in teacher.state_dict().items())

    state = model.state_dict()
    assert not any('teacher' in k for k in state)
    assert list(get_state_dict(model)) == list(state)
    student_params = {id(p) for p in model.parameters()}
    assert not any(id(p) in student_params for p in teacher.parameters())
    model.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert copy.deepcopy(model).teacher is teacher  # EMA copies share, not duplicate, it
    model.to(torch.float64)
    assert next(teacher.parameters()).dtype == torch.float64

    path = str(tmp_path / 'student.pth')
    save_checkpoint({'state_dict': state, 'meta': {}}, path)
    saved = torch.load(path, weights_only=True)['state_dict']
    assert sorted(saved) == sorted(state)
    plain = build_model(load_cfg('recnext_m0_in1k.py'))
    plain.load_state_dict(saved)  # a distilled student evaluates with the plain config
    assert torch.equal(plain.state_dict()['head.head_dist.linear.weight'],
                       state['head.head_dist.linear.weight'].float())


def test_teacher_weights_missing_remote_or_mismatched(tiny_teacher, tmp_path):
    cfg = distill_cfg('m0', tiny_teacher)
    cfg.model.teacher_checkpoint = str(tmp_path / 'regnety_160.pth')
    model = build_model(cfg)  # building (for testing or inference) needs no teacher
    with pytest.raises(FileNotFoundError, match='Teacher checkpoint not found') as err:
        model.init_weights()
    assert 'regnety_160.pth' in str(err.value) and 'teacher_checkpoint' in str(err.value)

    cfg.model.teacher_checkpoint = 'https://dl.fbaipublicfiles.com/deit/regnety_160-a5fe301d.pth'
    with pytest.raises(FileNotFoundError, match='URL'):
        build_model(cfg).init_weights()

    other = MODELS.build(dict(type='TimmClassifier', model_name='test_vit', num_classes=1000))
    wrong = str(tmp_path / 'vit.pth')
    torch.save({'model': other.state_dict()}, wrong)
    cfg.model.teacher_checkpoint = wrong
    with pytest.raises(CheckpointError, match='does not fit the teacher') as err:
        build_model(cfg).init_weights()
    message = str(err.value)
    assert re.search(r'missing keys: [1-9]\d*, e\.g\. \[.conv1\.0\.weight', message)
    assert re.search(r"unexpected keys: [1-9]\d*, e\.g\. ", message) and 'blocks.0.norm1' in message


def test_distill_config_refuses_a_single_output_head(tiny_teacher):
    cfg = distill_cfg('m0', tiny_teacher)
    cfg.model.head.distillation = False
    with pytest.raises(ValueError, match='distillation=True'):
        build_model(cfg)


# ----------------------------------------------------------------------------- release checkpoints
@pytest.mark.parametrize('arch', ['m0', 'a0', 't', 't_share_channel'])
def test_release_checkpoint_converts_loads_and_matches_timm(arch, tmp_path):
    import timm
    from mmengine.runner import load_checkpoint

    from recnext_mm.convert import convert_checkpoint
    torch.manual_seed(0)
    release = str(tmp_path / f'recnext_{arch}_distill_300e.pth')
    timm_model = randomize_norms(timm.create_model(f'recnext_{arch}'))
    torch.save({'model': timm_model.state_dict()}, release)
    converted, back = str(tmp_path / 'mm.pth'), str(tmp_path / 'back.pth')
    config = osp.join(CFG_DIR, f'recnext_{arch}_in1k.py')
    convert_checkpoint(release, converted, config=config)  # fails on any missing / unexpected key
    assert convert_checkpoint(converted, back, to_official=True) == 'mmengine'
    original = torch.load(release, weights_only=True)['model']
    round_trip = torch.load(back, weights_only=True)['model']
    assert list(round_trip) == list(original)
    assert all(torch.equal(round_trip[k], v) for k, v in original.items())

    model = build_model(load_cfg(f'recnext_{arch}_in1k.py'))
    load_checkpoint(model, converted, map_location='cpu')  # as tools/test.py and mmpretrain.apis
    reference = timm.create_model(f'recnext_{arch}')
    reference.load_state_dict(original)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours, theirs = model.eval()(x), reference.eval()(x)
    assert ours.shape == (2, 1000)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_checkpoint_of_another_arch_is_refused_naming_keys(tmp_path):
    import timm
    from mmengine.runner import load_checkpoint

    from recnext_mm.convert import convert_checkpoint
    release = str(tmp_path / 'recnext_m3.pth')
    torch.save({'model': timm.create_model('recnext_m3').state_dict()}, release)
    converted = str(tmp_path / 'm3_mm.pth')
    convert_checkpoint(release, converted)

    m4 = build_model(load_cfg('recnext_m4_in1k.py'))  # same widths, deeper: keys are missing
    with pytest.raises(CheckpointError, match='missing keys: ') as err:
        load_checkpoint(m4, converted, map_location='cpu')
    assert 'backbone.stages.0.blocks.3.' in str(err.value)
    assert 'depths=(5, 5, 25, 4)' in str(err.value)

    m0 = build_model(load_cfg('recnext_m0_in1k.py'))  # narrower: shapes differ
    with pytest.raises(CheckpointError, match='shape mismatches: [1-9]') as err:
        load_checkpoint(m0, converted, map_location='cpu')
    assert 'backbone.stem.stem.0.conv.weight' in str(err.value)

    m0_deploy = load_cfg('recnext_m0_in1k.py')
    m0_deploy.model.deploy = True
    with pytest.raises(CheckpointError, match='training-form backbone weights'):
        load_checkpoint(build_model(m0_deploy), converted, map_location='cpu')

    with pytest.raises(CheckpointError, match='missing keys: [1-9]'):
        convert_checkpoint(release, str(tmp_path / 'x.pth'),
                           config=osp.join(CFG_DIR, 'recnext_m4_in1k.py'))
    assert not osp.exists(tmp_path / 'x.pth')


# ----------------------------------------------------------------------------- deploy form
@pytest.mark.parametrize('arch', ['m0', 't'])
def test_deploy_form_gives_the_same_logits(arch):
    cfg = load_cfg(f'recnext_{arch}_in1k.py')
    torch.manual_seed(0)
    model = randomize_norms(build_model(cfg)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    train_state = model.state_dict()

    deploy_cfg = copy.deepcopy(cfg)
    deploy_cfg.model.deploy = True  # what --cfg-options model.deploy=True sets
    deployed = build_model(deploy_cfg).eval()
    assert deployed.deploy and deployed.backbone.deploy and deployed.head.deploy
    deployed.load_state_dict(train_state)  # a training-form checkpoint is fused on load
    fused_state = deployed.state_dict()
    assert not any(k.endswith('running_var') for k in fused_state)
    assert len(fused_state) < len(train_state)
    with torch.no_grad():
        assert torch.allclose(deployed(x), expected, rtol=1e-4, atol=1e-4)
        assert torch.allclose(model.switch_to_deploy()(x), expected, rtol=1e-4, atol=1e-4)

    fresh = build_model(deploy_cfg).eval()
    fresh.load_state_dict(fused_state)  # fused weights load as they are
    with torch.no_grad():
        assert torch.allclose(fresh(x), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(CheckpointError, match='model.deploy=True'):
        build_model(cfg).load_state_dict(fused_state)  # fused weights need the deploy form


# ----------------------------------------------------------------------------- toy data, bad input
def test_toy_generator_is_deterministic_and_in_imagenet_layout(tmp_path):
    import cv2

    from recnext_mm.toy_data.imagenet import make_toy_imagenet
    # 'a' by the script, as a user runs it; 'b' and 'c' by the generator it calls.
    subprocess.run([sys.executable, 'tools/data/make_toy_imagenet.py', '--out', str(tmp_path / 'a'),
                    '--seed', '3', '--train-per-class', '3', '--val-per-class', '2',
                    '--size', '48'], cwd=ROOT, check=True, capture_output=True, timeout=300)
    counts = make_toy_imagenet(str(tmp_path / 'b'), seed=3, train_per_class=3, val_per_class=2,
                               size=48)
    make_toy_imagenet(str(tmp_path / 'c'), seed=4, train_per_class=3, val_per_class=2, size=48)
    assert counts == {'train': 18, 'val': 12}
    assert sorted(os.listdir(tmp_path / 'a' / 'train')) == list(TOY_CLASSES)
    assert tuple(load_cfg('recnext_toy_in1k.py').toy_classes) == TOY_CLASSES
    files = sorted(glob.glob(str(tmp_path / 'a' / '*' / '*' / '*.JPEG')))
    assert len(files) == 30
    for path in files:
        same = path.replace(f'{os.sep}a{os.sep}', f'{os.sep}b{os.sep}')
        other = path.replace(f'{os.sep}a{os.sep}', f'{os.sep}c{os.sep}')
        assert open(path, 'rb').read() == open(same, 'rb').read()
        assert open(path, 'rb').read() != open(other, 'rb').read()
        assert cv2.imread(path).shape == (48, 48, 3)
    lines = open(tmp_path / 'a' / 'meta' / 'val.txt').read().split('\n')[:-1]
    assert lines[0] == 'circle/circle_0000.JPEG 0' and lines[-1] == 'triangle/triangle_0001.JPEG 5'


@pytest.mark.parametrize('name', ['recnext_m3_in1k.py', 'recnext_a0_distill_in1k.py',
                                  'recnext_toy_in1k.py'])
def test_missing_data_names_the_imagenet_layout(name, tmp_path):
    from recnext_mm.data_check import precheck
    cfg = load_cfg(name)
    root = str(tmp_path / 'nowhere')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root
    splits = ('train', 'val', 'test')
    with pytest.raises(FileNotFoundError, match='ImageNet layout') as err:
        precheck(cfg, splits, mode='paths')
    assert root in str(err.value) and 'make_toy_imagenet.py' in str(err.value)
    assert 'train_dataloader.dataset.data_root=' in str(err.value)

    os.makedirs(osp.join(root, 'val'))  # a root without its train folder
    with pytest.raises(FileNotFoundError, match='train data not found') as err:
        precheck(cfg, splits, mode='paths')
    assert osp.join(root, 'train') in str(err.value)


def test_image_folder_without_images_is_an_error(tmp_path):
    for name in TOY_CLASSES:
        os.makedirs(tmp_path / 'train' / name)
    (tmp_path / 'train' / 'circle' / 'notes.txt').write_text('not an image')
    dataset = load_cfg('recnext_toy_in1k.py').train_dataloader.dataset
    dataset.data_root = str(tmp_path)
    with pytest.raises(RuntimeError, match='Found 0 files') as err:
        DATASETS.build(dataset)
    assert str(tmp_path / 'train') in str(err.value) and '.jpeg' in str(err.value)
    # tools/train.py stops earlier, before any model is built
    from recnext_mm.data_check import precheck
    cfg = load_cfg('recnext_toy_in1k.py')
    cfg.train_dataloader.dataset.data_root = str(tmp_path)
    with pytest.raises(FileNotFoundError, match='holds no images'):
        precheck(cfg, ('train', ), mode='paths')


def test_in1k_configs_read_the_toy_set_through_its_annotation_lists(toy_data):
    dataset = load_cfg('recnext_m0_in1k.py').test_dataloader.dataset
    dataset.data_root = toy_data
    ds = DATASETS.build(dataset)
    assert len(ds) == 18 and len(ds.metainfo['classes']) == 1000
    assert sorted({ds.get_data_info(i)['gt_label'] for i in range(len(ds))}) == list(range(6))


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_toy_train_then_test_in_train_and_deploy_form(toy_data, tmp_path):
    """tools/train.py then tools/test.py: the deploy form predicts exactly as the training form."""
    config = osp.join(CFG_DIR, 'recnext_toy_in1k.py')
    roots = [f'{s}_dataloader.dataset.data_root={toy_data}' for s in ('train', 'val', 'test')]
    work = str(tmp_path / 'work')
    run_tool(['tools/train.py', config, '--work-dir', work, '--cfg-options', *roots,
              'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
              'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=12'])
    ckpt = osp.join(work, 'epoch_2.pth')
    outputs, metrics = {}, {}
    for form, extra in (('train', []), ('deploy', ['model.deploy=True'])):
        out = str(tmp_path / f'{form}.pkl')
        run_tool(['tools/test.py', config, ckpt, '--work-dir', work, '--out', out,
                  '--cfg-options', *roots, *extra])
        with open(osp.join(work, 'test_metrics.json')) as f:
            metrics[form] = json.load(f)
        outputs[form] = pickle.load(open(out, 'rb'))
    assert {'accuracy/top1', 'accuracy/top5'} <= set(metrics['train'])
    assert metrics['train'] == metrics['deploy']
    train_preds, deploy_preds = outputs['train'], outputs['deploy']
    assert len(train_preds) == len(deploy_preds) == 18
    for a, b in zip(train_preds, deploy_preds):
        assert int(a['pred_label']) == int(b['pred_label'])
        assert torch.allclose(a['pred_score'], b['pred_score'], atol=1e-4)


@pytest.mark.slow
def test_distillation_trains_on_the_toy_set_and_saves_no_teacher(toy_data, tmp_path):
    teacher = MODELS.build(dict(type='TimmClassifier', model_name='test_resnet', num_classes=6))
    teacher_path = str(tmp_path / 'teacher.pth')
    torch.save(teacher.state_dict(), teacher_path)
    config = tmp_path / 'toy_distill.py'
    config.write_text(
        f"_base_ = [{osp.join(CFG_DIR, 'recnext_toy_in1k.py')!r}]\n"
        "model = dict(type='RecNeXtDistillClassifier', head=dict(distillation=True),\n"
        "             teacher=dict(type='TimmClassifier', model_name='test_resnet',\n"
        "                          num_classes=6),\n"
        f"             teacher_checkpoint={teacher_path!r})\n")
    roots = [f'{s}_dataloader.dataset.data_root={toy_data}' for s in ('train', 'val')]
    work = str(tmp_path / 'work')
    log = run_tool(['tools/train.py', str(config), '--work-dir', work, '--cfg-options', *roots,
                    'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
                    'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=12'])
    assert 'loss_distill' in log and 'Distillation teacher TimmClassifier' in log
    saved = torch.load(osp.join(work, 'epoch_2.pth'), weights_only=True)['state_dict']
    assert saved and not any('teacher' in k for k in saved)
    assert 'head.head_dist.linear.weight' in saved


@pytest.mark.slow
def test_inferencer_in_a_fresh_process_with_custom_imports_only(tmp_path):
    """mmpretrain's own API builds our config (registration through custom_imports only)."""
    import cv2
    import timm

    from recnext_mm.convert import convert_checkpoint
    from recnext_mm.toy_data.imagenet import render_image
    release, converted = str(tmp_path / 'release.pth'), str(tmp_path / 'm0.pth')
    torch.manual_seed(0)
    torch.save({'model': randomize_norms(timm.create_model('recnext_m0')).state_dict()}, release)
    convert_checkpoint(release, converted)
    image = str(tmp_path / 'disc.jpg')
    cv2.imwrite(image, cv2.resize(render_image('circle', np.random.default_rng(0)), (256, 256)))
    config = osp.join(CFG_DIR, 'recnext_m0_in1k.py')
    script = (
        'import json, sys\n'
        'from mmpretrain.apis import ImageClassificationInferencer\n'
        f'inferencer = ImageClassificationInferencer({config!r}, pretrained={converted!r}, '
        'device="cpu")\n'
        f'result = inferencer({image!r})[0]\n'
        'print("RESULT", json.dumps(dict(label=int(result["pred_label"]), '
        'cls=result["pred_class"], scores=[float(s) for s in result["pred_scores"]], '
        'registered="recnext_mm.classification" in sys.modules)))\n')
    log = run_tool(['-c', script])
    result = json.loads(log.split('RESULT ', 1)[1].splitlines()[0])
    assert result['registered'] and len(result['scores']) == 1000

    # Independently: the config's test pipeline and the timm model loaded with the release file.
    from mmengine.dataset import Compose
    cfg = load_cfg('recnext_m0_in1k.py')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        inputs = Compose(cfg.test_dataloader.dataset.pipeline)(dict(img_path=image))['inputs']
    prep = cfg.data_preprocessor
    x = inputs.float().flip(0)  # BGR -> RGB (to_rgb)
    x = (x - torch.tensor(prep.mean)[:, None, None]) / torch.tensor(prep.std)[:, None, None]
    reference = timm.create_model('recnext_m0')
    reference.load_state_dict(torch.load(release, weights_only=True)['model'])
    with torch.no_grad():
        expected = reference.eval()(x[None]).softmax(dim=1)[0]
    assert result['label'] == int(expected.argmax())
    assert np.allclose(result['scores'], expected.numpy(), atol=1e-5)
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    assert result['cls'] == IMAGENET_CATEGORIES[int(expected.argmax())]
