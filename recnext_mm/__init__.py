"""recnext_mm: RecNeXt backbones for the OpenMMLab 2.0 ecosystem.

Importing the package registers, and replaces no function, method or attribute of another package:

- the backbone ``RecNeXt`` in the root ``mmengine.registry.MODELS`` (so mmdet, mmseg and
  mmpretrain configs build it with ``type='RecNeXt'``),
- the timm models ``recnext_<arch>``,
- the training pieces configs ask for by name (see ``recnext_mm.engine``): ``runner_type =
  'RecNeXtRunner'`` (atomic checkpoints, resume past damaged checkpoints, weights-only safe
  checkpoints, the bad-image policy), ``AGCOptimWrapper`` / ``AmpAGCOptimWrapper``,
  ``TimmCosineLR``, ``ModelEMAHook``,
- numpy's array types as safe globals of ``torch.load(weights_only=True)`` (``torch.serialization.
  add_safe_globals``; see ``recnext_mm.safe_load``),
- the ``recnext_mm::`` config prefix (see ``recnext_mm.scope_hook``).

It imports none of mmdet, mmseg or mmpretrain; their task-specific pieces live in
``recnext_mm.classification`` (head, classifiers) and ``recnext_mm.seg_transforms`` (label check)
and load only when a config imports them through ``custom_imports``.
"""
from . import safe_load  # noqa: F401  (numpy types allowed in weights-only loads)
from . import engine  # noqa: F401  (registers the runner, hooks, optim wrappers, scheduler)
from .scope_hook import install as _install_config_scope
from .backbones import ARCH_SETTINGS, FORMS, RecNeXt, get_arch, set_channels_last, to_form
from .timm_models import RecNeXtClassifier, release_url
from .version import __version__

_install_config_scope()  # the recnext_mm:: config prefix

__all__ = ['__version__', 'RecNeXt', 'RecNeXtClassifier', 'ARCH_SETTINGS', 'get_arch', 'FORMS',
           'to_form', 'set_channels_last', 'release_url']
