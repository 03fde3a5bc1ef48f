#!/bin/sh
# ctest client.bench_smoke: bench_client (blocking and async) and bench_sync_peer run a
# few hundred ExportImage calls over each transport against a fresh ee-emulator and report
# 0 errors. No timing is checked.
#   bench_client_smoke.sh EMULATOR BENCH_CLIENT BENCH_SYNC_PEER
set -eu
emu=$1
bench=$2
peer=$3
d=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$d"
}
trap cleanup EXIT

"$emu" --rest-port 0 --grpc-port 0 --task-seconds 3600 --max-queued 100000 \
  >"$d/emu.out" 2>"$d/emu.err" &
pid=$!
i=0
until grep -q '^ee-emulator listening ' "$d/emu.out"; do
  i=$((i + 1))
  if [ "$i" -gt 300 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "ee-emulator did not start:" >&2
    cat "$d/emu.err" >&2
    exit 1
  fi
  sleep 0.1
done
line=$(grep -m1 '^ee-emulator listening ' "$d/emu.out")
rest=$(echo "$line" | sed -n 's/.* rest=\([^ ]*\).*/\1/p')
grpc=http://$(echo "$line" | sed -n 's/.* grpc=\([^ ]*\).*/\1/p')

# Runs one contender; fails unless it exits 0 and reports errors=0.
check() {
  what=$1
  shift
  rc=0
  out=$("$@") || rc=$?
  echo "$out"
  case "$rc:$out" in
    "0:"*" errors=0") ;;
    *) echo "FAIL: $what: exit $rc, or errors reported" >&2; exit 1 ;;
  esac
}

n="--calls 300 --warmup 50 --concurrency 16"
for t in rest grpc; do
  if [ "$t" = rest ]; then url=$rest; else url=$grpc; fi
  for mode in blocking async; do
    # shellcheck disable=SC2086
    check "bench_client $mode over $t" "$bench" --transport "$t" --endpoint "$url" $n --mode "$mode"
  done
done
"$bench" --write-request "$d" >/dev/null
# shellcheck disable=SC2086
check "bench_sync_peer curl-easy" "$peer" --peer curl-easy --endpoint "$rest" --request "$d" $n
# shellcheck disable=SC2086
check "bench_sync_peer grpc-core-sync" "$peer" --peer grpc-core-sync \
  --target "${grpc#http://}" --request "$d" $n
