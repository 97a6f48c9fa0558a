#!/usr/bin/env bash
# The lock of the tested environment: requirements/lock.txt lists every package installed in .venv
# as name==version (pip freeze --all, the editable recnext-mm left out; mmcv, installed from the wheel
# tools/bootstrap.sh builds, as mmcv==<its version>). tools/bootstrap.sh installs exactly this list
# and then compares the environment against it with --check.
#
#   bash tools/lock_env.sh              # write requirements/lock.txt from .venv
#   bash tools/lock_env.sh --check      # compare .venv with the lock; exit 1 naming every difference
#
# To move the stack forward: RECNEXT_UNLOCKED=1 bash tools/bootstrap.sh --force (installs from the
# ranges and pins of requirements/tested.txt and tests.txt), run the tests, then this script.
# Options: --venv DIR (default: .venv at the repository root), --lock FILE.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
LOCK="$ROOT/requirements/lock.txt"
CHECK=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --check) CHECK=1 ;;
    --venv) VENV="$2"; shift ;;
    --lock) LOCK="$2"; shift ;;
    *) echo "lock_env: unknown argument $1" >&2; exit 64 ;;
  esac
  shift
done
PY="$VENV/bin/python"
[[ -x "$PY" ]] || { echo "lock_env: no Python at $PY (run tools/bootstrap.sh first)" >&2; exit 1; }

FREEZE="$(mktemp)"
trap 'rm -f "$FREEZE"' EXIT
"$PY" -m pip freeze --all --exclude-editable --disable-pip-version-check > "$FREEZE"
"$PY" - "$CHECK" "$LOCK" "$FREEZE" <<'PYEOF'
import re
import sys
from datetime import date
from importlib import metadata
import platform

check, lock_path, freeze_path = sys.argv[1] == '1', sys.argv[2], sys.argv[3]


def canon(name):
    return re.sub(r'[-_.]+', '-', name).lower()


installed = {}
for line in open(freeze_path, encoding='utf-8'):
    line = line.strip()
    if not line or line.startswith('#'):
        continue
    if '==' in line:
        name, version = line.split('==', 1)
    elif ' @ ' in line:  # a local wheel (mmcv, built by tools/bootstrap.sh)
        name = line.split(' @ ', 1)[0]
        version = metadata.version(name)
    else:
        sys.exit(f'lock_env: cannot pin {line!r}')
    if canon(name) == 'recnext-mm':
        continue
    installed[canon(name)] = (name, version.strip())

if not check:
    lines = [f'{name}=={version}' for _, (name, version) in sorted(installed.items())]
    with open(lock_path, 'w', encoding='utf-8') as f:
        f.write('# The whole tested environment (every installed package), written by\n'
                '# `bash tools/lock_env.sh` from .venv; tools/bootstrap.sh installs exactly this list\n'
                '# (mmcv from the wheel it builds) and checks .venv against it.\n'
                f'# Python {platform.python_version()}, {platform.machine()}, {date.today()}.\n')
        f.write('\n'.join(lines) + '\n')
    print(f'lock_env: wrote {len(lines)} packages to {lock_path}')
    sys.exit(0)

locked = {}
with open(lock_path, encoding='utf-8') as f:
    for line in f:
        line = line.split('#', 1)[0].strip()
        if line:
            name, version = line.split('==', 1)
            locked[canon(name)] = (name, version.strip())
problems = []
for key, (name, version) in sorted(locked.items()):
    if key not in installed:
        problems.append(f'  missing:   {name}=={version}')
    elif installed[key][1] != version:
        problems.append(f'  different: {name}=={installed[key][1]} installed, {version} locked')
for key, (name, version) in sorted(installed.items()):
    if key not in locked:
        problems.append(f'  extra:     {name}=={version} (not in the lock)')
if problems:
    print(f'lock_env: the environment differs from {lock_path}:', file=sys.stderr)
    print('\n'.join(problems), file=sys.stderr)
    sys.exit(1)
print(f'lock_env: the environment matches {lock_path} ({len(locked)} packages).')
PYEOF
