"""Calibration and evaluation inputs read from a folder of images, as the classification
configs' test pipeline prepares them (resize, centre crop, ImageNet mean / std in RGB order):
:func:`calibration_images` (OpenVINO / NNCF int8 calibration, the benchmark's ``--calibration``,
the toy set by default)."""
import os
import os.path as osp
import tempfile
from typing import List, Optional, Tuple

import numpy as np

__all__ = ['IMAGENET_MEAN', 'IMAGENET_STD', 'ImageNetNormalize', 'calibration_images']

# ImageNet mean / std in RGB order, 0-255 scale: the data preprocessor of the configs.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


class ImageNetNormalize:
    """HWC uint8 BGR image -> CHW float32 RGB, ImageNet mean / std (the configs' preprocessor)."""

    def __call__(self, image: np.ndarray) -> np.ndarray:
        rgb = image[..., ::-1].astype(np.float32)
        rgb = (rgb - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
        return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def _image_files(folder: str) -> List[str]:
    exts = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
    files = []
    for root, _, names in os.walk(folder):
        files += [osp.join(root, n) for n in names if n.lower().endswith(exts)]
    return sorted(files)


def calibration_images(folder: Optional[str], shape: Tuple[int, int] = (224, 224),
                       limit: Optional[int] = 64, seed: int = 0) -> np.ndarray:
    """Calibration inputs ``(N, 3, H, W)`` float32 read from the images below ``folder``.

    Each image is resized (shorter side to ``H / 0.875``, bicubic), centre-cropped to
    ``shape`` and normalised with the ImageNet mean / std in RGB order: the test pipeline of
    the classification configs. ``folder=None`` generates the toy set of
    :func:`recnext_mm.toy_data.imagenet.make_toy_imagenet` in a temporary folder and reads its
    train split (the classes of the toy classifier).

    Args:
        folder (str, optional): Any folder of images (searched recursively, sorted).
        shape (tuple): (H, W) of the model input.
        limit (int, optional): At most this many images (an even spread over the sorted files).
        seed (int): Seed of the toy set (``folder=None``).

    Raises:
        FileNotFoundError: ``folder`` does not exist or holds no image.
    """
    import cv2
    temp = None
    if folder is None:
        from recnext_mm.toy_data.imagenet import make_toy_imagenet
        temp = tempfile.mkdtemp(prefix='recnext_calib_')
        make_toy_imagenet(temp, seed=seed, train_per_class=max(2, -(-(limit or 48) // 6)),
                          val_per_class=1)
        folder = osp.join(temp, 'train')
    try:
        if not osp.isdir(folder):
            raise FileNotFoundError(f'calibration folder not found: {folder}')
        files = _image_files(folder)
        if not files:
            raise FileNotFoundError(f'no images (.jpg/.jpeg/.png/.bmp/.webp) below {folder}: '
                                    f'pass a folder of calibration images.')
        if limit and len(files) > limit:
            files = [files[i] for i in np.linspace(0, len(files) - 1, limit).round().astype(int)]
        h, w = shape
        normalize = ImageNetNormalize()
        out = []
        for path in files:
            image = cv2.imread(path, cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(f'cannot read calibration image {path}')
            scale = round(min(h, w) / 0.875) / min(image.shape[:2])
            resized = cv2.resize(image, (max(w, round(image.shape[1] * scale)),
                                         max(h, round(image.shape[0] * scale))),
                                 interpolation=cv2.INTER_CUBIC)
            top, left = (resized.shape[0] - h) // 2, (resized.shape[1] - w) // 2
            out.append(normalize(resized[top:top + h, left:left + w]))
        return np.stack(out)
    finally:
        if temp:
            import shutil
            shutil.rmtree(temp, ignore_errors=True)
