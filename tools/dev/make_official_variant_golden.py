#!/usr/bin/env python
"""Records the official RecConv variants' outputs for tests/test_models/test_backbones/test_recconv_variants.py.

The official repository defines its RecConv variants only as commented-out alternatives of
``RecConv2d`` in ``model/recnext.py`` (suous/RecNeXt). This script reads that file, extracts the
active ``RecConv2d`` class (by ``ast``) and each commented-out variant (the triple-quoted blocks
with a ``class RecConv2d``, named by their leading comment), writes each to a module of its own
under ``--scratch`` (outside this repository) and imports it from there. Nothing of the official
code is copied into this repository; the suite reads only the recorded outputs.

One repair: the Variant B block has a stray ``.`` before a comment line (`` .      # this is the
simplest modification ...``), a syntax error; the ``.`` is dropped, nothing else is changed.

For each case of ``recnext_bench.variant_golden.VARIANT_CASES``: the official module with
deterministic weights of its own layout, its fixed input, and its sampled outputs are saved to
``tests/data/official_variants.pt`` (the layout too, so the test checks our parameter names).
For each ablation row (``ABLATION_OFFICIAL``): the official RecNeXt-M1 network (the official file
itself, imported from ``--scratch``) with the row's official token mixer: its parameter count and
the logits of seeded weights of its layout (with the layout's digest).

    git clone https://github.com/suous/RecNeXt /tmp/RecNeXt   # or any copy of model/recnext.py
    python tools/dev/make_official_variant_golden.py --official-file /tmp/RecNeXt/model/recnext.py
"""
import argparse
import ast
import importlib.util
import os
import os.path as osp
import re
import sys
from typing import Tuple

import torch

from recnext_bench.golden import seeded_state_dict
from recnext_bench.variant_golden import (ABLATION_OFFICIAL, NETWORK_INPUT, OFFICIAL_M1_ARGS,
                                          VARIANT_CASES, case_input, layout_digest, layout_of,
                                          record)

HEADER = ('import operator\nfrom typing import List, Tuple\n\nimport torch\nimport torch.nn as nn\n\n')
# The leading comment of each commented-out block -> the name used in VARIANT_CASES.
BLOCK_NAMES = [
    ('maxpool and maxunpool', 'maxunpool'),
    ('convtranspose2d', 'convtrans'),
    ('RecConv Variant A', 'variant_a'),
    ('RecConv Variant B', 'variant_b'),
    ('recursive decomposition on both spatial and channel dimensions', 'split_interp'),
]

# The golden files live with the tests of this checkout (the package never reads them).
REPO_TESTS_DATA = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tests',
                           'data')


def extract(source: str) -> dict:
    """``{name: module source}`` of the active RecConv2d and the commented-out variants."""
    tree = ast.parse(source)
    active = next(node for node in tree.body
                  if isinstance(node, ast.ClassDef) and node.name == 'RecConv2d')
    sources = {'recconv': ast.get_source_segment(source, active)}
    for block in re.findall(r"'''(.*?)'''", source, flags=re.S):
        if 'class RecConv2d' not in block:
            continue  # e.g. the jit-script forward of the active class
        name = next((n for key, n in BLOCK_NAMES if key in block), None)
        if name is None:
            raise RuntimeError(f'Unrecognised commented-out RecConv2d block:\n{block[:300]}')
        if name in sources:
            raise RuntimeError(f'Two blocks match {name!r}: update BLOCK_NAMES.')
        # The stray '.' of the Variant B block (see the module docstring).
        sources[name] = re.sub(r'^(\s*)\.(\s+#)', r'\1 \2', block, flags=re.M)
    missing = {case[0] for case in VARIANT_CASES.values()} - set(sources) - {'dwconv'}
    if missing:
        raise RuntimeError(f'Blocks not found in the official file: {sorted(missing)}')
    return sources


def load(scratch: str, name: str, text: str):
    path = osp.join(scratch, f'official_recconv_{name}.py')
    with open(path, 'w') as f:
        f.write(HEADER + text.strip() + '\n')
    spec = importlib.util.spec_from_file_location(f'official_recconv_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RecConv2d


def official_module(classes: dict, kind: str, channels: int, kwargs: dict) -> torch.nn.Module:
    import operator
    kwargs = dict(kwargs)
    if kind == 'dwconv':  # PyTorch's own depthwise conv, default bias, as the logs' counts imply
        k = kwargs['kernel_size']
        return torch.nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels)
    if 'agg' in kwargs:
        kwargs['agg'] = dict(add=operator.add, mul=operator.mul)[kwargs['agg']]
    return classes[kind](channels, **kwargs)


def official_networks(official_file: str, scratch: str, classes: dict) -> Tuple[dict, dict]:
    """Per ablation row, the official RecNeXt-M1 with the row's token mixer: the official network
    with its ``RecConv2d`` name bound to the row's official definition (its blocks call
    ``RecConv2d(channels, level=4 - stage, kernel_size=5)``; the row's kernel replaces the 5).

    Returns:
        tuple: ``{row: trainable parameters}`` (the official main.py's count) and ``{row:
        {'layout_sha': ..., 'logits': ...}}``: the logits (eval mode) of the seeded weights of
        the network's own layout on the fixed input of shape ``NETWORK_INPUT``.
    """
    import shutil
    path = osp.join(scratch, 'official_recnext_network.py')
    shutil.copy(official_file, path)
    spec = importlib.util.spec_from_file_location('official_recnext_network', path)
    network = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = network  # timm's register_model looks its module up there
    spec.loader.exec_module(network)  # registers its timm names in this process only
    counts, outputs = {}, {}
    for row, (kind, kwargs) in ABLATION_OFFICIAL.items():
        def mixer(channels, level, kernel_size, kind=kind, kwargs=kwargs):
            return official_module(classes, kind, channels, dict(kwargs, level=level)
                                   if kind != 'dwconv' else kwargs)
        network.RecConv2d = mixer
        model = network.RecNext(**OFFICIAL_M1_ARGS)
        counts[row] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        model.load_state_dict(seeded_state_dict(layout_of(model)), strict=True)
        with torch.no_grad():
            logits = model.eval()(case_input(NETWORK_INPUT, seed=1))[0].clone()
        outputs[row] = dict(layout_sha=layout_digest(model), logits=logits)
        print(f'official M1 {row}: {counts[row]:,} parameters, logits |max| '
              f'{float(logits.abs().max()):.3f}')
    return counts, outputs


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--official-file', required=True, help='model/recnext.py of suous/RecNeXt')
    parser.add_argument('--scratch', default='/tmp/official_variants',
                        help='where the extracted official modules are written (outside the repo)')
    parser.add_argument('--out', default=osp.join(REPO_TESTS_DATA, 'official_variants.pt'))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with open(args.official_file) as f:
        sources = extract(f.read())
    os.makedirs(args.scratch, exist_ok=True)
    classes = {name: load(args.scratch, name, text) for name, text in sources.items()}
    golden = {}
    for case, (kind, official_kwargs, _, shape) in VARIANT_CASES.items():
        module = official_module(classes, kind, shape[1], official_kwargs)
        golden[case] = record(module, shape)
        print(f'{case}: {type(module).__module__}, output {golden[case]["output_shape"]}, '
              f'|max| {float(golden[case]["output"].abs().max()):.3f}')
    golden['ablation_official_params'], golden['ablation_official_networks'] = official_networks(
        args.official_file, args.scratch, classes)
    torch.save(golden, args.out)
    print('wrote', args.out, f'({osp.getsize(args.out)} bytes)')
    return golden


if __name__ == '__main__':
    main()
