from .archs import ARCH_SETTINGS, get_arch
from .forms import FORMS, set_channels_last, set_transposed_upsampling, to_form
from .recnext import RecNeXt
from .trunk import RecNeXtTrunk, build_trunk

__all__ = ['RecNeXt', 'RecNeXtTrunk', 'ARCH_SETTINGS', 'get_arch', 'build_trunk', 'FORMS', 'to_form',
           'set_channels_last', 'set_transposed_upsampling']
