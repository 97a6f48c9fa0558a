"""Evaluate a checkpoint: box/mask AP, mIoU or top-1/top-5, depending on the config: what
``tools/test.py`` runs.

The checkpoint is read once (:func:`recnext_mm.convert.read_for_task`: a released file is converted
on the way) and loaded strictly into the Runner's model from memory.
"""
import argparse
import json
import os
from typing import Optional, Sequence

from .common import add_common_arguments, build_runner, load_config, new_parser
from .outputs import add_dump_metric, enable_visualization

__all__ = ['EPILOG', 'parse_args', 'run', 'main', 'load_into_runner']

EPILOG = ('CHECKPOINT may be an mmengine checkpoint or a released file (official ImageNet .pth or\n'
          'fused .pt, mmdet 2.x COCO, mmseg 0.x ADE20K), converted on the fly.')


def parse_args(argv: Optional[Sequence[str]] = None,
               description: Optional[str] = __doc__) -> argparse.Namespace:
    parser = new_parser(description, EPILOG)
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument('--out', help='pickle the raw predictions to this file (.pkl)')
    parser.add_argument('--show-dir', help='draw predictions into this directory (in the work dir)')
    parser.add_argument('--deploy', action='store_true',
                        help='evaluate the fused deploy form of the RecNeXt backbone (faster)')
    add_common_arguments(parser)
    return parser.parse_args(argv)


def load_into_runner(runner, checkpoint: dict, name: str) -> None:
    """``Runner.load_checkpoint(name, strict=True)`` for a checkpoint already read: the
    ``after_load_checkpoint`` hooks see it, then every weight of the model must be in it."""
    from mmengine.model import is_model_wrapper
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    runner.call_hook('after_load_checkpoint', checkpoint=checkpoint)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    _load_checkpoint_to_model(model, checkpoint, strict=True, revise_keys=[(r'^module.', '')])
    runner._has_loaded = True  # as Runner.load_checkpoint: runner.test() loads nothing more
    runner.logger.info(f'Load checkpoint from {name}')


def run(args: argparse.Namespace) -> dict:
    """Loads ``args.checkpoint`` strictly into the model of ``args.config`` and evaluates it.

    Returns:
        dict: the metrics (also written to ``<work dir>/test_metrics.json``).
    """
    from ..builder import task_of
    from ..convert import read_for_task
    from ..data_check import precheck
    from ..engine.bad_images import BadImageError
    cfg = load_config(args)
    precheck(cfg, ('test',), mode='paths')
    # The backbone's ImageNet init is irrelevant when a full checkpoint is loaded.
    if cfg.model.get('backbone', {}).get('init_cfg'):
        cfg.model.backbone.init_cfg = None
    # The one read of the checkpoint; a converted release file is kept in the work dir (rank 0).
    rank0 = os.environ.get('RANK', '0') == '0'
    checkpoint = read_for_task(args.checkpoint, task_of(cfg), cfg.work_dir if rank0 else None)
    # The Runner's load_from is lenient (missing keys only warn); evaluation needs every weight.
    cfg.load_from = None
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must end with .pkl or .pickle')
        add_dump_metric(cfg, args.out)
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)

    runner = build_runner(cfg)
    try:
        load_into_runner(runner, checkpoint, args.checkpoint)
    except RuntimeError as err:
        raise SystemExit(f'error: checkpoint {args.checkpoint} does not fit {args.config}:\n{err}')
    if args.deploy:
        from ..backbones.forms import to_form
        to_form(runner.model, 'deploy')
        runner.logger.info('Evaluating the deploy form (every RecNeXt part fused).')
    try:
        metrics = runner.test()
    except BadImageError as err:  # evaluation never skips an image: name it and stop
        runner.logger.error(str(err))
        raise SystemExit(f'error: {err}')
    if runner.rank == 0:
        with open(os.path.join(cfg.work_dir, 'test_metrics.json'), 'w') as f:
            json.dump(metrics, f, indent=1, default=float)
        print('Test metrics:', json.dumps(metrics, default=float))
    return metrics


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """``tools/test.py``: parses ``argv`` and evaluates; returns the metrics."""
    return run(parse_args(argv))
