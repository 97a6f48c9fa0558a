"""Reading image files for the data check: exists, header only or fully decoded, in threads."""
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ['IMAGE_EXTENSIONS', 'check_image', 'check_images', 'has_images', 'parallel_map']

# What the image-folder check counts as an image (mmpretrain's default extensions and more).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def check_image(path: str, mode: str = 'header') -> Tuple[Optional[str], str, Optional[Tuple[int, int]]]:
    """Checks one image file.

    Args:
        path (str): The file.
        mode (str): 'exists' (or 'paths'), 'header' (open and read the header) or 'decode' (all
            pixels).

    Returns:
        tuple: ``(kind or None, detail, (width, height) or None)``.
    """
    if not osp.isfile(path):
        return 'missing_image', '', None
    if mode in ('paths', 'exists'):
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


def parallel_map(fn: Callable, items: Sequence, workers: int, chunksize: int) -> List:
    """``[fn(x) for x in items]``, in ``workers`` threads (file I/O and decoding release the
    GIL)."""
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items, chunksize=chunksize))


def check_images(paths: Sequence[str], mode: str, workers: int) -> Dict[str, tuple]:
    """:func:`check_image` of each distinct path, by path."""
    from PIL import ImageFile
    truncated_ok = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is a finding, not an image
    try:
        unique = list(dict.fromkeys(paths))
        opened = mode not in ('paths', 'exists') and len(unique) >= 64
        results = parallel_map(lambda p: check_image(p, mode), unique, workers if opened else 1,
                               chunksize=32)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok
    return dict(zip(unique, results))


def has_images(folder: str, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> bool:
    """Whether any file below ``folder`` has one of ``extensions`` (stops at the first)."""
    extensions = tuple(extensions)
    for _, _, files in os.walk(folder):
        if any(f.lower().endswith(extensions) for f in files):
            return True
    return False
