"""The benchmark's profiles after timing: ONNX Runtime's per-op profile of each onnxruntime entry
(``--ort-profile``) and OpenVINO's per-layer counters of each openvino entry (``--ov-profile``),
the entries of each runtime profiled round by round in one run, printed as Markdown and returned
for the JSON."""
from typing import Dict

import torch

from .bench_timing import make_input

__all__ = ['ort_profiles', 'openvino_profiles']


def _print_each(runtime: str, out: Dict[str, Dict], markdown, details: str = ''):
    """Prints each profile of ``out`` under a heading naming its entry and input."""
    for label, prof in out.items():
        n, _, h, w = prof['input']
        print(f'\n{runtime} profile of {label} (batch {n}, {h}x{w}, {prof["threads"]} threads'
              f'{details}):\n')
        print(markdown(prof))


def ort_profiles(entries, args) -> Dict[str, Dict]:
    """ORT's profile of every onnxruntime entry at the first batch size, profiled round by round
    in one run (:func:`~.ort_runtime.profile_interleaved`), printed and returned."""
    from .ort_runtime import profile_interleaved, profile_markdown
    batch = args.batch[0]
    todo = {e.label: (e.run.paths[1 if e.run.dynamic else batch], (batch, 3, *e.shape))
            for e in entries if e.runtime == 'onnxruntime' and not e.error}
    out = profile_interleaved(todo, threads=args.threads, optimization=args.ort_opt,
                              top=args.ort_profile) if todo else {}
    _print_each('ORT', out, profile_markdown, f', optimisation {args.ort_opt}')
    return out


def openvino_profiles(entries, args) -> Dict[str, Dict]:
    """OpenVINO's per-layer profile of every openvino entry at the first batch size, profiled
    round by round in one run (:func:`~.openvino_profile.profile_interleaved`), printed and
    returned, keyed ``<model> <runtime>``."""
    from .openvino_profile import kinds_markdown, profile_interleaved, profile_markdown
    batch = args.batch[0]
    ov_entries = {f'{e.label} {e.runtime}': e for e in entries
                  if e.runtime.startswith('openvino-') and not e.error}
    todo = {key: (e.run.models[batch], e.run.precision,
                  make_input(batch, e.shape, args, torch.device('cpu')).numpy())
            for key, e in ov_entries.items()}
    out = profile_interleaved(todo, threads=args.threads, top=args.ov_profile) if todo else {}
    _print_each('OpenVINO', out, profile_markdown)
    if out:
        print(f'\nOpenVINO layer time by kind (batch {batch}, {args.threads} threads; medians of '
              f'the profiled runs, profiled round by round):\n')
        print(kinds_markdown(out))
    if out and args.profile_plot:
        _plot_kinds(out, ov_entries, args)
    return out


def _plot_kinds(out: Dict[str, Dict], ov_entries: Dict, args):
    """``--profile-plot``: the OpenVINO layer time by kind as stacked bars, per GMAC, the entries
    of one runtime together."""
    from datetime import date

    from .environment import cpu_name
    from .openvino_profile import plot_kinds
    batch = args.batch[0]
    runtimes = list(dict.fromkeys(e.runtime for e in ov_entries.values()))
    grouped = {key: out[key] for rt in runtimes for key, e in ov_entries.items()
               if e.runtime == rt and key in out}
    gmacs = {key: e.gmacs * batch for key, e in ov_entries.items() if e.gmacs}
    title = (f'where the time goes (OpenVINO per-layer counters), {cpu_name()}, {args.threads} '
             f'threads, batch {batch}, {date.today().isoformat()}')
    plot_kinds(grouped, args.profile_plot, title, gmacs)
    print(f'\nwrote {args.profile_plot} ({len(out)} entries)')
