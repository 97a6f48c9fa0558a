"""Steps (c) and (d) of the GPU check: a short toy training of the detection and segmentation
configs with AMP, (d) under torchrun with SyncBN, through ``recnext_mm.cli.train.main``
(what ``tools/train.py`` runs) started as ``python -m recnext_bench.gpu_check.train_entry``; every
loss of the json log must be finite and the last iteration reached (:func:`check_train_log`)."""
import glob
import json
import math
import os
import os.path as osp
import shutil
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

from .procs import module_command, run_error, run_logged
from .settings import TRAIN_CONFIGS, Budget, Settings, checkout_root

__all__ = ['norm_cfg_paths', 'sync_norm_options', 'prepare_toy_data', 'train_options',
           'read_json_log', 'check_train_log', 'load_config', 'train_run', 'train_step']

_BN_TYPES = ('BN', 'BN2d', 'SyncBN', 'MMSyncBN')
# The training the subprocesses run: recnext_mm.cli.train.main, as tools/train.py does.
TRAIN_ENTRY = 'recnext_bench.gpu_check.train_entry'


def norm_cfg_paths(node: Any, prefix: str = 'model') -> Dict[str, str]:
    """``{dotted path of a norm_cfg: its type}`` for every ``norm_cfg`` dict below ``node``."""
    found = {}
    if isinstance(node, dict):
        for key, value in node.items():
            path = f'{prefix}.{key}'
            if key == 'norm_cfg' and isinstance(value, dict) and 'type' in value:
                found[path] = str(value['type'])
            else:
                found.update(norm_cfg_paths(value, path))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found.update(norm_cfg_paths(value, f'{prefix}.{i}'))
    return found


def sync_norm_options(model_cfg: Dict, norm_type: str = 'SyncBN') -> List[str]:
    """``--cfg-options`` entries that switch every BatchNorm ``norm_cfg`` of a model config to
    ``norm_type`` (``model.backbone.norm_cfg.type=SyncBN`` ...)."""
    return [f'{path}.type={norm_type}' for path, kind in norm_cfg_paths(model_cfg).items()
            if kind in _BN_TYPES]


def prepare_toy_data(task: str, root: str, num_train: int, image_size: int) -> str:
    """Writes the toy training set of ``task`` under ``root`` (the generators of
    ``tools/data/make_toy_{coco,ade}.py``) and returns its data root."""
    path = osp.join(root, 'toy_coco' if task == 'detection' else 'toy_ade')
    stamp = osp.join(path, 'gpu_check_data.json')
    params = dict(task=task, num_train=num_train, image_size=image_size, seed=0)
    if osp.isfile(stamp):  # written by step (c): (d) trains on the same files
        with open(stamp, encoding='utf-8') as f:
            if json.load(f) == params:
                return path + '/'
    if task == 'detection':
        from recnext_mm.toy_data.coco import make_toy_coco
        make_toy_coco(path, num_train=num_train, num_val=1, image_size=max(64, image_size),
                      splits=('train',))
    else:
        from recnext_mm.toy_data.ade import make_toy_ade
        make_toy_ade(path, num_train=num_train, num_val=1)
    with open(stamp, 'w', encoding='utf-8') as f:
        json.dump(params, f)
    return path + '/'


def train_options(task: str, cfg, settings: Settings, data_root: str) -> List[str]:
    """``--cfg-options`` for ``settings.train_iters`` iterations of a toy config on ``data_root``
    with every iteration's losses in the json log and no checkpoint written."""
    batch = settings.train_batch or cfg.train_dataloader.batch_size
    options = [f'train_dataloader.dataset.data_root={data_root}',
               f'train_dataloader.batch_size={batch}',
               'default_hooks.logger.interval=1', 'log_processor.window_size=1',
               'default_hooks.checkpoint=None']
    if 'max_epochs' in cfg.train_cfg:  # epoch-based (detection): one epoch of iters x batch images
        options += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                    f'train_dataloader.dataset.indices={settings.train_iters * batch}']
    else:
        options += [f'train_cfg.max_iters={settings.train_iters}',
                    f'train_cfg.val_interval={settings.train_iters}']
    if settings.dataloader_workers is not None:
        options += [f'train_dataloader.num_workers={settings.dataloader_workers}']
        if settings.dataloader_workers == 0:
            options += ['train_dataloader.persistent_workers=False']
    return options


def read_json_log(work_dir: str) -> Tuple[Optional[str], List[Dict]]:
    """The scalar records of the newest mmengine json log under ``work_dir``
    (``<timestamp>/vis_data/<timestamp>.json``, one JSON object per logged iteration)."""
    paths = [p for p in glob.glob(osp.join(work_dir, '*', 'vis_data', '*.json'))
             if osp.basename(p) != 'scalars.json']
    if not paths:
        return None, []
    path = max(paths, key=osp.getmtime)
    records = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))  # NaN / Infinity parse to float
    return path, records


def check_train_log(work_dir: str, config: str, expected_iters: int) -> Dict:
    """Checks a toy training's json log: every loss finite, the last iteration reached.

    Returns:
        dict: ``json_log``, ``iterations`` (last logged), ``loss_keys``, ``first_loss``,
        ``last_loss``, ``max_abs_loss``, ``nonfinite`` (up to 10 entries) and ``failures``
        (messages naming ``config``; empty when it passed).
    """
    name = osp.basename(config)
    path, records = read_json_log(work_dir)
    out = dict(json_log=path, iterations=None, loss_keys=[], first_loss=None, last_loss=None,
               max_abs_loss=None, nonfinite=[], failures=[])
    if path is None:
        out['failures'].append(f'{name}: no json log under {work_dir}/*/vis_data/')
        return out
    losses = [r for r in records if any('loss' in k for k in r)]
    if not losses:
        out['failures'].append(f'{name}: no loss logged in {path}')
        return out
    keys = sorted({k for r in losses for k in r if 'loss' in k})
    out['loss_keys'] = keys
    out['iterations'] = max(int(r.get('iter', r.get('step', 0))) for r in losses)
    finite_max = 0.
    for r in losses:
        for k in keys:
            if k not in r:
                continue
            value = float(r[k])
            if not math.isfinite(value):
                if len(out['nonfinite']) < 10:
                    out['nonfinite'].append(dict(iter=r.get('iter', r.get('step')), key=k,
                                                 value=str(value)))
            else:
                finite_max = max(finite_max, abs(value))
    out['max_abs_loss'] = finite_max
    out['first_loss'] = losses[0].get('loss')
    out['last_loss'] = losses[-1].get('loss')
    if out['nonfinite']:
        first = out['nonfinite'][0]
        out['failures'].append(f'{name}: non-finite loss {first["key"]}={first["value"]} at '
                               f'iteration {first["iter"]} ({len(out["nonfinite"])} non-finite '
                               f'values; log: {path})')
    if out['iterations'] != expected_iters:
        out['failures'].append(f'{name}: last logged iteration {out["iterations"]}, expected '
                               f'{expected_iters} (log: {path})')
    return out


def load_config(path: str):
    """``mmengine.Config.fromfile`` without the deprecation warnings of resolving ``mmdet::``
    bases (one per base file, repeated in every process)."""
    from mmengine.config import Config
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return Config.fromfile(path)


def train_run(task: str, config: str, cfg, settings: Settings, timeout: float, distributed: bool,
              data_root: str) -> Dict:
    """One toy training of ``config`` (loaded: ``cfg``) through :mod:`.train_entry` (the
    training of ``tools/train.py``), under torchrun when ``distributed``."""
    root = checkout_root()
    config_path = osp.join(root, config)
    stem = osp.splitext(osp.basename(config))[0]
    work_dir = osp.join(settings.out_dir, 'dist' if distributed else 'train', stem)
    shutil.rmtree(work_dir, ignore_errors=True)
    options = train_options(task, cfg, settings, data_root)
    norm_options = sync_norm_options(cfg.model, settings.sync_norm) if distributed else []
    args = [config_path, '--work-dir', work_dir, '--no-validate']
    args += ['--amp'] if settings.amp else []
    args += ['--launcher', 'pytorch'] if distributed else []
    cmd = module_command(TRAIN_ENTRY, *args, '--cfg-options', *options, *norm_options,
                         torchrun=distributed)
    result = dict(task=task, config=config, launcher='pytorch' if distributed else 'none',
                  amp=settings.amp, norm=settings.sync_norm if distributed else 'config',
                  expected_iters=settings.train_iters, work_dir=work_dir, failures=[])
    pythonpath = os.pathsep.join(p for p in (root, os.environ.get('PYTHONPATH')) if p)
    run = run_logged(cmd, work_dir + '.log', timeout,
                     env=dict(settings.subprocess_env, PYTHONPATH=pythonpath), cwd=root)
    result.update(run)
    if run['timed_out'] and timeout < settings.train_timeout_s:
        result['skipped'] = (f'{osp.basename(config)}: stopped after {run["seconds"]:.0f} s, when '
                             f'the time budget ran out')
    elif run['rc'] != 0:
        result['failures'].append(run_error(f'{osp.basename(config)} ({task}, '
                                             f'launcher {result["launcher"]})', run))
    log = check_train_log(work_dir, config, settings.train_iters)
    result.update({k: v for k, v in log.items() if k != 'failures'})
    # A run that failed or was stopped is still checked for non-finite losses up to there.
    result['failures'] += [f for f in log['failures'] if run['rc'] == 0 or 'non-finite' in f]
    if distributed and run['rc'] == 0:
        result['failures'] += _check_dumped_config(work_dir, config, norm_options,
                                                   settings.sync_norm)
    result['norm_layers_switched'] = [o.split('=')[0][:-len('.type')] for o in norm_options]
    result['status'] = ('fail' if result['failures'] else 'skipped' if result.get('skipped')
                        else 'pass')
    return result


def _check_dumped_config(work_dir: str, config: str, norm_options: List[str],
                         norm_type: str) -> List[str]:
    """The Runner's dump of the config it ran: launcher pytorch, the norms switched."""
    name = osp.basename(config)
    dumped = osp.join(work_dir, name)
    if not osp.isfile(dumped):
        return [f'{name}: the Runner did not dump its config to {dumped}']
    cfg = load_config(dumped)
    failures = []
    if cfg.get('launcher') != 'pytorch':
        failures.append(f'{name}: ran with launcher {cfg.get("launcher")!r}, not pytorch')
    types = norm_cfg_paths(cfg.model)
    for option in norm_options:
        path = option.split('=')[0][:-len('.type')]
        if types.get(path) != norm_type:
            failures.append(f'{name}: {path}.type is {types.get(path)!r}, not {norm_type}')
    if not norm_options:
        failures.append(f'{name}: no BatchNorm norm_cfg found to switch to {norm_type}')
    return failures


def train_step(settings: Settings, budget: Budget, report: Dict, save: Callable,
               distributed: bool) -> Dict:
    """(c) (``distributed=False``) or (d): both toy configs."""
    key = 'dist' if distributed else 'train'
    step = report['steps'][key] = dict(status='running', runs=[], failures=[], skipped=[])
    data_dir = osp.join(settings.out_dir, 'data')
    for task, config in TRAIN_CONFIGS:
        timeout = budget.timeout(settings.train_timeout_s)
        if timeout < 20:
            step['skipped'].append(f'{osp.basename(config)}: not run, time budget spent')
            continue
        try:
            cfg = load_config(osp.join(checkout_root(), config))
            batch = settings.train_batch or cfg.train_dataloader.batch_size
            # Detection: one epoch of exactly iters x batch images; segmentation (iteration-based,
            # an infinite sampler): the toy set's default size.
            num_train = (settings.train_iters * batch if task == 'detection'
                         else max(batch, settings.seg_train_images))
            data_root = prepare_toy_data(task, data_dir, num_train, settings.toy_image_size)
            timeout = budget.timeout(settings.train_timeout_s)  # after the data generation
            run = train_run(task, config, cfg, settings, timeout, distributed, data_root)
        except Exception as err:  # noqa: BLE001  (reported; the other config goes on)
            run = dict(task=task, config=config, status='fail',
                       failures=[f'{osp.basename(config)}: {type(err).__name__}: {err}'])
        step['runs'].append(run)
        step['failures'] += run['failures']
        if run.get('skipped'):
            step['skipped'].append(run['skipped'])
        save()
    step['status'] = ('fail' if step['failures'] else 'incomplete' if step['skipped'] else 'pass')
    return step
