"""recnext_bench.train_cost (and .train_step), behind tools/analysis_tools/train_cost.py (time and peak memory
of a training step, with and without with_cp), and the ``package::`` config specs of
recnext_bench.specs, on tiny settings."""
import json

import pytest
import torch
import torch.nn as nn

from recnext_bench import models, specs, train_cost, train_step

R50_MASK_RCNN = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread for the in-process steps (two threads on a busy two-core machine made a
    tiny step take seconds); the other tests get theirs back."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _peak_rss_resettable():
    """None if /proc/self/clear_refs can reset the peak-RSS counter here, else why not."""
    return train_step.reset_peak_rss()


def test_end_to_end_tiny(tmp_path):
    out = tmp_path / 'cost.json'
    status = train_cost.main(['--models', 'recnext_m0', '--batch', '2', '--shape', '64',
                              '--repeats', '1', '--threads', '1', '--with-cp', 'both',
                              '--out-json', str(out)])
    assert status == 0
    data = json.loads(out.read_text())
    assert {'settings', 'environment', 'results', 'ratios', 'skipped'} <= set(data)
    rows = data['results']
    assert [(r['model'], r['with_cp']) for r in rows] == [('recnext_m0', False), ('recnext_m0', True)]
    for r in rows:
        assert set(train_cost.RESULT_FIELDS) <= set(r), set(train_cost.RESULT_FIELDS) - set(r)
        assert 'error' not in r
        assert r['batch'] == 2 and r['shape'] == [64, 64] and r['threads'] == 1 and r['n'] == 1
        assert 0 < r['step_ms_min'] <= r['step_ms_median'] <= r['step_ms_max']
        assert r['step_ms_iqr'] >= 0
        assert r['img_per_s'] == pytest.approx(2 / r['step_ms_median'] * 1e3)
        assert r['params_m'] == pytest.approx(rows[0]['params_m']) and r['params_m'] > 1
        assert r['torch'] == torch.__version__ and r['cpu'] and r['date']
    # The forward of the with_cp run went through torch.utils.checkpoint, the other did not.
    assert rows[0]['cp_calls'] == 0 and rows[1]['cp_calls'] > 0
    ratio = data['ratios'][0]
    assert ratio['model'] == 'recnext_m0' and ratio['time_on_off'] > 0
    reason = _peak_rss_resettable()
    if reason:
        assert all(r['peak_step_mib'] is None and 'clear_refs' in r['memory_note'] for r in rows)
        pytest.skip(f'peak memory unavailable here: {reason}')
    for r in rows:
        assert r['peak_step_mib'] > 0 and r['memory_note'] is None
        assert r['peak_rss_mib'] == pytest.approx(r['rss_before_mib'] + r['peak_step_mib'])
    assert ratio['memory_on_off'] > 0


def test_with_cp_checkpoints_with_equal_gradients(monkeypatch):
    calls = []
    original = torch.utils.checkpoint.checkpoint

    def spy(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, 'checkpoint', spy)
    losses, grads, counts = {}, {}, {}
    for with_cp in (False, True):
        calls.clear()
        step, _ = train_step.make_train_step('recnext_m0', with_cp, batch=2, shape=(64, 64))
        assert step.model.training
        losses[with_cp] = step()
        counts[with_cp] = len(calls)
        grads[with_cp] = {n: p.grad for n, p in step.model.named_parameters()}
        stages = step.model.stages
    # One checkpoint per block and per downsampling layer (stage 0 has none).
    assert counts[False] == 0
    assert counts[True] == sum(len(stage.blocks) + (i > 0) for i, stage in enumerate(stages))
    torch.testing.assert_close(losses[True], losses[False])
    assert grads[True].keys() == grads[False].keys()
    assert all(g is not None for g in grads[False].values())
    assert sum(float(g.abs().sum()) for g in grads[False].values()) > 0
    for name, grad in grads[False].items():
        torch.testing.assert_close(grads[True][name], grad, rtol=1e-5, atol=1e-6, msg=name)


def test_backbone_loss_and_memory_counter():
    step, _ = train_step.make_train_step('m0', False, batch=1, shape=(64, 64))
    outs = step.model(step.x)
    assert len(outs) == 4
    torch.testing.assert_close(step.loss(outs), sum(o.mean() for o in outs))

    class Allocate64MiB:  # a "step" whose only cost is a 64 MiB tensor it fills
        model = nn.Linear(1, 1)

        def zero_grad(self):
            pass

        def __call__(self):
            return torch.ones(64 * 2**20 // 4).sum()

    result = train_step.measure_step_memory(Allocate64MiB())
    reason = _peak_rss_resettable()
    if reason:
        assert result['peak_step_mib'] is None and 'clear_refs' in result['memory_note']
        pytest.skip(f'peak memory unavailable here: {reason}')
    assert 63 <= result['peak_step_mib'] <= 72, result


def test_bad_inputs(capsys):
    with pytest.raises(SystemExit):
        train_cost.main(['--models', 'recnext_m0', '--batch', '0'])
    assert '--batch must be >= 1, got 0' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_cost.main(['--models', 'no_such_model_xyz'])
    assert 'Unknown model' in capsys.readouterr().err
    # A timm model without gradient checkpointing: an error naming it for "on", skipped for "both".
    with pytest.raises(SystemExit):
        train_cost.main(['--models', 'dla34', '--with-cp', 'on'])
    err = capsys.readouterr().err
    assert 'dla34 has no gradient checkpointing support' in err
    configs, skipped = train_cost.plan(['dla34', 'resnet18'], 'both')
    assert configs == [('dla34', False), ('resnet18', False), ('resnet18', True)]
    assert [s['model'] for s in skipped] == ['dla34'] and 'not supported' in skipped[0]['reason']


def test_mmdet_package_config_spec(capsys):
    pytest.importorskip('mmdet')
    spec = specs.parse_spec(R50_MASK_RCNN)
    assert spec.kind == 'config' and spec.task == 'detection'
    cfg = specs.load_config(R50_MASK_RCNN)
    assert cfg.model.type == 'MaskRCNN' and cfg.model.backbone.depth == 50
    model = models.build_config_model(R50_MASK_RCNN)  # random weights, nothing downloaded
    assert type(model).__name__ == 'MaskRCNN' and type(model.backbone).__name__ == 'ResNet'
    with pytest.raises(ValueError, match='does not exist'):
        specs.parse_spec('mmdet::mask_rcnn/no-such-config.py')
    with pytest.raises(ValueError, match='Bad package config spec'):
        specs.parse_spec('no_such_package::a/b.py')
    # Configs cannot be trained by train_cost: a clear error, not a crash in a subprocess.
    with pytest.raises(SystemExit):
        train_cost.main(['--models', R50_MASK_RCNN])
    assert 'not config specs' in capsys.readouterr().err
