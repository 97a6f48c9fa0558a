"""mmpretrain classifiers for RecNeXt: strict, deploy-aware loading and DeiT-style distillation."""
import copy
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..backbones.forms import to_form
from ..backbones.loading import load_folded
from ..checkpoint import check_keys, load_weights, model_text, select_prefix, weights_form

__all__ = ['RecNeXtImageClassifier', 'RecNeXtDistillClassifier', 'load_teacher_weights']

_FUSABLE_PARTS = ('backbone', 'head')


@MODELS.register_module()
class RecNeXtImageClassifier(ImageClassifier):
    """``ImageClassifier`` with checks and conversions that RecNeXt checkpoints need.

    Everything of :class:`mmpretrain.models.ImageClassifier` applies; in addition:

    - **Strict loading.** A state dict loaded into the model (``load_from``, ``tools/test.py``,
      ``mmpretrain.apis``, ``load_state_dict``) must provide every weight with the right shape and
      nothing else; otherwise a ``CheckpointError`` names the missing, unexpected and mismatched
      keys (mmengine would only warn and evaluate a half-random model, e.g. for a checkpoint of
      another arch). ``strict_load=False`` restores mmengine's lenient behaviour (fine-tuning from
      a checkpoint with another number of classes).
    - **Deploy form.** ``deploy=True`` builds the backbone and head fused (single convolutions and
      one linear layer). A training-form checkpoint loaded into a fused part is fused on the fly
      (loaded into a training-form twin, which is then folded), so any trained checkpoint can be
      evaluated in deploy form: ``--cfg-options model.deploy=True``.
      ``switch_to_deploy()`` fuses a built model in place.

    Args:
        deploy (bool): Build backbone and head in deploy form (sets their ``deploy``).
            Defaults to False.
        strict_load (bool): See above. Defaults to True.
        **kwargs: Arguments of ``ImageClassifier`` (backbone, neck, head, train_cfg,
            data_preprocessor, init_cfg ...).
    """

    def __init__(self, backbone: dict, neck: Optional[dict] = None, head: Optional[dict] = None,
                 deploy: bool = False, strict_load: bool = True, **kwargs):
        if deploy:
            backbone = dict(backbone, deploy=True)
            head = dict(head, deploy=True) if head is not None else None
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self.strict_load = strict_load
        self._check_channels()
        self._register_load_state_dict_pre_hook(self._prepare_state_dict)

    @property
    def deploy(self) -> bool:
        """Whether both backbone and head are in their fused form."""
        return all(getattr(getattr(self, name, None), 'deploy', True) for name in _FUSABLE_PARTS)

    def _check_channels(self):
        out_channels = getattr(self.backbone, 'out_channels', None)
        in_channels = getattr(self.head, 'in_channels', None)
        if out_channels and in_channels is not None and in_channels != out_channels[-1]:
            raise ValueError(
                f'head.in_channels={in_channels} but the backbone\'s last output has '
                f'{out_channels[-1]} channels ({_arch_text(self.backbone)}, out_channels='
                f'{out_channels}); set model.head.in_channels={out_channels[-1]}.')

    @torch.no_grad()
    def switch_to_deploy(self) -> 'RecNeXtImageClassifier':
        """Fuses backbone and head in place (idempotent): ``to_form(self, 'deploy')``, the name
        mmpretrain's reparameterizable models use. Predictions stay the same."""
        return to_form(self, 'deploy')

    # ------------------------------------------------------------------ loading
    def _prepare_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                            unexpected_keys, error_msgs):
        """Load pre-hook: fuses training-form parts for a deploy model, then checks the keys.

        It runs before any child loads, on the dict the children read from (both in
        ``nn.Module.load_state_dict`` and in mmengine's ``load_checkpoint``), so editing it in
        place is what the children see.
        """
        for name in _FUSABLE_PARTS:
            part = getattr(self, name, None)
            if getattr(part, 'deploy', False):
                self._fuse_part_state(state_dict, f'{prefix}{name}.', part, name)
        if self.strict_load:
            self._verify_state_dict(state_dict, prefix)

    @staticmethod
    def _fuse_part_state(state_dict, part_prefix: str, part: nn.Module, name: str):
        sub = select_prefix(state_dict, part_prefix)
        if not sub or set(sub) == set(part.state_dict()) or weights_form(sub) == 'deploy':
            return  # absent or already fused: nothing to convert (the key check reports problems)
        # Fold the incoming weights into the part, then hand its folded tensors on to the load.
        load_folded(part, sub, f'The training-form {name} weights of this checkpoint',
                    part.build_train_twin, hint='Was it trained with another arch or number of classes?')
        for k in [k for k in state_dict if k.startswith(part_prefix)]:
            del state_dict[k]
        for k, v in part.state_dict().items():
            state_dict[part_prefix + k] = v
        print_log(f'Fused the training-form {name} weights into the deploy-form {name}.',
                  logger='current')

    def _verify_state_dict(self, state_dict, prefix: str):
        # Teachers of distillation runs are never part of the student; tolerate foreign copies.
        incoming = OrderedDict((k, v) for k, v in select_prefix(state_dict, prefix).items()
                               if not k.startswith('teacher.'))
        hint = ''
        if self.deploy is False and weights_form(incoming) != 'train':
            hint = ('The checkpoint looks fused (no training-form BatchNorm pairs): build the model '
                    'in deploy form, e.g. --cfg-options model.deploy=True. ')
        check_keys(self.state_dict(), incoming,
                   f'The checkpoint does not fit {type(self).__name__} ({_arch_text(self.backbone)}, '
                   f'head {_head_text(self.head)})',
                   hint + 'Use the config of the arch (and number of classes) the checkpoint was '
                   'trained with. To load it partially on purpose, set model.strict_load=False.',
                   allow_unexpected=False)


def _arch_text(module) -> str:
    return model_text(module)


def _head_text(head) -> str:
    if head is None:
        return 'none'
    classes, channels = getattr(head, 'num_classes', '?'), getattr(head, 'in_channels', '?')
    return f'{classes} classes from {channels} channels'


class _Detached:
    """Holds a module outside the owner's module tree.

    The teacher is kept here so that it is absent from ``state_dict()``, ``parameters()`` (hence
    the optimizer and DDP) and ``train()``; deep copies (EMA models) share it instead of copying
    it.
    """

    def __init__(self, module: Optional[nn.Module] = None):
        self.module = module

    def __deepcopy__(self, memo):
        return self


def load_teacher_weights(teacher: nn.Module, checkpoint: Optional[str]) -> int:
    """Loads ``checkpoint`` into ``teacher`` strictly; returns the number of tensors.

    Accepts the DeiT release layout ``{'model': ...}`` (e.g. ``regnety_160-a5fe301d.pth``), mmengine
    checkpoints ``{'state_dict': ...}`` and plain state dicts; a ``module.`` prefix is stripped.

    Raises:
        FileNotFoundError: ``checkpoint`` is None, a URL or not an existing file.
        CheckpointError: The file is unreadable or its keys / shapes do not fit ``teacher``.
    """
    how = ('Download the DeiT RegNetY-16GF teacher (https://dl.fbaipublicfiles.com/deit/'
           'regnety_160-a5fe301d.pth) once and set model.teacher_checkpoint=/path/to/it.')
    if not checkpoint:
        raise FileNotFoundError(f'Distillation needs teacher weights but model.teacher_checkpoint '
                                f'is not set. {how}')
    if '://' in str(checkpoint):
        raise FileNotFoundError(f'teacher_checkpoint={checkpoint!r} is a URL; teacher weights are '
                                f'read from local files only (nothing is downloaded). {how}')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Teacher checkpoint not found: {checkpoint!r}. {how}')
    state = load_weights(checkpoint).state
    own = teacher.state_dict()
    check_keys(own, state, f'Teacher checkpoint {checkpoint!r} does not fit the teacher '
               f'({type(teacher).__name__})', 'Check model.teacher (e.g. model_name) against the file.',
               allow_unexpected=False, optional=())
    teacher.load_state_dict(state, strict=True)
    return len(own)


@MODELS.register_module()
class RecNeXtDistillClassifier(RecNeXtImageClassifier):
    """RecNeXt trained with DeiT-style distillation from a frozen teacher (official "dist" runs).

    ``loss = (1 - alpha) * CE(head(x), target) + alpha * CE(head_dist(x), argmax teacher(x))``,
    where ``target`` are the (smoothed, Mixup/CutMix-mixed) labels and the teacher sees the same
    augmented batch as the student. At inference nothing changes (the average of both heads), so
    the trained weights load into the plain ``recnext_<arch>_in1k.py`` configs as well.

    The teacher is kept outside the module tree (see ``_Detached``): it is never saved in
    checkpoints, never optimised, always in eval mode, and built only when training needs it
    (``init_weights()``, called by the Runner before training, or the first ``loss()``), so testing
    and inference need neither the teacher nor its weights. ``.to()`` / ``.cuda()`` / ``.half()``
    apply to it too.

    Args:
        teacher (dict): Config of the teacher, built from mmpretrain's ``MODELS``; ``teacher(x)``
            must return logits. The official teacher is
            ``dict(type='TimmClassifier', model_name='regnety_160', num_classes=1000)``.
        teacher_checkpoint (str): Local file with the teacher's weights, loaded strictly (see
            :func:`load_teacher_weights`); nothing is downloaded.
        alpha (float): Weight of the distillation term. Defaults to 0.5.
        distill_type (str): 'hard' (default, official) or 'soft'.
        tau (float): Temperature of 'soft' distillation. Defaults to 1.0.
        **kwargs: Arguments of :class:`RecNeXtImageClassifier`. The head must be a
            ``RecNeXtClsHead`` with ``distillation=True``.
    """

    def __init__(self, *args, teacher: dict, teacher_checkpoint: Optional[str],
                 alpha: float = 0.5, distill_type: str = 'hard', tau: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        if not getattr(self.head, 'distillation', False):
            raise ValueError('RecNeXtDistillClassifier needs a head with two outputs in training: '
                             "set model.head=dict(type='RecNeXtClsHead', distillation=True, ...).")
        if not isinstance(teacher, dict) or 'type' not in teacher:
            raise TypeError(f'model.teacher must be a config dict with a "type", got {teacher!r}.')
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha={alpha} must lie in [0, 1].')
        if distill_type not in ('hard', 'soft'):
            raise ValueError(f"distill_type must be 'hard' or 'soft', got {distill_type!r}.")
        self.teacher_cfg = copy.deepcopy(dict(teacher))
        self.teacher_checkpoint = teacher_checkpoint
        self.alpha = alpha
        self.distill_type = distill_type
        self.tau = tau
        self._teacher = _Detached()

    @property
    def teacher(self) -> nn.Module:
        """The frozen teacher, built and loaded on first use."""
        if self._teacher.module is None:
            self._teacher.module = self._build_teacher()
        return self._teacher.module

    def _build_teacher(self) -> nn.Module:
        teacher = MODELS.build(copy.deepcopy(self.teacher_cfg))
        count = load_teacher_weights(teacher, self.teacher_checkpoint)
        teacher.eval()
        teacher.requires_grad_(False)
        device = next(self.parameters()).device
        print_log(f'Distillation teacher {self.teacher_cfg.get("type")} '
                  f'{self.teacher_cfg.get("model_name", "")}: loaded {count} tensors from '
                  f'{self.teacher_checkpoint}', logger='current')
        return teacher.to(device)

    def init_weights(self):
        super().init_weights()
        self.teacher  # noqa: B018  (fail before training starts when the teacher is unusable)

    def _apply(self, fn, *args, **kwargs):
        # Keep the detached teacher on the student's device / dtype.
        super()._apply(fn, *args, **kwargs)
        if self._teacher.module is not None:
            self._teacher.module._apply(fn, *args, **kwargs)
        return self

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        feats = self.extract_feat(inputs)
        teacher = self.teacher
        if teacher.training:  # e.g. someone called teacher.train(); it must stay frozen
            teacher.eval()
        with torch.no_grad():
            teacher_logits = teacher(inputs)
        if teacher_logits.dim() != 2 or teacher_logits.shape[1] != self.head.num_classes:
            raise ValueError(f'The teacher returns {tuple(teacher_logits.shape)} but the student '
                             f'has {self.head.num_classes} classes; the teacher must output '
                             f'(N, {self.head.num_classes}) logits (set its num_classes).')
        return self.head.loss(feats, data_samples, teacher_logits=teacher_logits, alpha=self.alpha,
                              distill_type=self.distill_type, tau=self.tau)
