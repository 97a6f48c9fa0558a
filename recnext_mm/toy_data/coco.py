"""A small, deterministic instance-segmentation data set in the real COCO layout.

Each image shows one to ``max_objects`` non-overlapping objects of four categories that differ in
shape *and* colour (a red disc, a green triangle, a blue square, a yellow star), each with its own
size, rotation, colour jitter and shading, on a varied background (a two-colour gradient, one of
three textures, sensor-like noise). Objects never overlap, so every polygon is exactly the visible
mask.

Layout written under ``out_dir``::

    annotations/instances_train.json
    annotations/instances_val.json
    train/000000.jpg ...
    val/000000.jpg ...

The annotation files are standard COCO: ``images``, ``annotations`` (polygon ``segmentation``,
``bbox`` as ``[x, y, w, h]``, ``area``, ``iscrowd=0``) and ``categories`` (ids from 1), so
pycocotools, mmdet's ``CocoDataset`` and ``CocoMetric`` read them as they read COCO 2017.

Determinism: image ``i`` of a split is drawn from its own generator seeded by ``(seed, split, i)``,
so the same seed gives byte-identical JSON and identical pixels, and the first images of a split do
not change when more are asked for.

Only numpy and OpenCV are used: the generator runs before (and without) the mm packages.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = ['DEFAULT_ROOT', 'CATEGORIES', 'make_toy_coco', 'render_image']

# Where tools/data/make_toy_coco.py writes the set, and the toy configs read it.
DEFAULT_ROOT = 'data/toy_coco'

# (name, shape, BGR colour). Shape and colour both identify the class.
CATEGORIES: Tuple[Tuple[str, str, Tuple[int, int, int]], ...] = (
    ('red_disc', 'disc', (45, 45, 215)),
    ('green_triangle', 'triangle', (60, 185, 40)),
    ('blue_square', 'square', (210, 100, 35)),
    ('yellow_star', 'star', (35, 210, 225)),
)
CLASS_NAMES: Tuple[str, ...] = tuple(name for name, _, _ in CATEGORIES)
# Fixed per split so train and val draw different images from the same seed.
_SPLIT_KEYS = {'train': 1, 'val': 2}
_MAX_PLACEMENT_TRIES = 60


def _shape_polygon(shape: str, center: np.ndarray, radius: float, angle: float,
                   aspect: float) -> np.ndarray:
    """Vertices (N, 2) of a shape, float, in image coordinates."""
    if shape == 'disc':
        theta = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        pts = np.stack([np.cos(theta), np.sin(theta) * aspect], axis=1)
    elif shape == 'triangle':
        theta = np.array([90, 210, 330]) * np.pi / 180
        pts = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    elif shape == 'square':
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * 0.75
        pts[:, 1] *= aspect
    elif shape == 'star':
        theta = np.arange(10) * np.pi / 5 - np.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        pts = np.stack([np.cos(theta) * radii, np.sin(theta) * radii], axis=1)
    else:
        raise ValueError(f'Unknown toy shape {shape!r}')
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return pts @ rot.T * radius + center


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A float32 (H, W, 3) background: gradient between two muted colours plus a texture."""
    c0, c1 = rng.uniform(50, 200, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = np.clip((xs - 0.5) * np.cos(angle) + (ys - 0.5) * np.sin(angle) + 0.5, 0, 1)[..., None]
    img = c0 * (1 - t) + c1 * t
    texture = rng.integers(3)
    if texture == 0:  # stripes of random frequency and direction
        freq, phase, theta = rng.uniform(3, 12), rng.uniform(0, 2 * np.pi), rng.uniform(0, np.pi)
        wave = np.sin(2 * np.pi * freq * (xs * np.cos(theta) + ys * np.sin(theta)) + phase)
        img = img + rng.uniform(8, 25) * wave[..., None]
    elif texture == 1:  # blotches: upsampled coarse noise
        coarse = rng.normal(0, 1, size=(rng.integers(4, 9),) * 2 + (3,)).astype(np.float32)
        img = img + rng.uniform(10, 25) * cv2.resize(coarse, (size, size),
                                                     interpolation=cv2.INTER_CUBIC)
    else:  # thin random lines in muted colours
        img = np.ascontiguousarray(img, dtype=np.float32)
        for _ in range(rng.integers(4, 12)):
            p0, p1 = rng.integers(0, size, size=(2, 2))
            colour = tuple(float(v) for v in rng.uniform(40, 210, size=3))
            cv2.line(img, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), colour,
                     int(rng.integers(1, 3)), cv2.LINE_AA)
    return img.astype(np.float32)


def _place_objects(rng: np.random.Generator, size: int, max_objects: int,
                   radius_range: Tuple[float, float]) -> List[dict]:
    """Draws non-overlapping objects (bounding boxes apart by a margin) fully inside the image."""
    num = int(rng.integers(1, max_objects + 1))
    objects, boxes = [], []
    for _ in range(num):
        for _ in range(_MAX_PLACEMENT_TRIES):
            label = int(rng.integers(len(CATEGORIES)))
            radius = rng.uniform(*radius_range) * size
            center = rng.uniform(radius + 1, size - radius - 1, size=2)
            poly = _shape_polygon(CATEGORIES[label][1], center, radius,
                                  angle=rng.uniform(0, 2 * np.pi), aspect=rng.uniform(0.75, 1.0))
            poly = np.clip(poly, 0.5, size - 0.5)
            box = np.concatenate([poly.min(0), poly.max(0)])
            if all(box[0] > b[2] + 2 or box[2] < b[0] - 2 or box[1] > b[3] + 2 or
                   box[3] < b[1] - 2 for b in boxes):
                boxes.append(box)
                objects.append(dict(label=label, polygon=poly))
                break
    return objects


def render_image(rng: np.random.Generator, size: int, max_objects: int = 4,
                 radius_range: Tuple[float, float] = (0.09, 0.2)) -> Tuple[np.ndarray, List[dict]]:
    """Renders one image and its objects.

    Args:
        rng (np.random.Generator): Source of randomness (the only one).
        size (int): Side of the square image in pixels.
        max_objects (int): At most this many objects (at least one).
        radius_range (tuple[float, float]): Object radius as a fraction of ``size``.

    Returns:
        tuple: ``(image, objects)``: a uint8 BGR image (H, W, 3) and a list of
        ``dict(label=int, polygon=ndarray (N, 2))`` with 0-based labels.
    """
    img = _background(rng, size)
    objects = _place_objects(rng, size, max_objects, radius_range)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    for obj in objects:
        mask = np.zeros((size, size), np.uint8)
        # 4 fractional bits: sub-pixel vertices, so the painted mask matches the float polygon.
        cv2.fillPoly(mask, [np.round(obj['polygon'] * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        base = np.array(CATEGORIES[obj['label']][2], np.float32) + rng.uniform(-25, 25, size=3)
        # Directional shading (lighting) so objects are not flat colour blobs.
        direction = rng.uniform(0, 2 * np.pi)
        cx, cy = obj['polygon'].mean(0)
        shade = 1 + rng.uniform(0.05, 0.2) * (
            ((xs - cx) * np.cos(direction) + (ys - cy) * np.sin(direction)) / (0.2 * size))
        colour = base[None, None, :] * np.clip(shade, 0.6, 1.4)[..., None]
        img = np.where(mask[..., None].astype(bool), colour, img)
    img = img + rng.normal(0, rng.uniform(3, 10), size=img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), objects


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _make_split(out_dir: str, split: str, num_images: int, image_size: int, seed: int,
                max_objects: int, jpeg_quality: int) -> dict:
    image_dir = osp.join(out_dir, split)
    os.makedirs(image_dir, exist_ok=True)
    images, annotations = [], []
    for index in range(num_images):
        rng = np.random.default_rng([seed, _SPLIT_KEYS[split], index])
        img, objects = render_image(rng, image_size, max_objects=max_objects)
        file_name = f'{index:06d}.jpg'
        if not cv2.imwrite(osp.join(image_dir, file_name), img,
                           [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]):
            raise OSError(f'OpenCV could not write {osp.join(image_dir, file_name)!r}')
        image_id = index + 1
        images.append(dict(id=image_id, file_name=file_name, width=image_size, height=image_size))
        for obj in objects:
            poly = np.round(obj['polygon'], 2)
            x0, y0 = poly.min(0)
            x1, y1 = poly.max(0)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=obj['label'] + 1,
                segmentation=[[float(v) for v in poly.reshape(-1)]],
                area=round(_polygon_area(poly), 2),
                bbox=[float(round(v, 2)) for v in (x0, y0, x1 - x0, y1 - y0)], iscrowd=0))
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, (name, _, _) in enumerate(CATEGORIES)]
    coco = dict(
        info=dict(description=f'recnext_mm toy COCO ({split})', version='1.0', year=2025,
                  contributor='recnext_mm.toy_data.coco', date_created='', seed=seed),
        licenses=[],
        images=images, annotations=annotations, categories=categories)
    ann_file = osp.join(out_dir, 'annotations', f'instances_{split}.json')
    with open(ann_file, 'w') as f:
        json.dump(coco, f, separators=(',', ':'))
    per_class = {name: 0 for name in CLASS_NAMES}
    for ann in annotations:
        per_class[CLASS_NAMES[ann['category_id'] - 1]] += 1
    return dict(ann_file=ann_file, image_dir=image_dir, num_images=num_images,
                num_instances=len(annotations), instances_per_class=per_class)


def make_toy_coco(out_dir: str = DEFAULT_ROOT, num_train: int = 600, num_val: int = 100,
                  image_size: int = 160, seed: int = 0, max_objects: int = 4,
                  jpeg_quality: int = 92,
                  splits: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """Writes the toy instance-segmentation data set in the COCO layout.

    Args:
        out_dir (str): Data root; created if needed. Existing files of the same names are
            overwritten.
        num_train (int): Training images.
        num_val (int): Validation images.
        image_size (int): Side of the square images in pixels (at least 64).
        seed (int): Seed; the same seed gives byte-identical annotation files and images.
        max_objects (int): At most this many objects per image (at least one each).
        jpeg_quality (int): JPEG quality of the written images.
        splits (Sequence[str], optional): Subset of ``('train', 'val')`` to write. Defaults to both.

    Returns:
        dict: Per split, ``ann_file``, ``image_dir``, ``num_images``, ``num_instances`` and
        ``instances_per_class``; plus ``'root'`` (the data root) and ``'classes'``.

    Raises:
        ValueError: On a non-positive image count, an image smaller than 64 pixels or an unknown
            split name.
    """
    if image_size < 64:
        raise ValueError(f'image_size must be at least 64 pixels, got {image_size}')
    if max_objects < 1:
        raise ValueError(f'max_objects must be at least 1, got {max_objects}')
    counts = {'train': num_train, 'val': num_val}
    splits = tuple(splits) if splits is not None else ('train', 'val')
    unknown = [s for s in splits if s not in counts]
    if unknown:
        raise ValueError(f'Unknown split(s) {unknown}; choose from {list(counts)}')
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    stats: Dict[str, object] = dict(root=osp.abspath(out_dir), classes=list(CLASS_NAMES))
    for split in splits:
        if counts[split] < 1:
            raise ValueError(f'num_{split} must be at least 1, got {counts[split]}')
        stats[split] = _make_split(out_dir, split, counts[split], image_size, seed, max_objects,
                                   jpeg_quality)
    return stats
