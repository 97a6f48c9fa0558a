"""Publishing models the way the ecosystem expects them (``tools/publish_model.py``).

Three outputs, from a checkpoint of any of our tasks (an mmengine Runner checkpoint) or a release
file (official ImageNet ``.pth``, mmdet 2.x COCO, mmseg 0.x ADE20K, ``.safetensors``):

- :func:`publish_checkpoint`: an OpenMMLab checkpoint with only ``meta`` and ``state_dict`` (no
  optimizer, message hub, schedulers or EMA copy, no distillation teacher), named
  ``<stem>-<first 8 hex digits of its sha256>.pth`` as OpenMMLab's ``publish_model`` names files.
- :func:`write_hub_folder`: for a classifier, a Hugging Face hub folder as timm writes it
  (``config.json``, ``model.safetensors``) through ``timm.models.save_for_hf``, plus a README
  rendered from our model card template (``recnext_mm/templates/model_card.md``) with the counted
  parameters and MACs, the architecture settings, and latency / throughput from a benchmark JSON
  (``tools/analysis_tools/benchmark.py --out-json``) or "not measured". ``config.json`` is written
  so that transformers' ``TimmWrapper`` builds it too (see :func:`make_config_loadable`).
  :func:`push_hub_folder` uploads such a folder (network needed).
- :func:`write_fused_archive`: a TorchScript archive of the official fused graph
  (``to_form(model, 'official_fused')``, the key layout of the official ``*_fused.pt``), which
  ``torch.jit.load`` runs and :func:`recnext_mm.checkpoint.load_weights` reads back.
"""
import hashlib
import json
import os
import os.path as osp
import re
import tempfile
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from .backbones.forms import to_form
from .checkpoint import CheckpointError, load_into, load_weights, read_checkpoint

__all__ = ['CARD_TEMPLATE', 'sha256_of', 'publish_checkpoint', 'load_classifier_source',
           'write_hub_folder', 'make_config_loadable', 'render_model_card', 'push_hub_folder',
           'write_fused_archive', 'benchmark_figures']

CARD_TEMPLATE = osp.join(osp.dirname(osp.abspath(__file__)), 'templates', 'model_card.md')
# Runner state that a published checkpoint drops (OpenMMLab's publish_model convention).
TRAINING_STATE = ('optimizer', 'message_hub', 'param_schedulers', 'ema_state_dict', 'scheduler')
# model_args that transformers' TimmWrapper passes to timm.create_model itself.
WRAPPER_OWNED_ARGS = ('num_classes', 'global_pool', 'in_chans')
CITATION = """@misc{zhao2024recnext,
  title={RecConv: Efficient Recursive Convolutions for Multi-Frequency Representations},
  author={Mingshu Zhao and Yi Luo and Yong Ouyang},
  year={2024},
  eprint={2412.19628},
  archivePrefix={arXiv},
  primaryClass={cs.CV}
}"""
FAMILY_TEXT = {'recconv': 'M series: RecConv token mixer, bilinear interpolation',
               'recattn': 'A series: RecConv with linear attention, nearest interpolation',
               'lsnet': 'LSNet-style design with RecConv',
               'lsnet_share_channel': 'LSNet-style design with shared-channel blocks'}


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- (a) OpenMMLab
def publish_checkpoint(src: str, out: str) -> str:
    """Writes ``src`` as a published OpenMMLab checkpoint; returns the final path.

    Args:
        src (str): An mmengine checkpoint of any of our tasks, or a release file (converted as
            ``tools/convert_checkpoint.py`` converts it).
        out (str): Output path; the file is named ``<stem of out>-<sha256[:8]>.pth`` beside it.

    Raises:
        recnext_mm.checkpoint.CheckpointError: unreadable or unrecognised source.
    """
    from .convert import convert_checkpoint
    weights = load_weights(src)
    if weights.format == 'mmengine':
        ckpt = read_checkpoint(src)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            converted = osp.join(tmp, 'converted.pth')
            convert_checkpoint(src, converted)
            ckpt = torch.load(converted, map_location='cpu', weights_only=True)
    state = OrderedDict((k, v) for k, v in ckpt['state_dict'].items()
                        if not k.startswith(('teacher.', 'data_preprocessor.')))
    meta = dict(ckpt.get('meta') or {})
    published = {'meta': meta, 'state_dict': state}
    stem = osp.splitext(out)[0]
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    tmp_path = stem + '.tmp.pth'
    torch.save(published, tmp_path)
    final = f'{stem}-{sha256_of(tmp_path)[:8]}.pth'
    os.replace(tmp_path, final)
    return final


# ----------------------------------------------------------------------------- classifier sources
def _distillation_from_name(path: str) -> Optional[bool]:
    name = osp.basename(path)
    if 'without_distill' in name:
        return False
    if 'distill' in name:
        return True
    return None


def load_classifier_source(src: str, arch: Optional[str] = None,
                           distillation: Optional[bool] = None):
    """Builds the timm classifier of ``src`` with its weights (training form).

    Args:
        src (str): A release ``.pth`` (``{'model': ...}``), a ``.safetensors`` or plain state dict
            in the release layout, or an mmpretrain classifier checkpoint (``backbone.*``,
            ``head.head*``) of our configs.
        arch (str, optional): Checked against the weights; inferred from them when omitted.
        distillation (bool, optional): Whether the weights were trained with distillation (it
            selects the tag and the card's wording; the network is the same). Inferred from a
            release file name (``_distill_`` / ``_without_distill_``) or from the teacher in an
            mmpretrain checkpoint when omitted.

    Returns:
        tuple: ``(model, arch, distillation, weights_format)``.

    Raises:
        CheckpointError: a fused archive or non-classifier weights, an arch mismatch, or
            ``distillation`` that cannot be inferred.
    """
    import timm

    from .convert import classifier_to_official, infer_arch
    weights = load_weights(src)
    if weights.format == 'fused':
        raise CheckpointError(
            f'{src!r} is a fused TorchScript archive: its BatchNorms are folded, so it cannot give '
            f'the training-form weights a hub folder holds. Publish from the release .pth or a '
            f'training checkpoint instead.')
    state = weights.state
    has_teacher = any(k.startswith('teacher.') for k in state)
    if any(k.startswith('backbone.') for k in state):
        state = classifier_to_official(state)
    if 'head.head.linear.weight' not in state:
        raise CheckpointError(
            f'{src!r} holds no RecNeXt classifier (no head.head.linear.weight; a detector or '
            f'segmentor checkpoint cannot become a timm classifier). Use an ImageNet checkpoint.')
    found = infer_arch(state)
    if arch is not None and arch != found:
        raise CheckpointError(f'{src!r} holds RecNeXt-{found} weights, not {arch!r}: drop --arch '
                              f'or pass --arch {found}.')
    if distillation is None:
        distillation = _distillation_from_name(src)
        if distillation is None and weights.format == 'mmengine':
            distillation = has_teacher
    if distillation is None:
        raise CheckpointError(
            f'Cannot tell whether {src!r} was trained with distillation (the network is the same '
            f'either way): pass --distillation or --no-distillation.')
    num_classes = state['head.head.linear.weight'].shape[0]
    model = timm.create_model(f'recnext_{found}', pretrained=False, num_classes=num_classes,
                              distillation=distillation)
    load_into(model, state, f'Checkpoint {src!r} ({weights.format} format)')
    return model.eval(), found, distillation, weights.format


# ----------------------------------------------------------------------------- (b) hub folder
def benchmark_figures(path: Optional[str], model_name: str) -> Tuple[str, str]:
    """(latency, throughput) text for the card from a ``benchmark.py --out-json`` file.

    Latency: the batch-1 eager row (deploy form preferred); throughput: the largest batch. Without
    a file both are "not measured".

    Raises:
        ValueError: the file has no successful row for ``model_name``.
    """
    if not path:
        return 'not measured', 'not measured'
    with open(path, encoding='utf-8') as f:
        payload = json.load(f)
    env = payload.get('environment', {})
    rows = [r for r in payload.get('results', [])
            if r.get('model') == model_name and not r.get('error') and r.get('median_ms')]
    if not rows:
        names = sorted({r.get('model') for r in payload.get('results', [])})
        raise ValueError(f'{path} has no timed row for {model_name}; it has {names}. Run '
                         f'tools/analysis_tools/benchmark.py --models {model_name} --out-json ...')
    order = {'deploy': 0, 'official_fused': 1, 'train': 2}
    rows.sort(key=lambda r: (order.get(r.get('form'), 3), r.get('runtime') != 'eager'))

    def where(r):
        return (f"{r.get('form')} form, {r.get('runtime', 'eager')}, batch {r.get('batch')}, "
                f"{r.get('threads')} threads, {r.get('device', 'cpu')}"
                + (f" ({env['cpu']})" if env.get('cpu') and r.get('device', 'cpu') == 'cpu' else '')
                + f", torch {env.get('torch', '?')}")

    ones = [r for r in rows if r.get('batch') == 1]
    latency = f"{ones[0]['median_ms']:.2f} ms median ({where(ones[0])})" if ones else 'not measured'
    big = max(rows, key=lambda r: (r.get('batch') or 0, -order.get(r.get('form'), 3)))
    throughput = (f"{big['img_per_s']:.1f} images/s ({where(big)})"
                  if big.get('batch', 1) > 1 and big.get('img_per_s') else 'not measured')
    return latency, throughput


_COUNTS: Dict[tuple, Dict[str, str]] = {}


def _count(model, arch: str) -> Dict[str, str]:
    """Params (training and fused form) and fused-form MACs of ``model``; they depend on the
    architecture, classes and input size only, so they are counted once per such key."""
    import copy

    from .complexity import count_macs, count_params
    size = tuple(model.pretrained_cfg.get('input_size', (3, 224, 224)))
    key = (arch, model.num_classes, size)
    if key not in _COUNTS:
        fused = copy.deepcopy(model).eval()
        to_form(fused, 'official_fused')
        macs = count_macs(fused, torch.randn(1, *size))
        _COUNTS[key] = dict(params_train=f'{count_params(model):,}',
                            params_fused=f'{count_params(fused):,}',
                            macs=f'{macs:,} ({macs / 1e9:.2f} G)')
    return _COUNTS[key]


def render_model_card(model, arch: str, distillation: bool, repo_id: str, *,
                      source: str, top1: Optional[float] = None,
                      benchmark_json: Optional[str] = None,
                      template: str = CARD_TEMPLATE) -> str:
    """The README.md text of a hub folder: our template filled with the card data and the facts
    counted on ``model`` (never copied figures)."""
    from huggingface_hub import ModelCard, ModelCardData

    from .backbones.archs import ARCH_SETTINGS
    settings = ARCH_SETTINGS[arch]
    cfg = model.pretrained_cfg
    latency, throughput = benchmark_figures(benchmark_json, f'recnext_{arch}')
    name = repo_id.split('/')[-1]
    card_data = ModelCardData(
        license='mit', library_name='timm', pipeline_tag='image-classification',
        tags=['image-classification', 'timm', 'transformers', 'recnext',
              'knowledge-distillation' if distillation else 'without-distillation'],
        datasets=['imagenet-1k'], metrics=['accuracy'], model_name=name)
    mlp = settings.get('mlp_ratios', settings.get('mlp_ratio'))
    size = cfg.get('input_size', (3, 224, 224))
    card = ModelCard.from_template(
        card_data, template_path=template,
        title=f'{name}: RecNeXt-{arch.upper()}'
              + (' (knowledge distillation)' if distillation else ' (without distillation)'),
        arch=arch, family_text=FAMILY_TEXT.get(settings['family'], settings['family']),
        distillation=distillation, architecture=f'recnext_{arch}', repo_id=repo_id,
        embed_dims=tuple(settings['embed_dims']), depths=tuple(settings['depths']),
        mlp_ratio=tuple(mlp) if isinstance(mlp, (list, tuple)) else mlp,
        num_classes=model.num_classes, image_size=f'{size[1]}x{size[2]}',
        crop_pct=cfg.get('crop_pct'), interpolation=cfg.get('interpolation'),
        mean=tuple(cfg.get('mean', ())), std=tuple(cfg.get('std', ())),
        latency=latency, throughput=throughput,
        top1=(f'{top1} (the official release\'s model card)' if top1 is not None else
              'not evaluated for these weights'),
        source=source, citation=CITATION, **_count(model, arch))
    return str(card)


def make_config_loadable(folder: str) -> dict:
    """Rewrites ``folder/config.json`` (as ``save_for_hf`` wrote it) so that transformers'
    ``TimmWrapper`` builds it too; returns the new config.

    ``save_for_hf`` records ``num_classes``, ``global_pool`` and ``in_chans`` in ``model_args``,
    which ``TimmWrapper`` also passes to ``timm.create_model`` ("got multiple values for keyword
    argument"). They are dropped there; the root ``num_classes`` and the pretrained cfg keep them
    for timm (our factory reads the classes from a folder's cfg).
    """
    path = osp.join(folder, 'config.json')
    with open(path, encoding='utf-8') as f:
        config = json.load(f)
    args = config.get('model_args') or {}
    for key in WRAPPER_OWNED_ARGS:
        args.pop(key, None)
    if args:
        config['model_args'] = args
    else:
        config.pop('model_args', None)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(config, f, indent=2)
    return config


def write_hub_folder(src: str, out_dir: str, repo_id: Optional[str] = None,
                     arch: Optional[str] = None, distillation: Optional[bool] = None,
                     benchmark_json: Optional[str] = None) -> str:
    """Writes a hub folder for the classifier in ``src``; returns ``out_dir``.

    Args:
        src (str): See :func:`load_classifier_source`.
        out_dir (str): The folder (created; an existing ``config.json`` there is replaced).
        repo_id (str, optional): ``ORG/NAME`` named in the card. Default for official release
            files: ``suous/recnext_<arch>.<tag>``; other sources must name one.
        arch, distillation: See :func:`load_classifier_source`.
        benchmark_json (str, optional): A ``benchmark.py --out-json`` file for the card's latency
            and throughput.
    """
    from timm.data import ImageNetInfo
    from timm.models import save_for_hf

    from .reference import reference_facts
    from .timm_models import TAGS
    model, arch, distillation, fmt = load_classifier_source(src, arch, distillation)
    tag = TAGS[1] if distillation else TAGS[0]
    # Only a file named as the release names it, with ImageNet's classes, is taken for the release.
    official = (fmt == 'release' and model.num_classes == 1000 and osp.basename(src) ==
                f'recnext_{arch}_{"distill" if distillation else "without_distill"}_300e.pth')
    if repo_id is None:
        if not official:
            raise ValueError(f'{src!r} is not an official release file: name the hub repository '
                             f'with --repo-id ORG/NAME.')
        repo_id = f'suous/recnext_{arch}.{tag}'
    if not re.fullmatch(r'[\w.-]+/[\w.-]+', repo_id):
        raise ValueError(f'repo_id must read ORG/NAME, got {repo_id!r}.')
    model_config = {}
    if model.num_classes == 1000:
        info = ImageNetInfo()
        model_config.update(label_names=info.label_names(),
                            label_descriptions=info.label_descriptions(as_dict=True))
    os.makedirs(out_dir, exist_ok=True)
    save_for_hf(model, out_dir, model_config=model_config, safe_serialization=True)
    make_config_loadable(out_dir)
    top1 = None
    if official:
        top1 = reference_facts()['variants'][arch]['seed_table'][
            'top1_dist' if distillation else 'top1_base']
    card = render_model_card(model, arch, distillation, repo_id, source=osp.basename(src),
                             top1=top1, benchmark_json=benchmark_json)
    with open(osp.join(out_dir, 'README.md'), 'w', encoding='utf-8') as f:
        f.write(card)
    return out_dir


def push_hub_folder(folder: str, repo_id: str, private: bool = False,
                    token: Optional[str] = None) -> str:
    """Uploads a folder written by :func:`write_hub_folder` (network and a hub token needed).

    The folder is uploaded as written (not re-exported by ``timm.models.push_to_hf_hub``, whose
    fresh ``config.json`` would again carry the arguments TimmWrapper refuses).
    """
    from huggingface_hub import HfApi
    for name in ('config.json', 'model.safetensors', 'README.md'):
        if not osp.isfile(osp.join(folder, name)):
            raise FileNotFoundError(f'{folder} has no {name}: write it with write_hub_folder '
                                    f'first.')
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message='Add model')
    return f'https://huggingface.co/{repo_id}'


# ----------------------------------------------------------------------------- (c) fused archive
def write_fused_archive(src: str, out_dir: str, arch: Optional[str] = None,
                        distillation: Optional[bool] = None, name: Optional[str] = None) -> str:
    """Writes the official fused graph of the classifier in ``src`` as a TorchScript archive.

    Named as the official release names them, ``recnext_<arch>_<distill|without_distill>_300e
    _fused.pt``, unless ``name`` is given (``_fused.pt`` is appended when missing, the suffix our
    loaders and the official tools know). Returns the path.
    """
    model, arch, distillation, _ = load_classifier_source(src, arch, distillation)
    if name is None:
        name = f'recnext_{arch}_{"distill" if distillation else "without_distill"}_300e'
    if not name.endswith('_fused.pt'):
        name = name[:-3] if name.endswith('.pt') else name
        name += '_fused.pt'
    to_form(model, 'official_fused')
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, name)
    tmp = path + '.tmp'
    torch.jit.script(model.eval()).save(tmp)
    os.replace(tmp, path)
    return path

