#!/usr/bin/env python
"""Records the official implementation's outputs for the equality test (tests/test_models/test_backbones/test_recnext.py).

For each of the 18 architectures: deterministic random weights in the release layout
(recnext_bench.golden: seeded_state_dict), loaded strictly into the official network; its
logits and 512 sampled values of each stage output on a fixed odd-sized input are saved to
tests/data/official_outputs.pt. The official code is not part of this repository: point
--official-dir at a checkout of github.com/suous/RecNeXt's model files, with a `load_official.py`
whose `load(path)` imports a model file without registering into timm.

    python tools/dev/make_official_golden.py --official-dir /tmp/official_recnext
"""
import argparse
import os.path as osp
import sys

import torch

from recnext_bench.golden import golden_input, sample_indices, seeded_state_dict
from recnext_mm.reference import release_layout

FILES = {'recconv': 'recnext_m.py', 'recattn': 'recnext_a.py', 'lsnet': 'recnext_ls.py',
         'lsnet_share_channel': 'recnext_ls_share.py'}

# The golden files live with the tests of this checkout (the package never reads them).
REPO_TESTS_DATA = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tests',
                           'data')


def official_net(modules, settings):
    from recnext_mm.backbones.archs import official_model_args
    return modules[settings['family']].RecNext(**official_model_args(settings))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--official-dir', required=True)
    parser.add_argument('--out', default=osp.join(REPO_TESTS_DATA, 'official_outputs.pt'))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, args.official_dir)
    from load_official import load

    from recnext_mm.backbones.archs import ARCH_SETTINGS
    modules = {fam: load(osp.join(args.official_dir, name)) for fam, name in FILES.items()}
    x = golden_input()
    golden = {'input_shape': torch.tensor(x.shape)}
    for arch, settings in ARCH_SETTINGS.items():
        net = official_net(modules, settings).eval()
        net.load_state_dict(seeded_state_dict(release_layout(arch, False)), strict=True)
        with torch.no_grad():
            golden[f'{arch}/logits'] = net(x)[0].clone()
            y = net.stem(x)
            for i, stage in enumerate(net.stages):
                y = stage(y)
                golden[f'{arch}/stage{i}'] = y.flatten()[sample_indices(y, seed=i)].clone()
                golden[f'{arch}/stage{i}_shape'] = torch.tensor(y.shape)
        print(arch, 'logits |max|', float(golden[f'{arch}/logits'].abs().max()))
    torch.save(golden, args.out)
    print('wrote', args.out)
    return golden


if __name__ == '__main__':
    main()
