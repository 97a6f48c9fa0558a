"""recnext_bench: the measurement and deployment tooling of the recnext-mm checkout, the logic
behind ``tools/analysis_tools``, ``tools/deployment`` and ``tools/gpu_check.py`` (thin entry
points). It is not the library: models, checkpoints, forms and the task registrations are
``recnext_mm``.

Layering: ``recnext_bench`` imports ``recnext_mm``; ``recnext_mm`` never imports
``recnext_bench``, and neither imports ``tools`` or ``tests`` nor runs a ``tools/`` script
(tests/test_layering.py checks it). Reference data of the tests (``tests/data``) is written by
``tools/dev`` from the helpers here, never read here by a default path.

Modules, by concern:

- shared: :mod:`.specs` (model specs: arch, ``recnext_<arch>``, timm name, config), :mod:`.models`
  (a spec in the train / deploy / official_fused form), :mod:`.environment` (machine and library facts
  of a report), :mod:`.output` (table cells, JSON), :mod:`.cli` (input sizes, the export tools'
  common arguments), :mod:`.optional` (the optional dependencies and their install hint);
  parameters and MACs are counted by the library (:mod:`recnext_mm.complexity`);
- speed: :mod:`.benchmark` (command line and run), :mod:`.bench_plan` (what is timed),
  :mod:`.bench_timing` (how), :mod:`.bench_report` (statistics and tables), :mod:`.peak` (the GEMM
  peak), :mod:`.latency_plot` (latency against published top-1);
- cost and studies: :mod:`.flops` (parameters and MACs against the reference),
  :mod:`.train_cost` and :mod:`.train_step` (training step time and memory, with_cp),
  :mod:`.recconv_scaling`, :mod:`.erf` (effective receptive field), :mod:`.ablation` (the
  ablation table);
- deployment: :mod:`.onnx_export`, :mod:`.ort_runtime` (ONNX Runtime sessions and profiles),
  :mod:`.quantize` (ORT int8), :mod:`.openvino_runtime` (OpenVINO fp32 / bf16 / NNCF int8),
  :mod:`.calibration` (calibration images), :mod:`.coreml_export`;
- checks: :mod:`.gpu_check` (the one-command GPU check), :mod:`.golden` and
  :mod:`.variant_golden` (the inputs and seeded weights of the equality checks against the
  official code).

Optional dependencies (onnx, onnxruntime, openvino, nncf, coremltools) are imported only when a
function needs them (:func:`.optional.require`).
"""
