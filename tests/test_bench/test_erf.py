"""The ERF tool (recnext_bench.erf, tools/analysis_tools/visualize_erf.py) and the receptive
field the RecConv structure implies."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from recnext_bench import erf
from recnext_mm.backbones.layers import build_token_mixer
from utils import REPO


# ------------------------------------------------------- the support the structure implies
# 1-d index intervals [lo, hi] of the pixels one output pixel depends on, layer by layer (odd
# kernel k, padding r = k // 2, maps large enough that no border clips):
def conv(iv, r):  # stride-1 conv: every tap within r
    return iv[0] - r, iv[1] + r


def down(iv, r):  # stride-2 conv: output i reads 2i - r .. 2i + r of the finer level
    return 2 * iv[0] - r, 2 * iv[1] + r


def up(iv, mode, r=0, k=0):
    """The coarse indices an exact 2x upsampling reads for the fine indices ``iv``."""
    lo, hi = iv
    if mode == 'bilinear':  # half-pixel centres: 2i reads i - 1, i; 2i + 1 reads i, i + 1
        return (lo - 1) // 2, (hi - 1) // 2 + 1
    if mode == 'nearest':  # o reads o // 2
        return lo // 2, hi // 2
    # transposed conv, kernel k + 1, stride 2, padding r: o = 2i - r + t for t in 0..k
    return -((k - lo - r) // 2), (hi + r) // 2


def recconv_support(p, k, level, mode):
    """Intervals of the input pixels the output pixel ``p`` depends on, one per path: the
    output conv reads ``x + a0`` (path 0: ``x``); ``a_j`` is the upsampled output of the conv
    of level ``j + 1``, which reads ``f_{j+1} + a_{j+1}``; ``f_j`` is ``x`` halved ``j`` times by
    the stride-2 conv (path ``j``), and the coarsest level reads ``f_level`` only."""
    r = k // 2
    levels = [conv((p, p), r)]  # what each level's input is read at, finest first
    for _ in range(level):
        levels.append(conv(up(levels[-1], mode, r, k), r))
    paths = []
    for depth, iv in enumerate(levels):
        for _ in range(depth):
            iv = down(iv, r)
        paths.append(iv)
    return paths


@pytest.mark.parametrize('kernel, level, mode', [
    (3, 1, 'bilinear'), (5, 2, 'bilinear'), (7, 3, 'bilinear'), (3, 4, 'bilinear'),
    (5, 3, 'nearest'), (3, 2, 'convtranspose'), (7, 3, 'convtranspose'),
])
def test_recconv_gradient_support_is_what_its_structure_implies(kernel, level, mode):
    torch.manual_seed(0)
    n = 2**level * (3 * kernel + 8)  # every level halves evenly; the support stays inside
    mixer = build_token_mixer(2, kernel, level, upsample=mode).double()
    x = torch.randn(1, 2, n, n, dtype=torch.double, requires_grad=True)
    p = n // 2
    mixer(x)[0, :, p, p].sum().backward()
    got = x.grad[0].abs().sum(0) > 0
    expected = torch.zeros(n, n, dtype=torch.bool)
    for lo, hi in recconv_support(p, kernel, level, mode):
        assert 0 < lo and hi < n - 1  # nothing clipped by the borders
        expected[lo:hi + 1, lo:hi + 1] = True
    assert torch.equal(got, expected)
    # The deepest path dominates: one square of side about k * 2**level (the card's claim),
    # plus the taps of the convs on the way up and down.
    lo, hi = recconv_support(p, kernel, level, mode)[-1]
    side = int(got.any(0).sum())
    assert side == hi - lo + 1 >= kernel * 2**level


# ---------------------------------------------------------------------------- the ERF itself
TWO_STAGES = dict(family='recconv', embed_dims=(16, 32), depths=(2, 2), mlp_ratio=2, levels=(3, 2))


def _areas(arch, seed=0):
    backbone = erf.build_backbone(json.dumps(arch), seed=seed)
    names, images = erf.toy_images(3, 128, seed)
    return erf.high_contribution_areas(erf.erf_map(backbone, images, progress=False))


def test_recconv_erf_area_exceeds_a_plain_depthwise_conv_of_equal_depth():
    rec = _areas(dict(TWO_STAGES, kernel_sizes=5))
    plain = _areas(dict(TWO_STAGES, token_mixers='dwconv', kernel_sizes=5))
    assert all(rec[t][1] >= plain[t][1] for t in erf.THRESHOLDS)
    assert rec[0.99][1] > 2 * plain[0.99][1]  # measured 0.75 against 0.24 (random weights)


def test_high_contribution_areas_of_known_maps():
    point = np.zeros((21, 31))
    point[10, 15] = 5.0
    assert erf.high_contribution_areas(point) == {t: (1, 1 / (21 * 31)) for t in erf.THRESHOLDS}
    flat = np.ones((11, 11))  # a uniform map: t of the total needs t of the area (odd sides)
    areas = erf.high_contribution_areas(flat)
    assert areas[0.2] == (5, 25 / 121) and areas[0.5] == (9, 81 / 121) and areas[0.99] == (
        11, 1.0)
    assert erf.normalized(np.array([[0., 9., 99.]])).tolist() == [[0., 0.5, 1.]]


def test_heatmap_display_scales():
    data = np.array([[1e-6, 1e-2, 1.0, 0.0]])
    assert np.allclose(erf.display_map(data, 'log'), [[0.0, 0.5, 1.0, 0.0]])  # log10 from 1e-4
    assert np.allclose(erf.display_map(data), erf.normalized(data))
    with pytest.raises(ValueError, match="display must be 'replknet' or 'log'"):
        erf.display_map(data, 'linear')


def test_input_gradient_is_the_relu_of_the_central_pixels_gradient():
    class Shift(torch.nn.Module):  # output pixel (i, j) = -2 * x[:, 0, i, j + 1]
        def forward(self, x):
            return (-2 * x[:, :1, :, 1:],)

    x = torch.randn(2, 3, 9, 9)
    g = erf.input_gradient(Shift(), x)
    # relu(out) at the centre (4, 4) of the 9x8 output reads x[:, 0, 4, 5]; the gradient there is
    # -2 where that output is positive, relu'd to 0: the map is all zeros
    assert g.shape == (9, 9) and float(g.abs().sum()) == 0.0

    class Identity(torch.nn.Module):
        def forward(self, x):
            return (x,)

    x = torch.rand(2, 3, 9, 9) + 0.1
    g = erf.input_gradient(Identity(), x)
    expected = torch.zeros(9, 9)
    expected[4, 4] = 6.0  # 2 images x 3 channels
    assert torch.equal(g, expected)
    with pytest.raises(ValueError, match=r'--stage 1 is out of range: the backbone returns 1 '
                                         r'stage outputs \(valid: -1..0\)'):
        erf.input_gradient(Identity(), x, stage=1)


# ---------------------------------------------------------------------------------- the tool
def test_tool_writes_the_heatmap_and_areas(tmp_path):
    out, report = tmp_path / 'erf.png', tmp_path / 'erf.json'
    arch = json.dumps(dict(TWO_STAGES, kernel_sizes=3))
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'analysis_tools', 'visualize_erf.py'), arch,
         '--toy', '2', '--size', '64', '--out', str(out), '--json', str(report), '--display',
         'log'],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    areas = json.loads(report.read_text())['areas']
    assert sorted(map(float, areas)) == list(erf.THRESHOLDS)
    ratios = [areas[str(t)]['ratio'] for t in erf.THRESHOLDS]
    assert ratios == sorted(ratios) and 0 < ratios[0] and ratios[-1] <= 1
    assert '2/2' in result.stderr  # long work shows progress


def test_images_from_a_folder_and_their_errors(tmp_path):
    import cv2
    with pytest.raises(FileNotFoundError, match=r"Image folder '.*missing' does not exist. Pass "
                                                r"--images with a folder of images, or --toy N"):
        erf.folder_images(str(tmp_path / 'missing'), 32)
    with pytest.raises(FileNotFoundError, match='No image'):
        erf.folder_images(str(tmp_path), 32)
    (tmp_path / 'sub').mkdir()
    cv2.imwrite(str(tmp_path / 'sub' / 'a.png'), np.full((20, 30, 3), 128, np.uint8))
    (tmp_path / 'sub' / 'b.jpg').write_bytes(b'not an image')
    files, images = erf.folder_images(str(tmp_path), 32)
    assert [osp.basename(f) for f in files] == ['a.png', 'b.jpg']
    first = next(images)
    assert first.shape == (1, 3, 32, 32)
    assert torch.allclose(first[0, :, 0, 0], (0.502 - torch.tensor(erf.MEAN)) / torch.tensor(
        erf.STD), atol=1e-2)
    with pytest.raises(ValueError, match=r"Cannot read image '.*b\.jpg'"):
        next(images)


def test_backbone_from_a_config_and_a_checkpoint(tmp_path):
    from recnext_mm import RecNeXt
    ref = RecNeXt('m0', out_indices=(0, 1, 2, 3))
    path = tmp_path / 'm0.pth'
    torch.save({'model': ref.state_dict()}, str(path))
    config = osp.join(REPO, 'configs', 'classification', 'recnext_m0_in1k.py')
    backbone = erf.build_backbone(config, checkpoint=str(path))
    assert backbone.out_indices == (0, 1, 2, 3)
    for a, b in zip(backbone.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError, match='Checkpoint .* does not exist'):
        erf.build_backbone('m0', checkpoint=str(tmp_path / 'none.pth'))
