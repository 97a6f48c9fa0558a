"""The COCO check (mmdet ``CocoDataset`` and subclasses): the annotation file is read the way mmdet
reads it and every annotation mmdet would drop or misuse is named (see :data:`~.report.KINDS`)."""
import json
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

import numpy as np

from .report import Collector

__all__ = ['check_coco']


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _polygon_area(poly: Sequence[float]) -> float:
    xs, ys = poly[0::2], poly[1::2]
    n = len(xs)
    return abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))) / 2


@dataclass
class _Coco:
    """The parsed annotation file, indexed."""
    ann_file: str
    annotations: list
    cat_names: Dict = field(default_factory=dict)    # category id -> name
    used_cats: set = field(default_factory=set)      # category ids of the config's classes
    images: Dict = field(default_factory=dict)       # image id -> image entry
    paths: Dict = field(default_factory=dict)        # image id -> image file
    n_total: Counter = field(default_factory=Counter)  # annotations per image, configured classes
    n_valid: Counter = field(default_factory=Counter)  # of those, kept by mmdet


def _read(ds, col: Collector) -> Optional[_Coco]:
    """Parses and indexes the annotation file; ``None`` (with the finding) when it cannot."""
    ann_file = ds.ann_file
    if not osp.isfile(ann_file):
        col.add('missing_path', 'error', ann_file, 'annotation file not found')
        return None
    try:
        with open(ann_file, encoding='utf-8') as f:
            data = json.load(f)
        images, anns, cats = data['images'], data['annotations'], data['categories']
    except (OSError, ValueError, KeyError, TypeError) as err:
        col.add('bad_annotation_file', 'error', ann_file, f'{type(err).__name__}: {err}')
        return None
    coco = _Coco(ann_file, anns, cat_names={c.get('id'): c.get('name') for c in cats})
    classes = tuple(ds.metainfo.get('classes') or ())
    coco.used_cats = {cid for cid, name in coco.cat_names.items() if name in classes}
    for name in classes:
        if name not in coco.cat_names.values():
            col.add('empty_class', 'error', ann_file, f'class {name!r} of the config is not among '
                    f'the categories of the annotation file')
    prefix = ds.data_prefix.get('img', '') or ''
    for img in images:
        path = osp.join(prefix, str(img.get('file_name', '')))
        coco.images[img.get('id')] = img
        coco.paths[img.get('id')] = path
        if not (_number(img.get('width')) and _number(img.get('height'))):
            col.add('bad_annotation', 'error', path, 'image entry without numeric width/height')
    return coco


def _check_segmentation(col: Collector, seg, img_path: str, ann_id) -> None:
    if not seg:
        col.add('no_segmentation', 'error', img_path, 'empty or missing segmentation', ann_id)
        return
    if not isinstance(seg, list):
        if not (isinstance(seg, dict) and seg.get('counts') is not None and seg.get('size')):
            col.add('no_segmentation', 'error', img_path, f'segmentation is neither polygons nor '
                    f'an RLE dict with counts and size: {str(seg)[:60]}', ann_id)
        return
    valid = 0
    for k, poly in enumerate(seg):
        if not isinstance(poly, (list, tuple)) or not all(_number(v) for v in poly):
            col.add('degenerate_polygon', 'warning', img_path, f'polygon {k} is not a list of '
                    f'numbers', ann_id)
        elif len(poly) == 0:
            col.add('empty_polygon', 'warning', img_path, f'polygon {k} has no points', ann_id)
        elif len(poly) % 2 or len(poly) < 6:
            col.add('degenerate_polygon', 'warning', img_path, f'polygon {k} has {len(poly)} '
                    f'coordinates (needs an even number, at least 6)', ann_id)
        elif _polygon_area(poly) == 0:
            valid += 1  # mmdet keeps it: the mask is empty
            col.add('degenerate_polygon', 'warning', img_path, f'polygon {k} has zero area: an '
                    f'empty mask target', ann_id)
        else:
            valid += 1
    if valid == 0:
        col.report.findings[-1].detail += '; no valid polygon left: the instance is ignored ' \
                                          '(ignore_flag) in training'


def _box_kept(col: Collector, ann: dict, img: dict, path: str) -> bool:
    """Whether mmdet keeps the box of ``ann`` (a finding for each problem)."""
    aid, bbox = ann.get('id'), ann.get('bbox')
    if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(map(_number, bbox))):
        col.add('bad_annotation', 'error', path, f'bbox {bbox!r} is not [x, y, w, h]', aid)
        return False
    if not _number(ann.get('area')):
        col.add('bad_annotation', 'error', path, "no numeric 'area'", aid)
        return False
    x, y, w, h = bbox
    width, height = img.get('width') or 0, img.get('height') or 0
    inter_w = max(0, min(x + w, width) - max(x, 0))
    inter_h = max(0, min(y + h, height) - max(y, 0))
    if inter_w * inter_h == 0:
        col.add('box_outside', 'warning', path, f'bbox {bbox} vs image {width}x{height}', aid)
        return False
    if ann['area'] <= 0 or w < 1 or h < 1:
        col.add('zero_area', 'warning', path, f"area {ann['area']}, bbox {bbox}", aid)
        return False
    if x < 0 or y < 0 or x + w > width or y + h > height:
        col.add('box_partly_outside', 'info', path, f'bbox {bbox} vs image {width}x{height}', aid)
    return True


def _check_annotation(col: Collector, coco: _Coco, ann: dict, seen_ids: set,
                      with_mask: bool) -> None:
    aid, image_id = ann.get('id'), ann.get('image_id')
    if aid in seen_ids:
        col.add('duplicate_ann_id', 'error', coco.paths.get(image_id, coco.ann_file),
                f'id {aid} is used more than once', aid)
    seen_ids.add(aid)
    img = coco.images.get(image_id)
    if img is None:
        col.add('orphan_annotation', 'warning', coco.ann_file, f'image_id {image_id} is not among '
                f'the images', aid)
        return
    path = coco.paths[image_id]
    if ann.get('ignore', False):
        return
    cat = ann.get('category_id')
    if cat not in coco.cat_names:
        col.add('unknown_category', 'error', path, f'category_id {cat} is not among the '
                f'file\'s categories {sorted(coco.cat_names)}', aid)
        return
    if cat not in coco.used_cats:
        col.add('other_category', 'info', path, f'category {coco.cat_names[cat]!r}', aid)
        return
    coco.n_total[image_id] += 1
    if not _box_kept(col, ann, img, path):
        return
    coco.n_valid[image_id] += 1
    if with_mask:
        _check_segmentation(col, ann.get('segmentation'), path, aid)


def _check_training_filter(ds, col: Collector, coco: _Coco) -> None:
    """Images without (valid) annotations and images below ``filter_cfg.min_size``."""
    filter_cfg = (ds.filter_cfg or {}) if not ds.test_mode else {}
    min_size = filter_cfg.get('min_size', 0) or 0
    drops_empty = bool(filter_cfg.get('filter_empty_gt', False))
    for image_id, img in coco.images.items():
        path = coco.paths[image_id]
        if coco.n_total[image_id] == 0:
            col.add('no_annotations', 'warning' if drops_empty else 'info', path,
                    'dropped from training (filter_empty_gt)' if drops_empty else
                    'kept (no filter_empty_gt)')
        elif coco.n_valid[image_id] == 0:
            col.add('no_valid_annotations', 'warning', path, f'all {coco.n_total[image_id]} '
                    f'annotations are dropped; kept as a background-only sample')
        if min_size and _number(img.get('width')) and _number(img.get('height')) and \
                min(img['width'], img['height']) < min_size:
            col.add('image_too_small', 'warning', path, f"{img['width']}x{img['height']} < "
                    f'min_size {min_size}')


def _check_image_files(col: Collector, coco: _Coco, mode: str, workers: int) -> None:
    """Each image file, and its size against the annotation file's."""
    results = col.images(list(coco.paths.values()), mode, workers)
    for image_id, path in coco.paths.items():
        size = results[path][2]
        img = coco.images[image_id]
        if size is not None and tuple(size) != (img.get('width'), img.get('height')):
            col.add('size_mismatch', 'warning', path, f"file {size[0]}x{size[1]}, annotation "
                    f"{img.get('width')}x{img.get('height')}")


def check_coco(ds, col: Collector, mode: str, workers: int, with_mask: bool) -> None:
    """Checks a (lazily built) COCO dataset: its annotation file, then its image files."""
    coco = _read(ds, col)
    if coco is None:
        return
    seen_ids = set()
    for ann in coco.annotations:
        _check_annotation(col, coco, ann, seen_ids, with_mask)
    col.summary.annotations = len(coco.annotations)
    _check_training_filter(ds, col, coco)
    _check_image_files(col, coco, mode, workers)
