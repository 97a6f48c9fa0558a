"""The first stage of every data check (``mode='paths'``): the data root, annotation file and image
folders a dataset config names exist, and an ImageNet image folder holds images. Nothing is opened.
A problem is reported with the layout the task expects and how to point the config elsewhere."""
import os.path as osp
from typing import Optional

from .images import has_images
from .report import Finding

__all__ = ['EXPECTED_LAYOUT', 'PATH_KINDS', 'expected_layout', 'check_paths', 'data_error']

# What a user must put where, by task, for the "missing data" error.
EXPECTED_LAYOUT = {
    'mmdet': ('COCO layout:\n  {root}/annotations/instances_train2017.json\n'
              '  {root}/annotations/instances_val2017.json\n  {root}/train2017/*.jpg\n'
              '  {root}/val2017/*.jpg\n'
              'For the embedded toy set run: python tools/data/make_toy_coco.py'),
    'mmseg': ('ADE20K layout:\n  {root}/images/training/*.jpg\n  {root}/images/validation/*.jpg\n'
              '  {root}/annotations/training/*.png\n  {root}/annotations/validation/*.png\n'
              '  (labels: 0 = ignore, 1..N = classes)\n'
              'For the embedded toy set run: python tools/data/make_toy_ade.py'),
    'mmpretrain': ('ImageNet layout:\n  {root}/train/<class>/*.JPEG\n  {root}/val/<class>/*.JPEG\n'
                   '  (or meta/train.txt, meta/val.txt annotation lists)\n'
                   'For the embedded toy set run: python tools/data/make_toy_imagenet.py'),
}

# The kinds of finding this stage makes; the pre-run check raises FileNotFoundError on them.
PATH_KINDS = ('missing_data', 'no_images')


def expected_layout(task: str, root: str) -> str:
    return EXPECTED_LAYOUT[task].format(root=root.rstrip('/') or root or '<data_root>')


def check_paths(task: str, split: str, ds_cfg) -> Optional[Finding]:
    """The first missing path of a leaf dataset config (its data root, then its annotation file,
    then its ``data_prefix`` folders; URLs are not checked), or an ImageNet folder without images.

    Returns:
        Finding or None: a ``missing_data`` or ``no_images`` error; its detail names the expected
        layout and the fix.
    """
    root = ds_cfg.get('data_root', '') or ''
    paths = [root] if root else []
    ann = ds_cfg.get('ann_file')
    if ann:
        paths.append(osp.join(root, ann))
    prefix = ds_cfg.get('data_prefix') or {}
    if isinstance(prefix, str):
        prefix = {'img': prefix}
    paths += [osp.join(root, value) for value in prefix.values()
              if isinstance(value, str) and value]
    layout = expected_layout(task, root)
    for path in paths:
        if '://' not in path and not osp.exists(path):
            fix = f'--cfg-options {split}_dataloader.dataset.data_root=/path/to/data/'
            return Finding(split, 'missing_data', 'error', path, f'does not exist.\nExpected '
                           f'{layout}\nOr point the config elsewhere, e.g. {fix}')
    if task == 'mmpretrain' and not ann and paths and not has_images(paths[-1]):
        return Finding(split, 'no_images', 'error', paths[-1],
                       f'holds no images (.jpg, .jpeg, .png, ...).\nExpected {layout}')
    return None


def data_error(finding: Finding) -> FileNotFoundError:
    """The error a run stops with for a finding of :func:`check_paths`."""
    what = 'data not found:' if finding.kind == 'missing_data' else 'image folder'
    return FileNotFoundError(f'{finding.split} {what} {finding.file!r} {finding.detail}')
