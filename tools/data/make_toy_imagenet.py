#!/usr/bin/env python
"""Write the toy ImageNet-layout classification set (a few shape classes, deterministic).

    python tools/data/make_toy_imagenet.py                       # -> data/toy_imagenet
    python tools/data/make_toy_imagenet.py --out /tmp/toy --train-per-class 20 --val-per-class 5

The set trains configs/classification/recnext_toy_in1k.py on a CPU in minutes. The generator is
recnext_mm.toy_data.imagenet (numpy and OpenCV; none of mmdet, mmseg, mmpretrain is imported).
"""
import argparse

from recnext_mm.toy_data import imagenet as toy


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=toy.DEFAULT_ROOT,
                        help='output root (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--train-per-class', type=int, default=80)
    parser.add_argument('--val-per-class', type=int, default=20)
    parser.add_argument('--size', type=int, default=72, help='image side in pixels')
    parser.add_argument('--classes', nargs='+', default=list(toy.TOY_CLASSES),
                        choices=toy.TOY_CLASSES, help='subset of the classes')
    return parser.parse_args(argv)


def main(argv=None):
    """Writes the set; returns the image counts by split (``train``, ``val``)."""
    args = parse_args(argv)
    counts = toy.make_toy_imagenet(args.out, seed=args.seed, train_per_class=args.train_per_class,
                                   val_per_class=args.val_per_class, size=args.size,
                                   classes=args.classes)
    print(f'Wrote {counts["train"]} train and {counts["val"]} val images of {len(args.classes)} '
          f'classes to {args.out}')
    return counts


if __name__ == '__main__':
    main()
