"""Measurement and deployment logic behind the tools under ``tools/analysis_tools`` and
``tools/deployment``: ONNX export of the deploy form (:mod:`.onnx_export`), ONNX Runtime sessions,
timing and profiles (:mod:`.ort_runtime`), and int8 static quantization (:mod:`.quantize`).

Nothing here is imported by ``import recnext_mm``; onnx and onnxruntime are an optional extra
(``pip install -e .[onnx]``), imported only when a function needs them.
"""
