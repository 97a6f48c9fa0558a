"""Helpers shared by the tests (and tools/dev/make_official_golden.py)."""
import os.path as osp
from collections import OrderedDict

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
GOLDEN = osp.join(REPO, 'tests', 'data', 'official_outputs.pt')


def reference():
    """The measured facts about the official release (recnext_mm/reference/README.md)."""
    from recnext_mm.reference import reference_facts
    return reference_facts()


def reference_layout(arch, fused=False):
    """``{key: shape}`` of the released checkpoint of ``arch`` (``fused``: of the official fused
    TorchScript archive)."""
    from recnext_mm.reference import release_layout
    return release_layout(arch, fused)


def seeded_state_dict(layout, seed=0):
    """Deterministic, well-scaled random weights for a ``{key: shape}`` layout.

    Conv/linear weights ~ N(0, 1/fan_in); BatchNorm statistics and affine parameters random but
    sane (BN scales 0.2-0.4 keep residual branches from doubling the signal at every block), so deep networks neither vanish nor overflow and every fused/unfused path is exercised.
    """
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in layout.items():
        shape = tuple(shape)
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(100)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        elif key.endswith('running_mean'):
            state[key] = torch.randn(shape, generator=gen) * 0.1
        elif len(shape) <= 1 and key.endswith('.weight'):  # norm scale
            state[key] = torch.rand(shape, generator=gen) * 0.2 + 0.2
        elif len(shape) <= 1:  # biases
            state[key] = torch.randn(shape, generator=gen) * 0.05
        else:
            fan_in = max(1, int(torch.tensor(shape[1:]).prod()))
            state[key] = torch.randn(shape, generator=gen) / fan_in**0.5
    return state


def randomize_norms(model, seed=0):
    """Non-trivial BatchNorm statistics and affine parameters, so that folding is really tested."""
    from torch.nn.modules.batchnorm import _BatchNorm
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) * 0.2 + 0.2)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.05)
    return model


def rel_diff(a, b):
    """Largest absolute difference relative to the largest magnitude of ``b``."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def golden_input(seed=0):
    """The input of the golden comparison: odd, non-square size to exercise exact-size upsampling."""
    return torch.randn(1, 3, 67, 93, generator=torch.Generator().manual_seed(seed))


def sample_indices(tensor, count=512, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, tensor.numel(), (count,), generator=gen)


def model_layout(arch):
    """``{key: shape}`` of our timm model of ``arch`` (equal to the release layout: tested)."""
    from recnext_mm import RecNeXtClassifier
    return OrderedDict((k, tuple(v.shape)) for k, v in RecNeXtClassifier(arch).state_dict().items())


def load_toy_module(name):
    """The toy data generator ``recnext_mm.toy_data.<name>`` (coco, ade, imagenet)."""
    import importlib
    return importlib.import_module(f'recnext_mm.toy_data.{name}')


def tree_digest(root):
    """SHA-256 over the relative paths and bytes of every file below ``root``."""
    import glob
    import hashlib
    digest = hashlib.sha256()
    for path in sorted(glob.glob(osp.join(root, '**', '*.*'), recursive=True)):
        digest.update(osp.relpath(path, root).encode())
        with open(path, 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()


def build_cfg_model(cfg):
    """The model of an mm config with random weights (no pretrained download), SyncBN reverted to
    BN as the Runner does without a process group."""
    from mmengine.model import revert_sync_batchnorm

    from recnext_mm.runner_utils import build_model_from_cfg
    return revert_sync_batchnorm(build_model_from_cfg(cfg))
