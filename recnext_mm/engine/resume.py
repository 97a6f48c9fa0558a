"""Resume that survives a damaged checkpoint (``RecNeXtRunner``, :mod:`recnext_mm.engine.runner`).

mmengine's auto resume reads the path in ``<work_dir>/last_checkpoint`` and hands it to
``torch.load``; a file cut short (a kill during ``torch.save``, a full disk, a preempted node) stops the
run with torch's "failed finding central directory", although older good checkpoints may lie beside
it. Here:

- :func:`find_latest_checkpoint` (what ``RecNeXtRunner.load_or_resume`` calls for ``resume=True``
  without a path) checks the newest checkpoint before returning it: the one ``last_checkpoint`` names, then
  ``epoch_*.pth`` / ``iter_*.pth`` in that folder and the work dir, newest first. Each unreadable
  one is logged as a warning with its path and the reason; the newest readable one is returned.
  If none is readable it raises :class:`~recnext_mm.checkpoint.CheckpointError` naming them all.
- ``RecNeXtRunner.resume`` (also used for an explicit ``resume=True, load_from=PATH``) checks its file
  first and stops with an error naming the file when it is damaged.

"Readable" is checked without unpickling: a torch zip checkpoint must have its end record (lost when
the file is cut short), a ``data.pkl`` and, when torch wrote CRC-32s (its default), matching
checksums for every record, which catches damaged bytes anywhere in the file. Other files
(legacy torch format, or a zip written without checksums) are loaded weights-only instead.
"""
import logging
import os
import os.path as osp
import re
import zipfile
from typing import Dict, List, Optional, Tuple

from mmengine.logging import print_log

from ..checkpoint import CheckpointError

__all__ = ['checkpoint_problem', 'check_checkpoint', 'resume_candidates',
           'find_latest_checkpoint']

CHECKPOINT_NAME = re.compile(r'^(?P<kind>epoch|iter)_(?P<step>\d+)\.pth$')
# (real path, size, mtime_ns) -> problem or None, so a file is read once per process.
_checked: Dict[Tuple[str, int, int], Optional[str]] = {}


def _zip_problem(path: str) -> Optional[str]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if not any(info.filename.endswith('data.pkl') for info in infos):
            return 'a zip file without data.pkl, not a torch checkpoint'
        if not any(info.CRC for info in infos):
            return _load_problem(path)  # written without checksums: nothing to compare
        bad = archive.testzip()
        if bad is not None:
            return f'record {bad!r} fails its CRC-32 check (damaged bytes)'
    return None


def _load_problem(path: str) -> Optional[str]:
    from ..checkpoint import read_checkpoint
    try:
        read_checkpoint(path)
    except CheckpointError as err:
        return str(err.__cause__ or err)
    return None


def checkpoint_problem(path: str) -> Optional[str]:
    """Says why a local checkpoint file cannot be read, or returns None when it can.

    Args:
        path (str): A local file path.

    Returns:
        str or None: The problem ("missing", "empty file", "cut short ..."), or None.
    """
    if not osp.isfile(path):
        return 'missing'
    stat = os.stat(path)
    key = (osp.realpath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _checked:
        if stat.st_size == 0:
            problem = 'empty file'
        else:
            try:
                if zipfile.is_zipfile(path):
                    problem = _zip_problem(path)
                else:
                    with open(path, 'rb') as f:
                        head = f.read(4)
                    if head == b'PK\x03\x04':  # a zip whose end (central directory) is missing
                        problem = (f'cut short ({stat.st_size} bytes, the zip end record is '
                                   f'missing): the write was interrupted')
                    else:
                        problem = _load_problem(path)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as err:
                problem = f'{type(err).__name__}: {err}'
        _checked[key] = problem
    return _checked[key]


def check_checkpoint(path: str, what: str = 'checkpoint') -> None:
    """Raises a clear error when a local checkpoint file cannot be read.

    Raises:
        CheckpointError: naming the file, the problem and what to do.
    """
    problem = checkpoint_problem(path)
    if problem is not None:
        raise CheckpointError(
            f'Cannot resume from {what} {path!r}: {problem}. The file is damaged or incomplete '
            f'(e.g. a kill or a full disk while it was written). Resume from another checkpoint '
            f'(--resume PATH), or use --resume without a path to take the newest readable '
            f'checkpoint of the work dir.')


def _read_last_checkpoint(work_dir: str) -> Optional[str]:
    save_file = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(save_file):
        return None
    with open(save_file) as f:
        last = f.read().strip()
    return last or None


def resume_candidates(work_dir: str) -> List[str]:
    """Checkpoints to resume from, newest first: the file ``last_checkpoint`` names, then the
    ``epoch_<n>.pth`` / ``iter_<n>.pth`` files of its folder and of ``work_dir``, by step,
    the kind of the last one first. Best-metric checkpoints are not candidates."""
    last = _read_last_checkpoint(work_dir)
    folders = [work_dir] + ([osp.dirname(last)] if last and osp.dirname(last) else [])
    last_kind = CHECKPOINT_NAME.match(osp.basename(last)) if last else None
    found, seen = [], set()
    if last:
        seen.add(osp.realpath(last))
    for folder in folders:
        if not osp.isdir(folder):
            continue
        for name in os.listdir(folder):
            match = CHECKPOINT_NAME.match(name)
            path = osp.join(folder, name)
            if match and osp.realpath(path) not in seen:
                seen.add(osp.realpath(path))
                same_kind = bool(last_kind) and match['kind'] == last_kind['kind']
                found.append(((same_kind, int(match['step'])), path))
    found.sort(key=lambda item: item[0], reverse=True)
    return ([last] if last else []) + [path for _, path in found]


def find_latest_checkpoint(path: str) -> Optional[str]:
    """The newest readable checkpoint of a work dir, or None when it has none at all.

    What ``mmengine.runner.checkpoint.find_latest_checkpoint`` returns, for damaged checkpoints
    too; see the module docstring.

    Raises:
        CheckpointError: checkpoints exist but none can be read (each named with its problem).
    """
    candidates = resume_candidates(path)
    if not candidates:
        print_log('Did not find last_checkpoint to be resumed.', logger='current')
        return None
    damaged = []
    for candidate in candidates:
        if '://' in candidate:  # a remote backend: mmengine reads it as before
            return candidate
        problem = checkpoint_problem(candidate)
        if problem is None:
            if damaged:
                print_log(f'Resuming from {candidate}, the newest readable checkpoint in '
                          f'{path} (skipped: {", ".join(p for p, _ in damaged)}).',
                          logger='current', level=logging.WARNING)
            return candidate
        damaged.append((candidate, problem))
        print_log(f'Checkpoint {candidate} cannot be read ({problem}); it will not be resumed '
                  f'from. Looking for an older one.', logger='current', level=logging.WARNING)
    listing = '\n'.join(f'  {p}: {problem}' for p, problem in damaged)
    raise CheckpointError(
        f'No readable checkpoint to resume from in {path!r}; every candidate is damaged:\n'
        f'{listing}\nStart the run again without --resume (or move the work dir away), or pass a '
        f'good checkpoint with --resume PATH.')

