#!/usr/bin/env bash
# Run make targets in order, stop at the first that fails, and print how long
# each part took (CI's time budget is watched from this table).
#   scripts/run-parts.sh lint+unit molecule
# Parts joined by + run at the same time (lint is mostly one process, the unit
# tests two workers: on two cores together they take less than one after the
# other); each one's output is printed when the group ends, part by part.
set -uo pipefail
declare -a rows=()
rc=0
row() { rows+=("$(printf '%-10s %5d s  %s' "$1" "$2" "$([ "$3" -eq 0 ] && echo ok || echo "FAILED ($3)")")"); }

for part in "$@"; do
  start=$(date +%s)
  if [[ $part != *+* ]]; then
    make --no-print-directory "$part"
    rc=$?
    row "$part" "$(( $(date +%s) - start ))" "$rc"
    [ "$rc" -eq 0 ] || break
    continue
  fi
  IFS=+ read -ra group <<<"$part"
  logs=$(mktemp -d)
  for target in "${group[@]}"; do
    ( make --no-print-directory "$target" >"$logs/$target.log" 2>&1
      echo $? >"$logs/$target.rc"; date +%s >"$logs/$target.end" ) &
  done
  wait
  for target in "${group[@]}"; do
    echo "===== make $target (ran beside: ${group[*]})"
    cat "$logs/$target.log"
    part_rc=$(cat "$logs/$target.rc")
    row "$target" "$(( $(cat "$logs/$target.end") - start ))" "$part_rc"
    [ "$part_rc" -eq 0 ] || rc=$part_rc
  done
  row "($part)" "$(( $(date +%s) - start ))" "$rc"
  rm -rf "$logs"
  [ "$rc" -eq 0 ] || break
done
echo
echo "part       duration  result"
printf '%s\n' "${rows[@]}"
exit "$rc"
