"""Helpers for comparisons of model forms and with the official implementation: its fixed input, the sampled output
positions and the deterministic weights, shared by ``tools/dev/make_official_golden.py`` (which
records the official outputs) and the equality test (tests/test_models/test_backbones/test_recnext.py, through
tests/utils.py)."""
from collections import OrderedDict

import torch


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


def randomize_norms(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random running statistics and affine parameters for every BatchNorm, so that folding them
    really changes the weights (fresh ones are the identity). Scales 0.2-0.4 keep residual
    branches from growing the signal block after block, as :func:`seeded_state_dict` does."""
    from torch.nn.modules.batchnorm import _BatchNorm
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm) and m.running_mean is not None:
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=gen) * 0.2 + 0.2)
                    m.bias.copy_(torch.randn(n, generator=gen) * 0.05)
    return model
