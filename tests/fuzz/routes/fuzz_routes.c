/* libFuzzer target for the route matcher (the emulator's HTTP -> request direction, fed
 * straight from the network) and for the other parsers of untrusted text in the layer.
 * Input: byte 0 picks the verb and options; then "PATH\nQUERY\nBODY".
 * Beyond "no crash, no leak", it checks a property: a request the matcher builds, sent
 * back through request -> HTTP -> request -> HTTP, gives the same HTTP twice. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ee/route.h"
#include "eei_test_routes.h"

static const char *const verbs[] = {"GET",   "POST", "PUT",     "DELETE",
                                    "PATCH", "HEAD", "OPTIONS", "get"};

static void expect(int cond, const char *what, const char *detail) {
  if (cond) return;
  fprintf(stderr, "fuzz_routes: %s: %s\n", what, detail);
  abort();
}

/* request -> HTTP -> request -> HTTP must be stable. */
static void check_stable(const ee_route_table *t, const ee_route_match *m) {
  ee_http_request h1, h2;
  ee_route_match back;
  ee_status st;
  ee_http_request_init(&h1);
  ee_http_request_init(&h2);
  if (ee_route_to_http(m->route, m->request, NULL, &h1, &st) == EE_OK) {
    const char *q = memchr(h1.target.data, '?', h1.target.len);
    ee_code rc =
        ee_route_from_http(t, h1.method, h1.target.data, h1.path_len, q ? q + 1 : NULL,
                           q ? h1.target.len - h1.path_len - 1 : 0,
                           h1.has_body ? h1.body.data : NULL, h1.body.len, NULL, &back, &st);
    expect(rc == EE_OK, "our own request does not route back", st.message);
    expect(back.route == m->route, "our own request routes elsewhere", h1.target.data);
    rc = ee_route_to_http(back.route, back.request, NULL, &h2, &st);
    expect(rc == EE_OK, "re-encoding failed", st.message);
    expect(strcmp(h1.method, h2.method) == 0 && h1.target.len == h2.target.len &&
               memcmp(h1.target.data, h2.target.data, h1.target.len) == 0,
           "target changed", h1.target.data);
    expect(h1.body.len == h2.body.len &&
               (!h1.body.len || !memcmp(h1.body.data, h2.body.data, h1.body.len)),
           "body changed", h1.has_body ? h1.body.data : "");
    protobuf_c_message_free_unpacked(back.request, NULL);
  }
  ee_http_request_free(&h1);
  ee_http_request_free(&h2);
}

static void route_one(const ee_route_table *t, const char *verb, const char *path, size_t pl,
                      const char *query, size_t ql, const char *body, size_t bl, uint8_t flags) {
  ee_route_decode_options o = EE_ROUTE_DECODE_OPTIONS_INIT;
  ee_route_match m;
  ee_status st;
  o.ignore_unknown_query = flags & 0x10;
  o.json.accept_wrapper_objects = flags & 0x20;
  o.json.ignore_unknown_fields = flags & 0x40;
  ee_code rc = ee_route_from_http(t, verb, path, pl, query, ql, body, bl, &o, &m, &st);
  expect(rc == EE_OK || m.request == NULL, "request left on failure", st.message);
  expect(rc == EE_OK || st.message[0], "failure without a message", ee_code_name(rc));
  if (rc != EE_OK) return;
  check_stable(t, &m);
  protobuf_c_message_free_unpacked(m.request, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t flags = data[0];
  const char *verb = verbs[flags & 7];
  const char *s = (const char *)data + 1, *end = (const char *)data + size;
  const char *nl1 = memchr(s, '\n', (size_t)(end - s));
  const char *path = s, *query = NULL, *body = NULL;
  size_t pl = nl1 ? (size_t)(nl1 - s) : (size_t)(end - s), ql = 0, bl = 0;
  if (nl1) {
    query = nl1 + 1;
    const char *nl2 = memchr(query, '\n', (size_t)(end - query));
    ql = nl2 ? (size_t)(nl2 - query) : (size_t)(end - query);
    if (nl2) body = nl2 + 1, bl = (size_t)(end - body);
  }
  route_one(&eei_test_routes, verb, path, pl, query, ql, body, bl, flags);
  route_one(ee_route_table_default(), verb, path, pl, query, ql, body, bl, flags);

  /* The path as a template, matched against itself; and the whole input as an error body. */
  char *text = malloc(pl + 1);
  if (text) {
    memcpy(text, path, pl);
    text[pl] = '\0';
    ee_route_template *t = NULL;
    if (ee_route_template_parse(text, &t, NULL) == EE_OK) {
      ee_route_captures caps = {0};
      ee_route_template_match(t, path, pl, &caps, NULL);
      ee_route_captures_free(&caps);
      ee_route_template_free(t);
    }
    free(text);
  }
  ee_status err;
  ee_route_error_decode(400 + (flags & 0x7f), (const char *)data + 1, size - 1, &err);
  expect(err.code != EE_OK, "an error body decoded as OK", err.message);
  ee_route_status_from_rpc(data + 1, size - 1, EE_UNKNOWN, &err);
  return 0;
}
