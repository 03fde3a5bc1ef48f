/* Stand-ins for the JSON codec, linked into the route tests only while src/json does
 * not yet provide the ee_json layer. Tests that need JSON are not registered then. */
#include "ee/json.h"

ee_code ee_json_encode(const ProtobufCMessage *msg, const ee_json_encode_options *opts, ee_buf *out,
                       ee_status *st) {
  (void)msg, (void)opts, (void)out;
  return ee_status_set(st, EE_UNIMPLEMENTED, "JSON codec not built yet");
}

ee_code ee_json_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                       const ee_json_decode_options *opts, ProtobufCMessage **out, ee_status *st) {
  (void)desc, (void)json, (void)len, (void)opts;
  *out = NULL;
  return ee_status_set(st, EE_UNIMPLEMENTED, "JSON codec not built yet");
}
