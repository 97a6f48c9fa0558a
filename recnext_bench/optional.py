"""The optional dependencies of the measurement and deployment tools (the extras of setup.py):
one import helper, :func:`require`, whose error names the package and the install command."""
import importlib
import warnings
from typing import Dict

__all__ = ['EXTRAS', 'require', 'require_or_exit']

# The setup.py extra that installs each optional module.
EXTRAS: Dict[str, str] = {'onnx': 'onnx', 'onnxruntime': 'onnx', 'openvino': 'openvino',
                          'nncf': 'openvino', 'coremltools': 'coreml'}


def require(*modules: str, purpose: str, quiet: bool = False):
    """Imports ``modules`` and returns them (the module itself when there is one).

    Args:
        modules (str): Module names, each a key of :data:`EXTRAS`.
        purpose (str): What needs them, the start of the error message ('ONNX export').
        quiet (bool): Silence the warnings of the import (coremltools' "torch version not
            tested" notice).

    Raises:
        ImportError: A module does not import: ``'<purpose> needs <modules>: pip install -e
            .[<extra>]. Import failed: <error>'``.
    """
    extras = ','.join(dict.fromkeys(EXTRAS[m] for m in modules))
    loaded = []
    try:
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter('ignore')
            for name in modules:
                loaded.append(importlib.import_module(name))
    except ImportError as err:
        raise ImportError(f'{purpose} needs {" and ".join(modules)}: pip install -e .[{extras}]. '
                          f'Import failed: {err}') from err
    return loaded[0] if len(loaded) == 1 else tuple(loaded)


def require_or_exit(*modules: str, purpose: str, quiet: bool = False):
    """:func:`require` for a command-line tool: a missing module ends the tool with the same
    message (``SystemExit``) instead of a traceback."""
    try:
        return require(*modules, purpose=purpose, quiet=quiet)
    except ImportError as err:
        raise SystemExit(str(err)) from None
