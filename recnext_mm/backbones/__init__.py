from .layers import switch_to_deploy
from .recnext import ARCH_SETTINGS, RecNeXt, build_trunk, get_arch

__all__ = ['RecNeXt', 'ARCH_SETTINGS', 'get_arch', 'build_trunk', 'switch_to_deploy']
