"""Measurement and deployment logic behind the tools under ``tools/analysis_tools`` and
``tools/deployment`` (thin entry points): model specs, forms and counts (:mod:`.models`), the
speed benchmark (:mod:`.benchmark`, tables in :mod:`.report`), parameters and MACs
(:mod:`.flops`), training cost (:mod:`.train_cost`), the RecConv scaling study
(:mod:`.recconv_scaling`), ONNX export of the deploy form (:mod:`.onnx_export`), ONNX Runtime
sessions, timing and profiles (:mod:`.ort_runtime`), int8 static quantization (:mod:`.quantize`),
the GPU check (:mod:`.gpu_check`) and the golden comparison's inputs (:mod:`.golden`).

Nothing here is imported by ``import recnext_mm``; onnx and onnxruntime are an optional extra
(``pip install -e .[onnx]``), imported only when a function needs them.
"""
