"""A small, deterministic semantic segmentation data set in the ADE20K layout.

Layout written (the same as ``ADEChallengeData2016``, so mmseg's ADE20K pipeline reads it)::

    <out>/images/training/ADE_train_00000000.jpg
    <out>/images/validation/ADE_val_00000000.jpg
    <out>/annotations/training/ADE_train_00000000.png      (uint8, one channel)
    <out>/annotations/validation/ADE_val_00000000.png

Annotation values follow ADE20K: ``0`` = unlabelled (ignored, because the configs load annotations with
``reduce_zero_label=True``, which maps 0 -> 255 and k -> k - 1) and ``1..len(CLASSES)`` = the classes.

Each image is a noisy, shaded ``ground`` with up to five objects drawn on it. The classes differ in
shape, colour and texture, so a segmentor has to use all three cues: ``disc`` (red ellipses), ``box``
(blue rotated rectangles), ``triangle`` (green triangles) and ``stripes`` (a striped texture of yellow
and dark bands on a random blob). Grey ``clutter`` polygons are left unlabelled (0) like the unlabelled
regions of ADE20K.

Every image is drawn from its own random stream seeded by ``(seed, split, index)``, so a file does not
depend on how many others are written. Only numpy and OpenCV are used (no mm package), so the set can be
made before the OpenMMLab stack is installed.
"""
import os
import os.path as osp
from typing import Dict, Iterable, List, Sequence, Tuple

import cv2
import numpy as np

# Where tools/data/make_toy_ade.py writes the set, and the toy configs read it.
DEFAULT_ROOT = 'data/toy_ade'

# Class names and palette (RGB) for dataset ``metainfo``; label value i + 1 in the PNG is CLASSES[i].
CLASSES: Tuple[str, ...] = ('ground', 'disc', 'box', 'triangle', 'stripes')
PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (120, 120, 120), (220, 20, 60), (0, 80, 230), (30, 170, 60), (250, 200, 0))
NUM_CLASSES = len(CLASSES)
UNLABELLED = 0

SPLITS: Dict[str, Tuple[str, int]] = {
    # split -> (file name prefix, index used in the random seed)
    'training': ('ADE_train_', 0),
    'validation': ('ADE_val_', 1),
}

# Base colours in BGR (what OpenCV writes); each object jitters its own shade around them.
_OBJECT_BGR = {
    'disc': (40, 40, 200),        # red
    'box': (200, 90, 30),         # blue
    'triangle': (50, 170, 40),    # green
}
_STRIPE_BGR = ((20, 200, 240), (30, 40, 60))  # yellow and dark bands


def _rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS[split][1], index])


def _jitter(rng: np.random.Generator, bgr: Sequence[int], amount: int = 30) -> Tuple[int, ...]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in bgr)


def _ground(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A shaded, noisy, low-saturation background (BGR, float32)."""
    base = rng.uniform(90, 170)
    tint = rng.uniform(-15, 15, size=3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    shade = (np.cos(angle) * xx / width + np.sin(angle) * yy / height) * rng.uniform(-40, 40)
    # Low-frequency blotches: coarse noise upsampled.
    coarse = rng.normal(0, 12, size=(max(2, height // 16), max(2, width // 16), 1)).astype(np.float32)
    blotch = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    img = base + tint[None, None, :] + shade[..., None] + blotch
    return img.astype(np.float32)


def _object_mask(rng: np.random.Generator, kind: str, height: int, width: int) -> np.ndarray:
    """A filled shape of ``kind`` at a random place and size (uint8 mask of 0/1)."""
    mask = np.zeros((height, width), np.uint8)
    size = rng.uniform(0.14, 0.3) * min(height, width)
    cx, cy = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
    if kind == 'disc':
        axes = (int(size), int(size * rng.uniform(0.7, 1.0)))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    elif kind == 'box':
        rect = ((float(cx), float(cy)), (float(2 * size), float(2 * size * rng.uniform(0.5, 1.0))),
                float(rng.uniform(0, 90)))
        cv2.fillPoly(mask, [cv2.boxPoints(rect).astype(np.int32)], 1)
    elif kind == 'triangle':
        start = rng.uniform(0, 2 * np.pi)
        angles = start + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.uniform(-0.3, 0.3, 3)
        pts = np.stack([cx + 1.3 * size * np.cos(angles), cy + 1.3 * size * np.sin(angles)], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
    elif kind in ('stripes', 'clutter'):
        # An irregular blob: a polygon with random radii around the centre.
        count = 7
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        scale = 1.2 if kind == 'stripes' else 0.6
        radii = size * scale * rng.uniform(0.6, 1.2, count)
        pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
    else:
        raise ValueError(f'unknown shape kind {kind!r}')
    return mask


def _stripe_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(5, 9)
    phase = (np.cos(angle) * xx + np.sin(angle) * yy) / period
    band = (np.floor(phase) % 2).astype(bool)
    light, dark = (_jitter(rng, c, 20) for c in _STRIPE_BGR)
    return np.where(band[..., None], np.float32(light), np.float32(dark)).astype(np.float32)


def make_sample(seed: int, split: str, index: int) -> Tuple[np.ndarray, np.ndarray]:
    """Draws one sample of the toy set.

    Args:
        seed (int): Seed of the whole set.
        split (str): ``'training'`` or ``'validation'``.
        index (int): Index of the sample in its split.

    Returns:
        tuple: The image (BGR, uint8, HxWx3, H in 112-144, W in 144-192) and its annotation
        (uint8, HxW; 0 = unlabelled, i + 1 = ``CLASSES[i]``).
    """
    rng = _rng(seed, split, index)
    height = int(rng.integers(112, 145))
    width = int(rng.integers(144, 193))
    img = _ground(rng, height, width)
    label = np.full((height, width), CLASSES.index('ground') + 1, np.uint8)
    kinds = ['disc', 'box', 'triangle', 'stripes']
    # Two to five objects, every class about equally often; a clutter blob in half of the images.
    objects = list(rng.choice(kinds, size=int(rng.integers(2, 6))))
    if rng.random() < 0.5:
        objects.insert(int(rng.integers(0, len(objects) + 1)), 'clutter')
    for kind in objects:
        mask = _object_mask(rng, kind, height, width).astype(bool)
        if kind == 'stripes':
            img[mask] = _stripe_texture(rng, height, width)[mask]
        elif kind == 'clutter':
            img[mask] = rng.uniform(60, 200)
        else:
            shade = np.float32(_jitter(rng, _OBJECT_BGR[kind]))
            # A soft highlight gives the flat shapes some shading.
            img[mask] = shade * rng.uniform(0.85, 1.1)
        label[mask] = UNLABELLED if kind == 'clutter' else CLASSES.index(kind) + 1
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), label


def make_toy_ade(out: str, seed: int = 0, num_train: int = 96, num_val: int = 24) -> Dict[str, int]:
    """Writes the toy set under ``out`` in the ADE20K layout (see the module docstring).

    Existing files of the same names are overwritten. The annotations written are checked with
    :func:`check_ade_labels`.

    Args:
        out (str): Root folder (created if needed).
        seed (int): Seed of the set; the same seed gives byte-identical files.
        num_train (int): Number of training images.
        num_val (int): Number of validation images.

    Returns:
        dict: Number of images per split (``training``, ``validation``).
    """
    counts = {'training': num_train, 'validation': num_val}
    for split, count in counts.items():
        if count < 1:
            raise ValueError(f'{split}: need at least one image, got {count}')
        prefix = SPLITS[split][0]
        img_dir = osp.join(out, 'images', split)
        ann_dir = osp.join(out, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for index in range(count):
            img, label = make_sample(seed, split, index)
            name = f'{prefix}{index:08d}'
            if not cv2.imwrite(osp.join(img_dir, name + '.jpg'), img, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise OSError(f'could not write {osp.join(img_dir, name)}.jpg')
            if not cv2.imwrite(osp.join(ann_dir, name + '.png'), label):
                raise OSError(f'could not write {osp.join(ann_dir, name)}.png')
    check_ade_labels(out, NUM_CLASSES)
    return counts


def _annotation_files(root: str, splits: Iterable[str]) -> List[str]:
    files = []
    for split in splits:
        ann_dir = osp.join(root, 'annotations', split)
        if not osp.isdir(ann_dir):
            raise FileNotFoundError(f'{ann_dir!r} does not exist; expected the ADE20K layout '
                                    f'<root>/annotations/{{training,validation}}/*.png')
        files += sorted(osp.join(ann_dir, f) for f in os.listdir(ann_dir) if f.endswith('.png'))
    return files


def check_ade_labels(root: str, num_classes: int,
                     splits: Iterable[str] = ('training', 'validation')) -> int:
    """Checks that every annotation PNG under ``root`` holds only ADE20K-style values.

    Valid values are ``0`` (unlabelled) and ``1..num_classes``; anything else would become a wrong
    class or an out-of-range target after ``reduce_zero_label``. Works on any data set in the ADE20K
    layout, e.g. ``check_ade_labels('data/ade/ADEChallengeData2016', 150)``.

    Args:
        root (str): Data root holding ``annotations/<split>/*.png``.
        num_classes (int): Number of classes (the largest valid value).
        splits (Iterable[str]): Sub-folders of ``annotations`` to check.

    Returns:
        int: The number of files checked.

    Raises:
        FileNotFoundError: an annotation folder is missing.
        ValueError: naming up to five offending files and their values.
    """
    bad = []
    files = _annotation_files(root, splits)
    for path in files:
        label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if label is None or label.ndim != 2:
            bad.append(f'{path}: not a single-channel PNG')
            continue
        if int(label.max()) > num_classes:
            values = np.unique(label)
            bad.append(f'{path}: values {values[values > num_classes].tolist()}')
    if bad:
        raise ValueError(
            f'{len(bad)} of {len(files)} annotations under {root!r} hold labels outside '
            f'0..{num_classes} (0 = unlabelled, 1..{num_classes} = classes):\n  ' +
            '\n  '.join(bad[:5]) +
            '\nFix the annotations, or set num_classes (decode_head.num_classes and the dataset '
            'classes) to cover them.')
    return len(files)

