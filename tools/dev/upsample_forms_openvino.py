#!/usr/bin/env python
"""Times three exact forms of RecConv's 2x bilinear upsampling inside one model in OpenVINO.

A one-off measurement behind a sentence of docs/deployment.md (section 0), not a product path:
the deploy form's own choices are interpolation and the transposed conv
(``forms.set_transposed_upsampling``), both timed by ``benchmark.py --upsample both``. The forms:

- ``interpolate``: ``F.interpolate(size=...)``, what the deploy form exports;
- ``scale_factor``: ``F.interpolate(scale_factor=2)`` where the size is an exact doubling;
- ``nearest_blur``: nearest 2x, then the ``[1/4, 1/2, 1/4]`` blur in both directions on a
  replicate-padded map (exact: it gives the same two phases as the half-pixel bilinear taps).

For the measurement only, this script swaps ``recconv.interpolate_to`` in its own process (the
package never does). Each form is checked against the first within 1e-5 of the largest output
before it is timed; the calls are interleaved round by round.

    python tools/dev/upsample_forms_openvino.py --model recnext_m3 --precision bf16
"""
import argparse
import time

import torch
import torch.nn.functional as F

import recnext_mm.backbones.layers.recconv as recconv
from recnext_bench import models, openvino_runtime, specs
from recnext_bench.bench_report import timing_stats


def _doubling(y, size):
    return size[0] == 2 * y.shape[-2] and size[1] == 2 * y.shape[-1]


def scale_factor(y, size, mode):
    if mode == 'bilinear' and _doubling(y, size):
        return F.interpolate(y, scale_factor=2., mode='bilinear', align_corners=False)
    return INTERPOLATE(y, size, mode)


def nearest_blur(y, size, mode):
    if mode != 'bilinear' or not _doubling(y, size):
        return INTERPOLATE(y, size, mode)
    taps = torch.tensor([0.25, 0.5, 0.25], dtype=y.dtype)
    kernel = torch.outer(taps, taps).expand(y.shape[1], 1, 3, 3).contiguous()
    up = F.interpolate(y, scale_factor=2., mode='nearest')
    return F.conv2d(F.pad(up, [1, 1, 1, 1], mode='replicate'), kernel, groups=y.shape[1])


INTERPOLATE = recconv.interpolate_to
FORMS = {'interpolate': INTERPOLATE, 'scale_factor': scale_factor, 'nearest_blur': nearest_blur}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='recnext_m3')
    parser.add_argument('--precision', default='bf16', choices=openvino_runtime.PRECISIONS[:2])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=40)
    parser.add_argument('--warmup', type=int, default=5)
    args = parser.parse_args()
    model = models.build(specs.parse_spec(args.model), 'deploy').module.eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    requests, reference = {}, None
    try:
        for name, form in FORMS.items():
            recconv.interpolate_to = form
            with torch.no_grad():
                out = model(x)
            reference = out if reference is None else reference
            err = ((out - reference).abs().max() / reference.abs().max()).item()
            if err > 1e-5:
                raise SystemExit(f'{name}: differs from interpolate by {err:.2e} of the largest '
                                 f'output; not timed.')
            ov_model = openvino_runtime.convert(model, via='torch')
            requests[name] = openvino_runtime.compile_model(
                ov_model, args.precision, args.threads).create_infer_request()
            print(f'{name}: converted, max difference {err:.1e} of the largest output', flush=True)
    finally:
        recconv.interpolate_to = INTERPOLATE
    xn = x.numpy()
    times = {name: [] for name in requests}
    for r in range(args.warmup + args.rounds):
        for name, request in requests.items():
            start = time.perf_counter()
            request.infer({0: xn})
            if r >= args.warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
    print(f'\n{args.model}, OpenVINO {args.precision}, {args.threads} threads, batch 1, 224x224, '
          f'median of {args.rounds} interleaved calls:\n')
    print('| form | median ms | IQR ms |\n|---|---|---|')
    for name, t in times.items():
        stats = timing_stats(t, 1, None)
        print(f'| {name} | {stats["median_ms"]:.2f} | {stats["iqr_ms"]:.2f} |')


if __name__ == '__main__':
    main()
