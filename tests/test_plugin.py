"""A plugin registers; configs choose: ``import recnext_mm`` replaces no function, method or
attribute of another package, and imports none of the downstream task packages."""
import subprocess
import sys
import textwrap

import pytest

IDENTITY = textwrap.dedent('''
    import importlib, json, pkgutil, sys, warnings
    warnings.simplefilter('ignore')
    PACKAGES = ('mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmpretrain')

    def load_all(name):  # every submodule that imports cleanly
        try:
            module = importlib.import_module(name)
        except Exception:
            return
        for info in pkgutil.iter_modules(getattr(module, '__path__', []) or []):
            if info.name not in ('tests', 'configs', '.mim'):
                load_all(f'{name}.{info.name}')

    for name in PACKAGES:
        load_all(name)

    def attributes(obj):
        try:
            return dict(vars(obj))
        except TypeError:
            return {}

    def snapshot():
        seen = {}
        for mod_name, module in list(sys.modules.items()):
            if module is None or mod_name.split('.')[0] not in PACKAGES:
                continue
            for attr, value in attributes(module).items():
                seen[(mod_name, attr)] = value
                if isinstance(value, type) and value.__module__ == mod_name:
                    for member, inner in attributes(value).items():  # methods of its classes
                        seen[(mod_name, f'{attr}.{member}')] = inner
        return seen

    before = snapshot()
    import recnext_mm, recnext_mm.classification, recnext_mm.seg_transforms  # noqa: F401
    after = snapshot()
    changed = sorted(f'{m}:{a}' for (m, a), v in before.items()
                     if (m, a) in after and after[(m, a)] is not v)
    print(json.dumps(dict(checked=len(before), changed=changed)))
''')


@pytest.mark.slow
def test_import_replaces_nothing_of_the_mm_packages():
    proc = subprocess.run([sys.executable, '-c', IDENTITY], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['checked'] > 10000  # the walk reached the packages' modules and classes
    assert result['changed'] == []


def test_import_loads_no_downstream_task_package():
    code = ('import sys, recnext_mm\n'
            'print(sorted(m for m in ("mmdet", "mmseg", "mmpretrain") if m in sys.modules))')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == '[]'


def test_the_training_pieces_are_registered_not_installed():
    from mmengine.registry import HOOKS, OPTIM_WRAPPERS, PARAM_SCHEDULERS, RUNNERS
    from mmengine.runner import Runner

    import recnext_mm.engine as engine
    assert RUNNERS.get('RecNeXtRunner') is engine.RecNeXtRunner
    assert issubclass(engine.RecNeXtRunner, Runner) and engine.RecNeXtRunner is not Runner
    assert HOOKS.get('AtomicCheckpointHook') is engine.AtomicCheckpointHook
    assert HOOKS.get('ModelEMAHook') is engine.ModelEMAHook
    assert OPTIM_WRAPPERS.get('AmpAGCOptimWrapper') is engine.AmpAGCOptimWrapper
    assert PARAM_SCHEDULERS.get('TimmCosineLR') is engine.TimmCosineLR
    # mmengine's own classes keep their own behaviour
    assert Runner.save_checkpoint.__module__ == 'mmengine.runner.runner'
    assert HOOKS.get('CheckpointHook').__module__ == 'mmengine.hooks.checkpoint_hook'
