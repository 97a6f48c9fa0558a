# The toy COCO set of ./toy_coco_instance.py for box-only detectors: no masks loaded, box AP only.
_base_ = './toy_coco_instance.py'


def boxes_only(pipeline):
    """The steps of a pipeline with the annotations loaded without masks (a function: not part of
    the resolved config)."""
    return [dict(type='LoadAnnotations', with_bbox=True) if step.type == 'LoadAnnotations' else step
            for step in pipeline]


train_pipeline = boxes_only(_base_.train_pipeline)
test_pipeline = boxes_only(_base_.test_pipeline)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
