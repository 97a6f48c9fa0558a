"""What the benchmark times: the (model spec, form, runtime) triples of a run (:func:`plan`),
the row runtimes of OpenVINO's precisions and converters (:func:`expand_runtimes`) and the
upsampling forms of the M series (:func:`upsample_variants`); see :mod:`.benchmark`."""
import sys
from typing import List, Optional, Sequence

from recnext_mm.backbones.archs import get_arch
from recnext_mm.backbones.recnext import RecNeXt
from recnext_mm.backbones.forms import MEASURED_FASTER

from .bench_report import RUNTIMES as _REPORT_RUNTIMES
from .specs import ModelSpec, load_config, parse_spec

__all__ = ['RUNTIMES', 'UPSAMPLE_CHOICES', 'EXPORTED', 'plan', 'runtime_base', 'expand_runtimes',
           'openvino_parts', 'upsample_variants']

# The runtimes of --runtime; 'openvino' expands to one row per --ov-precision (openvino-fp32 ...).
RUNTIMES = tuple(dict.fromkeys(_REPORT_RUNTIMES + ('openvino',)))
UPSAMPLE_CHOICES = ('auto', 'interpolate', 'transposed', 'both')
EXPORTED = ('onnxruntime', 'openvino')  # runtimes that time an exported deploy graph


def _has_recnext_backbone(config: str) -> bool:
    backbone = load_config(config).model.get('backbone') or {}
    return backbone.get('type') in ('RecNeXt', RecNeXt)


def plan(models: List[str], forms: List[str], official_dir: Optional[str],
         runtimes: Sequence[str] = ('eager',)) -> List[tuple]:
    """(spec, form, runtime) triples to time, in order. Peers have no 'official_fused' form and configs
    of other backbones (a ResNet-50 Mask R-CNN) only their train form; with ``official_dir`` each
    ``recnext_<arch>`` is followed by ``official:<arch>``. ONNX Runtime times the deploy form of
    backbones, classifiers and peers (torch runtimes only for configs and the official
    implementation)."""
    pairs = []
    for name in models:
        spec = parse_spec(name)
        if spec.kind == 'official':
            pairs.append((spec, 'official-impl'))
            continue
        fused_forms = spec.kind != 'config' or _has_recnext_backbone(spec.name)
        for form in forms:
            if spec.kind == 'timm' and form == 'official_fused':
                continue
            if form != 'train' and not fused_forms:
                print(f'[skip] {spec.name} ({form}): the fused forms are defined for RecNeXt '
                      f'backbones only; timed in its train form.', file=sys.stderr)
                continue
            pairs.append((spec, form))
        if official_dir and spec.kind == 'classifier':
            pairs.append((parse_spec(f'official:{spec.arch}'), 'official-impl'))
    triples, seen = [], set()
    for spec, form in pairs:
        for runtime in runtimes:
            exported = runtime_base(runtime) in EXPORTED
            if exported and (form != 'deploy' or spec.kind in ('config', 'official')):
                if form == 'deploy' or 'deploy' not in forms:
                    print(f'[skip] {spec.name} ({form}, {runtime}): the exported runtimes time the '
                          f'deploy form of backbones, classifiers and timm peers only.',
                          file=sys.stderr)
                continue
            key = (spec.name, form, runtime)
            if key not in seen:
                seen.add(key)
                triples.append((spec, form, runtime))
    return triples


def runtime_base(runtime: str) -> str:
    """'openvino-bf16' -> 'openvino'."""
    return runtime.split('-', 1)[0]


def expand_runtimes(runtimes: Sequence[str], ov_precisions: Sequence[str],
                    ov_vias: Sequence[str] = ('onnx',)) -> List[str]:
    """The row runtimes: ``openvino`` becomes ``openvino-<precision>`` per precision (through
    the first converter of ``ov_vias``) and ``openvino-<precision>-<via>`` for the others."""
    out: List[str] = []
    for runtime in runtimes:
        if runtime != 'openvino':
            out.append(runtime)
            continue
        for k, via in enumerate(ov_vias):
            out += [f'openvino-{p}' + (f'-{via}' if k else '') for p in ov_precisions]
    return list(dict.fromkeys(out))


def openvino_parts(runtime: str, args) -> tuple:
    """'openvino-bf16-torch' -> ('bf16', 'torch'); without a converter the first --ov-via."""
    parts = runtime.split('-')
    return parts[1], parts[2] if len(parts) > 2 else args.ov_via[0]


def upsample_variants(spec: ModelSpec, form: str, runtime: str, choice: str) -> List[Optional[str]]:
    """The upsampling forms to time for one (model, form, runtime): ``[None]`` where there is
    no choice (no RecConv, not the deploy form), else 'interpolate' and/or 'transposed'."""
    if form != 'deploy' or spec.kind not in ('backbone', 'classifier', 'config'):
        return [None]
    if spec.kind != 'config' and get_arch(spec.arch)['family'] != 'recconv':
        return [None]
    if choice == 'both':
        return ['interpolate', 'transposed']
    if choice == 'auto':
        return ['transposed' if MEASURED_FASTER.get(runtime_base(runtime)) else 'interpolate']
    return [choice]
