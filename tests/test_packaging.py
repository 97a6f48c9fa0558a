"""A wheel install of recnext_mm: package data and the ``recnext_mm::`` config prefix."""
import os
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from utils import REPO

# Runs with no site processing except the install under test, then the environment's packages
# (without their .pth files, so the editable checkout of .venv stays out of the way): what a fresh
# environment with `pip install .` sees.
CHILD = textwrap.dedent('''
    import site, sys
    site.addsitedir(sys.argv[1])        # processes recnext_mm_scope.pth, as site-packages does
    sys.path.append(sys.argv[2])        # torch, mmengine, mmdet ... (their .pth files not needed)
    assert 'recnext_mm' not in sys.modules
    from mmengine.config import Config  # mmengine's own loader, as mmdet's tools/train.py uses it
    cfg = Config.fromfile('my_detector.py')
    import recnext_mm
    from recnext_mm.runner_utils import build_model_from_cfg
    from recnext_mm.reference import release_layout
    model = build_model_from_cfg(cfg)
    print(type(model.backbone).__name__, model.backbone.arch['embed_dims'], cfg.work_dir_note,
          recnext_mm.__file__.startswith(sys.argv[1]), len(release_layout('m3', fused=True)))
''')


@pytest.mark.slow
def test_wheel_install_ships_configs_reference_and_the_config_prefix(tmp_path):
    target = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
                    '--no-build-isolation', '--no-compile', '--target', str(target), REPO],
                   check=True, cwd=tmp_path)
    installed = target / 'recnext_mm'
    assert (installed / '.mim' / 'configs' / 'detection' / 'mask_rcnn_recnext_m3_coco.py').is_file()
    assert (installed / 'reference' / 'fused_state_dict' / 'recnext_b.txt').is_file()
    assert (target / 'recnext_mm_scope.pth').read_text().strip() == 'import recnext_mm_scope'

    user = tmp_path / 'user'
    user.mkdir()
    (user / 'my_detector.py').write_text(textwrap.dedent('''
        _base_ = ['recnext_mm::detection/mask_rcnn_recnext_m3_coco.py']
        work_dir_note = 'inherited'
        model = dict(backbone=dict(arch='a3'))
    '''))
    result = subprocess.run(
        [sys.executable, '-S', '-c', CHILD, str(target), sysconfig.get_paths()['purelib']],
        cwd=user, capture_output=True, text=True, env={**os.environ, 'PYTHONNOUSERSITE': '1'})
    assert result.returncode == 0, result.stderr[-3000:]
    from recnext_mm.reference import release_layout
    expected = ['RecNeXt', '(64,', '128,', '256,', '512)', 'inherited', 'True',
                str(len(release_layout('m3', fused=True)))]
    assert result.stdout.split() == expected, result.stdout
