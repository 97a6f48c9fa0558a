"""Inference speed of RecNeXt models and their peers, measured in one process, side by side.

    # README figures: M3 and A3 beside RepViT-M1.1 and ResNet-50, every form, batch 1, 2 threads
    python tools/analysis_tools/benchmark.py \\
        --models recnext_m3 recnext_a3 repvit_m1_1 resnet50 --forms train deploy official_fused \\
        --threads 2 --batch 1 --repeats 30 --out-json bench.json
    # backbones, detectors and segmentors (configs) work the same way
    python tools/analysis_tools/benchmark.py --models m3 configs/detection/mask_rcnn_recnext_m3_coco.py
    # ONNX Runtime beside torch eager, per-MAC latency relative to RepViT-M1.1
    python tools/analysis_tools/benchmark.py --models recnext_m3 recnext_a3 repvit_m1_1 \\
        --forms deploy --runtime eager onnxruntime --baseline repvit_m1_1 --threads 2 --batch 1
    # OpenVINO fp32 / bf16 / int8 beside ORT, both upsampling forms of the M series
    python tools/analysis_tools/benchmark.py --models recnext_m3 recnext_a3 repvit_m1_1 \\
        --forms deploy --runtime onnxruntime openvino --ov-precision fp32 bf16 int8 \\
        --upsample both --baseline repvit_m1_1 --threads 2 --batch 1
    # the latency-versus-top-1 figure: every model of the published top-1 table
    python tools/analysis_tools/benchmark.py --models @published --forms deploy \\
        --runtime openvino --threads 2 --batch 1 --plot docs/images/latency_top1.png

Model specs: an arch name (``m3``: the mmengine backbone), ``recnext_<arch>`` (the timm
classifier), any timm model name (peers, built with ``pretrained=False``), a config file
(detector / segmentor / classifier, random weights), ``official:<arch>`` (the official
implementation's fused classifier, needs ``--official-dir``). With ``--official-dir`` every
``recnext_<arch>`` is also timed as the official implementation's fused model.

Forms: ``train`` (eval mode, unfused), ``deploy`` (all BatchNorms and RepVGG branches folded; for
peers ``timm.utils.reparameterize_model`` plus Conv-BN folding), ``official_fused`` (the official
``fuse()`` graph; RecNeXt models only).

Runtimes (``--runtime``, several at once: timed in the same rounds): ``eager`` (torch),
``compile`` (``torch.compile``), ``jit`` (TorchScript trace + freeze) and ``onnxruntime``: the
deploy form exported by :mod:`recnext_bench.onnx_export` (the export of
``tools/deployment/export_onnx.py``; NCHW; by default at the timed input size, one graph per batch
size, with constant Resize scales; ``--ort-dynamic`` times the dynamic-axes graph instead) and run
by an ``InferenceSession`` with ``intra_op_num_threads`` = ``--threads``, one inter-op thread,
sequential execution, all graph optimisations and spinning off
(:mod:`recnext_bench.ort_runtime`). ONNX Runtime times the deploy form only; peers are
exported the same way. ``--compile`` and ``--jit`` are shorthands for ``--runtime compile`` /
``--runtime jit``. ``openvino``: the deploy form converted by :mod:`recnext_bench.
openvino_runtime` (``--ov-via torch``: ``openvino.convert_model`` on the module, or ``onnx``: the
lean fixed-shape ONNX graph) and compiled for the CPU with ``INFERENCE_NUM_THREADS`` =
``--threads``, the LATENCY hint and one stream, once per precision of ``--ov-precision``: fp32,
bf16 (only where the CPU lists BF16 in ``OPTIMIZATION_CAPABILITIES``; otherwise an error, never
a quiet fp32 run) and int8 (NNCF post-training quantization calibrated on ``--calibration``, by
default the toy set of :mod:`recnext_mm.toy_data`). Rows are named ``openvino-<precision>`` and
their notes list the precisions the compiled model executed, read from OpenVINO's runtime graph.

Upsampling (``--upsample``, deploy form of the M series): ``interpolate`` (bilinear resizes),
``transposed`` (each exact 2x upsampling as the fixed depthwise transposed conv of
:mod:`recnext_mm.backbones.upsample`; identical outputs), ``both`` (each M model timed in both
forms, the transposed one named ``<model>+tconv``) or ``auto`` (default: per runtime, the form
recorded as faster in ``recnext_mm.backbones.forms.MEASURED_FASTER``). MACs are counted on the interpolation form, so
both forms report the same work.

Method: each model in each form and runtime is warmed up (``--warmup`` calls, plus the compilation with
``--compile``), then timed call by call. To give every model the same machine conditions the
entries are interleaved (``--interleave all``): each round runs every entry for ``--block``
consecutive timed calls (after one untimed call that re-warms its caches), until each entry has
``--repeats`` timings and at least ``--min-time`` seconds of them (at most ``--max-repeats``).
Configs run full inference by default (``--config-mode predict``: detectors include proposals, NMS
and mask pasting; with random weights few boxes survive, so the mask head costs less than with a
trained model) or the raw network (``--config-mode tensor``).

Reported: median, inter-quartile range and min/max per call; img/s = batch / median; fvcore GMACs
per image (batch 1, same form; for configs the tensor path) and ms per GMAC; ratios between forms
and between runtimes, and with ``--baseline MODEL`` every model's ms per GMAC relative to that
model's (same runtime and batch, deploy form). ``--threads`` is applied with
``torch.set_num_threads`` (and ORT's intra-op threads) and reported. On CUDA every call is
synchronised.

Throughput against the hardware limit (on unless ``--peak-size 0``): one ``--peak-size``^3 matrix
product per precision present in the run is timed in torch on the same threads
(:mod:`recnext_bench.peak`), and every row gets its achieved GFLOP/s (2 x MACs / median) and
that figure's fraction of the peak of its precision.

Where the time goes: ``--ort-profile N`` prints ONNX Runtime's profile of each onnxruntime entry
(the N op types that take longest) and ``--ov-profile N`` OpenVINO's per-layer counters of each
openvino entry (the N longest layer types and kernels, and the share of time per kernel
precision: what still runs in f32 in a bf16 or int8 model). Each runtime's entries are profiled
round by round in one run, as they are timed; both profiles go into ``--out-json``, and
``--profile-plot PNG`` draws the OpenVINO one (stacked bars by layer kind, ms per GMAC).

``--plot PNG`` draws measured latency against the published ImageNet top-1 of
``recnext_mm/reference/published_top1.json`` (one PNG per runtime; with several runtimes the
runtime is appended to the name). Progress of the preparation and the timing rounds goes to stderr.
"""
import argparse
import os.path as osp
import shutil
import sys
import tempfile
from typing import Dict, List, Sequence

import torch

from .bench_plan import RUNTIMES, UPSAMPLE_CHOICES, expand_runtimes, plan, upsample_variants
from .bench_profiles import openvino_profiles, ort_profiles
from .bench_report import baseline_rows, markdown, ratio_rows, runtime_ratio_rows
from .bench_timing import Entry, prepare, summarize, time_entries
from .cli import parse_shape
from .environment import environment
from .models import FORMS
from .optional import require
from .output import write_json


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', required=True, help='model specs (see above)')
    parser.add_argument('--forms', nargs='+', choices=FORMS, default=['train', 'deploy'],
                        help='forms to time (default: train deploy)')
    parser.add_argument('--runtime', nargs='+', choices=RUNTIMES,
                        help='runtimes to time side by side (default: eager)')
    parser.add_argument('--batch', type=int, nargs='+', default=[1, 32],
                        help='batch sizes: 1 gives latency, larger ones throughput (default 1 32)')
    parser.add_argument('--shape', type=int, nargs='+',
                        help='input S or H W (default per model: 224, detection 800 1280, '
                             'segmentation 512)')
    parser.add_argument('--threads', type=int,
                        help='torch.set_num_threads and ORT intra-op threads (reported either way)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument('--channels-last', action='store_true', help='channels_last memory format')
    parser.add_argument('--bf16', action='store_true', help='bfloat16 autocast')
    parser.add_argument('--compile', action='store_true', help='same as --runtime compile')
    parser.add_argument('--jit', action='store_true',
                        help='same as --runtime jit: TorchScript trace + freeze (backbones and '
                             'classifiers)')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (default 17)')
    parser.add_argument('--ort-dynamic', action='store_true',
                        help='time the dynamic-axes ONNX graph (as export_onnx.py writes by default) '
                             'instead of one fixed-shape graph per batch size')
    parser.add_argument('--ort-opt', choices=('disable', 'basic', 'extended', 'all'), default='all',
                        help='ORT graph optimisation level (default all)')
    parser.add_argument('--onnx-dir', help='keep the exported .onnx files here (default: a '
                                           'temporary folder, removed at the end)')
    parser.add_argument('--ort-profile', type=int, metavar='N', default=0,
                        help='after timing, ORT profiler tables of each onnxruntime entry (first '
                             'batch size): the N op types of the optimised graph that take longest')
    parser.add_argument('--ov-profile', type=int, metavar='N', default=0,
                        help='after timing, OpenVINO per-layer profile of each openvino entry '
                             '(first batch size, entries profiled round by round): the N '
                             '(layer type, kernel) rows that take '
                             'longest, and the time per kernel precision')
    parser.add_argument('--ov-precision', nargs='+', choices=('fp32', 'bf16', 'int8'),
                        default=['fp32'], help='OpenVINO precisions, one row each (default fp32)')
    parser.add_argument('--ov-via', nargs='+', choices=('torch', 'onnx'), default=['onnx'],
                        help='OpenVINO converter: openvino.convert_model on the module (torch) or '
                             'the lean fixed-shape ONNX graph (onnx, default: measured faster, '
                             'docs/deployment.md); several: rows openvino-<precision>-<via> for '
                             'all but the first')
    parser.add_argument('--calibration', metavar='DIR',
                        help='images calibrating OpenVINO int8 (default: the toy set, generated)')
    parser.add_argument('--calibration-size', type=int, default=32,
                        help='calibration images at most (default 32)')
    parser.add_argument('--upsample', choices=UPSAMPLE_CHOICES, default='auto',
                        help='M-series upsampling in the deploy form: bilinear resizes '
                             '(interpolate), the exact transposed-conv form (transposed), both, or '
                             'per runtime the measured faster one (auto, default)')
    parser.add_argument('--peak-size', type=int, default=2048,
                        help='side of the GEMM timed per precision for the peak (default 2048; '
                             '0: no peak, no GFLOP/s fractions)')
    parser.add_argument('--plot', metavar='PNG',
                        help='write latency versus published top-1 (one PNG per runtime)')
    parser.add_argument('--profile-plot', metavar='PNG',
                        help='with --ov-profile: draw each entry\'s layer time by kind (stacked '
                             'bars, ms per GMAC)')
    parser.add_argument('--no-progress', dest='progress', action='store_false',
                        help='no progress lines on stderr')
    parser.add_argument('--baseline', help='report ms/GMAC of every model relative to this one '
                                           '(deploy form, same runtime and batch)')
    parser.add_argument('--warmup', type=int, default=10, help='untimed calls first (default 10)')
    parser.add_argument('--repeats', type=int, default=30, help='timed calls at least (default 30)')
    parser.add_argument('--min-time', type=float, default=0.,
                        help='seconds of timed calls at least per entry (default 0)')
    parser.add_argument('--max-repeats', type=int, default=1000,
                        help='timed calls at most per entry (default 1000)')
    parser.add_argument('--block', type=int, default=5,
                        help='consecutive timed calls per entry and round (default 5)')
    parser.add_argument('--interleave', choices=('all', 'model', 'none'), default='all',
                        help='time all entries in shared rounds (all), the forms of each model '
                             'together (model), or one entry after another (none)')
    parser.add_argument('--config-mode', choices=('predict', 'tensor'), default='predict',
                        help='configs: full inference with post-processing, or raw head outputs')
    parser.add_argument('--official-dir', help='official implementation to time side by side')
    parser.add_argument('--no-peer-bn-fold', action='store_true',
                        help='deploy form of peers: reparameterize_model only, no Conv-BN folding')
    parser.add_argument('--no-macs', action='store_true', help='skip the fvcore MAC counts')
    parser.add_argument('--out-json', help='write settings, environment and results here')
    args = parser.parse_args(argv)
    if '@published' in args.models:
        from .latency_plot import published_models
        at = args.models.index('@published')
        args.models = list(dict.fromkeys(args.models[:at] + published_models()
                                         + args.models[at + 1:]))
    if min(args.batch) < 1 or args.repeats < 1 or args.block < 1:
        parser.error('--batch, --repeats and --block must be >= 1')
    runtimes = list(args.runtime or [])
    for flag in ('compile', 'jit'):
        if getattr(args, flag) and flag not in runtimes:
            runtimes.append(flag)
    args.runtime = runtimes or ['eager']
    if args.baseline and 'deploy' not in args.forms:
        parser.error('--baseline compares deploy forms: add deploy to --forms')
    if 'onnxruntime' in args.runtime:
        try:
            require('onnx', 'onnxruntime', purpose='--runtime onnxruntime')
        except ImportError as err:
            parser.error(str(err))
        if args.device != 'cpu':
            parser.error('--runtime onnxruntime runs on the CPU: use --device cpu')
    if 'openvino' in args.runtime:
        try:
            require('openvino', purpose='--runtime openvino')
            if 'int8' in args.ov_precision:
                require('nncf', purpose='--runtime openvino --ov-precision int8')
            from .openvino_runtime import check_precision
            for precision in args.ov_precision:
                check_precision(precision)
        except (ImportError, ValueError) as err:
            parser.error(f'--runtime openvino: {err}')
        if 'onnx' in args.ov_via:
            try:
                require('onnx', purpose='--ov-via onnx')
            except ImportError as err:
                parser.error(str(err))
        if args.device != 'cpu':
            parser.error('--runtime openvino runs on the CPU here: use --device cpu')
    if args.calibration and not osp.isdir(args.calibration):
        parser.error(f'--calibration {args.calibration}: no such folder')
    if args.peak_size < 0 or (0 < args.peak_size < 16):
        parser.error('--peak-size must be 0 (off) or >= 16')
    for flag, runtime in (('ort_profile', 'onnxruntime'), ('ov_profile', 'openvino')):
        if getattr(args, flag) < 0:
            parser.error(f'--{flag.replace("_", "-")} must be >= 0 (0: off)')
        if getattr(args, flag) and runtime not in args.runtime:
            parser.error(f'--{flag.replace("_", "-")} profiles {runtime} entries: add '
                         f'{runtime} to --runtime')
    if args.profile_plot and not args.ov_profile:
        parser.error('--profile-plot draws the OpenVINO profile: add --ov-profile N')
    if args.upsample in ('transposed', 'both') and args.ort_dynamic:
        parser.error('--upsample transposed/both needs fixed-shape graphs: drop --ort-dynamic '
                     '(a traced size test holds for the traced size only)')
    args.ov_via = list(dict.fromkeys(args.ov_via))
    args.row_runtimes = expand_runtimes(args.runtime, args.ov_precision, args.ov_via)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no CUDA device is available here.')
    if args.official_dir and not osp.isdir(args.official_dir):
        print(f'--official-dir {args.official_dir} not found: the official implementation is '
              f'skipped.', file=sys.stderr)
        args.official_dir = None
    if args.threads:
        torch.set_num_threads(args.threads)
        try:
            torch.set_num_interop_threads(1)  # one inference at a time: no inter-op parallelism
        except RuntimeError:
            pass
    torch.manual_seed(0)
    temp_dir = None
    if 'onnxruntime' in args.runtime and not args.onnx_dir:
        args.onnx_dir = temp_dir = tempfile.mkdtemp(prefix='recnext_bench_onnx_')
    try:
        return _run(args, device)
    finally:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _run(args, device: torch.device) -> int:
    runtimes = getattr(args, 'row_runtimes', None) or args.runtime
    triples = plan(args.models, args.forms, args.official_dir, runtimes)
    jobs = [(spec, form, runtime, up) for spec, form, runtime in triples
            for up in upsample_variants(spec, form, runtime, args.upsample)]
    entries = []
    for k, (spec, form, runtime, up) in enumerate(jobs):
        if args.progress:
            print(f'[prepare {k + 1}/{len(jobs)}] {spec.name} ({form}, {runtime}'
                  f'{", upsampling " + up if up else ""})', file=sys.stderr, flush=True)
        try:
            entries.append(prepare(spec, form, runtime, args, device, upsample=up))
        except Exception as err:  # noqa: BLE001
            print(f'[error] {spec.name} ({form}, {runtime}): {type(err).__name__}: {err}',
                  file=sys.stderr)
            entries.append(Entry(spec, form, runtime, parse_shape(args.shape) or spec.default_shape,
                                 0, None, '', None, None, error=f'{type(err).__name__}: {err}',
                                 upsample=up))
    if args.interleave == 'all':
        groups = [entries]
    elif args.interleave == 'model':
        groups = {}
        for e in entries:
            key = e.spec.arch if e.spec.kind in ('classifier', 'official') else e.spec.name
            groups.setdefault(key, []).append(e)
        groups = list(groups.values())
    else:
        groups = [[e] for e in entries]
    peaks: Dict[str, float] = {}
    precisions = []
    if args.peak_size:
        from .peak import PEAK_PRECISIONS, measure_peaks, row_precision
        precisions = [p for p in PEAK_PRECISIONS
                      if any(row_precision(dict(runtime=e.runtime,
                                                dtype='bf16' if args.bf16 else 'fp32')) == p
                             for e in entries)]
        peaks = measure_peaks(precisions, args.peak_size)  # before the models ...
    results = []
    for batch in args.batch:
        for group in groups:
            time_entries([e for e in group if e.run is not None], batch, args, device)
        results += [summarize(e, batch, args, device) for e in entries]
    if args.peak_size:
        from .peak import add_throughput, measure_peaks
        after = measure_peaks(precisions, args.peak_size)  # ... and after: the best of both
        peaks = {p: max(peaks.get(p, 0.), after.get(p, 0.)) for p in set(peaks) | set(after)}
        add_throughput(results, peaks)
    ratios = ratio_rows(results)
    runtime_ratios = runtime_ratio_rows(results, reference=runtimes[0])
    baselines = baseline_rows(results, args.baseline) if args.baseline else []
    env = environment(device)
    if 'onnxruntime' in runtimes:
        import onnx
        import onnxruntime
        env.update(onnxruntime=onnxruntime.__version__, onnx=onnx.__version__,
                   ort_settings=dict(intra_op_num_threads=args.threads, inter_op_num_threads=1,
                                     execution_mode='sequential', graph_optimization=args.ort_opt,
                                     allow_spinning=0, opset=args.opset,
                                     graph='dynamic axes' if args.ort_dynamic else 'fixed shape'))
    ov_text = ''
    if any(r.startswith('openvino-') for r in runtimes):
        import openvino

        from .openvino_runtime import capabilities
        env.update(openvino=openvino.__version__, openvino_capabilities=capabilities(),
                   openvino_settings=dict(INFERENCE_NUM_THREADS=args.threads,
                                          PERFORMANCE_HINT='LATENCY', NUM_STREAMS=1,
                                          via=list(args.ov_via),
                                          precisions=list(args.ov_precision)))
        vias = '/'.join(args.ov_via)
        ov_text = (f' (openvino {openvino.__version__} via {vias}, CPU capabilities '
                   f'{" ".join(env["openvino_capabilities"])})')
    env['peak_gflops'] = peaks
    print(f'torch {env["torch"]}, {env["cpu"]}, device {device}, threads {env["torch_threads"]}, '
          f'{"bf16 autocast" if args.bf16 else "fp32"}'
          f'{", channels_last" if args.channels_last else ""}, runtimes {" ".join(runtimes)}'
          + (f' (onnxruntime {env["onnxruntime"]}, opset {args.opset}, optimisation {args.ort_opt}, '
             f'spinning off)' if 'onnxruntime' in runtimes else '') + ov_text
          + f', upsampling {args.upsample}, warmup {args.warmup}, repeats >= {args.repeats}, '
          f'block {args.block}, interleave {args.interleave}\n')
    print(markdown(results, ratios, runtime_ratios, baselines))
    if peaks:
        from .peak import peak_markdown
        print('\n' + peak_markdown(results, peaks, args.peak_size, args.threads))
    profiles = ort_profiles(entries, args) if args.ort_profile else {}
    ov_profiles = openvino_profiles(entries, args) if args.ov_profile else {}
    plots = {}
    if args.plot:
        plots = write_plots(args.plot, results, runtimes, env, args)
    if args.out_json:
        write_json(args.out_json, dict(settings=vars(args), environment=env, results=results,
                                       ratios=ratios, runtime_ratios=runtime_ratios,
                                       baseline=baselines, ort_profiles=profiles,
                                       ov_profiles=ov_profiles, plots=plots))
    return 1 if any(r.get('error') for r in results) else 0


def write_plots(path: str, results: List[Dict], runtimes: Sequence[str], env: Dict, args) -> Dict:
    """One latency-versus-top-1 PNG per runtime (``path``, or ``<stem>_<runtime>.png`` when
    several runtimes ran); returns ``{png: points}``."""
    from datetime import date

    from .latency_plot import plot_latency_top1
    stem, ext = osp.splitext(path)
    written = {}
    for runtime in runtimes:
        png = path if len(runtimes) == 1 else f'{stem}_{runtime}{ext or ".png"}'
        title = (f'{env["cpu"]}, {args.threads or env["torch_threads"]} threads, {runtime}, '
                 f'deploy forms, {date.today().isoformat()}')
        try:
            written[png] = plot_latency_top1(results, runtime, png, title)
        except ValueError as err:
            print(f'[warn] {err}', file=sys.stderr)
            continue
        print(f'\nwrote {png} ({len(written[png])} models)')
    return written


if __name__ == '__main__':  # python -m recnext_bench.benchmark (the GPU check's subprocesses)
    sys.exit(main())
