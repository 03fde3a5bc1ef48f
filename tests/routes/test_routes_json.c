/* The route tests that need the JSON codec: bodies (body "*", body "f" of a message and
 * of a list), response_body, well-known types in the query, the path/body conflict
 * rules, decode options, and ExportImage from issue 4's "Done when".
 *   test_routes_json             run the checks
 *   test_routes_json emit-errors print an envelope and a hex google.rpc.Status for
 *                                check_errors.py (the Python oracle) */
#include <stdlib.h>
#include <string.h>

#include "eetest/http_examples.pb-c.h"
#include "google/earthengine/v1/earthengine.pb-c.h"
#include "test_support.h"

#define SVC "/eetest.http.Messaging/"

static const ee_route *find(const ee_route_table *t, const char *grpc) {
  const ee_route *r = ee_route_find(t, grpc);
  if (!r) fprintf(stderr, "no route %s\n", grpc);
  return r;
}

typedef struct body_case {
  const char *grpc, *fields;
  const char *method, *target, *body; /* body NULL: none */
} body_case;

static const body_case body_cases[] = {
    /* http.proto: PATCH /v1/messages/123456 { "text": "Hi!" } */
    {SVC "UpdateMessage", "message_id=123456|message.text=Hi!", "PATCH", "/v1/messages/123456",
     "{\"text\":\"Hi!\"}"},
    {SVC "UpdateMessage", "message_id=123456", "PATCH", "/v1/messages/123456", "{}"},
    {SVC "UpdateMessageStar", "message_id=123456|text=Hi!", "PATCH", "/v2/messages/123456",
     "{\"text\":\"Hi!\"}"},
    {SVC "CancelOperation", "name=operations/x|reason=r", "POST", "/v1/operations/x:cancel",
     "{\"reason\":\"r\"}"},
    {SVC "CancelOperation", "name=operations/x", "POST", "/v1/operations/x:cancel", "{}"},
    {SVC "PutLabels", "name=x|labels=a|labels=b|replace=true", "PUT", "/v1/labels/x?replace=true",
     "[\"a\",\"b\"]"},
    {SVC "PutLabels", "name=x", "PUT", "/v1/labels/x", "[]"},
    {SVC "Search", "id=q|timeout=3.5s|since=2024-01-02T03:04:05Z|read_mask=a,bC", "GET",
     "/v1/search/q?readMask=a%2CbC&since=2024-01-02T03%3A04%3A05Z&timeout=3.500s", NULL},
    {"/google.longrunning.Operations/WaitOperation", "name=projects/p/operations/o|timeout=3.5s",
     "POST", "/v1/projects/p/operations/o:wait", "{\"timeout\":\"3.500s\"}"},
    {"/google.longrunning.Operations/CancelOperation", "name=projects/p/operations/o", "POST",
     "/v1/projects/p/operations/o:cancel", "{}"},
};

static const ee_route_table *table_of(const char *grpc) {
  return strncmp(grpc, SVC, strlen(SVC)) == 0 ? rt_test_table() : ee_route_table_default();
}

/* An unset body message travels as {} and arrives as an empty message (route.h). */
static void normalize_body(const ee_route *r, ProtobufCMessage *m) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(r->request, r->bindings[0].body);
  ProtobufCMessage **slot = (ProtobufCMessage **)((char *)m + f->offset);
  if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED && !*slot) {
    *slot = malloc(((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message);
    ((const ProtobufCMessageDescriptor *)f->descriptor)->message_init(*slot);
  }
}

static void test_bodies(void) {
  for (size_t i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++) {
    const body_case *c = &body_cases[i];
    const ee_route *r = find(table_of(c->grpc), c->grpc);
    ProtobufCMessage *m = r ? rt_make(r->request, c->fields) : NULL;
    CHECK(m != NULL, "%s {%s}", c->grpc, c->fields);
    if (!m) continue;
    ee_http_request h;
    ee_status st;
    ee_http_request_init(&h);
    ee_code rc = ee_route_to_http(r, m, NULL, &h, &st);
    CHECK(rc == EE_OK, "%s: %s", c->grpc, st.message);
    if (rc == EE_OK) {
      CHECK(strcmp(h.method, c->method) == 0 && strcmp(h.target.data, c->target) == 0, "%s: %s %s",
            c->grpc, h.method, h.target.data);
      CHECK(h.has_body == (c->body != NULL), "%s: has_body", c->grpc);
      if (c->body && h.has_body)
        CHECK(strcmp(h.body.data, c->body) == 0, "%s: body %s want %s", c->grpc, h.body.data,
              c->body);
      /* and back */
      const char *q = strchr(h.target.data, '?');
      ee_route_match mt;
      rc = ee_route_from_http(table_of(c->grpc), h.method, h.target.data, h.path_len,
                              q ? q + 1 : NULL, q ? strlen(q + 1) : 0,
                              h.has_body ? h.body.data : NULL, h.body.len, NULL, &mt, &st);
      CHECK(rc == EE_OK && mt.route == r, "%s back: %s", c->grpc, st.message);
      if (rc == EE_OK) {
        if (r->bindings[0].body && strcmp(r->bindings[0].body, "*") != 0) normalize_body(r, m);
        CHECK(rt_equal(m, mt.request, c->grpc), "%s: round trip", c->grpc);
        protobuf_c_message_free_unpacked(mt.request, NULL);
      }
    }
    ee_http_request_free(&h);
    protobuf_c_message_free_unpacked(m, NULL);
  }
}

/* Issue 4: ExportImage with project "projects/my-proj" -> POST
 * /v1/projects/my-proj/image:export with every other set field in the JSON body. */
static void test_export_image(void) {
  const ee_route *r =
      find(ee_route_table_default(), "/google.earthengine.v1.EarthEngine/ExportImage");
  if (!r) return;
  const char *body_json =
      "{\"expression\":{\"values\":{\"0\":{\"functionInvocationValue\":{\"functionName\":\"Image."
      "constant\","
      "\"arguments\":{\"value\":{\"constantValue\":5}}}}},\"result\":\"0\"},\"description\":\"my "
      "export\","
      "\"maxPixels\":\"1000000000\",\"requestId\":\"abc-123\",\"workloadTag\":\"tag\",\"priority\":"
      "7,"
      "\"fileExportOptions\":{\"fileFormat\":\"GEO_TIFF\",\"driveDestination\":{\"folder\":\"f\","
      "\"filenamePrefix\":\"p\"}}}";
  ProtobufCMessage *m = NULL;
  ee_status st;
  CHECK(ee_json_decode(r->request, body_json, strlen(body_json), NULL, &m, &st) == EE_OK, "%s",
        st.message);
  if (!m) return;
  Google__Earthengine__V1__ExportImageRequest *er = (void *)m;
  er->project = strdup("projects/my-proj");
  ee_http_request h;
  ee_http_request_init(&h);
  CHECK(ee_route_to_http(r, m, NULL, &h, &st) == EE_OK, "%s", st.message);
  CHECK(h.method && strcmp(h.method, "POST") == 0, "method");
  CHECK(strcmp(h.target.data, "/v1/projects/my-proj/image:export") == 0, "%s", h.target.data);
  /* Every other set field is in the body, and nothing else: it decodes to the request
   * without its project. (Compared as messages: the codec may print 5 as 5.0.) */
  ProtobufCMessage *from_body = NULL;
  CHECK(h.has_body &&
            ee_json_decode(r->request, h.body.data, h.body.len, NULL, &from_body, &st) == EE_OK,
        "body %s: %s", h.body.data, st.message);
  if (from_body) {
    Google__Earthengine__V1__ExportImageRequest *fb = (void *)from_body;
    CHECK(fb->project[0] == '\0', "project in the body");
    char *keep = er->project;
    er->project = (char *)"";
    CHECK(rt_equal(m, from_body, "ExportImage body"), "body %s", h.body.data);
    er->project = keep;
    protobuf_c_message_free_unpacked(from_body, NULL);
  }
  CHECK(!strstr(h.body.data, "project\""), "project leaked into the body");
  /* the emulator's side, with the official client's {"value": x} wrappers */
  const char *py =
      "{\"description\":\"d\",\"maxPixels\":{\"value\":\"5\"},\"project\":\"projects/my-proj\"}";
  ee_route_decode_options o = EE_ROUTE_DECODE_OPTIONS_INIT;
  ee_route_match mt;
  const char *path = "/v1/projects/my-proj/image:export";
  CHECK(ee_route_from_http(ee_route_table_default(), "POST", path, strlen(path), "alt=json", 8, py,
                           strlen(py), &o, &mt, &st) == EE_INVALID_ARGUMENT,
        "wrapper object accepted without the option");
  o.json.accept_wrapper_objects = true;
  CHECK(ee_route_from_http(ee_route_table_default(), "POST", path, strlen(path), "alt=json", 8, py,
                           strlen(py), &o, &mt, &st) == EE_OK,
        "%s", st.message);
  if (mt.request) {
    Google__Earthengine__V1__ExportImageRequest *got = (void *)mt.request;
    CHECK(strcmp(got->project, "projects/my-proj") == 0 && got->max_pixels &&
              got->max_pixels->value == 5,
          "decoded export");
    protobuf_c_message_free_unpacked(mt.request, NULL);
  }
  /* a body that disagrees with the path */
  const char *clash = "{\"project\":\"projects/other\"}";
  CHECK(ee_route_from_http(ee_route_table_default(), "POST", path, strlen(path), NULL, 0, clash,
                           strlen(clash), NULL, &mt, &st) == EE_INVALID_ARGUMENT &&
            strstr(st.message, "'project'") && strstr(st.message, "differs"),
        "clash: %s", st.message);
  const char *unknown = "{\"bogus\":1}";
  CHECK(ee_route_from_http(ee_route_table_default(), "POST", path, strlen(path), NULL, 0, unknown,
                           strlen(unknown), NULL, &mt, &st) == EE_INVALID_ARGUMENT,
        "unknown body field accepted");
  o.json.ignore_unknown_fields = true;
  CHECK(ee_route_from_http(ee_route_table_default(), "POST", path, strlen(path), NULL, 0, unknown,
                           strlen(unknown), &o, &mt, &st) == EE_OK,
        "ignore_unknown_fields: %s", st.message);
  if (mt.request) protobuf_c_message_free_unpacked(mt.request, NULL);
  ee_http_request_free(&h);
  protobuf_c_message_free_unpacked(m, NULL);
}

static void test_response_body(void) {
  const ee_route *r = find(rt_test_table(), SVC "GetWrapped");
  if (!r) return;
  ProtobufCMessage *resp = rt_make(r->response, "message.text=x|other=y");
  ee_buf b = EE_BUF_INIT;
  ee_status st;
  CHECK(ee_route_encode_response(r, &r->bindings[0], resp, NULL, &b, &st) == EE_OK &&
            strcmp(b.data, "{\"text\":\"x\"}") == 0,
        "response_body: %s", b.data ? b.data : st.message);
  ProtobufCMessage *back = NULL;
  CHECK(ee_route_decode_response(r, &r->bindings[0], b.data, b.len, NULL, &back, &st) == EE_OK,
        "%s", st.message);
  ProtobufCMessage *want = rt_make(r->response, "message.text=x");
  if (back) CHECK(rt_equal(want, back, "response_body"), "decode_response");
  if (back) protobuf_c_message_free_unpacked(back, NULL);
  protobuf_c_message_free_unpacked(want, NULL);
  protobuf_c_message_free_unpacked(resp, NULL);
  ee_buf_free(&b);
}

static void test_query_wkt(void) {
  const char *path = "/v1/search/q";
  const char *bad[] = {"timeout=3.5", "since=yesterday", "maxItems=x", "timeout=1s&timeout=2s"};
  ee_route_match mt;
  ee_status st;
  for (size_t i = 0; i < 4; i++) {
    CHECK(ee_route_from_http(rt_test_table(), "GET", path, strlen(path), bad[i], strlen(bad[i]),
                             NULL, 0, NULL, &mt, &st) == EE_INVALID_ARGUMENT,
          "%s accepted", bad[i]);
    CHECK(strstr(st.message, "query parameter") != NULL, "%s: %s", bad[i], st.message);
  }
}

static void emit_errors(void) {
  ee_status err, st;
  ee_buf b = EE_BUF_INIT;
  ee_route_error_kv md[] = {{"service", "earthengine.googleapis.com"}, {"q\"uote", "v\\al"}};
  ee_status_set(&err, EE_RESOURCE_EXHAUSTED, "Too many tasks: \"3000\" queued \xC3\xA9\t\x01");
  snprintf(err.reason, sizeof err.reason, "RATE_LIMIT_EXCEEDED");
  snprintf(err.domain, sizeof err.domain, "googleapis.com");
  ee_route_error_encode(&err, md, 2, &b, &st);
  printf("%s\n", b.data);
  ee_buf_reset(&b);
  ee_route_status_to_rpc(&err, md, 2, &b, &st);
  for (size_t i = 0; i < b.len; i++) printf("%02x", (unsigned char)b.data[i]);
  printf("\n");
  ee_buf_free(&b);
}

int main(int argc, char **argv) {
  rt_test_table(); /* the test protos' JSON names, before any encode or decode */
  if (argc > 1 && strcmp(argv[1], "emit-errors") == 0) {
    emit_errors();
    return 0;
  }
  test_bodies();
  test_export_image();
  test_response_body();
  test_query_wkt();
  return check_report("test_routes_json");
}
