"""Checking every dataset of a config (:func:`check_config_data`), and the check before a run
(:func:`precheck`, what ``tools/train.py`` and ``tools/test.py`` run)."""
import importlib
from typing import Iterable, List, Sequence

from mmengine.config import Config, ConfigDict

from ..builder import import_task, task_of
from .classification import check_cls
from .coco import check_coco
from .layout import PATH_KINDS, check_paths, data_error
from .report import MODES, Collector, DataReport, DatasetSummary
from .segmentation import check_seg

__all__ = ['leaf_datasets', 'check_config_data', 'precheck']


def leaf_datasets(cfg_node) -> List[ConfigDict]:
    """The leaf dataset configs below a dataloader's dataset (unwrapping wrappers)."""
    if cfg_node is None:
        return []
    if 'datasets' in cfg_node:
        return [d for sub in cfg_node['datasets'] for d in leaf_datasets(sub)]
    if 'dataset' in cfg_node:
        return leaf_datasets(cfg_node['dataset'])
    return [cfg_node]


def check_config_data(cfg: Config, splits: Iterable[str] = ('train', 'val', 'test'),
                      mode: str = 'header', workers: int = 8) -> DataReport:
    """Checks the data of every dataset of ``cfg``'s dataloaders for ``splits``.

    Args:
        cfg (Config): A loaded config (``--cfg-options`` merged).
        splits (Iterable[str]): Which dataloaders (``<split>_dataloader``) to check.
        mode (str): 'paths' (the data roots, annotation files and image folders exist; nothing is
            read), 'exists' (also every file exists, annotations and label names checked: the
            check ``tools/train.py`` runs), 'header' (images opened, label maps decoded) or
            'decode' (images fully decoded too). Every mode starts with the 'paths' stage; a
            dataset that fails it is not checked further.
        workers (int): Threads for file checks.

    Returns:
        DataReport: every finding; ``report.errors`` is empty when the data is usable.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    task = task_of(cfg)
    import_task(task)
    report = DataReport(mode)
    checked = {}  # the same dataset in two splits (test_dataloader = val_dataloader) once
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for ds_cfg in leaf_datasets(loader.get('dataset')):
            key = repr(ds_cfg)
            if key in checked:
                report.datasets.append(DatasetSummary(split, f'same data as {checked[key]}'))
                continue
            checked[key] = split
            _check_dataset(cfg, ds_cfg, split, task, mode, workers, report)
    return report


def _uses_masks(pipeline) -> bool:
    stack = [pipeline]
    while stack:
        obj = stack.pop()
        if getattr(obj, 'with_mask', False) is True:
            return True
        inner = getattr(obj, 'transforms', None)
        if isinstance(inner, (list, tuple)):
            stack.extend(inner)
        elif inner is not None:
            stack.append(inner)
    return False


def _build_lazy(ds_cfg, task: str):
    from mmengine.registry import DATASETS, DefaultScope
    ds_cfg = ds_cfg.copy()
    ds_cfg['lazy_init'] = True  # the annotation file is read here, not by the dataset
    with DefaultScope.overwrite_default_scope(task):
        return DATASETS.build(ds_cfg)


def _optional(module: str, name: str):
    """``module.name``, or None when the package is not installed."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        return None


def _check_dataset(cfg, ds_cfg, split, task, mode, workers, report) -> None:
    name = f"{ds_cfg.get('type', '?')}({ds_cfg.get('data_root', '') or ''})"
    col = Collector(report, split, name)
    missing = check_paths(task, split, ds_cfg)
    if missing is not None:
        report.findings.append(missing)
        return
    if mode == 'paths':
        return
    try:
        ds = _build_lazy(ds_cfg, task)
    except (FileNotFoundError, AssertionError, RuntimeError, ValueError, OSError) as err:
        col.add('missing_path', 'error', str(ds_cfg.get('data_root', '')),
                f'the dataset cannot be built: {type(err).__name__}: {err}')
        return
    coco = _optional('mmdet.datasets', 'CocoDataset')
    seg = _optional('mmseg.datasets', 'BaseSegDataset')
    cls = _optional('mmpretrain.datasets', 'CustomDataset')
    try:
        if coco is not None and isinstance(ds, coco):
            check_coco(ds, col, mode, workers, with_mask=_uses_masks(ds.pipeline))
        elif seg is not None and isinstance(ds, seg):
            check_seg(cfg, ds, col, mode, workers)
        elif cls is not None and isinstance(ds, cls):
            check_cls(ds, col, mode, workers)
        else:
            col.images([d['img_path'] for d in ds.load_data_list() if 'img_path' in d], mode,
                       workers)
    except (FileNotFoundError, NotADirectoryError) as err:
        col.add('missing_path', 'error', getattr(err, 'filename', None) or name, str(err))


def precheck(cfg: Config, splits: Sequence[str], mode: str = 'exists') -> DataReport:
    """The data check before a run.

    Args:
        cfg (Config): The loaded config.
        splits (Sequence[str]): The dataloaders the run uses.
        mode (str): 'paths' (``tools/test.py``, and ``tools/train.py`` with ``--skip-data-check``
            or on ranks other than 0): data roots, annotation files and image folders only;
            'exists' (``tools/train.py``): also the annotations and the existence of every file
            (no image is opened), with the summary and what mmdet will drop printed.

    Returns:
        DataReport: the report (no errors in it).

    Raises:
        FileNotFoundError: a data root, annotation file or image folder is missing or holds no
            image, naming it, the layout the task expects and how to point the config elsewhere.
        SystemExit: (mode 'exists') the check found other errors: listed, with how to skip it.
    """
    if mode not in ('paths', 'exists'):
        raise ValueError(f"mode must be 'paths' or 'exists', got {mode!r}")
    report = check_config_data(cfg, splits=splits, mode=mode)
    missing = next((f for f in report.errors if f.kind in PATH_KINDS), None)
    if missing is not None:
        raise data_error(missing)
    if mode == 'paths':
        return report
    print(f'Data check before training (files and annotations; images are not opened):\n'
          f'{report.format(limit=30)}', flush=True)
    dropped = report.dropped_annotations('train')
    if dropped:
        print('Training annotations that mmdet will drop, ignore or fail on, by reason: ' +
              ', '.join(f'{kind}: {n}' for kind, n in sorted(dropped.items())), flush=True)
    if report.errors:
        raise SystemExit(
            f'error: the data check found {len(report.errors)} error(s) (listed above). Fix the '
            f'data or the config, or pass --skip-data-check to train anyway. Full check: python '
            f'tools/check_dataset.py {cfg.filename or "CONFIG"} --decode')
    return report
