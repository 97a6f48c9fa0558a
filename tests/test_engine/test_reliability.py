"""Faults a long run meets, injected on tiny data: kills, torn checkpoints, bad images, bad annotations.

Every fault is handled by what our configs ask for by name: ``runner_type='RecNeXtRunner'``
(recnext_mm.engine.runner); ``import recnext_mm`` itself changes nothing of mmengine or mmcv.

- Checkpoints are written atomically and old ones removed only after the new one is in place
  (recnext_mm.engine.atomic_io); a process killed while writing leaves the previous file intact.
- ``--resume`` after a kill, or with the newest checkpoint cut short, ends with exactly the weights of
  an uninterrupted run of the same deterministic toy config (recnext_mm.engine.resume).
- Unreadable images are skipped in training (warned, counted, limited) and stop evaluation, for the
  mmpretrain, mmdet and mmseg pipelines (recnext_mm.engine.bad_images).
- The data check names every bad annotation kind, bad label map and empty class
  (recnext_mm.data_check, tools/check_dataset.py, the pre-check of tools/train.py).
"""
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from utils import REPO  # noqa: E402
CLS_CONFIG = osp.join(REPO, 'configs', 'classification', 'recnext_toy_in1k.py')
DET_CONFIG = osp.join(REPO, 'configs', 'detection', 'mask_rcnn_recnext_toy_coco.py')
SEG_CONFIG = osp.join(REPO, 'configs', 'segmentation', 'fpn_recnext_toy_ade.py')
EPOCHS = 3


def _env(extra_path=None):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONHASHSEED='0')
    if extra_path:
        env['PYTHONPATH'] = os.pathsep.join([str(extra_path), env.get('PYTHONPATH', '')])
    return env


def corrupt(path, keep=64):
    """Cuts a file to its first ``keep`` bytes (a truncated download or copy)."""
    with open(path, 'rb') as f:
        head = f.read(keep)
    with open(path, 'wb') as f:
        f.write(head)


def state_of(path):
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ----------------------------------------------------------------------------- atomic writes
def test_atomic_save_keeps_the_old_file_on_failure(tmp_path):
    from recnext_mm.engine.atomic_io import atomic_torch_save
    path = str(tmp_path / 'epoch_1.pth')
    atomic_torch_save({'state_dict': {'w': torch.ones(3)}}, path)
    assert (os.stat(path).st_mode & 0o777) == 0o666 & ~_umask()  # not mkstemp's 0o600

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError('disk full')

    with pytest.raises(RuntimeError, match='disk full'):
        atomic_torch_save({'state_dict': {'w': torch.zeros(3)}, 'x': Unpicklable()}, path)
    assert torch.equal(state_of(path)['w'], torch.ones(3))  # the old file, complete
    assert os.listdir(tmp_path) == ['epoch_1.pth']  # no temporary file left


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


KILL_WHILE_SAVING = textwrap.dedent('''
    import os, signal, sys
    import torch
    from mmengine.fileio import LocalBackend
    from mmengine.runner import save_checkpoint as mmengine_save
    from recnext_mm.engine.atomic_io import atomic_torch_save as save_checkpoint

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    class DieWhenPickled:
        __reduce__ = die

    path, moment = sys.argv[1], sys.argv[2]
    save_checkpoint({'state_dict': {'w': torch.ones(1000)}}, path)
    new = {'state_dict': {'w': torch.zeros(1000)}, 'big': torch.zeros(10 ** 6)}
    if moment == 'start':            # while the checkpoint is being serialized
        new['meta'] = DieWhenPickled()
    elif moment == 'before-rename':  # all bytes written, not yet renamed into place
        os.fsync = die
    else:                            # mmengine's own save, killed half-way through its write
        def put_half(self, obj, filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
            die()
        LocalBackend.put = put_half  # (in this throw-away process only)
        save_checkpoint = mmengine_save
    save_checkpoint(new, path)
''')


@pytest.mark.slow
def test_a_kill_while_saving_leaves_the_previous_checkpoint(tmp_path):
    from recnext_mm.engine.resume import checkpoint_problem
    script = tmp_path / 'kill_while_saving.py'
    script.write_text(KILL_WHILE_SAVING)
    for moment in ('start', 'before-rename', 'mmengine-mid-write'):
        path = tmp_path / moment / 'epoch_2.pth'
        path.parent.mkdir()
        proc = subprocess.run([sys.executable, str(script), str(path), moment], env=_env(),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
        if moment == 'mmengine-mid-write':  # the fault being fixed: a torn file, final name
            assert 'cut short' in checkpoint_problem(str(path))
        else:
            assert checkpoint_problem(str(path)) is None
            assert torch.equal(state_of(path)['w'], torch.ones(1000))
    # The killed writer's temporary file is removed by the next save of the same name.
    from recnext_mm.engine.atomic_io import atomic_torch_save
    folder = tmp_path / 'before-rename'
    assert len(os.listdir(folder)) == 2
    atomic_torch_save({'state_dict': {'w': torch.full((3, ), 2.0)}}, str(folder / 'epoch_2.pth'))
    assert os.listdir(folder) == ['epoch_2.pth']


def test_old_checkpoints_removed_only_after_the_new_one_is_written(tmp_path):
    """max_keep_ckpts=1: mmengine deletes epoch_1 before writing epoch_2; a failure in between
    must leave epoch_1 and last_checkpoint naming it."""
    from recnext_mm.engine import AtomicCheckpointHook, RecNeXtRunner
    from runner_toy import ToyPairs, ToyRegressor  # noqa: F401  (registers them)

    def runner(epochs, work):
        return RecNeXtRunner(
            model=dict(type='ToyRegressor'), work_dir=str(work),
            train_dataloader=dict(dataset=dict(type='ToyPairs'), batch_size=8, num_workers=0,
                                  collate_fn=dict(type='default_collate'),
                                  sampler=dict(type='DefaultSampler', shuffle=True)),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
            train_cfg=dict(by_epoch=True, max_epochs=epochs),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1,
                                               max_keep_ckpts=1)),
            randomness=dict(seed=0), default_scope='mmengine',
            experiment_name=f'keep_one_{osp.basename(str(work))}')

    first = runner(2, tmp_path / 'ok')
    first.train()
    assert [f for f in os.listdir(first.work_dir) if f.endswith('.pth')] == ['epoch_2.pth']
    failing = runner(2, tmp_path / 'fail')

    def broken(*args, **kwargs):
        if failing.epoch == 1:
            raise OSError('No space left on device')
        return RecNeXtRunner.save_checkpoint(failing, *args, **kwargs)
    failing.save_checkpoint = broken
    assert any(type(h) is AtomicCheckpointHook for h in failing.hooks)  # chosen by the runner
    with pytest.raises(OSError, match='No space'):
        failing.train()
    files = sorted(os.listdir(failing.work_dir))
    assert 'epoch_1.pth' in files and 'epoch_2.pth' not in files
    with open(osp.join(failing.work_dir, 'last_checkpoint')) as f:
        assert f.read().endswith('epoch_1.pth')
    assert not [f for f in files if f.endswith('.tmp')]


# ----------------------------------------------------------------------------- resume
@pytest.fixture(scope='module')
def cls_data(tmp_path_factory):
    from recnext_mm.toy_data.imagenet import make_toy_imagenet
    root = str(tmp_path_factory.mktemp('cls') / 'toy_imagenet')
    make_toy_imagenet(root, seed=0, train_per_class=4, val_per_class=2, size=40)
    return root


def cls_config(folder, data_root, **extra):
    """A deterministic tiny variant of the toy classification config: 24 images, 3 epochs of 3
    iterations, a checkpoint every epoch, kept. One non-persistent worker: mmengine seeds it the same
    way each epoch, so augmentation does not depend on whether the run was resumed."""
    path = osp.join(str(folder), 'toy_cls.py')
    lines = [
        f'_base_ = [{CLS_CONFIG!r}]',
        f'data_root = {data_root!r}',
        # Every image once per epoch (repeated augmentation would show a third of them).
        'train_dataloader = dict(batch_size=8, num_workers=1, persistent_workers=False,',
        "                        sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),",
        '                        dataset=dict(data_root=data_root))',
        'val_dataloader = dict(batch_size=12, num_workers=0, persistent_workers=False,',
        '                      dataset=dict(data_root=data_root))',
        'test_dataloader = val_dataloader',
        # The M-series recursion levels (recnext_mm.backbones.recnext._M_LEVELS), explicit.
        # No Mixup/CutMix: their random draws come from the global RNG, which a resumed run
        # re-seeds, so the batches would differ from the uninterrupted run's.
        'model = dict(backbone=dict(arch=dict(levels=(4, 3, 2, 1))), train_cfg=None)',
        f'train_cfg = dict(max_epochs={EPOCHS}, val_interval=100)',
        'default_hooks = dict(logger=dict(interval=1),',
        '                     checkpoint=dict(interval=1, max_keep_ckpts=-1))',
        *[f'{k} = {v!r}' for k, v in extra.items()],
    ]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def train(config, work, *args):
    """tools/train.py in a fresh process, as a user runs it (a unique experiment name: runs may
    start in the same second). A failed run raises ``SystemExit`` with the tool's error output.

    A fresh process also keeps the DataLoader's forked worker away from the libraries other tests
    load into the pytest process (OpenVINO's thread pool, for one)."""
    args = list(args)
    name = f'experiment_name={osp.basename(str(work))}_{os.getpid()}_{len(_RUNS)}'
    _RUNS.append(name)
    if '--cfg-options' in args:
        args.insert(args.index('--cfg-options') + 1, name)
    else:
        args += ['--cfg-options', name]
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
                           '--work-dir', str(work), *args], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-3000:] + proc.stderr[-6000:])


_RUNS = []


def _log_text(work):
    logs = [osp.join(root, f) for root, _, files in os.walk(str(work)) for f in files
            if f.endswith('.log')]
    return '\n'.join(open(p).read() for p in sorted(logs))


@pytest.fixture(scope='module')
def reference_run(cls_data, tmp_path_factory):
    """The uninterrupted run: its work dir and the weights of its last epoch."""
    folder = tmp_path_factory.mktemp('reference')
    work = folder / 'work'
    train(cls_config(folder, cls_data), work)
    return str(work), state_of(str(work / f'epoch_{EPOCHS}.pth'))


KILL_HOOK = textwrap.dedent('''
    import os, signal
    from mmengine.hooks import Hook
    from mmengine.registry import HOOKS

    @HOOKS.register_module()
    class KillDuringEpoch(Hook):
        """SIGKILL in the middle of an epoch (after its first iteration), as a preempted node."""
        priority = 'LOWEST'

        def __init__(self, epoch):
            self.epoch = epoch

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.epoch + 1 == self.epoch and batch_idx == 1:
                os.kill(os.getpid(), signal.SIGKILL)
''')


@pytest.mark.slow
def test_resume_after_a_kill_gives_the_uninterrupted_weights(cls_data, reference_run, tmp_path):
    (tmp_path / 'fault_hooks.py').write_text(KILL_HOOK)
    config = cls_config(tmp_path, cls_data,
                        custom_imports=dict(imports=['recnext_mm', 'recnext_mm.classification',
                                                     'fault_hooks'], allow_failed_imports=False),
                        custom_hooks=[dict(type='KillDuringEpoch', epoch=EPOCHS)])
    work = tmp_path / 'work'
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
                           '--work-dir', str(work)], cwd=REPO, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == -signal.SIGKILL, (proc.stdout + proc.stderr)[-3000:]
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == \
        [f'epoch_{e}.pth' for e in range(1, EPOCHS)]
    assert_same_weights(state_of(str(work / f'epoch_{EPOCHS - 1}.pth')),
                        state_of(osp.join(reference_run[0], f'epoch_{EPOCHS - 1}.pth')))
    resumed = cls_config(tmp_path, cls_data)  # the same config without the killer
    train(resumed, work, '--resume')
    log = _log_text(work)
    assert f'Auto resumed from the latest checkpoint {work}/epoch_{EPOCHS - 1}.pth' in log
    assert f'resumed epoch: {EPOCHS - 1}, iter: {3 * (EPOCHS - 1)}' in log
    assert_same_weights(state_of(str(work / f'epoch_{EPOCHS}.pth')), reference_run[1])


@pytest.mark.slow
def test_resume_skips_a_checkpoint_cut_short(cls_data, reference_run, tmp_path):
    work = tmp_path / 'work'
    shutil.copytree(reference_run[0], work, ignore=shutil.ignore_patterns('2*'))
    with open(work / 'last_checkpoint', 'w') as f:
        f.write(str(work / f'epoch_{EPOCHS}.pth'))
    newest = work / f'epoch_{EPOCHS}.pth'
    os.truncate(newest, os.path.getsize(newest) // 2)  # what a kill during torch.save leaves
    train(cls_config(tmp_path, cls_data), work, '--resume')
    log = _log_text(work)
    assert f'Checkpoint {newest} cannot be read' in log and 'cut short' in log
    assert f'Resuming from {work}/epoch_{EPOCHS - 1}.pth' in log
    assert_same_weights(state_of(str(newest)), reference_run[1])  # epoch 3 trained again


def test_resume_stops_when_no_checkpoint_is_readable(tmp_path):
    from recnext_mm.checkpoint import CheckpointError
    from recnext_mm.engine.resume import find_latest_checkpoint, resume_candidates
    from recnext_mm.engine.atomic_io import atomic_torch_save
    for epoch in (1, 2):
        atomic_torch_save({'state_dict': {'w': torch.ones(100)}}, str(tmp_path / f'epoch_{epoch}.pth'))
    (tmp_path / 'best_accuracy_top1_epoch_1.pth').write_bytes(b'')  # never a candidate
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    assert resume_candidates(str(tmp_path)) == [str(tmp_path / 'epoch_2.pth'),
                                               str(tmp_path / 'epoch_1.pth')]
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_2.pth')
    corrupt(tmp_path / 'epoch_2.pth', keep=300)
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_1.pth')
    # A flipped byte inside a tensor record: the file is complete, its CRC-32 is not.
    data = bytearray((tmp_path / 'epoch_1.pth').read_bytes())
    offset = data.find(np.ones(100, np.float32).tobytes())
    assert offset > 0
    data[offset + 10] ^= 0xFF
    (tmp_path / 'epoch_1.pth').write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as err:
        find_latest_checkpoint(str(tmp_path))
    text = str(err.value)
    assert str(tmp_path / 'epoch_2.pth') in text and str(tmp_path / 'epoch_1.pth') in text
    assert 'CRC' in text and 'cut short' in text


def test_explicit_resume_from_a_damaged_file_names_it(cls_data, tmp_path):
    from recnext_mm.engine.atomic_io import atomic_torch_save
    damaged = tmp_path / 'epoch_7.pth'
    atomic_torch_save({'state_dict': {'w': torch.ones(1000)}}, str(damaged))
    os.truncate(damaged, os.path.getsize(damaged) // 2)
    with pytest.raises(SystemExit) as err:
        train(cls_config(tmp_path, cls_data), tmp_path / 'work', '--resume', str(damaged))
    assert str(damaged) in str(err.value) and 'cut short' in str(err.value)


def test_runner_resume_checks_the_file_first(tmp_path):
    from recnext_mm.checkpoint import CheckpointError
    from recnext_mm.engine import RecNeXtRunner
    path = tmp_path / 'iter_10.pth'
    path.write_bytes(b'<html>not a checkpoint</html>')
    with pytest.raises(CheckpointError, match='iter_10.pth'):
        RecNeXtRunner.resume(SimpleNamespace(), str(path))


# ----------------------------------------------------------------------------- bad images
@pytest.mark.slow
def test_unreadable_training_images_are_skipped_counted_and_limited(cls_data, tmp_path):
    root = str(tmp_path / 'data')
    shutil.copytree(cls_data, root)
    bad = [osp.join(root, 'train', 'circle', 'circle_0001.JPEG'),
           osp.join(root, 'train', 'square', 'square_0002.JPEG')]
    corrupt(bad[0])
    with open(bad[1], 'wb') as f:
        f.write(b'')  # an empty file
    config = cls_config(tmp_path, root)
    work = tmp_path / 'ok'
    # 2 of 24 images: more than 1%, so the default limit would stop; allow 2 per epoch.
    train(config, work, '--bad-image-limit', '2', '--skip-data-check',
          '--cfg-options', 'train_cfg.max_epochs=2')
    log = _log_text(work)
    for path in bad:
        assert f'Skipped unreadable training image {path}' in log
    assert 'Epoch 1: skipped 2 unreadable training image(s)' in log
    records = open(next(osp.join(r, f) for r, _, fs in os.walk(work) for f in fs
                        if f.startswith('bad_images_rank0'))).read().splitlines()
    assert {r.split('\t')[0] for r in records} == set(bad)  # refetches may hit one again
    assert 'Epoch 2: skipped 2 unreadable training image(s)' in log
    assert log.count(f'Skipped unreadable training image {bad[0]}') == 1  # warned once per run
    # The default limit (1% of 24 images) is passed at the second one: the run stops, listing both.
    with pytest.raises(SystemExit) as err:
        train(config, tmp_path / 'stop', '--skip-data-check',
              '--cfg-options', 'train_cfg.max_epochs=2')
    text = str(err.value)
    assert 'more than the limit (1.00% of the 24 images of an epoch)' in text
    assert all(path in text for path in bad)


@pytest.mark.slow
def test_an_unreadable_validation_image_stops_with_its_name(cls_data, tmp_path):
    root = str(tmp_path / 'data')
    shutil.copytree(cls_data, root)
    bad = osp.join(root, 'val', 'triangle', 'triangle_0001.JPEG')
    corrupt(bad)
    with pytest.raises(SystemExit) as err:
        train(cls_config(tmp_path, root), tmp_path / 'work', '--skip-data-check',
              '--cfg-options', 'train_cfg.max_epochs=2', 'train_cfg.val_interval=1')
    assert f'Cannot read image {bad!r}' in str(err.value)
    assert 'Evaluation and test stop' in str(err.value)


def _dataset(config, split, data_root):
    from mmengine.config import Config
    from mmengine.registry import DATASETS, DefaultScope

    from recnext_mm.builder import import_task, task_of
    cfg = Config.fromfile(config)
    task = task_of(cfg)
    import_task(task)
    ds_cfg = cfg[f'{split}_dataloader'].dataset
    ds_cfg.data_root = data_root
    with DefaultScope.overwrite_default_scope(task):
        return DATASETS.build(ds_cfg)


@pytest.fixture(scope='module')
def coco_data(tmp_path_factory):
    from recnext_mm.toy_data.coco import make_toy_coco
    root = str(tmp_path_factory.mktemp('coco') / 'toy_coco')
    make_toy_coco(root, num_train=6, num_val=3, image_size=64, max_objects=2)
    return root


@pytest.fixture(scope='module')
def ade_data(tmp_path_factory):
    from recnext_mm.toy_data.ade import make_toy_ade
    root = str(tmp_path_factory.mktemp('ade') / 'toy_ade')
    make_toy_ade(root, num_train=4, num_val=2)
    return root


@pytest.mark.parametrize('task', ['mmpretrain', 'mmdet', 'mmseg'])
def test_every_task_skips_in_training_and_stops_in_evaluation(task, cls_data, coco_data, ade_data,
                                                              tmp_path):
    from recnext_mm.engine.bad_images import BadImageError, guard_image_loaders, read_records
    config, source, image_dirs = {
        'mmpretrain': (CLS_CONFIG, cls_data, ('train', 'val')),
        'mmdet': (DET_CONFIG, coco_data, ('train', 'val')),
        'mmseg': (SEG_CONFIG, ade_data, ('images/training', 'images/validation')),
    }[task]
    root = str(tmp_path / 'data')
    shutil.copytree(source, root)
    datasets = {split: _dataset(config, split, root) for split in ('train', 'val')}
    log = str(tmp_path / 'bad_images_rank0.txt')
    # What RecNeXtRunner does to the loaders it builds: skip and record in training, raise in val.
    assert guard_image_loaders(SimpleNamespace(dataset=datasets['train']), log) == 1
    assert guard_image_loaders(SimpleNamespace(dataset=datasets['val']), None) == 1
    for split, folder in zip(('train', 'val'), image_dirs):
        ds = datasets[split]
        index = 1
        bad = ds.get_data_info(index)['img_path']
        assert osp.abspath(bad).startswith(osp.join(root, folder))
        corrupt(bad)
        if split == 'train':
            sample = ds[index]  # mmengine refetches another index
            assert sample['data_samples'].img_path != bad
            assert read_records(log)[0] == [(bad, read_records(log)[0][0][1])]
            assert 'AssertionError' in read_records(log)[0][0][1] or 'Error' in \
                read_records(log)[0][0][1]
        else:
            with pytest.raises(BadImageError, match=f'Cannot read image {bad!r}'):
                ds[index]


def test_bad_image_limit_parsing():
    from recnext_mm.engine.bad_images import allowed_bad_images, parse_limit
    assert parse_limit('1%') == 0.01 and parse_limit('25') == 25 and parse_limit(None) == 0.01
    assert parse_limit(0.05) == 0.05 and parse_limit(3) == 3 and parse_limit('0') == 0
    assert allowed_bad_images(0.01, 480) == pytest.approx(4.8)
    for wrong in ('-1', 'many', 1.5, -2):
        with pytest.raises(ValueError):
            parse_limit(wrong)


# ----------------------------------------------------------------------------- data checks
def _cfg(config, data_root, **options):
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    cfg.merge_from_dict(options)
    return cfg


def _kinds(report, split='train'):
    return {(f.kind, f.ann_id, osp.basename(f.file)) for f in report.findings if f.split == split}


@pytest.fixture
def bad_coco(coco_data, tmp_path):
    """The toy COCO set with one annotation of each bad kind and broken image files."""
    root = str(tmp_path / 'coco')
    shutil.copytree(coco_data, root)
    ann_path = osp.join(root, 'annotations', 'instances_train.json')
    data = json.load(open(ann_path))
    anns = data['annotations']
    assert len(anns) >= 6
    by_id = {img['id']: img['file_name'] for img in data['images']}
    anns[0]['segmentation'] = [[]]                                 # empty polygon
    anns[1]['segmentation'] = [[10.0, 10.0, 20.0, 20.0]]           # two points
    anns[2]['category_id'] = 99                                    # unknown category
    anns[3]['bbox'] = [500.0, 500.0, 10.0, 10.0]                   # outside the 64x64 image
    anns[4]['area'] = 0                                            # zero area
    anns[5]['segmentation'] = []                                   # no mask: KeyError in mmdet
    extra = dict(data['images'][0], id=1000, file_name='no_objects.jpg')
    data['images'].append(extra)                                   # an image without annotations
    shutil.copy(osp.join(root, 'train', data['images'][0]['file_name']),
                osp.join(root, 'train', 'no_objects.jpg'))
    json.dump(data, open(ann_path, 'w'))
    os.remove(osp.join(root, 'train', data['images'][1]['file_name']))   # missing
    truncated = osp.join(root, 'train', data['images'][2]['file_name'])
    os.truncate(truncated, os.path.getsize(truncated) // 2)  # header intact, pixels cut
    names = {a['id']: by_id[a['image_id']] for a in anns[:6]}
    return root, [a['id'] for a in anns[:6]], names, data['images']


def test_coco_check_names_each_bad_annotation_and_image(bad_coco):
    from recnext_mm.data_check import check_config_data
    root, ids, names, images = bad_coco
    report = check_config_data(_cfg(DET_CONFIG, root), splits=('train', ), mode='decode')
    found = _kinds(report)
    expected = [('empty_polygon', ids[0]), ('degenerate_polygon', ids[1]),
                ('unknown_category', ids[2]), ('box_outside', ids[3]), ('zero_area', ids[4]),
                ('no_segmentation', ids[5])]
    for kind, ann_id in expected:
        assert (kind, ann_id, names[ann_id]) in found, (kind, ann_id, sorted(found))
    assert ('no_annotations', None, 'no_objects.jpg') in found
    assert ('missing_image', None, images[1]['file_name']) in found
    assert ('unreadable_image', None, images[2]['file_name']) in found
    degenerate = [f for f in report.findings if f.kind == 'degenerate_polygon']
    assert 'ignored' in degenerate[0].detail and '4 coordinates' in degenerate[0].detail
    assert {f.kind for f in report.errors} == {'unknown_category', 'no_segmentation',
                                               'missing_image', 'unreadable_image'}
    text = report.format()
    assert f'annotation {ids[2]} of {osp.join(root, "train", names[ids[2]])}' in text
    assert report.dropped_annotations('train') == {
        'empty_polygon': 1, 'degenerate_polygon': 1, 'unknown_category': 1, 'box_outside': 1,
        'zero_area': 1, 'no_segmentation': 1}
    # Header-only (the default) does not decode: the truncated JPEG still has a valid header.
    header = check_config_data(_cfg(DET_CONFIG, root), splits=('train', ), mode='header')
    assert ('unreadable_image', None, images[2]['file_name']) not in _kinds(header)


def test_train_precheck_stops_on_what_mmdet_will_drop(bad_coco):
    from recnext_mm.data_check import check_config_data, precheck
    root, _, _, images = bad_coco
    cfg = _cfg(DET_CONFIG, root)
    with pytest.raises(SystemExit, match='--skip-data-check') as err:
        precheck(cfg, ('train', ))  # what tools/train.py runs
    assert f'tools/check_dataset.py {DET_CONFIG} --decode' in str(err.value)
    # What it listed: the check of files and annotations, no image opened.
    report = check_config_data(cfg, splits=('train', ), mode='exists')
    assert report.dropped_annotations('train') == {
        'box_outside': 1, 'degenerate_polygon': 1, 'empty_polygon': 1, 'no_segmentation': 1,
        'unknown_category': 1, 'zero_area': 1}
    images_with_errors = {osp.basename(f.file) for f in report.errors if f.ann_id is None}
    assert images_with_errors == {images[1]['file_name']}  # the missing one, not the truncated one
    # The cheap check (tools/test.py, --skip-data-check) passes: every path exists.
    assert not precheck(cfg, ('train', ), mode='paths').findings


def test_seg_check_finds_bad_label_maps(ade_data, tmp_path):
    from recnext_mm.data_check import check_config_data
    root = str(tmp_path / 'ade')
    shutil.copytree(ade_data, root)
    ann_dir = osp.join(root, 'annotations', 'training')
    labels = sorted(os.listdir(ann_dir))
    out_of_range = cv2.imread(osp.join(ann_dir, labels[0]), cv2.IMREAD_UNCHANGED)
    out_of_range[0, :3] = 9  # 5 classes: raw values 0..5 (and 255) only
    cv2.imwrite(osp.join(ann_dir, labels[0]), out_of_range)
    small = cv2.imread(osp.join(ann_dir, labels[1]), cv2.IMREAD_UNCHANGED)[:-4]
    cv2.imwrite(osp.join(ann_dir, labels[1]), small)
    os.remove(osp.join(ann_dir, labels[2]))
    corrupt(osp.join(ann_dir, labels[3]), keep=30)
    report = check_config_data(_cfg(SEG_CONFIG, root), splits=('train', 'val'))
    found = {(f.kind, osp.basename(f.file)) for f in report.errors}
    assert found == {('label_out_of_range', labels[0]), ('label_size_mismatch', labels[1]),
                     ('missing_label', labels[2]), ('unreadable_label', labels[3])}
    detail = next(f.detail for f in report.errors if f.kind == 'label_out_of_range')
    assert detail.startswith('values [9] in the file')
    assert not [f for f in report.findings if f.split == 'val']


def test_imagenet_check_finds_empty_classes_and_bad_list_labels(cls_data, tmp_path):
    from recnext_mm.data_check import check_config_data
    root = str(tmp_path / 'in')
    shutil.copytree(cls_data, root)
    for name in os.listdir(osp.join(root, 'train', 'cross')):
        os.remove(osp.join(root, 'train', 'cross', name))
    report = check_config_data(_cfg(CLS_CONFIG, root), splits=('train', 'val'), mode='exists')
    assert [(f.split, f.kind, f.file) for f in report.errors] == \
        [('train', 'empty_class', osp.join(root, 'train', 'cross'))]
    with open(osp.join(root, 'meta', 'val.txt'), 'a') as f:
        f.write('circle/circle_0000.JPEG 6\n')  # 6 classes: 0..5
    listed = _cfg(CLS_CONFIG, root, **{'val_dataloader.dataset.ann_file': 'meta/val.txt'})
    report = check_config_data(listed, splits=('val', ), mode='header')
    assert [f.kind for f in report.errors] == ['bad_label']
    assert 'line 13 of' in report.errors[0].detail


@pytest.mark.slow
def test_check_dataset_tool_exit_codes(bad_coco, coco_data, tmp_path):
    tool = osp.join(REPO, 'tools', 'check_dataset.py')

    def check(root, name, *extra):
        out = str(tmp_path / f'{name}.json')
        run = subprocess.run([sys.executable, tool, DET_CONFIG, '--split', 'train', '--json', out,
                              *extra, '--cfg-options',
                              f'train_dataloader.dataset.data_root={root}/'],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
        with open(out) as f:
            return run.returncode, json.load(f), run.stderr[-2000:]

    code, findings, stderr = check(bad_coco[0], 'bad')
    assert code == 1, stderr
    errors = {f['kind'] for f in findings if f['severity'] == 'error'}
    assert {'unknown_category', 'no_segmentation', 'missing_image'} <= errors
    code, findings, stderr = check(coco_data, 'good', '--decode')
    assert code == 0, stderr
    assert not [f for f in findings if f['severity'] == 'error']


@pytest.mark.parametrize('config', [CLS_CONFIG, DET_CONFIG, SEG_CONFIG])
def test_our_configs_choose_the_reliable_runner(config):
    from mmengine.config import Config
    from mmengine.registry import RUNNERS

    from recnext_mm.engine import RecNeXtRunner
    cfg = Config.fromfile(config)
    assert RUNNERS.get(cfg.runner_type) is RecNeXtRunner


@pytest.mark.slow
def test_mmdet_own_train_tool_skips_bad_images_and_saves_atomically(coco_data, tmp_path):
    """mmdet's own tools/train.py with our config: the runner comes from ``runner_type``."""
    import mmdet
    tool = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')
    root = str(tmp_path / 'data')
    shutil.copytree(coco_data, root)
    bad = _dataset(DET_CONFIG, 'train', root).get_data_info(0)['img_path']
    corrupt(bad)
    work = tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, tool, DET_CONFIG, '--work-dir', str(work), '--cfg-options',
         f'train_dataloader.dataset.data_root={root}/', f'val_dataloader.dataset.data_root={root}/',
         f'test_dataloader.dataset.data_root={root}/', 'train_cfg.max_epochs=1',
         f'val_evaluator.ann_file={root}/annotations/instances_val.json',
         f'test_evaluator.ann_file={root}/annotations/instances_val.json',
         'train_cfg.val_interval=100', 'bad_image_limit=2', 'default_hooks.checkpoint.interval=1'],
        cwd=str(tmp_path), env=_env(), capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert f'Skipped unreadable training image {bad}' in _log_text(work)
    assert (work / 'last_checkpoint').read_text().endswith('epoch_1.pth')
    assert 'state_dict' in torch.load(str(work / 'epoch_1.pth'), map_location='cpu',
                                      weights_only=True)
    assert not [f for f in os.listdir(work) if f.endswith('.tmp')]
