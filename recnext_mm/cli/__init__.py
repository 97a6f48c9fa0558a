"""What ``tools/train.py`` and ``tools/test.py`` run, for the three tasks.

The task of a config is read from its ``default_scope`` (``mmdet``, ``mmseg`` or ``mmpretrain``),
which the downstream packages' ``default_runtime`` bases set.

- :mod:`.train`: ``tools/train.py`` (``main(argv)`` returns the Runner after training);
- :mod:`.evaluate`: ``tools/test.py`` (``main(argv)`` returns the metrics);
- :mod:`.common`: the arguments both take, loading the config, building the Runner;
- :mod:`.outputs`: the config edits of ``tools/test.py --show-dir`` and ``--out``;
- :mod:`.cpu_distributed`: ``--launcher pytorch`` on a machine without a GPU.
"""
