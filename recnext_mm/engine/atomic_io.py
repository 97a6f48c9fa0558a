"""Atomic checkpoint files for mmengine 0.10.7 Runners.

mmengine writes a checkpoint in place (``LocalBackend.put`` opens the final name with ``'wb'``), so a
kill, a full disk or a preempted node during the write leaves a torn file under the final name, and
``CheckpointHook`` may have deleted the previous checkpoint just before (``max_keep_ckpts``). Here:

1. ``save_checkpoint`` (the one function every Runner, hook and strategy calls to write a
   checkpoint) writes a local file to a hidden temporary file in the same folder, flushes and
   fsyncs it, then renames it into place with ``os.replace`` (atomic on POSIX) and fsyncs the
   folder. A kill at any moment leaves the old file or the new one, never a torn one under the
   final name. Other backends (``s3://``, ``petrel://``...) keep mmengine's own code.
2. ``CheckpointHook`` writes ``last_checkpoint`` the same way, after the checkpoint is in place
   (its order already), so ``last_checkpoint`` never names a file that is not complete.
3. ``CheckpointHook`` deletes checkpoints beyond ``max_keep_ckpts`` only after the new checkpoint
   and ``last_checkpoint`` are written, so a readable checkpoint exists at every moment.

Installed when :mod:`recnext_mm.engine` is imported (``import recnext_mm`` does it), so runs of our
configs through mmdet's, mmseg's or mmpretrain's own ``tools/train.py`` (``custom_imports``) get it too.
"""
import os
import os.path as osp
import re
import sys
import uuid
from contextlib import contextmanager, suppress
from typing import Callable, IO

import mmengine.hooks.checkpoint_hook as _hook_module
import mmengine.runner.checkpoint as _ckpt_module
import torch
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook

__all__ = ['atomic_write', 'atomic_torch_save', 'save_checkpoint', 'TMP_PATTERN']

# Temporary names: ".<final name>.<pid>.<random>.tmp", hidden and never matched by checkpoint globs.
TMP_PATTERN = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$')
_original_save_checkpoint = getattr(_ckpt_module.save_checkpoint, '__wrapped__',
                                    _ckpt_module.save_checkpoint)


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
    tmp = osp.join(folder, f'.{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')
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


def save_checkpoint(checkpoint, filename, file_client_args=None, backend_args=None):
    """mmengine's ``save_checkpoint`` with local files written atomically.

    Same arguments as ``mmengine.runner.checkpoint.save_checkpoint``; remote backends and the
    deprecated ``file_client_args`` go to mmengine's own implementation.
    """
    if file_client_args is None and isinstance(filename, (str, os.PathLike)) and \
            not str(filename).startswith('pavi://') and \
            isinstance(get_file_backend(filename, backend_args=backend_args), LocalBackend):
        atomic_torch_save(checkpoint, filename)
        return
    _original_save_checkpoint(checkpoint, filename, file_client_args=file_client_args,
                              backend_args=backend_args)


save_checkpoint.__wrapped__ = _original_save_checkpoint


class _AtomicTextFile:
    """What ``open(path, 'w')`` returns in CheckpointHook: the text lands at close, atomically."""

    def __init__(self, path: str):
        self.path = path
        self.parts = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def close(self) -> None:
        data = ''.join(self.parts)
        atomic_write(self.path, lambda f: f.write(data), mode='w')

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:  # an error while writing keeps the old file
            self.close()


def _hook_open(file, mode='r', *args, **kwargs):
    """``open`` as seen by mmengine.hooks.checkpoint_hook: ``last_checkpoint`` is written
    atomically, everything else as usual."""
    if mode == 'w' and not args and not kwargs and osp.basename(os.fspath(file)) == 'last_checkpoint':
        return _AtomicTextFile(os.fspath(file))
    return open(file, mode, *args, **kwargs)


@contextmanager
def _removals_deferred(hook: CheckpointHook):
    """Holds back ``hook.file_backend.remove`` until the block has finished without error.

    CheckpointHook removes the oldest checkpoint *before* writing the new one; with
    ``max_keep_ckpts=1`` a kill in between would leave no checkpoint at all.
    """
    backend = getattr(hook, 'file_backend', None)
    if backend is None or getattr(hook, '_recnext_deferred', None) is not None:
        yield  # not set up yet, or an outer call already defers (best -> step checkpoint)
        return
    deferred = []
    hook._recnext_deferred = deferred
    backend.remove = deferred.append  # instance attribute shadows the method
    try:
        yield
    finally:
        del backend.remove
        hook._recnext_deferred = None
    for path in deferred:  # only reached when the block succeeded
        if backend.isfile(path):
            backend.remove(path)


def _deferring(method):
    def wrapper(self, *args, **kwargs):
        with _removals_deferred(self):
            return method(self, *args, **kwargs)
    wrapper.__wrapped__ = method
    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


def _install() -> None:
    if getattr(_ckpt_module.save_checkpoint, '__wrapped__', None) is _original_save_checkpoint:
        return  # already installed (module reloaded)
    # Every module that imported the name at its top (mmengine.runner, .runner.runner, strategies,
    # downstream packages already imported) gets the atomic one; function-level imports
    # (`from mmengine.runner import save_checkpoint` in CheckpointHook) read it at call time.
    for module in list(sys.modules.values()):
        namespace = getattr(module, '__dict__', None) or {}
        if namespace.get('save_checkpoint') is _original_save_checkpoint:
            module.save_checkpoint = save_checkpoint
    _hook_module.open = _hook_open
    for name in ('_save_checkpoint_with_step', '_save_best_checkpoint'):
        setattr(CheckpointHook, name, _deferring(getattr(CheckpointHook, name)))


_install()
