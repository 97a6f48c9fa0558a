"""``--launcher pytorch`` (tools/dist_*.sh) on a machine without a GPU."""
from mmengine.config import Config, ConfigDict

__all__ = ['setup_cpu_distributed']


def setup_cpu_distributed(cfg: Config) -> None:
    """Makes ``--launcher pytorch`` work on a machine without a GPU.

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
