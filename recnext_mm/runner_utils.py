"""Shared logic of ``tools/train.py`` and ``tools/test.py`` for the three tasks.

The task of a config is read from its ``default_scope`` (``mmdet``, ``mmseg`` or ``mmpretrain``),
which the downstream packages' ``default_runtime`` bases set.
"""
import os
import os.path as osp

from mmengine.config import Config, ConfigDict, DictAction  # noqa: F401  (re-exported for tools)

from .builder import TASKS, build_model_from_cfg, import_task, task_of  # noqa: F401  (re-exported)
from .data_check import leaf_datasets


# What a user must put where, by dataset type, for the "missing data" error.
EXPECTED_LAYOUT = {
    'mmdet': ('COCO layout:\n  {root}/annotations/instances_train2017.json\n'
              '  {root}/annotations/instances_val2017.json\n  {root}/train2017/*.jpg\n'
              '  {root}/val2017/*.jpg\n'
              'For the embedded toy set run: python tools/data/make_toy_coco.py'),
    'mmseg': ('ADE20K layout:\n  {root}/images/training/*.jpg\n  {root}/images/validation/*.jpg\n'
              '  {root}/annotations/training/*.png\n  {root}/annotations/validation/*.png\n'
              '  (labels: 0 = ignore, 1..N = classes)\n'
              'For the embedded toy set run: python tools/data/make_toy_ade.py'),
    'mmpretrain': ('ImageNet layout:\n  {root}/train/<class>/*.JPEG\n  {root}/val/<class>/*.JPEG\n'
                   '  (or meta/train.txt, meta/val.txt annotation lists)\n'
                   'For the embedded toy set run: python tools/data/make_toy_imagenet.py'),
}


def check_data(cfg: Config, splits=('train', 'val', 'test')) -> None:
    """Fails early, with the expected layout, when a dataloader's files are missing.

    Raises:
        FileNotFoundError: naming the missing path and the layout the task expects.
    """
    task = task_of(cfg)
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for ds in leaf_datasets(loader.get('dataset')):
            root = ds.get('data_root', '') or ''
            paths = []
            if root:
                paths.append(root)
            ann = ds.get('ann_file')
            if ann:
                paths.append(osp.join(root, ann))
            prefix = ds.get('data_prefix') or {}
            if isinstance(prefix, str):
                prefix = {'img': prefix}
            for value in prefix.values():
                if isinstance(value, str) and value:
                    paths.append(osp.join(root, value))
            layout = EXPECTED_LAYOUT[task].format(root=root or '<data_root>')
            for path in paths:
                if '://' in path or osp.exists(path):
                    continue
                raise FileNotFoundError(
                    f'{split} data not found: {path!r} does not exist.\nExpected {layout}\n'
                    f'Or point the config elsewhere, e.g. --cfg-options '
                    f'{split}_dataloader.dataset.data_root=/path/to/data/')
            if task == 'mmpretrain' and not ann and paths and not _has_images(paths[-1]):
                raise FileNotFoundError(f'{split} image folder {paths[-1]!r} holds no images '
                                        f'(.jpg, .jpeg, .png, ...).\nExpected {layout}')


def _has_images(folder: str) -> bool:
    extensions = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')
    for _, _, files in os.walk(folder):
        if any(f.lower().endswith(extensions) for f in files):
            return True
    return False


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


def default_work_dir(config_path: str) -> str:
    return osp.join('work_dirs', osp.splitext(osp.basename(config_path))[0])


def setup_cfg(args, config_path: str) -> Config:
    """Loads a config, merges ``--cfg-options`` and applies the common arguments."""
    import recnext_mm  # noqa: F401  (safe checkpoint loading, registration)
    import recnext_mm.engine  # noqa: F401  (atomic checkpoints, resume checks, bad images)
    cfg = Config.fromfile(config_path)
    if getattr(args, 'cfg_options', None):
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(config_path)
    os.makedirs(cfg.work_dir, exist_ok=True)
    import_task(task_of(cfg))
    setup_cpu_distributed(cfg)
    return cfg


def setup_cpu_distributed(cfg: Config) -> None:
    """Makes ``--launcher pytorch`` (tools/dist_*.sh) work on a machine without a GPU.

    mmengine 0.10.7's pytorch launcher calls ``torch.cuda.set_device`` whatever the backend, and the
    Runner wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail without CUDA. Here the
    process group is created with gloo before the Runner (which then skips its own init) and DDP
    gets ``device_ids=None``, as torch requires for CPU modules.
    """
    if cfg.launcher != 'pytorch':
        return
    import torch
    import torch.distributed as dist
    if torch.cuda.is_available():
        return
    dist_cfg = cfg.setdefault('env_cfg', ConfigDict()).setdefault('dist_cfg', ConfigDict())
    dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        from datetime import timedelta
        dist.init_process_group(backend='gloo',
                                timeout=timedelta(seconds=dist_cfg.get('timeout', 1800)))
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    elif 'DistributedDataParallel' in str(wrapper.get('type', 'MMDistributedDataParallel')):
        wrapper.setdefault('device_ids', None)


def common_arguments(parser):
    parser.add_argument('--work-dir', help='output directory (default: work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.init_cfg.checkpoint=x.pth')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (pytorch: torchrun, see tools/dist_train.sh)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def set_local_rank(args):
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def prepare_checkpoint(path: str, cfg: Config, out_dir: str) -> str:
    """Returns a checkpoint path the Runner can load for ``cfg``.

    mmengine checkpoints are used as they are. Released files (official ImageNet and fused
    archives, mmdet 2.x, mmseg 0.x) are converted once into ``out_dir`` (see
    ``recnext_mm.convert``).
    """
    from .checkpoint import load_weights
    from .convert import convert_checkpoint
    fmt = load_weights(path).format
    if fmt == 'mmengine':
        return path
    target = osp.join(out_dir, f'converted_{osp.splitext(osp.basename(path))[0]}.pth')
    convert_checkpoint(path, target, task=task_of(cfg))
    return target


# ----------------------------------------------------------------------------- training
def train_parser():
    """The argument parser of ``tools/train.py``."""
    import argparse
    parser = argparse.ArgumentParser(
        description='Train a detector, segmentor or classifier from a config (mmengine Runner).',
        epilog='Faults: checkpoints are written atomically; --resume skips damaged checkpoints; '
               'unreadable training images are skipped up to --bad-image-limit.')
    parser.add_argument('config', help='config file')
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
                        help='do not check files and annotations before training '
                             '(tools/check_dataset.py runs the full check)')
    common_arguments(parser)
    return parser


def precheck_data(cfg: Config, splits, logger=None):
    """The cheap data check run before training: annotations are parsed and files must exist
    (no image is opened). Prints the summary; returns the report.

    Raises:
        SystemExit: when it finds errors, with the list and how to skip the check.
    """
    from .data_check import check_config_data
    report = check_config_data(cfg, splits=splits, mode='exists')
    text = report.format(limit=30)
    print(f'Data check before training (files and annotations; images are not opened):\n{text}',
          flush=True)
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


def train_main(argv=None):
    """``tools/train.py``: builds the Runner from a config and trains.

    Returns:
        Runner: the runner after training.
    """
    from . import engine  # noqa: F401  (atomic checkpoints, damage-proof resume, bad images)
    from .checkpoint import CheckpointError
    from .engine.bad_images import BadImageError, parse_limit
    from .engine.resume import check_checkpoint
    args = train_parser().parse_args(argv)
    set_local_rank(args)
    cfg = setup_cfg(args, args.config)
    splits = ('train',) if args.no_validate else ('train', 'val')
    check_data(cfg, splits=splits)
    report = None
    if not args.skip_data_check and os.environ.get('RANK', '0') == '0':
        report = precheck_data(cfg, splits)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.bad_image_limit is not None:
        try:
            cfg.bad_image_limit = parse_limit(args.bad_image_limit)
        except ValueError as err:
            raise SystemExit(f'error: --bad-image-limit: {err}')
    if args.amp:
        optim = cfg.optim_wrapper
        kind = optim.get('type', 'OptimWrapper')
        if kind in ('AmpOptimWrapper', 'AmpAGCOptimWrapper'):
            print('AMP is already enabled in the config.')
        else:
            # AGC needs the AMP wrapper that knows it (mmengine's refuses clip_grad type 'agc').
            optim.type = 'AmpAGCOptimWrapper' if kind == 'AGCOptimWrapper' else 'AmpOptimWrapper'
            optim.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise SystemExit(f'error: --resume checkpoint not found: {args.resume}')
        try:
            check_checkpoint(args.resume, what='--resume checkpoint')
        except CheckpointError as err:
            raise SystemExit(f'error: {err}')
        cfg.resume, cfg.load_from = True, args.resume

    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    if report is not None:
        runner.logger.info('Data check before training:\n' + report.format(limit=30))
    try:
        runner.train()
    except (CheckpointError, BadImageError) as err:
        runner.logger.error(str(err))
        raise SystemExit(f'error: {err}')
    return runner


# ----------------------------------------------------------------------------- testing
def test_parser():
    """The argument parser of ``tools/test.py``."""
    import argparse
    parser = argparse.ArgumentParser(
        description='Evaluate a checkpoint: box/mask AP, mIoU or top-1/top-5, depending on the config.',
        epilog='CHECKPOINT may be an mmengine checkpoint or a released file (official ImageNet .pth or '
               'fused .pt, mmdet 2.x COCO, mmseg 0.x ADE20K), converted on the fly.')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument('--out', help='pickle the raw predictions to this file (.pkl)')
    parser.add_argument('--show-dir', help='draw predictions into this directory (in the work dir)')
    parser.add_argument('--deploy', action='store_true',
                        help='evaluate the fused deploy form of the RecNeXt backbone (faster)')
    common_arguments(parser)
    return parser


def evaluate_main(argv=None):
    """``tools/test.py``: loads a checkpoint strictly into a config's model and evaluates it.

    Returns:
        dict: the metrics.
    """
    import json
    args = test_parser().parse_args(argv)
    set_local_rank(args)
    cfg = setup_cfg(args, args.config)
    check_data(cfg, splits=('test',))
    # The backbone's ImageNet init is irrelevant when a full checkpoint is loaded.
    if cfg.model.get('backbone', {}).get('init_cfg'):
        cfg.model.backbone.init_cfg = None
    checkpoint = prepare_checkpoint(args.checkpoint, cfg, cfg.work_dir)
    # The Runner's load_from is lenient (missing keys only warn); evaluation needs every weight.
    cfg.load_from = None
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must end with .pkl or .pickle')
        add_dump_metric(cfg, args.out)
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)

    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    try:
        runner.load_checkpoint(checkpoint, map_location='cpu', strict=True)
    except RuntimeError as err:
        raise SystemExit(f'error: checkpoint {args.checkpoint} does not fit {args.config}:\n{err}')
    if args.deploy:
        from .deploy import deploy_model
        deploy_model(runner.model)
        runner.logger.info('Evaluating the deploy form (every RecNeXt part fused).')
    from .engine.bad_images import BadImageError
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
