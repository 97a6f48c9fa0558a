#!/usr/bin/env python
"""Export deploy-form RecNeXt models to Core ML ML Programs (.mlpackage), fp16 and fp32.

    pip install -e .[coreml]        # coremltools (converts on Linux; running needs macOS)
    python tools/deployment/export_coreml.py                      # all 18 archs, both targets
    python tools/deployment/export_coreml.py m3 a3 --target classifier --precision fp16
    python tools/deployment/export_coreml.py m3 --checkpoint recnext_m3_distill_300e.pth

Targets: ``classifier`` (the fused timm ``recnext_<arch>``; input ``input`` 1x3xHxW, output
``logits`` 1x1000) and ``backbone`` (the mmengine ``RecNeXt``; outputs ``out0`` .. ``out3``, the
stage maps). Each model is exported by ``torch.export`` at ``--shape`` (constant shapes) and
converted with ``coremltools.convert(convert_to='mlprogram')`` (:mod:`recnext_bench.
coreml_export`); every file is checked for its input and output names and shapes, and its MIL op
list for ops known to leave the Neural Engine. Writes
``<out-dir>/recnext_<arch>[_backbone]_deploy_<H>x<W>_<precision>.mlpackage``.

Running and timing a model needs macOS with the Core ML framework (Xcode's performance report
shows the compute unit of every op); on Linux coremltools converts only.
"""
import argparse
import json
import sys

from recnext_bench.cli import add_export_arguments, check_export_arguments, shape_arg
from recnext_bench.optional import require_or_exit


def parse_args(argv=None) -> argparse.Namespace:
    from recnext_bench.coreml_export import PRECISIONS, TARGETS
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_export_arguments(parser, TARGETS, 'work_dirs/coreml', all_archs_by_default=True)
    parser.add_argument('--precision', nargs='+', choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument('--shape', type=shape_arg, default=(224, 224), help='e.g. 224 or 256x320')
    parser.add_argument('--no-save', action='store_true', help='convert and check only')
    parser.add_argument('--out-json', help='write the summary here')
    return check_export_arguments(parser, parser.parse_args(argv))


def main(argv=None) -> int:
    args = parse_args(argv)
    from recnext_bench.coreml_export import export_arch, markdown
    require_or_exit('coremltools', purpose='Core ML export', quiet=True)
    rows = []
    jobs = [(a, t, p) for a in args.archs for t in args.target for p in args.precision]
    for k, (arch, target, precision) in enumerate(jobs):
        print(f'[{k + 1}/{len(jobs)}] recnext_{arch} {target} {precision}', file=sys.stderr,
              flush=True)
        rows.append(export_arch(arch, target, precision, args.out_dir, args.shape,
                                args.checkpoint, save=not args.no_save))
    print(markdown(rows))
    if args.out_json:
        with open(args.out_json, 'w', encoding='utf-8') as f:
            json.dump(rows, f, indent=1)
    failed = [f'recnext_{r["arch"]} {r["target"]} {r["precision"]}' for r in rows if not r['ok']]
    if failed:
        print(f'\nFAILED (names, shapes or Neural Engine fallbacks): {", ".join(failed)}',
              file=sys.stderr)
        return 1
    print(f'\nAll {len(rows)} Core ML exports have the expected inputs and outputs and no op '
          f'known to leave the Neural Engine. Running them needs macOS.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
