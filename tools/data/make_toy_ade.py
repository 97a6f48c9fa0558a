#!/usr/bin/env python
"""Write the embedded toy semantic segmentation set in the ADE20K layout.

    python tools/data/make_toy_ade.py [--out data/toy_ade] [--seed 0]

It is what configs/segmentation/fpn_recnext_toy_ade.py trains on. The generator is
recnext_mm.toy_data.ade (numpy and OpenCV; none of mmdet, mmseg, mmpretrain is imported).
"""
import argparse

from recnext_mm.toy_data import ade as toy


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=toy.DEFAULT_ROOT, help='output root (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: %(default)s)')
    parser.add_argument('--num-train', type=int, default=96,
                        help='training images (default: %(default)s)')
    parser.add_argument('--num-val', type=int, default=24,
                        help='validation images (default: %(default)s)')
    return parser.parse_args(argv)


def main(argv=None):
    """Writes the set; returns the image counts by split (``training``, ``validation``)."""
    args = parse_args(argv)
    counts = toy.make_toy_ade(args.out, seed=args.seed, num_train=args.num_train,
                              num_val=args.num_val)
    print(f'Wrote {counts["training"]} training and {counts["validation"]} validation images '
          f'({toy.NUM_CLASSES} classes: {", ".join(toy.CLASSES)}) to {args.out}')
    return counts


if __name__ == '__main__':
    main()
