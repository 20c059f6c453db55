#!/usr/bin/env bash
# `make sandbox`: three systemd containers, the whole stack deployed on them
# by the collection's own playbook, then the cluster state. PGHA_SUITE=trixie
# builds it on Debian 13 (PostgreSQL 17) instead of Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

network=pgha-sandbox
subnet=10.210.0.0/24
nodes=(1 2 3)

start=$(date +%s)
./scripts/ensure-docker.sh
image="$(./scripts/build-image.sh "${PGHA_SUITE:-bookworm}")"

docker network inspect "$network" >/dev/null 2>&1 \
  || docker network create --subnet "$subnet" "$network" >/dev/null
for i in "${nodes[@]}"; do
  name="pgha-sandbox-$i"
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != "true" ]; then
    ./scripts/run-node.sh "$name" "$network" "10.210.0.1$i" "$image"
  fi
done

.venv/bin/ansible-playbook -i inventories/sandbox playbooks/deploy.yml "$@"
.venv/bin/python scripts/cluster_status.py -i inventories/sandbox
echo "sandbox ready in $(( $(date +%s) - start )) s"
