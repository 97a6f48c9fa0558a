"""Building blocks of the RecNeXt family, by concern: conv/linear + norm units
(:mod:`.norm`), RecConv token mixers (:mod:`.recconv`), attention (:mod:`.attention`) and
stems, blocks and stages (:mod:`.blocks`).

Every layer scripts with ``torch.jit.script`` and traces with ``torch.fx`` in every form. The
parameter names follow the official release (``stem.stem.0.conv.weight``,
``stages.2.blocks.3.token_mixer.convs.1.weight``, ``head.head_dist.linear.bias`` ...), and the
folded names follow the official fused archives (``stem.stem.0.weight``, ``head.weight``). Each
foldable layer's ``fuse()`` returns its folded form; :mod:`recnext_mm.backbones.forms` walks them.
"""
from .attention import LinearAttention, RecAttn2d, linear_attention
from .blocks import (MetaDownsample, PartialChannelBlock, PartialChannelMixer, PartialChannelStage,
                     PartialDownsample, RecAttnBlock, RecConvBlock, RecNeXtStage, Stem)
from .norm import (ConvNorm, DualHead, Mlp, NormLinear, RepVGGDW, TwoHeads, biased_conv, build_norm,
                   conv_norm, dual_head, fold_bn, merge_dual_heads, rep_vgg_dw)
from .recconv import (AGGREGATIONS, MIXER_UPSAMPLES, TOKEN_MIXERS, UPSAMPLES, DWConvMixer, RecConv2d,
                      RecConv2dGroup, RecConv2dMaxUnpool, RecConv2dSplit, RecConv2dTransposed,
                      build_token_mixer, check_doubling_sizes)

__all__ = [
    'build_norm', 'fold_bn', 'biased_conv', 'ConvNorm', 'conv_norm', 'NormLinear', 'RepVGGDW',
    'rep_vgg_dw', 'Mlp', 'merge_dual_heads', 'TwoHeads', 'DualHead', 'dual_head', 'RecConv2d',
    'RecConv2dMaxUnpool', 'RecConv2dTransposed', 'RecConv2dGroup', 'RecConv2dSplit', 'DWConvMixer',
    'build_token_mixer', 'check_doubling_sizes', 'TOKEN_MIXERS', 'UPSAMPLES', 'AGGREGATIONS',
    'MIXER_UPSAMPLES', 'linear_attention', 'LinearAttention', 'RecAttn2d', 'Stem', 'RecConvBlock',
    'RecAttnBlock', 'PartialChannelMixer', 'PartialChannelBlock', 'MetaDownsample',
    'PartialDownsample', 'RecNeXtStage', 'PartialChannelStage'
]
