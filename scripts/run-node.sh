#!/usr/bin/env bash
# Start one systemd container on a Docker network with a fixed address:
#   run-node.sh NAME NETWORK ADDRESS IMAGE
# The flags are the ones systemd as PID 1 needs here (--privileged is refused).
set -euo pipefail
name="$1" network="$2" address="$3" image="$4"
docker rm -f "$name" >/dev/null 2>&1 || true
docker run -d --name "$name" --hostname "$name" \
  --network "$network" --ip "$address" \
  --cap-add SYS_ADMIN --cap-add NET_ADMIN \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp:exec \
  --stop-signal SIGRTMIN+3 \
  --label pgha.sandbox=1 \
  "$image" /sbin/init >/dev/null
for _ in $(seq 1 60); do
  state="$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)"
  case "$state" in running|degraded) exit 0 ;; esac
  sleep 1
done
echo "$name: systemd did not come up (state: ${state:-none})" >&2
exit 1
