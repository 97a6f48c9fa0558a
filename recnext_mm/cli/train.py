"""Train a detector, segmentor or classifier from a config (mmengine Runner): what
``tools/train.py`` runs.

Before training, the files and annotations of the train (and val) data are checked
(:func:`recnext_mm.data_check.precheck`).
"""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

from .common import add_common_arguments, build_runner, load_config, new_parser

__all__ = ['EPILOG', 'parse_args', 'run', 'main']

EPILOG = ('Faults: checkpoints are written atomically; --resume skips damaged checkpoints;\n'
          'unreadable training images are skipped up to --bad-image-limit.')


def parse_args(argv: Optional[Sequence[str]] = None,
               description: Optional[str] = __doc__) -> argparse.Namespace:
    parser = new_parser(description, EPILOG)
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from the newest readable checkpoint in the work dir, or from '
                             'a path')
    parser.add_argument('--amp', action='store_true', help='mixed precision (needs a GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the real total batch size (auto_scale_lr in the config)')
    parser.add_argument('--no-validate', action='store_true', help='skip validation during training')
    parser.add_argument('--bad-image-limit', metavar='N|P%',
                        help='unreadable training images skipped per epoch before the run stops: a '
                             'count (25) or a percentage of the epoch (1%%, the default; config key '
                             'bad_image_limit); 0 stops at the first one')
    parser.add_argument('--skip-data-check', action='store_true',
                        help='only check that the data roots, annotation files and image folders '
                             'exist, not the files and annotations in them '
                             '(tools/check_dataset.py runs the full check)')
    add_common_arguments(parser)
    return parser.parse_args(argv)


def _enable_amp(cfg) -> None:
    optim = cfg.optim_wrapper
    kind = optim.get('type', 'OptimWrapper')
    if kind in ('AmpOptimWrapper', 'AmpAGCOptimWrapper'):
        print('AMP is already enabled in the config.')
    else:
        # AGC needs the AMP wrapper that knows it (mmengine's refuses clip_grad type 'agc').
        optim.type = 'AmpAGCOptimWrapper' if kind == 'AGCOptimWrapper' else 'AmpOptimWrapper'
        optim.setdefault('loss_scale', 'dynamic')


def _set_resume(cfg, resume: Optional[str]) -> None:
    from ..checkpoint import CheckpointError
    from ..engine.resume import check_checkpoint
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume is not None:
        if not osp.isfile(resume):
            raise SystemExit(f'error: --resume checkpoint not found: {resume}')
        try:
            check_checkpoint(resume, what='--resume checkpoint')
        except CheckpointError as err:
            raise SystemExit(f'error: {err}')
        cfg.resume, cfg.load_from = True, resume


def run(args: argparse.Namespace):
    """Builds the Runner from ``args.config`` and trains.

    Returns:
        Runner: the runner after training.
    """
    from .. import engine  # noqa: F401  (atomic checkpoints, damage-proof resume, bad images)
    from ..checkpoint import CheckpointError
    from ..data_check import precheck
    from ..engine.bad_images import BadImageError, parse_limit
    cfg = load_config(args)
    splits = ('train',) if args.no_validate else ('train', 'val')
    full_check = not args.skip_data_check and os.environ.get('RANK', '0') == '0'
    report = precheck(cfg, splits, mode='exists' if full_check else 'paths')
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.bad_image_limit is not None:
        try:
            cfg.bad_image_limit = parse_limit(args.bad_image_limit)
        except ValueError as err:
            raise SystemExit(f'error: --bad-image-limit: {err}')
    if args.amp:
        _enable_amp(cfg)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the config')
        cfg.auto_scale_lr.enable = True
    _set_resume(cfg, args.resume)

    runner = build_runner(cfg)
    if full_check:
        runner.logger.info('Data check before training:\n' + report.format(limit=30))
    try:
        runner.train()
    except (CheckpointError, BadImageError) as err:
        runner.logger.error(str(err))
        raise SystemExit(f'error: {err}')
    return runner


def main(argv: Optional[Sequence[str]] = None):
    """``tools/train.py``: parses ``argv`` and trains; returns the Runner."""
    return run(parse_args(argv))
