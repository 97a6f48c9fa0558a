"""Where an OpenVINO model's time goes: OpenVINO's own per-layer counters (``PERF_COUNT``),
summed by layer type and kernel, by kernel precision and by kind (:data:`LAYER_KINDS`); the
``--ov-profile`` of ``tools/analysis_tools/benchmark.py``."""
from typing import Dict, List, Optional, Tuple

import numpy as np

from .openvino_runtime import compile_model
from .output import pyplot, save_figure

__all__ = ['LAYER_KINDS', 'layer_kind', 'profile_layers', 'profile_interleaved', 'profile_markdown',
           'kinds_markdown', 'plot_kinds']

# What a runtime layer does, for the profile's summary: the dense (matrix) work that low
# precisions speed up most, and the rest that RecConv adds (depthwise convs, resizes, additions).
LAYER_KINDS = ('dense conv / matmul', 'depthwise conv', 'transposed conv', 'resize',
               'elementwise', 'layout', 'other')
_KIND_OF_TYPE = {
    'Convolution': 'dense conv / matmul', 'FullyConnected': 'dense conv / matmul',
    'FullyConnectedQuantizedLegacy': 'dense conv / matmul', 'MatMul': 'dense conv / matmul',
    'GroupConvolutionBackpropData': 'transposed conv', 'ConvolutionBackpropData': 'transposed conv',
    'Interpolate': 'resize',
    'Subgraph': 'elementwise', 'Eltwise': 'elementwise', 'Add': 'elementwise',
    'Multiply': 'elementwise', 'FakeQuantize': 'elementwise',
    'Reorder': 'layout', 'Transpose': 'layout', 'Reshape': 'layout', 'Concat': 'layout',
    'Split': 'layout', 'Tile': 'layout', 'Pad': 'layout', 'StridedSlice': 'layout',
    'Gather': 'layout'}


def layer_kind(layer_type: str, kernel: str) -> str:
    """One of :data:`LAYER_KINDS` for an OpenVINO runtime layer type and its kernel (a grouped
    convolution is depthwise when its kernel says ``dw``, else dense work)."""
    if layer_type == 'GroupConvolution':
        return 'depthwise conv' if '_dw' in kernel.lower() else 'dense conv / matmul'
    return _KIND_OF_TYPE.get(layer_type, 'other')


def _kernel_precision(exec_type: str) -> str:
    """'brgconv_avx512_dw_bf16' -> 'bf16': the precision OpenVINO names at the end of a kernel."""
    tail = exec_type.rsplit('_', 1)[-1].lower()
    return tail if tail in ('f32', 'bf16', 'f16', 'i8', 'u8', 'i32', 'i64', 'boolean') else 'other'


def profile_layers(model, precision: str, x: np.ndarray, threads: Optional[int] = None,
                   runs: int = 20, warmup: int = 3, top: int = 0) -> Dict:
    """OpenVINO's own per-layer times of one model, summed by layer type and kernel.

    The model is compiled again with ``PERF_COUNT`` on (the timed one runs without the counters)
    and run ``warmup`` + ``runs`` times on ``x``; the ``real_time`` of the executed layers of each
    (type, kernel) is summed per call, and the median over the last ``runs`` calls is kept. This
    is what shows where a model's time goes once the matrix work is fast: kernels that run in f32
    in a bf16 model, depthwise convolutions, resizes, reorders. :func:`profile_interleaved`
    profiles several models in one run.

    Args:
        model: ``openvino.Model`` (e.g. ``OpenVinoRunner.models[batch]``).
        precision (str): One of :data:`PRECISIONS`.
        x (np.ndarray): One input batch.
        threads (int, optional): ``INFERENCE_NUM_THREADS``.
        runs (int): Profiled calls.
        warmup (int): Calls before them.
        top (int): Keep the ``top`` longest (type, kernel) rows (0: all).

    Returns:
        dict: ``layers`` (rows ``type``, ``kernel``, ``precision``, ``nodes``, ``us_per_run``
        (median call), ``share`` of the summed layer time, longest first), ``layer_us_per_run``
        (sum over all (type, kernel) rows, before ``top``), ``by_precision`` (share of layer time
        per kernel precision), ``by_type`` (share per layer type), ``by_kind`` (us per run per
        :data:`LAYER_KINDS` entry, those present), ``layers_executed``, ``runs``, ``threads``,
        ``precision``, ``input``.

    Raises:
        ValueError: ``runs`` < 1.
    """
    return profile_interleaved({'model': (model, precision, x)}, threads, runs, warmup,
                               top)['model']


def profile_interleaved(entries: Dict[str, Tuple[object, str, np.ndarray]],
                        threads: Optional[int] = None, runs: int = 20, warmup: int = 3,
                        top: int = 0) -> Dict[str, Dict]:
    """:func:`profile_layers` of several models in one run: profiled calls go round by round
    (one call of each entry per round, in order), like the benchmark's timing, so a slow spell
    of the machine falls on every entry and the profiles compare.

    Args:
        entries (dict): label -> (``openvino.Model``, precision, input batch).
        threads, runs, warmup, top: As :func:`profile_layers`.

    Returns:
        dict: label -> the profile of :func:`profile_layers`.

    Raises:
        ValueError: ``runs`` < 1.
    """
    if runs < 1:
        raise ValueError(f'runs must be >= 1, got {runs}')
    requests, inputs = {}, {}
    for label, (model, precision, x) in entries.items():
        requests[label] = compile_model(model, precision, threads,
                                        perf_count=True).create_infer_request()
        inputs[label] = np.ascontiguousarray(x, dtype=np.float32)
    for _ in range(warmup):
        for label, request in requests.items():
            request.infer({0: inputs[label]})
    per_run = {label: {} for label in entries}
    nodes = {label: {} for label in entries}
    for k in range(runs):
        for label, request in requests.items():
            request.infer({0: inputs[label]})
            for p in request.profiling_info:
                if p.status != p.Status.EXECUTED:
                    continue
                key = (p.node_type, p.exec_type)
                times = per_run[label].setdefault(key, [0.] * runs)
                times[k] += p.real_time.total_seconds() * 1e6
                nodes[label].setdefault(key, set()).add(p.node_name)
    return {label: _summary(per_run[label], nodes[label], runs, top,
                            dict(threads=threads, precision=entries[label][1],
                                 input=list(inputs[label].shape)))
            for label in entries}


def _summary(per_run: Dict[Tuple[str, str], List[float]], nodes: Dict[Tuple[str, str], set],
             runs: int, top: int, meta: Dict) -> Dict:
    """The profile dict of :func:`profile_layers` from per-call times per (type, kernel)."""
    executed = sum(len(v) for v in nodes.values())
    # the median run of each (type, kernel): one call slowed by another process moves nothing
    totals = {key: float(np.median(times)) for key, times in per_run.items()}
    total = sum(totals.values())

    def share(value):
        return value / total if total else 0.

    layers = [dict(type=t, kernel=k, precision=_kernel_precision(k), nodes=len(nodes[(t, k)]),
                   us_per_run=us, share=share(us)) for (t, k), us in totals.items()]
    layers.sort(key=lambda r: -r['us_per_run'])
    by_precision: Dict[str, float] = {}
    by_type: Dict[str, float] = {}
    by_kind: Dict[str, float] = {}
    for r in layers:
        by_precision[r['precision']] = by_precision.get(r['precision'], 0.) + r['share']
        by_type[r['type']] = by_type.get(r['type'], 0.) + r['share']
        kind = layer_kind(r['type'], r['kernel'])
        by_kind[kind] = by_kind.get(kind, 0.) + r['us_per_run']
    return dict(layers=layers[:top] if top else layers, layer_us_per_run=total,
                by_precision=dict(sorted(by_precision.items(), key=lambda kv: -kv[1])),
                by_type=dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
                by_kind={k: by_kind[k] for k in LAYER_KINDS if k in by_kind},
                layers_executed=executed, runs=runs, **meta)


def profile_markdown(profile: Dict) -> str:
    """The table of :func:`profile_layers`, with its time per kernel precision."""
    lines = ['| layer type | kernel | nodes | us per run | share of layer time |',
             '|---|---|---|---|---|']
    for r in profile['layers']:
        lines.append(f'| {r["type"]} | {r["kernel"]} | {r["nodes"]} | {r["us_per_run"]:.0f} | '
                     f'{100 * r["share"]:.1f}% |')
    precisions = ', '.join(f'{k} {100 * v:.1f}%' for k, v in profile['by_precision'].items())
    total = profile['layer_us_per_run'] or 1.
    kinds = ', '.join(f'{k} {100 * v / total:.1f}%' for k, v in profile['by_kind'].items())
    lines.append(f'\nLayers {profile["layer_us_per_run"] / 1e3:.2f} ms per run '
                 f'(medians of {profile["runs"]} profiled runs); time by kernel precision: '
                 f'{precisions}; by kind: {kinds}.')
    return '\n'.join(lines)


def kinds_markdown(profiles: Dict[str, Dict]) -> str:
    """One row per profiled entry: ms per run of each :data:`LAYER_KINDS` entry (profiles of
    :func:`profile_layers`, keyed by a label), and the number of layers executed."""
    kinds = [k for k in LAYER_KINDS if any(k in p['by_kind'] for p in profiles.values())]
    lines = ['| entry | ' + ' | '.join(f'{k} ms' for k in kinds) + ' | all layers ms | layers |',
             '|---' * (len(kinds) + 3) + '|']
    for label, p in profiles.items():
        cells = [f'{p["by_kind"].get(k, 0.) / 1e3:.2f}' for k in kinds]
        lines.append(f'| {label} | ' + ' | '.join(cells)
                     + f' | {p["layer_us_per_run"] / 1e3:.2f} | {p.get("layers_executed", "-")} |')
    return '\n'.join(lines)


_KIND_COLOURS = {'dense conv / matmul': 'tab:blue', 'depthwise conv': 'tab:red',
                 'transposed conv': 'tab:purple', 'resize': 'tab:orange',
                 'elementwise': 'tab:green', 'layout': 'tab:gray', 'other': 'tab:olive'}


def plot_kinds(profiles: Dict[str, Dict], path: str, title: str,
               gmacs: Optional[Dict[str, float]] = None) -> Dict[str, Dict[str, float]]:
    """Draws where each profiled entry's time goes: one stacked bar per entry of
    :func:`profile_interleaved`, a segment per :data:`LAYER_KINDS` entry; in ms per GMAC where
    ``gmacs`` (label -> GMACs) covers every entry, else in ms per run.

    Returns:
        dict: label -> {kind: bar length} as drawn.

    Raises:
        ValueError: No profile.
    """
    if not profiles:
        raise ValueError('no OpenVINO profile to draw (run with --ov-profile N)')
    plt = pyplot()
    per_mac = bool(gmacs) and all(gmacs.get(label) for label in profiles)
    bars = {label: {k: p['by_kind'].get(k, 0.) / 1e3 / (gmacs[label] if per_mac else 1.)
                    for k in LAYER_KINDS} for label, p in profiles.items()}
    labels = list(bars)[::-1]  # the first entry on top
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) + 1.6), dpi=120)
    left = [0.] * len(labels)
    for kind in LAYER_KINDS:
        widths = [bars[label][kind] for label in labels]
        if not any(widths):
            continue
        ax.barh(labels, widths, left=left, color=_KIND_COLOURS[kind], label=kind)
        left = [a + b for a, b in zip(left, widths)]
    for y, total in enumerate(left):
        ax.annotate(f'{total:.2f}', (total, y), xytext=(3, 0), textcoords='offset points',
                    va='center', fontsize=7)
    ax.set_xlabel('layer time, ms per GMAC' if per_mac else 'layer time, ms per run')
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis='y', labelsize=7)
    ax.grid(axis='x', alpha=0.3)
    ax.legend(fontsize=7, loc='lower right')
    fig.tight_layout()
    save_figure(fig, path)
    return bars
