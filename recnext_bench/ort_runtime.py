"""ONNX Runtime sessions set up for latency measurements, and ORT's own profile of a model.

The settings are those that make ORT timings comparable with torch's and stable on a small shared
machine: ``intra_op_num_threads`` = the thread count under test, one inter-op thread, sequential
execution, every graph optimisation (``ORT_ENABLE_ALL``: constant folding, node fusions and the
NCHWc layout transformation) and no spinning (``session.intra_op.allow_spinning=0``: idle
worker threads sleep instead of burning the core another process, or another model timed in the
same rounds, needs).
"""
import json
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Tuple

__all__ = ['OPT_LEVELS', 'session_options', 'make_session', 'OrtRunner', 'profile_ops',
           'profile_interleaved', 'profile_markdown']

OPT_LEVELS = ('disable', 'basic', 'extended', 'all')


def session_options(threads: Optional[int] = None, optimization: str = 'all',
                    spinning: bool = False, profile_prefix: Optional[str] = None,
                    optimized_model_path: Optional[str] = None):
    """``onnxruntime.SessionOptions`` for one inference at a time on ``threads`` threads.

    Args:
        threads (int, optional): intra-op threads (None: ORT's default, one per core).
        optimization (str): Graph optimisation level, one of :data:`OPT_LEVELS`.
        spinning (bool): Let idle intra-op threads spin (ORT's default); off by default.
        profile_prefix (str, optional): Turn ORT's profiler on, writing ``<prefix>_<date>.json``.
        optimized_model_path (str, optional): Save the optimised graph here (for inspection).

    Raises:
        ValueError: Unknown ``optimization`` or ``threads`` < 1.
    """
    import onnxruntime as ort
    levels = dict(disable=ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                  basic=ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  extended=ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  all=ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    if optimization not in levels:
        raise ValueError(f'optimization must be one of {OPT_LEVELS}, got {optimization!r}')
    if threads is not None and threads < 1:
        raise ValueError(f'threads must be >= 1, got {threads}')
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = levels[optimization]
    opts.add_session_config_entry('session.intra_op.allow_spinning', '1' if spinning else '0')
    opts.add_session_config_entry('session.inter_op.allow_spinning', '1' if spinning else '0')
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    if optimized_model_path:
        opts.optimized_model_filepath = optimized_model_path
    return opts


def make_session(path: str, threads: Optional[int] = None, optimization: str = 'all',
                 spinning: bool = False, **kwargs):
    """An ``InferenceSession`` on the CPU with :func:`session_options`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    import onnxruntime as ort
    if not osp.isfile(path):
        raise FileNotFoundError(f'ONNX model not found: {path}')
    opts = session_options(threads, optimization, spinning, **kwargs)
    return ort.InferenceSession(path, sess_options=opts, providers=['CPUExecutionProvider'])


class OrtRunner:
    """Calls an ONNX Runtime session with torch tensors, like a module (for the benchmark).

    The input is handed over as a NumPy view of the tensor (no copy when it is contiguous).
    """

    def __init__(self, session):
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def __call__(self, x):
        import numpy as np
        array = x.detach().cpu().numpy()
        if not array.flags['C_CONTIGUOUS']:
            array = np.ascontiguousarray(array)
        return self.session.run(None, {self.input_name: array})


def profile_ops(path: str, shape=(1, 3, 224, 224), threads: Optional[int] = None,
                runs: int = 50, warmup: int = 10, optimization: str = 'all',
                top: Optional[int] = None) -> Dict:
    """Runs ``path`` under ORT's profiler and sums the kernel time per op type.

    Args:
        path (str): The ONNX model (one float input).
        shape (tuple): Input shape (N, C, H, W).
        threads (int, optional): intra-op threads.
        runs (int): Profiled runs (after ``warmup`` runs that are not counted).
        optimization (str): Graph optimisation level (the op types are those of the optimised
            graph: ``NchwcConv``, ``ReorderInput`` ... at level 'all').
        top (int, optional): Keep the ``top`` op types by time.

    Returns:
        dict: ``ops``: list of dicts (op, calls per run, us per run, share of the kernel time),
        sorted by time; ``kernel_us_per_run`` (sum of the kernels), ``run_us`` (median
        ``model_run`` event, kernels plus the executor's overhead), ``nodes``, ``runs``.
    """
    return profile_interleaved({'model': (path, shape)}, threads, runs, warmup, optimization,
                               top)['model']


def profile_interleaved(entries: Dict[str, Tuple[str, Tuple[int, ...]]],
                        threads: Optional[int] = None, runs: int = 50, warmup: int = 10,
                        optimization: str = 'all', top: Optional[int] = None) -> Dict[str, Dict]:
    """:func:`profile_ops` of several models in one run: one profiled call of each entry per
    round, like the benchmark's timing, so a slow spell of the machine falls on every entry.

    Args:
        entries (dict): label -> (ONNX path, input shape).
        threads, runs, warmup, optimization, top: As :func:`profile_ops`.

    Returns:
        dict: label -> the profile of :func:`profile_ops`.
    """
    import numpy as np
    events = {}
    with tempfile.TemporaryDirectory() as tmp:
        sessions, feeds = {}, {}
        for k, (label, (path, shape)) in enumerate(entries.items()):
            sessions[label] = make_session(path, threads, optimization,
                                           profile_prefix=osp.join(tmp, f'ort_profile_{k}'))
            x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            feeds[label] = {sessions[label].get_inputs()[0].name: x}
        for _ in range(warmup + runs):
            for label, session in sessions.items():
                session.run(None, feeds[label])
        for label, session in sessions.items():
            with open(session.end_profiling(), encoding='utf-8') as f:
                events[label] = json.load(f)
    return {label: _summary(events[label], runs, warmup, top,
                            dict(threads=threads, optimization=optimization,
                                 input=list(entries[label][1])))
            for label in entries}


def _summary(events: List[dict], runs: int, warmup: int, top: Optional[int], meta: Dict) -> Dict:
    """The profile dict of :func:`profile_ops` from one session's trace events."""
    import statistics
    run_events = [e['dur'] for e in events if e.get('cat') == 'Session' and e['name'] == 'model_run']
    measured = run_events[warmup:] if len(run_events) > warmup else run_events
    per_op: Dict[str, List[float]] = {}
    nodes = set()
    node_events = [e for e in events if e.get('cat') == 'Node' and e['name'].endswith('_kernel_time')]
    total_runs = warmup + runs
    # Keep the last `runs` calls of each node: the first ones belong to the warm-up.
    by_node: Dict[str, List[dict]] = {}
    for e in node_events:
        by_node.setdefault(e['name'], []).append(e)
    for node, evs in by_node.items():
        nodes.add(node)
        kept = evs[-runs:] if len(evs) >= total_runs else evs
        op = evs[0].get('args', {}).get('op_name', node)
        per_op.setdefault(op, []).append(sum(e['dur'] for e in kept) / max(len(kept), 1))
    total = sum(sum(v) for v in per_op.values())
    ops = [dict(op=op, nodes=len(v), us_per_run=sum(v), share=sum(v) / total if total else 0.)
           for op, v in per_op.items()]
    ops.sort(key=lambda r: -r['us_per_run'])
    if top:
        ops = ops[:top]
    return dict(ops=ops, kernel_us_per_run=total,
                run_us=statistics.median(measured) if measured else None,
                nodes=len(nodes), runs=runs, **meta)


def profile_markdown(profile: Dict) -> str:
    """The table of :func:`profile_ops`."""
    lines = ['| op (optimised graph) | nodes | us per run | share of kernel time |',
             '|---|---|---|---|']
    for r in profile['ops']:
        lines.append(f'| {r["op"]} | {r["nodes"]} | {r["us_per_run"]:.0f} | {100 * r["share"]:.1f}% |')
    run = profile.get('run_us')
    lines.append(f'\nKernels {profile["kernel_us_per_run"] / 1e3:.2f} ms per run'
                 + (f', whole run (median) {run / 1e3:.2f} ms' if run else '')
                 + f'; {profile["nodes"]} nodes, {profile["runs"]} profiled runs.')
    return '\n'.join(lines)


