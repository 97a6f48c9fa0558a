"""The training entry of the GPU check's steps (c) and (d):
``python -m recnext_bench.gpu_check.train_entry CONFIG [tools/train.py options]``.

It runs ``recnext_mm.cli.train.main``, the training ``tools/train.py`` runs (the Runner built from
the config), as a module of the package, so that the check starts no ``tools/`` script; torchrun
takes it with ``-m``.
"""
from recnext_mm.cli.train import main

if __name__ == '__main__':
    main()
