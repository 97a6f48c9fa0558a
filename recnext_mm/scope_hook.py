"""The ``recnext_mm::`` config prefix, as ``mmdet::`` works for mmdet.

mmengine resolves ``_base_ = ['pkg::path.py']`` only for packages in its ``MODULE2PACKAGE`` table,
and it reads ``_base_`` before a config's ``custom_imports`` run. So the entry must exist before
any config is parsed:

- ``import recnext_mm`` adds it (enough for our tools, which import the package first);
- a wheel install (``pip install .``) also ships this file as the top-level module
  ``recnext_mm_scope`` with ``recnext_mm_scope.pth``, which Python runs at start-up: it adds the
  entry when ``mmengine.config.utils`` is first imported, so mmdet's, mmseg's and mmpretrain's own
  tools resolve the prefix too. It imports nothing heavy (no torch, no mmengine) at start-up.

The configs ship in the wheel as ``recnext_mm/.mim/configs`` (mmengine's place for them).
"""
import importlib.abc
import importlib.machinery
import sys

TARGET = 'mmengine.config.utils'


def register(module) -> None:
    """Adds ``recnext_mm`` to mmengine's table of packages with configs."""
    module.MODULE2PACKAGE.setdefault('recnext_mm', 'recnext_mm')


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Registers the prefix right after ``mmengine.config.utils`` executes."""

    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            register(module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Registers now if mmengine's config utils are loaded, else when they are."""
    if TARGET in sys.modules:
        register(sys.modules[TARGET])
    elif not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())


if __name__ == 'recnext_mm_scope':  # the wheel's start-up copy
    install()
