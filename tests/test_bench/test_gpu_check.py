"""tools/gpu_check.py: the batch search, the loss-log check and its failure messages, the SyncBN
options, the transposed-upsampling rows, ratios and equality check, and the whole check end to
end in its CPU dry run (tiny sizes)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from recnext_bench import gpu_check
from recnext_bench.gpu_check import report as gpu_report
from recnext_bench.gpu_check import throughput
from recnext_mm.backbones import archs as recnext_archs
from recnext_mm.backbones import forms as recnext_forms
from utils import REPO

PYTHON = sys.executable


# ---------------------------------------------------------------- batch search
def _fake_workload(fits_up_to, error=None):
    """A ``try_batch`` that runs out of memory above ``fits_up_to`` and records each call."""
    calls = []

    def try_batch(batch):
        calls.append(batch)
        if batch > fits_up_to:
            raise error or torch.cuda.OutOfMemoryError(
                f'CUDA out of memory. Tried to allocate {batch} GiB')
    return try_batch, calls


def test_find_max_batch_halves_after_each_out_of_memory():
    try_batch, calls = _fake_workload(fits_up_to=100)
    batch, failed = gpu_check.find_max_batch(try_batch, cap=1024)
    assert batch == 64
    assert failed == [1024, 512, 256, 128] and calls == [1024, 512, 256, 128, 64]


def test_find_max_batch_starts_at_the_power_of_two_below_the_cap():
    try_batch, calls = _fake_workload(fits_up_to=10**6)
    assert gpu_check.find_max_batch(try_batch, cap=1000) == (512, [])
    assert calls == [512]
    assert gpu_check.find_max_batch(_fake_workload(10**6)[0], cap=1) == (1, [])


def test_find_max_batch_treats_allocator_runtime_errors_as_out_of_memory():
    # Older torch raised a plain RuntimeError; the CPU allocator raises one too.
    try_batch, _ = _fake_workload(8, RuntimeError('CUDA error: out of memory'))
    assert gpu_check.find_max_batch(try_batch, cap=32) == (8, [32, 16])
    try_batch, _ = _fake_workload(2, RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    assert gpu_check.find_max_batch(try_batch, cap=4)[0] == 2


def test_find_max_batch_reraises_other_errors_and_names_the_model_when_nothing_fits():
    try_batch, calls = _fake_workload(8, ValueError('shape mismatch'))
    with pytest.raises(ValueError, match='shape mismatch'):
        gpu_check.find_max_batch(try_batch, cap=64)
    assert calls == [64]  # no retry on an error that is not about memory
    with pytest.raises(RuntimeError, match=r'recnext_m3: out of memory even at batch 1'):
        gpu_check.find_max_batch(_fake_workload(0)[0], cap=4, label='recnext_m3')
    with pytest.raises(ValueError, match='batch cap'):
        gpu_check.find_max_batch(_fake_workload(1)[0], cap=0)


def test_benchmark_plan_groups_models_by_batch_and_puts_compile_last():
    settings = gpu_check.Settings()
    plan = gpu_check.benchmark_plan(settings, {'recnext_m3': 1024, 'recnext_a3': 1024,
                                               'recnext_t': 1024, 'repvit_m1_1': 512})
    eager = [p for p in plan if not p['compile']]
    assert [(p['dtype'], p['batch'], p['models']) for p in eager] == [
        ('fp32', 1024, ['recnext_m3', 'recnext_a3', 'recnext_t']), ('fp32', 512, ['repvit_m1_1']),
        ('bf16', 1024, ['recnext_m3', 'recnext_a3', 'recnext_t']), ('bf16', 512, ['repvit_m1_1'])]
    assert all(p['forms'] == ['train', 'official_fused', 'deploy'] for p in eager)
    compiled = plan[len(eager):]
    assert all(p['compile'] and p['forms'] == ['deploy'] and len(p['models']) == 1
               for p in compiled)
    # M3 (RecConv) compiles each upsampling form in its own subprocess: 5 jobs per dtype
    assert [(p['dtype'], p['models'][0], p['upsample']) for p in compiled[:5]] == [
        ('bf16', 'recnext_m3', 'interpolate'), ('bf16', 'recnext_m3', 'transposed'),
        ('bf16', 'recnext_a3', 'both'), ('bf16', 'recnext_t', 'both'),
        ('bf16', 'repvit_m1_1', 'both')]
    assert [p['dtype'] for p in compiled] == ['bf16'] * 5 + ['fp32'] * 5
    # every (model, form, dtype, compiled) figure is expected once; peers have no official form;
    # M3's deploy form twice more (transposed upsampling), eager and compiled, in both dtypes
    keys = gpu_check.expected_rows(settings)
    assert len(keys) == len(set(keys)) == 3 * 3 * 2 + 2 * 2 + 4 * 2 + 2 * 2
    assert ('repvit_m1_1', 'official_fused', 'fp32', False) not in keys


def test_benchmark_commands_time_both_upsampling_forms():
    for settings in (gpu_check.dry_run_settings(), gpu_check.Settings()):
        seen = set()
        for job in gpu_check.benchmark_plan(settings, {'recnext_m3': 4, 'recnext_a3': 4}):
            cmd = throughput._bench_cmd(job['models'], job['forms'], job['batch'], job['dtype'],
                                        job['compile'], settings, 'out.json', job['upsample'])
            upsample = cmd[cmd.index('--upsample') + 1]
            assert upsample == job['upsample']
            if not job['compile'] or not settings.compile_per_model:
                assert upsample == 'both'  # eager: both forms in the same rounds
            seen |= {(m, upsample) for m in job['models']}
        # every M3 form is timed, compiled per form where compiles run per model
        assert ('recnext_m3', 'both') in seen
        per_form = {('recnext_m3', 'interpolate'), ('recnext_m3', 'transposed')}
        assert (per_form <= seen) == settings.compile_per_model


def test_expected_tconv_rows_are_the_recconv_models_deploy_form():
    keys = gpu_check.expected_rows(gpu_check.Settings())
    tconv = {k for k in keys if k[0].endswith(gpu_check.TCONV_SUFFIX)}
    assert tconv == {('recnext_m3+tconv', 'deploy', dtype, compiled)
                     for dtype in ('fp32', 'bf16') for compiled in (False, True)}
    assert [gpu_check.has_recconv(m) for m in gpu_check.BENCH_MODELS] == [
        True, False, False, False]
    no_compile = gpu_check.expected_rows(gpu_check.Settings(compile_dtypes=()))
    assert {k for k in no_compile if k[0] == 'recnext_m3+tconv'} == {
        ('recnext_m3+tconv', 'deploy', 'fp32', False), ('recnext_m3+tconv', 'deploy', 'bf16', False)}
    assert not [k for k in gpu_check.expected_rows(gpu_check.Settings(forms=('train',)))
                if k[0].endswith('+tconv')]


def test_recconv_models_are_found_by_family_not_by_name(monkeypatch):
    monkeypatch.setitem(recnext_archs.ARCH_SETTINGS, 'x9', recnext_archs.ARCH_SETTINGS['m0'])
    monkeypatch.setitem(recnext_archs.ARCH_SETTINGS, 'm9', recnext_archs.ARCH_SETTINGS['a0'])
    assert gpu_check.has_recconv('recnext_x9') and not gpu_check.has_recconv('recnext_m9')
    keys = gpu_check.expected_rows(gpu_check.Settings(models=('recnext_x9', 'recnext_m9')))
    assert {k[0] for k in keys if k[0].endswith('+tconv')} == {'recnext_x9+tconv'}


def test_bench_rows_name_the_upsampling_form(tmp_path):
    """The benchmark names the transposed row ``<model>+tconv`` and writes no upsampling field."""
    rows = [dict(model='recnext_m3', form='deploy', dtype='fp32', runtime='eager', img_per_s=10.),
            dict(model='recnext_m3+tconv', form='deploy', dtype='fp32', runtime='eager',
                 img_per_s=12.),
            dict(model='recnext_m3', form='train', dtype='fp32', runtime='eager', img_per_s=5.),
            dict(model='recnext_a3', form='deploy', dtype='fp32', runtime='compile',
                 img_per_s=9.)]
    path = tmp_path / 'b.json'
    path.write_text(json.dumps(dict(results=rows)))
    out = throughput._bench_rows(str(path))
    assert [(r['model'], r['base_model'], r['upsample'], r['compile']) for r in out] == [
        ('recnext_m3', 'recnext_m3', 'interpolate', False),
        ('recnext_m3+tconv', 'recnext_m3', 'transposed', False),
        ('recnext_m3', 'recnext_m3', None, False), ('recnext_a3', 'recnext_a3', None, True)]
    assert len({throughput.row_key(r) for r in out}) == 4


def _ips_row(model, form, dtype, compiled, img_per_s):
    return dict(model=model, form=form, dtype='bf16-autocast' if dtype == 'bf16' else 'fp32',
                compile=compiled, batch=8, img_per_s=img_per_s, error=None)


def test_upsample_ratios_and_the_measured_faster_suggestion():
    rows = [_ips_row('recnext_m3', 'official_fused', 'fp32', False, 50.),
            _ips_row('recnext_m3', 'deploy', 'fp32', False, 100.),
            _ips_row('recnext_m3+tconv', 'deploy', 'fp32', False, 150.),  # transposed faster
            _ips_row('recnext_m3', 'deploy', 'bf16', False, 200.),
            _ips_row('recnext_m3+tconv', 'deploy', 'bf16', False, 100.),  # transposed slower
            _ips_row('recnext_m3', 'deploy', 'fp32', True, 300.),
            _ips_row('recnext_m3+tconv', 'deploy', 'fp32', True, 330.),
            _ips_row('recnext_a3', 'deploy', 'fp32', False, 400.)]
    ratios = gpu_check.upsample_ratios(rows)
    assert [(r['model'], r['dtype'], r['compiled'], round(r['ratio'], 6)) for r in ratios] == [
        ('recnext_m3', 'fp32', False, 1.5), ('recnext_m3', 'bf16', False, 0.5),
        ('recnext_m3', 'fp32', True, 1.1)]
    assert ratios[0]['tconv_img_per_s'] == 150. and ratios[0]['interpolate_img_per_s'] == 100.
    # deploy / official stays the interpolating deploy form's: 100 / 50 and 300 / 50 (compiled),
    # not 150 / 50 and 330 / 50
    assert [(r['deploy_compiled'], r['ratio']) for r in gpu_check.throughput_ratios(rows)] == [
        (False, 2.), (True, 6.)]
    suggestion = gpu_check.measured_faster_suggestion(ratios)
    assert [(s['dtype'], s['compiled'], s['runtime'], s['faster'], s['measured_faster'])
            for s in suggestion] == [('fp32', False, 'eager', 'transposed', True),
                                     ('bf16', False, 'eager', 'interpolate', False),
                                     ('fp32', True, 'compile', 'transposed', True)]
    assert suggestion[0]['current'] is recnext_forms.MEASURED_FASTER['eager'] is False
    mixed = gpu_check.measured_faster_suggestion(
        [dict(model='a', dtype='fp32', compiled=False, ratio=1.2),
         dict(model='b', dtype='fp32', compiled=False, ratio=0.9)])
    assert mixed[0]['faster'] == 'mixed' and mixed[0]['measured_faster'] is None
    step = dict(image_size=224, batch_cap=8, batches={'recnext_m3': dict(batch=8)}, results=rows,
                ratios=gpu_check.throughput_ratios(rows), upsample_ratios=ratios,
                upsample_suggestion=suggestion)
    text = '\n'.join(gpu_report._benchmark_markdown(step))
    assert '| recnext_m3+tconv | 8 | - | deploy | 150 | 100 | 330 | - |' in text
    assert '| recnext_m3 | 8 | - | deploy | 100 | 200 | 300 | - |' in text
    assert '| recnext_m3 | fp32 | no | 150 | 100 | 1.50 |' in text
    assert '| recnext_m3 | bf16 | no | 100 | 200 | 0.50 |' in text
    assert "- fp32, eager: transposed faster; `MEASURED_FASTER['eager'] = True` (now False)" in text
    assert "- bf16, eager: interpolate faster; `MEASURED_FASTER['eager'] = False`" in text
    assert "- fp32, compiled: transposed faster; `MEASURED_FASTER['compile'] = True`" in text


def test_benchmark_retries_out_of_memory_at_half_the_batch(tmp_path, monkeypatch):
    """A configuration that fits in the batch search but runs out of memory inside benchmark.py
    (beside the other models) is timed again at half the batch; the rest keep theirs."""
    calls = []

    def fake_run(cmd, log_path, timeout, env=None, cwd=None):
        arg = lambda flag: cmd[cmd.index(flag) + 1]  # noqa: E731
        models = cmd[cmd.index('--models') + 1:cmd.index('--forms')]
        forms = cmd[cmd.index('--forms') + 1:cmd.index('--batch')]
        batch, compiled = int(arg('--batch')), '--compile' in cmd
        calls.append((models, batch, compiled))
        # like the benchmark with --upsample both: M3's deploy form again as recnext_m3+tconv
        labels = [(m, f) for m in models for f in forms]
        if '--upsample' in cmd and arg('--upsample') == 'both':
            labels += [(m + '+tconv', f) for m, f in labels if m == 'recnext_m3' and f == 'deploy']
        rows = [dict(model=m, form=f, batch=batch, compile=compiled,
                     dtype='bf16-autocast' if '--bf16' in cmd else 'fp32', median_ms=1.0,
                     img_per_s=batch * 1e3, n=8, error=None) for m, f in labels]
        for r in rows:
            if r['model'] == 'recnext_m3+tconv' and batch > 4 and not compiled:
                r.update(median_ms=None, img_per_s=None,
                         error='OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB')
        with open(arg('--out-json'), 'w') as f:
            json.dump(dict(results=rows), f)
        with open(log_path, 'w') as f:
            f.write('ok\n')
        return dict(cmd=' '.join(cmd), rc=1 if any(r['error'] for r in rows) else 0,
                    timed_out=False, seconds=0.1, log=log_path)

    monkeypatch.setattr(throughput, 'probe_batch', lambda name, settings, device: dict(
        batch=8, out_of_memory_at=[16], peak_memory_gib=None))
    monkeypatch.setattr(throughput, 'run_logged', fake_run)
    settings = gpu_check.dry_run_settings(out_dir=str(tmp_path), models=('recnext_m3', 'recnext_t'),
                                          dtypes=('fp32',), compile_dtypes=('bf16',))
    os.makedirs(tmp_path / 'benchmark')
    report = dict(steps={})
    step = gpu_check.benchmark_step(settings, gpu_check.Budget(60), report, lambda: None)
    assert calls == [(['recnext_m3', 'recnext_t'], 8, False), (['recnext_m3'], 4, False),
                     (['recnext_m3', 'recnext_t'], 8, True)]
    assert step['status'] == 'pass' and step['failures'] == [] and step['missing'] == []
    batches = {(r['model'], r['form'], r['compile']): r['batch'] for r in step['results']}
    assert batches[('recnext_m3', 'deploy', False)] == 4 and batches[('recnext_t', 'train', False)] == 8
    assert batches[('recnext_m3', 'deploy', True)] == 8
    # the transposed row ran out of memory: its model reran, both upsampling forms at batch 4
    assert batches[('recnext_m3+tconv', 'deploy', False)] == 4
    assert batches[('recnext_m3+tconv', 'deploy', True)] == 8
    assert len(step['results']) == 3 + 4 + 3  # t eager; m3 (+tconv) eager at 4; compiled
    assert "again at batch 4" in step['runs'][0]['retry'] and 'recnext_m3+tconv' not in \
        step['runs'][0]['retry']  # reran by its model spec, which the benchmark accepts
    assert [r['ratio'] for r in step['upsample_ratios']] == [1.0, 1.0]
    text = '\n'.join(gpu_report._benchmark_markdown(step))
    assert '| recnext_m3 | 8 | - | deploy | 4000 (b4) | - | - | 8000 |' in text
    assert '| recnext_m3+tconv | 8 | - | deploy | 4000 (b4) | - | - | 8000 |' in text


# ---------------------------------------------------------------- training logs
def _write_log(work_dir, records):
    vis = work_dir / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    # mmengine writes one json.dumps() line per logged iteration: NaN as the bare token NaN
    (vis / '20260101_000000.json').write_text(
        ''.join(json.dumps(r) + '\n' for r in records))
    (vis / 'scalars.json').write_text('')


def _losses(iters, bad_iter=None, bad=float('nan')):
    return [dict(lr=1e-3, loss=1.5 / i, loss_cls=1.0 / i, acc=90.0, grad_norm=float('inf'),
                 iter=i, step=i, epoch=1)
            if i != bad_iter else dict(loss=bad, loss_cls=bad, iter=i, step=i, epoch=1)
            for i in range(1, iters + 1)]


def test_train_log_check_passes_on_finite_losses(tmp_path):
    _write_log(tmp_path, _losses(3))
    out = gpu_check.check_train_log(str(tmp_path), 'configs/detection/toy.py', expected_iters=3)
    assert out['failures'] == []
    assert out['iterations'] == 3 and out['loss_keys'] == ['loss', 'loss_cls']
    assert out['first_loss'] == 1.5 and out['last_loss'] == 0.5 and out['max_abs_loss'] == 1.5


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_loss_fails_naming_the_config(tmp_path, bad):
    _write_log(tmp_path, _losses(4, bad_iter=3, bad=bad))
    config = 'configs/segmentation/fpn_recnext_toy_ade.py'
    out = gpu_check.check_train_log(str(tmp_path), config, expected_iters=4)
    assert len(out['failures']) == 1
    message = out['failures'][0]
    assert 'fpn_recnext_toy_ade.py' in message and 'non-finite loss' in message
    assert 'iteration 3' in message and str(bad) in message
    assert [e['key'] for e in out['nonfinite']] == ['loss', 'loss_cls']
    # grad_norm (inf when the AMP loss scaler skips a step) is not a loss


def test_train_log_check_reports_a_short_run_and_a_missing_log(tmp_path):
    _write_log(tmp_path / 'short', _losses(2))
    out = gpu_check.check_train_log(str(tmp_path / 'short'), 'a/b/toy.py', expected_iters=50)
    assert out['failures'] == [
        f'toy.py: last logged iteration 2, expected 50 (log: {out["json_log"]})']
    out = gpu_check.check_train_log(str(tmp_path / 'none'), 'a/b/toy.py', expected_iters=50)
    assert 'toy.py: no json log' in out['failures'][0]


def test_failed_step_makes_the_report_fail_and_shows_the_message(tmp_path):
    _write_log(tmp_path, _losses(2, bad_iter=2))
    config = 'configs/detection/mask_rcnn_recnext_toy_coco.py'
    log = gpu_check.check_train_log(str(tmp_path), config, expected_iters=2)
    run = dict(log, task='detection', config=config, launcher='none', norm='config', amp=True,
               expected_iters=2, seconds=3.0, status='fail')
    report = dict(command='python tools/gpu_check.py', dry_run=False,
                  environment=dict(gpu='Fake GPU', torch='2.x', cuda='12', cudnn=9, date='today'),
                  steps=dict(train=dict(status='fail', runs=[run], failures=log['failures'],
                                        skipped=[])))
    report['status'] = gpu_check.overall_status(report)
    assert report['status'] == 'fail' and gpu_check.exit_code(report) == 1
    text = gpu_check.markdown(report)
    assert text.startswith('# GPU check: FAIL')
    assert '| (c) toy training with AMP | fail | mask_rcnn_recnext_toy_coco.py: non-finite loss' \
        in text
    assert '| mask_rcnn_recnext_toy_coco.py | none | config | fp16 | 2/2 |' in text
    report['steps']['train'].update(status='incomplete', failures=[])
    assert gpu_check.exit_code(dict(report, status=gpu_check.overall_status(report))) == 2


def test_sync_norm_options_switch_every_batchnorm_norm_cfg():
    model = dict(backbone=dict(type='RecNeXt', norm_cfg=dict(type='BN', requires_grad=True)),
                 neck=dict(type='FPN', norm_cfg=None),
                 decode_head=dict(norm_cfg=dict(type='SyncBN')),
                 heads=[dict(norm_cfg=dict(type='GN', num_groups=8)),
                        dict(norm_cfg=dict(type='BN'))])
    assert gpu_check.sync_norm_options(model) == [
        'model.backbone.norm_cfg.type=SyncBN', 'model.decode_head.norm_cfg.type=SyncBN',
        'model.heads.1.norm_cfg.type=SyncBN']
    assert gpu_check.sync_norm_options(model, 'BN')[0] == 'model.backbone.norm_cfg.type=BN'


def test_strict_fp32_turns_tf32_off_and_restores_it():
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    with gpu_check.strict_fp32():
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


def test_equality_checks_the_transposed_upsampling_on_recconv_archs(tmp_path):
    settings = gpu_check.dry_run_settings(out_dir=str(tmp_path), equality_archs=('m3', 'a3'),
                                          equality_batch=1, equality_size=64)
    step = gpu_check.equality_step(settings, gpu_check.Budget(60), dict(steps={}), lambda: None)
    assert step['status'] == 'pass' and step['failures'] == []
    assert step['tconv_tolerance'] == settings.tconv_tolerance == 1e-5
    m3, a3 = step['results']
    assert m3['tconv_layers'] > 0 and m3['tconv_ok'] and m3['max_abs_logit'] > 1e-2
    assert m3['relative_tconv_vs_interpolate'] <= 1e-5 and m3['tconv_vs_train'] < 1e-4
    assert m3['relative_tconv_vs_interpolate'] == pytest.approx(
        m3['tconv_vs_interpolate'] / m3['max_abs_logit'])
    assert a3['tconv_layers'] is None and a3['tconv_vs_interpolate'] is None and a3['ok']
    assert a3['tconv_ok'] is None
    text = '\n'.join(gpu_report._equality_markdown(step))
    assert f'| recnext_m3 | {m3["tconv_layers"]} | ' in text and 'tolerance 1e-05 x max abs' in text
    assert '| recnext_a3 | ' not in text.split('transposed-conv upsampling')[1]


def test_equality_fails_when_the_transposed_form_differs(tmp_path, monkeypatch):
    real = recnext_forms.set_transposed_upsampling

    def off_by_a_little(module, enabled=True):
        # what a wrong tconv kernel would do: logits 0.1 % off
        module.register_forward_hook(lambda m, args, out: out * 1.001)
        return real(module, enabled)

    monkeypatch.setattr(recnext_forms, 'set_transposed_upsampling', off_by_a_little)
    settings = gpu_check.dry_run_settings(out_dir=str(tmp_path), equality_archs=('m3',),
                                          equality_batch=1, equality_size=64)
    step = gpu_check.equality_step(settings, gpu_check.Budget(60), dict(steps={}), lambda: None)
    (row,) = step['results']
    assert step['status'] == 'fail' and not row['ok'] and row['tconv_ok'] is False
    assert row['deploy_vs_official'] <= settings.tolerance  # only the transposed form is off
    assert 5e-4 < row['relative_tconv_vs_interpolate'] < 2e-3
    (message,) = step['failures']
    assert message.startswith('recnext_m3: deploy form with transposed upsampling')
    assert f'{row["relative_tconv_vs_interpolate"]:.3g}' in message and '> 1e-05' in message
    assert f'{row["tconv_vs_interpolate"]:.3g}' in message
    # a switch that switches nothing fails too: the comparison would be vacuous
    monkeypatch.setattr(recnext_forms, 'set_transposed_upsampling', lambda module, enabled: 0)
    step = gpu_check.equality_step(settings, gpu_check.Budget(60), dict(steps={}), lambda: None)
    assert step['failures'] == ['recnext_m3: set_transposed_upsampling switched no RecConv']


def test_cuda_device_without_gpu_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('a CUDA device is visible')
    with pytest.raises(SystemExit, match='no CUDA device is visible.*--dry-run'):
        gpu_check.run_check(gpu_check.Settings(out_dir=str(tmp_path)))
    with pytest.raises(ValueError, match=r"Unknown step\(s\) \['speed'\]"):
        gpu_check.run_check(gpu_check.dry_run_settings(out_dir=str(tmp_path), steps=('speed',)))


def test_work_beyond_the_time_budget_is_skipped_and_reported(tmp_path):
    settings = gpu_check.dry_run_settings(out_dir=str(tmp_path), steps=('train',),
                                          time_budget_s=1.)
    report = gpu_check.run_check(settings)
    step = report['steps']['train']
    assert step['status'] == 'incomplete' and step['runs'] == [] and step['failures'] == []
    assert step['skipped'] == ['mask_rcnn_recnext_toy_coco.py: not run, time budget spent',
                               'fpn_recnext_toy_ade.py: not run, time budget spent']
    assert report['status'] == 'incomplete' and gpu_check.exit_code(report) == 2
    saved = json.loads((tmp_path / 'gpu_check.json').read_text())
    assert saved['steps']['train']['skipped'] == step['skipped']
    assert '| (c) toy training with AMP | incomplete | mask_rcnn_recnext_toy_coco.py: not run' \
        in (tmp_path / 'gpu_check.md').read_text()


# ---------------------------------------------------------------- end to end (dry run)
@pytest.mark.slow
def test_dry_run_end_to_end(tmp_path):
    out_dir = tmp_path / 'gc'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([PYTHON, osp.join(REPO, 'tools', 'gpu_check.py'), '--dry-run',
                           '--out-dir', str(out_dir)], capture_output=True, text=True,
                          timeout=1200, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    report = json.loads((out_dir / 'gpu_check.json').read_text())
    text = (out_dir / 'gpu_check.md').read_text()
    assert report['status'] == 'pass' and report['dry_run']
    assert set(report['steps']) == set(gpu_check.STEPS)
    assert all(step['status'] == 'pass' for step in report['steps'].values())

    # (a) every model x form x dtype, and the compiled deploy form, timed at the found batch
    bench = report['steps']['benchmark']
    assert {name: b['batch'] for name, b in bench['batches'].items()} == {
        name: 4 for name in gpu_check.BENCH_MODELS}
    settings = gpu_check.dry_run_settings()
    done = {(r['model'], r['form'], 'bf16' if r['dtype'].startswith('bf16') else 'fp32',
             r['compile']) for r in bench['results']}
    assert done == set(gpu_check.expected_rows(settings)) and bench['missing'] == []
    assert all(r['img_per_s'] > 0 and r['batch'] == 4 and not r['error']
               for r in bench['results'])
    assert {r['versus'] for r in bench['ratios']} == {'official_fused', 'train'}
    assert all(r['ratio'] > 0 for r in bench['ratios'])
    # M3's deploy form also with the transposed upsampling, eager and compiled, both dtypes
    tconv = [r for r in bench['results'] if r['model'] == 'recnext_m3+tconv']
    assert sorted((r['dtype'], r['compile']) for r in tconv) == [
        ('bf16-autocast', False), ('bf16-autocast', True), ('fp32', False), ('fp32', True)]
    assert all(r['upsample'] == 'transposed' and r['base_model'] == 'recnext_m3' and
               r['form'] == 'deploy' for r in tconv)
    assert {r['upsample'] for r in bench['results']
            if r['model'] == 'recnext_m3' and r['form'] == 'deploy'} == {'interpolate'}
    assert not [r for r in bench['results'] if r['upsample'] and r['base_model'] != 'recnext_m3']
    assert all('--upsample both' in r['cmd'] for r in bench['runs'])
    assert sorted((r['dtype'], r['compiled']) for r in bench['upsample_ratios']) == [
        ('bf16', False), ('bf16', True), ('fp32', False), ('fp32', True)]
    assert all(r['model'] == 'recnext_m3' and r['ratio'] > 0 for r in bench['upsample_ratios'])
    assert len(bench['upsample_suggestion']) == 4
    for s in bench['upsample_suggestion']:
        assert s['measured_faster'] == (s['ratios']['recnext_m3'] > 1)
    # the compile runs passed --compile, with compilation disabled for the dry run
    compiled = [r for r in bench['runs'] if r['compile']]
    assert compiled and all('--compile' in r['cmd'] and r['env']['TORCH_COMPILE_DISABLE'] == '1'
                            for r in compiled)
    assert all('--device cpu' in r['cmd'] for r in bench['runs'])

    # (b) deploy equals the official-equivalent form on non-trivial logits
    eq = report['steps']['equality']
    assert [r['arch'] for r in eq['results']] == list(gpu_check.EQUALITY_ARCHS)
    for r in eq['results']:
        assert r['ok'] and r['deploy_vs_official'] < 1e-4 and r['deploy_vs_train'] < 1e-4
        assert r['max_abs_logit'] > 1e-2 and not r['deploy_has_batchnorm']
    # m3 (the only RecConv arch) with the transposed upsampling, within 1e-5 of max |logit|
    assert eq['tconv_tolerance'] == 1e-5
    m3 = eq['results'][0]
    assert m3['arch'] == 'm3' and m3['tconv_layers'] > 0 and m3['tconv_ok']
    assert m3['relative_tconv_vs_interpolate'] <= 1e-5 and m3['tconv_vs_train'] < 1e-4
    assert [r['tconv_layers'] for r in eq['results'][1:]] == [None] * 3

    # (c), (d) both toy configs, every logged loss finite, all iterations reached
    for key, launcher in (('train', 'none'), ('dist', 'pytorch')):
        runs = report['steps'][key]['runs']
        assert [osp.basename(r['config']) for r in runs] == [
            'mask_rcnn_recnext_toy_coco.py', 'fpn_recnext_toy_ade.py']
        for r in runs:
            assert r['rc'] == 0 and r['launcher'] == launcher and r['iterations'] == 2
            assert r['nonfinite'] == [] and 0 < r['max_abs_loss'] < 1e3
            assert 'loss' in r['loss_keys'] and r['first_loss'] > 0
    dist = report['steps']['dist']['runs']
    assert 'model.backbone.norm_cfg' in dist[0]['norm_layers_switched']
    assert {'model.backbone.norm_cfg', 'model.decode_head.norm_cfg'} <= set(
        dist[1]['norm_layers_switched'])
    assert all('torch.distributed.run' in r['cmd'] and '--launcher pytorch' in r['cmd']
               for r in dist)

    # the Markdown holds every step and table
    assert text.startswith('# GPU check: PASS') and '**Dry run**' in text
    for title in gpu_check.STEP_TITLES.values():
        assert f'| {title} | pass |' in text
    for model in gpu_check.BENCH_MODELS:
        assert f'| {model} | 4 |' in text
    assert '| recnext_m3 | 2x3x64x64 |' in text
    assert text.count('| fpn_recnext_toy_ade.py |') == 2
    assert '| recnext_m3 | fp32 |' in text and 'M-series target' in text  # deploy / official
    assert '| recnext_m3+tconv | 4 |' in text and '| tconv / interpolate |' in text
    assert '| recnext_m3 | fp32 | no |' in text and "`MEASURED_FASTER['compile'] = " in text
    assert f'| recnext_m3 | {m3["tconv_layers"]} | {m3["tconv_vs_interpolate"]:.2e} |' in text
