"""Atomic checkpoint files for mmengine 0.10.7 Runners, asked for by name in a config.

mmengine writes a checkpoint in place (``LocalBackend.put`` opens the final name with ``'wb'``), so a
kill, a full disk or a preempted node during the write leaves a torn file under the final name, and
``CheckpointHook`` deletes the oldest checkpoint (``max_keep_ckpts``) *before* writing the new one.
Here, for runs that choose ``runner_type='RecNeXtRunner'`` (:mod:`recnext_mm.engine.runner`):

1. :func:`atomic_write` / :func:`atomic_torch_save` write a local file to a hidden temporary file
   in the same folder, flush and fsync it, rename it into place with ``os.replace`` (atomic on
   POSIX) and fsync the folder: a kill at any moment leaves the old file or the new one, never a
   torn one under the final name. ``RecNeXtRunner.save_checkpoint`` writes this way.
2. :class:`AtomicCheckpointHook` (the runner uses it in place of ``CheckpointHook``) writes
   ``last_checkpoint`` the same way, after the checkpoint is in place, and deletes checkpoints
   beyond ``max_keep_ckpts`` only after both, so a readable checkpoint exists at every moment.

Nothing of mmengine is replaced: a plain ``Runner`` keeps mmengine's behaviour.
"""
import os
import os.path as osp
import re
import uuid
from contextlib import suppress
from typing import IO, Callable

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

__all__ = ['atomic_write', 'atomic_torch_save', 'AtomicCheckpointHook', 'TMP_PATTERN']

# Temporary names: ".<final name>.<pid>.<random>.tmp", hidden and never matched by checkpoint globs.
TMP_PATTERN = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$')


def _fsync_dir(folder: str) -> None:
    # Makes the rename itself durable; some file systems do not allow opening a folder.
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(folder: str, name: str) -> None:
    """Removes temporary files of ``name`` left by writers that were killed (dead pids)."""
    with suppress(OSError):
        for entry in os.listdir(folder):
            match = TMP_PATTERN.match(entry)
            if match and match['name'] == name and int(match['pid']) != os.getpid() \
                    and not _pid_alive(int(match['pid'])):
                with suppress(OSError):
                    os.remove(osp.join(folder, entry))


def atomic_write(path: str, write: Callable[[IO[bytes]], None], mode: str = 'wb') -> None:
    """Writes ``path`` through ``write(file)`` so that it appears complete or not at all.

    The data goes to a temporary file in the same folder (so the rename never crosses file
    systems), which is flushed, fsynced and renamed over ``path``; the folder is fsynced after.
    On any error, the temporary file is removed and ``path`` is left as it was.

    Args:
        path (str): The final file name.
        write (callable): Called with the open temporary file.
        mode (str): ``'wb'`` or ``'w'``. Defaults to ``'wb'``.
    """
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    name = osp.basename(path)
    os.makedirs(folder, exist_ok=True)
    _remove_stale_temporaries(folder, name)
    tmp = temporary_name(path)
    # os.open with 0o666 keeps the usual permissions (umask applied), unlike mkstemp's 0o600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save(obj, path)``, atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def temporary_name(path: str) -> str:
    """A hidden temporary file name beside ``path`` (see :data:`TMP_PATTERN`)."""
    folder, name = osp.split(os.fspath(path))
    return osp.join(folder, f'.{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')


def publish(tmp: str, path: str) -> None:
    """Makes the complete file ``tmp`` durable and renames it to ``path`` (atomic on POSIX)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(osp.dirname(osp.abspath(path)))


def remove_stale_temporaries(path: str) -> None:
    """Removes temporary files of ``path`` left by killed writers (their pid is gone)."""
    _remove_stale_temporaries(osp.dirname(osp.abspath(path)), osp.basename(path))


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose ``last_checkpoint`` is written atomically, after the checkpoint, and
    which removes checkpoints beyond ``max_keep_ckpts`` only after both are in place.

    Same arguments as ``CheckpointHook``. ``RecNeXtRunner`` uses it for the ``checkpoint`` default
    hook; with a plain ``Runner`` it works too, but the checkpoint file itself is then written by
    mmengine (not atomically).
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        stale = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, ckpt_filename, self.file_client_args, save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
            backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        last = self.last_ckpt
        atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), lambda f: f.write(last), mode='w')
        if stale is not None:  # only now: the new checkpoint and its pointer are complete
            old = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(stale))
            if self.file_backend.isfile(old):
                self.file_backend.remove(old)
            elif self.file_backend.isdir(old):
                self.file_backend.rmtree(old)
