"""The subprocesses of the GPU check: each runs with its output in a log file and a timeout
that kills its whole process group (:func:`run_logged`); :func:`module_command` is the command
line of a ``python -m`` module of this checkout (the benchmark, the training entry)."""
import os
import os.path as osp
import shlex
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

__all__ = ['module_command', 'run_logged', 'log_tail', 'run_error']


def module_command(module: str, *args: str, torchrun: bool = False) -> List[str]:
    """``python -m module args``; with ``torchrun`` the module runs under ``torch.distributed.run
    --standalone --nproc_per_node=1`` (one process)."""
    if torchrun:
        return [sys.executable, '-m', 'torch.distributed.run', '--standalone',
                '--nproc_per_node=1', '-m', module, *args]
    return [sys.executable, '-m', module, *args]


def run_logged(cmd: Sequence[str], log_path: str, timeout: float, env: Optional[Dict] = None,
               cwd: Optional[str] = None) -> Dict:
    """Runs ``cmd`` with stdout and stderr into ``log_path``; on timeout kills its whole process
    group (torchrun's workers included).

    Returns:
        dict: ``cmd``, ``rc`` (None on timeout), ``timed_out``, ``seconds``, ``log``.
    """
    os.makedirs(osp.dirname(osp.abspath(log_path)), exist_ok=True)
    start = time.monotonic()
    timed_out = False
    with open(log_path, 'w', encoding='utf-8') as log:
        log.write(f'$ {shlex.join(cmd)}\n')
        log.flush()
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                env=None if env is None else {**os.environ, **env},
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=max(1., timeout))
        except subprocess.TimeoutExpired:
            timed_out, rc = True, None
        finally:
            if proc.poll() is None:  # timeout, or this process interrupted
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    seconds = round(time.monotonic() - start, 1)
    print(f'[gpu_check]   {osp.basename(log_path)}: '
          f'{"timed out" if timed_out else f"exit code {rc}"}, {seconds:.0f} s', flush=True)
    return dict(cmd=shlex.join(cmd), rc=rc, timed_out=timed_out, seconds=seconds, log=log_path)


def log_tail(path: str, chars: int = 1500) -> str:
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()[-chars:]
    except OSError:
        return ''


def run_error(what: str, run: Dict) -> str:
    """The failure message of a run that timed out or exited non-zero, with its log's tail."""
    if run['timed_out']:
        return f'{what}: timed out after {run["seconds"]:.0f} s (log: {run["log"]})'
    return (f'{what}: exit code {run["rc"]} (log: {run["log"]}); last output:\n'
            f'{log_tail(run["log"], 800)}')
