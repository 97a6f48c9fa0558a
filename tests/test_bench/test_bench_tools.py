"""The measurement and deployment tools: FLOPs/params against the reference, the speed benchmark,
the RecConv scaling study and the ONNX export, each on tiny settings."""
import json
import os.path as osp
from fractions import Fraction

import pytest
import torch

from recnext_bench import benchmark, recconv_scaling
from recnext_bench import flops as get_flops
from recnext_bench import models as model_utils
from recnext_bench.bench_plan import plan as bench_plan
from recnext_bench.bench_report import RESULT_FIELDS
from recnext_mm.backbones.archs import ARCH_SETTINGS
from utils import REPO, reference

ALL_ARCHS = list(ARCH_SETTINGS)
REPRESENTATIVE = ['m0', 'a0', 't', 't_share_channel']  # the smallest of each family


@pytest.fixture(autouse=True)
def _restore_threads():
    """The tools set torch's thread count; give the other tests theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _reference():
    return reference()


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


def test_get_flops_all_reports_mismatches_and_exit_code(tmp_path, monkeypatch):
    ref = _reference()
    counts = _counts('m0')  # before the patch: the counting itself is tested above
    monkeypatch.setattr(get_flops, 'count_variant', lambda arch, *args, **kwargs: counts)
    assert get_flops.check_variant('m0', ref)['mismatches'] == []
    assert get_flops.main(['--all', '--archs', 'm0', '--no-deploy-columns']) == 0
    # A wrong reference figure is reported and fails the run.
    bad = json.loads(json.dumps(ref))
    bad['variants']['m0']['measured_official_impl']['macs_224_fvcore_bn_fused'] += 1
    mismatches = get_flops.check_variant('m0', bad)['mismatches']
    assert len(mismatches) == 1 and 'macs' in mismatches[0].lower()
    path = tmp_path / 'ref.json'
    path.write_text(json.dumps(bad))
    assert get_flops.main(['--all', '--archs', 'm0', '--no-deploy-columns',
                           '--reference', str(path)]) == 1


def test_get_flops_forms_and_models():
    shape = (64, 64)
    train = get_flops.measure('recnext_m0', 'train', shape)
    deploy = get_flops.measure('recnext_m0', 'deploy', shape)
    official = get_flops.measure('recnext_m0', 'official_fused', shape)
    # Our deploy form also folds the BNs after each RecConv: fewer params and MACs than the
    # official-equivalent form, which is smaller than the training form.
    assert deploy['params'] < official['params'] < train['params']
    assert deploy['macs'] < official['macs'] <= train['macs']
    backbone = get_flops.measure('m0', 'deploy', shape)
    assert backbone['kind'] == 'backbone' and 0 < backbone['params'] < deploy['params']
    peer = get_flops.measure('resnet18', 'deploy', shape)
    assert peer['macs'] > 0 and 'conv-bn folded' in peer['notes']
    with pytest.raises(ValueError, match='only defined for RecNeXt'):
        get_flops.measure('resnet18', 'official_fused', shape)
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
def test_benchmark_end_to_end(tmp_path):
    out = tmp_path / 'bench.json'
    status = benchmark.main([
        '--models', 'recnext_m0', 'm0', 'resnet18', '--forms', 'train', 'deploy', 'official_fused',
        '--batch', '1', '2', '--shape', '32', '--threads', '1', '--warmup', '1', '--repeats', '2',
        '--block', '1', '--out-json', str(out)])
    assert status == 0
    data = json.loads(out.read_text())
    assert {'settings', 'environment', 'results', 'ratios'} <= set(data)
    assert data['environment']['torch_threads'] == 1
    rows = data['results']
    # resnet18 has no official form: 3 + 3 + 2 entries, at two batch sizes.
    assert len(rows) == 16
    for r in rows:
        assert set(RESULT_FIELDS) <= set(r), set(RESULT_FIELDS) - set(r)
        assert 'error' not in r
        assert r['n'] >= 2 and len(r['times_ms']) == r['n']
        assert r['min_ms'] <= r['median_ms'] <= r['max_ms']
        assert r['iqr_ms'] >= 0 and r['threads'] == 1 and r['input'] == [32, 32]
        assert r['img_per_s'] == pytest.approx(r['batch'] / r['median_ms'] * 1e3)
        assert r['gmacs'] > 0 and r['ms_per_gmac'] > 0
    forms = {(r['model'], r['form']) for r in rows}
    assert ('resnet18', 'official_fused') not in forms and ('recnext_m0', 'official_fused') in forms
    ratio = next(r for r in data['ratios'] if r['model'] == 'recnext_m0' and r['batch'] == 1)
    assert ratio['train/deploy'] > 0 and ratio['official_fused/deploy'] > 0


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
    pairs = bench_plan([toy, r50], ['train', 'deploy', 'official_fused'], None)
    assert [(spec.name, form, runtime) for spec, form, runtime in pairs] == [
        (toy, 'train', 'eager'), (toy, 'deploy', 'eager'), (toy, 'official_fused', 'eager'),
        (r50, 'train', 'eager')]
    assert pairs[-1][0].task == 'detection'
    assert '[skip] ' + r50 + ' (deploy)' in capsys.readouterr().err
    # ONNX Runtime: deploy forms of classifiers, backbones and peers only.
    pairs = bench_plan(['recnext_m0', 'resnet18', toy], ['train', 'deploy'], None,
                       ['eager', 'onnxruntime'])
    assert [(spec.name, form, runtime) for spec, form, runtime in pairs] == [
        ('recnext_m0', 'train', 'eager'), ('recnext_m0', 'deploy', 'eager'),
        ('recnext_m0', 'deploy', 'onnxruntime'), ('resnet18', 'train', 'eager'),
        ('resnet18', 'deploy', 'eager'), ('resnet18', 'deploy', 'onnxruntime'),
        (toy, 'train', 'eager'), (toy, 'deploy', 'eager')]
    assert '(deploy, onnxruntime)' in capsys.readouterr().err

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
def _need_onnx():
    pytest.importorskip('onnx', reason='onnx not installed (optional extra: pip install -e .[onnx])')
    pytest.importorskip('onnxruntime',
                        reason='onnxruntime not installed (optional extra: pip install -e .[onnx])')
    from recnext_bench import onnx_export
    return onnx_export


@pytest.mark.parametrize('arch,targets', [('m0', ('classifier', 'backbone')),
                                          ('a0', ('classifier',)),
                                          ('t_share_channel', ('backbone',))])
def test_onnx_export_matches_pytorch(arch, targets, tmp_path):
    onnx_export = _need_onnx()
    for target in targets:
        # Exported at one size, checked at two others (odd sizes at the coarse RecConv levels).
        result = onnx_export.export_and_verify(arch, target, str(tmp_path), export_shape=(64, 64),
                                               verify_shapes=[(64, 64), (72, 88)], batch=2)
        assert result['ok'], result['checks']
        assert all(c['max_rel'] <= 1e-4 for c in result['checks'])
        assert osp.isfile(result['path'])
        n_out = 1 if target == 'classifier' else 4
        assert all(len(c['outputs']) == n_out for c in result['checks'])


@pytest.mark.parametrize('arch,shape', [('m0', (64, 64)), ('m0', (72, 88)), ('a0', (64, 64))])
def test_onnx_static_export_is_lean_and_matches_pytorch(arch, shape, tmp_path):
    """The fixed-shape graph the benchmark times: NCHW (no Transpose from channels_last), every
    Resize with constant inputs (integer scales where the upsampling is exactly 2x), no shape
    arithmetic left, outputs equal to PyTorch within 1e-4 through the optimised ORT session."""
    onnx_export = _need_onnx()
    import onnx
    from onnx import numpy_helper
    result = onnx_export.export_and_verify(arch, 'classifier', str(tmp_path), export_shape=shape,
                                           batch=2, dynamic=False)
    assert result['ok'] and result['checks'][0]['shape'] == list(shape)
    assert result['checks'][0]['max_rel'] <= 1e-4
    proto = onnx.load(result['path'])
    ops = onnx_export.graph_summary(proto)
    assert 'BatchNormalization' not in ops and 'Identity' not in ops  # every norm folded
    if arch.startswith('m'):
        # Only the three repeated-input downsamplings (repeat_interleave) keep shape arithmetic
        # (the attention of the A series reshapes tokens; ORT folds those shapes at load).
        assert ops.get('Shape', 0) <= 3 * 3, ops
    consts = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    resizes = [n for n in proto.graph.node if n.op_type == 'Resize']
    assert resizes and all(i in consts for n in resizes for i in n.input[1:] if i)
    with_scales = [n for n in resizes if len(n.input) == 3]
    # 64x64: every level halves an even map, so every upsampling is exactly 2x.
    if shape == (64, 64):
        assert len(with_scales) == len(resizes)
    else:
        assert 0 < len(with_scales) < len(resizes)
    for n in with_scales:
        assert consts[n.input[2]].tolist()[:2] == [1.0, 1.0]
        assert set(consts[n.input[2]].tolist()[2:]) == {2.0}
    with pytest.raises(ValueError, match='fixed input shapes'):
        dynamic = onnx_export.export_and_verify(arch, 'classifier', str(tmp_path / 'dyn'),
                                                export_shape=shape, verify_shapes=[shape])
        onnx_export.lean_resizes(onnx.load(dynamic['path']))


def test_onnx_export_of_peers_and_wrong_opset(tmp_path):
    onnx_export = _need_onnx()
    import timm
    from recnext_bench.ort_runtime import make_session
    model = timm.create_model('resnet18', pretrained=False).eval()
    path = onnx_export.export(model, str(tmp_path / 'r18.onnx'), (64, 64), dynamic=False, batch=1)
    x = torch.randn(1, 3, 64, 64)
    got = make_session(path, threads=1).run(None, {'input': x.numpy()})[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), model(x), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match='opset 10'):
        onnx_export.export(model, str(tmp_path / 'bad.onnx'), (64, 64), opset=10)


def test_ort_session_settings_and_profile(tmp_path):
    onnx_export = _need_onnx()
    import onnxruntime as ort
    from recnext_bench import ort_runtime
    opts = ort_runtime.session_options(threads=2)
    assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert opts.get_session_config_entry('session.intra_op.allow_spinning') == '0'
    with pytest.raises(ValueError, match='optimization'):
        ort_runtime.session_options(optimization='max')
    with pytest.raises(FileNotFoundError, match='not found'):
        ort_runtime.make_session(str(tmp_path / 'missing.onnx'))
    model = onnx_export.build_deploy_model('m0', 'classifier')
    path = onnx_export.export(model, str(tmp_path / 'm0.onnx'), (64, 64), dynamic=False)
    prof = ort_runtime.profile_ops(path, (1, 3, 64, 64), threads=1, runs=3, warmup=1)
    assert prof['ops'] and prof['nodes'] > 10 and prof['kernel_us_per_run'] > 0
    assert sum(r['share'] for r in prof['ops']) == pytest.approx(1.0)
    assert {'Conv', 'Resize'} & {r['op'] for r in prof['ops']}
    assert '| op (optimised graph) |' in ort_runtime.profile_markdown(prof)


def test_ort_profile_interleaves_entries_round_by_round(monkeypatch, tmp_path):
    """Several ONNX files are profiled in one run, one call of each per round (as the timing);
    each profile is read from its own session's trace and drops the warm-up calls."""
    import types

    from recnext_bench import ort_runtime
    calls = []

    def fake_session(path, threads, optimization, profile_prefix):
        events = []
        trace = f'{profile_prefix}.json'

        def run(outputs, feed):
            calls.append(path)
            n = calls.count(path)
            events.append(dict(cat='Session', name='model_run', dur=100 * n))
            events.append(dict(cat='Node', name=f'{path}_conv_kernel_time', dur=10 * n,
                               args=dict(op_name='Conv' if path == 'a.onnx' else 'Resize')))

        def end_profiling():
            with open(trace, 'w', encoding='utf-8') as f:
                json.dump(events, f)
            return trace

        return types.SimpleNamespace(
            get_inputs=lambda: [types.SimpleNamespace(name='input')], run=run,
            end_profiling=end_profiling)

    monkeypatch.setattr(ort_runtime, 'make_session', fake_session)
    profs = ort_runtime.profile_interleaved(
        {'a': ('a.onnx', (1, 3, 8, 8)), 'b': ('b.onnx', (1, 3, 8, 8))}, threads=2, runs=2,
        warmup=1)
    assert calls == ['a.onnx', 'b.onnx'] * 3  # one warm-up round, then two profiled rounds
    assert [r['op'] for r in profs['a']['ops']] == ['Conv']
    assert [r['op'] for r in profs['b']['ops']] == ['Resize']
    assert profs['a']['kernel_us_per_run'] == pytest.approx(25.)  # calls 2 and 3: 20, 30 us
    assert profs['b']['run_us'] == pytest.approx(250.)  # the warm-up call's 100 us is dropped
    assert profs['a']['threads'] == 2 and profs['b']['input'] == [1, 3, 8, 8]


def test_benchmark_onnxruntime_beside_eager(tmp_path):
    _need_onnx()
    out = tmp_path / 'bench.json'
    status = benchmark.main([
        '--models', 'recnext_m0', 'resnet18', '--forms', 'train', 'deploy', '--runtime', 'eager',
        'onnxruntime', '--batch', '1', '2', '--shape', '32', '--threads', '1', '--warmup', '1',
        '--repeats', '2', '--block', '1', '--baseline', 'resnet18', '--onnx-dir',
        str(tmp_path / 'onnx'), '--upsample', 'both', '--ort-profile', '40', '--out-json', str(out)])
    assert status == 0
    data = json.loads(out.read_text())
    rows = data['results']
    ort_rows = [r for r in rows if r['runtime'] == 'onnxruntime']
    # ORT times the deploy forms: 3 entries (M0 in both upsampling forms) x 2 batch sizes, one
    # fixed-shape graph per batch.
    assert len(ort_rows) == 6 and all(r['form'] == 'deploy' for r in ort_rows)
    assert len(rows) == 16
    for r in ort_rows:
        assert r['median_ms'] > 0 and r['threads'] == 1 and r['gmacs'] > 0
        assert r['ms_per_gmac'] == pytest.approx(r['median_ms'] / (r['gmacs'] * r['batch']))
    assert sorted(p.name for p in (tmp_path / 'onnx').iterdir()) == [
        'recnext_m0+tconv_32x32_b1.onnx', 'recnext_m0+tconv_32x32_b2.onnx',
        'recnext_m0_32x32_b1.onnx', 'recnext_m0_32x32_b2.onnx', 'resnet18_32x32_b1.onnx',
        'resnet18_32x32_b2.onnx']
    # each entry's own graph was profiled: transposed convs only in the tconv form's
    ops = {label: {r['op'] for r in prof['ops']} for label, prof in data['ort_profiles'].items()}
    assert set(ops) == {'recnext_m0', 'recnext_m0+tconv', 'resnet18'}
    assert 'ConvTranspose' in ops['recnext_m0+tconv'] and 'ConvTranspose' not in ops['recnext_m0']
    assert {'Resize', 'Upsample'} & ops['recnext_m0']  # ORT's kernel name for some Resizes
    rr = [r for r in data['runtime_ratios'] if r['model'] == 'recnext_m0' and r['batch'] == 1]
    assert len(rr) == 1 and rr[0]['runtime'] == 'onnxruntime' and rr[0]['ratio'] > 0
    base = {(r['runtime'], r['batch']): r for r in data['baseline'] if r['model'] == 'recnext_m0'}
    assert set(base) == {('eager', 1), ('eager', 2), ('onnxruntime', 1), ('onnxruntime', 2)}
    ort_m0 = next(r for r in ort_rows if r['model'] == 'recnext_m0' and r['batch'] == 1)
    ort_r18 = next(r for r in ort_rows if r['model'] == 'resnet18' and r['batch'] == 1)
    assert base['onnxruntime', 1]['per_mac_ratio'] == pytest.approx(
        ort_m0['ms_per_gmac'] / ort_r18['ms_per_gmac'])
    env = data['environment']
    assert env['ort_settings']['allow_spinning'] == 0 and env['ort_settings']['inter_op_num_threads'] == 1
    with pytest.raises(SystemExit):  # the baseline must be a deploy form
        benchmark.main(['--models', 'recnext_m0', '--forms', 'train', '--baseline', 'recnext_m0'])


def test_int8_static_quantization_qdq(tmp_path):
    """QDQ quantization of the deploy form with a calibration reader: the graph holds
    Quantize/DequantizeLinear pairs, runs, and stays close to the float graph."""
    onnx_export = _need_onnx()
    import numpy as np
    import onnx
    from recnext_bench import quantize
    from recnext_bench.ort_runtime import make_session
    model = onnx_export.build_deploy_model('m0', 'classifier')
    fp32 = onnx_export.export(model, str(tmp_path / 'm0.onnx'), (64, 64), dynamic=False)
    gen = np.random.default_rng(0)
    calib = gen.standard_normal((8, 3, 64, 64)).astype(np.float32)
    reader = quantize.ArrayCalibrationReader(calib, 'input', batch=2)
    assert len(reader) == 4 and reader.get_next()['input'].shape == (2, 3, 64, 64)
    int8 = quantize.quantize_qdq(fp32, str(tmp_path / 'm0_int8.onnx'), calib)
    ops = onnx_export.graph_summary(onnx.load(int8))
    assert ops.get('QuantizeLinear', 0) > 10 and ops.get('DequantizeLinear', 0) > 10
    x = calib[:1]
    ref = make_session(fp32, threads=1).run(None, {'input': x})[0].ravel()
    got = make_session(int8, threads=1).run(None, {'input': x})[0].ravel()
    cosine = float(ref @ got / (np.linalg.norm(ref) * np.linalg.norm(got)))
    assert cosine > 0.95, cosine
    labels = np.array([0, 1])
    acc = quantize.top1(make_session(fp32, threads=1), calib[:2], labels)
    assert acc in (0.0, 50.0, 100.0)
    with pytest.raises(ValueError, match='calibration method'):
        quantize.quantize_qdq(fp32, str(tmp_path / 'x.onnx'), calib, method='kl')


# ---------------------------------------------------------------- optional dependencies
def test_missing_optional_module_names_the_extra_to_install(monkeypatch):
    import sys

    from recnext_bench.optional import require, require_or_exit
    assert require('onnx', purpose='ONNX export').__name__ == 'onnx'
    monkeypatch.setitem(sys.modules, 'openvino', None)  # makes `import openvino` fail
    with pytest.raises(ImportError, match=r'The OpenVINO runtime needs openvino: pip install -e '
                                          r'\.\[openvino\]\. Import failed'):
        require('openvino', purpose='The OpenVINO runtime')
    with pytest.raises(SystemExit, match=r'needs openvino: pip install -e \.\[openvino\]'):
        require_or_exit('openvino', purpose='The OpenVINO runtime')
