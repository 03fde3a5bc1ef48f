#!/usr/bin/env bash
# Runs protoc with protoc-gen-ee-routes on each bad/*.proto: generation must fail, and the
# message must contain the file's "// expect: ..." line (naming the method and the rule).
# Then a good file must generate, twice, to the same bytes (determinism).
#   check_plugin.sh PLUGIN BAD_DIR REPO_ROOT
set -euo pipefail
plugin=$1 bad=$2 root=$3
wkt=${EE_PROTOBUF_INCLUDE:-/usr/include}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
for f in "$bad"/*.proto; do
  n=$((n + 1))
  expect=$(sed -n 's|^// expect: ||p' "$f")
  if out=$(protoc -I"$bad" -I"$root/proto" -I"$wkt" --plugin=protoc-gen-ee-routes="$plugin" \
      --ee-routes_out="$tmp" "$(basename "$f")" 2>&1); then
    echo "FAIL $(basename "$f"): generation succeeded"; fail=1; continue
  fi
  if [[ "$out" != *"$expect"* ]]; then
    echo "FAIL $(basename "$f"):"; echo "  got:  $out"; echo "  want: $expect"; fail=1; continue
  fi
  echo "ok   $(basename "$f"): $out"
done
for i in 1 2; do
  mkdir -p "$tmp/good$i"
  protoc -I"$root/proto" -I"$root/tests/proto" -I"$wkt" --plugin=protoc-gen-ee-routes="$plugin" \
    --ee-routes_out=table=eei_test_routes:"$tmp/good$i" eetest/http_examples.proto eetest/all_types.proto
done
if ! cmp -s "$tmp/good1/eei_test_routes.c" "$tmp/good2/eei_test_routes.c"; then
  echo "FAIL: output differs between two runs"; fail=1
fi
if protoc -I"$root/proto" -I"$wkt" --plugin=protoc-gen-ee-routes="$plugin" \
    --ee-routes_out=table=not-an-ident:"$tmp" google/longrunning/operations.proto 2>/dev/null; then
  echo "FAIL: a bad table= parameter was accepted"; fail=1
fi
echo "$n invalid rules checked"
exit $fail
