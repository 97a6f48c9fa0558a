"""The report of the GPU check: its Markdown tables (:func:`markdown`), the JSON and Markdown
files (:func:`write_report`), the overall status and the exit code."""
import json
import os
import os.path as osp
from typing import Dict, List, Tuple

from ..output import fmt
from .settings import FORM_ORDER, STEP_TITLES, STEPS
from .throughput import TCONV_SUFFIX, has_recconv, row_key, split_label

__all__ = ['markdown', 'write_report', 'overall_status', 'exit_code']


def markdown(report: Dict) -> str:
    """The Markdown tables of a report (see :func:`run_check`)."""
    env = report['environment']
    where = env.get('gpu') or f'CPU {env.get("cpu")}'
    lines = [f'# GPU check: {report["status"].upper()}', '']
    if report['dry_run']:
        lines += ['**Dry run** (CPU, tiny sizes): checks the code paths; no figure below is a GPU '
                  'figure.', '']
    lines += [f'{where}, torch {env["torch"]}'
              + (f', CUDA {env["cuda"]}, cuDNN {env["cudnn"]}' if env.get('cuda') else '')
              + f', {env["date"]}; `{report["command"]}`', '']
    lines += ['| step | status | note |', '|---|---|---|']
    for key in STEPS:
        step = report['steps'].get(key)
        if step is None:
            continue
        note = '; '.join((step.get('failures') or []) + (step.get('skipped') or []))[:300]
        lines.append(f'| {STEP_TITLES[key]} | {step["status"]} | {note.replace(chr(10), " ")} |')
    steps = report['steps']
    if 'benchmark' in steps:
        lines += ['', *_benchmark_markdown(steps['benchmark'])]
    if 'equality' in steps:
        lines += ['', *_equality_markdown(steps['equality'])]
    for key in ('train', 'dist'):
        if key not in steps:
            continue
        lines += ['', f'## {STEP_TITLES[key]}', '',
                  '| config | launcher | norm | AMP | iterations | first loss | last loss | '
                  'max abs loss | non-finite | seconds | status |',
                  '|---|---|---|---|---|---|---|---|---|---|---|']
        for r in steps[key]['runs']:
            lines.append(
                f'| {osp.basename(r["config"])} | {r.get("launcher", "-")} | '
                f'{r.get("norm", "-")} | {"fp16" if r.get("amp") else "off"} | '
                f'{r.get("iterations")}/{r.get("expected_iters")} | '
                f'{fmt(r.get("first_loss"), ".4g")} | {fmt(r.get("last_loss"), ".4g")} | '
                f'{fmt(r.get("max_abs_loss"), ".4g")} | {len(r.get("nonfinite") or [])} | '
                f'{fmt(r.get("seconds"), ".0f")} | {r["status"]} |')
    return '\n'.join(lines) + '\n'


def _equality_markdown(eq: Dict) -> List[str]:
    lines = [f'## {STEP_TITLES["equality"]} (fp32, TF32 off; max |diff| of logits, '
             f'tolerance {eq["tolerance"]:g})', '',
             '| model | input | max abs logit | deploy vs official | (relative) | '
             'deploy vs train | official vs train | ok |', '|---|---|---|---|---|---|---|---|']
    for r in eq['results']:
        lines.append(f'| {r["model"]} | {"x".join(map(str, r["input"]))} | '
                     f'{r["max_abs_logit"]:.3g} | {r["deploy_vs_official"]:.2e} | '
                     f'{r["relative_deploy_vs_official"]:.1e} | '
                     f'{r["deploy_vs_train"]:.2e} | {r["official_vs_train"]:.2e} | '
                     f'{"yes" if r["ok"] else "NO"} |')
    tconv = [r for r in eq['results'] if r.get('tconv_layers') is not None]
    if tconv:
        # reports written before the tconv comparison have no tconv_tolerance
        lines += ['', f'Deploy form with transposed-conv upsampling (RecConv archs; tolerance '
                      f'{eq.get("tconv_tolerance", float("nan")):g} x max abs logit against '
                      f'the deploy form with interpolation):', '',
                  '| model | RecConv switched | tconv vs interpolate | (relative) | '
                  'tconv vs train | ok |', '|---|---|---|---|---|---|']
        for r in tconv:
            lines.append(f'| {r["model"]} | {r["tconv_layers"]} | '
                         f'{fmt(r["tconv_vs_interpolate"], ".2e")} | '
                         f'{fmt(r["relative_tconv_vs_interpolate"], ".1e")} | '
                         f'{fmt(r["tconv_vs_train"], ".2e")} | '
                         f'{"yes" if r.get("tconv_ok") else "NO"} |')
    return lines


def _benchmark_markdown(step: Dict) -> List[str]:
    lines = [f'## {STEP_TITLES["benchmark"]} (images/s, {step["image_size"]}x{step["image_size"]}, '
             f'largest power-of-two batch <= {step["batch_cap"]} that fits)', '',
             '| model | batch | peak GiB (fp32) | form | fp32 | bf16 | fp32 compiled | '
             'bf16 compiled |', '|---|---|---|---|---|---|---|---|']
    ips = {row_key(r): r for r in step['results']}
    models = list(dict.fromkeys([*step['batches'],
                                 *(split_label(r['model'])[0] for r in step['results'])]))
    for model in models:
        probe = step['batches'].get(model, {})
        # the transposed-upsampling deploy rows follow the deploy row, named as the benchmark does
        lines_of = [(model, form) for form in FORM_ORDER] + [(model + TCONV_SUFFIX, 'deploy')]
        for label, form in lines_of:
            cells = []
            for dtype, compiled in (('fp32', False), ('bf16', False), ('fp32', True),
                                    ('bf16', True)):
                row = ips.get((label, form, dtype, compiled))
                cells.append('-' if row is None else 'error' if row.get('error')
                             else f'{row["img_per_s"]:.0f} (b{row["batch"]})'
                             if row['batch'] != probe.get('batch') else f'{row["img_per_s"]:.0f}')
            if all(c == '-' for c in cells):
                continue
            lines.append(f'| {label} | {probe.get("batch", "-")} | '
                         f'{fmt(probe.get("peak_memory_gib"), ".1f")} | {form} | ' +
                         ' | '.join(cells) + ' |')
    ratios = [r for r in step.get('ratios', []) if r['versus'] == 'official_fused']
    if ratios:
        lines += ['', 'Deploy-form throughput / official-equivalent form (eager), same dtype '
                      '(issue #15 target for the M series: at least 2):', '',
                  '| model | dtype | deploy eager | deploy compiled | M-series target |',
                  '|---|---|---|---|---|']
        table: Dict[Tuple[str, str], Dict[bool, float]] = {}
        for r in ratios:
            table.setdefault((r['model'], r['dtype']), {})[r['deploy_compiled']] = r['ratio']
        for (model, dtype), value in table.items():
            target = ('-' if not has_recconv(model)
                      else 'met' if max(value.values()) >= 2 else 'not met')
            lines.append(f'| {model} | {dtype} | {fmt(value.get(False), ".2f")} | '
                         f'{fmt(value.get(True), ".2f")} | {target} |')
    return lines + _upsample_markdown(step)


def _upsample_markdown(step: Dict) -> List[str]:
    ratios = step.get('upsample_ratios') or []
    if not ratios:
        return []
    lines = ['', 'Deploy form of the RecConv (M-series) models, transposed-conv / interpolation '
                 'upsampling throughput (> 1: transposed faster; issue #23; eager: both forms '
                 'in the same rounds, compiled: one subprocess per form):', '',
             '| model | dtype | compiled | tconv img/s | interpolate img/s | tconv / interpolate |',
             '|---|---|---|---|---|---|']
    for r in ratios:
        lines.append(f'| {r["model"]} | {r["dtype"]} | {"yes" if r["compiled"] else "no"} | '
                     f'{r["tconv_img_per_s"]:.0f} | {r["interpolate_img_per_s"]:.0f} | '
                     f'{r["ratio"]:.2f} |')
    lines += ['', 'Faster upsampling per dtype and runtime, and what '
                  '`recnext_mm.backbones.forms.MEASURED_FASTER` (CPU measurements, no per-device '
                  'entry; not changed here) would need for this device:', '']
    for s in step.get('upsample_suggestion') or []:
        need = ('no single value (the models disagree)' if s['measured_faster'] is None
                else f'`MEASURED_FASTER[{s["runtime"]!r}] = {s["measured_faster"]}`')
        lines.append(f'- {s["dtype"]}, {"compiled" if s["compiled"] else "eager"}: '
                     f'{s["faster"]} faster; {need} (now {s["current"]})')
    return lines


def write_report(report: Dict, out_dir: str) -> Tuple[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    json_path, md_path = osp.join(out_dir, 'gpu_check.json'), osp.join(out_dir, 'gpu_check.md')
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1)
    with open(md_path, 'w', encoding='utf-8') as f:
        f.write(markdown(report))
    return json_path, md_path


def overall_status(report: Dict) -> str:
    states = [s['status'] for s in report['steps'].values()]
    if any(s in ('fail', 'running') for s in states):
        return 'fail'
    return 'incomplete' if any(s != 'pass' for s in states) else 'pass'


def exit_code(report: Dict) -> int:
    """0 pass, 1 fail, 2 incomplete (the time budget left something unrun)."""
    return {'pass': 0, 'fail': 1}.get(report['status'], 2)
