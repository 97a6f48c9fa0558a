"""The 18 released RecNeXt architectures and the validation of custom ones.

:data:`ARCH_SETTINGS` is the arch table (one dict per released arch, as the official
``model_args``); :func:`get_arch` returns a validated copy of a named or custom arch.
"""
import copy
from typing import Dict, List, Optional, Union

from .layers import AGGREGATIONS, MIXER_UPSAMPLES, TOKEN_MIXERS

__all__ = ['ARCH_SETTINGS', 'MIXER_KEYS', 'get_arch', 'official_model_args', 'mixer_cfgs']

# The 18 released architectures, every per-stage choice written out (as the official model_args).
# Families and their per-stage keys:
#   recconv (M series): RecConv token mixer with bilinear upsampling, recursion ``levels``.
#       Optional token-mixer keys (the paper's ablations and RecConv variants; absent in the
#       released archs), per stage or one value for all: ``kernel_sizes`` (odd, default 5),
#       ``token_mixers`` ('recconv', 'recconv_group' = Variant A, 'recconv_split' = channel split
#       / Variant B, 'dwconv' = one depthwise k x k conv), ``upsamples`` (None = the mixer's
#       default, 'bilinear', 'nearest', 'maxunpool', 'convtranspose'; layers.MIXER_UPSAMPLES
#       lists each mixer's choices) and ``aggregations`` ('add', or 'mul' with 'convtranspose').
#   recattn (A series): one recursion level with linear attention at half resolution (nearest);
#       ``num_heads`` attention heads, ``quadratic`` evaluation order.
#   lsnet / lsnet_share_channel: stride-8 stem, RepVGG depthwise mixer and attention on
#       1/``split_rates`` of the channels: ``attentions`` 'recattn' (RecAttn2d) or 'linear'
#       (LinearAttention, q and k on half the channels), ``num_heads``, ``quadratic``. In stages with
#       ``share_blocks`` every (split_rate + 1)-th block reuses the attention outputs of the blocks
#       before it instead of computing its own.
# drop_path_schedule: the official M and A series give every block the same stochastic-depth rate;
# the LSNet-style families raise it linearly from 0 over all blocks.
_M_LEVELS = dict(family='recconv', mlp_ratio=2, levels=(4, 3, 2, 1), drop_path_schedule='uniform')
_A_HEADS = dict(family='recattn', num_heads=(2, 4, 8, 16), quadratic=(False, False, False, True),
                drop_path_schedule='uniform')
_LS_ATTN = dict(family='lsnet', mlp_ratios=(2, 2, 2, 1.5), split_rates=(4, 4, 4, 4),
                attentions=('recattn', 'recattn', 'recattn', 'linear'), num_heads=(1, 1, 1, 1),
                quadratic=(False, True, True, True), share_blocks=(False, False, False, False),
                drop_path_schedule='linear')
_LSC_ATTN = dict(family='lsnet_share_channel', mlp_ratios=(2, 2, 2, 1.5), split_rates=(4, 4, 4, 4),
                 attentions=('recattn', 'recattn', 'linear', 'linear'), num_heads=(1, 1, 1, 1),
                 quadratic=(False, True, True, True), share_blocks=(False, False, False, True),
                 drop_path_schedule='linear')
ARCH_SETTINGS: Dict[str, dict] = {
    'm0': dict(_M_LEVELS, embed_dims=(40, 80, 160, 320), depths=(2, 2, 9, 1)),
    'm1': dict(_M_LEVELS, embed_dims=(48, 96, 192, 384), depths=(3, 3, 15, 2)),
    'm2': dict(_M_LEVELS, embed_dims=(56, 112, 224, 448), depths=(3, 3, 15, 2)),
    'm3': dict(_M_LEVELS, embed_dims=(64, 128, 256, 512), depths=(3, 3, 13, 2)),
    'm4': dict(_M_LEVELS, embed_dims=(64, 128, 256, 512), depths=(5, 5, 25, 4)),
    'm5': dict(_M_LEVELS, embed_dims=(80, 160, 320, 640), depths=(7, 7, 35, 2)),
    'a0': dict(_A_HEADS, embed_dims=(40, 80, 160, 320), depths=(2, 2, 9, 1), mlp_ratio=2),
    'a1': dict(_A_HEADS, embed_dims=(48, 96, 192, 384), depths=(3, 3, 15, 2), mlp_ratio=2),
    'a2': dict(_A_HEADS, embed_dims=(56, 112, 224, 448), depths=(3, 3, 15, 2), mlp_ratio=2),
    'a3': dict(_A_HEADS, embed_dims=(64, 128, 256, 512), depths=(3, 3, 13, 2), mlp_ratio=1.875),
    'a4': dict(_A_HEADS, embed_dims=(64, 128, 256, 512), depths=(5, 5, 25, 4), mlp_ratio=1.875),
    'a5': dict(_A_HEADS, embed_dims=(80, 160, 320, 640), depths=(7, 7, 35, 2), mlp_ratio=1.875),
    't': dict(_LS_ATTN, embed_dims=(64, 128, 256, 512), depths=(0, 2, 8, 10)),
    's': dict(_LS_ATTN, embed_dims=(128, 256, 384, 512), depths=(0, 2, 8, 10)),
    'b': dict(_LS_ATTN, embed_dims=(128, 256, 384, 512), depths=(2, 8, 8, 12)),
    't_share_channel': dict(_LSC_ATTN, embed_dims=(64, 128, 256, 512), depths=(0, 2, 8, 10)),
    's_share_channel': dict(_LSC_ATTN, embed_dims=(128, 256, 384, 512), depths=(0, 2, 8, 10)),
    'b_share_channel': dict(_LSC_ATTN, embed_dims=(128, 256, 384, 512), depths=(2, 8, 8, 12)),
}

_LSNET_KEYS = ('embed_dims', 'depths', 'mlp_ratios', 'split_rates', 'attentions', 'num_heads',
               'quadratic', 'share_blocks')
_REQUIRED_KEYS = {
    'recconv': ('embed_dims', 'depths', 'mlp_ratio'),
    'recattn': ('embed_dims', 'depths', 'mlp_ratio'),
    'lsnet': _LSNET_KEYS,
    'lsnet_share_channel': _LSNET_KEYS,
}
_PER_STAGE_KEYS = ('depths', 'levels', 'mlp_ratios', 'split_rates', 'attentions', 'num_heads',
                   'quadratic', 'share_blocks')
# The optional token-mixer keys of the recconv family and their defaults (the released RecConv).
MIXER_KEYS = dict(kernel_sizes=5, token_mixers='recconv', upsamples=None, aggregations='add')


def get_arch(arch: Union[str, dict]) -> dict:
    """Returns a validated copy of the settings of ``arch`` (a name or a dict of settings).

    Raises:
        ValueError: Unknown name (the message lists the valid ones), unknown family, missing keys
            (listed) or inconsistent lengths.
    """
    if isinstance(arch, str):
        name = arch.lower().replace('recnext_', '').replace('-', '_')
        if name not in ARCH_SETTINGS:
            raise ValueError(f'Unknown RecNeXt arch {arch!r}. Valid names: '
                             f'{", ".join(ARCH_SETTINGS)}; or pass a dict of settings.')
        return copy.deepcopy(ARCH_SETTINGS[name])
    if not isinstance(arch, dict):
        raise TypeError(f'arch must be a name or a dict, got {type(arch).__name__}')
    family = arch.get('family')
    if family not in _REQUIRED_KEYS:
        raise ValueError(f'A custom arch dict needs "family", one of {sorted(_REQUIRED_KEYS)}; '
                         f'got {family!r}.')
    missing = [k for k in _REQUIRED_KEYS[family] if k not in arch]
    if missing:
        raise ValueError(f'Custom RecNeXt arch of family {family!r} is missing keys {missing}; '
                         f'required: {list(_REQUIRED_KEYS[family])}.')
    arch = copy.deepcopy(dict(arch))
    num_stages = len(arch['embed_dims'])
    # Per-stage choices a custom M/A dict may leave out: those of the released archs.
    if family == 'recconv':
        arch.setdefault('levels', tuple(num_stages - i for i in range(num_stages)))
    elif family == 'recattn':
        arch.setdefault('num_heads', tuple(2**(i + 1) for i in range(num_stages)))
        arch.setdefault('quadratic', tuple(i == num_stages - 1 for i in range(num_stages)))
    arch.setdefault('drop_path_schedule', 'linear' if family.startswith('lsnet') else 'uniform')
    if arch['drop_path_schedule'] not in ('uniform', 'linear'):
        raise ValueError(f"arch['drop_path_schedule'] must be 'uniform' (every block the same rate, "
                         f"the official M/A series) or 'linear' (0 to the rate over all blocks, the "
                         f"official LSNet-style families), got {arch['drop_path_schedule']!r}.")
    for key in _PER_STAGE_KEYS:
        if key in arch and len(arch[key]) != num_stages:
            raise ValueError(f'arch[{key!r}] has {len(arch[key])} entries but embed_dims has '
                             f'{num_stages}.')
    if family == 'recconv':
        _check_mixer_keys(arch, num_stages)
    elif any(k in arch for k in MIXER_KEYS):
        raise ValueError(f'Token-mixer options {[k for k in MIXER_KEYS if k in arch]} apply to the '
                         f'recconv family (M series) only; this arch is of family {family!r}.')
    bad = [a for a in arch.get('attentions', ()) if a not in ('recattn', 'linear')]
    if bad:
        raise ValueError(f"arch['attentions'] entries must be 'recattn' or 'linear', got {bad}.")
    if family in ('recconv', 'recattn'):
        dims = list(arch['embed_dims'])
        if any(b != 2 * a for a, b in zip(dims, dims[1:])):
            raise ValueError(f'The {family} family doubles channels at each downsampling: '
                             f'embed_dims must be (C, 2C, 4C, ...), got {tuple(dims)}.')
    return arch


def _check_mixer_keys(arch: dict, num_stages: int):
    """Broadcasts single token-mixer options to per-stage tuples and validates each stage's
    combination (by building nothing: the checks of :func:`~.layers.build_token_mixer`)."""
    if not any(k in arch for k in MIXER_KEYS):
        return  # the released RecConv; the arch dict stays as given
    for key, default in MIXER_KEYS.items():
        value = arch.get(key, default)
        if value is None or isinstance(value, (int, str)):
            value = (value, ) * num_stages
        arch[key] = tuple(value)
        if len(arch[key]) != num_stages:
            raise ValueError(f'arch[{key!r}] has {len(arch[key])} entries but embed_dims has '
                             f'{num_stages}; give one value per stage or a single value.')
    for i in range(num_stages):
        mixer, kernel = arch['token_mixers'][i], arch['kernel_sizes'][i]
        upsample, aggregation = arch['upsamples'][i], arch['aggregations'][i]
        where = f'stage {i}: '
        if mixer not in MIXER_UPSAMPLES:
            raise ValueError(f"{where}arch['token_mixers'] entry {mixer!r} is unknown; valid: "
                             f'{", ".join(TOKEN_MIXERS)}.')
        if not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"{where}arch['kernel_sizes'] entries must be odd positive ints, got "
                             f'{kernel!r}.')
        allowed = MIXER_UPSAMPLES[mixer]
        if upsample is not None and upsample not in allowed:
            hint = 'it has no upsampling: use None' if not allowed else f'valid: {", ".join(allowed)}'
            raise ValueError(f"{where}token mixer {mixer!r} cannot take arch['upsamples'] entry "
                             f'{upsample!r} ({hint}).')
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"{where}arch['aggregations'] entries must be one of {AGGREGATIONS}, "
                             f'got {aggregation!r}.')
        if aggregation == 'mul' and (mixer, upsample) != ('recconv', 'convtranspose'):
            raise ValueError(f"{where}aggregation 'mul' is defined for token mixer 'recconv' with "
                             f"upsample 'convtranspose' only, got {mixer!r} with {upsample!r}.")
        halving = mixer in ('recconv_group', 'recconv_split')
        level = arch['levels'][i]
        if halving and (level < 1 or arch['embed_dims'][i] % 2**level):
            raise ValueError(f'{where}token mixer {mixer!r} halves the channels at each of its '
                             f'{level} levels: embed_dims[{i}] = {arch["embed_dims"][i]} must be a '
                             f'multiple of 2**level = {2**level} (and level >= 1).')
        if mixer == 'recconv' and upsample == 'convtranspose' and level < 1:
            raise ValueError(f"{where}upsample 'convtranspose' needs a level >= 1, got {level}.")


def mixer_cfgs(arch: dict, strides: List[int]) -> List[Optional[dict]]:
    """Per stage: the ``mixer_cfg`` of :class:`~.layers.RecConvBlock` (None: the released
    RecConv) and its kernel size."""
    num_stages = len(arch['embed_dims'])
    if not any(k in arch for k in MIXER_KEYS):
        return [None] * num_stages
    # Transposed convs double maps exactly: every stage's map must halve `level` times evenly, so
    # image sides must be multiples of the largest stride * 2**level (all powers of two).
    multiple = max([s * 2**lv for s, lv, m, u in zip(strides, arch['levels'], arch['token_mixers'],
                                                      arch['upsamples'])
                    if m == 'recconv_group' or u == 'convtranspose' or
                    (m == 'recconv_split' and u is None)] or [0])
    cfgs = []
    for i in range(num_stages):
        cfg = dict(mixer=arch['token_mixers'][i], upsample=arch['upsamples'][i],
                   aggregation=arch['aggregations'][i], image_multiple=multiple)
        released = (cfg['mixer'], cfg['upsample'], cfg['aggregation']) in (
            ('recconv', None, 'add'), ('recconv', 'bilinear', 'add'))
        cfgs.append(None if released else cfg)
    return cfgs


def official_model_args(arch: Union[str, dict]) -> dict:
    """The keyword arguments of the official ``RecNext`` constructor of ``arch``'s family (for
    comparisons with the official implementation: golden outputs, benchmarks)."""
    settings = get_arch(arch)
    family = settings['family']
    if any(k in settings for k in MIXER_KEYS):
        raise ValueError(f'The official RecNext constructor has no token-mixer options '
                         f'{[k for k in MIXER_KEYS if k in settings]}: the RecConv variants exist '
                         f'only as commented-out code there (see '
                         f'tools/dev/make_official_variant_golden.py for how they are compared).')
    kwargs = dict(embed_dim=tuple(settings['embed_dims']), depth=tuple(settings['depths']))
    if family in ('recconv', 'recattn'):
        kwargs['mlp_ratio'] = settings['mlp_ratio']
        return kwargs
    kwargs.update(mlp_ratios=tuple(settings['mlp_ratios']), split_rates=tuple(settings['split_rates']))
    if family == 'lsnet':
        # The official code halves the heads of its linear-attention stage.
        kwargs['num_heads'] = tuple(h * 2 if a == 'linear' else h
                                    for h, a in zip(settings['num_heads'], settings['attentions']))
    else:
        kwargs['share_stage'] = list(settings['share_blocks']).index(True)
    return kwargs
