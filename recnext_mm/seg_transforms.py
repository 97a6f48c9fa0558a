"""A data check for semantic segmentation pipelines (mmseg 1.x); imported by the segmentation configs.

Why: mmseg does not check annotation values. A label ``v`` with ``num_classes <= v < ignore_index``
(e.g. an ADE20K-style PNG loaded without ``reduce_zero_label``, or a data set with more classes than
the config) is

- in training on the CPU an ``IndexError: Target v is out of bounds`` from the loss, and on a GPU an
  opaque device-side assert, neither naming the file;
- in evaluation silently counted: ``IoUMetric`` drops the pixel from the ground-truth area but keeps
  the prediction there, which lowers the IoU of whatever class was predicted, with no message.

``CheckSegLabels`` placed right after ``LoadAnnotations`` turns both into one error that names the
file, the values and the fix. It costs one ``max`` over the label map per image.
"""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Raises a clear error when a loaded ``gt_seg_map`` holds labels outside the classes.

    Valid values are ``0..num_classes - 1`` and ``ignore_index``. Put it after ``LoadAnnotations``
    (after its ``reduce_zero_label``); samples without a ``gt_seg_map`` (plain inference) pass.

    Args:
        num_classes (int): Number of classes of the decode head.
        ignore_index (int): The ignored label. Defaults to 255.

    Raises:
        ValueError: naming the annotation file, the offending values and likely fixes.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        seg = results.get('gt_seg_map')
        if seg is None or seg.size == 0:
            return results
        # Fast path: one reduction decides for almost every image.
        high = int(seg.max())
        if high < self.num_classes and int(seg.min()) >= 0:
            return results
        values = np.unique(seg)
        bad = values[((values < 0) | (values >= self.num_classes)) & (values != self.ignore_index)]
        if bad.size:
            reduced = results.get('reduce_zero_label', False)
            raw = f' (values {(bad + 1).tolist()} in the file, before reduce_zero_label)' \
                if reduced else ''
            raise ValueError(
                f'Annotation {results.get("seg_map_path", "<unknown file>")!r} holds labels '
                f'{bad.tolist()}{raw}, outside 0..{self.num_classes - 1} and the ignore index '
                f'{self.ignore_index}, for num_classes={self.num_classes}.\n'
                f'Fix: correct the annotation; or, if the data set really has more classes, raise '
                f'model.decode_head.num_classes, the dataset metainfo classes and this check\'s '
                f'num_classes together; ADE20K-style PNGs (0 = unlabelled, 1..N = classes) need '
                f'reduce_zero_label=True.')
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_classes={self.num_classes}, ' \
               f'ignore_index={self.ignore_index})'
