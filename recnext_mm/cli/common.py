"""The arguments ``tools/train.py`` and ``tools/test.py`` share, loading the config and building
the Runner."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

from ..builder import import_task, task_of
from .cpu_distributed import setup_cpu_distributed

__all__ = ['new_parser', 'add_common_arguments', 'default_work_dir', 'load_config', 'build_runner']


def new_parser(description: str, epilog: str) -> argparse.ArgumentParser:
    """The parser of a command on a config: ``description`` (a script's docstring) shown as
    written, and the ``config`` argument."""
    parser = argparse.ArgumentParser(description=description, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    return parser


def add_common_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument('--work-dir', help='output directory (default: work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.init_cfg.checkpoint=x.pth')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (pytorch: torchrun, see tools/dist_train.sh)')
    # --local_rank: what torch.distributed.launch passes (torchrun sets LOCAL_RANK instead).
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    return parser


def default_work_dir(config_path: str) -> str:
    return osp.join('work_dirs', osp.splitext(osp.basename(config_path))[0])


def load_config(args: argparse.Namespace) -> Config:
    """Loads ``args.config``, merges ``--cfg-options`` and applies the common arguments: the work
    dir (created), the launcher (a CPU-only ``pytorch`` launch made to work) and the task's
    registries."""
    import recnext_mm  # noqa: F401  (safe checkpoint loading, registration)
    import recnext_mm.engine  # noqa: F401  (atomic checkpoints, resume checks, bad images)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = Config.fromfile(args.config)
    if getattr(args, 'cfg_options', None):
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    os.makedirs(cfg.work_dir, exist_ok=True)
    import_task(task_of(cfg))
    setup_cpu_distributed(cfg)
    return cfg


def build_runner(cfg: Config):
    """The Runner of ``cfg``: its ``runner_type`` (``RecNeXtRunner`` in our configs) or
    mmengine's."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
