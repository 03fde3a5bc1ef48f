/* libFuzzer target for the wire layer's canonical-form rewrite (core/wire_canon.c).
 *
 * Input: one selector byte, then wire bytes. The selector's low 2 bits pick the message
 * type, bit 2 the JSON options. Checked, without an outside oracle (the python differential,
 * tests/json/wire, holds the meaning):
 *   - the scan and ee_wire_unpack agree on refusals;
 *   - the rewrite of non-canonical input is no longer than the input, and is canonical:
 *     the scan accepts it, and rewriting it again changes nothing (idempotent);
 *   - unpack then JSON equals the canonical round trip: what ee_wire_unpack gives, packed by
 *     protobuf-c, scans as canonical (so a struct holding a map key twice, which protobuf-c
 *     would pack twice, is caught), unpacks again into a struct that packs to the same
 *     bytes, and prints the same JSON (or fails to print with the same code). protobuf-c's
 *     packer drops a -0.0 in a proto3 scalar (DESIGN.md), so inputs holding the bytes of a
 *     negative zero skip the JSON comparison.
 * Any violation aborts. The same file is compiled without libFuzzer into the corpus replay
 * test. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/buf.h"
#include "ee/json.h"
#include "ee/status.h"
#include "ee/wire.h"
#include "fuzz_registry.h"
#include "wire_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const kTypes[4] = {
    "eetest.TestAllTypes",
    "eetest.StreamableTypes",
    "google.earthengine.v1.Expression",
    "google.longrunning.ListOperationsResponse",
};

static void die(const char *what, const char *type, const char *detail) {
  fprintf(stderr, "fuzz_wire: %s (%s)\n  %s\n", what, type, detail);
  abort();
}

/* The rewrite's own properties, for input the scan sent to it. */
static void check_rewrite(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len) {
  ee_status st;
  uint8_t *canon = NULL;
  size_t n = 0;
  if (eei_wire_canonicalize(desc, p, len, EE_WIRE_DEFAULT_MAX_DEPTH, &canon, &n, &st) != EE_OK)
    die("the rewrite failed on input the scan accepted", desc->name, st.message);
  if (n > len) die("the rewrite is longer than its input", desc->name, "");
  bool again = true;
  if (eei_wire_scan(desc, canon, n, EE_WIRE_DEFAULT_MAX_DEPTH, &again, &st) != EE_OK)
    die("the scan refuses the rewrite", desc->name, st.message);
  if (again) { /* (a merged field sits where its last occurrence was, perhaps out of the
                * number order the scan's cheap test expects): a second rewrite is a no-op */
    uint8_t *twice = NULL;
    size_t n2 = 0;
    if (eei_wire_canonicalize(desc, canon, n, EE_WIRE_DEFAULT_MAX_DEPTH, &twice, &n2, &st) != EE_OK)
      die("the rewrite of a rewrite failed", desc->name, st.message);
    if (n2 != n || (n && memcmp(canon, twice, n) != 0))
      die("the rewrite is not canonical (rewriting it again changes it)", desc->name, "");
    free(twice);
  }
  free(canon);
}

/* JSON of msg into out; returns the code (out holds the message on failure). */
static ee_code to_json(const ProtobufCMessage *msg, const ee_json_encode_options *o, ee_buf *out) {
  ee_status st;
  ee_code rc = ee_json_encode(msg, o, out, &st);
  if (rc != EE_OK) {
    ee_buf_reset(out);
    ee_buf_append(out, st.message, strlen(st.message), &st);
  }
  return rc;
}

/* protobuf-c's packing of msg must be canonical and mean the same. */
static void check_round_trip(const ProtobufCMessageDescriptor *desc, const ProtobufCMessage *msg,
                             const ee_json_encode_options *o, bool compare_json) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *packed = malloc(n ? n : 1);
  if (packed == NULL) return;
  protobuf_c_message_pack(msg, packed);
  ee_status st;
  bool rewrite = true;
  if (eei_wire_scan(desc, packed, n, EE_WIRE_DEFAULT_MAX_DEPTH, &rewrite, &st) != EE_OK)
    die("the scan refuses protobuf-c's packing of an unpacked message", desc->name, st.message);
  if (rewrite) die("an unpacked message packs non-canonical (a map key twice?)", desc->name, "");
  ProtobufCMessage *back = NULL;
  if (ee_wire_unpack(desc, packed, n, EE_WIRE_DEFAULT_MAX_DEPTH, NULL, &back, &st) != EE_OK)
    die("the canonical round trip does not unpack", desc->name, st.message);
  size_t n2 = protobuf_c_message_get_packed_size(back);
  uint8_t *packed2 = malloc(n2 ? n2 : 1);
  if (packed2 == NULL) abort();
  protobuf_c_message_pack(back, packed2);
  if (n2 != n || (n && memcmp(packed, packed2, n) != 0))
    die("the canonical round trip packs differently", desc->name, "");
  free(packed2);
  ee_buf a = EE_BUF_INIT, b = EE_BUF_INIT;
  ee_code ra = to_json(msg, o, &a), rb = to_json(back, o, &b);
  if (compare_json &&
      (ra != rb || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))) {
    fprintf(stderr, "  unpacked:     %s\n  round trip:   %s\n", a.data ? a.data : "",
            b.data ? b.data : "");
    die("unpack then JSON differs from the canonical round trip", desc->name, "");
  }
  ee_buf_free(&a);
  ee_buf_free(&b);
  protobuf_c_message_free_unpacked(back, NULL);
  free(packed);
}

/* Do the bytes hold 00 00 00 80, the high half of a -0.0 and the whole of a -0.0f? */
static bool has_neg_zero(const uint8_t *p, size_t len) {
  for (size_t i = 3; i < len; i++)
    if (p[i] == 0x80 && p[i - 1] == 0 && p[i - 2] == 0 && p[i - 3] == 0) return true;
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *type = kTypes[data[0] & 3];
  const ProtobufCMessageDescriptor *desc = ee_json_registry_find(fuzz_registry(), type);
  if (desc == NULL) die("type not in registry", type, "");
  ee_json_encode_options o = EE_JSON_ENCODE_OPTIONS_INIT;
  o.registry = fuzz_registry();
  o.use_proto_names = (data[0] & 4) != 0;

  size_t len = size - 1; /* an exact-size copy, so ASan catches reads past the end */
  uint8_t *p = malloc(len ? len : 1);
  if (p == NULL) return 0;
  memcpy(p, data + 1, len);
  ee_status st, st_scan;
  bool rewrite = false;
  ee_code scan = eei_wire_scan(desc, p, len, EE_WIRE_DEFAULT_MAX_DEPTH, &rewrite, &st_scan);
  ProtobufCMessage *msg = NULL;
  ee_code rc = ee_wire_unpack(desc, p, len, EE_WIRE_DEFAULT_MAX_DEPTH, NULL, &msg, &st);
  if (scan != EE_OK) {
    if (rc != scan) die("ee_wire_unpack accepts what the scan refuses", type, st_scan.message);
  } else {
    if (rewrite) check_rewrite(desc, p, len);
    if (rc == EE_OK) check_round_trip(desc, msg, &o, !has_neg_zero(p, len));
  }
  if (msg) protobuf_c_message_free_unpacked(msg, NULL);
  free(p);
  return 0;
}
