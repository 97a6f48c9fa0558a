# The classes and image size of the embedded toy COCO set (recnext_mm/toy_data/coco.py), for
# ./toy_coco_instance.py and for the toy configs whose recipe brings its own COCO data section
# (../../rtmdet_recnext_toy_coco.py).
# Same order as recnext_mm.toy_data.coco.CLASS_NAMES (category ids 1..4).
metainfo = dict(
    classes=('red_disc', 'green_triangle', 'blue_square', 'yellow_star'),
    palette=[(220, 20, 60), (0, 170, 0), (0, 60, 230), (230, 200, 0)])
num_classes = 4
image_size = (160, 160)  # the generator's default; images are square
