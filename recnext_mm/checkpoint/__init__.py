"""RecNeXt checkpoints: reading every released and trained format (:mod:`.read`) and loading it
strictly (:mod:`.load`). Folding weights of one form into a model of another is
:mod:`recnext_mm.backbones.loading`, above the models."""
from .load import check_keys, compare_state_dicts, load_into, model_text
from .read import (FORMAT_BY_NAME, FORMATS, CheckpointError, CheckpointFormat, LoadedWeights, StateDict,
                   detect_format, is_torchscript_archive, load_weights, model_state_dict,
                   read_checkpoint, read_torchscript_tensors, select_prefix, strip_module_prefix,
                   weights_form)

__all__ = [
    'CheckpointError', 'CheckpointFormat', 'FORMATS', 'FORMAT_BY_NAME', 'LoadedWeights', 'StateDict',
    'read_checkpoint', 'is_torchscript_archive', 'read_torchscript_tensors', 'load_weights',
    'detect_format', 'model_state_dict', 'strip_module_prefix', 'select_prefix', 'weights_form',
    'compare_state_dicts', 'check_keys', 'model_text', 'load_into'
]
