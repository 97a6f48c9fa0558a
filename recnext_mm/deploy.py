"""Deploy form of whole models: detectors, segmentors and classifiers that contain RecNeXt parts."""
from typing import List, Optional

import torch
import torch.nn as nn

from .backbones.layers import check_foldable
from .backbones.recnext import RecNeXtTrunk

__all__ = ['recnext_roots', 'deploy_model', 'switch_to_deploy']


def recnext_roots(model: nn.Module) -> List[nn.Module]:
    """The outermost RecNeXt backbones and timm classifiers inside ``model``."""
    roots: List[nn.Module] = []
    inside = set()
    for m in model.modules():
        if isinstance(m, RecNeXtTrunk) and id(m) not in inside:
            roots.append(m)
            inside.update(id(sub) for sub in m.modules())
    return roots


@torch.no_grad()
def deploy_model(model: nn.Module, official_graph: bool = False,
                 channels_last: Optional[bool] = None) -> nn.Module:
    """Puts every RecNeXt part of an assembled model into its deploy form, in place.

    Each RecNeXt backbone / timm classifier is switched as its ``switch_to_deploy()`` does; the
    other fusable RecNeXt layers outside them (the two-head classifier head of the mmpretrain
    configs) are folded too. Run it after the weights are loaded: the fused model has no
    BatchNorms left to load into.

    Args:
        model (nn.Module): A detector, segmentor, classifier or backbone (a DDP wrapper works too).
        official_graph (bool): Only what the official ``fuse()`` does, NCHW (see
            :func:`~recnext_mm.backbones.layers.reparameterize`).
        channels_last (bool, optional): Memory format of the RecNeXt parts (default: on).

    Returns:
        nn.Module: ``model`` itself, in eval mode.

    Raises:
        ValueError: ``model`` contains no RecNeXt part.
        TypeError: a norm layer of a RecNeXt part is not a BatchNorm (nothing is changed then).

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
    for root in roots:
        check_foldable(root)
    model.eval()
    for root in roots:
        root.switch_to_deploy(channels_last=channels_last, official_graph=official_graph)
    # The rest of the model: RecNeXt heads of mm classifiers fold in their switch_to_deploy().
    inside = {id(m) for root in roots for m in root.modules()}
    for m in list(model.modules()):
        if id(m) in inside or not callable(getattr(m, 'switch_to_deploy', None)):
            continue
        if any(id(sub) in inside for sub in m.modules()):
            continue  # a wrapper of a root (a classifier): its own switch would fold it again
        m.switch_to_deploy()
    return model


switch_to_deploy = deploy_model
