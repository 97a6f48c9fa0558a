"""The cases of the RecConv-variant equality check with the official definitions.

The official repository keeps its RecConv variants as commented-out code (``model/recnext.py`` of
suous/RecNeXt). ``tools/dev/make_official_variant_golden.py`` builds each of them from that text
outside this repository, loads deterministic weights (:func:`~.golden.seeded_state_dict` of the
module's own layout), runs a fixed input and saves the parameter layout and sampled outputs to
``tests/data/official_variants.pt``; tests/test_models/test_backbones/test_recconv_variants.py builds ours with
:func:`~recnext_mm.backbones.layers.build_token_mixer`, loads the same weights strictly and compares.
Both sides take the cases from :data:`VARIANT_CASES`.
"""
import hashlib
from typing import Dict, List, Tuple

import torch

from .golden import sample_indices, seeded_state_dict


# name -> (official definition, its constructor kwargs, our build_token_mixer kwargs, input shape).
# Official definitions (the key of tools/dev/make_official_variant_golden.py's extraction):
#   'recconv'      the active RecConv2d (bilinear or nearest interpolation)
#   'maxunpool'    max-pool / max-unpool            'convtrans'  one shared transposed conv
#   'split_interp' channel split, interpolation     'variant_a'  group convs (Variant A)
#   'variant_b'    channel split, transposed convs (Variant B)
#   'dwconv'       torch.nn.Conv2d, depthwise with its default bias (the 3x3 / 7x7 rows)
# Odd sizes where a definition takes any size; multiples of 2**level for the transposed convs.
VARIANT_CASES: Dict[str, Tuple[str, dict, dict, Tuple[int, int, int, int]]] = {
    'nearest_k7_l3': ('recconv', dict(kernel_size=7, level=3, mode='nearest'),
                      dict(kernel_size=7, level=3, upsample='nearest'), (2, 8, 29, 38)),
    'maxunpool_k7_l3': ('maxunpool', dict(kernel_size=7, level=3),
                        dict(kernel_size=7, level=3, upsample='maxunpool'), (2, 8, 27, 38)),
    'maxunpool_k3_l4': ('maxunpool', dict(kernel_size=3, level=4),
                        dict(kernel_size=3, level=4, upsample='maxunpool'), (1, 4, 48, 33)),
    'convtrans_add_k3_l2': ('convtrans', dict(kernel_size=3, level=2),
                            dict(kernel_size=3, level=2, upsample='convtranspose'), (2, 8, 32, 48)),
    'convtrans_add_k7_l4': ('convtrans', dict(kernel_size=7, level=4),
                            dict(kernel_size=7, level=4, upsample='convtranspose'), (1, 4, 64, 48)),
    'convtrans_mul_k5_l3': ('convtrans', dict(kernel_size=5, level=3, agg='mul'),
                            dict(kernel_size=5, level=3, upsample='convtranspose',
                                 aggregation='mul'), (2, 8, 32, 40)),
    'split_interp_k5_l2': ('split_interp', dict(kernel_size=5, level=2),
                           dict(mixer='recconv_split', kernel_size=5, level=2, upsample='bilinear'),
                           (2, 8, 21, 30)),
    'split_interp_nearest_k3_l3': ('split_interp', dict(kernel_size=3, level=3, mode='nearest'),
                                   dict(mixer='recconv_split', kernel_size=3, level=3,
                                        upsample='nearest'), (1, 16, 25, 19)),
    'variant_a_k7_l3': ('variant_a', dict(kernel_size=7, level=3),
                        dict(mixer='recconv_group', kernel_size=7, level=3), (2, 16, 32, 40)),
    'variant_a_k5_l4': ('variant_a', dict(kernel_size=5, level=4),
                        dict(mixer='recconv_group', kernel_size=5, level=4), (1, 48, 32, 16)),
    'variant_b_k7_l3': ('variant_b', dict(kernel_size=7, level=3),
                        dict(mixer='recconv_split', kernel_size=7, level=3), (2, 16, 32, 40)),
    'variant_b_k3_l1': ('variant_b', dict(kernel_size=3, level=1),
                        dict(mixer='recconv_split', kernel_size=3, level=1,
                             upsample='convtranspose'), (1, 8, 14, 22)),
    'dwconv_k3': ('dwconv', dict(kernel_size=3), dict(mixer='dwconv', kernel_size=3), (2, 8, 15, 17)),
    'dwconv_k7': ('dwconv', dict(kernel_size=7), dict(mixer='dwconv', kernel_size=7), (1, 8, 20, 9)),
}


def case_input(shape, seed: int = 0) -> torch.Tensor:
    """The fixed input of a case."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def layout_of(module: torch.nn.Module) -> Dict[str, List[int]]:
    """``{key: shape}`` of a module's state dict."""
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def layout_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's ordered ``key shape`` lines: equal digests mean equal seeded weights."""
    text = '\n'.join(f'{k} {tuple(v)}' for k, v in layout_of(module).items())
    return hashlib.sha256(text.encode()).hexdigest()


def record(module: torch.nn.Module, shape) -> dict:
    """Loads the seeded weights of ``module``'s layout into it and returns its golden entry:
    ``layout``, ``output_shape`` and 512 sampled output values."""
    layout = layout_of(module)
    module.load_state_dict(seeded_state_dict(layout), strict=True)
    with torch.no_grad():
        out = module.eval()(case_input(shape))
    return dict(layout=layout, output_shape=list(out.shape),
                output=out.flatten()[sample_indices(out)].clone())


# The official definition of each ablation row's token mixer (the ``(definition, kwargs)`` of
# VARIANT_CASES), for the official networks' parameter counts recorded by the same tool; and the
# one extra network that explains a log's count (see docs/ablation.md).
ABLATION_OFFICIAL: Dict[str, Tuple[str, dict]] = {
    '3x3': ('dwconv', dict(kernel_size=3)),
    '7x7': ('dwconv', dict(kernel_size=7)),
    'rec_3x3': ('recconv', dict(kernel_size=3)),
    'rec_5x5': ('recconv', dict(kernel_size=5)),
    'rec_7x7': ('recconv', dict(kernel_size=7)),
    'rec_7x7_nearest': ('recconv', dict(kernel_size=7, mode='nearest')),
    'rec_7x7_unpool': ('maxunpool', dict(kernel_size=7)),
    'rec_convtrans_3x3_basic': ('convtrans', dict(kernel_size=3)),
    'rec_convtrans_5x5_basic': ('convtrans', dict(kernel_size=5)),
    'rec_convtrans_7x7_basic': ('convtrans', dict(kernel_size=7)),
    'rec_convtrans_7x7_group': ('variant_a', dict(kernel_size=7)),
    'rec_convtrans_7x7_split': ('variant_b', dict(kernel_size=7)),
    'split_interp_5x5': ('split_interp', dict(kernel_size=5)),
}
# The official RecNeXt-M1 of the ablations (model/recnext.py: recnext_m1, levels 4 - stage).
OFFICIAL_M1_ARGS = dict(embed_dim=(48, 96, 192, 384), depth=(3, 3, 15, 2), num_classes=1000)
# The input of the whole-network comparison: a side every row takes (transposed convs: 64 m).
NETWORK_INPUT = (1, 3, 128, 128)
