#!/usr/bin/env bash
# Runs the README's client example against a fresh ee-emulator over one transport.
#   run_readme_export.sh EMULATOR PROGRAM rest|grpc
set -euo pipefail
emulator=$1 program=$2 transport=$3
out=$(mktemp)
"$emulator" --rest-port 0 --grpc-port 0 --task-seconds 1 >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
line=$(head -1 "$out")
rest=$(echo "$line" | sed -n 's/.* rest=\([^ ]*\).*/\1/p')
grpc=$(echo "$line" | sed -n 's/.* grpc=\([^ ]*\).*/\1/p')
if [ "$transport" = grpc ]; then endpoint="http://$grpc"; else endpoint=$rest; fi
result=$(EE_TRANSPORT=$transport EE_ENDPOINT=$endpoint EE_PROJECT=my-project "$program")
echo "$result"
echo "$result" | grep -Eq '^projects/my-project/operations/[^ ]+ succeeded$'
