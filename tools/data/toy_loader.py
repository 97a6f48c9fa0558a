"""Loads a generator module of ``recnext_mm/toy_data`` by path.

The generators need only numpy and OpenCV; importing them through the ``recnext_mm`` package would
also import torch, timm and mmengine (the package registers its models on import), so the data
scripts (and their tests) load the file on its own.
"""
import importlib.util
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_toy_module(name: str):
    """Returns the module ``recnext_mm/toy_data/<name>.py`` (``coco``, ``ade`` or ``imagenet``)."""
    path = osp.join(ROOT, 'recnext_mm', 'toy_data', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'recnext_toy_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
