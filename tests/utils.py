"""Helpers shared by the tests (the golden-comparison ones come from recnext_bench.golden)."""
import contextlib
import importlib
import os.path as osp
from collections import OrderedDict

import torch

from recnext_bench import golden as _golden

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The golden comparison's helpers, one copy shared with tools/dev/make_official_golden.py.
# The recorded official outputs (tools/dev/make_official_golden.py and
# tools/dev/make_official_variant_golden.py write them).
GOLDEN = osp.join(REPO, 'tests', 'data', 'official_outputs.pt')
VARIANT_GOLDEN = osp.join(REPO, 'tests', 'data', 'official_variants.pt')
golden_input = _golden.golden_input
sample_indices = _golden.sample_indices
seeded_state_dict = _golden.seeded_state_dict
randomize_norms = _golden.randomize_norms


def reference():
    """The measured facts about the official release (recnext_mm/reference/README.md)."""
    from recnext_mm.reference import reference_facts
    return reference_facts()


def reference_layout(arch, fused=False):
    """``{key: shape}`` of the released checkpoint of ``arch`` (``fused``: of the official fused
    TorchScript archive)."""
    from recnext_mm.reference import release_layout
    return release_layout(arch, fused)


def rel_diff(a, b):
    """Largest absolute difference relative to the largest magnitude of ``b``."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def model_layout(arch):
    """``{key: shape}`` of our timm model of ``arch`` (equal to the release layout: tested)."""
    from recnext_mm import RecNeXtClassifier
    return OrderedDict((k, tuple(v.shape)) for k, v in RecNeXtClassifier(arch).state_dict().items())


def load_toy_module(name):
    """The toy data generator ``recnext_mm.toy_data.<name>`` (coco, ade, imagenet)."""
    import importlib
    return importlib.import_module(f'recnext_mm.toy_data.{name}')


def tree_digest(root):
    """SHA-256 over the relative paths and bytes of every file below ``root``."""
    import glob
    import hashlib
    digest = hashlib.sha256()
    for path in sorted(glob.glob(osp.join(root, '**', '*.*'), recursive=True)):
        digest.update(osp.relpath(path, root).encode())
        with open(path, 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()


def build_cfg_model(cfg):
    """The model of an mm config with random weights (no pretrained download), SyncBN reverted to
    BN as the Runner does without a process group."""
    from mmengine.model import revert_sync_batchnorm

    from recnext_mm.builder import build_model_from_cfg
    return revert_sync_batchnorm(build_model_from_cfg(cfg))


def seg_batch(num_classes, batch=2, size=64):
    """A random mmseg batch: ``(inputs, data_samples)`` with label maps (some pixels ignored)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch, 3, size, size, generator=gen)
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        label = torch.randint(0, num_classes, (1, size, size), generator=gen)
        label[:, :4] = 255  # some ignored pixels
        sample.gt_sem_seg = PixelData(data=label)
        sample.set_metainfo(dict(img_shape=(size, size), pad_shape=(size, size),
                                 ori_shape=(size, size)))
        samples.append(sample)
    return inputs, samples


@contextlib.contextmanager
def downstream_scope(package: str):
    """mmengine's default scope set to ``package`` ('mmdet', 'mmseg', 'mmpretrain') inside the
    block and restored after it: a scope left behind would send later tests' builds to that
    package's registries."""
    from mmengine.registry import DefaultScope
    importlib.import_module(f'{package}.utils').register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(package):
        yield
