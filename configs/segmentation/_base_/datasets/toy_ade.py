# The embedded toy set in the ADE20K layout (recnext_mm/toy_data/ade.py): 5 classes, images of
# about 160x128, 8 images per training batch, one process.
#   python tools/data/make_toy_ade.py                       # writes data/toy_ade (about 2 MB)
# The pipelines of ./ade20k.py at toy scale: resize of (512, 128) by 0.75-1.5, 128x128 crops.
# The classes come from the dataset metainfo with the generic BaseSegDataset (ADE20KDataset would
# try to map them onto its 150 ADE classes), with reduce_zero_label=True as for ADE20K.
_base_ = './ade20k.py'

classes = ('ground', 'disc', 'box', 'triangle', 'stripes')  # = recnext_mm.toy_data.ade.CLASSES
palette = [[120, 120, 120], [220, 20, 60], [0, 80, 230], [30, 170, 60], [250, 200, 0]]
metainfo = dict(classes=classes, palette=palette)
num_classes = len(classes)
data_root = 'data/toy_ade'
crop_size = (128, 128)


def at_toy_scale(pipeline):
    """The steps of an ADE20K pipeline with the toy's classes and sizes (a function: not part of
    the resolved config)."""
    changes = dict(CheckSegLabels=dict(num_classes=num_classes),
                   RandomResize=dict(scale=(512, 128), ratio_range=(0.75, 1.5)),
                   RandomCrop=dict(crop_size=crop_size),
                   Resize=dict(scale=(512, 128)))
    return [dict(step, **changes.get(step.type, {})) for step in pipeline]


train_pipeline = at_toy_scale(_base_.train_pipeline)
test_pipeline = at_toy_scale(_base_.test_pipeline)
toy_dataset = dict(
    _delete_=True,  # nothing of the ADE20KDataset entries of the base carries over
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True)
train_dataloader = dict(
    batch_size=8, num_workers=1,
    dataset=dict(toy_dataset, data_prefix=dict(img_path='images/training',
                                               seg_map_path='annotations/training'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=1,
    dataset=dict(toy_dataset, data_prefix=dict(img_path='images/validation',
                                               seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
