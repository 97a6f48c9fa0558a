"""The benchmark's profiles after timing: ONNX Runtime's per-op profile of each onnxruntime entry
(``--ort-profile``) and OpenVINO's per-layer counters of each openvino entry (``--ov-profile``),
printed as Markdown and returned for the JSON."""
from typing import Dict

import torch

from .bench_timing import make_input

__all__ = ['ort_profiles', 'openvino_profiles']


def ort_profiles(entries, args) -> Dict[str, Dict]:
    """ORT's profile of every onnxruntime entry at the first batch size, printed and returned."""
    from .ort_runtime import profile_markdown, profile_ops
    batch, out = args.batch[0], {}
    for e in entries:
        if e.runtime != 'onnxruntime' or e.error:
            continue
        path = e.run.paths[1 if e.run.dynamic else batch]
        out[e.label] = profile_ops(path, (batch, 3, *e.shape), threads=args.threads,
                                   optimization=args.ort_opt, top=args.ort_profile)
        print(f'\nORT profile of {e.label} (batch {batch}, {e.shape[0]}x{e.shape[1]}, '
              f'{args.threads} threads, optimisation {args.ort_opt}):\n')
        print(profile_markdown(out[e.label]))
    return out


def openvino_profiles(entries, args) -> Dict[str, Dict]:
    """OpenVINO's per-layer profile of every openvino entry at the first batch size, printed and
    returned, keyed ``<model> <runtime>``."""
    from .openvino_profile import kinds_markdown, profile_layers, profile_markdown
    batch, out = args.batch[0], {}
    for e in entries:
        if not e.runtime.startswith('openvino-') or e.error:
            continue
        x = make_input(batch, e.shape, args, torch.device('cpu')).numpy()
        key = f'{e.label} {e.runtime}'
        out[key] = profile_layers(e.run.models[batch], e.run.precision, x, threads=args.threads,
                                  top=args.ov_profile)
        print(f'\nOpenVINO profile of {e.label}, {e.runtime} (batch {batch}, '
              f'{e.shape[0]}x{e.shape[1]}, {args.threads} threads):\n')
        print(profile_markdown(out[key]))
    if out:
        print(f'\nOpenVINO layer time by kind (batch {batch}, {args.threads} threads; medians of '
              f'the profiled runs):\n')
        print(kinds_markdown(out))
    return out
