#!/usr/bin/env python
"""Top-1 of a trained classifier in OpenVINO fp32, bf16 and int8 (NNCF), beside PyTorch.

    pip install -e .[openvino]
    # the toy classifier of the main job (bash tools/demo.sh cls trains it)
    python tools/deployment/openvino_precisions.py configs/classification/recnext_toy_in1k.py \\
        "$(cat work_dirs/recnext_toy_in1k/last_checkpoint)" --threads 2

The config's model with the checkpoint is switched to its deploy form and converted to OpenVINO
at the test crop size (:mod:`recnext_bench.openvino_runtime`); the evaluation images go
through the config's own test pipeline and data preprocessor (``--eval-split``). int8 is NNCF
post-training quantization calibrated on ``--calibration DIR`` (any image folder, read at the
crop size with the ImageNet normalisation) or, by default, on the config's ``train`` split.
bf16 runs only where the CPU lists BF16 in OpenVINO's ``OPTIMIZATION_CAPABILITIES``; elsewhere it
is reported as not run. Prints top-1, its change against PyTorch, the share of predictions
unchanged, the largest logit difference and the executed layer precisions.
"""
import argparse
import json
import os.path as osp
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='mmpretrain classification config')
    parser.add_argument('checkpoint', help='trained checkpoint (training or deploy form)')
    parser.add_argument('--precision', nargs='+', choices=('fp32', 'bf16', 'int8'),
                        default=['fp32', 'bf16', 'int8'])
    parser.add_argument('--calibration', metavar='DIR',
                        help='int8 calibration images (default: the config\'s train split)')
    parser.add_argument('--calibration-limit', type=int, default=96)
    parser.add_argument('--eval-split', default='val', choices=('val', 'test'))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--via', choices=('torch', 'onnx'), default='onnx')
    parser.add_argument('--out-json')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint not found: {args.checkpoint} (train it first, e.g. '
                         f'bash tools/demo.sh cls)')
    from recnext_bench import openvino_runtime as ovr
    from recnext_bench.calibration import calibration_images
    from recnext_bench.environment import cpu_name
    from recnext_bench.optional import require_or_exit
    from recnext_bench.quantize import LogitsWrapper, build_config_classifier, config_images
    require_or_exit('openvino', purpose='The OpenVINO runtime')
    if 'int8' in args.precision:
        require_or_exit('nncf', purpose='int8 quantization for OpenVINO')
    precisions = list(args.precision)
    if 'bf16' in precisions and 'BF16' not in ovr.capabilities():
        print(f'bf16 not run: this CPU does not list BF16 ({", ".join(ovr.capabilities())}).',
              file=sys.stderr)
        precisions.remove('bf16')
    model, cfg = build_config_classifier(args.config, args.checkpoint)
    model = LogitsWrapper(model).eval()
    inputs, labels = config_images(cfg, args.eval_split)
    calib = None
    if 'int8' in precisions:
        if args.calibration:
            calib = calibration_images(args.calibration, tuple(inputs.shape[2:]),
                                       args.calibration_limit)
        else:
            calib, _ = config_images(cfg, 'train', args.calibration_limit)
    report = ovr.precision_report(model, inputs, labels, calib, precisions, args.threads,
                                  args.via)
    print(f'{cpu_name()}, {args.threads} threads, OpenVINO via {args.via}; int8: NNCF, '
          f'{0 if calib is None else len(calib)} calibration images '
          f'({args.calibration or "the config train split"})\n')
    print(ovr.report_markdown(report, len(labels)))
    if args.out_json:
        with open(args.out_json, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
