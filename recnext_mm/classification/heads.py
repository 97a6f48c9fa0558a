"""The RecNeXt ImageNet classifier head for mmpretrain."""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..backbones.layers import TwoHeads

__all__ = ['RecNeXtClsHead', 'distillation_loss']


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      distill_type: str = 'hard', tau: float = 1.0) -> torch.Tensor:
    """The DeiT distillation term between the student's distillation head and the teacher.

    Args:
        student_logits (Tensor): ``(N, K)`` logits of the distillation head.
        teacher_logits (Tensor): ``(N, K)`` teacher logits (no gradient needed).
        distill_type (str): 'hard': cross entropy with the teacher's argmax (the official RecNeXt
            setting); 'soft': KL divergence at temperature ``tau``.
        tau (float): Temperature of the soft variant.
    """
    teacher_logits = teacher_logits.detach().float()
    student_logits = student_logits.float()
    if distill_type == 'hard':
        return F.cross_entropy(student_logits, teacher_logits.argmax(dim=1))
    if distill_type == 'soft':
        # As DeiT: sum-reduced KL, scaled by tau^2 and averaged over all logits.
        return F.kl_div(F.log_softmax(student_logits / tau, dim=1),
                        F.log_softmax(teacher_logits / tau, dim=1), reduction='sum',
                        log_target=True) * (tau * tau) / student_logits.numel()
    raise ValueError(f"distill_type must be 'hard' or 'soft', got {distill_type!r}.")


@MODELS.register_module()
class RecNeXtClsHead(ClsHead, TwoHeads):
    """The official RecNeXt classifier as an mmpretrain head.

    Two ``BatchNorm1d + Linear`` heads (submodules ``head`` and ``head_dist``, so an
    ``ImageClassifier`` has the release keys ``head.head.*`` and ``head.head_dist.*``). At inference
    the logits are the average of both; ``switch_to_deploy()`` (or ``deploy=True``) folds both
    BatchNorms and the average into a single ``Linear`` (``head.head``), as the timm models'
    ``DualHead.fuse()`` does (both share :class:`~recnext_mm.backbones.layers.TwoHeads`).

    Training without distillation optimises the classification loss of the averaged logits, as the
    official code does. With ``distillation=True`` the first head learns from the labels and the
    second from a teacher (see ``RecNeXtDistillClassifier``), and ``loss`` returns
    ``(1 - alpha) * loss_cls`` and ``alpha * loss_distill``.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of the pooled feature (the backbone's last stage).
        distillation (bool): Return both heads' logits in training (for distillation).
            Defaults to False.
        drop_rate (float): Dropout before the heads. Defaults to 0.
        deploy (bool): Build the fused single-linear form (loads fused weights; a classifier
            built with ``RecNeXtImageClassifier`` fuses training-form checkpoints on load).
            Defaults to False.
        loss (dict): Classification loss. Defaults to label smoothing 0.1 (the official recipe;
            with Mixup/CutMix it smooths the mixed targets, as timm's ``Mixup`` does).
        topk (int | tuple): Top-k accuracies for ``cal_acc``. Defaults to (1, 5).
        init_cfg (dict, optional): Initialisation config. The linear layers default to a
            truncated normal (std 0.02), the BatchNorms to identity.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 distillation: bool = False,
                 drop_rate: float = 0.,
                 deploy: bool = False,
                 loss: Union[dict, nn.Module] = dict(
                     type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
                 topk: Union[int, Tuple[int]] = (1, 5),
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(loss=loss, topk=topk, init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(f'num_classes={num_classes} must be positive.')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.distillation = distillation
        self.drop_rate = drop_rate
        self.deploy = deploy
        if deploy:
            self.head_drop = nn.Dropout(drop_rate)
            self.head = nn.Linear(in_channels, num_classes)
        else:
            self._build_two_heads(in_channels, num_classes, drop_rate)

    def forward(self, feats: Tuple[torch.Tensor]) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """Logits ``(N, num_classes)``; ``(logits, logits_dist)`` when training to distil."""
        x = self.pre_logits(feats)
        if self.deploy:
            return self.head(self.head_drop(x))
        out, out_dist = self._two_logits(x)
        if self.training and self.distillation:
            return out, out_dist
        return (out + out_dist) / 2

    @torch.no_grad()
    def switch_to_deploy(self):
        """Folds both heads and their average into one ``Linear`` (in place, idempotent)."""
        if self.deploy:
            return
        self.head = self._merged_linear()
        del self.head_dist
        self.deploy = True

    def build_train_twin(self) -> 'RecNeXtClsHead':
        """A training-form head of the same shape (random weights), to load unfused checkpoints."""
        return RecNeXtClsHead(self.num_classes, self.in_channels, self.distillation,
                              self.drop_rate, deploy=False, loss=self.loss_module, topk=self.topk)

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             teacher_logits: Optional[torch.Tensor] = None, alpha: float = 0.5,
             distill_type: str = 'hard', tau: float = 1.0, **kwargs) -> dict:
        """Classification loss, plus the distillation loss when ``teacher_logits`` are given.

        Args:
            feats (tuple[Tensor]): Neck outputs; the last one is used.
            data_samples (list[DataSample]): With ``gt_label`` or (after Mixup/CutMix)
                ``gt_score``.
            teacher_logits (Tensor, optional): Teacher logits of the same batch; required when
                the head was built with ``distillation=True``.
            alpha (float): Weight of the distillation term.
            distill_type (str): 'hard' or 'soft', see :func:`distillation_loss`.
            tau (float): Temperature of the soft variant.
        """
        outputs = self(feats)
        if not isinstance(outputs, tuple):
            if teacher_logits is not None:
                raise RuntimeError('Teacher logits were passed to a RecNeXtClsHead built with '
                                   'distillation=False; set head.distillation=True to distil.')
            return self._get_loss(outputs, data_samples, **kwargs)
        if teacher_logits is None:
            raise RuntimeError('RecNeXtClsHead(distillation=True) is trained with a teacher: use '
                               "type='RecNeXtDistillClassifier' for the classifier, or set "
                               'head.distillation=False to train without distillation.')
        logits, logits_dist = outputs
        losses = self._get_loss(logits, data_samples, **kwargs)
        losses['loss_cls'] = (1 - alpha) * losses.pop('loss')
        losses['loss_distill'] = alpha * distillation_loss(logits_dist, teacher_logits,
                                                           distill_type, tau)
        return losses

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, in_channels={self.in_channels}, '
                f'distillation={self.distillation}, deploy={self.deploy}')
