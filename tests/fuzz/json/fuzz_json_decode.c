/* libFuzzer target for the proto3 JSON decoder.
 *
 * Input: one selector byte, then the JSON text. The selector's low bits pick the message
 * type, its high bits the options, so one corpus covers every type and option. For each
 * input:
 *   1. ee_json_decode must either fail with a status that says why, or succeed;
 *   2. on success, ee_json_encode of the result must succeed, and decoding that output must
 *      succeed too (whatever we accept, we can print, and whatever we print, we accept);
 *   3. re-encoding the re-decoded message must give the same bytes (encode is a fixed point
 *      of decode o encode).
 * Any violation aborts, so libFuzzer records the input. Crashes, leaks (ASan) and undefined
 * behaviour (UBSan) are caught by the sanitizers.
 *
 * The same file is compiled without libFuzzer into the corpus replay test (replay_main.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/buf.h"
#include "ee/json.h"
#include "ee/status.h"
#include "fuzz_registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Selector (low 4 bits) -> message type. The first entries are the ones the service and
 * the CLI decode from the network and from users' files. */
static const char *const kTypes[16] = {
    "google.earthengine.v1.ExportImageRequest",
    "google.earthengine.v1.Expression",
    "google.longrunning.Operation",
    "google.longrunning.ListOperationsResponse",
    "google.rpc.Status",
    "eetest.TestAllTypes",
    "eetest.TestAllTypes",
    "google.earthengine.v1.ValueNode",
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.Any",
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    "google.earthengine.v1.OperationMetadata",
    "google.protobuf.ListValue",
};

static void die(const char *what, const char *type, const ee_status *st, const ee_buf *json) {
  fprintf(stderr, "fuzz_json: %s (%s): %s\n", what, type, st ? st->message : "");
  if (json && json->data) fprintf(stderr, "fuzz_json: text: %.*s\n", (int)json->len, json->data);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  const char *type = kTypes[sel & 15];
  const ProtobufCMessageDescriptor *desc = ee_json_registry_find(fuzz_registry(), type);
  if (desc == NULL) die("type not in registry", type, NULL, NULL);

  ee_json_decode_options dopts = EE_JSON_DECODE_OPTIONS_INIT;
  dopts.registry = fuzz_registry();
  dopts.ignore_unknown_fields = (sel & 0x10) != 0;
  dopts.accept_wrapper_objects = (sel & 0x20) != 0;
  ee_json_encode_options eopts = EE_JSON_ENCODE_OPTIONS_INIT;
  eopts.registry = fuzz_registry();
  eopts.emit_defaults = (sel & 0x40) != 0;
  eopts.use_proto_names = (sel & 0x80) != 0;
  eopts.enums_as_ints = (sel & 0xc0) == 0xc0;

  /* An exact-size copy, so ASan catches any read past the end (the text is not
   * NUL-terminated, as the API allows). */
  size_t len = size - 1;
  char *json = malloc(len ? len : 1);
  if (json == NULL) return 0;
  memcpy(json, data + 1, len);

  ee_status st;
  ee_status_clear(&st);
  ProtobufCMessage *msg = NULL;
  ee_code rc = ee_json_decode(desc, json, len, &dopts, &msg, &st);
  free(json);
  if (rc != EE_OK) {
    if (msg != NULL) die("failed decode left a message", type, &st, NULL);
    if (st.code == EE_OK || st.message[0] == '\0') die("failure without a reason", type, &st, NULL);
    return 0;
  }
  if (msg == NULL) die("decode returned OK and no message", type, &st, NULL);

  ee_buf first = EE_BUF_INIT, second = EE_BUF_INIT;
  if (ee_json_encode(msg, &eopts, &first, &st) != EE_OK) {
    die("encode of a decoded message failed", type, &st, NULL);
  }
  /* Our own output must decode under the strict defaults (no ignore_unknown, no wrapper
   * objects): the encoder never prints those forms. */
  ee_json_decode_options strict = EE_JSON_DECODE_OPTIONS_INIT;
  strict.registry = fuzz_registry();
  ProtobufCMessage *again = NULL;
  if (ee_json_decode(desc, first.data ? first.data : "", first.len, &strict, &again, &st) !=
      EE_OK) {
    die("decode of our own output failed", type, &st, &first);
  }
  if (ee_json_encode(again, &eopts, &second, &st) != EE_OK) {
    die("second encode failed", type, &st, &first);
  }
  if (first.len != second.len || memcmp(first.data, second.data, first.len) != 0) {
    fprintf(stderr, "fuzz_json: second: %.*s\n", (int)second.len, second.data);
    die("encode(decode(encode(m))) != encode(m)", type, NULL, &first);
  }
  ee_buf_free(&first);
  ee_buf_free(&second);
  protobuf_c_message_free_unpacked(again, NULL);
  protobuf_c_message_free_unpacked(msg, NULL);
  return 0;
}
