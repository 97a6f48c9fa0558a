"""Core ML export (coremltools, Linux: conversion only; running a model needs macOS): every arch
converts to an ML Program, with the expected input / output names and shapes and no op known to
leave the Neural Engine, and the Core ML ready form keeps the deploy form's numerics."""
import math
import os.path as osp

import pytest
import torch

from recnext_mm import RecNeXt, RecNeXtClassifier
from recnext_mm.backbones.archs import ARCH_SETTINGS
from utils import REPO, rel_diff

ct = pytest.importorskip('coremltools', reason='the Core ML tests need coremltools (.[coreml])')
from recnext_bench import coreml_export  # noqa: E402

SIZE = 64  # small maps keep the conversions short; the op set is the same at any size


def _deploy(arch, target):
    if target == 'classifier':
        return RecNeXtClassifier(arch, num_classes=10, deploy=True).eval()
    return RecNeXt(arch, out_indices=(0, 1, 2, 3), deploy=True).eval()


def _expected_outputs(arch, target, size=SIZE):
    if target == 'classifier':
        return {'logits': [1, 10]}
    first = 8 if ARCH_SETTINGS[arch]['family'].startswith('lsnet') else 4
    dims = ARCH_SETTINGS[arch]['embed_dims']
    sides = [math.ceil(size / (first * 2**i)) for i in range(4)]
    return {f'out{i}': [1, dims[i], sides[i], sides[i]] for i in range(4)}


@pytest.mark.parametrize('arch', ['a0', 't_share_channel'])
def test_coreml_ready_form_and_exported_program_keep_the_numerics(arch):
    """The switches coreml_ready turns off are speed choices: same outputs; the exported program
    (constant shapes) computes the same as the module."""
    torch.manual_seed(0)
    model = RecNeXtClassifier(arch, num_classes=10).eval().fuse()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        want = model(x)
        program = coreml_export.export_program(model, (SIZE, SIZE), batch=2)
        assert rel_diff(model(x), want) <= 1e-6
        assert rel_diff(program.module()(x), want) <= 1e-5
    assert not any(getattr(m, 'repeat_input', False) or getattr(m, 'token_major', False)
                   for m in model.modules())
    # constant shapes: no size arithmetic left in the graph
    assert not [n for n in program.graph.nodes if 'sym_size' in str(n.target)]


@pytest.mark.slow
@pytest.mark.parametrize('arch,target,precision', [('m0', 'classifier', 'fp16'),
                                                   ('a0', 'backbone', 'fp32')])
def test_mlprogram_names_shapes_and_no_neural_engine_fallback(arch, target, precision, tmp_path):
    """The full conversion (default passes, fp16 or fp32), saved as an .mlpackage."""
    mlmodel = coreml_export.convert(_deploy(arch, target), (SIZE, SIZE), precision=precision)
    io = coreml_export.io_description(mlmodel)
    assert io['inputs'] == {'input': [1, 3, SIZE, SIZE]}
    assert io['outputs'] == _expected_outputs(arch, target)
    assert coreml_export.ne_fallbacks(mlmodel) == []
    ops = coreml_export.op_counts(mlmodel)
    assert ops.get('conv', 0) > 20 and not set(ops) & coreml_export.NE_FALLBACK_OPS
    assert mlmodel.get_spec().WhichOneof('Type') == 'mlProgram'
    path = str(tmp_path / 'model.mlpackage')
    mlmodel.save(path)
    assert osp.isfile(osp.join(path, 'Manifest.json'))


@pytest.mark.slow
@pytest.mark.parametrize('arch', list(ARCH_SETTINGS))
def test_every_arch_converts_to_an_mlprogram(arch):
    """Every op of every arch converts (fp32, the converter's checks without its optimisation
    passes, which only the test above runs: the slow part); the classifier of the even archs, the
    backbone of the odd ones, so both targets are covered in every family."""
    target = 'classifier' if list(ARCH_SETTINGS).index(arch) % 2 == 0 else 'backbone'
    mlmodel = coreml_export.convert(_deploy(arch, target), (SIZE, SIZE), precision='fp32',
                                    optimize=False)
    io = coreml_export.io_description(mlmodel)
    assert io['inputs'] == {'input': [1, 3, SIZE, SIZE]}
    assert io['outputs'] == _expected_outputs(arch, target)
    assert coreml_export.ne_fallbacks(mlmodel) == []


def test_bad_arguments_are_named():
    model = _deploy('m0', 'classifier')
    with pytest.raises(ValueError, match='precision must be one of'):
        coreml_export.convert(model, (SIZE, SIZE), precision='int4')
    with pytest.raises(ValueError, match='fp16 is a pass of the default pipeline'):
        coreml_export.convert(model, (SIZE, SIZE), precision='fp16', optimize=False)
    with pytest.raises(ValueError, match='Unknown deployment target'):
        coreml_export.convert(model, (SIZE, SIZE), deployment_target='iOS1')


def test_export_script_rejects_unknown_archs():
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, 'tools/deployment/export_coreml.py', 'm9'],
                          capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 2 and "unknown arch 'm9'" in proc.stderr
