"""Deploy runtimes: the exact transposed-conv upsampling of the M series, OpenVINO fp32/bf16/int8,
and the benchmark's peak, GFLOP/s and latency-versus-top-1 outputs."""
import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from recnext_bench.calibration import calibration_images
from recnext_mm import RecNeXt, to_form
from recnext_mm.backbones.archs import ARCH_SETTINGS
from recnext_mm.backbones.forms import set_transposed_upsampling
from recnext_mm.backbones.layers import RecConv2d
from recnext_mm.backbones.upsample import (BILINEAR_2X_TAPS, bilinear_2x_kernel,
                                           transposed_bilinear_2x, upsample_bilinear)
from utils import randomize_norms, rel_diff

M_ARCHS = [a for a, s in ARCH_SETTINGS.items() if s['family'] == 'recconv']


# ----------------------------------------------------------- transposed-conv upsampling
@pytest.mark.parametrize('shape', [(2, 3, 1, 1), (1, 5, 7, 7), (2, 4, 6, 11), (1, 8, 28, 28)])
def test_transposed_form_equals_bilinear_2x(shape):
    x = torch.randn(*shape)
    kernel = bilinear_2x_kernel(shape[1])
    got = transposed_bilinear_2x(x, kernel)
    want = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
    assert got.shape == want.shape == (*shape[:2], 2 * shape[2], 2 * shape[3])
    assert (got - want).abs().max().item() <= 1e-6 * max(1.0, want.abs().max().item())


def test_kernel_is_the_outer_product_of_the_taps():
    kernel = bilinear_2x_kernel(3, dtype=torch.float64)
    taps = torch.tensor(BILINEAR_2X_TAPS, dtype=torch.float64)
    assert kernel.shape == (3, 1, 4, 4)
    assert torch.equal(kernel[2, 0], torch.outer(taps, taps))
    assert kernel.sum().item() == pytest.approx(3 * 4.0)  # each output phase sums to one
    with pytest.raises(ValueError, match='channels must be >= 1'):
        bilinear_2x_kernel(0)


def test_odd_sizes_keep_interpolation():
    """Only exact doublings take the transposed form: a 7x10 map up to 13x20 interpolates."""
    x = torch.randn(1, 4, 7, 10)
    kernel = bilinear_2x_kernel(4)
    for size in ([13, 20], [14, 19], [14, 20]):
        want = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
        got = upsample_bilinear(x, size, kernel)
        assert got.shape[-2:] == tuple(size)
        assert (got - want).abs().max().item() <= 1e-6


def _train_and_tconv(arch):
    torch.manual_seed(0)
    train = RecNeXt(arch, out_indices=(0, 1, 2, 3))
    randomize_norms(train)
    train.eval()
    deploy = RecNeXt(arch, out_indices=(0, 1, 2, 3))
    deploy.load_state_dict(train.state_dict())
    to_form(deploy, 'deploy', channels_last=False)
    assert set_transposed_upsampling(deploy) == sum(ARCH_SETTINGS[arch]['depths'][i]
                                                   for i in range(4))
    return train, deploy


@pytest.mark.parametrize('arch', M_ARCHS)
def test_deploy_transposed_form_matches_training_form(arch):
    """Every M arch at 224x224 and at a detection-like size: within 1e-5 (relative to each
    output's maximum) of the training form. 200x304 and 112x152 mix exact doublings (the
    transposed form) with odd levels (interpolation) in stage 0; at 225x225 every level is odd.
    The smaller odd size for M1, M2, M4 and M5 keeps the time low."""
    train, deploy = _train_and_tconv(arch)
    sizes = [(224, 224), (200, 304) if arch in ('m0', 'm3') else (112, 152)]
    if arch == 'm0':
        sizes.append((225, 225))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for h, w in sizes:
            x = torch.randn(1, 3, h, w, generator=gen)
            for a, b in zip(train(x), deploy(x)):
                assert a.shape == b.shape
                assert rel_diff(b, a) <= 1e-5, (arch, h, w, rel_diff(b, a))


def test_transposed_form_scripts_traces_and_switches_back():
    _, deploy = _train_and_tconv('m0')
    x = torch.randn(1, 3, 200, 232)
    layer = RecConv2d(8, level=3).eval()
    set_transposed_upsampling(layer)
    with torch.no_grad():
        want = deploy(x)
        traced = torch.fx.symbolic_trace(deploy)
        assert max(rel_diff(a, b) for a, b in zip(traced(x), want)) <= 1e-6
        # the size test runs per call in TorchScript: even and odd sizes through one script
        scripted = torch.jit.script(layer)
        for size in ((32, 48), (25, 33)):
            y = torch.randn(1, 8, *size)
            assert rel_diff(scripted(y), layer(y)) <= 1e-6
        set_transposed_upsampling(deploy, False)
        assert not any(m.transposed_upsample for m in deploy.modules() if isinstance(m, RecConv2d))
        assert max(rel_diff(a, b) for a, b in zip(deploy(x), want)) <= 1e-5


def test_transposed_form_needs_bilinear_and_follows_dtype():
    conv = RecConv2d(4, level=2, mode='nearest')
    with pytest.raises(ValueError, match='exact for bilinear upsampling only'):
        set_transposed_upsampling(conv)
    assert conv.transposed_upsample is False
    conv = RecConv2d(4, level=2).eval()
    set_transposed_upsampling(conv)
    conv = conv.to(torch.bfloat16)
    assert conv.up_kernel.dtype == torch.bfloat16
    assert 'up_kernel' not in conv.state_dict()  # a derived constant, never saved
    x = torch.randn(1, 4, 16, 16, dtype=torch.bfloat16)
    with torch.no_grad():
        assert conv(x).shape == x.shape


# ------------------------------------------------------------------------------ OpenVINO
def _need_openvino():
    pytest.importorskip('openvino', reason='the OpenVINO tests need openvino (.[openvino])')
    from recnext_bench import openvino_runtime
    return openvino_runtime


@pytest.mark.parametrize('arch,target,via', [('m0', 'classifier', 'torch'),
                                             ('a0', 'backbone', 'onnx'),
                                             ('t_share_channel', 'classifier', 'onnx')])
def test_openvino_fp32_matches_pytorch(arch, target, via):
    """fp32 within 1e-4 (relative to each output's maximum) of the PyTorch deploy form, through
    both converters, with the transposed-conv upsampling on where the arch has RecConv."""
    ovr = _need_openvino()
    from recnext_bench.onnx_export import build_deploy_model
    model = build_deploy_model(arch, target)
    set_transposed_upsampling(model, arch.startswith('m'))
    runner = ovr.OpenVinoRunner(model, (96, 128), [1, 2], 'fp32', threads=1, via=via)
    assert set(runner.precisions[1]) <= {'f32', 'i32', 'i64', 'dynamic'}  # nothing ran in bf16
    x = torch.randn(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model(x)
    want = list(want) if isinstance(want, (tuple, list)) else [want]
    got = runner(x)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape)
        assert rel_diff(torch.from_numpy(g.copy()), w) <= 1e-4
    with pytest.raises(ValueError, match='No OpenVINO model compiled for batch 3'):
        runner(torch.randn(3, 3, 96, 128))


def test_openvino_precisions_are_checked_not_assumed(monkeypatch):
    ovr = _need_openvino()
    with pytest.raises(ValueError, match='precision must be one of'):
        ovr.check_precision('fp8')
    monkeypatch.setattr(ovr, 'capabilities', lambda device='CPU': ['FP32', 'INT8'])
    with pytest.raises(ValueError, match='does not list BF16'):
        ovr.check_precision('bf16')
    with pytest.raises(ValueError, match='does not list BF16'):
        ovr.compile_model(None, 'bf16')


def test_openvino_profile_sums_layer_times_by_type_kernel_and_precision(tmp_path):
    """OpenVINO's per-layer counters of a depthwise + dense conv net: every executed layer is
    counted once per run, the shares add up to 1, ``top`` keeps the longest rows, and the kernel
    precision follows the compiled precision."""
    ovr = _need_openvino()
    import numpy as np

    from recnext_bench import openvino_profile as ovp
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.Conv2d(16, 32, 1)).eval()
    model = ovr.convert(net, (32, 32), 1, via='torch')
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    prof = ovp.profile_layers(model, 'fp32', x, threads=1, runs=3, warmup=1)
    assert prof['runs'] == 3 and prof['input'] == [1, 3, 32, 32]
    assert prof['layer_us_per_run'] > 0
    assert sum(r['share'] for r in prof['layers']) == pytest.approx(1.)
    assert sum(prof['by_precision'].values()) == pytest.approx(1.)
    assert sum(prof['by_type'].values()) == pytest.approx(1.)
    assert prof['by_precision'].get('f32', 0.) > 0.5  # fp32: the convolutions ran in f32
    conv_nodes = sum(r['nodes'] for r in prof['layers'] if 'Convolution' in r['type'])
    assert 2 <= conv_nodes <= 3  # the ReLU may fuse into the first conv; every conv is counted once
    times = [r['us_per_run'] for r in prof['layers']]
    assert times == sorted(times, reverse=True)
    top = ovp.profile_layers(model, 'fp32', x, threads=1, runs=2, warmup=0, top=1)
    assert len(top['layers']) == 1 and top['layers'][0]['share'] <= 1.
    # kinds: the grouped 16-channel conv is depthwise, the others dense; times add up
    assert ovp.layer_kind('GroupConvolution', 'brgconv_avx512_dw_f32') == 'depthwise conv'
    assert ovp.layer_kind('GroupConvolution', 'brgconv_avx512_1x1_f32') == 'dense conv / matmul'
    assert ovp.layer_kind('Interpolate', 'jit_avx512_f32') == 'resize'
    assert ovp.layer_kind('SomethingNew', 'ref_f32') == 'other'
    assert set(prof['by_kind']) <= set(ovp.LAYER_KINDS)
    assert prof['by_kind'].get('depthwise conv', 0.) > 0. and prof['by_kind']['dense conv / matmul'] > 0.
    assert sum(prof['by_kind'].values()) == pytest.approx(prof['layer_us_per_run'])
    assert prof['layers_executed'] == sum(r['nodes'] for r in prof['layers'])
    table = ovp.kinds_markdown({'net': prof}).splitlines()
    assert len(table) == 3 and table[2].startswith('| net | ')
    assert '| layer type | kernel |' in ovp.profile_markdown(prof)
    assert 'time by kernel precision: f32' in ovp.profile_markdown(prof)
    if 'BF16' in ovr.capabilities():
        bf16 = ovp.profile_layers(model, 'bf16', x, threads=1, runs=2, warmup=1)
        assert bf16['by_precision'].get('bf16', 0.) > 0.
    with pytest.raises(ValueError, match='runs must be >= 1'):
        ovp.profile_layers(model, 'fp32', x, runs=0)
    assert ovp._kernel_precision('brgconv_avx512_dw_bf16') == 'bf16'
    assert ovp._kernel_precision('jit_avx512_I8') == 'i8'
    assert ovp._kernel_precision('undef') == 'other'
    # the picture: one stacked bar per entry, in ms per GMAC where every entry has its MACs
    bars = ovp.plot_kinds({'net': prof}, str(tmp_path / 'kinds.png'), 'title', {'net': 0.5})
    assert (tmp_path / 'kinds.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert sum(bars['net'].values()) == pytest.approx(prof['layer_us_per_run'] / 1e3 / 0.5)
    assert bars['net']['depthwise conv'] == pytest.approx(prof['by_kind']['depthwise conv'] / 500)
    in_ms = ovp.plot_kinds({'net': prof}, str(tmp_path / 'ms.png'), 'title', {'other': 1.})
    assert sum(in_ms['net'].values()) == pytest.approx(prof['layer_us_per_run'] / 1e3)
    with pytest.raises(ValueError, match='no OpenVINO profile to draw'):
        ovp.plot_kinds({}, str(tmp_path / 'none.png'), 'title')


def test_openvino_profile_interleaves_entries_round_by_round(monkeypatch):
    """Several entries are profiled in one run, one call of each per round (as the timing), and
    each profile holds its own layers: a slow spell of the machine falls on every entry."""
    import datetime
    import types

    import numpy as np

    from recnext_bench import openvino_profile as ovp
    calls = []

    class Info:
        Status = types.SimpleNamespace(EXECUTED='executed', NOT_RUN='not_run')

        def __init__(self, node, kind, us, status='executed'):
            self.node_name, self.node_type, self.exec_type = node, kind, 'jit_avx512_f32'
            self.real_time = datetime.timedelta(microseconds=us)
            self.status = status

    class Request:
        def __init__(self, label):
            self.label = label

        def infer(self, inputs):
            calls.append(self.label)
            # entry b gets slower with every call: its median is that of its own calls
            us = 10 * calls.count(self.label) if self.label == 'b' else 5
            layer = 'GroupConvolution' if self.label == 'a' else 'Interpolate'
            self.profiling_info = [Info(f'{self.label}1', layer, us), Info('skip', 'Reorder', 99,
                                                                           status='not_run')]

    monkeypatch.setattr(ovp, 'compile_model', lambda model, precision, threads, perf_count:
                        types.SimpleNamespace(create_infer_request=lambda: Request(model)))
    x = np.zeros((1, 3, 8, 8), np.float32)
    profs = ovp.profile_interleaved({'a': ('a', 'fp32', x), 'b': ('b', 'bf16', x)}, threads=2,
                                    runs=3, warmup=1)
    assert calls == ['a', 'b'] * 4  # one warmup round, then three profiled rounds
    assert set(profs) == {'a', 'b'}
    assert [r['type'] for r in profs['a']['layers']] == ['GroupConvolution']
    assert [r['type'] for r in profs['b']['layers']] == ['Interpolate']
    assert profs['a']['layer_us_per_run'] == pytest.approx(5.)
    assert profs['b']['layer_us_per_run'] == pytest.approx(30.)  # calls 2, 3, 4: 20, 30, 40 us
    assert profs['b']['precision'] == 'bf16' and profs['a']['threads'] == 2
    assert profs['a']['layers_executed'] == 1  # the layer that did not run is not counted
    with pytest.raises(ValueError, match='runs must be >= 1'):
        ovp.profile_interleaved({'a': ('a', 'fp32', x)}, runs=0)


def test_calibration_images_from_a_folder(tmp_path):
    import cv2
    import numpy as np
    (tmp_path / 'a').mkdir()
    img = np.full((40, 60, 3), (255, 0, 0), np.uint8)  # BGR blue
    cv2.imwrite(str(tmp_path / 'a' / 'x.png'), img)
    cv2.imwrite(str(tmp_path / 'y.jpg'), img)
    arr = calibration_images(str(tmp_path), (32, 32))
    assert arr.shape == (2, 3, 32, 32) and arr.dtype == np.float32
    # RGB order, ImageNet mean / std: blue is channel 2
    assert arr[0, 2].mean() == pytest.approx((255 - 103.53) / 57.375, abs=1e-3)
    assert arr[0, 0].mean() == pytest.approx(-123.675 / 58.395, abs=1e-3)
    toy = calibration_images(None, (32, 32), limit=12)
    assert toy.shape == (12, 3, 32, 32) and np.isfinite(toy).all()
    with pytest.raises(FileNotFoundError, match='no images'):
        calibration_images(str(_empty_dir(tmp_path)), (32, 32))
    with pytest.raises(FileNotFoundError, match='calibration folder not found'):
        calibration_images(str(tmp_path / 'missing'), (32, 32))


def _empty_dir(tmp_path):
    d = tmp_path / 'empty'
    d.mkdir()
    return d


# Tolerances of the reduced precisions on the trained toy classifier (120 validation images):
# bf16 keeps 8 mantissa bits, so logits stay within 5e-2 of their maximum and top-1 moves by at
# most 2.5 points (3 images); int8 (NNCF, 96 calibration images) within 5 points (6 images).
BF16_TOP1_POINTS, INT8_TOP1_POINTS, BF16_LOGIT_REL = 2.5, 5.0, 5e-2


def train_toy_classifier(root, steps=120, seed=0):
    """A RecConv toy classifier trained for ``steps`` AdamW steps on the toy set of
    recnext_mm.toy_data (6 classes, 480 training images, 64 px; one thread, which is the
    fastest setting on a busy 2-core machine). Returns ``(deploy model, val inputs, val labels,
    calibration inputs)``."""
    import numpy as np
    from recnext_mm import RecNeXtClassifier
    from recnext_mm.toy_data.imagenet import TOY_CLASSES, make_toy_imagenet
    make_toy_imagenet(str(root), seed=seed, train_per_class=80, val_per_class=20, size=72)

    def split(name):
        xs = [calibration_images(str(root / name / c), (64, 64), limit=None) for c in TOY_CLASSES]
        return np.concatenate(xs), np.repeat(np.arange(len(TOY_CLASSES)), [len(x) for x in xs])

    x_train, y_train = split('train')
    x_val, y_val = split('val')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        arch = dict(family='recconv', embed_dims=(24, 48, 96, 192), depths=(1, 1, 2, 1),
                    mlp_ratio=2)
        model = RecNeXtClassifier(arch=arch, num_classes=len(TOY_CLASSES))
        opt = torch.optim.AdamW(model.parameters(), lr=8e-3, weight_decay=0.05)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=8e-3, total_steps=steps,
                                                    pct_start=0.1)
        gen = torch.Generator().manual_seed(seed)
        xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
        for step in range(steps):
            idx = torch.randint(0, len(xt), (32,), generator=gen)
            xb = xt[idx].flip(-1) if step % 2 else xt[idx]
            loss = F.cross_entropy(model(xb), yt[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    finally:
        torch.set_num_threads(threads)
    calib = x_train[np.linspace(0, len(x_train) - 1, 96).round().astype(int)]
    return to_form(model, 'deploy', channels_last=False), x_val, y_val, calib


@pytest.mark.slow
def test_openvino_bf16_and_int8_on_the_trained_toy_classifier(tmp_path):
    ovr = _need_openvino()
    pytest.importorskip('nncf')
    precisions = ['fp32', 'int8'] + (['bf16'] if 'BF16' in ovr.capabilities() else [])
    model, x_val, y_val, calib = train_toy_classifier(tmp_path)
    report = ovr.precision_report(model, x_val, y_val, calib, precisions, threads=1)
    print('\n' + ovr.report_markdown(report, len(y_val)))
    assert report['torch']['top1'] >= 50.0  # it learned (chance: 16.7%)
    assert abs(report['fp32']['top1_change']) == 0.0 and report['fp32']['max_rel_diff'] <= 1e-4
    assert abs(report['int8']['top1_change']) <= INT8_TOP1_POINTS
    assert any(k in report['int8']['executed'] for k in ('i8', 'u8'))  # int8 kernels ran
    if 'bf16' in report:
        assert report['bf16']['executed'].get('bf16', 0) > 0
        assert abs(report['bf16']['top1_change']) <= BF16_TOP1_POINTS
        assert report['bf16']['max_rel_diff'] <= BF16_LOGIT_REL
    with pytest.raises(ValueError, match='int8 needs calibration inputs'):
        ovr.precision_report(model, x_val[:2], y_val[:2], None, ['int8'])


# ------------------------------------------------------------------ benchmark integration
@pytest.mark.slow
def test_benchmark_openvino_upsample_peak_and_plot(tmp_path):
    """One tiny run: eager and OpenVINO (fp32 and int8 on the toy set, ONNX converter) in
    the same rounds, both upsampling forms of the M series, GFLOP/s against the GEMM peak, and
    the latency-versus-top-1 PNG of each runtime with the published figures as y."""
    _need_openvino()
    pytest.importorskip('nncf')
    from recnext_bench import benchmark
    from recnext_bench.latency_plot import load_top1
    out, png, kinds_png = tmp_path / 'b.json', tmp_path / 'plot.png', tmp_path / 'kinds.png'
    code = benchmark.main(['--models', 'recnext_m0', 'repvit_m0_9', '--forms', 'deploy',
                           '--runtime', 'eager', 'openvino', '--ov-precision', 'fp32', 'int8',
                           '--ov-via', 'onnx', '--upsample', 'both', '--shape', '64',
                           '--batch', '1', '--repeats', '2', '--warmup', '1', '--block', '1',
                           '--threads', '1', '--peak-size', '128', '--calibration-size', '4',
                           '--ov-profile', '4', '--plot', str(png), '--out-json', str(out),
                           '--profile-plot', str(kinds_png)])
    assert code == 0
    assert kinds_png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'  # where the time goes, drawn
    data = json.loads(out.read_text())
    # OpenVINO's per-layer profile of every openvino entry: at most 4 rows, precisions add up
    assert set(data['ov_profiles']) == {f'{m} openvino-{p}' for p in ('fp32', 'int8')
                                        for m in ('recnext_m0', 'recnext_m0+tconv', 'repvit_m0_9')}
    for key, prof in data['ov_profiles'].items():
        assert 1 <= len(prof['layers']) <= 4
        assert sum(prof['by_precision'].values()) == pytest.approx(1.)
        # by kind covers every layer, not only the 4 rows kept
        assert sum(prof['by_kind'].values()) == pytest.approx(prof['layer_us_per_run'])
    assert data['ov_profiles']['recnext_m0+tconv openvino-fp32']['by_kind']['transposed conv'] > 0
    assert 'transposed conv' not in data['ov_profiles']['recnext_m0 openvino-fp32']['by_kind']
    int8 = data['ov_profiles']['recnext_m0 openvino-int8']['by_precision']
    assert int8.get('i8', 0.) + int8.get('u8', 0.) > 0.  # int8 kernels ran and were timed
    rows = {(r['model'], r['runtime']): r for r in data['results']}
    runtimes = {'eager', 'openvino-fp32', 'openvino-int8'}
    assert {rt for _, rt in rows} == runtimes
    assert {m for m, _ in rows} == {'recnext_m0', 'recnext_m0+tconv', 'repvit_m0_9'}
    assert 'upsampling transposed (14 RecConv)' in rows[('recnext_m0+tconv', 'eager')]['notes']
    assert 'via onnx' in rows[('recnext_m0', 'openvino-fp32')]['notes']
    assert 'i8' in rows[('recnext_m0', 'openvino-int8')]['notes']  # the executed precisions
    peaks = data['environment']['peak_gflops']
    assert set(peaks) == {'fp32', 'int8'} and all(v > 0 for v in peaks.values())
    for r in data['results']:
        assert r['gflops'] == pytest.approx(2 * r['gmacs'] / (r['median_ms'] / 1e3))
        assert r['peak_fraction'] == pytest.approx(r['gflops'] / peaks[r['precision']])
    # the same MACs for both upsampling forms (counted on the interpolation form)
    assert rows[('recnext_m0+tconv', 'eager')]['gmacs'] == rows[('recnext_m0', 'eager')]['gmacs']
    table = {m['model']: m['top1'] for m in load_top1()['models']}
    pngs = data['plots']
    assert len(pngs) == len(runtimes)
    for path, points in pngs.items():
        with open(path, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
        assert {p['model'] for p in points} == {'recnext_m0', 'repvit_m0_9'}
        for p in points:
            assert p['top1'] == table[p['model']]


def test_published_top1_table_has_sources_and_every_series():
    from recnext_bench.latency_plot import load_top1
    from recnext_mm.reference import REFERENCE_JSON
    table = load_top1()
    assert set(table['sources']) == {m['source'] for m in table['models']}
    assert {m['series'] for m in table['models']} == {
        'RecNeXt-M', 'RecNeXt-A', 'RepViT', 'FastViT', 'EfficientFormerV2', 'MobileNetV4'}
    with open(REFERENCE_JSON, encoding='utf-8') as f:
        variants = json.load(f)['variants']
    import timm
    for m in table['models']:
        assert 50 < m['top1'] < 90 and m['eval_size'] in (224, 256)
        if m['source'] == 'recnext':  # the model card's distilled figure, as recorded
            assert m['top1'] == variants[m['model'][len('recnext_'):]]['seed_table']['top1_dist']
        else:
            assert timm.is_model(m['model']) and m['weights'].startswith(m['model'] + '.')


def test_benchmark_rejects_bad_deploy_options(tmp_path, capsys):
    from recnext_bench import benchmark
    from recnext_bench.bench_plan import expand_runtimes
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--models', 'recnext_m0', '--runtime', 'onnxruntime',
                              '--upsample', 'both', '--ort-dynamic'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--models', 'recnext_m0', '--calibration', str(tmp_path / 'none')])
    for flag, runtime in (('--ov-profile', 'openvino'), ('--ort-profile', 'onnxruntime')):
        with pytest.raises(SystemExit):
            benchmark.parse_args(['--models', 'recnext_m0', flag, '5'])
        assert f'{flag} profiles {runtime} entries: add {runtime} to --runtime' \
            in capsys.readouterr().err
        with pytest.raises(SystemExit):
            benchmark.parse_args(['--models', 'recnext_m0', '--runtime', runtime, flag, '-1'])
        assert f'{flag} must be >= 0' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--models', 'recnext_m0', '--runtime', 'openvino', '--profile-plot',
                              str(tmp_path / 'k.png')])
    assert '--profile-plot draws the OpenVINO profile: add --ov-profile N' in capsys.readouterr().err
    from recnext_bench.onnx_export import build_deploy_model, export
    model = build_deploy_model('m0', 'backbone')
    set_transposed_upsampling(model)
    with pytest.raises(ValueError, match='dynamic-axes graph needs the interpolation form'):
        export(model, str(tmp_path / 'x.onnx'), (64, 64), dynamic=True)
    assert expand_runtimes(['eager', 'openvino'], ['fp32', 'bf16'], ['onnx', 'torch']) \
        == ['eager', 'openvino-fp32', 'openvino-bf16', 'openvino-fp32-torch', 'openvino-bf16-torch']
