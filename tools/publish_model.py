#!/usr/bin/env python
"""Publish a checkpoint: an OpenMMLab file, a Hugging Face hub folder or a fused TorchScript archive.

    # (a) OpenMMLab: training state dropped, sha256 prefix in the name -> work_dirs/m3_coco-<sha>.pth
    python tools/publish_model.py openmmlab work_dirs/mask_rcnn_recnext_m3_coco/epoch_12.pth \\
        work_dirs/m3_coco.pth
    # (b) hub folder (config.json, model.safetensors, README.md) of a classifier; --push uploads it
    python tools/publish_model.py hub recnext_m3_distill_300e.pth out/recnext_m3.dist_300e_in1k \\
        [--benchmark-json bench.json] [--push]
    python tools/publish_model.py hub work_dirs/recnext_toy_in1k/epoch_16.pth out/toy \\
        --repo-id me/recnext_toy --no-distillation
    # (c) fused TorchScript archive, official key layout -> out/recnext_m3_distill_300e_fused.pt
    python tools/publish_model.py fused recnext_m3_distill_300e.pth out/

Sources: an mmengine checkpoint of any of our tasks, or a release file (official ImageNet .pth,
mmdet 2.x COCO, mmseg 0.x ADE20K, .safetensors); hub folders and fused archives need a classifier.
Offline, ``hub`` writes the folder; ``--push`` needs the network and a hub token. Logic:
recnext_mm.publish.
"""
import argparse
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='kind', required=True)
    mm = sub.add_parser('openmmlab', help='OpenMMLab checkpoint without training state')
    mm.add_argument('src')
    mm.add_argument('out', help='output path; written as <stem>-<sha256[:8]>.pth')
    for name, help_text in (('hub', 'Hugging Face hub folder of a classifier'),
                            ('fused', 'fused TorchScript archive of a classifier')):
        p = sub.add_parser(name, help=help_text)
        p.add_argument('src')
        p.add_argument('out', help='output folder')
        p.add_argument('--arch', help='expected arch (checked; inferred from the weights)')
        p.add_argument('--distillation', action=argparse.BooleanOptionalAction, default=None,
                       help='whether the weights were trained with distillation (inferred from a '
                            'release file name or an mmpretrain checkpoint\'s teacher)')
    hub = sub.choices['hub']
    hub.add_argument('--repo-id', help='ORG/NAME (default for release files: '
                                       'suous/recnext_<arch>.<tag>)')
    hub.add_argument('--benchmark-json', help='benchmark.py --out-json file for latency/throughput')
    hub.add_argument('--push', action='store_true', help='upload the folder (network needed)')
    hub.add_argument('--private', action='store_true', help='with --push: a private repository')
    sub.choices['fused'].add_argument('--name', help='file name (default: the official naming)')
    return parser.parse_args(argv)


def main(argv=None):
    """Publishes; returns the file or folder written (with --push: the repository URL)."""
    args = parse_args(argv)
    import recnext_mm  # noqa: F401  (registers the timm models)
    from recnext_mm import publish
    from recnext_mm.checkpoint import CheckpointError
    try:
        if args.kind == 'openmmlab':
            written = publish.publish_checkpoint(args.src, args.out)
        elif args.kind == 'hub':
            if args.push and not args.repo_id:
                sys.exit('error: --push needs --repo-id ORG/NAME, the repository to create.')
            written = publish.write_hub_folder(args.src, args.out, repo_id=args.repo_id,
                                               arch=args.arch, distillation=args.distillation,
                                               benchmark_json=args.benchmark_json)
            if args.push:
                print(written)
                written = publish.push_hub_folder(written, args.repo_id, private=args.private)
        else:
            written = publish.write_fused_archive(args.src, args.out, arch=args.arch,
                                                  distillation=args.distillation, name=args.name)
    except (CheckpointError, ValueError, FileNotFoundError) as err:
        sys.exit(f'error: {err}')
    print(written)
    return written


if __name__ == '__main__':
    main()
