#!/usr/bin/env python
"""Write the embedded toy semantic segmentation set in the ADE20K layout.

    python tools/data/make_toy_ade.py [--out data/toy_ade] [--seed 0]

It is what configs/segmentation/fpn_recnext_toy_ade.py trains on. The generator is
recnext_mm.toy_data.ade (numpy and OpenCV; none of mmdet, mmseg, mmpretrain is imported).
"""
import sys

from recnext_mm.toy_data import ade as toy

if __name__ == '__main__':
    toy.main(sys.argv[1:])
