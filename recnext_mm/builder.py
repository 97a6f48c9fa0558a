"""Building the model of an OpenMMLab config (no Runner): the task of a config and its model.

Shared by the tools (``recnext_mm.cli``, ``recnext_mm.data_check``), the converter and the tests.
"""
import copy

from mmengine.config import Config

TASKS = ('mmdet', 'mmseg', 'mmpretrain')

__all__ = ['TASKS', 'task_of', 'import_task', 'build_model_from_cfg']


def task_of(cfg: Config) -> str:
    scope = cfg.get('default_scope')
    if scope not in TASKS:
        raise ValueError(f'Config has default_scope={scope!r}; expected one of {TASKS} (inherit '
                         f'the downstream package\'s default_runtime base).')
    return scope


def import_task(task: str):
    """Imports the downstream package so its registries and hooks exist."""
    __import__(f'{task}.utils')
    if task == 'mmdet':
        from mmdet.utils import register_all_modules
    elif task == 'mmseg':
        from mmseg.utils import register_all_modules
    else:
        from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)


def build_model_from_cfg(cfg: Config):
    """Builds ``cfg.model`` under the config's scope as the Runner does (a top-level
    ``data_preprocessor`` merged in), without the backbone's pretrained init: nothing is
    downloaded and the weights stay random, for checks, counts and tests.
    """
    from mmengine.registry import MODELS, DefaultScope
    task = task_of(cfg)
    import_task(task)
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('backbone') is not None:
        model_cfg.backbone.init_cfg = None
    model_cfg.pop('pretrained', None)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(task):
        return MODELS.build(model_cfg)
