"""Checks the data of a config before a run: files, images and annotations, per split.

What is checked, by dataset kind (found from the built dataset's class):

- every dataset: each image file exists and, by ``mode``, opens (``'header'``: the format header is
  read, so it is fast on COCO) or decodes completely (``'decode'``: catches truncated files).
- COCO (mmdet ``CocoDataset`` and subclasses): the annotation file is read the way mmdet reads it
  and every annotation mmdet would drop or misuse is named: unknown category, zero area or a box
  side under 1 px, a box outside the image, a malformed box, duplicate ids, annotations of
  missing images, missing segmentation (a crash of Mask R-CNN training), empty and degenerate
  polygons (an instance left without a polygon is ignored), images without (valid) annotations,
  images below ``filter_cfg.min_size``, and image sizes that differ from the file's width/height.
- semantic segmentation (mmseg ``BaseSegDataset``): each label map exists, is one channel, has the
  image's size and holds only ``0..num_classes-1`` or the ignore index after ``reduce_zero_label``
  and the label map (label maps are decoded in ``'header'`` and ``'decode'`` mode).
- ImageNet layouts (mmpretrain ``CustomDataset``): class folders without images, a folder count that
  differs from the configured classes, annotation-list labels out of range, classes without images.

Each problem is a :class:`Finding` (split, kind, severity, file, annotation id, detail). ``error``:
the run would stop or learn from broken data; ``warning``: mmdet/mmseg drop or ignore the item;
``info``: counted only (e.g. categories outside the config's classes, boxes clipped at the border).
:func:`check_config_data` returns a :class:`DataReport`; ``tools/check_dataset.py`` prints it and
``tools/train.py`` runs the cheap part (``mode='exists'``) before training.
"""
import json
import os
import os.path as osp
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from mmengine.config import Config, ConfigDict

from .builder import import_task, task_of

__all__ = ['KINDS', 'MODES', 'Finding', 'DatasetSummary', 'DataReport', 'check_config_data',
           'check_image']

MODES = ('exists', 'header', 'decode')
SEVERITIES = ('error', 'warning', 'info')

# kind -> what it means and what the mm packages do with it (printed with the summary).
KINDS: Dict[str, str] = {
    'missing_path': 'a data root, folder or annotation file does not exist',
    'bad_annotation_file': 'the annotation file cannot be read or parsed',
    'missing_image': 'image file missing: training skips it, evaluation stops',
    'unreadable_image': 'image cannot be opened or decoded: training skips it, evaluation stops',
    'size_mismatch': 'image size differs from width/height in the annotation file',
    'duplicate_ann_id': 'annotation id used twice: mmdet refuses the file',
    'bad_annotation': "malformed annotation (bbox not [x, y, w, h], no 'area'): mmdet fails",
    'unknown_category': "category id not among the file's categories: mmdet drops it",
    'other_category': "category not among the config's classes: mmdet drops it",
    'zero_area': 'area <= 0 or a box side < 1 px: mmdet drops it',
    'box_outside': 'box entirely outside the image: mmdet drops it',
    'box_partly_outside': 'box partly outside the image: clipped by the transforms',
    'no_segmentation': 'no polygon or RLE: Mask R-CNN training fails (KeyError: mask)',
    'empty_polygon': 'a polygon without points: mmdet drops the polygon',
    'degenerate_polygon': 'polygon of < 3 points, odd length or zero area: dropped or empty mask',
    'orphan_annotation': 'annotation of an image id not in the file: never used',
    'no_annotations': 'image without annotations (dropped from training by filter_empty_gt)',
    'no_valid_annotations': 'every annotation of the image is dropped: a background-only sample',
    'image_too_small': 'image below filter_cfg.min_size: dropped from training',
    'empty_class': 'a class without any image or annotation',
    'class_mismatch': 'class folders do not match the configured classes: mmpretrain stops',
    'bad_label': 'label index outside the classes in the annotation list',
    'missing_label': 'label map missing: training and evaluation stop',
    'unreadable_label': 'label map cannot be decoded or is not one channel of class indices',
    'label_size_mismatch': 'label map size differs from its image',
    'label_out_of_range': 'label values outside the classes and the ignore index',
}


def leaf_datasets(cfg_node) -> List[ConfigDict]:
    """The leaf dataset configs below a dataloader's dataset (unwrapping wrappers)."""
    if cfg_node is None:
        return []
    if 'datasets' in cfg_node:
        return [d for sub in cfg_node['datasets'] for d in leaf_datasets(sub)]
    if 'dataset' in cfg_node:
        return leaf_datasets(cfg_node['dataset'])
    return [cfg_node]


@dataclass
class Finding:
    """One problem found in the data.

    Attributes:
        split (str): 'train', 'val' or 'test'.
        kind (str): A key of :data:`KINDS`.
        severity (str): 'error', 'warning' or 'info'.
        file (str): The file concerned (image, label map or annotation file).
        detail (str): What exactly is wrong.
        ann_id: The annotation id, for annotation problems.
    """
    split: str
    kind: str
    severity: str
    file: str
    detail: str = ''
    ann_id: Any = None

    def line(self) -> str:
        where = f'annotation {self.ann_id} of {self.file}' if self.ann_id is not None else self.file
        return f'[{self.severity}] {self.split} {self.kind}: {where}' + \
            (f': {self.detail}' if self.detail else '')


@dataclass
class DatasetSummary:
    """What was checked for one dataset of a split."""
    split: str
    name: str
    images: int = 0
    annotations: int = 0
    labels: int = 0


@dataclass
class DataReport:
    """The result of :func:`check_config_data`."""
    mode: str
    datasets: List[DatasetSummary] = field(default_factory=list)
    findings: List[Finding] = field(default_factory=list)

    def of(self, severity: str) -> List[Finding]:
        return [f for f in self.findings if f.severity == severity]

    @property
    def errors(self) -> List[Finding]:
        return self.of('error')

    @property
    def warnings(self) -> List[Finding]:
        return self.of('warning')

    def counts(self) -> Counter:
        """``Counter`` of ``(split, kind, severity)``."""
        return Counter((f.split, f.kind, f.severity) for f in self.findings)

    def dropped_annotations(self, split: str = 'train') -> Dict[str, int]:
        """Annotation findings of a split by kind (what mmdet drops, ignores or fails on)."""
        return dict(Counter(f.kind for f in self.findings if f.split == split and
                            f.ann_id is not None and f.kind != 'box_partly_outside'))

    def table(self) -> str:
        """The summary: what was checked per dataset, then the problems by kind."""
        rows = [('split', 'dataset', 'images', 'annotations', 'label maps', 'errors', 'warnings')]
        for ds in self.datasets:
            mine = [f for f in self.findings if f.split == ds.split]
            if ds.name.startswith('same data as'):
                rows.append((ds.split, ds.name, '-', '-', '-', '-', '-'))
                continue
            rows.append((ds.split, ds.name, str(ds.images), str(ds.annotations), str(ds.labels),
                         str(sum(f.severity == 'error' for f in mine)),
                         str(sum(f.severity == 'warning' for f in mine))))
        lines = _format_rows(rows)
        counts = self.counts()
        if counts:
            rows = [('split', 'problem', 'severity', 'count', 'meaning')]
            order = {s: i for i, s in enumerate(SEVERITIES)}
            for (split, kind, severity), n in sorted(
                    counts.items(), key=lambda kv: (kv[0][0], order[kv[0][2]], kv[0][1])):
                rows.append((split, kind, severity, str(n), KINDS.get(kind, '')))
            lines += [''] + _format_rows(rows)
        else:
            lines += ['', f'No problems found (checks: {self.mode}).']
        return '\n'.join(lines)

    def listing(self, severities: Sequence[str] = ('error', 'warning'),
                limit: Optional[int] = None) -> str:
        """One line per problem of the given severities, errors first."""
        chosen = [f for s in severities for f in self.findings if f.severity == s]
        shown = chosen if limit is None else chosen[:limit]
        lines = [f.line() for f in shown]
        if len(shown) < len(chosen):
            lines.append(f'... and {len(chosen) - len(shown)} more (python tools/check_dataset.py '
                         f'CONFIG lists them all)')
        return '\n'.join(lines)

    def format(self, limit: Optional[int] = None, with_info: bool = False) -> str:
        severities = SEVERITIES if with_info else ('error', 'warning')
        text = self.table()
        listing = self.listing(severities, limit)
        if listing:
            text += '\n\nProblems:\n' + listing
        return text


def _format_rows(rows: List[Tuple[str, ...]]) -> List[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, row in enumerate(rows):
        out.append('  '.join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if j == 0:
            out.append('  '.join('-' * w for w in widths))
    return out


# ----------------------------------------------------------------------------- files
def check_image(path: str, mode: str = 'header') -> Tuple[Optional[str], str, Optional[Tuple[int, int]]]:
    """Checks one image file.

    Args:
        path (str): The file.
        mode (str): 'exists', 'header' (open and read the header) or 'decode' (all pixels).

    Returns:
        tuple: ``(kind or None, detail, (width, height) or None)``.
    """
    if not osp.isfile(path):
        return 'missing_image', '', None
    if mode == 'exists':
        return None, '', None
    if osp.getsize(path) == 0:
        return 'unreadable_image', 'empty file', None
    from PIL import Image
    try:
        with Image.open(path) as img:
            size = img.size
            if mode == 'decode':
                img.load()  # raises on a truncated or damaged file
    except Exception as err:  # noqa: BLE001  (PIL raises many types for bad files)
        return 'unreadable_image', f'{type(err).__name__}: {err}', None
    return None, '', size


def _check_images(paths: Sequence[str], mode: str, workers: int) -> Dict[str, tuple]:
    from PIL import ImageFile
    truncated_ok = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is a finding, not an image
    try:
        unique = list(dict.fromkeys(paths))
        if mode == 'exists' or workers <= 1 or len(unique) < 64:
            results = [check_image(p, mode) for p in unique]
        else:
            with ThreadPoolExecutor(workers) as pool:  # file I/O and decoding release the GIL
                results = list(pool.map(lambda p: check_image(p, mode), unique, chunksize=32))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok
    return dict(zip(unique, results))


class _Collector:
    """Findings and summaries while checking one dataset."""

    def __init__(self, report: DataReport, split: str, name: str):
        self.report = report
        self.split = split
        self.summary = DatasetSummary(split, name)
        report.datasets.append(self.summary)

    def add(self, kind: str, severity: str, file: str, detail: str = '', ann_id=None) -> None:
        self.report.findings.append(Finding(self.split, kind, severity, file, detail, ann_id))

    def images(self, paths: Sequence[str], mode: str, workers: int) -> Dict[str, tuple]:
        results = _check_images(paths, mode, workers)
        self.summary.images = len(results)
        for path, (kind, detail, _) in results.items():
            if kind:
                self.add(kind, 'error', path, detail)
        return results


# ----------------------------------------------------------------------------- COCO
def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _polygon_area(poly: Sequence[float]) -> float:
    xs, ys = poly[0::2], poly[1::2]
    n = len(xs)
    return abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))) / 2


def _check_segmentation(col: _Collector, seg, img_path: str, ann_id) -> None:
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


def _check_coco(ds, col: _Collector, mode: str, workers: int, with_mask: bool) -> None:
    ann_file = ds.ann_file
    if not osp.isfile(ann_file):
        col.add('missing_path', 'error', ann_file, 'annotation file not found')
        return
    try:
        with open(ann_file, encoding='utf-8') as f:
            data = json.load(f)
        images, anns, cats = data['images'], data['annotations'], data['categories']
    except (OSError, ValueError, KeyError, TypeError) as err:
        col.add('bad_annotation_file', 'error', ann_file, f'{type(err).__name__}: {err}')
        return
    prefix = ds.data_prefix.get('img', '') or ''
    cat_names = {c.get('id'): c.get('name') for c in cats}
    classes = tuple(ds.metainfo.get('classes') or ())
    used_cats = {cid for cid, name in cat_names.items() if name in classes}
    for name in classes:
        if name not in cat_names.values():
            col.add('empty_class', 'error', ann_file, f'class {name!r} of the config is not among '
                    f'the categories of the annotation file')
    img_by_id, path_of = {}, {}
    for img in images:
        path = osp.join(prefix, str(img.get('file_name', '')))
        img_by_id[img.get('id')] = img
        path_of[img.get('id')] = path
        if not (_number(img.get('width')) and _number(img.get('height'))):
            col.add('bad_annotation', 'error', path, 'image entry without numeric width/height')
    seen_ids = set()
    n_total = Counter()   # annotations per image, configured categories
    n_valid = Counter()   # of those, kept by mmdet
    for ann in anns:
        aid = ann.get('id')
        image_id = ann.get('image_id')
        img = img_by_id.get(image_id)
        if aid in seen_ids:
            col.add('duplicate_ann_id', 'error', path_of.get(image_id, ann_file),
                    f'id {aid} is used more than once', aid)
        seen_ids.add(aid)
        if img is None:
            col.add('orphan_annotation', 'warning', ann_file, f'image_id {image_id} is not among '
                    f'the images', aid)
            continue
        path = path_of[image_id]
        if ann.get('ignore', False):
            continue
        cat = ann.get('category_id')
        if cat not in cat_names:
            col.add('unknown_category', 'error', path, f'category_id {cat} is not among the '
                    f'file\'s categories {sorted(cat_names)}', aid)
            continue
        if cat not in used_cats:
            col.add('other_category', 'info', path, f'category {cat_names[cat]!r}', aid)
            continue
        n_total[image_id] += 1
        bbox = ann.get('bbox')
        if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(map(_number, bbox))):
            col.add('bad_annotation', 'error', path, f'bbox {bbox!r} is not [x, y, w, h]', aid)
            continue
        if not _number(ann.get('area')):
            col.add('bad_annotation', 'error', path, "no numeric 'area'", aid)
            continue
        x, y, w, h = bbox
        width, height = img.get('width') or 0, img.get('height') or 0
        inter_w = max(0, min(x + w, width) - max(x, 0))
        inter_h = max(0, min(y + h, height) - max(y, 0))
        if inter_w * inter_h == 0:
            col.add('box_outside', 'warning', path, f'bbox {bbox} vs image {width}x{height}', aid)
            continue
        if ann['area'] <= 0 or w < 1 or h < 1:
            col.add('zero_area', 'warning', path, f"area {ann['area']}, bbox {bbox}", aid)
            continue
        if x < 0 or y < 0 or x + w > width or y + h > height:
            col.add('box_partly_outside', 'info', path, f'bbox {bbox} vs image {width}x{height}',
                    aid)
        n_valid[image_id] += 1
        if with_mask:
            _check_segmentation(col, ann.get('segmentation'), path, aid)
    col.summary.annotations = len(anns)

    training = not ds.test_mode
    filter_cfg = (ds.filter_cfg or {}) if training else {}
    min_size = filter_cfg.get('min_size', 0) or 0
    drops_empty = bool(filter_cfg.get('filter_empty_gt', False))
    for image_id, img in img_by_id.items():
        path = path_of[image_id]
        if n_total[image_id] == 0:
            col.add('no_annotations', 'warning' if drops_empty else 'info', path,
                    'dropped from training (filter_empty_gt)' if drops_empty else
                    'kept (no filter_empty_gt)')
        elif n_valid[image_id] == 0:
            col.add('no_valid_annotations', 'warning', path, f'all {n_total[image_id]} '
                    f'annotations are dropped; kept as a background-only sample')
        if min_size and _number(img.get('width')) and _number(img.get('height')) and \
                min(img['width'], img['height']) < min_size:
            col.add('image_too_small', 'warning', path, f"{img['width']}x{img['height']} < "
                    f'min_size {min_size}')
    results = col.images(list(path_of.values()), mode, workers)
    for image_id, path in path_of.items():
        size = results[path][2]
        img = img_by_id[image_id]
        if size is not None and tuple(size) != (img.get('width'), img.get('height')):
            col.add('size_mismatch', 'warning', path, f"file {size[0]}x{size[1]}, annotation "
                    f"{img.get('width')}x{img.get('height')}")


# ----------------------------------------------------------------------------- segmentation
def _read_label(path: str) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as img:
        return np.asarray(img)  # mmseg's default 'pillow' decode: palette indices, not colours


def _label_problem(path: str, image_size, mode: str, num_classes: int, ignore_index: int,
                   reduce_zero_label: bool, label_map) -> Tuple[Optional[str], str]:
    if not osp.isfile(path):
        return 'missing_label', ''
    if mode == 'exists':
        return None, ''
    try:
        label = _read_label(path)
    except Exception as err:  # noqa: BLE001
        return 'unreadable_label', f'{type(err).__name__}: {err}'
    label = np.squeeze(label)
    if label.ndim != 2:
        return 'unreadable_label', f'shape {label.shape}: expected one channel of class indices'
    if image_size is not None and (label.shape[1], label.shape[0]) != tuple(image_size):
        return 'label_size_mismatch', (f'label {label.shape[1]}x{label.shape[0]}, image '
                                       f'{image_size[0]}x{image_size[1]}')
    raw = np.unique(label)
    values = raw.astype(np.int64)
    if reduce_zero_label:  # as mmseg's LoadAnnotations: 0 -> ignore, v -> v - 1
        values = np.where(values == 0, 255, values - 1)
        values = np.where(values == 254, 255, values)
    if label_map:
        values = np.array([label_map.get(int(v), v) for v in values])
    bad = raw[(values >= num_classes) & (values != ignore_index) | (values < 0)]
    if bad.size:
        rule = f'1..{num_classes} and 0 (ignored) with reduce_zero_label' if reduce_zero_label \
            else f'0..{num_classes - 1} and {ignore_index} (ignored)'
        return 'label_out_of_range', f'values {bad.tolist()} in the file; valid: {rule}'
    return None, ''


def _seg_num_classes(cfg: Config, ds) -> Tuple[int, int]:
    head = cfg.get('model', {}).get('decode_head')
    if isinstance(head, (list, tuple)):
        head = head[-1]
    num = head.get('num_classes') if isinstance(head, dict) else None
    num = num or len(ds.metainfo.get('classes') or ())
    return int(num), int(getattr(ds, 'ignore_index', 255))


def _check_seg(cfg, ds, col: _Collector, mode: str, workers: int) -> None:
    data_list = ds.load_data_list()
    img_paths = [d['img_path'] for d in data_list]
    results = col.images(img_paths, mode, workers)
    num_classes, ignore_index = _seg_num_classes(cfg, ds)
    label_mode = 'exists' if mode == 'exists' else 'decode'
    pairs = [(d['seg_map_path'], results[d['img_path']][2]) for d in data_list
             if d.get('seg_map_path')]

    def one(pair):
        return _label_problem(pair[0], pair[1], label_mode, num_classes, ignore_index,
                              ds.reduce_zero_label, ds.label_map)
    if label_mode == 'exists' or workers <= 1:
        found = [one(p) for p in pairs]
    else:
        with ThreadPoolExecutor(workers) as pool:
            found = list(pool.map(one, pairs, chunksize=16))
    col.summary.labels = len(pairs)
    for (path, _), (kind, detail) in zip(pairs, found):
        if kind:
            col.add(kind, 'error', path, detail)


# ----------------------------------------------------------------------------- classification
def _check_cls(ds, col: _Collector, mode: str, workers: int) -> None:
    classes = tuple(ds.metainfo.get('classes') or ())
    prefix = ds.img_prefix
    per_class = Counter()
    paths = []
    if ds.ann_file:
        if not osp.isfile(ds.ann_file):
            col.add('missing_path', 'error', ds.ann_file, 'annotation list not found')
            return
        with open(ds.ann_file, encoding='utf-8') as f:
            lines = [line.strip() for line in f if line.strip()]
        for n, line in enumerate(lines, 1):
            name, _, label = line.rpartition(' ')
            path = osp.join(prefix, name)
            paths.append(path)
            if not label.lstrip('-').isdigit() or (classes and not 0 <= int(label) < len(classes)):
                col.add('bad_label', 'error', path, f'line {n} of {ds.ann_file}: label {label!r} '
                        f'outside 0..{len(classes) - 1}')
            else:
                per_class[int(label)] += 1
        col.summary.annotations = len(lines)
        for index, name in enumerate(classes):
            if per_class[index] == 0:
                col.add('empty_class', 'error', ds.ann_file, f'class {index} ({name}) has no image')
    else:
        if not osp.isdir(prefix):
            col.add('missing_path', 'error', prefix, 'image folder not found')
            return
        folders = sorted(e for e in os.listdir(prefix) if osp.isdir(osp.join(prefix, e)))
        extensions = tuple(getattr(ds, 'extensions', ('.jpg', '.jpeg', '.png')))
        if classes and len(classes) != len(folders):
            col.add('class_mismatch', 'error', prefix, f'{len(folders)} class folders, '
                    f'{len(classes)} classes in the config')
        for folder in folders:
            found = [osp.join(root, f) for root, _, files in os.walk(osp.join(prefix, folder))
                     for f in files if f.lower().endswith(extensions)]
            if not found:
                col.add('empty_class', 'error', osp.join(prefix, folder),
                        f'no image ({", ".join(sorted(extensions))})')
            paths += sorted(found)
    col.images(paths, mode, workers)


def _check_generic(ds, col: _Collector, mode: str, workers: int) -> None:
    col.images([d['img_path'] for d in ds.load_data_list() if 'img_path' in d], mode, workers)


# ----------------------------------------------------------------------------- entry point
def _uses_masks(pipeline) -> bool:
    stack = [pipeline]
    while stack:
        obj = stack.pop()
        if getattr(obj, 'with_mask', False) is True:
            return True
        inner = getattr(obj, 'transforms', None)
        if isinstance(inner, (list, tuple)):
            stack.extend(inner)
        elif inner is not None:
            stack.append(inner)
    return False


def _build_lazy(ds_cfg, task: str):
    from mmengine.registry import DATASETS, DefaultScope
    ds_cfg = ds_cfg.copy()
    ds_cfg['lazy_init'] = True  # the annotation file is read here, not by the dataset
    with DefaultScope.overwrite_default_scope(task):
        return DATASETS.build(ds_cfg)


def check_config_data(cfg: Config, splits: Iterable[str] = ('train', 'val', 'test'),
                      mode: str = 'header', workers: int = 8) -> DataReport:
    """Checks the data of every dataset of ``cfg``'s dataloaders for ``splits``.

    Args:
        cfg (Config): A loaded config (``--cfg-options`` merged).
        splits (Iterable[str]): Which dataloaders (``<split>_dataloader``) to check.
        mode (str): 'exists' (files exist; annotations and label names checked: the cheap
            check ``tools/train.py`` runs), 'header' (images opened, label maps decoded) or
            'decode' (images fully decoded too).
        workers (int): Threads for file checks.

    Returns:
        DataReport: every finding; ``report.errors`` is empty when the data is usable.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    task = task_of(cfg)
    import_task(task)
    report = DataReport(mode)
    checked = {}  # the same dataset in two splits (test_dataloader = val_dataloader) once
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for ds_cfg in leaf_datasets(loader.get('dataset')):
            key = repr(ds_cfg)
            if key in checked:
                report.datasets.append(DatasetSummary(split, f'same data as {checked[key]}'))
                continue
            checked[key] = split
            _check_dataset(cfg, ds_cfg, split, task, mode, workers, report)
    return report


def _check_dataset(cfg, ds_cfg, split, task, mode, workers, report) -> None:
    name = f"{ds_cfg.get('type', '?')}({ds_cfg.get('data_root', '') or ''})"
    col = _Collector(report, split, name)
    try:
        ds = _build_lazy(ds_cfg, task)
    except (FileNotFoundError, AssertionError, RuntimeError, ValueError, OSError) as err:
        col.add('missing_path', 'error', str(ds_cfg.get('data_root', '')),
                f'the dataset cannot be built: {type(err).__name__}: {err}')
        return
    try:
        from mmdet.datasets import CocoDataset
    except ImportError:
        CocoDataset = None
    try:
        from mmseg.datasets import BaseSegDataset
    except ImportError:
        BaseSegDataset = None
    try:
        from mmpretrain.datasets import CustomDataset
    except ImportError:
        CustomDataset = None
    try:
        if CocoDataset is not None and isinstance(ds, CocoDataset):
            _check_coco(ds, col, mode, workers, with_mask=_uses_masks(ds.pipeline))
        elif BaseSegDataset is not None and isinstance(ds, BaseSegDataset):
            _check_seg(cfg, ds, col, mode, workers)
        elif CustomDataset is not None and isinstance(ds, CustomDataset):
            _check_cls(ds, col, mode, workers)
        else:
            _check_generic(ds, col, mode, workers)
    except (FileNotFoundError, NotADirectoryError) as err:
        col.add('missing_path', 'error', getattr(err, 'filename', None) or name, str(err))
