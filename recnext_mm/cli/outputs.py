"""What ``tools/test.py`` writes besides the metrics: drawn predictions (``--show-dir``) and the
raw predictions pickled (``--out``), as edits of the config."""
import os.path as osp

from mmengine.config import Config, ConfigDict

from ..builder import task_of

__all__ = ['enable_visualization', 'add_dump_metric']


def enable_visualization(cfg: Config, show_dir: str) -> None:
    """Turns on the task's visualization hook so test predictions are drawn into ``show_dir``
    (relative paths: below the work dir)."""
    task = task_of(cfg)
    hooks = cfg.setdefault('default_hooks', ConfigDict())
    if task != 'mmdet':  # mmdet's hook puts test_out_dir under work_dir/<timestamp> itself
        show_dir = osp.join(cfg.work_dir, show_dir)
    if task == 'mmdet':
        hooks['visualization'] = dict(type='DetVisualizationHook', draw=True, test_out_dir=show_dir)
    elif task == 'mmseg':
        hooks['visualization'] = dict(type='SegVisualizationHook', draw=True, interval=1)
        cfg.visualizer['save_dir'] = show_dir
        cfg.visualizer['vis_backends'] = [dict(type='LocalVisBackend')]
    else:
        hooks['visualization'] = dict(type='VisualizationHook', enable=True, out_dir=show_dir)


def add_dump_metric(cfg: Config, out: str) -> None:
    """Appends a metric that pickles the raw predictions to ``out``."""
    task = task_of(cfg)
    metric = dict(type='DumpDetResults', out_file_path=out) if task == 'mmdet' else \
        dict(type='DumpResults', out_file_path=out)
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, (list, tuple)):
        cfg.test_evaluator = [*evaluator, metric]
    elif 'metrics' in evaluator:
        metrics = evaluator['metrics']
        evaluator['metrics'] = [*(metrics if isinstance(metrics, list) else [metrics]), metric]
    else:
        cfg.test_evaluator = [evaluator, metric]
