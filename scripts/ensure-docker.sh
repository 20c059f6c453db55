#!/usr/bin/env bash
# Make sure a Docker engine runs here: install Debian's docker.io and
# debootstrap when missing, and start dockerd when nothing answers.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi
if [ "$(systemctl is-system-running 2>/dev/null || true)" != "offline" ] && systemctl start docker 2>/dev/null; then
  :
else
  # No systemd here (a CI sandbox): run the daemon in the background.
  nohup dockerd >/var/log/pgha-dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not start; see /var/log/pgha-dockerd.log" >&2
exit 1
