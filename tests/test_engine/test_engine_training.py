"""The official recipe's training pieces (recnext_mm.engine): AGC optimizer wrappers, the timm cosine
schedule and the EMA hook, each compared with timm's own implementation of the official step."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from timm.scheduler import CosineLRScheduler
from timm.utils import ModelEma, NativeScaler, dispatch_clip_grad

import recnext_mm  # noqa: F401  (registers the wrappers, scheduler and hook)
import recnext_mm.engine.optim_wrappers as ow

from utils import REPO as ROOT  # noqa: E402


def imagenet_optim_cfg():
    return Config.fromfile(osp.join(ROOT, 'configs', 'classification',
                                    'recnext_m3_in1k.py')).optim_wrapper


def small_model(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.GELU(),
                          nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    # Large gradients relative to the weights, so AGC clips most units.
    with torch.no_grad():
        model[0].weight.mul_(0.1)
    return model


def batch(seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(4, 3, 6, 6, generator=gen) * 10, torch.randint(0, 5, (4, ), generator=gen)


def timm_param_groups(model, weight_decay):
    """The groups timm's create_optimizer makes (no decay for 1-D parameters and biases)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith('.bias') else decay).append(p)
    return [dict(params=no_decay, weight_decay=0.), dict(params=decay, weight_decay=weight_decay)]


def test_agc_step_equals_timm_in_fp32():
    cfg = imagenet_optim_cfg()
    ours, theirs = small_model(), small_model()
    wrapper = build_optim_wrapper(ours, cfg)  # falls back to fp32 here: no GPU
    assert type(wrapper).__name__ == 'AmpAGCOptimWrapper' and not wrapper.amp_enabled
    opt = cfg.optimizer
    ref_opt = torch.optim.AdamW(timm_param_groups(theirs, opt.weight_decay), lr=opt.lr,
                                betas=opt.betas, eps=opt.eps)
    x, y = batch()
    wrapper.update_params(nn.functional.cross_entropy(ours(x), y))
    loss = nn.functional.cross_entropy(theirs(x), y)
    loss.backward()
    dispatch_clip_grad(theirs.parameters(), 0.02, mode='agc')
    ref_opt.step()
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.allclose(a, b, atol=1e-7, rtol=1e-6), name
    # The clipping is not a no-op on this model: without it the step differs.
    plain = small_model()
    plain_opt = torch.optim.AdamW(timm_param_groups(plain, opt.weight_decay), lr=opt.lr,
                                  betas=opt.betas, eps=opt.eps)
    nn.functional.cross_entropy(plain(x), y).backward()
    grads_unclipped = [p.grad.clone() for p in plain.parameters()]
    dispatch_clip_grad(plain.parameters(), 0.02, mode='agc')
    assert any(not torch.equal(g, p.grad) for g, p in zip(grads_unclipped, plain.parameters()))


def test_agc_step_equals_timm_native_scaler_under_fp16_autocast(monkeypatch):
    """The AMP path (forced on for the CPU): scale, backward, unscale, AGC, step, update."""
    monkeypatch.setattr(ow, 'accelerator_available', lambda: True)
    monkeypatch.setattr('mmengine.optim.optimizer.amp_optimizer_wrapper.is_cuda_available',
                        lambda: True)
    cfg = imagenet_optim_cfg()
    ours, theirs = small_model(), small_model()
    wrapper = build_optim_wrapper(ours, cfg)
    assert wrapper.amp_enabled and wrapper.cast_dtype == torch.float16
    wrapper.loss_scaler = torch.amp.GradScaler('cpu')  # the CUDA scaler is inert on a CPU
    opt = cfg.optimizer
    ref_opt = torch.optim.AdamW(timm_param_groups(theirs, opt.weight_decay), lr=opt.lr,
                                betas=opt.betas, eps=opt.eps)
    scaler = NativeScaler(device='cpu')
    x, y = batch()
    for step in range(2):
        with torch.autocast('cpu', dtype=torch.float16):
            loss = nn.functional.cross_entropy(ours(x), y)
        wrapper.update_params(loss)
        with torch.autocast('cpu', dtype=torch.float16):
            ref_loss = nn.functional.cross_entropy(theirs(x), y)
        ref_opt.zero_grad()
        scaler(ref_loss, ref_opt, clip_grad=0.02, clip_mode='agc', parameters=theirs.parameters())
    assert wrapper.loss_scaler.get_scale() == scaler.state_dict()['scale']
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5), name


def test_agc_clips_only_trainable_parameters():
    model = small_model()
    frozen = nn.Linear(3, 3)
    for p in frozen.parameters():
        p.requires_grad = False
    wrapper = build_optim_wrapper(nn.ModuleDict(dict(student=model, teacher=frozen)),
                                  dict(type='AGCOptimWrapper', optimizer=dict(type='AdamW', lr=1e-3),
                                       clip_grad=dict(type='agc', clip_factor=0.02)))
    assert wrapper.clip_grad_kwargs == dict(clip_factor=0.02, eps=1e-3)
    before = [p.clone() for p in frozen.parameters()]
    x, y = batch()
    wrapper.update_params(nn.functional.cross_entropy(model(x), y))
    assert all(torch.equal(a, b) for a, b in zip(before, frozen.parameters()))


def test_agc_rejects_unknown_keys_and_cpu_amp_on_request():
    with pytest.raises(TypeError, match=r"unknown keys \['max_norm'\]"):
        build_optim_wrapper(small_model(), dict(type='AGCOptimWrapper',
                                                optimizer=dict(type='AdamW', lr=1e-3),
                                                clip_grad=dict(type='agc', max_norm=1.0)))
    with pytest.raises(RuntimeError, match="on_cpu='fp32'"):
        build_optim_wrapper(small_model(), dict(type='AmpAGCOptimWrapper', on_cpu='error',
                                                optimizer=dict(type='AdamW', lr=1e-3)))


def test_timm_cosine_lr_follows_the_official_loop():
    from mmengine.optim import OptimWrapper
    from recnext_mm.engine import TimmCosineLR
    base = 4e-3
    ours = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base)
    theirs = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base)
    sched = TimmCosineLR(OptimWrapper(ours), t_initial=30, lr_min=1e-5, warmup_t=5,
                         warmup_lr_init=1e-6)
    ref = CosineLRScheduler(theirs, t_initial=30, lr_min=1e-5, warmup_t=5, warmup_lr_init=1e-6)
    for epoch in range(30):
        assert ours.param_groups[0]['lr'] == pytest.approx(theirs.param_groups[0]['lr'], rel=1e-12)
        sched.step()
        ref.step(epoch)  # main.py: after the epoch, with its index
    with pytest.raises(ValueError, match='t_initial > 0'):
        TimmCosineLR(OptimWrapper(ours), t_initial=0)


def test_model_ema_hook_averages_like_timm_and_is_not_evaluated(tmp_path):
    from recnext_mm.engine import ModelEMAHook

    class FakeRunner:
        def __init__(self, model):
            self.model, self.iter, self.epoch, self._resume = model, 0, 0, False

    model = small_model()
    hook = ModelEMAHook(momentum=0.1)
    runner = FakeRunner(model)
    hook.before_run(runner)
    ref = ModelEma(copy.deepcopy(model), decay=0.9)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = batch()
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model.train()(x), y).backward()
        opt.step()
        hook.after_train_iter(runner, 0)
        ref.update(model)
        runner.iter += 1
    ema_state = hook.ema_model.module.state_dict()
    for key, value in ref.ema.state_dict().items():
        if value.dtype.is_floating_point:  # BatchNorm statistics too
            assert torch.allclose(ema_state[key], value, atol=1e-6), key
    trained = copy.deepcopy(model.state_dict())
    hook.before_val_epoch(runner)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in trained.items())
    checkpoint = dict(state_dict=copy.deepcopy(model.state_dict()))
    hook.before_save_checkpoint(runner, checkpoint)
    assert all(torch.equal(checkpoint['state_dict'][k], v) for k, v in trained.items())
    assert torch.allclose(checkpoint['ema_state_dict']['module.0.weight'], ema_state['0.weight'])
    evaluated = ModelEMAHook(momentum=0.1, evaluate_ema=True)
    evaluated.before_run(runner)
    evaluated.ema_model.module[0].weight.data.fill_(3.0)
    evaluated.before_val_epoch(runner)
    assert torch.all(model[0].weight == 3.0)  # mmengine's behaviour, on request
