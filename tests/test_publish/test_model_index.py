"""The model index (model-index.yml, configs/*/metafile.yml, configs/*/README.md): one entry per
config, results and weights as the official release has them, counts by our own counters, and
README files that regenerate exactly from the metafiles (tools/dev/make_metafiles.py)."""
import glob
import os.path as osp
import subprocess
import sys

import pytest
import yaml

from recnext_mm.timm_models import RELEASE_URL, release_url
from utils import REPO, reference

FOLDERS = ('classification', 'classification/ablation', 'detection', 'segmentation')
TOOL = osp.join(REPO, 'tools', 'dev', 'make_metafiles.py')


def metafile(folder):
    with open(osp.join(REPO, 'configs', folder, 'metafile.yml')) as f:
        return yaml.safe_load(f)


def models(folder):
    return {m['Name']: m for m in metafile(folder)['Models']}


def test_model_index_imports_every_metafile():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert index == {'Import': [f'configs/{f}/metafile.yml' for f in FOLDERS]}


@pytest.mark.parametrize('folder', FOLDERS)
def test_every_config_has_one_entry_in_a_declared_collection(folder):
    meta = metafile(folder)
    stems = sorted(osp.splitext(osp.basename(p))[0]
                   for p in glob.glob(osp.join(REPO, 'configs', folder, '*.py')))
    names = [m['Name'] for m in meta['Models']]
    assert sorted(names) == stems and len(set(names)) == len(names)
    collections = {c['Name'] for c in meta['Collections']}
    for m in meta['Models']:
        assert m['In Collection'] in collections
        assert m['Config'] == f'configs/{folder}/{m["Name"]}.py'
        assert osp.isfile(osp.join(REPO, m['Config']))
        md = m['Metadata']
        assert isinstance(md['Parameters'], int) and isinstance(md['FLOPs'], int)
        assert md['Parameters'] > 0 and md['FLOPs'] > 0
        # Results exactly when the source is official (release or training log); weights exactly
        # for the release.
        assert ('Results' in m) == md['Result Source'].startswith('official')
        assert ('Weights' in m) == md['Result Source'].startswith('official release')
        if 'Results' not in m:
            assert md['Result Source'].startswith('none: ')


def test_classification_results_weights_and_counts_are_the_release_facts():
    facts = reference()['variants']
    entries = models('classification')
    for arch, variant in facts.items():
        for distilled, key in ((True, 'top1_dist'), (False, 'top1_base')):
            m = entries[f'recnext_{arch}_{"distill_" if distilled else ""}in1k']
            assert m['Results'][0]['Metrics']['Top 1 Accuracy'] == variant['seed_table'][key]
            assert m['Results'][0]['Dataset'] == 'ImageNet-1k'
            assert m['Weights'] == release_url(arch, distilled)
            assert m['Metadata']['Distillation'] is distilled
            # Our counters in the official fused form equal the counts measured on the official
            # implementation (1000 classes, fvcore at 224x224).
            measured = variant['measured_official_impl']
            assert m['Metadata']['Parameters'] == measured['params_with_1000cls_head_bn_fused']
            assert m['Metadata']['FLOPs'] == measured['macs_224_fvcore_bn_fused']
    assert 'Results' not in entries['recnext_toy_in1k']


def test_downstream_results_and_weights_are_the_release_facts():
    ref = reference()
    det, seg = models('detection'), models('segmentation')
    for arch, ap in ref['detection']['results_box_mask_AP'].items():
        m = det[f'mask_rcnn_recnext_{arch}_coco']
        metrics = {r['Task']: r['Metrics'] for r in m['Results']}
        assert metrics == {'Object Detection': {'box AP': ap[0]},
                           'Instance Segmentation': {'mask AP': ap[3]}}
        version = 'v1.0' if arch.startswith('m') else 'v2.0'
        assert m['Weights'] == f'{RELEASE_URL}/{version}/recnext_{arch}_coco.pth'
    for arch, miou in ref['segmentation']['results_mIoU'].items():
        m = seg[f'fpn_recnext_{arch}_ade20k']
        assert m['Results'] == [dict(Task='Semantic Segmentation', Dataset='ADE20K',
                                     Metrics={'mIoU': miou})]
    with_results = {n for n, m in {**det, **seg}.items() if 'Results' in m}
    assert len(with_results) == len(ref['detection']['results_box_mask_AP']) + \
        len(ref['segmentation']['results_mIoU'])


def test_ablation_results_are_the_official_logs():
    from recnext_mm.reference import ablation_logs
    entries = models('classification/ablation')
    rows = {f"recnext_m1_120e_{r['size'][0]}x{r['size'][1]}_{r['row']}": r
            for r in ablation_logs()['rows']}
    assert entries and set(entries) <= set(rows)
    for name, m in entries.items():
        row = rows[name]
        assert m['Results'][0]['Metrics'] == {'Top 1 Accuracy': row['top1']}
        assert row['log'] in m['Metadata']['Result Source'] and 'Weights' not in m
        assert m['Metadata']['FLOPs Input'] == f"{row['size'][0]}x{row['size'][1]}"


@pytest.mark.parametrize('folder,stem', [('detection', 'mask_rcnn_recnext_toy_coco'),
                                         ('segmentation', 'fpn_recnext_toy_ade')])
def test_downstream_counts_are_our_counters(folder, stem):
    from recnext_bench.flops import measure
    row = measure(osp.join(REPO, 'configs', folder, f'{stem}.py'), 'train', scope='feat')
    md = models(folder)[stem]['Metadata']
    assert (md['Parameters'], md['FLOPs']) == (row['params'], row['macs'])


def test_readmes_regenerate_from_the_metafiles():
    result = subprocess.run([sys.executable, TOOL, '--check'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    det = open(osp.join(REPO, 'configs', 'detection', 'README.md')).read()
    m3 = models('detection')['mask_rcnn_recnext_m3_coco']
    row = next(line for line in det.splitlines()
               if line.startswith('| [mask_rcnn_recnext_m3_coco]'))
    assert f'| {m3["Results"][0]["Metrics"]["box AP"]} |' in row and m3['Weights'] in row


@pytest.mark.slow
def test_metafiles_regenerate_from_configs_and_reference():
    # Counts kept from the committed files (recounting every detector takes minutes).
    result = subprocess.run([sys.executable, TOOL, '--check', '--reuse-counts'],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
