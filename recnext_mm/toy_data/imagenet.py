"""A small, deterministic image-classification set in the ImageNet folder layout.

Each image shows one shape class (a disc, a cross, a square, horizontal or vertical stripes, a
triangle) in a random colour, size and position over a noisy, randomly tinted background. The
classes are visibly different, so a small network trained from scratch separates them within
minutes on a CPU, while colours, positions and noise keep it from being trivial.

Layout written (the one ``mmpretrain.datasets.ImageNet`` reads)::

    <out>/train/<class>/<class>_0000.JPEG ...
    <out>/val/<class>/<class>_0000.JPEG ...
    <out>/meta/train.txt, <out>/meta/val.txt   ("<class>/<file> <label>" per line)

The annotation lists let configs that read ``meta/*.txt`` (``split='val'`` auto-detects them, as
the ImageNet-1K configs do) evaluate on this set as well; configs with ``data_prefix`` and no
``split`` scan the class folders instead.

Only numpy and OpenCV are used, so the generator runs before (and without) the mm packages.
"""
import os
import os.path as osp
from typing import Dict, Sequence

import cv2
import numpy as np

__all__ = ['DEFAULT_ROOT', 'TOY_CLASSES', 'render_image', 'make_toy_imagenet']

# Where tools/data/make_toy_imagenet.py writes the set, and the toy config reads it.
DEFAULT_ROOT = 'data/toy_imagenet'

# Sorted, as the folder scan of mmpretrain assigns labels in sorted folder order.
TOY_CLASSES = ('circle', 'cross', 'square', 'stripes_h', 'stripes_v', 'triangle')
_SPLIT_IDS = {'train': 0, 'val': 1}


def _colours(rng: np.random.Generator):
    """A background and a foreground colour (BGR) that differ clearly."""
    while True:
        bg, fg = rng.integers(0, 256, size=(2, 3))
        if np.abs(bg - fg).sum() > 180:
            return bg.astype(np.float32), fg.astype(np.float32)


def _background(rng: np.random.Generator, size: int, colour: np.ndarray) -> np.ndarray:
    # A linear tint gradient plus pixel noise, so that flat colour does not tell classes apart.
    ramp = np.linspace(-1, 1, size, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    grad = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    img = colour[None, None, :] + rng.uniform(10, 40) * grad[..., None]
    return img + rng.normal(0, 12, size=(size, size, 3)).astype(np.float32)


def _shape_mask(name: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """A float mask in [0, 1] of one shape, kept inside the central ~85% of the image."""
    mask = np.zeros((size, size), np.uint8)
    extent = rng.uniform(0.38, 0.62) * size  # side / diameter of the shape
    half = extent / 2
    margin = 0.08 * size
    cx, cy = rng.uniform(margin + half, size - margin - half, size=2)
    x0, y0, x1, y1 = int(cx - half), int(cy - half), int(cx + half), int(cy + half)
    if name == 'circle':
        cv2.circle(mask, (int(cx), int(cy)), int(half), 255, -1, cv2.LINE_AA)
    elif name == 'square':
        cv2.rectangle(mask, (x0, y0), (x1, y1), 255, -1)
    elif name == 'cross':
        bar = max(int(extent * rng.uniform(0.22, 0.32) / 2), 2)
        cv2.rectangle(mask, (x0, int(cy) - bar), (x1, int(cy) + bar), 255, -1)
        cv2.rectangle(mask, (int(cx) - bar, y0), (int(cx) + bar, y1), 255, -1)
    elif name == 'triangle':
        pts = np.array([[cx, cy - half], [cx - half, cy + half], [cx + half, cy + half]], np.int32)
        cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA)
    elif name in ('stripes_h', 'stripes_v'):
        period = rng.uniform(0.12, 0.2) * size
        coords = np.arange(size, dtype=np.float32) + rng.uniform(0, period)
        stripes = ((coords // (period / 2)) % 2 == 0).astype(np.uint8) * 255
        patch = np.zeros((size, size), np.uint8)
        if name == 'stripes_h':
            patch[:, :] = stripes[:, None]
        else:
            patch[:, :] = stripes[None, :]
        mask[y0:y1, x0:x1] = patch[y0:y1, x0:x1]
    else:
        raise ValueError(f'Unknown toy class {name!r}; known: {", ".join(TOY_CLASSES)}')
    return mask.astype(np.float32) / 255.0


def render_image(name: str, rng: np.random.Generator, size: int = 72) -> np.ndarray:
    """Renders one ``size`` x ``size`` BGR uint8 image of class ``name``."""
    bg, fg = _colours(rng)
    img = _background(rng, size, bg)
    mask = _shape_mask(name, rng, size)[..., None]
    shape = fg[None, None, :] + rng.normal(0, 8, size=(size, size, 3)).astype(np.float32)
    img = img * (1 - mask) + shape * mask
    return np.clip(img, 0, 255).astype(np.uint8)


def make_toy_imagenet(out: str, seed: int = 0, train_per_class: int = 80, val_per_class: int = 20,
                      size: int = 72, classes: Sequence[str] = TOY_CLASSES) -> Dict[str, int]:
    """Writes the data set to ``out`` (see the module docstring) and returns image counts.

    Every image depends only on ``(seed, split, class, index)``, so the same arguments always give
    the same files, and growing a split keeps the images it already had.

    Args:
        out (str): Output root; created if needed. Existing files of the same name are overwritten.
        seed (int): Random seed. Defaults to 0.
        train_per_class (int): Training images per class. Defaults to 80.
        val_per_class (int): Validation images per class. Defaults to 20.
        size (int): Image side in pixels. Defaults to 72.
        classes (Sequence[str]): A subset of ``TOY_CLASSES``. Defaults to all of them.

    Returns:
        dict: ``{'train': n_train, 'val': n_val}``.
    """
    unknown = [c for c in classes if c not in TOY_CLASSES]
    if unknown:
        raise ValueError(f'Unknown toy classes {unknown}; choose from {", ".join(TOY_CLASSES)}.')
    if size < 32:
        raise ValueError(f'size={size} is too small to draw the shapes; use 32 or more.')
    classes = sorted(classes)
    counts = {}
    os.makedirs(osp.join(out, 'meta'), exist_ok=True)
    for split, per_class in (('train', train_per_class), ('val', val_per_class)):
        lines = []
        for label, name in enumerate(classes):
            folder = osp.join(out, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(per_class):
                rng = np.random.default_rng([seed, _SPLIT_IDS[split], TOY_CLASSES.index(name), i])
                filename = f'{name}_{i:04d}.JPEG'
                path = osp.join(folder, filename)
                if not cv2.imwrite(path, render_image(name, rng, size),
                                   [cv2.IMWRITE_JPEG_QUALITY, 92]):
                    raise OSError(f'Could not write {path!r}.')
                lines.append(f'{name}/{filename} {label}\n')
        with open(osp.join(out, 'meta', f'{split}.txt'), 'w', encoding='utf-8') as f:
            f.writelines(lines)
        counts[split] = len(lines)
    return counts
