"""Parameters and fvcore MACs of RecNeXt models, classifiers, detectors and segmentors.

    # one or more models (arch name = backbone, recnext_<arch> = classifier, timm name, config)
    python tools/analysis_tools/get_flops.py recnext_m3 m3 --deploy
    python tools/analysis_tools/get_flops.py configs/detection/mask_rcnn_recnext_m3_coco.py
    python tools/analysis_tools/get_flops.py recnext_a3 --forms train deploy official_fused --shape 256
    # all 18 variants against the model card and the measured official figures
    python tools/analysis_tools/get_flops.py --all [--official-dir /tmp/official_recnext]

MACs are fvcore's count at batch 1 (one multiply-add = one "flop"; element-wise additions and activations are
not counted), the convention of the RecNeXt model card. Default inputs: 224x224 for arch names,
classifiers and classification configs, 800x1280 (HxW) for detection, 512x512 for segmentation.

Forms: ``train`` (as built, eval mode), ``deploy`` (``--deploy``: every BatchNorm and RepVGG branch
folded; our deploy form) and ``official_fused`` (``--official-fuse``: the official ``fuse()`` graph, which
keeps the BatchNorm after each RecConv and downsampling conv; its counts equal the official ones).

``--all`` exits with status 1 when any count differs from ``measured_official_impl`` of the
reference file (``--reference``, default $RECNEXT_REFERENCE or the copy shipped with the package,
recnext_mm/reference/recnext_reference.json).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import torch

from recnext_mm.backbones.archs import ARCH_SETTINGS
from recnext_mm.complexity import count_macs, count_params
from recnext_mm.reference import REFERENCE_JSON

from .cli import parse_shape
from .models import FORMS, build, build_official
from .specs import parse_spec

# The measured facts about the official release ship with the package (recnext_mm/reference).
DEFAULT_REFERENCE = os.environ.get('RECNEXT_REFERENCE', REFERENCE_JSON)


def load_reference(path: Optional[str] = None) -> dict:
    """Loads ``recnext_reference.json`` (model card strings and measured official figures).

    Raises:
        FileNotFoundError: With a hint about ``--reference`` / ``RECNEXT_REFERENCE``.
    """
    path = path or DEFAULT_REFERENCE
    if not osp.isfile(path):
        raise FileNotFoundError(f'Reference file {path} not found: pass --reference PATH or set '
                                f'RECNEXT_REFERENCE.')
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def measure(name: str, form: str = 'train', shape=None, official_dir: Optional[str] = None,
            by_operator: bool = False, scope: str = 'full') -> Dict:
    """Params and MACs of one model spec in one form.

    Args:
        name (str): Model spec (arch, recnext_<arch>, timm name, config path, official:<arch>).
        form (str): 'train', 'deploy' or 'official_fused'.
        shape (tuple, optional): (H, W); the model's default otherwise.
        official_dir (str, optional): For ``official:<arch>`` specs.
        by_operator (bool): Also return MACs per operator.
        scope (str): For configs: 'full' (backbone, neck and heads: the tensor path, mmdet's
            ``_forward``; the RoI heads of two-stage detectors then count their fixed number of
            proposals), 'feat' (backbone + neck) or 'backbone'. Params always cover the whole model.

    Returns:
        dict: name, kind, form, input (H, W), params, macs, scope, notes (and
        ``macs_by_operator``).
    """
    spec = parse_spec(name)
    shape = shape or spec.default_shape
    built = build(spec, form, official_dir=official_dir, shape=shape, config_mode='tensor')
    x = torch.randn(1, 3, *shape)
    fn = built.trace_fn
    if spec.kind == 'config':
        model = built.module
        if scope == 'feat':
            fn = lambda t: model.extract_feat(t)  # noqa: E731
        elif scope == 'backbone':
            fn = lambda t: model.backbone(t)  # noqa: E731
        elif scope != 'full':
            raise ValueError(f'scope must be full, feat or backbone; got {scope!r}')
    else:
        scope = 'full'
    result = count_macs(built.module, x, fn, by_operator=by_operator)
    macs, ops = result if by_operator else (result, None)
    out = dict(name=name, kind=spec.kind, form=form, input=list(shape),
               params=count_params(built.module), macs=macs, scope=scope, notes=built.notes)
    if ops is not None:
        out['macs_by_operator'] = ops
    return out


def _within_card_rounding(card_value: str, actual: float) -> bool:
    """True when ``actual`` is within one unit of the last digit the model card shows.

    One unit, not half of one: the card rounds inconsistently (12,049,800 params is '12.1M').
    """
    text = str(card_value).rstrip('M')
    decimals = len(text.split('.')[1]) if '.' in text else 0
    return abs(actual - float(text)) < 10**-decimals


def _card_ok(card: dict, params: int, macs: int) -> bool:
    return (_within_card_rounding(card['params'], params / 1e6)
            and _within_card_rounding(card['gmacs'], macs / 1e9))


def count_variant(arch: str, with_deploy: bool = True, official_dir: Optional[str] = None) -> Dict:
    """Our counts of ``recnext_<arch>`` (1000 classes, fvcore MACs at 1x3x224x224).

    Returns:
        dict: ``params_train``, ``params_fused`` and ``macs_fused`` (official-equivalent form),
        with ``with_deploy`` ``params_deploy`` and ``macs_deploy`` (our deploy form), with
        ``official_dir`` ``impl_params_fused`` and ``impl_macs_fused`` (the official code).
    """
    x = torch.randn(1, 3, 224, 224)
    spec = parse_spec(f'recnext_{arch}')
    row = dict(arch=arch, params_train=count_params(build(spec, 'train').module))
    official = build(spec, 'official_fused').module
    row.update(params_fused=count_params(official), macs_fused=count_macs(official, x))
    del official
    if with_deploy:
        deploy = build(spec, 'deploy').module
        row.update(params_deploy=count_params(deploy), macs_deploy=count_macs(deploy, x))
    if official_dir:
        impl = build_official(arch, official_dir)
        row.update(impl_params_fused=count_params(impl), impl_macs_fused=count_macs(impl, x))
    return row


def compare_variant(counts: Dict, reference: dict) -> Dict:
    """Adds the reference figures of ``counts['arch']`` and the comparison to a copy of ``counts``.

    Returns:
        dict: ``counts`` plus ``card_params``, ``card_gmacs``, ``ref_*`` (the exact
        ``measured_official_impl`` figures), ``mismatches`` (list of strings, empty when they are
        all reproduced) and ``card_ok`` (within the card's rounding).
    """
    ref = reference['variants'][counts['arch']]
    measured = ref['measured_official_impl']
    card = ref['seed_table']
    row = dict(counts, card_params=card['params'], card_gmacs=card['gmacs'],
               ref_params_train=measured['params_with_1000cls_head_train_form'],
               ref_params_fused=measured['params_with_1000cls_head_bn_fused'],
               ref_macs_fused=measured['macs_224_fvcore_bn_fused'])
    keys = [('params_train', 'params_train'), ('params_fused', 'params_fused'),
            ('macs_fused', 'macs_fused')]
    if 'impl_macs_fused' in row:
        keys += [('impl_params_fused', 'params_fused'), ('impl_macs_fused', 'macs_fused')]
    row['mismatches'] = [f'{ours} {row[ours]:,} != {row["ref_" + theirs]:,}'
                         for ours, theirs in keys if row[ours] != row['ref_' + theirs]]
    row['card_ok'] = _card_ok(card, row['params_fused'], row['macs_fused'])
    return row


def check_variant(arch: str, reference: dict, with_deploy: bool = True,
                  official_dir: Optional[str] = None) -> Dict:
    """``compare_variant(count_variant(...), reference)``."""
    return compare_variant(count_variant(arch, with_deploy, official_dir), reference)


def all_variants_table(rows: Sequence[Dict]) -> str:
    """Markdown table of ``check_variant`` rows."""
    with_deploy = any('params_deploy' in r for r in rows)
    with_impl = any('impl_macs_fused' in r for r in rows)
    head = ['arch', 'params train', 'params fused (official form)']
    head += ['params deploy'] if with_deploy else []
    head += ['MACs fused (official form)']
    head += ['MACs deploy'] if with_deploy else []
    head += ['official impl params / MACs'] if with_impl else []
    head += ['card params', 'card GMACs', 'measured official: params train / fused / MACs',
             'exact', 'card']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        cells = [r['arch'], f'{r["params_train"]:,}', f'{r["params_fused"]:,}']
        cells += [f'{r["params_deploy"]:,}'] if with_deploy else []
        cells += [f'{r["macs_fused"]:,}']
        cells += [f'{r["macs_deploy"]:,}'] if with_deploy else []
        cells += [f'{r["impl_params_fused"]:,} / {r["impl_macs_fused"]:,}'] if with_impl else []
        cells += [str(r['card_params']), str(r['card_gmacs']),
                  f'{r["ref_params_train"]:,} / {r["ref_params_fused"]:,} / {r["ref_macs_fused"]:,}',
                  'yes' if not r['mismatches'] else '**MISMATCH: ' + '; '.join(r['mismatches']) + '**',
                  'yes' if r['card_ok'] else '**differs**']
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def models_table(rows: Sequence[Dict]) -> str:
    """Markdown table of ``measure`` rows."""
    lines = ['| model | form | input (HxW) | params | params (M) | MACs | GMACs | scope | notes |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        h, w = r['input']
        lines.append(f'| {r["name"]} | {r["form"]} | {h}x{w} | {r["params"]:,} | '
                     f'{r["params"] / 1e6:.3f} | {r["macs"]:,} | {r["macs"] / 1e9:.3f} | '
                     f'{r["scope"]} | {r["notes"]} |')
    return '\n'.join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('models', nargs='*', help='arch names, recnext_<arch>, timm names, configs')
    parser.add_argument('--shape', type=int, nargs='+', help='input size: S or H W')
    parser.add_argument('--forms', nargs='+', choices=FORMS, help='forms to count (default train)')
    parser.add_argument('--deploy', action='store_true', help='count the deploy form')
    parser.add_argument('--official-fuse', action='store_true',
                        help='count the official-equivalent fused form')
    parser.add_argument('--scope', choices=('full', 'feat', 'backbone'), default='full',
                        help='configs: count the full tensor path, backbone+neck, or the backbone')
    parser.add_argument('--by-operator', action='store_true', help='also print MACs per operator')
    parser.add_argument('--all', action='store_true',
                        help='table of the 18 variants against the reference; exit 1 on mismatch')
    parser.add_argument('--archs', nargs='+', choices=list(ARCH_SETTINGS),
                        help='with --all: only these variants')
    parser.add_argument('--no-deploy-columns', action='store_true',
                        help='with --all: skip the deploy-form counts (faster)')
    parser.add_argument('--reference', help='recnext_reference.json')
    parser.add_argument('--official-dir', help='official implementation, for a side-by-side count')
    args = parser.parse_args(argv)
    if not args.models and not args.all:
        parser.error('give model names / configs, or --all')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.official_dir and not osp.isdir(args.official_dir):
        print(f'--official-dir {args.official_dir} not found: skipping the official implementation.',
              file=sys.stderr)
        args.official_dir = None
    status = 0
    if args.models:
        forms: List[str] = list(args.forms or [])
        forms += ['deploy'] if args.deploy else []
        forms += ['official_fused'] if args.official_fuse else []
        forms = list(dict.fromkeys(forms or ['train']))
        rows = []
        for name in args.models:
            for form in forms:
                rows.append(measure(name, form, parse_shape(args.shape), args.official_dir,
                                    args.by_operator, args.scope))
        print(models_table(rows))
        if args.by_operator:
            for r in rows:
                ops = ', '.join(f'{k}: {v:,}' for k, v in sorted(r['macs_by_operator'].items()))
                print(f'\n{r["name"]} ({r["form"]}): {ops}')
    if args.all:
        reference = load_reference(args.reference)
        rows = [check_variant(arch, reference, not args.no_deploy_columns, args.official_dir)
                for arch in (args.archs or list(ARCH_SETTINGS))]
        print(all_variants_table(rows))
        bad = [r['arch'] for r in rows if r['mismatches']]
        print(f'\n{len(rows) - len(bad)}/{len(rows)} variants reproduce measured_official_impl '
              f'exactly (params train/fused, fvcore MACs at 224 fused).')
        if bad:
            print(f'MISMATCH: {", ".join(bad)}', file=sys.stderr)
            status = 1
    return status
