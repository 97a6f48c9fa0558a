from .layers import optimize_for_inference, reparameterize
from .recnext import ARCH_SETTINGS, RecNeXt, RecNeXtTrunk, build_trunk, get_arch

__all__ = ['RecNeXt', 'RecNeXtTrunk', 'ARCH_SETTINGS', 'get_arch', 'build_trunk', 'reparameterize',
           'optimize_for_inference']
