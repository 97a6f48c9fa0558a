#!/usr/bin/env python
"""Write the embedded toy semantic segmentation set in the ADE20K layout.

    python tools/data/make_toy_ade.py [--out data/toy_ade] [--seed 0]

It is what configs/segmentation/fpn_recnext_toy_ade.py trains on. Only numpy and OpenCV are needed:
the generator module is loaded by path, so neither torch nor the mm packages are imported.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # also when imported as a module
from toy_loader import load_toy_module  # noqa: E402

if __name__ == '__main__':
    load_toy_module('ade').main(sys.argv[1:])
