#!/usr/bin/env python
"""Write the embedded toy instance-segmentation data set (COCO layout) for the toy detection config.

    python tools/data/make_toy_coco.py                      # -> data/toy_coco/
    python tools/data/make_toy_coco.py --out /tmp/toy --num-train 8 --num-val 4 --seed 1

Then: python tools/train.py configs/detection/mask_rcnn_recnext_toy_coco.py
"""
import argparse
import json
import time

from recnext_mm.toy_data import coco as toy


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=toy.DEFAULT_ROOT, help='data root to write')
    parser.add_argument('--num-train', type=int, default=600, help='training images')
    parser.add_argument('--num-val', type=int, default=100, help='validation images')
    parser.add_argument('--image-size', type=int, default=160, help='square image side (pixels)')
    parser.add_argument('--max-objects', type=int, default=4, help='max objects per image')
    parser.add_argument('--seed', type=int, default=0, help='same seed -> identical data set')
    return parser.parse_args(argv)


def main(argv=None):
    """Writes the set; returns its statistics (``recnext_mm.toy_data.coco.make_toy_coco``)."""
    args = parse_args(argv)
    start = time.time()
    stats = toy.make_toy_coco(args.out, num_train=args.num_train, num_val=args.num_val,
                              image_size=args.image_size, seed=args.seed,
                              max_objects=args.max_objects)
    for split in ('train', 'val'):
        s = stats[split]
        print(f'{split}: {s["num_images"]} images, {s["num_instances"]} instances '
              f'{json.dumps(s["instances_per_class"])} -> {s["ann_file"]}')
    print(f'wrote {stats["root"]} in {time.time() - start:.1f} s')
    return stats


if __name__ == '__main__':
    main()
