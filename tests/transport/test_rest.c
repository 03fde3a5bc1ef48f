/* The REST transport (src/transport/rest_curl.c) driven through its ops table against
 * ee-emulator (and, for answers the emulator never gives, tests/transport/rest_canned.py)
 * on loopback.
 *
 *   test_rest GROUP EMULATOR [PYTHON CANNED_SCRIPT]
 *
 * Groups: rpcs, describe, invalid, unavailable, refused, deadline, cancel, size_limit,
 * concurrency, reuse, canned. Nothing here depends on timing except as an upper bound on
 * a wait that would otherwise last the emulator's whole latency. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ee/json.h"
#include "ee/route.h"
#include "ee/wire.h"
#include "google/earthengine/v1/earthengine.pb-c.h"
#include "google/earthengine/v1/operation_metadata.pb-c.h"
#include "google/longrunning/operations.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "rest_curl.h"
#include "rest_proc.h"
#include "transport.h"

/* usleep is not POSIX.1-2008; nanosleep is. */
static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

static int checks, failures;

#define CHECK(cond, ...)                                              \
  do {                                                                \
    checks++;                                                         \
    if (!(cond)) {                                                    \
      failures++;                                                     \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                   \
      fputc('\n', stderr);                                            \
    }                                                                 \
  } while (0)

static const eei_transport_ops *R = &eei_rest_transport;
static const char *emulator_path;
static const char *python_path, *canned_path;

static const char EXPORT_JSON[] =
    "{\"project\":\"projects/p1\",\"description\":\"transport test\",\"expression\":{\"values\":"
    "{\"0\":{\"functionInvocationValue\":{\"functionName\":\"Image.constant\",\"arguments\":"
    "{\"value\":{\"constantValue\":5}}}}},\"result\":\"0\"},\"fileExportOptions\":{"
    "\"fileFormat\":\"GEO_TIFF\",\"driveDestination\":{\"folder\":\"out\",\"filenamePrefix\":"
    "\"img\"}}}";

/* ------------------------------------------------------------------------------------
 * Servers and transports
 * ---------------------------------------------------------------------------------- */

typedef struct server {
  rest_proc proc;
  char endpoint[128]; /* "http://127.0.0.1:PORT" */
  int port;
} server;

/* Starts ee-emulator with extra flags (NULL-terminated). */
static int emu_start(server *s, const char *const *flags) {
  char *argv[32];
  size_t n = 0;
  argv[n++] = (char *)emulator_path;
  const char *base[] = {"--rest-port", "0", "--grpc-port", "0", "--task-seconds", "30", NULL};
  for (const char *const *f = base; *f; f++) argv[n++] = (char *)*f;
  for (const char *const *f = flags; f && *f && n < 31; f++) argv[n++] = (char *)*f;
  argv[n] = NULL;
  if (rest_proc_start(&s->proc, argv) != 0) return -1;
  char host[64];
  if (sscanf(s->proc.line, "ee-emulator listening rest=http://%63[^:]:%d ", host, &s->port) != 2) {
    fprintf(stderr, "bad emulator line: %s\n", s->proc.line);
    rest_proc_stop(&s->proc);
    return -1;
  }
  snprintf(s->endpoint, sizeof s->endpoint, "http://%s:%d", host, s->port);
  return 0;
}

static int canned_start(server *s) {
  char *argv[] = {(char *)python_path, (char *)canned_path, NULL};
  if (rest_proc_start(&s->proc, argv) != 0) return -1;
  if (sscanf(s->proc.line, "rest-canned listening http://127.0.0.1:%d", &s->port) != 1) {
    fprintf(stderr, "bad canned server line: %s\n", s->proc.line);
    rest_proc_stop(&s->proc);
    return -1;
  }
  snprintf(s->endpoint, sizeof s->endpoint, "http://127.0.0.1:%d", s->port);
  return 0;
}

static eei_transport_config config_for(const char *endpoint, int port) {
  eei_transport_config c = {0};
  c.endpoint = endpoint;
  c.tls = false;
  c.host = "127.0.0.1";
  c.port = port;
  c.connect_timeout_ms = 5000;
  c.max_response_bytes = (size_t)32 << 20;
  c.max_depth = 100;
  return c;
}

static eei_transport *transport_new(const eei_transport_config *c) {
  eei_transport *t = NULL;
  ee_status st;
  if (R->create(c, &t, &st) != EE_OK) {
    fprintf(stderr, "create: %s\n", st.message);
    exit(1);
  }
  return t;
}

/* ------------------------------------------------------------------------------------
 * Blocking calls on the async ops
 * ---------------------------------------------------------------------------------- */

typedef struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int dones; /* how often done ran: must end at exactly 1 */
  eei_attempt_result res;
} waiter;

static void waiter_init(waiter *w) {
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
}

static void waiter_done(void *user, eei_attempt_result *res) {
  waiter *w = user;
  pthread_mutex_lock(&w->mu);
  w->res = *res;
  res->response = NULL; /* ours now */
  w->dones++;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static void waiter_wait(waiter *w) {
  pthread_mutex_lock(&w->mu);
  while (w->dones == 0) pthread_cond_wait(&w->cv, &w->mu);
  pthread_mutex_unlock(&w->mu);
}

static const eei_header DEFAULT_HEADERS[] = {
    {"authorization", "Bearer test-token", true},
    {"x-goog-api-client", "gl-c/11 ee-c/0.1.0", false},
    {"user-agent", "test_rest ee-c/0.1.0", false},
};

static const ee_route *route(const char *rpc) {
  const ee_route *r = ee_route_find(ee_route_table_default(), rpc);
  if (!r) {
    fprintf(stderr, "no route %s\n", rpc);
    exit(1);
  }
  return r;
}

/* One attempt of rpc with req, waited for. The result's response is the caller's. */
static eei_attempt_result call(eei_transport *t, const char *rpc, const ProtobufCMessage *req,
                               int64_t deadline_ms) {
  eei_attempt_result out;
  memset(&out, 0, sizeof out);
  eei_prepared *p = NULL;
  if (R->prepare(t, route(rpc), req, &p, &out.status) != EE_OK) return out;
  waiter w;
  waiter_init(&w);
  if (R->start(t, p, DEFAULT_HEADERS, 3, deadline_ms, waiter_done, &w, NULL, &out.status) ==
      EE_OK) {
    waiter_wait(&w);
    out = w.res;
  }
  R->prepared_free(p);
  return out;
}

static void result_free(eei_attempt_result *r) {
  if (r->response) protobuf_c_message_free_unpacked(r->response, NULL);
  r->response = NULL;
}

static ProtobufCMessage *export_request(void) {
  ProtobufCMessage *m = NULL;
  ee_status st;
  if (ee_json_decode(&google__earthengine__v1__export_image_request__descriptor, EXPORT_JSON,
                     strlen(EXPORT_JSON), NULL, &m, &st) != EE_OK) {
    fprintf(stderr, "export request: %s\n", st.message);
    exit(1);
  }
  return m;
}

#define EXPORT_RPC "/google.earthengine.v1.EarthEngine/ExportImage"
#define GET_RPC "/google.longrunning.Operations/GetOperation"
#define LIST_RPC "/google.longrunning.Operations/ListOperations"
#define CANCEL_RPC "/google.longrunning.Operations/CancelOperation"
#define DELETE_RPC "/google.longrunning.Operations/DeleteOperation"
#define WAIT_RPC "/google.longrunning.Operations/WaitOperation"

/* Starts one export and returns its operation name (malloc'd), or NULL. */
static char *export_one(eei_transport *t) {
  ProtobufCMessage *req = export_request();
  eei_attempt_result r = call(t, EXPORT_RPC, req, 0);
  protobuf_c_message_free_unpacked(req, NULL);
  CHECK(r.status.code == EE_OK, "export: %s %s", ee_code_name(r.status.code), r.status.message);
  if (r.status.code != EE_OK || !r.response) return NULL;
  char *name = strdup(((Google__Longrunning__Operation *)r.response)->name);
  result_free(&r);
  return name;
}

static eei_attempt_result get_op(eei_transport *t, const char *name, int64_t deadline_ms) {
  Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  g.name = (char *)name;
  return call(t, GET_RPC, &g.base, deadline_ms);
}

/* The OperationMetadata inside op->metadata, or NULL. */
static Google__Earthengine__V1__OperationMetadata *metadata_of(
    const Google__Longrunning__Operation *op) {
  if (!op->metadata || !strstr(op->metadata->type_url, "OperationMetadata")) return NULL;
  ProtobufCMessage *m = NULL;
  ee_status st;
  if (ee_wire_unpack(&google__earthengine__v1__operation_metadata__descriptor,
                     op->metadata->value.data, op->metadata->value.len, 0, NULL, &m, &st) != EE_OK)
    return NULL;
  return (Google__Earthengine__V1__OperationMetadata *)m;
}

/* ------------------------------------------------------------------------------------
 * Groups
 * ---------------------------------------------------------------------------------- */

/* Every RPC once, in the order a user would make them. */
static void test_rpcs(void) {
  server s;
  if (emu_start(&s, NULL) != 0) exit(1);
  eei_transport_config c = config_for(s.endpoint, s.port);
  eei_transport *t = transport_new(&c);

  ProtobufCMessage *req = export_request();
  eei_attempt_result r = call(t, EXPORT_RPC, req, eei_now_ms() + 30000);
  protobuf_c_message_free_unpacked(req, NULL);
  CHECK(r.status.code == EE_OK, "export: %s", r.status.message);
  CHECK(r.status.http_status == 200, "export http %d", r.status.http_status);
  Google__Longrunning__Operation *op = (Google__Longrunning__Operation *)r.response;
  CHECK(op && op->base.descriptor == &google__longrunning__operation__descriptor, "export type");
  if (!op) exit(1);
  char *name = strdup(op->name);
  CHECK(strncmp(name, "projects/p1/operations/", 23) == 0, "name %s", name);
  CHECK(!op->done, "a new export is not done");
  Google__Earthengine__V1__OperationMetadata *md = metadata_of(op);
  CHECK(md && strcmp(md->description, "transport test") == 0, "metadata description");
  if (md) protobuf_c_message_free_unpacked(&md->base, NULL);
  result_free(&r);

  r = get_op(t, name, 0);
  CHECK(r.status.code == EE_OK, "get: %s", r.status.message);
  op = (Google__Longrunning__Operation *)r.response;
  CHECK(op && strcmp(op->name, name) == 0, "get returns the same operation");
  result_free(&r);

  Google__Longrunning__ListOperationsRequest l = GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
  l.name = "projects/p1";
  l.page_size = 10;
  r = call(t, LIST_RPC, &l.base, 0);
  CHECK(r.status.code == EE_OK, "list: %s", r.status.message);
  Google__Longrunning__ListOperationsResponse *lr =
      (Google__Longrunning__ListOperationsResponse *)r.response;
  CHECK(lr && lr->n_operations == 1 && strcmp(lr->operations[0]->name, name) == 0,
        "list holds the export");
  result_free(&r);

  Google__Longrunning__WaitOperationRequest w = GOOGLE__LONGRUNNING__WAIT_OPERATION_REQUEST__INIT;
  Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
  d.nanos = 50000000;
  w.name = name;
  w.timeout = &d;
  r = call(t, WAIT_RPC, &w.base, 0);
  CHECK(r.status.code == EE_OK, "wait: %s", r.status.message);
  op = (Google__Longrunning__Operation *)r.response;
  CHECK(op && strcmp(op->name, name) == 0, "wait returns the operation");
  result_free(&r);

  Google__Longrunning__CancelOperationRequest cr =
      GOOGLE__LONGRUNNING__CANCEL_OPERATION_REQUEST__INIT;
  cr.name = name;
  r = call(t, CANCEL_RPC, &cr.base, 0);
  CHECK(r.status.code == EE_OK, "cancel: %s", r.status.message);
  CHECK(r.response && r.response->descriptor == &google__protobuf__empty__descriptor, "Empty");
  result_free(&r);

  r = get_op(t, name, 0);
  op = (Google__Longrunning__Operation *)r.response;
  md = op ? metadata_of(op) : NULL;
  CHECK(md && (md->state == GOOGLE__EARTHENGINE__V1__OPERATION_METADATA__STATE__CANCELLING ||
               md->state == GOOGLE__EARTHENGINE__V1__OPERATION_METADATA__STATE__CANCELLED),
        "cancelled state");
  if (md) protobuf_c_message_free_unpacked(&md->base, NULL);
  result_free(&r);

  Google__Longrunning__DeleteOperationRequest dr =
      GOOGLE__LONGRUNNING__DELETE_OPERATION_REQUEST__INIT;
  dr.name = name;
  r = call(t, DELETE_RPC, &dr.base, 0);
  CHECK(r.status.code == EE_OK, "delete: %s", r.status.message);
  CHECK(r.response && r.response->descriptor == &google__protobuf__empty__descriptor, "Empty");
  result_free(&r);

  /* NOT_FOUND with the envelope's details. */
  r = get_op(t, name, 0);
  CHECK(r.status.code == EE_NOT_FOUND, "deleted: %s", ee_code_name(r.status.code));
  CHECK(r.status.http_status == 404, "http %d", r.status.http_status);
  CHECK(strcmp(r.status.reason, "NOT_FOUND") == 0, "reason %s", r.status.reason);
  CHECK(strcmp(r.status.domain, "earthengine.googleapis.com") == 0, "domain %s", r.status.domain);
  CHECK(strstr(r.status.message, name) && strstr(r.status.message, "not found"), "message %s",
        r.status.message);
  CHECK(r.response == NULL && r.sent, "no response, sent");
  CHECK(r.retry_after_ms == -1, "no Retry-After: %lld", (long long)r.retry_after_ms);
  result_free(&r);

  /* The service's own INVALID_ARGUMENT (the field path leads its message). */
  Google__Earthengine__V1__ExportImageRequest *bad =
      (Google__Earthengine__V1__ExportImageRequest *)export_request();
  bad->request_id = "not valid!";
  r = call(t, EXPORT_RPC, &bad->base, 0);
  CHECK(r.status.code == EE_INVALID_ARGUMENT && r.status.http_status == 400, "bad requestId: %s",
        r.status.message);
  CHECK(strstr(r.status.message, "requestId") != NULL, "names requestId: %s", r.status.message);
  bad->request_id = NULL;
  protobuf_c_message_free_unpacked(&bad->base, NULL);
  result_free(&r);

  free(name);
  R->destroy(t);
  rest_proc_stop(&s.proc);
}

/* describe and target: the dry-run JSON, secrets redacted; prepare_bytes agrees. */
static void test_describe(void) {
  eei_transport_config c = config_for("http://127.0.0.1:1", 1);
  eei_transport *t = transport_new(&c);
  ee_status st;
  Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  g.name = "projects/p/operations/a b";
  eei_prepared *p = NULL;
  CHECK(R->prepare(t, route(GET_RPC), &g.base, &p, &st) == EE_OK, "prepare get: %s", st.message);
  const char *method = NULL;
  CHECK(strcmp(R->target(p, &method), "GET http://127.0.0.1:1/v1/projects/p/operations/a%20b") == 0,
        "target %s", R->target(p, NULL));
  CHECK(method && strcmp(method, "GET") == 0, "method");
  ee_buf out = EE_BUF_INIT;
  CHECK(R->describe(p, DEFAULT_HEADERS, 3, &out, &st) == EE_OK, "describe: %s", st.message);
  const char *want =
      "{\"transport\":\"rest\",\"method\":\"GET\",\"url\":\"http://127.0.0.1:1/v1/projects/p/"
      "operations/a%20b\",\"headers\":{\"authorization\":\"REDACTED\",\"x-goog-api-client\":"
      "\"gl-c/11 ee-c/0.1.0\",\"user-agent\":\"test_rest ee-c/0.1.0\"}}";
  CHECK(out.data && strcmp(out.data, want) == 0, "describe get:\n %s\nwant\n %s", out.data, want);
  CHECK(!strstr(out.data, "test-token"), "the token never shows");
  R->prepared_free(p);

  /* ExportImage: a body, so content-type; the body is the JSON object itself. */
  ProtobufCMessage *req = export_request();
  CHECK(R->prepare(t, route(EXPORT_RPC), req, &p, &st) == EE_OK, "prepare export: %s", st.message);
  ee_buf_reset(&out);
  eei_header h[] = {{"authorization", "Bearer sec\"ret", true},
                    {"x-goog-user-project", "quota \"q\"", false}};
  CHECK(R->describe(p, h, 2, &out, &st) == EE_OK, "describe export: %s", st.message);
  /* Body "*": every field but the path's (project), in the JSON codec's form. */
  ee_buf body = EE_BUF_INIT;
  Google__Earthengine__V1__ExportImageRequest *er =
      (Google__Earthengine__V1__ExportImageRequest *)req;
  char *project = er->project;
  er->project = "";
  ee_json_encode(req, NULL, &body, &st);
  er->project = project;
  ee_buf want2 = EE_BUF_INIT;
  ee_buf_printf(&want2, &st,
                "{\"transport\":\"rest\",\"method\":\"POST\",\"url\":\"http://127.0.0.1:1/v1/"
                "projects/p1/image:export\",\"headers\":{\"authorization\":\"REDACTED\","
                "\"x-goog-user-project\":\"quota \\\"q\\\"\",\"content-type\":"
                "\"application/json\"},\"body\":%s}",
                body.data);
  CHECK(strcmp(out.data, want2.data) == 0, "describe export:\n %s\nwant\n %s", out.data,
        want2.data);
  CHECK(strcmp(R->target(p, NULL), "POST http://127.0.0.1:1/v1/projects/p1/image:export") == 0,
        "export target %s", R->target(p, NULL));

  /* The same request as binary bytes. */
  size_t n = protobuf_c_message_get_packed_size(req);
  uint8_t *bytes = malloc(n);
  protobuf_c_message_pack(req, bytes);
  eei_prepared *pb = NULL;
  CHECK(R->prepare_bytes(t, route(EXPORT_RPC), bytes, n, "", &pb, &st) == EE_OK,
        "prepare_bytes: %s", st.message);
  ee_buf out2 = EE_BUF_INIT;
  if (pb) R->describe(pb, h, 2, &out2, &st);
  CHECK(out2.data && strcmp(out.data, out2.data) == 0, "prepare_bytes describes the same call");
  R->prepared_free(pb);
  R->prepared_free(p);
  free(bytes);
  protobuf_c_message_free_unpacked(req, NULL);
  ee_buf_free(&out);
  ee_buf_free(&out2);
  ee_buf_free(&body);
  ee_buf_free(&want2);
  R->destroy(t);
}

static void count_done(void *user, eei_attempt_result *res) {
  (void)res;
  atomic_fetch_add((_Atomic int *)user, 1);
}

/* Requests that cannot be sent fail in prepare or start, and then done never runs. */
static void test_invalid(void) {
  eei_transport_config c = config_for("http://127.0.0.1:1", 1);
  eei_transport *t = transport_new(&c);
  ee_status st;
  eei_prepared *p = NULL;
  Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  g.name = "not-a-name";
  CHECK(R->prepare(t, route(GET_RPC), &g.base, &p, &st) == EE_INVALID_ARGUMENT && !p,
        "bad path value");
  CHECK(strstr(st.message, "name") != NULL, "names the field: %s", st.message);
  const uint8_t junk[] = {0x0a, 0x40, 'x'};
  CHECK(
      R->prepare_bytes(t, route(GET_RPC), junk, sizeof junk, "", &p, &st) == EE_INVALID_ARGUMENT &&
          !p,
      "bad bytes: %s", st.message);
  CHECK(R->prepare(t, route(LIST_RPC), &g.base, &p, &st) == EE_INVALID_ARGUMENT && !p,
        "wrong request type: %s", st.message);

  g.name = "projects/p/operations/x";
  CHECK(R->prepare(t, route(GET_RPC), &g.base, &p, &st) == EE_OK, "prepare: %s", st.message);
  _Atomic int dones = 0;
  eei_header h[] = {{"authorization", "Bearer a\r\nx-evil: 1", true}};
  CHECK(R->start(t, p, h, 1, 0, count_done, (void *)&dones, NULL, &st) == EE_INVALID_ARGUMENT,
        "a header with a line break is refused");
  CHECK(strstr(st.message, "authorization") && !strstr(st.message, "evil"),
        "names the header, not its value: %s", st.message);
  R->destroy(t);
  CHECK(atomic_load(&dones) == 0, "done never ran");
  R->prepared_free(p);
}

/* --fail-rate 1.0: the service answers 503 UNAVAILABLE to everything. */
static void test_unavailable(void) {
  server s;
  const char *flags[] = {"--fail-rate", "1.0", NULL};
  if (emu_start(&s, flags) != 0) exit(1);
  eei_transport_config c = config_for(s.endpoint, s.port);
  eei_transport *t = transport_new(&c);
  for (int i = 0; i < 3; i++) {
    eei_attempt_result r = get_op(t, "projects/p/operations/x", 0);
    CHECK(r.status.code == EE_UNAVAILABLE && r.status.http_status == 503 && r.sent,
          "fail-rate: %s %d %s", ee_code_name(r.status.code), r.status.http_status,
          r.status.message);
    result_free(&r);
  }
  R->destroy(t);
  rest_proc_stop(&s.proc);
}

/* Nothing listens: UNAVAILABLE, curl's text, and sent=false (safe to retry anything). */
static void test_refused(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd); /* the port is now (almost surely) closed */
  char ep[64];
  snprintf(ep, sizeof ep, "http://127.0.0.1:%d", ntohs(a.sin_port));
  eei_transport_config c = config_for(ep, ntohs(a.sin_port));
  eei_transport *t = transport_new(&c);
  eei_attempt_result r = get_op(t, "projects/p/operations/x", eei_now_ms() + 10000);
  CHECK(r.status.code == EE_UNAVAILABLE && !r.sent, "refused: %s sent=%d %s",
        ee_code_name(r.status.code), r.sent, r.status.message);
  CHECK(strstr(r.status.message, "onnect") != NULL, "curl's text: %s", r.status.message);
  CHECK(r.status.http_status == 0, "no HTTP status");
  R->destroy(t);
}

/* A deadline shorter than the service's latency; a deadline already past. */
static void test_deadline(void) {
  server s;
  const char *flags[] = {"--latency-ms", "3000", NULL};
  if (emu_start(&s, flags) != 0) exit(1);
  eei_transport_config c = config_for(s.endpoint, s.port);
  eei_transport *t = transport_new(&c);
  int64_t t0 = eei_now_ms();
  eei_attempt_result r = get_op(t, "projects/p/operations/x", t0 + 500);
  int64_t took = eei_now_ms() - t0;
  CHECK(r.status.code == EE_DEADLINE_EXCEEDED, "deadline: %s %s", ee_code_name(r.status.code),
        r.status.message);
  CHECK(took < 2900, "ended by the deadline, not the answer (%lld ms)", (long long)took);
  /* r.sent depends on whether the request got out before the deadline: not checked. */
  r = get_op(t, "projects/p/operations/x", eei_now_ms() - 1);
  CHECK(r.status.code == EE_DEADLINE_EXCEEDED && !r.sent, "past deadline: %s sent=%d",
        ee_code_name(r.status.code), r.sent);
  R->destroy(t);
  rest_proc_stop(&s.proc);
}

typedef struct racer {
  eei_transport *t;
  eei_prepared *p;
  _Atomic int dones, ok, cancelled, other;
} racer;

static void race_done(void *user, eei_attempt_result *res) {
  racer *r = user;
  atomic_fetch_add(&r->dones, 1);
  if (res->status.code == EE_OK)
    atomic_fetch_add(&r->ok, 1);
  else if (res->status.code == EE_CANCELLED)
    atomic_fetch_add(&r->cancelled, 1);
  else
    atomic_fetch_add(&r->other, 1);
}

#define RACE_N 400

/* One attempt of the cancel race: the lock orders cancel against done. */
typedef struct race_ctx {
  pthread_mutex_t mu;
  eei_attempt *a;
  bool started, finished;
  int dones;
  racer *r;
} race_ctx;

typedef struct race_walk {
  eei_transport *t;
  race_ctx *ctx;
} race_walk;

static void race_ctx_done(void *user, eei_attempt_result *res) {
  race_ctx *c = user;
  pthread_mutex_lock(&c->mu);
  c->finished = true;
  c->dones++;
  pthread_mutex_unlock(&c->mu);
  race_done(c->r, res);
}

/* Cancels every other attempt as soon as it has started, if it has not finished. */
static void *race_cancel_thread(void *arg) {
  race_walk *w = arg;
  for (int i = 0; i < RACE_N; i += 2) {
    for (;;) {
      pthread_mutex_lock(&w->ctx[i].mu);
      bool started = w->ctx[i].started;
      if (started && !w->ctx[i].finished) R->cancel(w->t, w->ctx[i].a);
      pthread_mutex_unlock(&w->ctx[i].mu);
      if (started) break;
      sched_yield();
    }
  }
  return NULL;
}

/* A call cancelled mid-flight; cancels racing completions; destroy with calls running. */
static void test_cancel(void) {
  server slow, fast;
  const char *flags[] = {"--latency-ms", "3000", NULL};
  if (emu_start(&slow, flags) != 0 || emu_start(&fast, NULL) != 0) exit(1);
  eei_transport_config c = config_for(slow.endpoint, slow.port);
  eei_transport *t = transport_new(&c);
  ee_status st;
  Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  g.name = "projects/p/operations/x";
  eei_prepared *p = NULL;
  R->prepare(t, route(GET_RPC), &g.base, &p, &st);
  waiter w;
  waiter_init(&w);
  eei_attempt *a = NULL;
  int64_t t0 = eei_now_ms();
  CHECK(R->start(t, p, DEFAULT_HEADERS, 3, 0, waiter_done, &w, &a, &st) == EE_OK, "start");
  sleep_us(100000);
  R->cancel(t, a);
  waiter_wait(&w);
  CHECK(w.res.status.code == EE_CANCELLED, "cancelled: %s", ee_code_name(w.res.status.code));
  CHECK(eei_now_ms() - t0 < 2900, "ended by the cancel");
  sleep_us(20000);
  CHECK(w.dones == 1, "done ran once (%d)", w.dones);

  /* destroy with 40 calls running: each done runs once, CANCELLED. */
  racer rc = {0};
  for (int i = 0; i < 40; i++) R->start(t, p, DEFAULT_HEADERS, 3, 0, race_done, &rc, NULL, &st);
  sleep_us(100000);
  R->destroy(t);
  CHECK(rc.dones == 40 && rc.cancelled == 40, "destroy ends all: %d done, %d cancelled",
        (int)rc.dones, (int)rc.cancelled);
  R->prepared_free(p);

  /* Cancels from another thread racing completions on a fast service: each done runs
   * exactly once. The canceller holds a per-attempt lock and cancels only while done has
   * not run, as the client core does. */
  c = config_for(fast.endpoint, fast.port);
  t = transport_new(&c);
  char *name = export_one(t);
  g.name = name;
  R->prepare(t, route(GET_RPC), &g.base, &p, &st);
  racer rc2 = {0};
  race_ctx *ctx = calloc(RACE_N, sizeof *ctx);
  pthread_t canceller;
  race_walk walk = {t, ctx};
  for (int i = 0; i < RACE_N; i++) {
    pthread_mutex_init(&ctx[i].mu, NULL);
    ctx[i].r = &rc2;
  }
  pthread_create(&canceller, NULL, race_cancel_thread, &walk);
  for (int i = 0; i < RACE_N; i++) {
    pthread_mutex_lock(&ctx[i].mu);
    R->start(t, p, DEFAULT_HEADERS, 3, 0, race_ctx_done, &ctx[i], &ctx[i].a, &st);
    ctx[i].started = true;
    pthread_mutex_unlock(&ctx[i].mu);
  }
  pthread_join(canceller, NULL);
  while (atomic_load(&rc2.dones) < RACE_N) sleep_us(1000);
  sleep_us(20000);
  int twice = 0;
  for (int i = 0; i < RACE_N; i++) twice += ctx[i].dones != 1;
  CHECK(rc2.dones == RACE_N && twice == 0, "every done once: %d (%d not once)", (int)rc2.dones,
        twice);
  CHECK(rc2.other == 0, "only OK or CANCELLED: %d other", (int)rc2.other);
  printf("cancel race: %d OK, %d CANCELLED\n", (int)rc2.ok, (int)rc2.cancelled);
  free(ctx);
  free(name);
  R->destroy(t);
  R->prepared_free(p);
  rest_proc_stop(&slow.proc);
  rest_proc_stop(&fast.proc);
}

/* max_response_bytes: a small answer passes, a larger one is OUT_OF_RANGE naming the limit. */
static void test_size_limit(void) {
  server s;
  if (emu_start(&s, NULL) != 0) exit(1);
  eei_transport_config c = config_for(s.endpoint, s.port);
  c.max_response_bytes = 4096;
  eei_transport *t = transport_new(&c);
  char *name = export_one(t);
  for (int i = 0; i < 30; i++) free(export_one(t));
  eei_attempt_result r = get_op(t, name, 0);
  CHECK(r.status.code == EE_OK, "one operation fits in 4096 bytes: %s", r.status.message);
  result_free(&r);
  Google__Longrunning__ListOperationsRequest l = GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
  l.name = "projects/p1";
  r = call(t, LIST_RPC, &l.base, 0);
  CHECK(r.status.code == EE_OUT_OF_RANGE && !r.response, "31 do not: %s %s",
        ee_code_name(r.status.code), r.status.message);
  CHECK(strstr(r.status.message, "max_response_bytes (4096 bytes)") != NULL, "names the limit: %s",
        r.status.message);
  /* The connection was dropped mid-answer; the next call still works. */
  r = get_op(t, name, 0);
  CHECK(r.status.code == EE_OK, "after an abort: %s", r.status.message);
  result_free(&r);
  free(name);
  R->destroy(t);
  rest_proc_stop(&s.proc);
}

/* 16 threads each start 500 attempts at once (8000 in flight), then wait for them all. */
typedef struct burst {
  eei_transport *t;
  eei_prepared *get, *exp;
  _Atomic int *ok, *bad;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int left;
} burst;

static void burst_done(void *user, eei_attempt_result *res) {
  burst *b = user;
  if (res->status.code == EE_OK && res->response)
    atomic_fetch_add(b->ok, 1);
  else {
    if (atomic_fetch_add(b->bad, 1) < 5)
      fprintf(stderr, "burst error: %s %s\n", ee_code_name(res->status.code), res->status.message);
  }
  pthread_mutex_lock(&b->mu);
  if (--b->left == 0) pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

static void *burst_thread(void *arg) {
  burst *b = arg;
  ee_status st;
  b->left = 500;
  for (int i = 0; i < 500; i++) {
    eei_prepared *p = i % 5 == 0 ? b->exp : b->get;
    if (R->start(b->t, p, DEFAULT_HEADERS, 3, eei_now_ms() + 120000, burst_done, b, NULL, &st) !=
        EE_OK) {
      atomic_fetch_add(b->bad, 1);
      pthread_mutex_lock(&b->mu);
      b->left--;
      pthread_mutex_unlock(&b->mu);
    }
  }
  pthread_mutex_lock(&b->mu);
  while (b->left > 0) pthread_cond_wait(&b->cv, &b->mu);
  pthread_mutex_unlock(&b->mu);
  return NULL;
}

static void test_concurrency(void) {
  server s;
  const char *flags[] = {"--max-queued", "100000", NULL};
  if (emu_start(&s, flags) != 0) exit(1);
  eei_transport_config c = config_for(s.endpoint, s.port);
  eei_transport *t = transport_new(&c);
  char *name = export_one(t);
  ee_status st;
  Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  g.name = name;
  eei_prepared *get = NULL, *exp = NULL;
  R->prepare(t, route(GET_RPC), &g.base, &get, &st);
  ProtobufCMessage *req = export_request();
  R->prepare(t, route(EXPORT_RPC), req, &exp, &st);
  _Atomic int ok = 0, bad = 0;
  burst b[16];
  pthread_t th[16];
  for (int i = 0; i < 16; i++) {
    b[i] = (burst){.t = t, .get = get, .exp = exp, .ok = &ok, .bad = &bad};
    pthread_mutex_init(&b[i].mu, NULL);
    pthread_cond_init(&b[i].cv, NULL);
    pthread_create(&th[i], NULL, burst_thread, &b[i]);
  }
  for (int i = 0; i < 16; i++) pthread_join(th[i], NULL);
  CHECK(ok == 8000 && bad == 0, "16 x 500: %d ok, %d errors", (int)ok, (int)bad);
  eei_rest_stats rs;
  eei_rest_get_stats(t, &rs);
  CHECK(rs.connects <= 64, "connections stay under the per-host cap: %llu",
        (unsigned long long)rs.connects);
  printf("16 x 500: %llu transfers on %llu connections, %llu easy handles\n",
         (unsigned long long)rs.transfers, (unsigned long long)rs.connects,
         (unsigned long long)rs.handles);
  R->destroy(t);
  R->prepared_free(get);
  R->prepared_free(exp);
  protobuf_c_message_free_unpacked(req, NULL);
  free(name);
  rest_proc_stop(&s.proc);
}

/* TCP connections to port seen by the kernel (any state, so closed ones still in
 * TIME_WAIT count too): the client ends of connections in /proc/net/tcp. */
static int kernel_connections_to(int port) {
  FILE *f = fopen("/proc/net/tcp", "r");
  if (!f) return -1;
  char line[512];
  int n = 0;
  if (!fgets(line, sizeof line, f)) {
    fclose(f);
    return -1;
  }
  while (fgets(line, sizeof line, f)) {
    unsigned lport = 0, rport = 0, state = 0;
    if (sscanf(line, " %*d: %*8x:%x %*8x:%x %x", &lport, &rport, &state) == 3 &&
        (int)rport == port && state != 0x0A /* LISTEN */)
      n++;
  }
  fclose(f);
  return n;
}

typedef struct seq_args {
  eei_transport *t;
  const char *name;
  int calls;
  _Atomic int *bad;
} seq_args;

static void *seq_thread(void *arg) {
  seq_args *a = arg;
  for (int i = 0; i < a->calls; i++) {
    eei_attempt_result r = get_op(a->t, a->name, 0);
    if (r.status.code != EE_OK) atomic_fetch_add(a->bad, 1);
    result_free(&r);
  }
  return NULL;
}

/* Reused connections: 300 calls one after another open one connection (curl's count and
 * the kernel's agree); 8 threads calling at once open at most 8. */
static void test_reuse(void) {
  server s;
  if (emu_start(&s, NULL) != 0) exit(1);
  int before = kernel_connections_to(s.port);
  eei_transport_config c = config_for(s.endpoint, s.port);
  eei_transport *t = transport_new(&c);
  char *name = export_one(t);
  _Atomic int bad = 0;
  seq_args one = {t, name, 300, &bad};
  seq_thread(&one);
  eei_rest_stats rs;
  eei_rest_get_stats(t, &rs);
  int kernel = kernel_connections_to(s.port);
  CHECK(bad == 0, "sequential calls ok");
  CHECK(rs.transfers == 301 && rs.connects == 1, "301 calls, %llu transfers, %llu connections",
        (unsigned long long)rs.transfers, (unsigned long long)rs.connects);
  CHECK(kernel - before == 1, "the kernel saw %d connections", kernel - before);
  CHECK(rs.handles == 1, "one easy handle reused: %llu", (unsigned long long)rs.handles);
  R->destroy(t);

  t = transport_new(&c);
  pthread_t th[8];
  seq_args many[8];
  for (int i = 0; i < 8; i++) {
    many[i] = (seq_args){t, name, 100, &bad};
    pthread_create(&th[i], NULL, seq_thread, &many[i]);
  }
  for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
  eei_rest_get_stats(t, &rs);
  CHECK(bad == 0, "concurrent calls ok");
  CHECK(rs.transfers == 800 && rs.connects <= 8, "8 x 100: %llu connections",
        (unsigned long long)rs.connects);
  printf("reuse: 301 sequential calls on %d connection(s); 8 x 100 on %llu\n", kernel - before,
         (unsigned long long)rs.connects);
  R->destroy(t);
  free(name);
  rest_proc_stop(&s.proc);
}

/* What the emulator never sends: unknown fields, Retry-After, a proxy's HTML page, and
 * what went on the wire (headers, no Expect, the body) as a Python server saw it. */
static void test_canned(void) {
  server s;
  if (canned_start(&s) != 0) exit(1);
  eei_transport_config c = config_for(s.endpoint, s.port);
  eei_transport *t = transport_new(&c);

  eei_attempt_result r = get_op(t, "projects/p/operations/unknown-fields", 0);
  CHECK(r.status.code == EE_OK, "unknown fields are ignored: %s", r.status.message);
  Google__Longrunning__Operation *op = (Google__Longrunning__Operation *)r.response;
  CHECK(op && strcmp(op->name, "projects/p/operations/unknown-fields") == 0, "name");
  Google__Earthengine__V1__OperationMetadata *md = op ? metadata_of(op) : NULL;
  CHECK(md && md->state == GOOGLE__EARTHENGINE__V1__OPERATION_METADATA__STATE__RUNNING,
        "metadata decoded past its unknown field");
  if (md) protobuf_c_message_free_unpacked(&md->base, NULL);
  result_free(&r);

  r = get_op(t, "projects/p/operations/retry-seconds", 0);
  CHECK(r.status.code == EE_RESOURCE_EXHAUSTED && r.status.http_status == 429, "429: %s",
        ee_code_name(r.status.code));
  CHECK(r.retry_after_ms == 7000, "Retry-After: 7 -> %lld", (long long)r.retry_after_ms);
  CHECK(r.status.retry_delay_ms == 2500, "RetryInfo %lld", (long long)r.status.retry_delay_ms);
  CHECK(strcmp(r.status.reason, "RATE_LIMIT_EXCEEDED") == 0, "reason %s", r.status.reason);
  const char *q = ee_status_metadata(&r.status, "quota_limit");
  CHECK(q && strcmp(q, "ExportsPerMinute") == 0, "ErrorInfo metadata");

  r = get_op(t, "projects/p/operations/retry-date", 0);
  CHECK(r.status.code == EE_UNAVAILABLE && r.status.http_status == 503, "503");
  CHECK(r.retry_after_ms > 20000 && r.retry_after_ms <= 31000, "Retry-After date -> %lld",
        (long long)r.retry_after_ms);

  r = get_op(t, "projects/p/operations/html", 0);
  CHECK(r.status.code == EE_UNAVAILABLE && r.status.http_status == 502, "html 502: %s",
        ee_code_name(r.status.code));
  CHECK(r.retry_after_ms == -1, "no Retry-After");

  r = get_op(t, "projects/p/operations/empty", 0);
  CHECK(r.status.code == EE_OK && r.response, "an empty 200 body is an empty message: %s",
        r.status.message);
  result_free(&r);

  /* A POST with a body: the headers as the server saw them. */
  ProtobufCMessage *req = export_request();
  eei_header h[] = {{"authorization", "Bearer tok-123", true},
                    {"x-goog-user-project", "quota-proj", false},
                    {"x-goog-api-client", "gl-c/11 ee-c/0.1.0", false},
                    {"user-agent", "my-app/1 ee-c/0.1.0", false}};
  eei_prepared *p = NULL;
  ee_status st;
  R->prepare(t, route(EXPORT_RPC), req, &p, &st);
  waiter w;
  waiter_init(&w);
  R->start(t, p, h, 4, 0, waiter_done, &w, NULL, &st);
  waiter_wait(&w);
  op = (Google__Longrunning__Operation *)w.res.response;
  const char *seen = op && op->error ? op->error->message : "";
  CHECK(strstr(seen, "\"authorization\": \"Bearer tok-123\""), "authorization: %s", seen);
  CHECK(strstr(seen, "\"x-goog-user-project\": \"quota-proj\""), "quota project");
  CHECK(strstr(seen, "\"x-goog-api-client\": \"gl-c/11 ee-c/0.1.0\""), "api client");
  CHECK(strstr(seen, "\"user-agent\": \"my-app/1 ee-c/0.1.0\""), "user agent");
  CHECK(strstr(seen, "\"content-type\": \"application/json\""), "content type");
  CHECK(!strstr(seen, "\"expect\""), "no Expect: %s", seen);
  CHECK(strstr(seen, "\"method\": \"POST\"") && strstr(seen, "/v1/projects/p1/image:export"),
        "method and path");
  CHECK(strstr(seen, "Image.constant"), "the body arrived");
  if (w.res.response) protobuf_c_message_free_unpacked(w.res.response, NULL);
  R->prepared_free(p);
  protobuf_c_message_free_unpacked(req, NULL);

  /* GET: no body, so no content-type. */
  r = get_op(t, "projects/p/operations/echo", 0);
  op = (Google__Longrunning__Operation *)r.response;
  seen = op && op->error ? op->error->message : "";
  CHECK(strstr(seen, "\"method\": \"GET\"") && strstr(seen, "\"body\": null"), "GET: %s", seen);
  CHECK(!strstr(seen, "content-type") && !strstr(seen, "content-length"), "GET headers: %s", seen);
  result_free(&r);

  /* DELETE answers Empty; the canned server answers it with an Operation, whose fields
   * are all unknown to Empty: decoded because unknown fields are ignored. */
  Google__Longrunning__DeleteOperationRequest dr =
      GOOGLE__LONGRUNNING__DELETE_OPERATION_REQUEST__INIT;
  dr.name = "projects/p/operations/echo";
  r = call(t, DELETE_RPC, &dr.base, 0);
  CHECK(r.status.code == EE_OK && r.response &&
            r.response->descriptor == &google__protobuf__empty__descriptor,
        "delete: %s", r.status.message);
  result_free(&r);

  R->destroy(t);
  rest_proc_stop(&s.proc);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: test_rest GROUP EMULATOR [PYTHON CANNED_SCRIPT]\n");
    return 2;
  }
  emulator_path = argv[2];
  python_path = argc > 3 ? argv[3] : "/usr/bin/python3";
  canned_path = argc > 4 ? argv[4] : NULL;
  static const struct {
    const char *name;
    void (*fn)(void);
  } groups[] = {{"rpcs", test_rpcs},
                {"describe", test_describe},
                {"invalid", test_invalid},
                {"unavailable", test_unavailable},
                {"refused", test_refused},
                {"deadline", test_deadline},
                {"cancel", test_cancel},
                {"size_limit", test_size_limit},
                {"concurrency", test_concurrency},
                {"reuse", test_reuse},
                {"canned", test_canned}};
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
    if (strcmp(argv[1], groups[i].name) != 0) continue;
    groups[i].fn();
    printf("%s: %d checks, %d failures\n", argv[1], checks, failures);
    return failures ? 1 : 0;
  }
  fprintf(stderr, "unknown group %s\n", argv[1]);
  return 2;
}
