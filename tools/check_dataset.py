#!/usr/bin/env python
"""Check a config's data before a run: missing or unreadable images, and the annotations that
mmdet/mmseg/mmpretrain would drop, ignore or fail on.

    python tools/check_dataset.py configs/detection/mask_rcnn_recnext_m3_coco.py
    python tools/check_dataset.py CONFIG --split train --decode      # decode every image fully
    python tools/check_dataset.py CONFIG --cfg-options train_dataloader.dataset.data_root=data/x/

Prints a summary table and one line per problem (file; annotation id and its image), and exits
with 1 when there are errors (2 with --strict and only warnings); --json FILE also writes every
finding. By default images are only
opened (format header: fast on COCO); --decode also decodes every pixel, which finds truncated
files. Logic: recnext_mm.data_check.
"""
import argparse
import json
import sys

from mmengine.config import Config, DictAction


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('--split', nargs='+', default=['train', 'val', 'test'],
                        choices=['train', 'val', 'test'], help='dataloaders to check (default: all)')
    parser.add_argument('--decode', action='store_true',
                        help='decode every image completely (slower; finds truncated files)')
    parser.add_argument('--exists-only', action='store_true',
                        help='only check that files exist (no image is opened)')
    parser.add_argument('--workers', type=int, default=8, help='threads for file checks')
    parser.add_argument('--show-info', action='store_true',
                        help='also list the info items (other categories, clipped boxes...)')
    parser.add_argument('--strict', action='store_true', help='exit with 2 when there are warnings')
    parser.add_argument('--json', metavar='FILE', help='also write every finding to FILE (JSON)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.dataset.data_root=x')
    return parser.parse_args(argv)


def main(argv=None):
    """Checks, prints the report and returns it (``recnext_mm.data_check.DataReport``); exits with 1
    on errors, 2 on warnings with --strict."""
    args = parse_args(argv)
    import recnext_mm  # noqa: F401
    from recnext_mm.data_check import check_config_data
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    mode = 'decode' if args.decode else 'exists' if args.exists_only else 'header'
    report = check_config_data(cfg, splits=args.split, mode=mode, workers=args.workers)
    print(report.format(with_info=args.show_info))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump([vars(f_) for f_ in report.findings], f, indent=1, default=str)
    if report.errors:
        print(f'\n{len(report.errors)} error(s), {len(report.warnings)} warning(s).', file=sys.stderr)
        sys.exit(1)
    if args.strict and report.warnings:
        print(f'\n{len(report.warnings)} warning(s) (--strict).', file=sys.stderr)
        sys.exit(2)
    print(f'\nNo errors ({len(report.warnings)} warning(s)).')
    return report


if __name__ == '__main__':
    main()
