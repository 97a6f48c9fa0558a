"""The semantic segmentation check (mmseg ``BaseSegDataset``): each label map exists, is one
channel, has its image's size and holds only valid class indices or the ignore index (after
``reduce_zero_label`` and the label map)."""
import os.path as osp
from typing import Optional, Tuple

import numpy as np
from mmengine.config import Config

from .images import parallel_map
from .report import Collector

__all__ = ['check_seg']


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


def check_seg(cfg: Config, ds, col: Collector, mode: str, workers: int) -> None:
    """Checks the images and label maps of a (lazily built) segmentation dataset; label maps are
    decoded unless ``mode`` is 'exists'."""
    data_list = ds.load_data_list()
    results = col.images([d['img_path'] for d in data_list], mode, workers)
    num_classes, ignore_index = _seg_num_classes(cfg, ds)
    label_mode = 'exists' if mode == 'exists' else 'decode'
    pairs = [(d['seg_map_path'], results[d['img_path']][2]) for d in data_list
             if d.get('seg_map_path')]

    def one(pair):
        return _label_problem(pair[0], pair[1], label_mode, num_classes, ignore_index,
                              ds.reduce_zero_label, ds.label_map)
    found = parallel_map(one, pairs, workers if label_mode == 'decode' else 1, chunksize=16)
    col.summary.labels = len(pairs)
    for (path, _), (kind, detail) in zip(pairs, found):
        if kind:
            col.add(kind, 'error', path, detail)
