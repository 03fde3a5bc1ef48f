#!/usr/bin/env bash
# Makes a throwaway PKI for TLS tests on loopback, with the openssl CLI:
#   OUTDIR/ca.pem         a self-signed test CA (trust this one)
#   OUTDIR/server.pem     a server certificate signed by it, for 127.0.0.1 and localhost
#                         (SAN IP:127.0.0.1, DNS:localhost; serverAuth)
#   OUTDIR/server.key     its private key (PEM, unencrypted, mode 600)
#   OUTDIR/other-ca.pem   a second, unrelated CA (for "wrong CA" tests: trusting only this
#                         one must fail the handshake)
# Keys are EC P-256 (fast to make and to handshake). Valid for 2 days, so a test never
# depends on the clock beyond that. Usage: make_test_ca.sh OUTDIR
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$1
mkdir -p "$out"
work=$(mktemp -d "$out/.make_test_ca.XXXXXX")
trap 'rm -rf "$work"' EXIT
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# ca NAME CN: a self-signed CA certificate and key in $work.
ca() {
  key "$work/$1.key"
  openssl req -x509 -new -key "$work/$1.key" -sha256 -days 2 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$work/$1.pem" 2>/dev/null
}

ca ca "eeclient test CA"
ca other-ca "eeclient unrelated test CA"

key "$work/server.key"
openssl req -new -key "$work/server.key" -subj "/CN=localhost" -out "$work/server.csr" 2>/dev/null
cat >"$work/server.ext" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -days 2 -sha256 -extfile "$work/server.ext" -out "$work/server.pem" 2>/dev/null

# The chain must verify against ca.pem and not against other-ca.pem, or the tests built on
# these files would prove nothing.
openssl verify -CAfile "$work/ca.pem" "$work/server.pem" >/dev/null
if openssl verify -CAfile "$work/other-ca.pem" "$work/server.pem" >/dev/null 2>&1; then
  echo "$0: server.pem verifies against other-ca.pem" >&2
  exit 1
fi

install -m 644 "$work/ca.pem" "$work/other-ca.pem" "$work/server.pem" "$out/"
install -m 600 "$work/server.key" "$out/"
