#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report which secrets appear in some text files, without printing them.

    secret_scan.py FILE... < secrets.json

Standard input holds a JSON object {name: value}. For every file and every
value found in it, one line names the file, the line number and the secret's
name; the value itself is never printed. Exit status 1 when anything was
found, 0 when nothing, 2 on bad input. Values shorter than 6 characters are
refused: they would match by chance.
"""

import json
import sys

MIN_LENGTH = 6


def load_secrets(text):
    secrets = json.loads(text)
    if not isinstance(secrets, dict) or not secrets:
        raise ValueError("standard input must be a non-empty JSON object {name: value}")
    out = {}
    for name, value in secrets.items():
        value = str(value)
        if len(value) < MIN_LENGTH:
            raise ValueError(f"secret {name} is shorter than {MIN_LENGTH} characters; "
                             "it would match by chance")
        out[str(name)] = value
    return out


def findings(secrets, path, lines):
    """[(path, line number, secret name)] for every secret value in `lines`."""
    found = []
    for number, line in enumerate(lines, 1):
        for name, value in secrets.items():
            if value in line:
                found.append((path, number, name))
    return found


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        secrets = load_secrets(sys.stdin.read())
    except ValueError as exc:
        print(f"secret_scan: {exc}", file=sys.stderr)
        return 2
    found, scanned = [], 0
    for path in argv:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
        scanned += len(lines)
        found += findings(secrets, path, lines)
    for path, number, name in found:
        print(f"{path}:{number}: the value of {name}")
    print(f"secret_scan: {len(secrets)} secrets, {len(argv)} files, {scanned} lines, {len(found)} found")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
