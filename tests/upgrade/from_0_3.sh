#!/usr/bin/env bash
# The documented upgrade of a cluster deployed by 0.3 (docs/security.md,
# "Upgrading a cluster deployed by 0.3"), end to end on the sandbox's
# containers: deploy 0.3 from a git worktree, write rows, check that this
# checkout's deploy refuses the plaintext cluster, follow the steps, deploy
# this checkout, and check the rows, the system identifier and TLS.
# About 10 minutes; not part of `make test`. Replaces the sandbox (it is left
# running, upgraded; `make sandbox-clean` removes it).
# Figures of the last run: docs/results.md, "Upgrade from 0.3 on the sandbox".
#   tests/upgrade/from_0_3.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
old_rev=${PGHA_OLD_REV:-042f0b2}
old=$(mktemp -d)/pgha-0.3
py=$root/.venv/bin/python
export PATH=$root/.venv/bin:$PATH

git worktree add --detach "$old" "$old_rev" >/dev/null
cleanup() { git -C "$root" worktree remove --force "$old" || true; }
trap cleanup EXIT
ln -s "$root/.venv" "$old/.venv"

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%T)"; }
sql() {  # sql CONTAINER QUERY: as postgres on the node's socket
  docker exec "$1" su postgres -c "psql -XtAc \"$2\""
}
leader() {  # the running leader's member name, from any member's REST API ($1: http or https)
  "$py" - "$1" <<'PY'
import json, ssl, sys, urllib.request
scheme = sys.argv[1]
ctx = ssl.create_default_context(cafile="inventories/sandbox/.pki/ca.crt") if scheme == "https" else None
for n in (1, 2, 3):
    try:
        with urllib.request.urlopen(f"{scheme}://10.210.0.1{n}:8008/cluster", timeout=3, context=ctx) as r:
            members = json.load(r)["members"]
    except OSError:
        continue
    print(" ".join(m["name"] for m in members if m["role"] == "leader" and m["state"] == "running"))
    break
PY
}

step "0.3 ($old_rev) on the sandbox containers"
make --no-print-directory sandbox-clean >/dev/null
rm -rf inventories/sandbox/.pki
(cd "$old" && ./scripts/sandbox.sh >/tmp/pgha-upgrade-0.3-deploy.log 2>&1) || {
  tail -30 /tmp/pgha-upgrade-0.3-deploy.log; exit 1; }
lead=$(leader http)
[ "$lead" = pg-test-1 ] || { echo "0.3 sandbox led by '$lead', expected pg-test-1" >&2; exit 1; }
sql pgha-sandbox-1 "CREATE TABLE upgrade_check AS SELECT g AS id FROM generate_series(1, 1000) g"
sysid=$(sql pgha-sandbox-1 "SELECT system_identifier FROM pg_control_system()")
echo "leader pg-test-1, 1000 rows written, system identifier $sysid"

step "this checkout's deploy refuses the plaintext cluster"
if ansible-playbook -i inventories/sandbox playbooks/deploy.yml >/tmp/pgha-upgrade-refused.log 2>&1; then
  echo "the deploy ran against a 0.3 cluster" >&2; exit 1
fi
tr -s ' \n' ' ' </tmp/pgha-upgrade-refused.log | grep -q "Upgrading a cluster deployed by 0.3" \
  || { tail -30 /tmp/pgha-upgrade-refused.log; echo "refused, but without naming the steps" >&2; exit 1; }
for n in 1 2 3; do
  docker exec "pgha-sandbox-$n" test ! -e /etc/pgha/tls/node.crt \
    || { echo "pgha-sandbox-$n was changed before the refusal" >&2; exit 1; }
done
echo "refused before any host changed"

step "the documented steps: Patroni down (replicas, then the leader), etcd down and moved away"
outage_start=$(date +%s)
for n in 2 3 1; do docker exec "pgha-sandbox-$n" systemctl stop patroni; done
for n in 1 2 3; do
  docker exec "pgha-sandbox-$n" sh -c 'systemctl stop etcd && mv /var/lib/etcd/pgha /var/lib/etcd/pgha.0.3'
done

step "deploy this checkout (the inventory names pg-test-1 primary, as it led)"
ansible-playbook -i inventories/sandbox playbooks/deploy.yml >/tmp/pgha-upgrade-deploy.log 2>&1 || {
  tail -40 /tmp/pgha-upgrade-deploy.log; exit 1; }
outage_end=$(date +%s)

step "checks"
lead=$(leader https)
[ "$lead" = pg-test-1 ] || { echo "led by '$lead' after the upgrade, expected pg-test-1" >&2; exit 1; }
rows=$(sql pgha-sandbox-1 "SELECT count(*) FROM upgrade_check")
after=$(sql pgha-sandbox-1 "SELECT system_identifier FROM pg_control_system()")
if [ "$rows" != 1000 ] || [ "$after" != "$sysid" ]; then
  echo "rows $rows (want 1000), system identifier $after (want $sysid)" >&2; exit 1
fi
for n in 2 3; do
  [ "$(sql "pgha-sandbox-$n" "SELECT count(*) FROM upgrade_check")" = 1000 ] \
    || { echo "pgha-sandbox-$n does not have the rows" >&2; exit 1; }
done
"$py" scripts/cluster_status.py -i inventories/sandbox
ssl=$(sql pgha-sandbox-1 "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_replication USING (pid) WHERE ssl")
[ "$ssl" = 2 ] || { echo "$ssl of 2 replication connections use TLS" >&2; exit 1; }
echo "upgraded: 1000 rows and system identifier kept, both replicas stream over TLS"
echo "planned outage (Patroni stopped until the deploy ended): $((outage_end - outage_start)) s"
