"""The RecAttn token mixer of the A series and the linear attention it is built on."""
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .norm import conv_norm
from .recconv import interpolate_to

__all__ = ['linear_attention', 'LinearAttention', 'RecAttn2d']


def _attention(q_t: Tensor, k: Tensor, v_t: Tensor, quadratic: bool) -> Tensor:
    """q_t: (B, heads, N, d), k: (B, heads, d, N), v_t: (B, heads, N, dv) -> (B, heads, N, dv)."""
    scale = q_t.shape[-2] ** -0.5
    if quadratic:
        attn = q_t @ k
        attn = attn / (attn.mean(dim=-1, keepdim=True) + 1e-6)
        return (attn * scale) @ (v_t * scale)
    kv = (k * scale) @ (v_t * scale)
    return q_t @ kv / (q_t @ k.mean(dim=-1, keepdim=True) + 1e-6)


@torch.fx.wrap
def linear_attention(q_t: Tensor, k: Tensor, v_t: Tensor, quadratic: bool) -> Tensor:
    """The attention product and its normalisation, in fp32 under fp16/bf16 inputs or autocast
    (the sums over all tokens overflow fp16 otherwise); the result has ``v_t``'s dtype.

    A leaf for ``torch.fx`` (its dtype and autocast checks are not traceable); TorchScript, which
    has no autocast query, runs the plain product.
    """
    if not torch.jit.is_scripting():
        low = q_t.dtype in (torch.float16, torch.bfloat16) or v_t.dtype in (torch.float16, torch.bfloat16)
        if low or torch.is_autocast_enabled(q_t.device.type):
            with torch.autocast(device_type=q_t.device.type, enabled=False):
                return _attention(q_t.float(), k.float(), v_t.float(), quadratic).to(v_t.dtype)
    return _attention(q_t, k, v_t, quadratic)


class LinearAttention(nn.Module):
    """Linear attention with ``elu + 1`` kernels and a depthwise positional encoding.

    ``out = q^T (k v^T) / (q^T mean(k))`` per head, plus ``pe(x)``. ``quadratic=True`` evaluates the
    same expression as ``(q^T k / mean(q^T k)) v^T`` (cheaper for few tokens, and the op layout the
    official late stages use, so FLOP counts match).

    Two inference switches (:func:`optimize_for_inference`) leave the function unchanged:
    ``exp_kernel`` evaluates ``elu(x) + 1`` as ``exp(min(x, 0)) + max(x, 0)`` (about 10x faster on
    CPU, where ``elu`` took 20% of the A series' time), and ``token_major`` reads the tokens of
    channels_last inputs without copying the maps.

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
        self.exp_kernel = False
        self.token_major = False
        qk_channels = int(dim * 2 * qk_ratio)
        self.qk_dim = qk_channels // 2 // num_heads
        self.qk = conv_norm(dim, qk_channels, 1, groups=2 if qk_ratio == 1.0 else 1, bias=bias,
                            norm_cfg=norm_cfg, deploy=deploy)
        self.pe = conv_norm(dim, dim, 3, padding=1, groups=dim, bias=bias, norm_cfg=norm_cfg,
                            deploy=deploy)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        n = h * w
        qk = self.qk(x)
        if self.exp_kernel:
            qk = torch.exp(qk.clamp(max=0)) + qk.clamp(min=0)
        else:
            qk = F.elu(qk) + 1.0
        if self.token_major:  # channels_last memory is (B, H, W, C): tokens without copies
            qk = qk.permute(0, 2, 3, 1).reshape(b, n, 2, self.num_heads, self.qk_dim)
            q_t, k = qk[:, :, 0].transpose(1, 2), qk[:, :, 1].permute(0, 2, 3, 1)
            v_t = x.permute(0, 2, 3, 1).reshape(b, n, self.num_heads, -1).transpose(1, 2)
            out = linear_attention(q_t, k, v_t, self.quadratic)
            out = out.transpose(1, 2).reshape(b, h, w, c).permute(0, 3, 1, 2)
        else:
            q, k = qk.reshape(b, 2, self.num_heads, self.qk_dim, n).unbind(dim=1)
            v_t = x.reshape(b, self.num_heads, -1, n).transpose(-1, -2)
            out = linear_attention(q.transpose(-1, -2), k, v_t, self.quadratic)
            out = out.transpose(-1, -2).reshape(b, c, h, w)
        return out + self.pe(x)

    def extra_repr(self):
        return (f'num_heads={self.num_heads}, qk_dim={self.qk_dim}, quadratic={self.quadratic}, '
                f'exp_kernel={self.exp_kernel}, token_major={self.token_major}')


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

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x + interpolate_to(self.down(x), [x.shape[-2], x.shape[-1]], self.mode))


# ------------------------------------------------------------------ RecConv variants (ablations)
# The token mixers of the paper's ablation study and its RecConv variants. The official repository
# keeps them as commented-out alternatives of its RecConv2d (model/recnext.py of suous/RecNeXt);
# each class below computes the same function with the same parameter names (``down``/``downs``,
# ``convs``, ``up``/``ups``), so their weights load either way. Each folds the BatchNorm after it
# (``fold_output_norm``) into its last conv, as :class:`RecConv2d` does.
