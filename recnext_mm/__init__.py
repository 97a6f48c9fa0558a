"""recnext_mm: RecNeXt backbones for the OpenMMLab 2.0 ecosystem.

Importing the package registers

- the backbone ``RecNeXt`` in the root ``mmengine.registry.MODELS`` (so mmdet, mmseg and
  mmpretrain configs build it with ``type='RecNeXt'``),
- the timm models ``recnext_<arch>``,
- weights-only loading of mmengine Runner checkpoints on torch >= 2.6 (see ``recnext_mm.safe_load``).

It imports none of mmdet, mmseg or mmpretrain; their task-specific pieces live in
``recnext_mm.classification`` (head, classifiers) and ``recnext_mm.seg_transforms`` (label check)
and load only when a config imports them through ``custom_imports``.
"""
from . import safe_load  # noqa: F401  (before any Runner checkpoint is read)
from .backbones import ARCH_SETTINGS, RecNeXt, get_arch, switch_to_deploy
from .timm_models import RecNeXtClassifier, release_url
from .version import __version__

__all__ = ['__version__', 'RecNeXt', 'RecNeXtClassifier', 'ARCH_SETTINGS', 'get_arch',
           'switch_to_deploy', 'release_url']
