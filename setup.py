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


MIM_TOOLS = ('train.py', 'test.py', 'dist_train.sh', 'dist_test.sh')


class BuildPyWithConfigs(build_py):
    """Adds the configs, model index, mim tools, CITATION.cff and the ``recnext_mm::`` start-up
    hook to non-editable builds."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        configs = os.path.join(self.build_lib, 'recnext_mm', '.mim', 'configs')
        shutil.rmtree(configs, ignore_errors=True)
        shutil.copytree(os.path.join(HERE, 'configs'), configs,
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        # The model index (mim search, mmengine's get_config(..., pretrained=True)) and the tools
        # `mim train/test recnext_mm CONFIG` runs; see tools/dev/make_metafiles.py.
        mim = os.path.dirname(configs)
        shutil.copyfile(os.path.join(HERE, 'model-index.yml'), os.path.join(mim, 'model-index.yml'))
        tools = os.path.join(mim, 'tools')
        os.makedirs(tools, exist_ok=True)
        for name in MIM_TOOLS:
            shutil.copy2(os.path.join(HERE, 'tools', name), os.path.join(tools, name))
        shutil.copyfile(os.path.join(HERE, 'CITATION.cff'),
                        os.path.join(self.build_lib, 'recnext_mm', 'CITATION.cff'))
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
    license_files=['LICENSE'],
    project_urls={
        'Paper': 'https://arxiv.org/abs/2412.19628',
        'Official RecNeXt code': 'https://github.com/suous/RecNeXt',
        'Released weights': 'https://github.com/suous/RecNeXt/releases',
        'Hugging Face models': 'https://huggingface.co/suous',
    },
    python_requires='>=3.9',
    # recnext_mm: the library; recnext_bench: the checkout's measurement and deployment tooling
    # (imports recnext_mm, never the reverse).
    packages=find_packages(include=['recnext_mm', 'recnext_mm.*',
                                    'recnext_bench', 'recnext_bench.*']),
    package_data={'recnext_mm': ['reference/*.json', 'reference/*.md', 'reference/state_dict/*.txt',
                                 'reference/fused_state_dict/*.txt', 'templates/*.md']},
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
        # Deployment runtimes (docs/deployment.md): OpenVINO with NNCF int8, Core ML conversion.
        'openvino': ['openvino>=2024.0', 'nncf>=2.10', 'onnx>=1.16'],
        'coreml': ['coremltools>=8.0'],
        # Pinned as tested (requirements/hub.txt; tools/setup_hub_env.sh): TimmWrapper / pipeline().
        'hub': ['transformers==5.23.0', 'huggingface_hub>=1.31', 'safetensors'],
        # mim needs pkg_resources; opendatalab 0.0.10 would pull openxlab, which pins setuptools 60.
        'mim': ['openmim==0.3.9', 'opendatalab==0.0.9', 'setuptools<81'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'License :: OSI Approved :: MIT License',
    ],
)
