"""Building blocks of the RecNeXt family.

Every layer here has a training form (convolutions followed by BatchNorm, RepVGG-style parallel
branches, two classifier heads) and a deploy form in which those are folded into single biased
convolutions / linear layers. ``switch_to_deploy()`` converts in place; ``deploy=True`` builds the
deploy form directly so that a fused state dict loads strictly.

The parameter names follow the official release (``stem.stem.0.conv.weight``,
``stages.2.blocks.3.token_mixer.convs.1.weight``, ``head.head_dist.linear.bias`` ...), so released
checkpoints load without renaming.
"""
import math
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath, trunc_normal_
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    'build_norm', 'fold_bn', 'ConvNorm', 'conv_norm', 'NormLinear', 'RecConv2d', 'LinearAttention', 'RecAttn2d',
    'RepVGGDW', 'Mlp', 'Stem', 'RecConvBlock', 'RecAttnBlock', 'PartialChannelBlock', 'MetaDownsample',
    'PartialDownsample', 'RecNeXtStage', 'DualHead', 'switch_to_deploy'
]


def build_norm(norm_cfg: Optional[dict], num_features: int) -> nn.Module:
    """Builds a 2d normalisation layer from an OpenMMLab style ``norm_cfg``.

    ``BN`` and ``SyncBN`` are built here so that the timm models need no mmcv; any other type is
    looked up in mmengine's ``MODELS`` registry (where mmcv registers GN, LN, ...).
    """
    cfg = dict(norm_cfg or dict(type='BN'))
    layer_type = cfg.pop('type')
    cfg.pop('requires_grad', None)
    if layer_type in ('BN', 'BN2d'):
        return nn.BatchNorm2d(num_features, **cfg)
    if layer_type == 'SyncBN':
        return nn.SyncBatchNorm(num_features, **cfg)
    from mmengine.registry import MODELS
    return MODELS.build(dict(type=layer_type, num_features=num_features, **cfg))


@torch.no_grad()
def fold_bn(weight: torch.Tensor, bias: Optional[torch.Tensor], bn: _BatchNorm):
    """Returns ``(weight, bias)`` of the affine map ``bn(conv(x))`` as one convolution.

    ``weight`` has the output channels in dim 0 (conv or linear weight).
    """
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std if bn.affine else 1.0 / std
    shift = (bn.bias if bn.affine else 0.) - bn.running_mean * scale
    fused_w = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    fused_b = shift if bias is None else bias * scale + shift
    return fused_w, fused_b


def _biased_copy(conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, bias=True, device=weight.device, dtype=weight.dtype)
    new.weight.data.copy_(weight)
    new.bias.data.copy_(bias)
    return new


class ConvNorm(nn.Module):
    """``Conv2d`` followed by a norm layer (``conv``, ``norm``); folds into one biased conv."""

    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, padding=0, groups=1,
                 bias=False, norm_cfg=None, deploy=False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups,
                              bias=bias or deploy)
        self.norm = nn.Identity() if deploy else build_norm(norm_cfg, out_channels)
        if not deploy:
            nn.init.constant_(self.norm.weight, 1)
            nn.init.constant_(self.norm.bias, 0)

    def forward(self, x):
        return self.norm(self.conv(x))

    @torch.no_grad()
    def switch_to_deploy(self):
        if isinstance(self.norm, nn.Identity):
            return
        w, b = fold_bn(self.conv.weight, self.conv.bias, self.norm)
        self.conv = _biased_copy(self.conv, w, b)
        self.norm = nn.Identity()


def conv_norm(*args, deploy=False, **kwargs) -> nn.Module:
    """A :class:`ConvNorm`; in deploy form directly the biased ``Conv2d`` it folds into (one module
    call instead of three per layer, as the official ``fuse()`` leaves it)."""
    if deploy:
        return ConvNorm(*args, deploy=True, **kwargs).conv
    return ConvNorm(*args, **kwargs)


class NormLinear(nn.Module):
    """``BatchNorm1d`` followed by ``Linear`` (``norm``, ``linear``); folds into one linear."""

    def __init__(self, in_features, out_features, std=0.02, deploy=False):
        super().__init__()
        self.norm = nn.Identity() if deploy else nn.BatchNorm1d(in_features)
        self.linear = nn.Linear(in_features, out_features)
        trunc_normal_(self.linear.weight, std=std)
        nn.init.constant_(self.linear.bias, 0)

    def forward(self, x):
        return self.linear(self.norm(x))

    @torch.no_grad()
    def switch_to_deploy(self):
        if isinstance(self.norm, nn.Identity):
            return
        bn, lin = self.norm, self.linear
        std = (bn.running_var + bn.eps).sqrt()
        scale = bn.weight / std
        shift = bn.bias - bn.running_mean * scale
        # linear(bn(x)) = W (scale * x + shift) + b
        self.linear.bias.data.copy_(lin.weight @ shift + lin.bias)
        self.linear.weight.data.mul_(scale[None, :])
        self.norm = nn.Identity()


def _interpolate(x: torch.Tensor, size, mode: str) -> torch.Tensor:
    if mode in ('bilinear', 'bicubic'):
        return F.interpolate(x, size=size, mode=mode, align_corners=False)
    return F.interpolate(x, size=size, mode=mode)


class RecConv2d(nn.Module):
    """Recursive depthwise convolution (RecConv) of the M series.

    The input is halved ``level`` times by one shared strided depthwise conv; from the coarsest level
    up, each level is convolved, upsampled to the exact size of the level above and added to it, and
    a last depthwise conv mixes the result with the input. The receptive field grows as
    ``kernel_size * 2**level`` while parameters grow linearly with ``level``.

    Args:
        channels (int): Input and output channels.
        kernel_size (int): Kernel of every depthwise conv. Defaults to 5.
        level (int): Recursion depth. Defaults to 2.
        mode (str): Upsampling mode. Defaults to 'bilinear' (align_corners=False).
        deploy (bool): The last conv carries the bias of a folded BatchNorm.
    """

    def __init__(self, channels, kernel_size=5, level=2, mode='bilinear', deploy=False):
        super().__init__()
        self.level = level
        self.mode = mode
        dw = dict(in_channels=channels, out_channels=channels, kernel_size=kernel_size,
                  padding=kernel_size // 2, groups=channels)
        self.down = nn.Conv2d(stride=2, bias=False, **dw)
        self.convs = nn.ModuleList(
            [nn.Conv2d(bias=deploy and i == level, **dw) for i in range(level + 1)])

    def forward(self, x):
        pyramid = []
        y = x
        for _ in range(self.level):
            size = y.shape[-2:]
            y = self.down(y)
            pyramid.append((y, size))
        agg = None
        for conv, (feat, size) in zip(self.convs, reversed(pyramid)):
            agg = _interpolate(conv(feat if agg is None else feat + agg), size, self.mode)
        return self.convs[self.level](x if agg is None else x + agg)

    @torch.no_grad()
    def fold_norm(self, bn: _BatchNorm):
        """Folds a BatchNorm applied to this module's output into its last conv (exact)."""
        last = self.convs[self.level]
        w, b = fold_bn(last.weight, last.bias, bn)
        self.convs[self.level] = _biased_copy(last, w, b)


class LinearAttention(nn.Module):
    """Linear attention with ``elu + 1`` kernels and a depthwise positional encoding.

    ``out = q^T (k v^T) / (q^T mean(k))`` per head, plus ``pe(x)``. ``quadratic=True`` evaluates the
    same expression as ``(q^T k / mean(q^T k)) v^T`` (cheaper for few tokens, and the op layout the
    official late stages use, so FLOP counts match). Under fp16/bf16 autocast the attention product
    and its normalisation run in fp32: the sums over all tokens overflow fp16 otherwise.

    Args:
        dim (int): Channels (also the value dimension).
        num_heads (int): Attention heads.
        qk_ratio (float): 1.0: q and k each have ``dim`` channels (grouped 1x1 conv, 2 groups);
            0.5: together ``dim`` channels (dense 1x1 conv).
        quadratic (bool): Evaluation order, see above.
    """

    def __init__(self, dim, num_heads=1, qk_ratio=1.0, quadratic=False, bias=False, norm_cfg=None,
                 deploy=False):
        super().__init__()
        self.num_heads = num_heads
        self.quadratic = quadratic
        self.exp_kernel = deploy
        qk_channels = int(dim * 2 * qk_ratio)
        self.qk_dim = qk_channels // 2 // num_heads
        self.qk = conv_norm(dim, qk_channels, 1, groups=2 if qk_ratio == 1.0 else 1, bias=bias,
                           norm_cfg=norm_cfg, deploy=deploy)
        self.pe = conv_norm(dim, dim, 3, padding=1, groups=dim, bias=bias, norm_cfg=norm_cfg,
                           deploy=deploy)

    def _attend(self, q_t, k, v_t, scale):
        """q_t: (B, heads, N, qk_dim), k: (B, heads, qk_dim, N), v_t: (B, heads, N, v_dim)."""
        if self.quadratic:
            attn = q_t @ k
            attn = attn / (attn.mean(dim=-1, keepdim=True) + 1e-6)
            return (attn * scale) @ (v_t * scale)
        kv = (k * scale) @ (v_t * scale)
        return q_t @ kv / (q_t @ k.mean(dim=-1, keepdim=True) + 1e-6)

    def _feature_map(self, x):
        """``elu(x) + 1``. The deploy form evaluates it as ``exp(min(x, 0)) + max(x, 0)``: the same
        function within an ulp, and about 10x faster on CPU, where ``elu`` (an ``expm1``) took 20%
        of the A series' inference time. The train form keeps the official op."""
        if self.exp_kernel:
            return torch.exp(x.clamp(max=0)) + x.clamp(min=0)
        return F.elu(x) + 1.0

    def optimize_for_inference(self):
        self.exp_kernel = True

    def forward(self, x):
        b, c, h, w = x.shape
        n = h * w
        qk = self._feature_map(self.qk(x))
        token_major = not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        if token_major:
            # channels_last memory is (B, H, W, C): read tokens without copying the maps.
            qk = qk.permute(0, 2, 3, 1).reshape(b, n, 2, self.num_heads, self.qk_dim)
            q_t, k = qk[:, :, 0].transpose(1, 2), qk[:, :, 1].permute(0, 2, 3, 1)
            v_t = x.permute(0, 2, 3, 1).reshape(b, n, self.num_heads, -1).transpose(1, 2)
        else:
            q, k = qk.reshape(b, 2, self.num_heads, self.qk_dim, n).unbind(dim=1)
            q_t, v_t = q.transpose(-1, -2), x.reshape(b, self.num_heads, -1, n).transpose(-1, -2)
        if x.dtype in (torch.float16, torch.bfloat16) or torch.is_autocast_enabled(x.device.type):
            with torch.autocast(device_type=x.device.type, enabled=False):
                out = self._attend(q_t.float(), k.float(), v_t.float(), n**-0.5).to(x.dtype)
        else:
            out = self._attend(q_t, k, v_t, n**-0.5)
        if token_major:
            out = out.transpose(1, 2).reshape(b, h, w, c).permute(0, 3, 1, 2)
        else:
            out = out.transpose(-1, -2).reshape(b, c, h, w)
        return out + self.pe(x)

    def extra_repr(self):
        return (f'num_heads={self.num_heads}, qk_dim={self.qk_dim}, quadratic={self.quadratic}, '
                f'exp_kernel={self.exp_kernel}')


class RecAttn2d(nn.Module):
    """One level of recursion with linear attention at half resolution (A series, LSNet-style).

    ``conv(x + upsample(attn(down(x))))`` with ``down`` a strided depthwise ConvNorm.
    """

    def __init__(self, dim, num_heads=1, kernel_size=5, quadratic=False, mode='nearest', bias=False,
                 norm_cfg=None, deploy=False):
        super().__init__()
        self.mode = mode
        dw = dict(kernel_size=kernel_size, padding=kernel_size // 2, groups=dim, bias=bias,
                  norm_cfg=norm_cfg, deploy=deploy)
        self.down = nn.Sequential(
            conv_norm(dim, dim, stride=2, **dw),
            LinearAttention(dim, num_heads, quadratic=quadratic, bias=bias, norm_cfg=norm_cfg,
                            deploy=deploy))
        self.conv = conv_norm(dim, dim, **dw)

    def forward(self, x):
        return self.conv(x + _interpolate(self.down(x), x.shape[-2:], self.mode))


class RepVGGDW(nn.Module):
    """``x + dw3x3(x) + dw1x1(x)``, each with BN; one 3x3 depthwise conv in deploy form."""

    def __init__(self, dim, norm_cfg=None, deploy=False):
        super().__init__()
        self.deploy = deploy
        if deploy:
            self.conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=True)
        else:
            self.lk = ConvNorm(dim, dim, 3, padding=1, groups=dim, bias=True, norm_cfg=norm_cfg)
            self.sk = ConvNorm(dim, dim, 1, groups=dim, bias=True, norm_cfg=norm_cfg)

    def forward(self, x):
        if self.deploy:
            return self.conv(x)
        return self.lk(x) + self.sk(x) + x

    @torch.no_grad()
    def switch_to_deploy(self):
        if self.deploy:
            return
        self.lk.switch_to_deploy()
        self.sk.switch_to_deploy()
        lk, sk = self.lk.conv, self.sk.conv
        weight = lk.weight + F.pad(sk.weight, [1, 1, 1, 1])
        weight[:, :, 1, 1] += 1.0  # the identity branch
        self.conv = _biased_copy(lk, weight, lk.bias + sk.bias)
        del self.lk, self.sk
        self.deploy = True


class Mlp(nn.Sequential):
    """Channel mixer: 1x1 ConvNorm, activation, 1x1 ConvNorm."""

    def __init__(self, dim, mlp_ratio, act_layer=nn.GELU, bias=False, norm_cfg=None, deploy=False):
        hidden = int(dim * mlp_ratio)
        kw = dict(bias=bias, norm_cfg=norm_cfg, deploy=deploy)
        super().__init__(conv_norm(dim, hidden, 1, **kw), act_layer(), conv_norm(hidden, dim, 1, **kw))


class Stem(nn.Module):
    """Strided 3x3 ConvNorms with activations in between (``stem.stem.*``).

    ``num_convs=2``: 3 -> C/2 -> C, stride 4 (M and A series); ``num_convs=3``: 3 -> C/4 -> C/2 -> C,
    stride 8 (LSNet-style), optionally followed by an activation.
    """

    def __init__(self, in_channels, out_channels, num_convs=2, final_act=False, bias=False,
                 act_layer=nn.GELU, norm_cfg=None, deploy=False):
        super().__init__()
        widths = [in_channels] + [out_channels // 2**i for i in reversed(range(num_convs))]
        layers: List[nn.Module] = []
        for i in range(num_convs):
            layers.append(conv_norm(widths[i], widths[i + 1], 3, stride=2, padding=1, bias=bias,
                                   norm_cfg=norm_cfg, deploy=deploy))
            if i < num_convs - 1:
                layers.append(act_layer())
        if num_convs == 3:  # keeps the official indices stem.stem.{0,2,4}
            layers.append(act_layer() if final_act else nn.Identity())
        self.stem = nn.Sequential(*layers)
        self.stride = 2**num_convs

    def forward(self, x):
        return self.stem(x)


class RecConvBlock(nn.Module):
    """M-series block: ``x + mlp(bn(recconv(x)))``; the BN folds into the RecConv when deployed."""

    def __init__(self, dim, mlp_ratio, level, kernel_size=5, mode='bilinear', drop_path=0.,
                 act_layer=nn.GELU, norm_cfg=None, deploy=False):
        super().__init__()
        self.token_mixer = RecConv2d(dim, kernel_size, level, mode, deploy=deploy)
        self.norm = nn.Identity() if deploy else build_norm(norm_cfg, dim)
        self.channel_mixer = Mlp(dim, mlp_ratio, act_layer, norm_cfg=norm_cfg, deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x):
        return x + self.drop_path(self.channel_mixer(self.norm(self.token_mixer(x))))

    @torch.no_grad()
    def optimize_for_inference(self):
        if not isinstance(self.norm, nn.Identity):
            self.token_mixer.fold_norm(self.norm)
            self.norm = nn.Identity()


class RecAttnBlock(nn.Module):
    """A-series block: ``x + mlp(recattn(x))``."""

    def __init__(self, dim, mlp_ratio, num_heads, quadratic=False, kernel_size=5, mode='nearest',
                 drop_path=0., act_layer=nn.GELU, norm_cfg=None, deploy=False):
        super().__init__()
        self.token_mixer = RecAttn2d(dim, num_heads, kernel_size, quadratic, mode, norm_cfg=norm_cfg,
                                     deploy=deploy)
        self.channel_mixer = Mlp(dim, mlp_ratio, act_layer, norm_cfg=norm_cfg, deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x):
        return x + self.drop_path(self.channel_mixer(self.token_mixer(x)))


class PartialChannelMixer(nn.Module):
    """Applies ``attn`` to the first ``part`` channels and passes the rest through."""

    def __init__(self, attn: nn.Module, part: int):
        super().__init__()
        self.attn = attn
        self.part = part

    def forward(self, x):
        mixed = self.attn(x[:, :self.part])
        return torch.cat([mixed, x[:, self.part:]], dim=1), mixed


class PartialChannelBlock(nn.Module):
    """LSNet-style block: ``y = repdw(x); y + mlp(mix(y))``.

    ``mix`` runs attention on ``dim / split_rate`` channels. A *share* block (``share=True``) has no
    attention of its own: it adds the concatenated attention outputs of the preceding blocks of its
    stage (the shared-channel variants). ``forward`` returns ``(x, mixed)``; ``mixed`` is the partial
    attention output, or None for share blocks.
    """

    def __init__(self, dim, mlp_ratio, split_rate, attn: Optional[nn.Module], drop_path=0.,
                 act_layer=nn.GELU, norm_cfg=None, deploy=False):
        super().__init__()
        self.is_share_block = attn is None
        self.rep_mixer = RepVGGDW(dim, norm_cfg=norm_cfg, deploy=deploy)
        self.token_mixer = None if attn is None else PartialChannelMixer(attn, dim // split_rate)
        self.channel_mixer = Mlp(dim, mlp_ratio, act_layer, bias=True, norm_cfg=norm_cfg,
                                 deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x, shared: Optional[torch.Tensor] = None):
        x = self.rep_mixer(x)
        if self.is_share_block:
            mixed_x, mixed = x + shared, None
        else:
            mixed_x, mixed = self.token_mixer(x)
        return x + self.drop_path(self.channel_mixer(mixed_x)), mixed


def repeated_input_depthwise_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for a conv with one input channel per group (a depthwise conv with a channel
    multiplier), run as a plain depthwise conv of ``x`` with each channel repeated: the same
    weights and sums, about 1.2-3x faster than oneDNN's multiplier kernel on CPU."""
    return F.conv2d(x.repeat_interleave(conv.out_channels // conv.in_channels, dim=1), conv.weight,
                    conv.bias, conv.stride, conv.padding, conv.dilation, conv.out_channels)


class MetaDownsample(nn.Module):
    """M/A-series downsampling: ``y = bn(dw7x7_s2(x)); y + mlp(y)``; channels double.

    The deploy form folds ``bn`` into the conv and runs it as a depthwise conv of the repeated
    input (:func:`repeated_input_depthwise_conv`).
    """

    def __init__(self, in_channels, mlp_ratio, act_layer=nn.GELU, norm_cfg=None, deploy=False):
        super().__init__()
        out_channels = in_channels * 2
        self.token_mixer = nn.Conv2d(in_channels, out_channels, 7, stride=2, padding=3,
                                     groups=in_channels)
        self.norm = nn.Identity() if deploy else build_norm(norm_cfg, out_channels)
        self.channel_mixer = Mlp(out_channels, mlp_ratio, act_layer, norm_cfg=norm_cfg, deploy=deploy)
        self.repeat_input = deploy

    def forward(self, x):
        if self.repeat_input:
            x = repeated_input_depthwise_conv(self.token_mixer, x)
        else:
            x = self.token_mixer(x)
        x = self.norm(x)
        return x + self.channel_mixer(x)

    @torch.no_grad()
    def optimize_for_inference(self):
        if not isinstance(self.norm, nn.Identity):
            w, b = fold_bn(self.token_mixer.weight, self.token_mixer.bias, self.norm)
            self.token_mixer = _biased_copy(self.token_mixer, w, b)
            self.norm = nn.Identity()
        self.repeat_input = True


class PartialDownsample(nn.Module):
    """LSNet-style downsampling: ``y = convnorm5x5_s2(x); y + mlp(y)`` (grouped by gcd)."""

    def __init__(self, in_channels, out_channels, mlp_ratio, drop_path=0., act_layer=nn.GELU,
                 norm_cfg=None, deploy=False):
        super().__init__()
        self.token_mixer = conv_norm(in_channels, out_channels, 5, stride=2, padding=2,
                                    groups=math.gcd(in_channels, out_channels), bias=True,
                                    norm_cfg=norm_cfg, deploy=deploy)
        self.channel_mixer = Mlp(out_channels, mlp_ratio, act_layer, bias=True, norm_cfg=norm_cfg,
                                 deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x):
        x = self.token_mixer(x)
        return x + self.drop_path(self.channel_mixer(x))


class RecNeXtStage(nn.Module):
    """A downsampling layer (Identity in stage 0) followed by blocks (``downsample``, ``blocks``).

    Args:
        downsample (nn.Module): Downsampling layer or Identity.
        blocks (Sequence[nn.Module]): The blocks.
        with_cp (bool): Gradient checkpointing per block while gradients are needed.
    """

    def __init__(self, downsample: nn.Module, blocks: Sequence[nn.Module], with_cp=False):
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.ModuleList(blocks)
        self.partial = any(isinstance(b, PartialChannelBlock) for b in self.blocks)
        self.with_cp = with_cp

    @staticmethod
    def _checkpointed(fn, *args):
        return torch.utils.checkpoint.checkpoint(fn, *args, use_reentrant=False)

    def forward(self, x):
        # Plain calls unless checkpointing is on and gradients flow (inference stays lean).
        run = self._checkpointed if self.with_cp and x.requires_grad else lambda fn, *a: fn(*a)
        if not isinstance(self.downsample, nn.Identity):
            x = run(self.downsample, x)
        if not self.partial:
            for block in self.blocks:
                x = run(block, x)
            return x
        shared_parts: List[torch.Tensor] = []
        for block in self.blocks:
            if block.is_share_block:
                x, _ = run(block, x, torch.cat(shared_parts, dim=1))
                shared_parts = []
            else:
                x, mixed = run(block, x)
                shared_parts.append(mixed)
        return x


class DualHead(nn.Module):
    """The official classifier: two ``NormLinear`` heads (``head``, ``head_dist``).

    In training with ``distillation=True`` it returns both outputs (class token / distillation
    token); otherwise their average. Deployed, the two fold into one ``Linear`` (``head.linear``).
    """

    def __init__(self, in_features, num_classes, distillation=False, drop_rate=0., deploy=False):
        super().__init__()
        self.num_classes = num_classes
        self.distillation = distillation
        self.head_drop = nn.Dropout(drop_rate)
        self.deploy = deploy
        self.head = NormLinear(in_features, num_classes, deploy=deploy) if num_classes > 0 \
            else nn.Identity()
        if not deploy:
            self.head_dist = NormLinear(in_features, num_classes) if num_classes > 0 \
                else nn.Identity()

    def forward(self, x):
        x = self.head_drop(x)
        if self.deploy:
            return self.head(x)
        out, out_dist = self.head(x), self.head_dist(x)
        if self.training and self.distillation:
            return out, out_dist
        return (out + out_dist) / 2

    @torch.no_grad()
    def switch_to_deploy(self):
        if self.deploy:
            return
        if self.num_classes > 0:
            self.head.switch_to_deploy()
            self.head_dist.switch_to_deploy()
            self.head.linear.weight.data.add_(self.head_dist.linear.weight).div_(2)
            self.head.linear.bias.data.add_(self.head_dist.linear.bias).div_(2)
        del self.head_dist
        self.deploy = True


@torch.no_grad()
def switch_to_deploy(module: nn.Module, official_graph: bool = False) -> nn.Module:
    """Converts every fusable layer below ``module`` to its deploy form, in place.

    Args:
        module (nn.Module): Any module containing RecNeXt layers.
        official_graph (bool): Only what the official ``fuse()`` does (Conv+BN pairs, RepVGG
            branches, the two heads), giving its exact graph, for comparisons. By default also
            the exact inference optimisations beyond it (``optimize_for_inference`` of each layer):
            the BatchNorms after each RecConv and downsampling conv folded into the conv before
            them, and the faster evaluation of the attention feature map.

    Returns:
        nn.Module: ``module`` itself.
    """
    for m in list(module.modules()):
        if not official_graph and hasattr(m, 'optimize_for_inference'):
            m.optimize_for_inference()
    for m in list(module.modules()):
        if m is not module and hasattr(m, 'switch_to_deploy'):
            m.switch_to_deploy()
    # Replace each folded ConvNorm by its conv, so the graph equals the one deploy=True builds.
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ConvNorm) and isinstance(child.norm, nn.Identity):
                setattr(parent, name, child.conv)
    return module
