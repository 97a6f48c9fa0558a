"""Installs recnext_mm. The tested, pinned stack is in requirements/tested.txt; tools/bootstrap.sh
builds it (mmcv 2.1.0 from source) into .venv.

A wheel (``pip install .``) also carries the configs as ``recnext_mm/.mim/configs`` and the
start-up hook of the ``recnext_mm::`` config prefix (see ``recnext_mm/scope_hook.py``).
"""
import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    scope = {}
    with open(os.path.join(HERE, 'recnext_mm', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


class BuildPyWithConfigs(build_py):
    """Adds the configs and the ``recnext_mm::`` start-up hook to non-editable builds."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        configs = os.path.join(self.build_lib, 'recnext_mm', '.mim', 'configs')
        shutil.rmtree(configs, ignore_errors=True)
        shutil.copytree(os.path.join(HERE, 'configs'), configs,
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        # mmengine looks up a model index first and falls back to .mim/configs/<path> without one.
        with open(os.path.join(os.path.dirname(configs), 'model-index.yml'), 'w') as f:
            f.write('Import: []\n')
        self.copy_file(os.path.join(HERE, 'recnext_mm', 'scope_hook.py'),
                       os.path.join(self.build_lib, 'recnext_mm_scope.py'))
        with open(os.path.join(self.build_lib, 'recnext_mm_scope.pth'), 'w') as f:
            f.write('import recnext_mm_scope\n')


setup(
    name='recnext-mm',
    version=read_version(),
    description='RecNeXt (RecConv) backbones for mmdet 3.x, mmsegmentation 1.x and mmpretrain 1.x',
    long_description=open(os.path.join(HERE, 'README.md'), encoding='utf-8').read()
    if os.path.exists(os.path.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    license='MIT',
    python_requires='>=3.9',
    packages=find_packages(include=['recnext_mm', 'recnext_mm.*']),
    package_data={'recnext_mm': ['reference/*.json', 'reference/*.md', 'reference/state_dict/*.txt',
                                 'reference/fused_state_dict/*.txt']},
    cmdclass={'build_py': BuildPyWithConfigs},
    # Ranges that admit the tested stack. mmcv must be < 2.2 for mmdet 3.3 / mmseg 1.2 and is built
    # from source by tools/bootstrap.sh, so it is not a hard requirement of the package itself.
    install_requires=[
        'torch>=2.0',
        'mmengine>=0.10.0,<0.11',
        'timm>=1.0.3',
        'numpy',
        'safetensors',
    ],
    extras_require={
        'mm': ['mmcv>=2.0.0,<2.2.0', 'mmdet>=3.3.0,<3.4', 'mmsegmentation>=1.2.2,<1.3',
               'mmpretrain>=1.2.0,<1.3', 'ftfy', 'regex'],
        'tests': ['pytest>=8', 'fvcore', 'matplotlib'],
        'onnx': ['onnx>=1.16', 'onnxruntime>=1.18'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'License :: OSI Approved :: MIT License',
    ],
)
