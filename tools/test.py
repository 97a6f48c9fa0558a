#!/usr/bin/env python
"""Evaluate a checkpoint: box/mask AP, mIoU or top-1/top-5, depending on the config.

    python tools/test.py CONFIG CHECKPOINT [--out preds.pkl] [--show-dir vis] [--deploy]
    bash tools/dist_test.sh CONFIG CHECKPOINT 8

``--deploy`` evaluates the deploy form: after the (strict) load every RecNeXt part is fused
(``recnext_mm.deploy.deploy_model``): the same predictions within float tolerance, 1.6x faster for
the M3 Mask R-CNN on CPU.

CHECKPOINT may be an mmengine checkpoint or a released file (official ImageNet, mmdet 2.x COCO,
mmseg 0.x ADE20K): those are converted on the fly, see tools/convert_checkpoint.py.
"""
import argparse
import json
import os

from recnext_mm.runner_utils import (add_dump_metric, check_data, common_arguments,
                                     enable_visualization, prepare_checkpoint, set_local_rank,
                                     setup_cfg)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument('--out', help='pickle the raw predictions to this file (.pkl)')
    parser.add_argument('--show-dir', help='draw predictions into this directory (in the work dir)')
    parser.add_argument('--deploy', action='store_true',
                        help='evaluate the fused deploy form of the RecNeXt backbone (faster)')
    common_arguments(parser)
    args = parser.parse_args(argv)
    set_local_rank(args)
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = setup_cfg(args, args.config)
    check_data(cfg, splits=('test',))
    # The backbone's ImageNet init is irrelevant when a full checkpoint is loaded.
    if cfg.model.get('backbone', {}).get('init_cfg'):
        cfg.model.backbone.init_cfg = None
    checkpoint = prepare_checkpoint(args.checkpoint, cfg, cfg.work_dir)
    # The Runner's load_from is lenient (missing keys only warn); evaluation needs every weight.
    cfg.load_from = None
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must end with .pkl or .pickle')
        add_dump_metric(cfg, args.out)
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    try:
        runner.load_checkpoint(checkpoint, map_location='cpu', strict=True)
    except RuntimeError as err:
        raise SystemExit(f'error: checkpoint {args.checkpoint} does not fit {args.config}:\n{err}')
    if args.deploy:
        from recnext_mm.deploy import deploy_model
        deploy_model(runner.model)
        runner.logger.info('Evaluating the deploy form (every RecNeXt part fused).')
    from recnext_mm.engine.bad_images import BadImageError
    try:
        metrics = runner.test()
    except BadImageError as err:  # evaluation never skips an image: name it and stop
        runner.logger.error(str(err))
        raise SystemExit(f'error: {err}')
    if runner.rank == 0:
        with open(os.path.join(cfg.work_dir, 'test_metrics.json'), 'w') as f:
            json.dump(metrics, f, indent=1, default=float)
        print('Test metrics:', json.dumps(metrics, default=float))
    return metrics


if __name__ == '__main__':
    main()
