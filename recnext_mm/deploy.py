"""Deploy form of whole models: detectors, segmentors and classifiers that contain RecNeXt parts."""
from typing import List

import torch
import torch.nn as nn

from .backbones.layers import switch_to_deploy
from .backbones.recnext import RecNeXt
from .timm_models import RecNeXtClassifier

__all__ = ['recnext_roots', 'deploy_model']


def recnext_roots(model: nn.Module) -> List[nn.Module]:
    """The outermost RecNeXt backbones and timm classifiers inside ``model``."""
    roots: List[nn.Module] = []
    inside = set()
    for m in model.modules():
        if isinstance(m, (RecNeXt, RecNeXtClassifier)) and id(m) not in inside:
            roots.append(m)
            inside.update(id(sub) for sub in m.modules())
    return roots


@torch.no_grad()
def deploy_model(model: nn.Module, official_graph: bool = False) -> nn.Module:
    """Puts every RecNeXt part of an assembled model into its deploy form, in place.

    Each RecNeXt backbone / classifier is fused as its ``switch_to_deploy()`` does (channels_last
    included); other fusable modules outside them (the two-head classifier head of the mmpretrain
    configs) are fused too. Run it after the weights are loaded: the fused model has no BatchNorms
    left to load into.

    Args:
        model (nn.Module): A detector, segmentor, classifier or backbone (a DDP wrapper works too).
        official_graph (bool): Only what the official ``fuse()`` does, NCHW (see
            :func:`~recnext_mm.backbones.layers.switch_to_deploy`).

    Returns:
        nn.Module: ``model`` itself, in eval mode.

    Raises:
        ValueError: ``model`` contains no RecNeXt part.

    Example:
        >>> from recnext_mm import RecNeXt
        >>> backbone = deploy_model(RecNeXt('m0'))
        >>> backbone.deploy, backbone.channels_last
        (True, True)
    """
    roots = recnext_roots(model)
    if not roots:
        raise ValueError(f'{type(model).__name__} contains no RecNeXt backbone or classifier: there '
                         f'is no deploy form to switch to.')
    model.eval()
    for root in roots:
        switch_to_deploy(root, official_graph=official_graph)
        root.deploy = True
        if not official_graph:
            root.use_channels_last()
    # Skip wrappers that contain a root: their own switch_to_deploy would fold it again.
    inside = {id(m) for root in roots for m in root.modules()}
    for m in list(model.modules()):
        if id(m) in inside or not callable(getattr(m, 'switch_to_deploy', None)):
            continue
        if any(id(sub) in inside for sub in m.modules()):
            continue
        m.switch_to_deploy()
    return model
