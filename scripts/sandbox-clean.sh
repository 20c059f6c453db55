#!/usr/bin/env bash
# `make sandbox-clean`: remove the sandbox containers and network.
set -euo pipefail
docker rm -f pgha-sandbox-1 pgha-sandbox-2 pgha-sandbox-3 >/dev/null 2>&1 || true
docker network rm pgha-sandbox >/dev/null 2>&1 || true
echo "sandbox removed"
