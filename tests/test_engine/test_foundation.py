"""The installed stack: downstream base configs and Runner checkpoints on torch 2.14."""
import os
import pickletools
import subprocess
import sys
import textwrap
import zipfile

import pytest
import torch

import recnext_mm  # noqa: F401  (weights-only loading of Runner checkpoints)

from utils import REPO

TESTS = os.path.join(REPO, 'tests')


@pytest.mark.parametrize('base', [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmseg::_base_/models/fpn_r50.py',
    'mmpretrain::_base_/models/resnet18.py',
])
def test_downstream_base_configs_resolve(tmp_path, base):
    from mmengine.config import Config
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(f"_base_ = ['{base}']\nmodel = dict(backbone=dict(_delete_=True, "
                        f"type='RecNeXt', arch='m0'))\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.backbone.type == 'RecNeXt' and 'type' in cfg.model


RUNNER_SCRIPT = textwrap.dedent('''
    import sys
    from mmengine.config import Config
    from mmengine.registry import RUNNERS
    work_dir, mode = sys.argv[1], sys.argv[2]  # full | interrupt | resume
    cfg = Config(dict(
        runner_type="RecNeXtRunner",  # its checkpoints resume under weights-only torch.load
        custom_imports=dict(imports=["recnext_mm", "runner_toy"], allow_failed_imports=False),
        model=dict(type="ToyRegressor"),
        work_dir=work_dir,
        train_dataloader=dict(dataset=dict(type="ToyPairs"), batch_size=4, num_workers=0,
                              sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="AdamW", lr=0.01)),
        param_scheduler=[dict(type="MultiStepLR", milestones=[1], gamma=0.5, by_epoch=True)],
        train_cfg=dict(by_epoch=True, max_epochs=2),
        custom_hooks=[dict(type="InterruptAfterEpoch", epoch=1)] if mode == "interrupt" else [],
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1)),
        randomness=dict(seed=0, deterministic=True),
        resume=mode == "resume",
    ))
    # Config(dict) does not run custom_imports by itself; Config.fromfile does.
    from mmengine.utils import import_modules_from_strings
    import_modules_from_strings(**cfg.custom_imports)
    RUNNERS.build(cfg).train()
''')


def _run(script, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([TESTS, REPO, os.environ.get('PYTHONPATH', '')]))
    subprocess.run([sys.executable, str(script), *map(str, args)], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def test_runner_resume_matches_uninterrupted_run(tmp_path):
    script = tmp_path / 'run.py'
    script.write_text(RUNNER_SCRIPT)
    _run(script, tmp_path / 'full', 'full')
    _run(script, tmp_path / 'split', 'interrupt')
    assert not (tmp_path / 'split' / 'epoch_2.pth').exists()
    _run(script, tmp_path / 'split', 'resume')

    full = torch.load(tmp_path / 'full' / 'epoch_2.pth', weights_only=True)
    resumed = torch.load(tmp_path / 'split' / 'epoch_2.pth', weights_only=True)
    assert resumed['meta']['epoch'] == 2
    assert full['state_dict'].keys() == resumed['state_dict'].keys()
    for key, value in full['state_dict'].items():
        assert torch.equal(value, resumed['state_dict'][key]), key
    # The saved checkpoints are data only: no general builtin is needed to read them.
    with zipfile.ZipFile(tmp_path / 'split' / 'epoch_2.pth') as archive:
        pickle_bytes = archive.read(next(n for n in archive.namelist() if n.endswith('data.pkl')))
    globals_used = {str(arg) for op, arg, _ in pickletools.genops(pickle_bytes)
                    if op.name == 'GLOBAL'}
    assert not any('getattr' in g for g in globals_used), globals_used


def test_weights_only_protection_is_kept(tmp_path):
    import pickle

    from mmengine.runner import load_checkpoint

    class Payload:

        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / 'payload.pth'
    torch.save({'state_dict': {}, 'meta': Payload()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(torch.nn.Linear(1, 1), str(path))
    assert getattr not in recnext_mm.safe_load.SAFE_GLOBALS
