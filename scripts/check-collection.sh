#!/usr/bin/env bash
# The collection as users get it: build the tarball, install it into a
# temporary path, and load every playbook by its FQCN (pgha.cloud.<name>)
# from there, with the checkout out of the way (no ansible.cfg, no
# collections/ link). Playbook names must be valid collection resource names
# (snake_case); the hyphenated 0.3 names remain as path-only aliases.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ansible-galaxy collection build --output-path "$tmp" >/dev/null
tarball=$(ls "$tmp"/pgha-cloud-*.tar.gz)
echo "built $(basename "$tarball"): $(du -k "$tarball" | cut -f1) KiB, $(tar tzf "$tarball" | wc -l) entries"
if tar tzf "$tarball" | grep -E '^inventories/[^/]+/\.?pki/|\.key$|^molecule/|^docs/failover/(bench|drills)-'; then
  echo "the tarball holds files it must not (above)" >&2
  exit 1
fi
# The Galaxy importer, as Galaxy runs it on upload (its own venv, see the
# Makefile). ansible-lint and ansible-test sanity run in make lint already.
printf '[galaxy-importer]\nRUN_ANSIBLE_TEST = False\nRUN_ANSIBLE_LINT = False\nRUN_FLAKE8 = True\nLOCAL_IMAGE_DOCKER = False\n' \
  > "$tmp/importer.cfg"
# (from $tmp: it writes importer_result.json where it runs)
if ! (cd "$tmp" && GALAXY_IMPORTER_CONFIG="$tmp/importer.cfg" PATH="$OLDPWD/.venv-importer/bin:$PATH" \
    "$OLDPWD/.venv-importer/bin/python" -m galaxy_importer.main "$tarball" >"$tmp/importer.log" 2>&1); then
  tail -n 30 "$tmp/importer.log" >&2
  echo "the Galaxy importer rejects the tarball (above)" >&2
  exit 1
fi
echo "the Galaxy importer accepts it ($(grep -c '^WARNING' "$tmp/importer.log" || true) warnings)"

# A configuration of its own: the checkout's ansible.cfg points at collections/.
printf '[defaults]\ncollections_path = %s\n' "$tmp/collections" > "$tmp/ansible.cfg"
export ANSIBLE_CONFIG="$tmp/ansible.cfg"
unset ANSIBLE_COLLECTIONS_PATH
# The dependencies come from the `ansible` package in the venv.
ansible-galaxy collection install --no-deps -p "$tmp/collections" "$tarball" >/dev/null

# CHANGELOG.rst is generated from changelogs/changelog.yaml: regenerate a copy and compare.
copy="$tmp/changelog/ansible_collections/pgha/cloud"
mkdir -p "$copy"
cp -r galaxy.yml changelogs CHANGELOG.rst "$copy/"
(cd "$copy" && antsibull-changelog generate >/dev/null)
if ! diff -u CHANGELOG.rst "$copy/CHANGELOG.rst"; then
  echo "CHANGELOG.rst is out of date: run antsibull-changelog generate in collections/ansible_collections/pgha/cloud" >&2
  exit 1
fi

aliases=(add-replica etcd-member remove-cluster remove-replica)
failed=0
checked=0
for file in playbooks/*.yml; do
  name=$(basename "$file" .yml)
  if [[ " ${aliases[*]} " == *" $name "* ]]; then
    continue
  fi
  if [[ ! $name =~ ^[a-z][a-z0-9_]*$ ]]; then
    echo "playbooks/$name.yml: not a valid collection playbook name (use snake_case)" >&2
    failed=1
    continue
  fi
  if ! (cd "$tmp" && ansible-playbook "pgha.cloud.$name" --syntax-check -i localhost, >"$tmp/out" 2>&1); then
    echo "pgha.cloud.$name does not load from the installed collection:" >&2
    tail -n 20 "$tmp/out" >&2
    failed=1
  fi
  checked=$((checked + 1))
done
echo "$checked playbooks load by FQCN from the installed collection"
exit $failed
