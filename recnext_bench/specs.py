"""Model specs of the measurement tools: the names and config paths that ``benchmark.py``,
``get_flops.py`` and ``train_cost.py`` take, parsed into a :class:`ModelSpec`.

A *model spec* is one of

- an arch name (``m3``, ``a0``, ``t_share_channel`` ...): the mmengine ``RecNeXt`` backbone
  (all four stage outputs);
- ``recnext_<arch>``: the timm classifier (1000 classes, two heads in train form);
- any other timm model name (``repvit_m1_1``, ``resnet50`` ...): a peer, built with
  ``pretrained=False``;
- a path to an mmengine config (``*.py``): a detector, segmentor or classifier, built without its
  pretrained backbone weights; ``package::rel/path.py`` names a config installed with a
  downstream package (``mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py``: the R50 Mask R-CNN);
- ``official:<arch>`` (or ``official:recnext_<arch>``): the official implementation's classifier,
  imported from ``--official-dir`` (never part of this repository).

Building a spec in a form is :mod:`.models`.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Optional, Tuple

from recnext_mm.backbones.archs import ARCH_SETTINGS, get_arch

__all__ = ['DEFAULT_SHAPES', 'ModelSpec', 'parse_spec', 'resolve_config_path', 'load_config']

# Default input sizes (H, W) per kind of model.
DEFAULT_SHAPES = {'backbone': (224, 224), 'classifier': (224, 224), 'timm': (224, 224),
                  'official': (224, 224), 'detection': (800, 1280), 'segmentation': (512, 512),
                  'classification': (224, 224)}


@dataclass
class ModelSpec:
    """A parsed model spec.

    Attributes:
        name (str): The spec as given.
        kind (str): 'backbone', 'classifier', 'timm', 'official' or 'config'.
        arch (str, optional): RecNeXt arch name for backbone/classifier/official.
        task (str, optional): For configs: 'detection', 'segmentation' or 'classification'.
    """
    name: str
    kind: str
    arch: Optional[str] = None
    task: Optional[str] = None

    @property
    def default_shape(self) -> Tuple[int, int]:
        return DEFAULT_SHAPES[self.task if self.kind == 'config' else self.kind]


def parse_spec(name: str) -> ModelSpec:
    """Parses a model spec (see the module docstring).

    Raises:
        ValueError: A ``.py`` path that does not exist, or an unknown timm / arch name.
    """
    if name.endswith('.py'):
        return ModelSpec(name, 'config', task=_config_task(resolve_config_path(name)))
    if name.startswith('official:'):
        arch = name.split(':', 1)[1].replace('recnext_', '')
        get_arch(arch)  # validates
        return ModelSpec(name, 'official', arch=arch)
    key = name.lower().replace('-', '_')
    if key in ARCH_SETTINGS:
        return ModelSpec(name, 'backbone', arch=key)
    if key.startswith('recnext_') and key[len('recnext_'):] in ARCH_SETTINGS:
        return ModelSpec(name, 'classifier', arch=key[len('recnext_'):])
    import timm
    if not timm.is_model(name):
        raise ValueError(f'Unknown model {name!r}: not a RecNeXt arch ({", ".join(ARCH_SETTINGS)}), '
                         f'not recnext_<arch>, not a timm model and not a config file.')
    return ModelSpec(name, 'timm')


def resolve_config_path(name: str) -> str:
    """The file of a config spec: a local path, or ``package::rel/path.py`` resolved to the config
    installed with that package (``<site-packages>/mmdet/.mim/configs/rel/path.py``), the way
    mmengine resolves ``_base_ = 'mmdet::...'``.

    Raises:
        ValueError: The file does not exist, the package is unknown to mmengine or not installed.
    """
    if '::' not in name:
        if not osp.isfile(name):
            raise ValueError(f'Config file not found: {name}')
        return name
    from mmengine.config.utils import _get_package_and_cfg_path
    from mmengine.utils import get_installed_path
    try:
        package, rel_path = _get_package_and_cfg_path(name)
    except (AssertionError, ValueError) as err:
        raise ValueError(f'Bad package config spec {name!r} (expected e.g. '
                         f'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py): {err}') from None
    try:
        root = get_installed_path(package)
    except Exception as err:  # noqa: BLE001  (importlib.metadata.PackageNotFoundError and others)
        raise ValueError(f'Config {name!r}: package {package!r} is not installed ({err})') from None
    path = osp.join(root, '.mim', 'configs', rel_path)
    if not osp.isfile(path):
        raise ValueError(f'Config {name!r} not found: {path} does not exist.')
    return path


def _config_task(path: str) -> str:
    """Guesses the task of a config from its model type (falls back to the path)."""
    cfg = load_config(path)
    model_type = str(cfg.model.get('type', ''))
    default_scope = cfg.get('default_scope', '')
    if 'EncoderDecoder' in model_type or default_scope == 'mmseg' or 'segmentation' in path:
        return 'segmentation'
    if 'Classifier' in model_type or default_scope == 'mmpretrain' or 'classification' in path:
        return 'classification'
    return 'detection'


def load_config(path: str):
    """Loads an mmengine config (a path or a ``package::`` spec) and imports its
    ``custom_imports``."""
    from mmengine.config import Config
    cfg = Config.fromfile(resolve_config_path(path))
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    return cfg
