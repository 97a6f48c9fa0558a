"""The ImageNet-layout check (mmpretrain ``CustomDataset``): class folders without images, a folder
count that differs from the configured classes, annotation-list labels out of range, classes
without images; then each image file."""
import os
import os.path as osp
from collections import Counter
from typing import List, Optional

from .report import Collector

__all__ = ['check_cls']


def _listed_images(ds, col: Collector, classes: tuple) -> Optional[List[str]]:
    """The images of an annotation list (``ann_file``: ``path label`` lines)."""
    if not osp.isfile(ds.ann_file):
        col.add('missing_path', 'error', ds.ann_file, 'annotation list not found')
        return None
    with open(ds.ann_file, encoding='utf-8') as f:
        lines = [line.strip() for line in f if line.strip()]
    per_class, paths = Counter(), []
    for n, line in enumerate(lines, 1):
        name, _, label = line.rpartition(' ')
        path = osp.join(ds.img_prefix, name)
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
    return paths


def _folder_images(ds, col: Collector, classes: tuple) -> Optional[List[str]]:
    """The images of a folder per class."""
    prefix = ds.img_prefix
    if not osp.isdir(prefix):
        col.add('missing_path', 'error', prefix, 'image folder not found')
        return None
    folders = sorted(e for e in os.listdir(prefix) if osp.isdir(osp.join(prefix, e)))
    extensions = tuple(getattr(ds, 'extensions', ('.jpg', '.jpeg', '.png')))
    if classes and len(classes) != len(folders):
        col.add('class_mismatch', 'error', prefix, f'{len(folders)} class folders, '
                f'{len(classes)} classes in the config')
    paths = []
    for folder in folders:
        found = [osp.join(root, f) for root, _, files in os.walk(osp.join(prefix, folder))
                 for f in files if f.lower().endswith(extensions)]
        if not found:
            col.add('empty_class', 'error', osp.join(prefix, folder),
                    f'no image ({", ".join(sorted(extensions))})')
        paths += sorted(found)
    return paths


def check_cls(ds, col: Collector, mode: str, workers: int) -> None:
    """Checks a (lazily built) ImageNet-layout dataset: its list or class folders, then images."""
    classes = tuple(ds.metainfo.get('classes') or ())
    paths = (_listed_images if ds.ann_file else _folder_images)(ds, col, classes)
    if paths is not None:
        col.images(paths, mode, workers)
