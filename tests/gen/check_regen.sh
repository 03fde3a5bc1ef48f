#!/usr/bin/env bash
# scripts/regen --check passes on this tree, and fails once a .proto is edited without
# a regen (checked on a scratch copy, so the real tree is never touched).
set -euo pipefail
src=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/tree"
cp -r "$src/proto" "$src/gen" "$src/scripts" "$src/tests" "$scratch/tree/" 2>/dev/null
[ -d "$src/src" ] && cp -r "$src/src" "$scratch/tree/"
cp "$src/CMakeLists.txt" "$scratch/tree/"
cd "$scratch/tree"
rm -rf tests/fuzz/*/corpus

scripts/regen --check
echo "ok: clean tree passes"

# An edit to a proto without regen must be caught, and the message must name a file.
sed -i 's/string workload_tag = 7;/string workload_tag = 7;\n  string added_field = 99;/' \
  proto/google/earthengine/v1/earthengine.proto
if out=$(scripts/regen --check 2>&1); then
  echo "FAIL: regen --check passed after a proto edit"; exit 1
fi
echo "$out" | grep -q 'earthengine.pb-c' || { echo "FAIL: stale file not named: $out"; exit 1; }
echo "ok: proto edit detected"

scripts/regen >/dev/null
scripts/regen --check
echo "ok: regen makes it pass again"

# A hand edit to gen/ is caught too.
echo "/* hand edit */" >> gen/pb-c/google/rpc/status.pb-c.c
if scripts/regen --check >/dev/null 2>&1; then echo "FAIL: hand edit to gen/ not caught"; exit 1; fi
echo "ok: hand edit to gen/ detected"

# A changed nanopb bound (.options beside the protos) without regen is caught too.
sed -i 's/request_id max_size:61/request_id max_size:62/' proto/google/earthengine/v1/earthengine.options
if out=$(scripts/regen --check 2>&1); then
  echo "FAIL: regen --check passed after an .options edit"; exit 1
fi
echo "$out" | grep -q 'nanopb.*earthengine.pb' || { echo "FAIL: stale nanopb file not named: $out"; exit 1; }
echo "ok: nanopb options edit detected"
