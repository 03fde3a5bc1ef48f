#!/bin/sh
# ee-protojson's contract (DESIGN.md): stdin -> stdout, exit 0 on success, exit 2 with one
# line "error: <json path>: <reason>" on bad input or bad flags.
# Usage: protojson_cli.sh PATH/TO/ee-protojson
P="$1"
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect NAME WANT_EXIT WANT_STDOUT WANT_STDERR_SUBSTRING -- ARGS... (stdin from $IN)
expect() {
  name=$1 want_rc=$2 want_out=$3 want_err=$4
  shift 5
  printf '%s' "$IN" | "$P" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
  if [ "$rc" != "$want_rc" ] || [ "$out" != "$want_out" ]; then
    echo "FAIL $name: exit $rc (want $want_rc), stdout [$out] (want [$want_out]), stderr [$err]"
    fails=$((fails + 1))
  elif [ -n "$want_err" ] && ! printf '%s' "$err" | grep -qF -- "$want_err"; then
    echo "FAIL $name: stderr [$err] lacks [$want_err]"
    fails=$((fails + 1))
  elif [ "$want_rc" = 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" != 1 ]; then
    echo "FAIL $name: stderr is not one line: [$err]"
    fails=$((fails + 1))
  fi
}

T=google.rpc.Status
IN='{"code": 3, "message": "bad", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "R", "metadata": {"k": "v"}}]}'
WANT='{"code":3,"message":"bad","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"R","metadata":{"k":"v"}}]}'
expect json_to_json 0 "$WANT" "" -- --type $T --from json --to json
printf '%s' "$IN" | "$P" --type $T --from json --to binary >"$tmp/bin" || { echo "FAIL to binary"; fails=$((fails + 1)); }
"$P" --type $T --from binary --to json <"$tmp/bin" >"$tmp/back" 2>&1
if [ "$(cat "$tmp/back")" != "$WANT" ]; then echo "FAIL binary round trip: $(cat "$tmp/back")"; fails=$((fails + 1)); fi
"$P" --type $T --from binary --to binary <"$tmp/bin" >"$tmp/bin2"
cmp -s "$tmp/bin" "$tmp/bin2" || { echo "FAIL binary to binary"; fails=$((fails + 1)); }
expect proto_names 0 '{"code":3,"message":"bad","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"R","metadata":{"k":"v"}}]}' "" -- --type $T --from json --to json --proto-names
IN='{"code": 3}'
expect indent 0 '{
  "code": 3
}' "" -- --type $T --from json --to json --indent 2
expect emit_defaults 0 '{"code":3,"message":"","details":[]}' "" -- --type $T --from json --to json --emit-defaults
IN='{"code": 3, "foo": 1}'
expect unknown_field 2 "" 'error: unknown field "foo" in google.rpc.Status (byte 12)' -- --type $T --from json --to json
expect ignore_unknown 0 '{"code":3}' "" -- --type $T --from json --to json --ignore-unknown
IN='{"details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": 5}]}'
expect nested_path 2 "" 'error: details[0].reason: expected a string' -- --type $T --from json --to json
IN='{"code": 3} x'
expect trailing 2 "" 'error: unexpected data after the JSON value (byte 12)' -- --type $T --from json --to json
IN=''
expect empty_json 2 "" 'error: unexpected end of input' -- --type $T --from json --to json
expect empty_binary 0 '{}' "" -- --type $T --from binary --to json
IN=$(printf '\032\377')
expect bad_binary 2 "" 'error: malformed binary message' -- --type $T --from binary --to json
IN='{}'
expect unknown_type 2 "" 'error: unknown message type "no.Such"' -- --type no.Such --from json --to json
expect missing_flags 2 "" 'error: --type, --from and --to are required' -- --type $T
expect bad_format 2 "" 'error: --from needs json or binary' -- --type $T --from xml --to json
expect bad_flag 2 "" 'error: unknown or incomplete flag --frobnicate' -- --type $T --from json --to json --frobnicate
"$P" --help | grep -q "usage: ee-protojson" || { echo "FAIL --help"; fails=$((fails + 1)); }
IN='"1.5s"'
expect wkt_root 0 '"1.500s"' "" -- --type google.protobuf.Duration --from json --to json
IN='{"values":{"0":{"constantValue":null}},"result":"0"}'
expect ee_expression 0 "$IN" "" -- --type google.earthengine.v1.Expression --from json --to json

# Deeply nested binary must be refused before protobuf-c recurses: 200 nested ListValues
# inside Values (field 6 of Value, field 1 of ListValue).
/usr/bin/python3 - "$tmp/deep" <<'PY'
import sys
def varint(n):
  out = b''
  while True:
    b = n & 0x7f
    n >>= 7
    out += bytes([b | (0x80 if n else 0)])
    if not n:
      return out
msg = b''
for _ in range(200):
  lv = b'\x0a' + varint(len(msg)) + msg      # ListValue.values
  msg = b'\x32' + varint(len(lv)) + lv       # Value.list_value
open(sys.argv[1], 'wb').write(msg)
PY
"$P" --type google.protobuf.Value --from binary --to json <"$tmp/deep" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc != 2 ] || ! grep -q "deeper than the limit of 100" "$tmp/err"; then
  echo "FAIL deep binary: exit $rc, $(cat "$tmp/err")"
  fails=$((fails + 1))
fi

if [ $fails -ne 0 ]; then
  echo "protojson_cli: $fails failures"
  exit 1
fi
echo "protojson_cli: all passed"
