"""Step (b) of the GPU check: the deploy form's logits against the official-equivalent form's,
in fp32 with TF32 off (:func:`strict_fp32`), within ``Settings.tolerance``. For RecConv-family
archs (M series) the deploy form with transposed-conv upsampling (``set_transposed_upsampling``
on a copy) is compared too: against the deploy form with interpolation within
``Settings.tconv_tolerance`` of the largest absolute logit, and against the train form
(reported)."""
import contextlib
import copy
from typing import Callable, Dict, List, Optional

import torch

from ..golden import randomize_norms
from .settings import Budget, Settings
from .throughput import free_memory, has_recconv

__all__ = ['strict_fp32', 'compare_forms', 'equality_step']


@contextlib.contextmanager
def strict_fp32():
    """TF32 off for cuDNN convolutions and cuBLAS matrix products, restored afterwards.

    Ampere and later GPUs run fp32 convolutions in TF32 by default (10-bit mantissa), which alone
    differs by ~1e-3. The legacy flags are used: their setters keep torch's per-operator precision
    settings consistent, where setting only the new per-operator API would make later reads of the
    legacy flags fail as a mix of both APIs.
    """
    cudnn, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = cudnn
        torch.backends.cuda.matmul.allow_tf32 = matmul


@torch.no_grad()
def compare_forms(arch: str, batch: int, size: int, device: torch.device, seed: int = 0) -> Dict:
    """Max absolute logit differences between the train, official-equivalent and deploy forms of
    timm ``recnext_<arch>`` (randomised BatchNorms), fp32 on ``device``; for RecConv-family archs
    also of the deploy form with transposed upsampling (``tconv_*``; None for other archs)."""
    import timm

    import recnext_mm
    from recnext_mm.backbones import forms as form_switches
    torch.manual_seed(seed)
    model = randomize_norms(timm.create_model(f'recnext_{arch}', pretrained=False), seed).eval()
    forms = dict(train=model,
                 official_fused=recnext_mm.to_form(copy.deepcopy(model), 'official_fused'),
                 deploy=copy.deepcopy(model).fuse())
    tconv_layers = None
    if has_recconv(f'recnext_{arch}'):
        forms['deploy_tconv'] = copy.deepcopy(forms['deploy'])
        tconv_layers = form_switches.set_transposed_upsampling(forms['deploy_tconv'], True)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
    logits = {}
    with strict_fp32(), torch.inference_mode():
        for name, m in forms.items():
            logits[name] = m.to(device)(x.to(device)).float().cpu()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)

    def diff(a, b):
        return float((logits[a] - logits[b]).abs().max())

    scale = float(logits['train'].abs().max())
    tconv = dict(tconv_vs_interpolate=None, relative_tconv_vs_interpolate=None,
                 tconv_vs_train=None)
    if 'deploy_tconv' in logits:
        tconv = dict(tconv_vs_interpolate=diff('deploy_tconv', 'deploy'),
                     relative_tconv_vs_interpolate=diff('deploy_tconv', 'deploy') / scale,
                     tconv_vs_train=diff('deploy_tconv', 'train'))
    return dict(arch=arch, model=f'recnext_{arch}', input=[batch, 3, size, size],
                max_abs_logit=scale, relative_deploy_vs_official=diff('deploy', 'official_fused') / scale,
                deploy_vs_official=diff('deploy', 'official_fused'),
                deploy_vs_train=diff('deploy', 'train'),
                official_vs_train=diff('official_fused', 'train'),
                deploy_has_batchnorm=any('BatchNorm' in type(m).__name__
                                         for m in forms['deploy'].modules()),
                tconv_layers=tconv_layers, **tconv)


def equality_step(settings: Settings, budget: Budget, report: Dict, save: Callable) -> Dict:
    """(b): deploy vs official-equivalent logits within ``settings.tolerance``; for RecConv archs
    the transposed-upsampling deploy form vs the interpolating one within
    ``settings.tconv_tolerance`` x the largest absolute logit."""
    device = torch.device(settings.device)
    step = report['steps']['equality'] = dict(status='running', tolerance=settings.tolerance,
                                              tconv_tolerance=settings.tconv_tolerance,
                                              tf32=False, results=[], failures=[])
    for arch in settings.equality_archs:
        try:
            row = compare_forms(arch, settings.equality_batch, settings.equality_size, device)
        except Exception as err:  # noqa: BLE001
            step['failures'].append(f'recnext_{arch}: {type(err).__name__}: {err}')
            continue
        row['ok'] = row['deploy_vs_official'] <= settings.tolerance and not row[
            'deploy_has_batchnorm']
        if not row['ok']:
            step['failures'].append(
                f'recnext_{arch}: deploy vs official-equivalent logits differ by '
                f'{row["deploy_vs_official"]:.3g} > {settings.tolerance:g}'
                f'{" (BatchNorm left in the deploy form)" if row["deploy_has_batchnorm"] else ""}')
        row['tconv_ok'] = _check_tconv(row, settings.tconv_tolerance, step['failures'])
        row['ok'] = row['ok'] and row['tconv_ok'] is not False
        step['results'].append(row)
        save()
    free_memory()
    step['status'] = 'fail' if step['failures'] else 'pass'
    return step


def _check_tconv(row: Dict, tolerance: float, failures: List[str]) -> Optional[bool]:
    """None for archs without RecConv, else whether the transposed form switched a RecConv and
    matched interpolation; appends the failure message."""
    if row['tconv_layers'] is None:
        return None
    rel = row['relative_tconv_vs_interpolate']
    if row['tconv_layers'] == 0:  # nothing switched: the comparison would prove nothing
        failures.append(f'{row["model"]}: set_transposed_upsampling switched no RecConv')
        return False
    if not rel <= tolerance:  # also NaN
        failures.append(
            f'{row["model"]}: deploy form with transposed upsampling vs interpolation: logits '
            f'differ by {row["tconv_vs_interpolate"]:.3g} = {rel:.3g} x the largest absolute '
            f'logit {row["max_abs_logit"]:.3g} > {tolerance:g}')
        return False
    return True
