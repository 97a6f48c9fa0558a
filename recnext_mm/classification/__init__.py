"""RecNeXt for mmpretrain: the classifier head, strict / deploy-aware classifiers, distillation.

Importing this subpackage imports mmpretrain and registers into its ``MODELS`` registry:

- ``RecNeXtClsHead``: the official two-head (``head``, ``head_dist``) classifier head.
- ``RecNeXtImageClassifier``: ``ImageClassifier`` with strict checkpoint checks and on-the-fly
  fusion of training-form checkpoints into deploy-form models.
- ``RecNeXtDistillClassifier``: DeiT-style hard distillation from a frozen teacher.

Classification configs load it with
``custom_imports = dict(imports=['recnext_mm', 'recnext_mm.classification'],
allow_failed_imports=False)``.
"""
from .classifiers import RecNeXtDistillClassifier, RecNeXtImageClassifier, load_teacher_weights
from .heads import RecNeXtClsHead, distillation_loss

__all__ = ['RecNeXtClsHead', 'RecNeXtImageClassifier', 'RecNeXtDistillClassifier',
           'distillation_loss', 'load_teacher_weights']
