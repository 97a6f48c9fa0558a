"""Reading RecNeXt weights from every released and trained format.

:data:`FORMATS` is the one table of the formats we read; :func:`load_weights` detects the format of
a file and returns its tensors. Torch pickles are read with ``weights_only=True`` and TorchScript
archives by a restricted unpickler that collects tensors only, so no code from a checkpoint ever
runs.
"""
import os
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch

StateDict = Dict[str, torch.Tensor]


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as asked (unreadable, wrong arch, incomplete)."""


@dataclass(frozen=True)
class CheckpointFormat:
    """One row of :data:`FORMATS`.

    Attributes:
        name (str): The format's name, as :func:`detect_format` returns it.
        detected_by (str): What identifies it.
        layout (str): The keys it holds.
        form (str): 'train' (BatchNorms unfolded), 'official_fused' (the official ``fuse()``
            graph: Conv+BN pairs folded, standalone BatchNorms kept, one merged head) or 'any'
            (whatever the saving model was; told apart by its keys, :func:`weights_form`).
        task (str, optional): The package whose model the converter writes it for.
    """
    name: str
    detected_by: str
    layout: str
    form: str
    task: Optional[str]


FORMATS: Tuple[CheckpointFormat, ...] = (
    CheckpointFormat('release', "a dict with 'model'", 'ImageNet release: stem.*, stages.*, '
                     'head.head.*, head.head_dist.*', 'train', 'mmpretrain'),
    CheckpointFormat('fused', 'a TorchScript zip archive (code/ and data.pkl)', 'official fused '
                     'archive (*_fused.pt): stem.stem.0.weight, ..., head.weight', 'official_fused',
                     'mmpretrain'),
    CheckpointFormat('safetensors', 'the .safetensors suffix', 'a flat state dict (hub files)',
                     'any', 'mmpretrain'),
    CheckpointFormat('mmdet2', "'state_dict' with rpn_head./roi_head./bbox_head. keys, no "
                     'message_hub', 'mmdet 2.x detector (COCO release)', 'train', 'mmdet'),
    CheckpointFormat('mmseg0', "'state_dict' with decode_head. keys, no message_hub",
                     'mmseg 0.x segmentor (ADE20K release)', 'train', 'mmseg'),
    CheckpointFormat('mmengine', "'state_dict' (and message_hub)", 'an OpenMMLab 2.0 runner '
                     'checkpoint: backbone.*, neck.*, head.* ...', 'any', None),
    CheckpointFormat('state_dict', 'a flat mapping of names to tensors', 'as saved', 'any', None),
)
FORMAT_BY_NAME = {f.name: f for f in FORMATS}


@dataclass
class LoadedWeights:
    """The tensors of a checkpoint file with what is known about them (``checkpoint``: the whole
    loaded dict of a torch checkpoint, for a caller that needs more than the tensors)."""
    state: StateDict
    format: str
    meta: dict
    checkpoint: Optional[dict] = field(default=None, repr=False)

    @property
    def spec(self) -> CheckpointFormat:
        return FORMAT_BY_NAME[self.format]


# ----------------------------------------------------------------------------- reading files
def read_checkpoint(path: str, map_location='cpu') -> dict:
    """Loads a torch checkpoint file or URL with ``weights_only=True``.

    Raises:
        CheckpointError: The file is missing, not a torch checkpoint, or holds pickled objects
            other than tensors and plain containers.
    """
    if '://' not in path and not os.path.isfile(path):
        raise CheckpointError(f'Checkpoint not found: {path!r}. Pass an existing file or an '
                              f'http(s) URL.')
    if '://' not in path and is_torchscript_archive(path):
        raise CheckpointError(f'{path!r} is a TorchScript archive (e.g. an official *_fused.pt), '
                              f'not a torch checkpoint: read it with load_weights().')
    from mmengine.runner import CheckpointLoader
    try:
        ckpt = CheckpointLoader.load_checkpoint(path, map_location=map_location)
    except pickle.UnpicklingError as err:
        if 'global' not in str(err).lower():  # garbage rather than a disallowed object
            raise CheckpointError(f'{path!r} is not a readable torch checkpoint (corrupt, or '
                                  f'another file format).') from err
        raise CheckpointError(
            f'{path!r} holds Python objects that weights-only loading refuses ({err}). If you trust '
            f'the file, convert it once with `python tools/convert_checkpoint.py SRC DST '
            f'--unsafe-load`, which keeps only its tensors.') from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f'Cannot read checkpoint {path!r}: {err}. Is it a torch '
                              f'checkpoint?') from err
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path!r} does not hold a dict of weights (got {type(ckpt).__name__}).')
    return ckpt


def is_torchscript_archive(path: str) -> bool:
    """Whether ``path`` is a TorchScript zip (it has ``code/`` besides ``data.pkl``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any('/code/' in n for n in names) and any(n.endswith('/data.pkl') for n in names)


_STORAGE_DTYPES = {
    'FloatStorage': torch.float32, 'DoubleStorage': torch.float64, 'HalfStorage': torch.float16,
    'BFloat16Storage': torch.bfloat16, 'LongStorage': torch.int64, 'IntStorage': torch.int32,
    'ShortStorage': torch.int16, 'CharStorage': torch.int8, 'ByteStorage': torch.uint8,
    'BoolStorage': torch.bool,
}


class _ScriptObject:
    """Stands in for a TorchScript class (a module) while its pickled state is read."""
    state: dict = {}

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {}


class _TensorsOnlyUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript ``data.pkl`` into :class:`_ScriptObject` trees and tensors.

    Only tensor rebuilding, storages, ``OrderedDict`` and TorchScript's list builders are allowed;
    every other global (functions, classes with code) is refused.
    """

    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str):
        import io
        super().__init__(io.BytesIO(data))
        self.archive, self.root = archive, root
        self.storages = {}

    def find_class(self, module, name):
        if module.startswith('__torch__'):
            return _ScriptObject  # pickled as NEWOBJ + BUILD: a class, then its attributes
        if module == 'torch' and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
            return _rebuild_tensor
        if (module, name) == ('collections', 'OrderedDict'):
            return OrderedDict
        if module == 'torch.jit._pickle' and name.startswith('build_'):
            return lambda values: values
        if (module, name) == ('torch.jit._pickle', 'restore_type_tag'):
            return lambda value, _tag: value
        raise pickle.UnpicklingError(f'refusing global {module}.{name} in a TorchScript archive: '
                                     f'only tensors are read from it.')

    def persistent_load(self, pid):
        kind, dtype, key, _location, numel = pid
        if kind != 'storage' or not isinstance(dtype, torch.dtype):
            raise pickle.UnpicklingError(f'unexpected persistent id {pid!r}')
        if key not in self.storages:
            data = bytearray(self.archive.read(f'{self.root}/data/{key}'))
            flat = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
            self.storages[key] = flat[:numel]
        return self.storages[key]


def _rebuild_tensor(flat: torch.Tensor, offset, size, stride, *_):
    return torch.as_strided(flat, tuple(size), tuple(stride), offset).clone()


def read_torchscript_tensors(path: str) -> StateDict:
    """The parameters and buffers of a TorchScript archive, named as its ``state_dict()`` names
    them, read without running or compiling any of the archive's code.

    Raises:
        CheckpointError: The file is not a readable TorchScript archive.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith('/data.pkl')]
            root = pickles[0][:-len('/data.pkl')]
            tree = _TensorsOnlyUnpickler(archive.read(pickles[0]), archive, root).load()
    except (zipfile.BadZipFile, IndexError, KeyError, EOFError, ValueError, TypeError,
            pickle.UnpicklingError) as err:
        raise CheckpointError(f'Cannot read the TorchScript archive {path!r}: {err}.') from err
    state = OrderedDict()

    def collect(obj, prefix):
        for name, value in obj.state.items():
            if isinstance(value, _ScriptObject):
                collect(value, f'{prefix}{name}.')
            elif isinstance(value, torch.Tensor):
                state[prefix + name] = value

    if not isinstance(tree, _ScriptObject):
        raise CheckpointError(f'{path!r} holds no TorchScript module.')
    collect(tree, '')
    return state


def load_weights(path: str) -> LoadedWeights:
    """Reads the tensors of a checkpoint of any format in :data:`FORMATS`.

    Raises:
        CheckpointError: The file is missing or unreadable, or its layout is not recognised.
    """
    if '://' not in path:
        if not os.path.isfile(path):
            raise CheckpointError(f'Checkpoint not found: {path!r}. Pass an existing file or an '
                                  f'http(s) URL.')
        if is_torchscript_archive(path):
            return LoadedWeights(read_torchscript_tensors(path), 'fused', {})
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            try:
                return LoadedWeights(OrderedDict(load_file(path)), 'safetensors', {})
            except Exception as err:  # safetensors raises its own error types
                raise CheckpointError(f'Cannot read {path!r} as safetensors: {err}') from err
    ckpt = read_checkpoint(path)
    return LoadedWeights(strip_module_prefix(model_state_dict(ckpt)), detect_format(ckpt),
                         ckpt.get('meta') or {}, ckpt)


def detect_format(ckpt: dict) -> str:
    """Names the layout of a loaded torch checkpoint (a dict; see :data:`FORMATS`)."""
    if 'model' in ckpt and isinstance(ckpt['model'], dict):
        return 'release'
    if 'state_dict' in ckpt and isinstance(ckpt['state_dict'], dict):
        keys = ckpt['state_dict'].keys()
        if 'message_hub' in ckpt:
            return 'mmengine'
        if any(k.startswith('decode_head.') for k in keys):
            return 'mmseg0'
        if any(k.startswith(('rpn_head.', 'roi_head.', 'bbox_head.')) for k in keys):
            return 'mmdet2'
        return 'mmengine'
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return 'state_dict'
    raise CheckpointError(f'Unrecognised checkpoint layout with top-level keys {sorted(ckpt)[:8]}; '
                          f'expected {{"model": ...}}, {{"state_dict": ...}} or a plain state dict.')


def model_state_dict(ckpt: dict) -> StateDict:
    """The tensors of a loaded torch checkpoint of any recognised format, keys as saved."""
    fmt = detect_format(ckpt)
    if fmt == 'release':
        return ckpt['model']
    if fmt == 'state_dict':
        return ckpt
    return ckpt['state_dict']


def strip_module_prefix(state: StateDict) -> 'OrderedDict[str, torch.Tensor]':
    """Drops the ``module.`` prefix that (Distributed)DataParallel wrappers add to every key."""
    return OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in state.items())


def select_prefix(state: StateDict, prefix: str) -> 'OrderedDict[str, torch.Tensor]':
    """The entries of ``state`` under ``prefix``, with the prefix removed."""
    return OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))


def weights_form(state: StateDict) -> str:
    """'train', 'official_fused' or 'deploy': the form of RecNeXt weights, told by their keys.

    Training-form weights have Conv+BN / BN+Linear pairs (``X.conv.weight`` or ``X.linear.weight``
    beside ``X.norm.running_var``); the official fused archives keep BatchNorm statistics only in
    the standalone norms; our deploy form has none.
    """
    stats = [k[:-len('norm.running_var')] for k in state if k.endswith('norm.running_var')]
    if any(f'{base}conv.weight' in state or f'{base}linear.weight' in state for base in stats):
        return 'train'
    return 'official_fused' if stats else 'deploy'


# ----------------------------------------------------------------------------- checking and loading
