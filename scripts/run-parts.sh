#!/usr/bin/env bash
# Run make targets in order, stop at the first that fails, and print how long
# each part took (CI's time budget is watched from this table).
#   scripts/run-parts.sh lint unit molecule
set -uo pipefail
declare -a rows=()
rc=0
for part in "$@"; do
  start=$(date +%s)
  make --no-print-directory "$part"
  rc=$?
  rows+=("$(printf '%-10s %5d s  %s' "$part" $(( $(date +%s) - start )) "$([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)")")")
  [ $rc -eq 0 ] || break
done
echo
echo "part       duration  result"
printf '%s\n' "${rows[@]}"
exit $rc
