"""The report model of the data check: what each problem kind means, one :class:`Finding` per
problem, the :class:`DataReport` with its summary table and listing, and the :class:`Collector`
the checkers add to."""
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .images import check_images

__all__ = ['KINDS', 'MODES', 'SEVERITIES', 'Finding', 'DatasetSummary', 'DataReport', 'Collector']

MODES = ('paths', 'exists', 'header', 'decode')
SEVERITIES = ('error', 'warning', 'info')

# kind -> what it means and what the mm packages do with it (printed with the summary).
KINDS: Dict[str, str] = {
    'missing_data': "the config's data root, annotation file or image folder does not exist",
    'no_images': 'the image folder holds no image file',
    'missing_path': 'a data root, folder or annotation file does not exist',
    'bad_annotation_file': 'the annotation file cannot be read or parsed',
    'missing_image': 'image file missing: training skips it, evaluation stops',
    'unreadable_image': 'image cannot be opened or decoded: training skips it, evaluation stops',
    'size_mismatch': 'image size differs from width/height in the annotation file',
    'duplicate_ann_id': 'annotation id used twice: mmdet refuses the file',
    'bad_annotation': "malformed annotation (bbox not [x, y, w, h], no 'area'): mmdet fails",
    'unknown_category': "category id not among the file's categories: mmdet drops it",
    'other_category': "category not among the config's classes: mmdet drops it",
    'zero_area': 'area <= 0 or a box side < 1 px: mmdet drops it',
    'box_outside': 'box entirely outside the image: mmdet drops it',
    'box_partly_outside': 'box partly outside the image: clipped by the transforms',
    'no_segmentation': 'no polygon or RLE: Mask R-CNN training fails (KeyError: mask)',
    'empty_polygon': 'a polygon without points: mmdet drops the polygon',
    'degenerate_polygon': 'polygon of < 3 points, odd length or zero area: dropped or empty mask',
    'orphan_annotation': 'annotation of an image id not in the file: never used',
    'no_annotations': 'image without annotations (dropped from training by filter_empty_gt)',
    'no_valid_annotations': 'every annotation of the image is dropped: a background-only sample',
    'image_too_small': 'image below filter_cfg.min_size: dropped from training',
    'empty_class': 'a class without any image or annotation',
    'class_mismatch': 'class folders do not match the configured classes: mmpretrain stops',
    'bad_label': 'label index outside the classes in the annotation list',
    'missing_label': 'label map missing: training and evaluation stop',
    'unreadable_label': 'label map cannot be decoded or is not one channel of class indices',
    'label_size_mismatch': 'label map size differs from its image',
    'label_out_of_range': 'label values outside the classes and the ignore index',
}


@dataclass
class Finding:
    """One problem found in the data.

    Attributes:
        split (str): 'train', 'val' or 'test'.
        kind (str): A key of :data:`KINDS`.
        severity (str): 'error', 'warning' or 'info'.
        file (str): The file concerned (image, label map or annotation file).
        detail (str): What exactly is wrong.
        ann_id: The annotation id, for annotation problems.
    """
    split: str
    kind: str
    severity: str
    file: str
    detail: str = ''
    ann_id: Any = None

    def line(self) -> str:
        where = f'annotation {self.ann_id} of {self.file}' if self.ann_id is not None else self.file
        return f'[{self.severity}] {self.split} {self.kind}: {where}' + \
            (f': {self.detail}' if self.detail else '')


@dataclass
class DatasetSummary:
    """What was checked for one dataset of a split."""
    split: str
    name: str
    images: int = 0
    annotations: int = 0
    labels: int = 0


@dataclass
class DataReport:
    """The result of :func:`recnext_mm.data_check.check_config_data`."""
    mode: str
    datasets: List[DatasetSummary] = field(default_factory=list)
    findings: List[Finding] = field(default_factory=list)

    def of(self, severity: str) -> List[Finding]:
        return [f for f in self.findings if f.severity == severity]

    @property
    def errors(self) -> List[Finding]:
        return self.of('error')

    @property
    def warnings(self) -> List[Finding]:
        return self.of('warning')

    def counts(self) -> Counter:
        """``Counter`` of ``(split, kind, severity)``."""
        return Counter((f.split, f.kind, f.severity) for f in self.findings)

    def dropped_annotations(self, split: str = 'train') -> Dict[str, int]:
        """Annotation findings of a split by kind (what mmdet drops, ignores or fails on)."""
        return dict(Counter(f.kind for f in self.findings if f.split == split and
                            f.ann_id is not None and f.kind != 'box_partly_outside'))

    def table(self) -> str:
        """The summary: what was checked per dataset, then the problems by kind."""
        rows = [('split', 'dataset', 'images', 'annotations', 'label maps', 'errors', 'warnings')]
        for ds in self.datasets:
            mine = [f for f in self.findings if f.split == ds.split]
            if ds.name.startswith('same data as'):
                rows.append((ds.split, ds.name, '-', '-', '-', '-', '-'))
                continue
            rows.append((ds.split, ds.name, str(ds.images), str(ds.annotations), str(ds.labels),
                         str(sum(f.severity == 'error' for f in mine)),
                         str(sum(f.severity == 'warning' for f in mine))))
        lines = _format_rows(rows)
        counts = self.counts()
        if counts:
            rows = [('split', 'problem', 'severity', 'count', 'meaning')]
            order = {s: i for i, s in enumerate(SEVERITIES)}
            for (split, kind, severity), n in sorted(
                    counts.items(), key=lambda kv: (kv[0][0], order[kv[0][2]], kv[0][1])):
                rows.append((split, kind, severity, str(n), KINDS.get(kind, '')))
            lines += [''] + _format_rows(rows)
        else:
            lines += ['', f'No problems found (checks: {self.mode}).']
        return '\n'.join(lines)

    def listing(self, severities: Sequence[str] = ('error', 'warning'),
                limit: Optional[int] = None) -> str:
        """One line per problem of the given severities, errors first."""
        chosen = [f for s in severities for f in self.findings if f.severity == s]
        shown = chosen if limit is None else chosen[:limit]
        lines = [f.line() for f in shown]
        if len(shown) < len(chosen):
            lines.append(f'... and {len(chosen) - len(shown)} more (python tools/check_dataset.py '
                         f'CONFIG lists them all)')
        return '\n'.join(lines)

    def format(self, limit: Optional[int] = None, with_info: bool = False) -> str:
        severities = SEVERITIES if with_info else ('error', 'warning')
        text = self.table()
        listing = self.listing(severities, limit)
        if listing:
            text += '\n\nProblems:\n' + listing
        return text


def _format_rows(rows: List[Tuple[str, ...]]) -> List[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, row in enumerate(rows):
        out.append('  '.join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if j == 0:
            out.append('  '.join('-' * w for w in widths))
    return out


class Collector:
    """Findings and summaries while checking one dataset."""

    def __init__(self, report: DataReport, split: str, name: str):
        self.report = report
        self.split = split
        self.summary = DatasetSummary(split, name)
        report.datasets.append(self.summary)

    def add(self, kind: str, severity: str, file: str, detail: str = '', ann_id=None) -> None:
        self.report.findings.append(Finding(self.split, kind, severity, file, detail, ann_id))

    def images(self, paths: Sequence[str], mode: str, workers: int) -> Dict[str, tuple]:
        """Checks image files (see :func:`~.images.check_image`); errors for the bad ones."""
        results = check_images(paths, mode, workers)
        self.summary.images = len(results)
        for path, (kind, detail, _) in results.items():
            if kind:
                self.add(kind, 'error', path, detail)
        return results
