"""What the GPU check runs: its steps, the :class:`Settings` (and the CPU dry run's,
:func:`dry_run_settings`), the checkout it runs in (:func:`checkout_root`) and the wall-clock
:class:`Budget` shared by its subprocesses."""
import os.path as osp
import time
from dataclasses import dataclass, field, replace
from typing import Dict, Optional, Tuple

__all__ = ['STEPS', 'STEP_TITLES', 'EXECUTION_ORDER', 'BENCH_MODELS', 'EQUALITY_ARCHS',
           'TRAIN_CONFIGS', 'FORM_ORDER', 'Settings', 'dry_run_settings', 'checkout_root',
           'Budget']

STEPS = ('benchmark', 'equality', 'train', 'dist')
STEP_TITLES = {'benchmark': '(a) throughput',
               'equality': '(b) deploy vs official-equivalent outputs',
               'train': '(c) toy training with AMP',
               'dist': '(d) toy training, torchrun + SyncBN'}
EXECUTION_ORDER = ('equality', 'train', 'dist', 'benchmark')
BENCH_MODELS = ('recnext_m3', 'recnext_a3', 'recnext_t', 'repvit_m1_1')
EQUALITY_ARCHS = ('m3', 'a3', 't', 't_share_channel')
TRAIN_CONFIGS = (('detection', 'configs/detection/mask_rcnn_recnext_toy_coco.py'),
                 ('segmentation', 'configs/segmentation/fpn_recnext_toy_ade.py'))
FORM_ORDER = ('train', 'official_fused', 'deploy')


@dataclass
class Settings:
    """What the check runs; :func:`dry_run_settings` gives the CPU variant.

    ``tools/gpu_check.py`` sets some of them from its options; the ``*_env`` entries are extra
    environment variables of the subprocesses (``compile_env``: of the compiled timings only).
    """
    out_dir: str = 'work_dirs/gpu_check'
    device: str = 'cuda'
    dry_run: bool = False
    steps: Tuple[str, ...] = STEPS
    time_budget_s: float = 540.
    # (a) throughput
    models: Tuple[str, ...] = BENCH_MODELS
    forms: Tuple[str, ...] = FORM_ORDER
    dtypes: Tuple[str, ...] = ('fp32', 'bf16')
    compile_dtypes: Tuple[str, ...] = ('bf16', 'fp32')  # in order of priority under the budget
    compile_per_model: bool = True  # one subprocess per model: a slow compile loses one row only
    batch_cap: int = 1024
    image_size: int = 224
    warmup: int = 2  # untimed calls (the first one compiles); batches are large, calls long
    repeats: int = 8
    block: int = 4  # two interleaved rounds of 4 timed calls per configuration
    threads: Optional[int] = None
    bench_timeout_s: float = 150.
    compile_env: Dict[str, str] = field(default_factory=dict)
    # (b) equality
    equality_archs: Tuple[str, ...] = EQUALITY_ARCHS
    equality_batch: int = 8
    equality_size: int = 224
    tolerance: float = 1e-4
    # deploy form with transposed upsampling vs with interpolation, relative to max |logit|
    tconv_tolerance: float = 1e-5
    # (c), (d) training
    train_iters: int = 50
    train_batch: Optional[int] = None  # None: the config's
    amp: bool = True
    sync_norm: str = 'SyncBN'
    dataloader_workers: Optional[int] = None  # None: the config's
    toy_image_size: int = 160
    seg_train_images: int = 96
    train_timeout_s: float = 240.
    subprocess_env: Dict[str, str] = field(default_factory=dict)


def dry_run_settings(**overrides) -> Settings:
    """Tiny CPU settings that run every step's code path in a few minutes (see module docstring)."""
    settings = Settings(
        device='cpu', dry_run=True, time_budget_s=1500., batch_cap=4, image_size=64, warmup=1,
        repeats=2, block=1, threads=1, bench_timeout_s=300., compile_per_model=False,
        compile_env={'TORCH_COMPILE_DISABLE': '1'}, equality_batch=2, equality_size=64,
        train_iters=2, train_batch=2, amp=False, sync_norm='BN', dataloader_workers=0,
        toy_image_size=64, seg_train_images=4, train_timeout_s=300.,
        subprocess_env={'OMP_NUM_THREADS': '1'})
    return replace(settings, **overrides)


def checkout_root() -> str:
    """The checkout ``recnext_bench`` runs from: its ``configs/`` hold the toy configs of steps
    (c) and (d), and the subprocesses start there (``python -m recnext_bench...``).

    Raises:
        FileNotFoundError: The package is not installed from a checkout (editable).
    """
    import recnext_bench
    root = osp.dirname(osp.dirname(osp.abspath(recnext_bench.__file__)))
    config = osp.join(root, TRAIN_CONFIGS[0][1])
    if not osp.isfile(config):
        raise FileNotFoundError(f'{config} not found: the GPU check trains the toy configs of a '
                                f'checkout; install it with `pip install -e /path/to/recnext-mm`.')
    return root


class Budget:
    """Wall-clock budget of the whole check: later subprocesses get what is left."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.monotonic()

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def timeout(self, cap: float, reserve: float = 5.) -> float:
        """Timeout of the next subprocess: ``cap`` or what is left minus ``reserve``."""
        return min(cap, self.left() - reserve)
