#!/usr/bin/env python
"""Writes recnext_mm/reference/ablation_logs.json from the official ablation logs.

The official repository (suous/RecNeXt) keeps one log per trained ablation model under
``logs/ablation/224`` and ``logs/ablation/384``, named
``recnext_m1_120e_<H>x<W>_<row>_<top-1 x 100>.txt``; each line is the JSON record of one epoch.
For each log this script records the row, the input size, ``n_parameters`` of the first line, the
top-1 (``test_acc1``) and epoch of the last line, the best top-1 of any epoch (the number in the
file name and the official README's table) and whether the official code defines the row (``bxb``
and ``nearest_ssm`` appear in no official code).

    git clone https://github.com/suous/RecNeXt /tmp/RecNeXt
    python tools/dev/make_ablation_facts.py --logs /tmp/RecNeXt/logs/ablation
"""
import argparse
import glob
import json
import os.path as osp
import re

from recnext_mm.reference import ABLATION_JSON

NAME = re.compile(r'^recnext_m1_120e_(\d+)x(\d+)_(.+)_(\d{4})\.txt$')
# Rows whose token mixer no official code defines (neither the active nor the commented code).
UNDEFINED = {'bxb', 'rec_7x7_nearest_ssm'}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--logs', required=True, help='logs/ablation of a RecNeXt checkout')
    parser.add_argument('--out', default=ABLATION_JSON)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rows = []
    for path in sorted(glob.glob(osp.join(args.logs, '*', '*.txt'))):
        name = osp.basename(path)
        match = NAME.match(name)
        if not match:
            raise SystemExit(f'Unexpected log name {name!r}: expected {NAME.pattern}')
        h, w, row, suffix = match.groups()
        with open(path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        first, last = lines[0], lines[-1]
        if first['n_parameters'] != last['n_parameters']:
            raise SystemExit(f'{name}: n_parameters changes during training')
        best = max(line['test_acc1'] for line in lines)
        # The file names (and the official README's table) carry the best epoch's top-1, to 2
        # decimals (one name, ..._split_7683, is 0.01 below its log's best, 76.838).
        if abs(best - int(suffix) / 100) > 0.011:
            raise SystemExit(f'{name}: best top-1 {best} does not match the file name')
        folder = osp.basename(osp.dirname(path))
        rows.append(dict(row=row, size=[int(h), int(w)], log=f'logs/ablation/{folder}/{name}',
                         n_parameters=first['n_parameters'], top1=round(last['test_acc1'], 3),
                         top1_best=round(best, 3), top1_in_name=int(suffix) / 100, epochs=last['epoch'] + 1,
                         defined_in_official_code=row not in UNDEFINED))
    facts = dict(
        source='https://github.com/suous/RecNeXt/tree/main/logs/ablation',
        note=('RecNeXt-M1, 120 epochs on ImageNet-1K. n_parameters: first line of the log (the '
              "official main.py's count of trainable parameters, 1000-class head included); top1: "
              'test_acc1 of the last line (epoch 120); top1_best: the best epoch, as in the file '
              'name.'),
        rows=rows)
    with open(args.out, 'w') as f:
        json.dump(facts, f, indent=1)
        f.write('\n')
    print(f'wrote {args.out}: {len(rows)} rows')
    return facts


if __name__ == '__main__':
    main()
