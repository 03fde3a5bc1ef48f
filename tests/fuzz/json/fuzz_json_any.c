/* libFuzzer target for the encoder's Any fast path, which prints an Any's payload
 * straight from its wire bytes instead of unpacking it (encode.c, "Any payloads").
 *
 * Input: one selector byte, then the payload's wire bytes. The selector's low bits pick the
 * payload type (StreamableTypes, the type the fast path was built for, most often), its
 * high bits the options. The payload goes into an Any, and the Any's JSON must be what the
 * general path gives:
 *   - when ee_wire_unpack refuses the bytes, encoding the Any fails with INVALID_ARGUMENT;
 *   - when it accepts them, encoding the Any fails exactly when encoding the unpacked
 *     message does (same code), and otherwise gives {"@type":URL, then that message's
 *     members}: the message's own JSON with the @type member spliced in.
 * The fast path falls back to the general one whenever the bytes are not in the canonical
 * form, so every difference it could make is a bug. Any violation aborts.
 *
 * The same file is compiled without libFuzzer into the corpus replay test. */
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
#include "google/protobuf/any.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Selector (low 3 bits) -> payload type; none is a well-known type (those print as
 * {"@type", "value"} and never take the fast path). */
static const char *const kTypes[8] = {
    "eetest.StreamableTypes",
    "eetest.StreamableTypes",
    "eetest.StreamableTypes",
    "eetest.StreamableTypes",
    "google.earthengine.v1.OperationMetadata",
    "google.longrunning.Operation",
    "google.earthengine.v1.ExportImageRequest",
    "eetest.TestAllTypes",
};

static void die(const char *what, const char *type, const char *got, const char *want) {
  fprintf(stderr, "fuzz_json_any: %s (%s)\n  got:  %s\n  want: %s\n", what, type, got, want);
  abort();
}

/* {"@type":"URL"} or {"@type":"URL",<members of plain>} from plain = {<members>}. */
static void splice_type(const char *url, const ee_buf *plain, ee_buf *out) {
  ee_status st;
  ee_buf_printf(out, &st, "{\"@type\":\"%s\"", url);
  if (plain->len > 2) {
    ee_buf_append(out, ",", 1, &st);
    ee_buf_append(out, plain->data + 1, plain->len - 1, &st);
  } else {
    ee_buf_append(out, "}", 1, &st);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  const char *type = kTypes[sel & 7];
  const ProtobufCMessageDescriptor *desc = ee_json_registry_find(fuzz_registry(), type);
  if (desc == NULL) die("type not in registry", type, "", "");
  ee_json_encode_options eopts = EE_JSON_ENCODE_OPTIONS_INIT;
  eopts.registry = fuzz_registry();
  eopts.use_proto_names = (sel & 0x08) != 0;
  eopts.enums_as_ints = (sel & 0x10) != 0;

  /* An exact-size copy, so ASan catches any read past the payload. */
  size_t len = size - 1;
  uint8_t *payload = malloc(len ? len : 1);
  if (payload == NULL) return 0;
  memcpy(payload, data + 1, len);
  char url[256];
  snprintf(url, sizeof url, "type.googleapis.com/%s", type);
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = url;
  any.value.data = payload;
  any.value.len = len;

  ee_status st, st_any;
  ee_buf got = EE_BUF_INIT, plain = EE_BUF_INIT, want = EE_BUF_INIT;
  ee_code rc_any = ee_json_encode(&any.base, &eopts, &got, &st_any);
  ProtobufCMessage *msg = NULL;
  if (ee_wire_unpack(desc, payload, len, EE_JSON_DEFAULT_MAX_DEPTH, NULL, &msg, &st) != EE_OK) {
    if (rc_any != EE_INVALID_ARGUMENT)
      die("payload the general path refuses was printed", type,
          rc_any == EE_OK ? got.data : st_any.message, st.message);
  } else {
    ee_code rc = ee_json_encode(msg, &eopts, &plain, &st);
    if (rc != EE_OK) {
      if (rc_any != rc)
        die("Any and its message fail differently", type,
            rc_any == EE_OK ? got.data : st_any.message, st.message);
    } else {
      splice_type(url, &plain, &want);
      if (rc_any != EE_OK)
        die("Any failed where its message printed", type, st_any.message, want.data);
      if (got.len != want.len || memcmp(got.data, want.data, got.len) != 0)
        die("Any printed differently from its message", type, got.data, want.data);
    }
    protobuf_c_message_free_unpacked(msg, NULL);
  }
  ee_buf_free(&got);
  ee_buf_free(&plain);
  ee_buf_free(&want);
  free(payload);
  return 0;
}
