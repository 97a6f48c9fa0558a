"""Generators of small, deterministic data sets in the real COCO, ADE20K and ImageNet layouts.

They depend only on numpy and OpenCV, so they run before (and without) the mm packages.
"""
