"""``RecNeXtRunner``: the mmengine Runner with the reliability this project's configs ask for.

A config chooses it with one line, ``runner_type = 'RecNeXtRunner'`` (every config of this
repository does), and the downstream packages' own ``tools/train.py`` build it from that key too.
On top of mmengine's ``Runner`` it:

- writes checkpoints atomically and keeps a readable checkpoint at every moment (the
  ``checkpoint`` default hook becomes :class:`~.atomic_io.AtomicCheckpointHook`);
- resumes from the newest *readable* checkpoint, and refuses a damaged one by name
  (:mod:`.resume`);
- saves the message hub as plain data (``HistoryBuffer`` contents as tensors), so its checkpoints
  resume under ``torch.load(weights_only=True)``, torch's default since 2.6 (mmengine 0.10.7's own
  checkpoints hold bound methods that a weights-only load refuses);
- skips, counts and limits unreadable training images and stops evaluation at one, naming the file
  (:mod:`.bad_images`; ``bad_image_limit`` in the config).

A plain ``Runner`` (a config without ``runner_type``) keeps mmengine's behaviour: ``import
recnext_mm`` changes nothing of mmengine.

Example:
    >>> # in a config
    >>> runner_type = 'RecNeXtRunner'
    >>> bad_image_limit = 0.01  # optional: skip up to 1% of an epoch's images
"""
import os
import os.path as osp
from typing import Optional

from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .atomic_io import publish, remove_stale_temporaries, temporary_name
from .bad_images import DEFAULT_BAD_IMAGE_LIMIT, BadImageHook, guard_image_loaders, parse_limit
from .resume import check_checkpoint, find_latest_checkpoint

__all__ = ['RecNeXtRunner', 'DataOnlyMessageHubHook', 'buffers_to_data', 'buffers_from_data']

_BUFFER_TAG = '__history_buffer__'


def buffers_to_data(message_hub_state: dict) -> dict:
    """The message hub state with each ``HistoryBuffer`` as a dict of tensors (weights-only safe)."""
    import torch
    state = dict(message_hub_state)
    scalars = {}
    for name, buffer in state.get('log_scalars', {}).items():
        if isinstance(buffer, HistoryBuffer):
            log, count = buffer.data
            buffer = {_BUFFER_TAG: True, 'log': torch.from_numpy(log.copy()),
                      'count': torch.from_numpy(count.copy()), 'max_length': buffer.max_length}
        scalars[name] = buffer
    state['log_scalars'] = scalars
    return state


def buffers_from_data(message_hub_state: dict) -> dict:
    """Inverse of :func:`buffers_to_data`."""
    state = dict(message_hub_state)
    scalars = {}
    for name, buffer in state.get('log_scalars', {}).items():
        if isinstance(buffer, dict) and buffer.get(_BUFFER_TAG):
            buffer = HistoryBuffer(buffer['log'].numpy(), buffer['count'].numpy(),
                                   buffer['max_length'])
        scalars[name] = buffer
    state['log_scalars'] = scalars
    return state


class DataOnlyMessageHubHook(Hook):
    """Saves the message hub as plain data and restores it on load (see the module docstring)."""

    priority = 'VERY_LOW'  # after every other hook has added to the checkpoint

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = buffers_to_data(checkpoint['message_hub'])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = buffers_from_data(checkpoint['message_hub'])


def _is_local(path) -> bool:
    return isinstance(path, (str, os.PathLike)) and '://' not in str(path) and \
        isinstance(get_file_backend(str(path)), LocalBackend)


@RUNNERS.register_module()
class RecNeXtRunner(Runner):
    """mmengine ``Runner`` with atomic checkpoints, damage-proof resume, weights-only safe
    checkpoints and the bad-image policy (see the module docstring). Same arguments as ``Runner``;
    a config's top-level ``bad_image_limit`` (a count, or a fraction of an epoch; default 0.01,
    ``0`` stops at the first unreadable image) sets the limit."""

    # ------------------------------------------------------------------ checkpoints
    def register_default_hooks(self, hooks=None) -> None:
        hooks = dict(hooks or {})
        ckpt = hooks.get('checkpoint', dict(type='CheckpointHook', interval=1))
        if isinstance(ckpt, dict) and ckpt.get('type', 'CheckpointHook') in (
                'CheckpointHook', 'mmengine.CheckpointHook'):
            hooks['checkpoint'] = dict(ckpt, type='AtomicCheckpointHook')
        super().register_default_hooks(hooks)

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        super().register_hooks(default_hooks, custom_hooks)
        self.register_hook(DataOnlyMessageHubHook())

    def save_checkpoint(self, out_dir: str, filename: str, *args, **kwargs) -> None:
        """``Runner.save_checkpoint``, written to a temporary file and renamed into place."""
        path = osp.join(out_dir, filename)
        if kwargs.get('file_client_args') is not None or not _is_local(path):
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        remove_stale_temporaries(path)
        tmp = temporary_name(path)
        try:
            super().save_checkpoint(out_dir, osp.relpath(tmp, out_dir), *args, **kwargs)
            publish(tmp, path)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise

    def load_or_resume(self) -> None:
        if self._has_loaded:
            return None
        if self._resume and self._load_from is None:
            resume_from = find_latest_checkpoint(self.work_dir)
            self.logger.info(f'Auto resumed from the latest checkpoint {resume_from}.')
            if resume_from is not None:
                self.resume(resume_from)
                self._has_loaded = True
            return None
        return super().load_or_resume()

    def resume(self, filename: str, *args, **kwargs) -> None:
        if _is_local(filename):
            check_checkpoint(os.fspath(filename))
        return super().resume(filename, *args, **kwargs)

    # ------------------------------------------------------------------ unreadable images
    def _bad_image_limit(self):
        value = self.cfg.get('bad_image_limit', DEFAULT_BAD_IMAGE_LIMIT) if self.cfg is not None \
            else DEFAULT_BAD_IMAGE_LIMIT
        return parse_limit(value)

    def build_train_loop(self, loop):
        loop = super().build_train_loop(loop)
        limit = self._bad_image_limit()
        log_path: Optional[str] = None
        if limit != 0:
            log_path = osp.join(self.log_dir, f'bad_images_rank{self.rank}.txt')
            os.makedirs(self.log_dir, exist_ok=True)
        if guard_image_loaders(loop.dataloader, log_path) and log_path is not None and \
                not any(isinstance(h, BadImageHook) for h in self.hooks):
            self.register_hook(BadImageHook(log_path, limit))
        return loop

    def build_val_loop(self, loop):
        loop = super().build_val_loop(loop)
        guard_image_loaders(loop.dataloader, None)
        return loop

    def build_test_loop(self, loop):
        loop = super().build_test_loop(loop)
        guard_image_loaders(loop.dataloader, None)
        return loop
