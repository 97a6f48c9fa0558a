#!/usr/bin/env python
"""One command for the GPU: throughput, deploy-form equality, AMP and SyncBN training.

    python tools/gpu_check.py                        # one CUDA GPU, within --time-budget 540 s
    python tools/gpu_check.py --steps equality train # a subset: benchmark equality train dist
    python tools/gpu_check.py --dry-run              # CPU, tiny sizes: every code path
    bash tools/gpu_check.sh --out-dir /tmp/gc        # wrapper: picks .venv/bin/python

Steps: (a) benchmark: img/s of recnext_m3, recnext_a3, recnext_t and repvit_m1_1 at 224x224 through
the benchmark (python -m recnext_bench.benchmark) --device cuda, at the largest power-of-two
batch <= 1024 that fits, fp32 and bf16 autocast, train / official-equivalent / deploy forms, plus
torch.compile of the deploy form; the deploy form of recnext_m3 (RecConv family) also with the
transposed-conv upsampling (recnext_m3+tconv), with the tconv / interpolate ratio and the
MEASURED_FASTER it suggests; (b) equality: deploy vs official-equivalent logits within 1e-4 in
fp32 (TF32 off), randomised BatchNorms; for m3 also the transposed-upsampling deploy form vs the
interpolating one within 1e-5 of the largest logit; (c) train: 50 iterations of the toy
Mask R-CNN and Semantic FPN configs with --amp, every logged loss finite; (d) dist: the same under
torchrun (1 process) with SyncBN.
Writes gpu_check.json and gpu_check.md to --out-dir; exit code 0 pass, 1 fail, 2 incomplete.
Details: recnext_bench/gpu_check/__init__.py.
"""
import argparse
import shlex
import sys

from recnext_bench import gpu_check


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out-dir', default='work_dirs/gpu_check',
                        help='where gpu_check.json, gpu_check.md, logs and toy data go')
    parser.add_argument('--dry-run', action='store_true',
                        help='CPU, tiny sizes, no AMP, BN instead of SyncBN, compile disabled')
    parser.add_argument('--steps', nargs='+', choices=gpu_check.STEPS,
                        help='steps to run (default: all)')
    parser.add_argument('--time-budget', type=float,
                        help='seconds for the whole check; later work is skipped and reported '
                             '(default 540, dry run 1500)')
    parser.add_argument('--models', nargs='+', help='benchmark models (default: '
                        + ' '.join(gpu_check.BENCH_MODELS) + ')')
    parser.add_argument('--batch-cap', type=int, help='largest batch tried (default 1024)')
    parser.add_argument('--no-compile', action='store_true', help='skip the torch.compile timings')
    parser.add_argument('--train-iters', type=int, help='toy training iterations (default 50)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    overrides = dict(out_dir=args.out_dir)
    if args.steps:
        overrides['steps'] = tuple(args.steps)
    if args.time_budget is not None:
        overrides['time_budget_s'] = args.time_budget
    if args.models:
        overrides['models'] = tuple(args.models)
    if args.batch_cap is not None:
        overrides['batch_cap'] = args.batch_cap
    if args.no_compile:
        overrides['compile_dtypes'] = ()
    if args.train_iters is not None:
        overrides['train_iters'] = args.train_iters
    settings = (gpu_check.dry_run_settings(**overrides) if args.dry_run
                else gpu_check.Settings(**overrides))
    given = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(['python', 'tools/gpu_check.py', *given])
    return gpu_check.run_and_print(settings, command)


if __name__ == '__main__':
    sys.exit(main())
