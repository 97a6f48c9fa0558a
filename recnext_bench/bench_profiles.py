"""The benchmark's profiles after timing: ONNX Runtime's per-op profile of each onnxruntime entry
(``--ort-profile``) and OpenVINO's per-layer counters of each openvino entry (``--ov-profile``),
the entries of each runtime profiled round by round in one run, printed as Markdown and returned
for the JSON."""
from typing import Dict

import torch

from .bench_timing import make_input

__all__ = ['ort_profiles', 'openvino_profiles']


def ort_profiles(entries, args) -> Dict[str, Dict]:
    """ORT's profile of every onnxruntime entry at the first batch size, profiled round by round
    in one run (:func:`~.ort_runtime.profile_interleaved`), printed and returned."""
    from .ort_runtime import profile_interleaved, profile_markdown
    batch, todo = args.batch[0], {}
    for e in entries:
        if e.runtime != 'onnxruntime' or e.error:
            continue
        todo[e.label] = (e.run.paths[1 if e.run.dynamic else batch], (batch, 3, *e.shape))
    out = profile_interleaved(todo, threads=args.threads, optimization=args.ort_opt,
                              top=args.ort_profile) if todo else {}
    for label, prof in out.items():
        shape = todo[label][1]
        print(f'\nORT profile of {label} (batch {batch}, {shape[2]}x{shape[3]}, '
              f'{args.threads} threads, optimisation {args.ort_opt}):\n')
        print(profile_markdown(prof))
    return out


def openvino_profiles(entries, args) -> Dict[str, Dict]:
    """OpenVINO's per-layer profile of every openvino entry at the first batch size, profiled
    round by round in one run (:func:`~.openvino_profile.profile_interleaved`), printed and
    returned, keyed ``<model> <runtime>``."""
    from .openvino_profile import kinds_markdown, profile_interleaved, profile_markdown
    batch, todo = args.batch[0], {}
    for e in entries:
        if not e.runtime.startswith('openvino-') or e.error:
            continue
        x = make_input(batch, e.shape, args, torch.device('cpu')).numpy()
        todo[f'{e.label} {e.runtime}'] = (e.run.models[batch], e.run.precision, x, e.shape)
    out = profile_interleaved({k: v[:3] for k, v in todo.items()}, threads=args.threads,
                              top=args.ov_profile) if todo else {}
    for key, prof in out.items():
        shape = todo[key][3]
        print(f'\nOpenVINO profile of {key} (batch {batch}, {shape[0]}x{shape[1]}, '
              f'{args.threads} threads):\n')
        print(profile_markdown(prof))
    if out:
        print(f'\nOpenVINO layer time by kind (batch {batch}, {args.threads} threads; medians of '
              f'the profiled runs, profiled round by round):\n')
        print(kinds_markdown(out))
    return out
