"""Helpers shared by the tests (and tools/dev/make_official_golden.py)."""
import json
import os.path as osp
from collections import OrderedDict

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED = osp.join(osp.dirname(REPO), 'shared')
REFERENCE_JSON = osp.join(SHARED, 'reference', 'recnext_reference.json')
GOLDEN = osp.join(REPO, 'tests', 'data', 'official_outputs.pt')


def reference():
    """The measured facts about the official release (../shared/reference), or None if absent."""
    if not osp.exists(REFERENCE_JSON):
        return None
    with open(REFERENCE_JSON) as f:
        return json.load(f)


def reference_layout(arch):
    """``{key: shape}`` of the released checkpoint of ``arch``, from the reference key listing
    (../shared/reference); the test is skipped where that folder is absent."""
    path = osp.join(SHARED, 'reference', 'state_dict', f'recnext_{arch}.txt')
    if not osp.exists(path):
        import pytest
        pytest.skip(f'reference key listing not available: {path}')
    layout = OrderedDict()
    with open(path) as f:
        for line in f:
            key, shape = line.rstrip('\n').split(' ', 1)
            layout[key] = tuple(int(s) for s in shape.strip('()').split(',') if s.strip())
    return layout


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
    """A toy data generator loaded by path, as the tools/data scripts do."""
    import sys
    sys.path.insert(0, osp.join(REPO, 'tools', 'data'))
    from toy_loader import load_toy_module as load
    return load(name)


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
