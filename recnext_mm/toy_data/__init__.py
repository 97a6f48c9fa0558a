"""Generators of small, deterministic data sets in the real COCO, ADE20K and ImageNet layouts.

They depend only on numpy and OpenCV (none of mmdet, mmseg, mmpretrain is imported); the data
scripts in tools/data and the tests import them as ``recnext_mm.toy_data.<name>``.
"""
