#!/usr/bin/env bash
# ansible-test sanity on a copy of the tracked files laid out as
# ansible_collections/pgha/cloud (ansible-test needs that path; the checkout's
# collections/ link resolves back here). Ignores with their reasons:
# tests/sanity/ignore-<ansible-core major.minor>.txt (reason after each entry).
#   scripts/sanity.sh [--test NAME ...]
set -euo pipefail
cd "$(dirname "$0")/.."
# Without shellcheck, ansible-test skips that test with a mere warning.
command -v shellcheck >/dev/null || { echo "sanity: install shellcheck (apt-get install shellcheck)" >&2; exit 1; }
root=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/ansible_collections/pgha/cloud"
mkdir -p "$dest"
git ls-files -z | (cd "$root" && xargs -0 cp -P --parents -t "$dest")

# ansible-test fetches pip's bootstrap script from ci-files.testing.ansible.com
# for each test venv; this test bed reaches PyPI only. In its place: the venv's
# own ensurepip, then the pip version asked for, from PyPI.
pip_version=$(python3 -c 'import inspect, re
import ansible_test._internal.python_requirements as r
print(re.search(r"pip=.([0-9.]+).", inspect.getsource(r.get_venv_packages)).group(1))')
cache=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ -n "$pip_version" ] && [ ! -s "$cache" ]; then
  mkdir -p "$(dirname "$cache")"
  cat > "$cache" <<'PY'
# Stand-in for pip's get-pip.py (see scripts/sanity.sh): ensurepip, then pip install.
import subprocess
import sys
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
PY
fi

cd "$dest"
ansible-test sanity --python 3.11 --color no "$@"
