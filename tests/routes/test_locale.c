/* The codec and the route layer under a non-C LC_NUMERIC (labels json and routes).
 *
 * Numbers travel as text in JSON bodies, query strings and paths; printf and strtod
 * follow LC_NUMERIC, so a program that calls setlocale(LC_ALL, "") in a German locale
 * would print "1,5" and misread "1.5" if any of that text went through them. This test
 * runs the same work (JSON decode + encode, request -> HTTP, HTTP -> request, error
 * envelopes) in the C locale and in de_DE.UTF-8 and requires identical output. It fails
 * (never skips) when de_DE.UTF-8 is missing: scripts/bootstrap installs locales-all. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ee/json.h"
#include "ee/route.h"
#include "eetest/all_types.pb-c.h"
#include "test_support.h"

#define SVC "/eetest.http.Messaging/"

static const char k_all_types_json[] =
    "{\"optionalFloat\": 1.5, \"optionalDouble\": 100.0, \"repeatedDouble\": [0.1, -0.0, 1e-7, "
    "1e21, 123456.789, 2.5e-3, \"1.5\", \"NaN\"], \"repeatedFloat\": [3.4028235e38, 1.1, 0.5], "
    "\"optionalDoubleWrapper\": 1.25, \"optionalFloatWrapper\": \"2.5\", "
    "\"optionalDuration\": \"1.5s\", \"optionalTimestamp\": \"2024-02-29T12:00:00.25Z\", "
    "\"optionalValue\": {\"a\": 1.5, \"b\": [2.25, 1e300]}, \"mapInt32Double\": {\"1\": 0.75}, "
    "\"shownAs\": 3}";

static void add(ee_buf *log, const char *label, const char *text, size_t n) {
  ee_buf_printf(log, NULL, "%s: %.*s\n", label, (int)n, text);
}

/* JSON text -> message -> JSON text. */
static void run_codec(ee_buf *log) {
  ProtobufCMessage *m = NULL;
  ee_status st;
  ee_buf out = EE_BUF_INIT;
  ee_code rc = ee_json_decode(&eetest__test_all_types__descriptor, k_all_types_json,
                              sizeof k_all_types_json - 1, NULL, &m, &st);
  CHECK(rc == EE_OK, "decode: %s", st.message);
  if (rc == EE_OK) {
    rc = ee_json_encode(m, NULL, &out, &st);
    CHECK(rc == EE_OK, "encode: %s", st.message);
    add(log, "json", out.data, out.len);
  }
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  ee_buf_free(&out);
}

/* A request with doubles and floats -> HTTP target (query) and back. */
static void run_routes(ee_buf *log) {
  const ee_route *r = ee_route_find(rt_test_table(), SVC "Search");
  CHECK(r != NULL, "no Search route");
  if (!r) return;
  ProtobufCMessage *req = rt_make(r->request, "id=q|score=1.5|ratio=0.1|min_score=100|big=-3");
  CHECK(req != NULL, "rt_make");
  ee_http_request http;
  ee_http_request_init(&http);
  ee_status st;
  if (req && ee_route_to_http(r, req, NULL, &http, &st) == EE_OK)
    add(log, "target", http.target.data, http.target.len);
  else
    CHECK(0, "to_http: %s", st.message);
  if (req) protobuf_c_message_free_unpacked(req, NULL);
  ee_http_request_free(&http);

  static const char q[] = "score=2.5e-3&ratio=1.5&scoreAtLeast=100.0&timeout=1.5s";
  ee_route_match match;
  ee_code rc = ee_route_from_http(rt_test_table(), "GET", "/v1/search/q", 12, q, sizeof q - 1, NULL,
                                  0, NULL, &match, &st);
  CHECK(rc == EE_OK, "from_http: %s", st.message);
  if (rc == EE_OK) {
    ee_buf out = EE_BUF_INIT;
    CHECK(ee_json_encode(match.request, NULL, &out, &st) == EE_OK, "%s", st.message);
    add(log, "from_http", out.data, out.len);
    ee_buf_free(&out);
    protobuf_c_message_free_unpacked(match.request, NULL);
  }
}

/* Error envelopes carry numbers (the HTTP code). */
static void run_errors(ee_buf *log) {
  ee_status err;
  ee_status_set(&err, EE_RESOURCE_EXHAUSTED, "quota 1.5 exceeded");
  ee_buf out = EE_BUF_INIT;
  ee_status st;
  CHECK(ee_route_error_encode(&err, NULL, 0, &out, &st) == EE_OK, "%s", st.message);
  add(log, "error", out.data ? out.data : "", out.len);
  ee_buf_free(&out);
}

static void run_all(ee_buf *log) {
  run_codec(log);
  run_routes(log);
  run_errors(log);
}

int main(void) {
  rt_test_table();
  ee_buf c_out = EE_BUF_INIT, de_out = EE_BUF_INIT;
  CHECK(setlocale(LC_ALL, "C") != NULL, "the C locale");
  run_all(&c_out);

  if (!setlocale(LC_ALL, "de_DE.UTF-8")) {
    fprintf(stderr,
            "FAIL: locale de_DE.UTF-8 is not installed; this test needs it "
            "(scripts/bootstrap installs the Debian package locales-all)\n");
    return 1;
  }
  /* The locale must really use a decimal comma, or the test proves nothing. */
  char probe[16];
  snprintf(probe, sizeof probe, "%.1f", 1.5);
  CHECK(strcmp(probe, "1,5") == 0, "de_DE.UTF-8 prints 1.5 as %s, not 1,5", probe);
  run_all(&de_out);
  setlocale(LC_ALL, "C");

  CHECK(c_out.len > 0 && de_out.len == c_out.len && memcmp(c_out.data, de_out.data, c_out.len) == 0,
        "output differs under de_DE.UTF-8\n--- C:\n%s--- de_DE.UTF-8:\n%s",
        c_out.data ? c_out.data : "", de_out.data ? de_out.data : "");
  /* And the forms themselves: the body's double form in the query too. */
  const char *c = c_out.data ? c_out.data : "";
  CHECK(strstr(c, "\"optionalDouble\":100.0") && strstr(c, "\"optionalFloat\":1.5"), "%s", c);
  CHECK(strstr(c, "ratio=0.1&score=1.5&scoreAtLeast=100.0"), "%s", c);
  CHECK(strstr(c, "\"score\":0.0025") && strstr(c, "\"scoreAtLeast\":100.0"), "%s", c);
  CHECK(strstr(c, "\"timeout\":\"1.500s\""), "%s", c);
  if (check_failures == 0) fputs(c, stdout);
  ee_buf_free(&c_out);
  ee_buf_free(&de_out);
  return check_report("test_locale");
}
