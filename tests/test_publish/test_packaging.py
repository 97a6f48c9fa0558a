"""A wheel install of recnext_mm: package data, the ``recnext_mm::`` config prefix, what the sdist
and wheel carry (LICENSE, CITATION.cff, metadata), and the model index through mim and mmengine.

The wheel is built from the sdist (so the sdist is complete) and installed into a fresh site folder
once per module."""
import ast
import email
import glob
import os
import os.path as osp
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile

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
    from recnext_mm.builder import build_model_from_cfg
    from recnext_mm.reference import release_layout
    model = build_model_from_cfg(cfg)
    print(type(model.backbone).__name__, model.backbone.arch['embed_dims'], cfg.work_dir_note,
          recnext_mm.__file__.startswith(sys.argv[1]), len(release_layout('m3', fused=True)))
''')


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """``(sdist, wheel, site folder)``: the sdist, the wheel built from it, the wheel installed."""
    root = tmp_path_factory.mktemp('dist')
    # egg_info in the tmp folder: nothing left in the checkout (an egg-info there would shadow
    # the install under test for any process started in the checkout).
    (root / 'egg').mkdir()
    subprocess.run([sys.executable, 'setup.py', '-q', 'egg_info', '--egg-base', str(root / 'egg'),
                    'sdist', '-d', str(root)], cwd=REPO, check=True, capture_output=True)
    sdist = glob.glob(str(root / 'recnext_mm-*.tar.gz'))[0]
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
                    '--no-build-isolation', '-w', str(root), sdist], check=True, cwd=root)
    wheel = glob.glob(str(root / 'recnext_mm-*.whl'))[0]
    target = root / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
                    '--no-compile', '--target', str(target), wheel], check=True, cwd=root)
    return sdist, wheel, target


@pytest.mark.slow
def test_wheel_install_ships_configs_reference_and_the_config_prefix(tmp_path, built):
    target = built[2]
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


@pytest.mark.slow
def test_sdist_and_wheel_carry_license_citation_index_and_metadata(built):
    sdist, wheel, _ = built
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split('/')[0]
        names = {n[len(top) + 1:] for n in tar.getnames()}
        license_text = tar.extractfile(f'{top}/LICENSE').read().decode()
    assert {'LICENSE', 'CITATION.cff', 'model-index.yml', 'configs/detection/metafile.yml',
            'configs/segmentation/README.md', 'tools/train.py', 'tools/dist_test.sh',
            'recnext_mm/templates/model_card.md'} <= names
    assert 'Copyright (c) 2026 recnext-mm authors' in license_text
    with zipfile.ZipFile(wheel) as whl:
        files = set(whl.namelist())
        info = next(n for n in files if n.endswith('.dist-info/METADATA'))
        meta = email.message_from_bytes(whl.read(info))
        citation = whl.read('recnext_mm/CITATION.cff').decode()
        index = whl.read('recnext_mm/.mim/model-index.yml').decode()
    dist_info = info.rsplit('/', 1)[0]
    assert f'{dist_info}/licenses/LICENSE' in files
    assert {'recnext_mm/templates/model_card.md', 'recnext_mm/.mim/tools/train.py',
            'recnext_mm/.mim/tools/test.py', 'recnext_mm/.mim/tools/dist_train.sh',
            'recnext_mm/.mim/tools/dist_test.sh',
            'recnext_mm/.mim/configs/classification/metafile.yml'} <= files
    # The library and, beside it, the checkout's measurement tooling (which imports the library).
    assert {'recnext_mm/complexity.py', 'recnext_bench/__init__.py', 'recnext_bench/benchmark.py',
            'recnext_bench/gpu_check/__init__.py', 'recnext_bench/gpu_check/train_entry.py'} <= files
    assert not [n for n in files if n.startswith('recnext_mm/analysis/')]
    assert index == open(osp.join(REPO, 'model-index.yml')).read()
    assert 'RecConv: Efficient Recursive Convolutions' in citation and '2412.19628' in citation
    assert meta['License'] == 'MIT' and meta['License-File'] == 'LICENSE'
    urls = dict(u.split(', ', 1) for u in meta.get_all('Project-URL'))
    assert urls['Paper'] == 'https://arxiv.org/abs/2412.19628'
    assert urls['Official RecNeXt code'] == 'https://github.com/suous/RecNeXt'
    assert {'mm', 'tests', 'onnx', 'hub', 'mim'} <= set(meta.get_all('Provides-Extra'))
    requires = meta.get_all('Requires-Dist')
    hub_pin = open(osp.join(REPO, 'requirements', 'hub.txt')).read().split()[-1]
    assert f'{hub_pin}; extra == "hub"' in requires
    assert 'openmim==0.3.9; extra == "mim"' in requires


# A fresh environment with the wheel installed: its site folder processed as site-packages is (its
# .pth files run: the recnext_mm:: hook), then the environment's packages without their .pth files
# (so the editable checkout of .venv stays out). Processes that mim starts see the wheel first
# through PYTHONPATH.
PRELUDE = textwrap.dedent('''
    import os, site, sys
    site.addsitedir(os.environ['RECNEXT_TEST_SITE'])
    sys.path.append(os.environ['RECNEXT_TEST_PURELIB'])
''')


def _child(target, code, args=(), cwd=None, timeout=600):
    """Runs ``code`` in that fresh environment, outside the checkout (whose package would
    otherwise come first, from the working folder)."""
    env = dict(os.environ, PYTHONNOUSERSITE='1', RECNEXT_TEST_SITE=str(target),
               RECNEXT_TEST_PURELIB=sysconfig.get_paths()['purelib'],
               PYTHONPATH=os.pathsep.join([str(target), os.environ.get('PYTHONPATH', '')]))
    return subprocess.run([sys.executable, '-S', '-c', PRELUDE + code, *args],
                          cwd=cwd or target.parent, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _index_models():
    import yaml
    out = {}
    for folder in ('classification', 'classification/ablation', 'detection', 'segmentation'):
        with open(osp.join(REPO, 'configs', folder, 'metafile.yml')) as f:
            out.update({m['Name']: m for m in yaml.safe_load(f)['Models']})
    return out


@pytest.mark.slow
def test_mim_search_lists_every_model_offline(built):
    code = textwrap.dedent('''
        import sys
        from mim.cli import cli
        sys.argv = ['mim', 'search', 'recnext_mm', '--valid-config']
        cli()
    ''')
    result = _child(built[2], code)
    assert result.returncode == 0, result.stderr[-3000:]
    listed = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert sorted(listed) == sorted(_index_models())
    code = textwrap.dedent('''
        import json, recnext_mm
        from mim.commands.search import get_model_info
        table = get_model_info('recnext_mm', to_dict=True)
        # pandas fills a missing weight with NaN
        print(json.dumps({k: v['weight'] if isinstance(v.get('weight'), str) else None
                          for k, v in table.items()}))
        print(recnext_mm.__file__)
    ''')
    result = _child(built[2], code)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    weights = __import__('json').loads(lines[-2])
    assert lines[-1].startswith(str(built[2]))  # the wheel's package, not the checkout
    # mim lowercases strings; our release URLs are lowercase already.
    assert weights == {n: m.get('Weights') for n, m in _index_models().items()}


@pytest.mark.slow
def test_get_config_pretrained_returns_the_weights_url(built):
    code = textwrap.dedent('''
        import sys
        from mmengine.hub import get_config
        for name in sys.argv[1:]:
            cfg = get_config('recnext_mm::' + name, pretrained=True)
            print(cfg.model_path)
    ''')
    models = _index_models()
    names = ['classification/recnext_m3_distill_in1k.py', 'classification/recnext_t_in1k.py',
             'detection/mask_rcnn_recnext_a3_coco.py', 'segmentation/fpn_recnext_m5_ade20k.py']
    result = _child(built[2], code, names)
    assert result.returncode == 0, result.stderr[-3000:]
    got = result.stdout.strip().splitlines()[-len(names):]
    expected = [models[osp.splitext(osp.basename(n))[0]]['Weights'] for n in names]
    assert got == expected


@pytest.mark.slow
def test_mim_train_and_test_run_the_toy_classifier(built, tmp_path):
    from recnext_mm.toy_data.imagenet import make_toy_imagenet
    make_toy_imagenet(str(tmp_path / 'data' / 'toy_imagenet'), train_per_class=6, val_per_class=2)
    work = tmp_path / 'work'
    options = ['--cfg-options', 'train_cfg.max_epochs=1', 'train_dataloader.batch_size=12',
               'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
               'test_dataloader.num_workers=0', 'default_hooks.checkpoint.interval=1']
    code = 'import sys; from mim.cli import cli; sys.argv = ["mim", *sys.argv[1:]]; cli()'
    train = _child(built[2], code, ['train', 'recnext_mm', 'recnext_toy_in1k.py', '--work-dir',
                                    str(work), *options], cwd=tmp_path)
    assert train.returncode == 0, (train.stdout + train.stderr)[-4000:]
    assert f'{built[2]}/recnext_mm/.mim/tools/train.py' in train.stdout  # the shipped tool
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    test = _child(built[2], code, ['test', 'recnext_mm', 'recnext_toy_in1k.py', '--checkpoint',
                                   str(ckpt), '--work-dir', str(work / 'test'),
                                   '--cfg-options', 'test_dataloader.num_workers=0'],
                  cwd=tmp_path)
    assert test.returncode == 0, (test.stdout + test.stderr)[-4000:]
    assert f'{built[2]}/recnext_mm/.mim/tools/test.py' in test.stdout
    out = test.stdout + test.stderr
    top1 = float(out.rsplit('accuracy/top1: ', 1)[1].split()[0])
    assert 0.0 <= top1 <= 100.0
