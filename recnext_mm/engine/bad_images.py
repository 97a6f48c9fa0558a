"""Unreadable images: skipped and counted in training, a clear stop in evaluation and test.

mmcv's ``LoadImageFromFile`` (used by the mmdet, mmseg and mmpretrain pipelines) raises on a file
it cannot read or decode (an ``AssertionError``, or the decoder's own error), which ends a training
run at the first truncated JPEG. For runs that choose ``runner_type='RecNeXtRunner'``
(:mod:`recnext_mm.engine.runner`), the runner wraps the image loaders of the pipelines it builds in
:class:`GuardedImageLoader` (mmcv itself is not changed):

- In the **training** dataloader an unreadable image makes the loader return ``None``, so mmengine's
  ``BaseDataset`` replaces the sample by another random one (its refetch, as for any pipeline that
  returns ``None`` in training). The file and the reason are appended to
  ``<log_dir>/bad_images_rank<r>.txt`` (written from the DataLoader workers too), and
  :class:`BadImageHook` logs a warning naming each file, reports the count at the end of each epoch
  (each pass over the data for iteration-based loops), and stops the run with the list once more
  than ``bad_image_limit`` images of one epoch were skipped.
- In validation and test (or training with ``bad_image_limit=0``) an unreadable image raises
  :class:`BadImageError` naming the file: evaluation never skips silently.

``bad_image_limit`` is a top-level config key (``tools/train.py --bad-image-limit``): a fraction
of the images one rank loads per epoch (a float below 1; default 0.01, i.e. 1%), or a count (an
int). The limit is per rank, against that rank's share of the epoch.
"""
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Tuple, Union

from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

__all__ = ['BadImageError', 'BadImageHook', 'DEFAULT_BAD_IMAGE_LIMIT', 'GuardedImageLoader',
           'guard_image_loaders', 'parse_limit', 'allowed_bad_images', 'read_records']

DEFAULT_BAD_IMAGE_LIMIT = 0.01


class BadImageError(RuntimeError):
    """An image that cannot be read or decoded where it may not be skipped (evaluation, test)."""


def parse_limit(value: Union[int, float, str, None]) -> Union[int, float]:
    """Normalizes a bad-image limit: ``'1%'`` or ``0.01`` is a fraction, ``'25'`` or ``25`` a count.

    Raises:
        ValueError: for a negative value, a fraction of 1 or more, or text that is neither.
    """
    if value is None:
        return DEFAULT_BAD_IMAGE_LIMIT
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text[:-1]) / 100 if text.endswith('%') else \
                (int(text) if text.isdigit() else float(text))
        except ValueError:
            raise ValueError(f'bad image limit {text!r}: give a count (25) or a percentage (1%).')
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f'bad image limit {value!r}: give a count >= 0 or a fraction in [0, 1).')
    if isinstance(value, float):
        if value >= 1:
            if value.is_integer():
                return int(value)
            raise ValueError(f'bad image limit {value!r}: a fraction must be below 1 (0.01 = 1%); '
                             f'a count must be a whole number.')
        return value
    return value


def allowed_bad_images(limit: Union[int, float], epoch_size: int) -> float:
    """How many images of an epoch of ``epoch_size`` may be skipped before the run stops."""
    return limit * epoch_size if isinstance(limit, float) else float(limit)


def _describe_limit(limit: Union[int, float], epoch_size: int) -> str:
    if isinstance(limit, float):
        return f'{limit:.2%} of the {epoch_size} images of an epoch'
    return f'{limit} images per epoch'


def _clean(text: str) -> str:
    return ' '.join(str(text).split())


def _append_record(log_path: str, filename: str, reason: str) -> None:
    # One short line per write, in append mode: lines from several workers do not interleave.
    with open(log_path, 'a', encoding='utf-8') as f:
        f.write(f'{_clean(filename)}\t{_clean(reason)}\n')


def read_records(log_path: str, offset: int = 0) -> Tuple[List[Tuple[str, str]], int]:
    """Reads the complete lines of a bad-image log from ``offset``.

    Returns:
        tuple: ``[(file, reason), ...]`` and the offset after the last complete line.
    """
    if not osp.isfile(log_path) or osp.getsize(log_path) <= offset:
        return [], offset
    with open(log_path, 'rb') as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b'\n') + 1  # a line still being written is read next time
    records = []
    for line in data[:end].decode('utf-8', errors='replace').splitlines():
        filename, _, reason = line.partition('\t')
        records.append((filename, reason))
    return records, offset + end


# ----------------------------------------------------------------------------- the loader
try:
    from mmcv.transforms import LoadImageFromFile
except ImportError:  # mmcv is an optional dependency of recnext_mm itself
    LoadImageFromFile = None


class GuardedImageLoader:
    """An image-loading transform of a built pipeline, with the bad-image policy around it.

    Args:
        loader: The wrapped transform (mmcv ``LoadImageFromFile`` or a subclass).
        log_path (str, optional): Training: record an unreadable image here and return ``None``
            (mmengine's dataset then refetches another sample). None: raise
            :class:`BadImageError` naming the file.

    Every other attribute is the wrapped loader's, so code that inspects pipelines still sees it.
    """

    def __init__(self, loader, log_path: Optional[str] = None):
        self.loader = loader
        self.log_path = log_path

    def __getattr__(self, name):
        if name in ('loader', 'log_path') or name.startswith('__'):
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __call__(self, results: dict) -> Optional[dict]:
        try:
            return self.loader(results)
        except Exception as err:  # noqa: BLE001  (any read/decode failure of this one file)
            kind = type(err).__name__ if type(err).__module__ == 'builtins' else \
                f'{type(err).__module__}.{type(err).__name__}'
            reason = f'{kind}: {err}' if str(err) else kind
            filename = results.get('img_path')
            error = err
        if self.log_path is None:
            raise BadImageError(
                f'Cannot read image {filename!r} ({_clean(reason)}). Evaluation and test stop at an '
                f'unreadable image (training skips up to `bad_image_limit` of them). Replace or '
                f'remove the file; `python tools/check_dataset.py CONFIG --decode` lists every '
                f'unreadable image of a config.') from error
        _append_record(self.log_path, filename, reason)
        return None  # mmengine's BaseDataset refetches another sample in training

    def __repr__(self):
        return f'GuardedImageLoader({self.loader!r}, log_path={self.log_path!r})'


def _leaf_datasets(dataset) -> Iterator:
    yield dataset
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and inner is not dataset:
        yield from _leaf_datasets(inner)
    for sub in getattr(dataset, 'datasets', None) or []:
        yield from _leaf_datasets(sub)


def _guard(obj, log_path: Optional[str], seen: set) -> int:
    """Wraps the image loaders in the ``transforms`` lists below ``obj``; returns how many."""
    if obj is None or id(obj) in seen:
        return 0
    seen.add(id(obj))
    inner = getattr(obj, 'transforms', None)  # Compose, RandomChoice, KeyMapper, ...
    if not isinstance(inner, list):
        return _guard(inner, log_path, seen) if inner is not None and \
            not isinstance(inner, tuple) else 0
    count = 0
    for index, item in enumerate(inner):
        if isinstance(item, GuardedImageLoader):
            item.log_path = log_path
            count += 1
        elif LoadImageFromFile is not None and isinstance(item, LoadImageFromFile):
            inner[index] = GuardedImageLoader(item, log_path)
            count += 1
        else:
            count += _guard(item, log_path, seen)
    return count


def guard_image_loaders(dataloader, log_path: Optional[str] = None) -> int:
    """Applies the bad-image policy to every image loader of ``dataloader``'s pipelines.

    Must run before the loader's workers start (they receive the pipeline with the dataset).

    Args:
        dataloader: A built ``DataLoader`` (or anything with a ``dataset``).
        log_path (str, optional): Skip and record in this file (training); None: raise.

    Returns:
        int: How many image loaders were wrapped.
    """
    count = 0
    for dataset in _leaf_datasets(dataloader.dataset):
        # mmengine refuses a None sample in test mode: such a dataset always raises.
        path = None if getattr(dataset, 'test_mode', False) else log_path
        count += _guard(getattr(dataset, 'pipeline', None), path, set())
    return count


@HOOKS.register_module()
class BadImageHook(Hook):
    """Warns about, counts and limits the training images skipped as unreadable.

    Added by ``RecNeXtRunner`` (:mod:`recnext_mm.engine.runner`); reads the records that the
    guarded image loaders (possibly in DataLoader workers) append to ``log_path``.

    Args:
        log_path (str): The bad-image log of this rank.
        limit (int | float): A count, or a fraction of the images of an epoch (see module doc).
    """
    priority = 'VERY_LOW'

    def __init__(self, log_path: str, limit: Union[int, float] = DEFAULT_BAD_IMAGE_LIMIT):
        self.log_path = log_path
        self.limit = parse_limit(limit)
        self.offset = 0
        self.epoch_records: Dict[str, str] = {}  # file -> reason, this epoch
        self.all_files: Dict[str, str] = {}  # file -> reason, this run
        self.epoch_size = 0
        self.window = 0
        self.by_epoch = True

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        sampler = getattr(loader, 'sampler', None)
        try:
            self.epoch_size = len(sampler) if sampler is not None else len(loader.dataset)
        except TypeError:
            self.epoch_size = len(loader.dataset)
        self.by_epoch = isinstance(runner.train_loop, EpochBasedTrainLoop)
        self.window = len(loader)
        self.offset = os.path.getsize(self.log_path) if osp.isfile(self.log_path) else 0
        self.epoch_records = {}

    def _poll(self, runner) -> None:
        records, self.offset = read_records(self.log_path, self.offset)
        # A file counts once per epoch, however often the random refetch lands on it again.
        for filename, reason in records:
            if filename in self.epoch_records:
                continue
            self.epoch_records[filename] = reason
            if filename not in self.all_files:  # warned once per run
                self.all_files[filename] = reason
                runner.logger.warning(
                    f'Skipped unreadable training image {filename} ({reason}); the sample was '
                    f'replaced by another one ({len(self.epoch_records)} skipped in this epoch).')
        allowed = allowed_bad_images(self.limit, self.epoch_size)
        if len(self.epoch_records) > allowed:
            listing = '\n'.join(f'  {f}: {r}' for f, r in self.epoch_records.items())
            raise BadImageError(
                f'{len(self.epoch_records)} unreadable training images in one epoch, more than the '
                f'limit ({_describe_limit(self.limit, self.epoch_size)}):\n{listing}\n'
                f'Replace or remove them (`python tools/check_dataset.py CONFIG --decode` lists '
                f'every unreadable image), or raise the limit (tools/train.py --bad-image-limit, '
                f'or `bad_image_limit` in the config). All records: {self.log_path}')

    def _report(self, runner, what: str) -> None:
        if self.epoch_records:
            files = ', '.join(self.epoch_records)
            runner.logger.warning(
                f'{what}: skipped {len(self.epoch_records)} unreadable training image(s) (limit '
                f'{_describe_limit(self.limit, self.epoch_size)}): {files}')
        self.epoch_records = {}

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._poll(runner)
        if not self.by_epoch and self.window and (runner.iter + 1) % self.window == 0:
            first = runner.iter + 2 - self.window
            self._report(runner, f'Iterations {first}-{runner.iter + 1}')

    def after_train_epoch(self, runner) -> None:
        self._poll(runner)
        if self.by_epoch:
            self._report(runner, f'Epoch {runner.epoch + 1}')

    def after_train(self, runner) -> None:
        self._poll(runner)
        self._report(runner, 'End of training')
        if self.all_files:
            runner.logger.warning(f'{len(self.all_files)} unreadable training image(s) were skipped '
                                  f'in this run; every skip is recorded in {self.log_path}.')
