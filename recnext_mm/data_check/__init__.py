"""Checks the data of a config before a run: files, images and annotations, per split.

What is checked, by dataset kind (found from the built dataset's class):

- every dataset, first (``mode='paths'``, :mod:`.layout`): the data root, annotation file and image
  folders the config names exist (an ImageNet image folder must hold images); a missing one is
  reported with the layout the task expects and how to point the config elsewhere, and the dataset
  is not checked further.
- every dataset: each image file exists and, by ``mode``, opens (``'header'``: the format header is
  read, so it is fast on COCO) or decodes completely (``'decode'``: catches truncated files)
  (:mod:`.images`).
- COCO (mmdet ``CocoDataset`` and subclasses, :mod:`.coco`): the annotation file is read the way
  mmdet reads it and every annotation mmdet would drop or misuse is named: unknown category, zero
  area or a box side under 1 px, a box outside the image, a malformed box, duplicate ids,
  annotations of missing images, missing segmentation (a crash of Mask R-CNN training), empty and
  degenerate polygons (an instance left without a polygon is ignored), images without (valid)
  annotations, images below ``filter_cfg.min_size``, and image sizes that differ from the file's
  width/height.
- semantic segmentation (mmseg ``BaseSegDataset``, :mod:`.segmentation`): each label map exists, is
  one channel, has the image's size and holds only ``0..num_classes-1`` or the ignore index after
  ``reduce_zero_label`` and the label map (label maps are decoded in ``'header'`` and ``'decode'``
  mode).
- ImageNet layouts (mmpretrain ``CustomDataset``, :mod:`.classification`): class folders without
  images, a folder count that differs from the configured classes, annotation-list labels out of
  range, classes without images.

Each problem is a :class:`Finding` (split, kind, severity, file, annotation id, detail; the model
and its formatting are in :mod:`.report`). ``error``: the run would stop or learn from broken data;
``warning``: mmdet/mmseg drop or ignore the item; ``info``: counted only (e.g. categories outside
the config's classes, boxes clipped at the border). :func:`check_config_data` returns a
:class:`DataReport`; ``tools/check_dataset.py`` prints it. :func:`precheck` is the check before a
run: ``tools/train.py`` runs it with ``mode='exists'`` (``'paths'`` with ``--skip-data-check``),
``tools/test.py`` with ``mode='paths'``.
"""
from .check import check_config_data, leaf_datasets, precheck
from .images import check_image
from .layout import EXPECTED_LAYOUT
from .report import KINDS, MODES, DataReport, DatasetSummary, Finding

__all__ = ['KINDS', 'MODES', 'EXPECTED_LAYOUT', 'Finding', 'DatasetSummary', 'DataReport',
           'check_config_data', 'precheck', 'check_image', 'leaf_datasets']
