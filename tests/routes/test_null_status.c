/* The status contract of status.h (labels json and routes): every public function that
 * takes an ee_status * accepts NULL and returns the same code as with a status. Each
 * call below takes an error path (the paths that fill the status) twice, with a status
 * and with NULL, and compares the codes; a NULL dereference crashes the test.
 *
 * Also here, because it needs a process where the test protos' JSON names were not added
 * first: ee_json_add_names refuses a table whose types were already used under other
 * names. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ee/buf.h"
#include "ee/json.h"
#include "ee/route.h"
#include "ee/status.h"
#include "ee/wire.h"
#include "eei_test_routes.h"
#include "eetest/all_types.pb-c.h"
#include "eetest/http_examples.pb-c.h"

/* Runs call(st) with a status and with NULL; both must return want. */
#define SAME_CODE(want, call_with)                                                             \
  do {                                                                                         \
    ee_status st_;                                                                             \
    ee_status *st = &st_;                                                                      \
    ee_code with_ = (call_with);                                                               \
    st = NULL;                                                                                 \
    ee_code without_ = (call_with);                                                            \
    CHECK(with_ == (want) && without_ == (want) && st_.code == (want),                         \
          "%s: with a status %s (%s), with NULL %s, want %s", #call_with, ee_code_name(with_), \
          st_.message, ee_code_name(without_), ee_code_name(want));                            \
  } while (0)

#define SVC "/eetest.http.Messaging/"

static void test_core(void) {
  ee_status_clear(NULL);
  CHECK(ee_status_set(NULL, EE_NOT_FOUND, "x %d", 1) == EE_NOT_FOUND);
  CHECK(ee_status_prefix(NULL, "p") == EE_OK);
  ee_buf b;
  ee_buf_init(&b, 4);
  SAME_CODE(EE_RESOURCE_EXHAUSTED, ee_buf_reserve(&b, 5, st));
  SAME_CODE(EE_RESOURCE_EXHAUSTED, ee_buf_append(&b, "12345", 5, st));
  SAME_CODE(EE_RESOURCE_EXHAUSTED, ee_buf_append_str(&b, "12345", st));
  SAME_CODE(EE_RESOURCE_EXHAUSTED, ee_buf_printf(&b, st, "%d", 12345));
  char *p = ee_buf_take(&b, NULL, NULL);
  CHECK(p && *p == '\0');
  free(p);
  ee_buf_free(&b);
}

static void test_json(void) {
  ee_json_registry *reg = ee_json_registry_new();
  SAME_CODE(EE_INVALID_ARGUMENT, ee_json_registry_add(reg, NULL, st));
  ee_json_registry_free(reg);
  ProtobufCMessage *m = NULL;
  SAME_CODE(EE_INVALID_ARGUMENT,
            ee_json_decode(&eetest__test_all_types__descriptor, "{\"x\":", 5, NULL, &m, st));
  CHECK(m == NULL);
  Eetest__TestAllTypes msg = EETEST__TEST_ALL_TYPES__INIT;
  msg.optional_int32 = 123456;
  ee_buf small;
  ee_buf_init(&small, 4);
  SAME_CODE(EE_RESOURCE_EXHAUSTED, ee_json_encode(&msg.base, NULL, &small, st));
  SAME_CODE(EE_INVALID_ARGUMENT, ee_json_encode(NULL, NULL, &small, st));
  ee_buf_free(&small);
  SAME_CODE(EE_INVALID_ARGUMENT, ee_json_add_names(NULL, st));
  static const uint8_t bad_wire[] = {0x0a, 0x05, 0x01};
  SAME_CODE(EE_INVALID_ARGUMENT,
            ee_wire_check(&eetest__test_all_types__descriptor, bad_wire, sizeof bad_wire, 0, st));
  SAME_CODE(EE_INVALID_ARGUMENT, ee_wire_unpack(&eetest__test_all_types__descriptor, bad_wire,
                                                sizeof bad_wire, 0, NULL, &m, st));
}

/* Encoding TestAllTypes before its names are added fixes the derived names ("renamedScalar");
 * adding the table with "shownAs" afterwards must be refused, not half-applied. */
static void test_names_after_use(void) {
  Eetest__TestAllTypes msg = EETEST__TEST_ALL_TYPES__INIT;
  msg.renamed_scalar = 1;
  ee_buf out = EE_BUF_INIT;
  CHECK(ee_json_encode(&msg.base, NULL, &out, NULL) == EE_OK);
  CHECK(out.data && strcmp(out.data, "{\"renamedScalar\":1}") == 0, "%s", out.data);
  ee_buf_free(&out);
  ee_status st;
  CHECK(ee_json_add_names(&eei_test_routes, &st) == EE_FAILED_PRECONDITION &&
            strstr(st.message, "eetest.TestAllTypes") && strstr(st.message, "shownAs"),
        "%s", st.message);
  CHECK(ee_json_add_names(&eei_test_routes, NULL) == EE_FAILED_PRECONDITION);
  CHECK(ee_json_add_names(ee_route_table_default(), &st) == EE_OK, "%s", st.message);
}

static void test_routes(void) {
  const ee_route_table *t = &eei_test_routes;
  ee_route_template *tmpl = NULL;
  SAME_CODE(EE_INVALID_ARGUMENT, ee_route_template_parse("/v1/{a", &tmpl, st));
  CHECK(tmpl == NULL);
  CHECK(ee_route_template_parse("/v1/{name=*}", &tmpl, NULL) == EE_OK);
  ee_route_captures caps = {0};
  SAME_CODE(EE_INVALID_ARGUMENT, ee_route_template_match(tmpl, "/v1/%zz", 7, &caps, st));
  ee_route_template_free(tmpl);

  const ee_route *r = ee_route_find(t, SVC "GetMessage");
  CHECK(r != NULL);
  if (!r) return;
  Eetest__Http__GetMessageRequest req = EETEST__HTTP__GET_MESSAGE_REQUEST__INIT;
  ee_http_request http;
  ee_http_request_init(&http);
  SAME_CODE(EE_INVALID_ARGUMENT, ee_route_to_http(r, &req.base, NULL, &http, st));
  ee_http_request_free(&http);
  ee_buf out;
  ee_buf_init(&out, 4);
  SAME_CODE(EE_INVALID_ARGUMENT, ee_route_request_params(r, &req.base, &out, st));
  ProtobufCMessage *m = NULL;
  SAME_CODE(EE_INVALID_ARGUMENT,
            ee_route_decode_response(r, &r->bindings[0], "{", 1, NULL, &m, st));
  ee_route_match match;
  SAME_CODE(EE_NOT_FOUND,
            ee_route_from_http(t, "GET", "/nowhere", 8, NULL, 0, NULL, 0, NULL, &match, st));
  SAME_CODE(EE_INVALID_ARGUMENT, ee_route_from_http(t, "GET", "/v1beta/messages/1", 18, "bogus=1",
                                                    7, NULL, 0, NULL, &match, st));
  Eetest__Http__Message resp = EETEST__HTTP__MESSAGE__INIT;
  resp.text = "longer than four bytes";
  SAME_CODE(EE_RESOURCE_EXHAUSTED,
            ee_route_encode_response(r, &r->bindings[0], &resp.base, NULL, &out, st));
  ee_status err;
  ee_status_set(&err, EE_NOT_FOUND, "gone");
  SAME_CODE(EE_RESOURCE_EXHAUSTED, ee_route_error_encode(&err, NULL, 0, &out, st));
  SAME_CODE(EE_RESOURCE_EXHAUSTED, ee_route_status_to_rpc(&err, NULL, 0, &out, st));
  ee_buf_free(&out);
  /* Functions whose result is a status accept a NULL out and still return the code. */
  static const char envelope[] = "{\"error\":{\"code\":404,\"status\":\"NOT_FOUND\"}}";
  SAME_CODE(EE_NOT_FOUND, ee_route_error_decode(404, envelope, sizeof envelope - 1, st));
  SAME_CODE(EE_UNAVAILABLE, ee_route_error_decode(503, "<html>", 6, st));
  static const uint8_t garbage[] = {0xff};
  SAME_CODE(EE_ABORTED, ee_route_status_from_rpc(garbage, 1, EE_ABORTED, st));
  static const uint8_t rpc_not_found[] = {0x08, 0x05}; /* google.rpc.Status{code: 5} */
  SAME_CODE(EE_NOT_FOUND, ee_route_status_from_rpc(rpc_not_found, 2, EE_UNKNOWN, st));
}

int main(void) {
  test_names_after_use(); /* first: it needs TestAllTypes unused */
  test_core();
  test_json();
  test_routes();
  return check_report("test_null_status");
}
