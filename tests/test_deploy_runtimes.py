"""Deploy runtimes: the exact transposed-conv upsampling of the M series, OpenVINO fp32/bf16/int8,
and the benchmark's peak, GFLOP/s and latency-versus-top-1 outputs."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from recnext_mm import RecNeXt
from recnext_mm.backbones.layers import RecConv2d
from recnext_mm.backbones.recnext import ARCH_SETTINGS
from recnext_mm.backbones.upsample import (BILINEAR_2X_TAPS, bilinear_2x_kernel,
                                           set_transposed_upsampling, transposed_bilinear_2x,
                                           upsample_bilinear)
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
    deploy.eval().switch_to_deploy(channels_last=False)
    assert set_transposed_upsampling(deploy) == sum(ARCH_SETTINGS[arch]['depths'][i]
                                                   for i in range(4))
    return train, deploy


@pytest.mark.parametrize('arch', M_ARCHS)
def test_deploy_transposed_form_matches_training_form(arch):
    """Every M arch at 224x224 and at a detection-like odd size: within 1e-5 (relative to each
    output's maximum) of the training form; the large archs at smaller sizes keep the time low."""
    train, deploy = _train_and_tconv(arch)
    sizes = [(224, 224), (200, 304)] if arch in ('m0', 'm1', 'm2', 'm3') else [(224, 224)]
    sizes.append((225, 225) if arch in ('m0', 'm3') else (97, 129))
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
