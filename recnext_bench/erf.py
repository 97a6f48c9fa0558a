"""Effective receptive field (ERF) of a RecNeXt backbone, measured as RepLKNet measures it.

RepLKNet (Ding et al., "Scaling Up Your Kernels to 31x31", CVPR 2022) defines a network's ERF
by the gradient of the central pixel of a stage's output with respect to the input image: for
each image, the sum over channels of ``relu(out[:, :, H // 2, W // 2])`` is back-propagated, the
input gradient is passed through ``relu`` and summed over the colour channels; the per-image maps
are averaged over the images (RepLKNet's meter), then log-scaled (``log10(x + 1)``) and rescaled
to a maximum of 1. The high-contribution area ratio at a threshold ``t`` is the area of the
smallest centred square (odd side) holding more than ``t`` of the total of that map, over the
image area (RepLKNet reports t = 0.2, 0.3, 0.5, 0.99). The RecNeXt model card's claim is an ERF of
``k x 2**level`` for a base kernel ``k`` and ``level`` recursion levels.

    python tools/analysis_tools/visualize_erf.py m1 --toy 8 --size 512 --out erf_m1.png
    python tools/analysis_tools/visualize_erf.py configs/classification/recnext_m3_in1k.py \\
        --checkpoint recnext_m3_distill_300e.pth --images data/imagenet/val --num-images 50

Models: an arch name (``m0`` ... ``b_share_channel``), a JSON arch dict (``'{"family":
"recconv", ...}'``) or an mm config (its backbone), with random weights (the seed) or
``--checkpoint`` (any format the backbone loads). Images: ``--images DIR`` (every image below
it, sorted) or ``--toy N`` (N images rendered by :mod:`recnext_mm.toy_data.imagenet`).
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .output import pyplot, save_figure

THRESHOLDS = (0.2, 0.3, 0.5, 0.99)
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
# ImageNet normalisation (RGB), as the classifiers are trained.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

__all__ = ['THRESHOLDS', 'build_backbone', 'folder_images', 'toy_images', 'input_gradient',
           'erf_map', 'normalized', 'high_contribution_areas', 'display_map', 'save_heatmap',
           'main']


# ------------------------------------------------------------------------------------ models
def build_backbone(model: str, checkpoint: Optional[str] = None, seed: int = 0) -> nn.Module:
    """A RecNeXt backbone (eval mode) from an arch name, a JSON arch dict or an mm config path.

    Raises:
        FileNotFoundError: a config or checkpoint path that does not exist.
        ValueError: a config whose model has no RecNeXt-like ``backbone``.
    """
    from recnext_mm.backbones.recnext import RecNeXt
    torch.manual_seed(seed)
    if model.endswith('.py'):
        if not osp.isfile(model):
            raise FileNotFoundError(f'Config {model!r} does not exist.')
        from mmengine.config import Config

        from recnext_mm.builder import build_model_from_cfg
        built = build_model_from_cfg(Config.fromfile(model))
        backbone = getattr(built, 'backbone', None)
        if backbone is None:
            raise ValueError(f'The model of {model!r} ({type(built).__name__}) has no backbone.')
        if hasattr(backbone, 'out_indices'):  # every stage, whatever the config returns
            backbone.out_indices = tuple(range(backbone.num_stages))
    else:
        from recnext_mm.backbones.archs import get_arch
        arch = json.loads(model) if model.lstrip().startswith('{') else model
        backbone = RecNeXt(arch, out_indices=tuple(range(len(get_arch(arch)['embed_dims']))))
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'Checkpoint {checkpoint!r} does not exist.')
        from recnext_mm.backbones.loading import load_pretrained_backbone
        load_pretrained_backbone(backbone, checkpoint)
    return backbone.eval()


# ------------------------------------------------------------------------------------ images
def _to_input(bgr: np.ndarray, size: int) -> torch.Tensor:
    """A ``1 x 3 x size x size`` normalised RGB tensor from a BGR uint8 image."""
    import cv2
    rgb = cv2.cvtColor(cv2.resize(bgr, (size, size), interpolation=cv2.INTER_CUBIC),
                       cv2.COLOR_BGR2RGB)
    x = torch.from_numpy(rgb).float().div(255).permute(2, 0, 1)
    x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    return x[None]


def folder_images(folder: str, size: int, limit: Optional[int] = None
                  ) -> Tuple[List[str], Iterator[torch.Tensor]]:
    """The image files below ``folder`` (sorted, at most ``limit``) and an iterator over their
    inputs resized to ``size`` x ``size``.

    Raises:
        FileNotFoundError: ``folder`` is not a folder, or holds no image.
        ValueError: (while iterating) a file that cannot be read as an image, named.
    """
    import cv2
    if not osp.isdir(folder):
        raise FileNotFoundError(f'Image folder {folder!r} does not exist. Pass --images with a '
                                f'folder of images, or --toy N to render N toy images.')
    files = sorted(p for p in glob.glob(osp.join(folder, '**', '*'), recursive=True)
                   if p.lower().endswith(IMAGE_SUFFIXES) and osp.isfile(p))
    if not files:
        raise FileNotFoundError(f'No image ({", ".join(IMAGE_SUFFIXES)}) below {folder!r}.')
    files = files[:limit] if limit else files

    def load() -> Iterator[torch.Tensor]:
        for path in files:
            image = cv2.imread(path, cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f'Cannot read image {path!r} (damaged or not an image): remove '
                                 f'it or point --images at another folder.')
            yield _to_input(image, size)

    return files, load()


def toy_images(count: int, size: int, seed: int = 0) -> Tuple[List[str], Iterator[torch.Tensor]]:
    """``count`` images of the toy classification set (:mod:`recnext_mm.toy_data.imagenet`),
    rendered in memory, cycling through its classes."""
    from recnext_mm.toy_data.imagenet import TOY_CLASSES, render_image
    if count < 1:
        raise ValueError(f'--toy needs at least 1 image, got {count}.')
    names = [f'toy:{TOY_CLASSES[i % len(TOY_CLASSES)]}_{i}' for i in range(count)]

    def render() -> Iterator[torch.Tensor]:
        rng = np.random.default_rng(seed)
        for i in range(count):
            yield _to_input(render_image(TOY_CLASSES[i % len(TOY_CLASSES)], rng, size=144), size)

    return names, render()


# ------------------------------------------------------------------------------- measurement
def input_gradient(backbone: nn.Module, x: torch.Tensor, stage: int = -1) -> torch.Tensor:
    """RepLKNet's contribution map of one batch: ``relu`` of the gradient of the summed
    ``relu`` of the central output pixel of ``stage`` with respect to the input, summed over
    the batch and the colour channels (``H x W``)."""
    x = x.detach().clone().requires_grad_(True)
    out = backbone(x)
    if isinstance(out, (tuple, list)):
        if not -len(out) <= stage < len(out):
            raise ValueError(f'--stage {stage} is out of range: the backbone returns {len(out)} '
                             f'stage outputs (valid: {-len(out)}..{len(out) - 1}).')
        out = out[stage]
    h, w = out.shape[-2:]
    central = F.relu(out[:, :, h // 2, w // 2]).sum()
    grad, = torch.autograd.grad(central, x)
    return F.relu(grad).sum(dim=(0, 1))


def erf_map(backbone: nn.Module, images: Iterable[torch.Tensor], stage: int = -1,
            total: Optional[int] = None, progress: bool = True) -> np.ndarray:
    """The mean contribution map over ``images`` (:func:`input_gradient`), with a progress bar."""
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(total or 0, file=sys.stderr)
    acc, n = None, 0
    for x in images:
        g = input_gradient(backbone, x, stage).double()
        acc = g if acc is None else acc + g
        n += 1
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stderr.write('\n')
    if n == 0:
        raise ValueError('No image to measure the ERF on.')
    return (acc / n).numpy()


def normalized(erf: np.ndarray) -> np.ndarray:
    """RepLKNet's scaling: ``log10(x + 1)``, then divided by its maximum."""
    scaled = np.log10(erf + 1)
    peak = scaled.max()
    return scaled / peak if peak > 0 else scaled


def high_contribution_areas(erf: np.ndarray, thresholds: Sequence[float] = THRESHOLDS
                            ) -> Dict[float, Tuple[int, float]]:
    """Per threshold ``t``: ``(side, area ratio)`` of the smallest centred square (odd side)
    whose sum of the :func:`normalized` map exceeds ``t`` of its total."""
    data = normalized(erf)
    h, w = data.shape
    total = data.sum()
    cy, cx = h // 2, w // 2
    result = {}
    for t in thresholds:
        side = None
        for r in range(0, max(h, w)):
            square = data[max(cy - r, 0):cy + r + 1, max(cx - r, 0):cx + r + 1]
            if square.sum() > t * total or square.size == data.size:
                side = min(2 * r + 1, max(h, w))
                break
        sh, sw = min(side, h), min(side, w)
        result[t] = (side, sh * sw / (h * w))
    return result


def display_map(erf: np.ndarray, display: str = 'replknet', floor: float = 1e-4) -> np.ndarray:
    """The map a heat map shows: 'replknet' the :func:`normalized` map (RepLKNet's plots);
    'log' ``log10`` of the map over its maximum, from ``floor`` (0) to 1 (1), which shows the
    faint tail that a dominant centre (untrained weights) leaves invisible in the other."""
    if display == 'replknet':
        return normalized(erf)
    if display == 'log':
        rel = erf / max(float(erf.max()), 1e-30)
        return (np.log10(np.clip(rel, floor, 1.0)) - np.log10(floor)) / -np.log10(floor)
    raise ValueError(f"display must be 'replknet' or 'log', got {display!r}")


def save_heatmap(erf: np.ndarray, path: str, title: str = '', dpi: int = 100,
                 display: str = 'replknet') -> str:
    """Writes the map (:func:`display_map`) as a heat-map PNG (matplotlib, no display needed)."""
    plt = pyplot()
    shown = display_map(erf, display)
    fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=dpi)
    im = ax.imshow(shown, cmap='RdYlGn', vmin=0, vmax=1, interpolation='nearest')
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    save_figure(fig, path)
    return path


# --------------------------------------------------------------------------------------- CLI
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model', help='arch name, JSON arch dict or mm config (.py)')
    parser.add_argument('--checkpoint', help='weights (random weights from --seed without)')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--images', help='folder of images (searched recursively)')
    source.add_argument('--toy', type=int, metavar='N', help='N rendered toy-set images')
    parser.add_argument('--num-images', type=int, default=50,
                        help='at most this many images of --images (default 50, as RepLKNet)')
    parser.add_argument('--size', type=int, default=1024,
                        help='input side (default 1024, as RepLKNet)')
    parser.add_argument('--stage', type=int, default=-1, help='stage whose output (default last)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, help='torch threads')
    parser.add_argument('--out', default='erf.png', help='heat-map PNG')
    parser.add_argument('--save-npy', help='also save the raw mean contribution map (.npy)')
    parser.add_argument('--json', help='also write the area ratios as JSON')
    parser.add_argument('--title', help='plot title (default: the model and stage)')
    parser.add_argument('--display', choices=('replknet', 'log'), default='replknet',
                        help="heat-map scale: RepLKNet's log10(x + 1) / max (default) or log10 of "
                             'x / max from 1e-4 (shows faint tails); the area ratios are '
                             "RepLKNet's either way")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    backbone = build_backbone(args.model, args.checkpoint, args.seed)
    if args.images is not None:
        names, images = folder_images(args.images, args.size, args.num_images)
    else:
        names, images = toy_images(args.toy, args.size, args.seed)
    print(f'ERF of {args.model} stage {args.stage}: {len(names)} images at '
          f'{args.size}x{args.size}', file=sys.stderr)
    erf = erf_map(backbone, images, args.stage, total=len(names))
    areas = high_contribution_areas(erf)
    title = args.title or f'{osp.basename(args.model)} stage {args.stage}'
    save_heatmap(erf, args.out, title, display=args.display)
    print('threshold  side  area ratio')
    for t, (side, ratio) in areas.items():
        print(f'{t:9.2f}  {side:4d}  {ratio:.4f}')
    print(f'wrote {args.out}')
    if args.save_npy:
        np.save(args.save_npy, erf)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(model=args.model, checkpoint=args.checkpoint, stage=args.stage,
                           size=args.size, images=len(names),
                           areas={str(t): dict(side=s, ratio=r) for t, (s, r) in areas.items()}),
                      f, indent=1)
    return 0
