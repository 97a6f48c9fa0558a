#!/usr/bin/env python
"""Write the embedded toy semantic segmentation set in the ADE20K layout.

    python tools/data/make_toy_ade.py [--out data/toy_ade] [--seed 0]

It is what configs/segmentation/fpn_recnext_toy_ade.py trains on. Only numpy and OpenCV are needed:
the generator module is loaded by path, so neither torch nor the mm packages are imported.
"""
import importlib.util
import os.path as osp
import sys

_MODULE = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                   'recnext_mm', 'toy_data', 'ade.py')


def _load_generator():
    spec = importlib.util.spec_from_file_location('recnext_toy_ade', _MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == '__main__':
    _load_generator().main(sys.argv[1:])
