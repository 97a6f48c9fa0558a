"""Command-line pieces shared by the measurement and deployment tools: input sizes
(:func:`parse_shape` for ``--shape S`` / ``--shape H W``, :func:`shape_arg` for ``224`` /
``256x320``) and the arguments common to the export tools ``tools/deployment/export_onnx.py`` and
``export_coreml.py`` (:func:`add_export_arguments`, :func:`check_export_arguments`).

The tools follow one convention: a module docstring used as the parser's description
(``argparse.RawDescriptionHelpFormatter``), ``parse_args(argv=None)``, ``main(argv=None)`` and
kebab-case flags.
"""
import argparse
from typing import Optional, Sequence, Tuple

__all__ = ['parse_shape', 'shape_arg', 'add_export_arguments', 'check_export_arguments']


def parse_shape(values: Optional[Sequence[int]]) -> Optional[Tuple[int, int]]:
    """``[S]`` -> (S, S); ``[H, W]`` -> (H, W); None -> None."""
    if not values:
        return None
    if len(values) == 1:
        return int(values[0]), int(values[0])
    if len(values) == 2:
        return int(values[0]), int(values[1])
    raise ValueError(f'--shape takes 1 or 2 integers (H W), got {values}')


def shape_arg(text: str) -> Tuple[int, int]:
    """An argparse type for ``224`` or ``256x320`` (also ``256,320``): ``(H, W)``."""
    parts = text.lower().replace(',', 'x').split('x')
    if len(parts) == 1:
        parts = parts * 2
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f'shape must look like 224 or 256x320, got {text!r}')
    return h, w


def add_export_arguments(parser: argparse.ArgumentParser, targets: Sequence[str], out_dir: str,
                         all_archs_by_default: bool = False) -> argparse.ArgumentParser:
    """The arguments of every export tool: the archs (positional), ``--target``, ``--out-dir``
    and ``--checkpoint``; check them with :func:`check_export_arguments` after parsing.

    Args:
        targets (Sequence[str]): The choices of ``--target`` (all by default).
        out_dir (str): The default of ``--out-dir``.
        all_archs_by_default (bool): No arch given means every arch; otherwise one is required.
    """
    from recnext_mm.backbones.archs import ARCH_SETTINGS
    archs = ', '.join(ARCH_SETTINGS)
    parser.add_argument('archs', nargs='*' if all_archs_by_default else '+', metavar='ARCH',
                        help=f'archs (default: all): {archs}' if all_archs_by_default
                        else f'one or more of {archs}')
    parser.add_argument('--target', nargs='+', choices=targets, default=list(targets))
    parser.add_argument('--out-dir', default=out_dir)
    parser.add_argument('--checkpoint', help='weights (with a single arch)')
    return parser


def check_export_arguments(parser: argparse.ArgumentParser,
                           args: argparse.Namespace) -> argparse.Namespace:
    """Validates the archs (an unknown one is a usage error; none given: all) and that
    ``--checkpoint`` comes with a single arch."""
    from recnext_mm.backbones.archs import ARCH_SETTINGS
    unknown = [a for a in args.archs if a not in ARCH_SETTINGS]
    if unknown:
        parser.error(f'unknown arch {unknown[0]!r}; choose from {", ".join(ARCH_SETTINGS)}')
    args.archs = args.archs or list(ARCH_SETTINGS)
    if args.checkpoint and len(args.archs) > 1:
        parser.error('--checkpoint needs a single arch')
    return args
