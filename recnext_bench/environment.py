"""The machine and library facts a measurement depends on, recorded with every report:
:func:`environment` (benchmark, train cost, GPU check) and :func:`cpu_name`."""
import datetime
import os
import platform
from typing import Dict, Optional, Union

import torch

__all__ = ['cpu_name', 'environment']


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` where that is missing)."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            return next((line.split(':', 1)[1].strip() for line in f if 'model name' in line),
                        platform.processor())
    except OSError:
        return platform.processor()


def environment(device: Optional[Union[str, torch.device]] = None) -> Dict:
    """Date (UTC), versions, CPU, threads, OpenMP setting and load; with ``device`` also the
    device and, on CUDA, the GPU, its memory and the CUDA / cuDNN versions."""
    env = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
               python=platform.python_version(), torch=torch.__version__,
               platform=platform.platform(), cpu=cpu_name(), cpu_count=os.cpu_count(),
               omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
               torch_threads=torch.get_num_threads(),
               torch_interop_threads=torch.get_num_interop_threads(),
               mkldnn=torch.backends.mkldnn.is_available())
    try:
        import timm
        env['timm'] = timm.__version__
    except ImportError:
        pass
    try:
        env['load_average'] = list(os.getloadavg())
    except OSError:
        pass
    if device is not None:
        device = torch.device(device)
        env['device'] = str(device)
        if device.type == 'cuda':
            props = torch.cuda.get_device_properties(device)
            env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                       cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return env
