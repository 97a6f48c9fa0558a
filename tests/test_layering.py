"""The layering of the checkout: the library ``recnext_mm`` never reaches into the measurement
tooling (``recnext_bench``), the scripts (``tools/``) or the tests, and ``recnext_bench`` imports
``recnext_mm`` but neither ``tools`` nor ``tests``. Checked on the source with ``ast``: imports
(absolute and relative), string literals that are paths into ``tests/`` or ``tools/``, and
subprocesses started on a ``tools/`` script."""
import ast
import glob
import os.path as osp
import re
import shutil
import subprocess
import sys
import textwrap

from utils import REPO

# What each package must not import.
FORBIDDEN_IMPORTS = {'recnext_mm': ('recnext_bench', 'tools', 'tests'),
                     'recnext_bench': ('tools', 'tests')}
# A literal that is a path into the tests or the scripts: 'tests/data', 'tools/train.py', 'tools'
# (an os.path.join part). Sentences that name a tool ('run python tools/x.py') are not paths.
PATH_LITERAL = re.compile(r'^(\./)?(tests|tools)(/\S*)?$')
SUBPROCESS_CALLS = {'subprocess': {'run', 'Popen', 'call', 'check_call', 'check_output'},
                    'os': {'system', 'popen', 'execv', 'execvp', 'execl', 'execlp', 'spawnv',
                           'spawnl', 'posix_spawn'}}


def _module_name(root, path):
    rel = osp.splitext(osp.relpath(path, root))[0].split(osp.sep)
    is_package = rel[-1] == '__init__'
    return rel[:-1] if is_package else rel, is_package


def _imported(node, parts, is_package):
    """The absolute module names an import statement names (relative ones resolved)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level == 0:
        return [node.module]
    package = parts if is_package else parts[:-1]
    up = node.level - 1
    base = package[:len(package) - up] if up <= len(package) else []
    if node.module:
        return ['.'.join(base + [node.module])]
    return ['.'.join(base + [a.name]) for a in node.names]


def _docstrings(tree):
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _is_subprocess_call(call, aliases):
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.attr in SUBPROCESS_CALLS.get(aliases.get(func.value.id, func.value.id), ())
    return isinstance(func, ast.Name) and func.id in aliases.get('<from subprocess>', ())


def _names_a_tools_script(call):
    for node in ast.walk(call):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if 'tools/' in text or text in ('tools', './tools'):
                return True
    return False


def violations(root, package, paths=True, forbidden=None):
    """Every layering violation in the ``.py`` files of ``root/package``, as
    ``'path:line: what'`` strings. ``paths``: also flag path literals into tests/ or tools/."""
    forbidden = forbidden or FORBIDDEN_IMPORTS[package]
    found = []
    for path in sorted(glob.glob(osp.join(root, package, '**', '*.py'), recursive=True)):
        rel = osp.relpath(path, root)
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
        parts, is_package = _module_name(root, path)
        aliases = {}
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _imported(node, parts, is_package):
                    if not name or name.split('.')[0] in forbidden:
                        found.append((rel, node.lineno, f'imports {name or "above the top"}'))
                if isinstance(node, ast.Import):
                    for a in node.names:
                        aliases[a.asname or a.name] = a.name
                elif node.module == 'subprocess' and node.level == 0:
                    aliases.setdefault('<from subprocess>', set()).update(
                        a.asname or a.name for a in node.names)
            elif isinstance(node, ast.Call):
                if _is_subprocess_call(node, aliases) and _names_a_tools_script(node):
                    found.append((rel, node.lineno, 'runs a tools/ script in a subprocess'))
                func = node.func
                dynamic = (isinstance(func, ast.Name) and func.id == '__import__') or (
                    isinstance(func, ast.Attribute) and func.attr == 'import_module')
                if dynamic and node.args and isinstance(node.args[0], ast.Constant) and \
                        str(node.args[0].value).split('.')[0] in forbidden:
                    found.append((rel, node.lineno, f'imports {node.args[0].value}'))
            elif (paths and isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and id(node) not in docstrings and PATH_LITERAL.match(node.value)):
                found.append((rel, node.lineno, f'path literal {node.value!r}'))
    return [f'{rel}:{line}: {what}' for rel, line, what in sorted(found)]


def test_the_library_reaches_into_neither_the_tooling_nor_tools_nor_tests():
    assert violations(REPO, 'recnext_mm') == []


def test_the_tooling_imports_no_tools_or_tests_and_runs_no_tools_script():
    assert violations(REPO, 'recnext_bench', paths=False) == []


def test_the_checker_catches_planted_violations(tmp_path):
    for package in ('recnext_mm', 'recnext_bench'):
        shutil.copytree(osp.join(REPO, package), tmp_path / package,
                        ignore=shutil.ignore_patterns('__pycache__', '*.json', '*.txt'))
    assert violations(str(tmp_path), 'recnext_mm') == []
    (tmp_path / 'recnext_mm' / 'backbones' / 'planted.py').write_text(textwrap.dedent('''
        """A docstring may name tools/train.py and tests/data."""
        import os.path as osp
        import subprocess as sp
        import sys
        from subprocess import run

        import recnext_bench.benchmark
        from tests.utils import REPO
        from ...tools.train import main
        from ... import tests

        GOLDEN = osp.join(osp.dirname(__file__), 'tests', 'data', 'official_outputs.pt')
        DATA = 'tests/data'
        HINT = 'run python tools/check_dataset.py CONFIG first'  # a sentence, not a path


        def train():
            sp.run([sys.executable, 'tools/train.py'])
            run([sys.executable, 'tools/test.py'])
            __import__('tools.gpu_check')
    '''))
    found = violations(str(tmp_path), 'recnext_mm')
    where = 'recnext_mm/backbones/planted.py'
    assert found == [f'{where}:8: imports recnext_bench.benchmark',
                     f'{where}:9: imports tests.utils', f'{where}:10: imports tools.train',
                     f'{where}:11: imports tests', f"{where}:13: path literal 'tests'",
                     f"{where}:14: path literal 'tests/data'",
                     f"{where}:19: path literal 'tools/train.py'",
                     f'{where}:19: runs a tools/ script in a subprocess',
                     f"{where}:20: path literal 'tools/test.py'",
                     f'{where}:20: runs a tools/ script in a subprocess',
                     f'{where}:21: imports tools.gpu_check'], found
    assert violations(str(tmp_path), 'recnext_bench', paths=False) == []
    (tmp_path / 'recnext_bench' / 'planted.py').write_text(textwrap.dedent('''
        import os.path as osp
        import subprocess
        import sys

        import recnext_mm
        from tools import gpu_check


        def launch(root):
            subprocess.Popen([sys.executable, osp.join(root, 'tools', 'train.py')])
    '''))
    assert violations(str(tmp_path), 'recnext_bench', paths=False) == [
        'recnext_bench/planted.py:7: imports tools',
        'recnext_bench/planted.py:11: runs a tools/ script in a subprocess']


def test_importing_the_library_loads_no_tooling_tools_or_tests_module(tmp_path):
    code = textwrap.dedent('''
        import sys
        import recnext_mm
        names = sorted(n for n in sys.modules if n.split('.')[0] in ('recnext_bench', 'tools',
                                                                      'tests', 'utils'))
        files = sorted(getattr(m, '__file__', None) or '' for m in list(sys.modules.values()))
        print(names)
        print([f for f in files if f.startswith((sys.argv[1], sys.argv[2]))])
    ''')
    result = subprocess.run([sys.executable, '-c', code, osp.join(REPO, 'tools'),
                             osp.join(REPO, 'tests')], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split('\n')[:2] == ['[]', '[]'], result.stdout


def test_every_tooling_module_imports_without_its_optional_dependencies(tmp_path):
    """The optional runtimes (onnx, openvino, nncf, coremltools) are imported inside the functions
    that need them: every module of recnext_bench imports with them blocked."""
    code = textwrap.dedent('''
        import importlib, pkgutil, sys
        for name in ('onnx', 'onnxruntime', 'openvino', 'nncf', 'coremltools'):
            sys.modules[name] = None  # import fails, as when the extra is not installed
        import recnext_bench
        names = [m.name for m in pkgutil.walk_packages(recnext_bench.__path__, 'recnext_bench.')]
        for name in names:
            importlib.import_module(name)
        print(len(names))
    ''')
    result = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[-1]) >= 30
