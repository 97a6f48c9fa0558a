"""The measurement and deployment tools: FLOPs/params against the reference, the speed benchmark,
the RecConv scaling study and the ONNX export, each on tiny settings."""
import importlib
import json
import os.path as osp
import sys
from fractions import Fraction

import pytest
import torch

from utils import REPO, reference

sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
sys.path.insert(0, osp.join(REPO, 'tools', 'deployment'))

get_flops = importlib.import_module('get_flops')
benchmark = importlib.import_module('benchmark')
recconv_scaling = importlib.import_module('recconv_scaling')
export_onnx = importlib.import_module('export_onnx')
model_utils = importlib.import_module('model_utils')

ALL_ARCHS = list(model_utils.ARCH_SETTINGS)
REPRESENTATIVE = ['m0', 'a0', 't', 't_share_channel']  # the smallest of each family


@pytest.fixture(autouse=True)
def _restore_threads():
    """The tools set torch's thread count; give the other tests theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _reference():
    ref = reference()
    if ref is None:
        pytest.skip('../shared/reference/recnext_reference.json is not available')
    return ref


# ---------------------------------------------------------------- get_flops
_COUNTS = {}


def _counts(arch):
    """``get_flops.count_variant`` (the slow part: fvcore at 224), once per arch and session."""
    if arch not in _COUNTS:
        _COUNTS[arch] = get_flops.count_variant(arch, with_deploy=False)
    return _COUNTS[arch]


def _assert_reproduces_reference(arch):
    ref = _reference()
    row = get_flops.compare_variant(_counts(arch), ref)
    measured = ref['variants'][arch]['measured_official_impl']
    assert row['mismatches'] == []
    assert row['params_train'] == measured['params_with_1000cls_head_train_form']
    assert row['params_fused'] == measured['params_with_1000cls_head_bn_fused']
    assert row['macs_fused'] == measured['macs_224_fvcore_bn_fused']


@pytest.mark.parametrize('arch', REPRESENTATIVE)
def test_get_flops_reproduces_reference(arch):
    _assert_reproduces_reference(arch)


@pytest.mark.slow
@pytest.mark.parametrize('arch', [a for a in ALL_ARCHS if a not in REPRESENTATIVE])
def test_get_flops_reproduces_reference_all(arch):
    _assert_reproduces_reference(arch)


def test_get_flops_all_table_and_exit_code(capsys, tmp_path, monkeypatch):
    ref = _reference()
    monkeypatch.setattr(get_flops, 'count_variant', lambda arch, *args: _counts(arch))
    assert get_flops.main(['--all', '--archs', 'm0', '--no-deploy-columns']) == 0
    out = capsys.readouterr().out
    assert '| m0 |' in out and '1/1 variants reproduce' in out
    # A wrong reference figure is reported and fails the run.
    bad = json.loads(json.dumps(ref))
    bad['variants']['m0']['measured_official_impl']['macs_224_fvcore_bn_fused'] += 1
    path = tmp_path / 'ref.json'
    path.write_text(json.dumps(bad))
    assert get_flops.main(['--all', '--archs', 'm0', '--no-deploy-columns',
                           '--reference', str(path)]) == 1
    assert 'MISMATCH' in capsys.readouterr().out


def test_get_flops_forms_and_models():
    shape = (64, 64)
    train = get_flops.measure('recnext_m0', 'train', shape)
    deploy = get_flops.measure('recnext_m0', 'deploy', shape)
    official = get_flops.measure('recnext_m0', 'official', shape)
    # Our deploy form also folds the BNs after each RecConv: fewer params and MACs than the
    # official-equivalent form, which is smaller than the training form.
    assert deploy['params'] < official['params'] < train['params']
    assert deploy['macs'] < official['macs'] <= train['macs']
    backbone = get_flops.measure('m0', 'deploy', shape)
    assert backbone['kind'] == 'backbone' and 0 < backbone['params'] < deploy['params']
    peer = get_flops.measure('resnet18', 'deploy', shape)
    assert peer['macs'] > 0 and 'conv-bn folded' in peer['notes']
    with pytest.raises(ValueError, match='only defined for RecNeXt'):
        get_flops.measure('resnet18', 'official', shape)
    with pytest.raises(ValueError, match='Unknown model'):
        get_flops.measure('no_such_model_xyz', 'train', shape)


def _config(*parts):
    path = osp.join(REPO, 'configs', *parts)
    if not osp.exists(path):
        pytest.skip(f'{path} not present')
    return path


def test_get_flops_segmentation_config():
    pytest.importorskip('mmseg')
    config = _config('segmentation', 'fpn_recnext_toy_ade.py')  # m0 backbone, narrow head
    full = get_flops.measure(config, 'deploy', (64, 64), scope='full')
    backbone = get_flops.measure(config, 'deploy', (64, 64), scope='backbone')
    assert full['kind'] == 'config' and full['input'] == [64, 64]
    assert full['macs'] > backbone['macs'] > 0
    assert full['params'] == backbone['params']


def test_peer_conv_bn_folding_is_exact():
    import timm
    model = timm.create_model('resnet18', pretrained=False).eval()
    for m in model.modules():  # non-trivial statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        folded, count = model_utils.fold_conv_bn(model)
        assert count == 20
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        torch.testing.assert_close(folded(x), expected, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- benchmark
def test_benchmark_end_to_end(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    status = benchmark.main([
        '--models', 'recnext_m0', 'm0', 'resnet18', '--forms', 'train', 'deploy', 'official',
        '--batch', '1', '2', '--shape', '32', '--threads', '1', '--warmup', '1', '--repeats', '2',
        '--block', '1', '--out-json', str(out)])
    assert status == 0
    text = capsys.readouterr().out
    assert '| model | form | input | batch | threads | median ms |' in text
    assert 'train/deploy' in text
    data = json.loads(out.read_text())
    assert {'settings', 'environment', 'results', 'ratios'} <= set(data)
    assert data['environment']['torch_threads'] == 1
    rows = data['results']
    # resnet18 has no official form: 3 + 3 + 2 entries, at two batch sizes.
    assert len(rows) == 16
    for r in rows:
        assert set(benchmark.RESULT_FIELDS) <= set(r), set(benchmark.RESULT_FIELDS) - set(r)
        assert 'error' not in r
        assert r['n'] >= 2 and len(r['times_ms']) == r['n']
        assert r['min_ms'] <= r['median_ms'] <= r['max_ms']
        assert r['iqr_ms'] >= 0 and r['threads'] == 1 and r['input'] == [32, 32]
        assert r['img_per_s'] == pytest.approx(r['batch'] / r['median_ms'] * 1e3)
        assert r['gmacs'] > 0 and r['ms_per_gmac'] > 0
    forms = {(r['model'], r['form']) for r in rows}
    assert ('resnet18', 'official') not in forms and ('recnext_m0', 'official') in forms
    ratio = next(r for r in data['ratios'] if r['model'] == 'recnext_m0' and r['batch'] == 1)
    assert ratio['train/deploy'] > 0 and ratio['official/deploy'] > 0


def test_benchmark_options_tiny(tmp_path):
    out = tmp_path / 'bench.json'
    status = benchmark.main([
        '--models', 'recnext_a0', '--forms', 'deploy', '--batch', '1', '--shape', '32',
        '--threads', '1', '--warmup', '1', '--repeats', '1', '--block', '1', '--channels-last',
        '--bf16', '--no-macs', '--interleave', 'none', '--out-json', str(out)])
    assert status == 0
    row = json.loads(out.read_text())['results'][0]
    assert row['dtype'] == 'bf16-autocast' and row['channels_last'] and row['gmacs'] is None
    with pytest.raises(SystemExit):
        benchmark.main(['--models', 'recnext_m0', '--batch', '0'])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match='no CUDA device'):
            benchmark.main(['--models', 'recnext_m0', '--device', 'cuda'])


def test_benchmark_detector_config(tmp_path):
    pytest.importorskip('mmdet')
    config = _config('detection', 'mask_rcnn_recnext_toy_coco.py')
    out = tmp_path / 'bench.json'
    # Full inference (RPN, RoI heads, post-processing) on a tiny image, train and deploy form.
    assert benchmark.main(['--models', config, '--forms', 'train', 'deploy', '--batch', '1',
                           '--shape', '64', '--threads', '1', '--warmup', '1', '--repeats', '1',
                           '--block', '1', '--no-macs', '--out-json', str(out)]) == 0
    rows = json.loads(out.read_text())['results']
    assert [r['form'] for r in rows] == ['train', 'deploy']
    assert all(r['kind'] == 'config' and r['median_ms'] > 0 for r in rows)



def test_benchmark_plan_times_other_backbones_in_train_form_only(capsys):
    pytest.importorskip('mmdet')
    toy = _config('detection', 'mask_rcnn_recnext_toy_coco.py')
    r50 = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'  # resolved to mmdet's installed config
    pairs = benchmark.plan([toy, r50], ['train', 'deploy', 'official'], None)
    assert [(spec.name, form) for spec, form in pairs] == [
        (toy, 'train'), (toy, 'deploy'), (toy, 'official'), (r50, 'train')]
    assert pairs[-1][0].task == 'detection'
    assert '[skip] ' + r50 + ' (deploy)' in capsys.readouterr().err

# ---------------------------------------------------------------- RecConv scaling
def test_recconv_scaling_claims_tiny(tmp_path):
    channels, kernel, size = 4, 3, (16, 16)
    rows = recconv_scaling.study(channels, size, kernel, levels=(0, 1, 2, 3, 4), warmup=0,
                                 repeats=1)
    base = channels * kernel * kernel
    assert rows[0]['params_used'] == base and rows[0]['params_claim_holds'] is None
    for r in rows[1:]:
        level = r['level']
        # "l + 2 times": exact for levels 1..4.
        assert r['params_used'] == r['params_registered'] == (level + 2) * base
        assert r['params_claim_holds'] is True
        # 16 is divisible by 2**4: the convolutions cost exactly 1 + 2 * sum 4**-i of the base.
        expected = 1 + 2 * sum(Fraction(1, 4**i) for i in range(1, level + 1))
        assert r['macs_conv_ratio'] == pytest.approx(float(expected))
        assert r['flops_claim_holds'] is True
        assert r['erf'] == kernel * 2**level and r['dw_params'] == channels * r['erf']**2
        assert r['dw_macs'] == channels * r['erf']**2 * size[0] * size[1]
        assert r['recconv_ms'] > 0 and r['dw_ms'] > 0
    text = recconv_scaling.markdown(rows, channels, size, kernel)
    assert 'HOLDS' in text and 'FAILS' not in text
    pytest.importorskip('matplotlib')
    png = tmp_path / 'scaling.png'
    assert recconv_scaling.main(['--channels', '4', '--size', '16', '--kernel', '3', '--repeats',
                                 '1', '--warmup', '0', '--out-png', str(png), '--out-json',
                                 str(tmp_path / 'scaling.json')]) == 0
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


# ---------------------------------------------------------------- ONNX
@pytest.mark.parametrize('arch,targets', [('m0', ('classifier', 'backbone')),
                                          ('a0', ('classifier',)),
                                          ('t_share_channel', ('backbone',))])
def test_onnx_export_matches_pytorch(arch, targets, tmp_path):
    pytest.importorskip('onnx', reason='onnx not installed (optional extra: pip install -e .[onnx])')
    pytest.importorskip('onnxruntime',
                        reason='onnxruntime not installed (optional extra: pip install -e .[onnx])')
    for target in targets:
        # Exported at one size, checked at two others (odd sizes at the coarse RecConv levels).
        result = export_onnx.export_and_verify(arch, target, str(tmp_path), export_shape=(64, 64),
                                               verify_shapes=[(64, 64), (72, 88)], batch=2)
        assert result['ok'], result['checks']
        assert all(c['max_rel'] <= 1e-4 for c in result['checks'])
        assert osp.isfile(result['path'])
        n_out = 1 if target == 'classifier' else 4
        assert all(len(c['outputs']) == n_out for c in result['checks'])
