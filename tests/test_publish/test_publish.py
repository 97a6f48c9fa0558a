"""Publishing (recnext_mm.publish, tools/publish_model.py): OpenMMLab checkpoints, hub folders that
timm (``local-dir:``, ``hf-hub:`` through an offline cache) and transformers (``TimmWrapper``,
``pipeline``) load back to the source logits, and fused TorchScript archives.

Sources are release-format files (``{'model': ...}``, named as the official release names them)
with seeded weights and BatchNorm statistics, for a distilled and a base model of each family.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import timm
import torch
from PIL import Image

import recnext_mm  # noqa: F401  (registers the timm models)
from recnext_mm import RecNeXtClassifier
from recnext_mm.complexity import count_params
from recnext_mm.checkpoint import CheckpointError, load_weights
from recnext_mm.publish import (make_config_loadable, publish_checkpoint, sha256_of,
                                write_fused_archive, write_hub_folder)
from recnext_mm.timm_models import TAGS
from utils import REPO, randomize_norms, reference, reference_layout, rel_diff

SMALLEST = ['m0', 'a0', 't', 't_share_channel']  # one per family
CASES = [(arch, dist) for arch in SMALLEST for dist in (True, False)]
HUB_VENV = osp.join(REPO, '.venv-hub')
HUB_PYTHON = osp.join(HUB_VENV, 'bin', 'python')


def release_name(arch, distillation):
    return f'recnext_{arch}_{"distill" if distillation else "without_distill"}_300e.pth'


def make_release_file(arch, distillation, folder, seed=0, num_classes=1000):
    """A release-format ``.pth`` and the eval-mode model whose weights it holds."""
    model = RecNeXtClassifier(arch, num_classes=num_classes, distillation=distillation)
    randomize_norms(model, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=gen))
    path = osp.join(folder, release_name(arch, distillation))
    torch.save({'model': model.state_dict()}, path)
    return path, model.eval()


def images(n=2, size=96, seed=3):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=gen)


@pytest.fixture(scope='module')
def published(tmp_path_factory):
    """{(arch, distillation): (release file, source model, hub folder)} for every case."""
    root = tmp_path_factory.mktemp('publish')
    out = {}
    for i, (arch, dist) in enumerate(CASES):
        src, model = make_release_file(arch, dist, str(root), seed=i)
        folder = write_hub_folder(src, str(root / f'hub_{arch}_{dist}'))
        out[arch, dist] = (src, model, folder)
    return out


# ----------------------------------------------------------------------------- (a) OpenMMLab
def test_openmmlab_checkpoint_drops_training_state_and_names_its_sha(tmp_path):
    model = RecNeXtClassifier('m0')
    state = {f'backbone.{k}': v for k, v in model.state_dict().items() if not k.startswith('head.')}
    state.update({k: v for k, v in model.state_dict().items() if k.startswith('head.')})
    state['teacher.stem.weight'] = torch.ones(2)
    state['data_preprocessor.mean'] = torch.zeros(3)
    src = tmp_path / 'epoch_3.pth'
    torch.save({'meta': {'epoch': 3, 'dataset_meta': {'classes': ['a', 'b']}}, 'state_dict': state,
                'optimizer': {'state': {}, 'param_groups': []}, 'message_hub': {'log': 1},
                'param_schedulers': [{'last_epoch': 3}], 'ema_state_dict': dict(state)}, src)
    final = publish_checkpoint(str(src), str(tmp_path / 'out' / 'recnext_m0_in1k.pth'))
    assert osp.basename(final) == f'recnext_m0_in1k-{sha256_of(final)[:8]}.pth'
    ckpt = torch.load(final, weights_only=True)
    assert sorted(ckpt) == ['meta', 'state_dict']
    assert ckpt['meta'] == {'epoch': 3, 'dataset_meta': {'classes': ['a', 'b']}}
    kept = {k for k in state if not k.startswith(('teacher.', 'data_preprocessor.'))}
    assert set(ckpt['state_dict']) == kept
    assert all(torch.equal(ckpt['state_dict'][k], state[k]) for k in kept)


def test_openmmlab_checkpoint_from_a_release_file(tmp_path):
    src, model = make_release_file('m0', True, str(tmp_path))
    final = publish_checkpoint(src, str(tmp_path / 'recnext_m0_distill_in1k.pth'))
    state = torch.load(final, weights_only=True)['state_dict']
    assert osp.basename(final).startswith('recnext_m0_distill_in1k-')
    for key, value in model.state_dict().items():
        mm_key = key if key.startswith('head.') else f'backbone.{key}'
        assert torch.equal(state[mm_key], value), key


# ----------------------------------------------------------------------------- (b) hub folders
def test_hub_folder_files_config_and_card(published):
    src, model, folder = published['m0', True]
    assert sorted(os.listdir(folder)) == ['README.md', 'config.json', 'model.safetensors']
    config = json.load(open(osp.join(folder, 'config.json')))
    assert config['architecture'] == 'recnext_m0' and config['num_classes'] == 1000
    assert not set(config.get('model_args', {})) & {'num_classes', 'global_pool', 'in_chans'}
    assert config['pretrained_cfg']['tag'] == TAGS[1]
    assert len(config['label_names']) == 1000
    card = open(osp.join(folder, 'README.md')).read()
    assert card.startswith('---\n') and 'library_name: timm' in card and 'license: mit' in card
    assert f'{count_params(model):,} (training form)' in card
    assert 'hf-hub:suous/recnext_m0.dist_300e_in1k' in card
    assert '(40, 80, 160, 320)' in card and '(2, 2, 9, 1)' in card  # embed dims, depths
    assert card.count('not measured') == 2  # latency and throughput without a benchmark file
    top1 = reference()['variants']['m0']['seed_table']['top1_dist']
    assert f'| ImageNet-1k top-1 | {top1} ' in card
    assert '{{' not in card and '{%' not in card


@pytest.mark.parametrize('arch,distillation', CASES)
def test_local_dir_round_trip_gives_the_source_logits(published, arch, distillation):
    src, source, folder = published[arch, distillation]
    loaded = timm.create_model(f'local-dir:{folder}', pretrained=True).eval()
    assert type(loaded) is RecNeXtClassifier and loaded.num_classes == 1000
    assert loaded.distillation is distillation  # the tag in the folder's cfg
    assert loaded.pretrained_cfg['tag'] == (TAGS[1] if distillation else TAGS[0])
    x = images()
    with torch.no_grad():
        assert rel_diff(loaded(x), source(x)) < 1e-5
    loaded.train()
    assert isinstance(loaded(x), tuple) is distillation  # the right head behaviour in training


def _hf_cache(folder, cache, repo_id):
    """Lays ``folder`` out as a hub cache entry of ``repo_id`` (refs/main -> a snapshot)."""
    import shutil
    commit = sha256_of(osp.join(folder, 'model.safetensors'))[:40]
    entry = osp.join(cache, 'models--' + repo_id.replace('/', '--'))
    shutil.copytree(folder, osp.join(entry, 'snapshots', commit))
    os.makedirs(osp.join(entry, 'refs'), exist_ok=True)
    with open(osp.join(entry, 'refs', 'main'), 'w') as f:
        f.write(commit)


HF_CHILD = textwrap.dedent('''
    import json, sys, torch, timm
    import recnext_mm
    x = torch.load(sys.argv[1])
    out = {}
    for repo_id in sys.argv[3:]:
        model = timm.create_model('hf-hub:' + repo_id, pretrained=True).eval()
        with torch.no_grad():
            out[repo_id] = dict(logits=model(x).tolist(), distillation=model.distillation,
                                tag=model.pretrained_cfg['tag'], classes=model.num_classes)
    json.dump(out, open(sys.argv[2], 'w'))
''')


@pytest.mark.slow
def test_hf_hub_round_trip_through_an_offline_cache(published, tmp_path):
    cache = str(tmp_path / 'hub')
    repos = {}
    for (arch, dist), (_, _, folder) in published.items():
        repo_id = f'recnext-mm-test/recnext_{arch}.{TAGS[1] if dist else TAGS[0]}'
        _hf_cache(folder, cache, repo_id)
        repos[repo_id] = (arch, dist)
    x = images()
    torch.save(x, tmp_path / 'x.pt')
    env = dict(os.environ, HF_HUB_OFFLINE='1', HF_HUB_CACHE=cache, HF_HOME=str(tmp_path / 'home'))
    result = subprocess.run([sys.executable, '-c', HF_CHILD, str(tmp_path / 'x.pt'),
                             str(tmp_path / 'out.json'), *repos], env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.load(open(tmp_path / 'out.json'))
    for repo_id, (arch, dist) in repos.items():
        source = published[arch, dist][1]
        with torch.no_grad():
            expected = source(x)
        got = out[repo_id]
        assert got['distillation'] is dist and got['classes'] == 1000
        assert got['tag'] == (TAGS[1] if dist else TAGS[0])
        assert rel_diff(torch.tensor(got['logits']), expected) < 1e-5, repo_id


def test_folder_with_other_classes_reloads_them(tmp_path):
    src, source = make_release_file('m0', False, str(tmp_path), num_classes=7)
    folder = write_hub_folder(src, str(tmp_path / 'hub'), repo_id='me/recnext_m0_7cls')
    loaded = timm.create_model(f'local-dir:{folder}', pretrained=True).eval()
    x = images()
    with torch.no_grad():
        assert loaded.num_classes == 7 and rel_diff(loaded(x), source(x)) < 1e-5
    card = open(osp.join(folder, 'README.md')).read()
    assert 'not evaluated for these weights' in card and 'hf-hub:me/recnext_m0_7cls' in card


def test_card_takes_latency_and_throughput_from_a_benchmark_json(tmp_path):
    src, _ = make_release_file('m0', True, str(tmp_path))
    rows = [dict(model='recnext_m0', form='train', runtime='eager', batch=1, threads=2,
                 device='cpu', median_ms=31.25, img_per_s=32.0),
            dict(model='recnext_m0', form='deploy', runtime='eager', batch=1, threads=2,
                 device='cpu', median_ms=12.5, img_per_s=80.0),
            dict(model='recnext_m0', form='deploy', runtime='eager', batch=32, threads=2,
                 device='cpu', median_ms=200.0, img_per_s=160.0)]
    bench = tmp_path / 'bench.json'
    bench.write_text(json.dumps(dict(environment=dict(cpu='Test CPU', torch='2.x'), results=rows)))
    folder = write_hub_folder(src, str(tmp_path / 'hub'), benchmark_json=str(bench))
    card = open(osp.join(folder, 'README.md')).read()
    latency = next(line for line in card.splitlines() if line.startswith('| Latency'))
    throughput = next(line for line in card.splitlines() if line.startswith('| Throughput'))
    assert f'{rows[1]["median_ms"]:.2f} ms' in latency and 'deploy form' in latency
    assert 'Test CPU' in latency
    assert f'{rows[2]["img_per_s"]:.1f} images/s' in throughput and 'batch 32' in throughput
    other = tmp_path / 'other.json'
    other.write_text(json.dumps(dict(results=[dict(rows[0], model='resnet50')])))
    with pytest.raises(ValueError, match="no timed row for recnext_m0; it has \\['resnet50'\\]"):
        write_hub_folder(src, str(tmp_path / 'hub2'), benchmark_json=str(other))


def test_hub_folder_refuses_what_it_cannot_publish(tmp_path):
    src, model = make_release_file('m0', True, str(tmp_path))
    fused = write_fused_archive(src, str(tmp_path))
    with pytest.raises(CheckpointError, match='fused TorchScript archive'):
        write_hub_folder(fused, str(tmp_path / 'a'))
    plain = tmp_path / 'weights.pth'
    torch.save({'model': model.state_dict()}, plain)
    with pytest.raises(CheckpointError, match='pass --distillation or --no-distillation'):
        write_hub_folder(str(plain), str(tmp_path / 'b'))
    with pytest.raises(ValueError, match='--repo-id ORG/NAME'):
        write_hub_folder(str(plain), str(tmp_path / 'c'), distillation=True)
    with pytest.raises(CheckpointError, match="not 'a0'"):
        write_hub_folder(src, str(tmp_path / 'd'), arch='a0')
    det = tmp_path / 'det.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in model.state_dict().items()
                               if not k.startswith('head.')}, 'message_hub': {}}, det)
    with pytest.raises(CheckpointError, match='holds no RecNeXt classifier'):
        write_hub_folder(str(det), str(tmp_path / 'e'), repo_id='me/x', distillation=False)


def test_config_rewrite_keeps_other_model_args(tmp_path):
    config = dict(architecture='recnext_m0', num_classes=10,
                  model_args=dict(num_classes=10, global_pool='avg', in_chans=3,
                                  distillation=True))
    (tmp_path / 'config.json').write_text(json.dumps(config))
    assert make_config_loadable(str(tmp_path))['model_args'] == {'distillation': True}


# ----------------------------------------------------------------------------- transformers
PIPELINE_CHILD = textwrap.dedent('''
    import json, sys
    from PIL import Image
    import recnext_mm  # registers the architectures with timm before TimmWrapper builds one
    from transformers import pipeline
    out = {}
    for folder in sys.argv[3:]:
        classify = pipeline('image-classification', model=folder)
        out[folder] = [(p['label'], p['score']) for p in classify(Image.open(sys.argv[1]), top_k=5)]
    json.dump(out, open(sys.argv[2], 'w'))
''')


@pytest.mark.slow
@pytest.mark.skipif(not osp.isfile(HUB_PYTHON),
                    reason='.venv-hub is absent: build it with bash tools/setup_hub_env.sh '
                           '(transformers must not go into .venv)')
def test_transformers_pipeline_gives_the_source_top5(published, tmp_path):
    rng = np.random.default_rng(0)
    image_path = tmp_path / 'image.png'
    Image.fromarray(rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)).save(image_path)
    folders = {published[c][2]: c for c in CASES}
    result = subprocess.run([HUB_PYTHON, '-c', PIPELINE_CHILD, str(image_path),
                             str(tmp_path / 'out.json'), *folders], capture_output=True, text=True,
                            env=dict(os.environ, HF_HUB_OFFLINE='1'))
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.load(open(tmp_path / 'out.json'))
    image = Image.open(image_path).convert('RGB')
    for folder, case in folders.items():
        source = published[case][1]
        labels = json.load(open(osp.join(folder, 'config.json')))['label_names']
        data_cfg = timm.data.resolve_model_data_config(source)
        x = timm.data.create_transform(**data_cfg, is_training=False)(image).unsqueeze(0)
        with torch.no_grad():
            scores, index = source(x).softmax(-1)[0].topk(5)
        got = out[folder]
        assert [labels.index(label) if label in labels else label for label, _ in got] == \
            index.tolist(), case
        assert np.allclose([s for _, s in got], scores.numpy(), atol=1e-5), case


# ----------------------------------------------------------------------------- (c) fused archives
@pytest.mark.parametrize('arch', SMALLEST)
def test_fused_archive_runs_under_torch_jit_and_loads_back(tmp_path, arch):
    src, source = make_release_file(arch, True, str(tmp_path))
    path = write_fused_archive(src, str(tmp_path / 'out'))
    assert osp.basename(path) == f'recnext_{arch}_distill_300e_fused.pt'
    weights = load_weights(path)
    assert weights.format == 'fused'
    assert {k: tuple(v.shape) for k, v in weights.state.items()} == \
        dict(reference_layout(arch, fused=True))
    x = images()
    with torch.no_grad():
        expected = source(x)
        assert rel_diff(torch.jit.load(path).eval()(x), expected) < 1e-5
        back = timm.create_model(f'recnext_{arch}', pretrained=True,
                                 pretrained_cfg_overlay=dict(file=path)).eval()
        assert back.deploy and rel_diff(back(x), expected) < 1e-5


def test_publish_tool_cli(tmp_path):
    src, _ = make_release_file('m0', False, str(tmp_path))
    tool = osp.join(REPO, 'tools', 'publish_model.py')
    run = subprocess.run([sys.executable, tool, 'fused', src, str(tmp_path / 'out')],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().endswith('recnext_m0_without_distill_300e_fused.pt')
    run = subprocess.run([sys.executable, tool, 'hub', src, str(tmp_path / 'hub'), '--push'],
                         capture_output=True, text=True)
    assert run.returncode != 0 and '--push needs --repo-id ORG/NAME' in run.stderr
