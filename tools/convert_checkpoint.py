#!/usr/bin/env python
"""Convert a released RecNeXt checkpoint into an OpenMMLab 2.0 checkpoint (or back).

    python tools/convert_checkpoint.py recnext_m3_distill_300e.pth m3_in1k.pth      # -> mmpretrain
    python tools/convert_checkpoint.py recnext_m3_coco.pth m3_coco_mmdet3.pth       # -> mmdet 3.x
    python tools/convert_checkpoint.py recnext_m3_ade20k.pth m3_ade_mmseg1.pth      # -> mmseg 1.x
    python tools/convert_checkpoint.py recnext_m3_distill_300e_fused.pt m3_fused.pth  # -> deploy form
    python tools/convert_checkpoint.py m3_in1k.pth release.pth --to-official        # -> {'model': ...}

The source format is detected (recnext_mm.checkpoint.FORMATS). An official fused TorchScript
archive is read tensors-only (its code never runs) and written as the mmpretrain classifier in
deploy form: evaluate it with --cfg-options model.deploy=True. --config CONFIG checks that the
result loads into that config's model with no missing or unexpected key. Logic: recnext_mm.convert.
"""
import argparse
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='source checkpoint (file or URL)')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--to-official', action='store_true',
                        help='write the official release layout from an mmpretrain classifier')
    parser.add_argument('--config', help='verify that the result loads strictly into this config')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow arbitrary pickled objects in SRC (only for trusted files)')
    return parser.parse_args(argv)


def main(argv=None):
    """Converts; returns the detected source format (exits with the error otherwise)."""
    args = parse_args(argv)
    from recnext_mm.checkpoint import CheckpointError
    from recnext_mm.convert import convert_checkpoint
    try:
        fmt = convert_checkpoint(args.src, args.dst, to_official=args.to_official,
                                 unsafe_load=args.unsafe_load, config=args.config)
    except CheckpointError as err:
        sys.exit(f'error: {err}')
    print(f'{args.src} ({fmt}) -> {args.dst}' + (' (verified against ' + args.config + ')'
                                                   if args.config else ''))
    return fmt


if __name__ == '__main__':
    main()
