/* The gRPC transport (src/transport/grpc_core.c) driven directly through its ops table
 * against ee-emulator's gRPC port on loopback.
 *
 *   test_transport_grpc EMULATOR GROUP
 *   test_transport_grpc PORT peer [CA_FILE]     (run by peer_grpc.py)
 *
 * Groups: rpcs errors faults refused deadline cancel limits describe concurrency destroy.
 * Each starts its own emulator with the flags it needs. No check depends on timing: where
 * a deadline or a cancel must win, the emulator's --latency-ms holds the answer back far
 * longer than the test waits. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ee/json.h"
#include "ee/route.h"
#include "emu_spawn.h"
#include "transport.h"

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) fail(__FILE__, __LINE__, "check failed: %s", #cond); \
  } while (0)
#define CHECK_CODE(st, want)                                                                       \
  do {                                                                                             \
    if ((st).code != (want))                                                                       \
      fail(__FILE__, __LINE__, "want %s, got %s: %s", ee_code_name(want), ee_code_name((st).code), \
           (st).message);                                                                          \
  } while (0)

static const char *emulator_path;
static const eei_transport_ops *T = &eei_grpc_transport;
static emu_proc emu;
static const char *tls_ca_file; /* non-NULL: TLS, with these roots ("" = the system's) */

static void fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static void fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s:%d: ", file, line);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  emu_stop(&emu);
  exit(1);
}

/* ------------------------------------------------------------------------------------
 * Fixture: emulator, transport, one blocking call
 * ---------------------------------------------------------------------------------- */

static const eei_header headers[] = {
    {"authorization", "Bearer s3cret", true},
    {"x-goog-api-client", "gl-c/11 ee-c/0.1.0", false},
    {"x-goog-user-project", "quota-proj", false},
    {"user-agent", "eetest/1.0 ee-c/0.1.0", false},
};
#define N_HEADERS (sizeof headers / sizeof *headers)

static void start_emulator(const char *const *args) {
  if (emu_start(emulator_path, args, &emu) != 0) fail(__FILE__, __LINE__, "emulator did not start");
}

static eei_transport *new_transport_cfg(int port, size_t max_response, int max_depth) {
  eei_transport_config cfg = {0};
  char endpoint[128];
  snprintf(endpoint, sizeof endpoint, "%s://%s:%d", tls_ca_file ? "https" : "http", emu.grpc_host,
           port);
  cfg.endpoint = endpoint;
  cfg.tls = tls_ca_file != NULL;
  cfg.ca_file = tls_ca_file && tls_ca_file[0] ? tls_ca_file : NULL;
  cfg.host = emu.grpc_host;
  cfg.port = port;
  cfg.connect_timeout_ms = 5000;
  cfg.max_response_bytes = max_response;
  cfg.max_depth = max_depth;
  eei_transport *t = NULL;
  ee_status st;
  if (T->create(&cfg, &t, &st) != EE_OK) fail(__FILE__, __LINE__, "create: %s", st.message);
  return t;
}

static eei_transport *new_transport(void) {
  return new_transport_cfg(emu.grpc_port, 0, 0);
}

static const ee_route *route(const char *path) {
  const ee_route *r = ee_route_find(ee_route_table_default(), path);
  if (!r) fail(__FILE__, __LINE__, "no route %s", path);
  return r;
}

static ProtobufCMessage *from_json(const ProtobufCMessageDescriptor *d, const char *json) {
  ProtobufCMessage *m = NULL;
  ee_status st;
  if (ee_json_decode(d, json, strlen(json), NULL, &m, &st) != EE_OK)
    fail(__FILE__, __LINE__, "bad test JSON for %s: %s", d->name, st.message);
  return m;
}

static char *to_json(const ProtobufCMessage *m) {
  ee_buf b = EE_BUF_INIT;
  ee_status st;
  if (ee_json_encode(m, NULL, &b, &st) != EE_OK) fail(__FILE__, __LINE__, "%s", st.message);
  return b.data;
}

#define EXPORT_JSON(project, extra)                                                          \
  "{\"project\":\"" project "\",\"description\":\"transport test\"," extra                   \
  "\"expression\":{\"values\":{\"0\":{\"functionInvocationValue\":{\"functionName\":"        \
  "\"Image.constant\",\"arguments\":{\"value\":{\"constantValue\":5}}}}},\"result\":\"0\"}," \
  "\"fileExportOptions\":{\"fileFormat\":\"GEO_TIFF\",\"driveDestination\":{\"folder\":"     \
  "\"out\",\"filenamePrefix\":\"img\"}}}"

#define EXPORT "/google.earthengine.v1.EarthEngine/ExportImage"
#define GET "/google.longrunning.Operations/GetOperation"
#define LIST "/google.longrunning.Operations/ListOperations"
#define CANCEL "/google.longrunning.Operations/CancelOperation"
#define DELETE "/google.longrunning.Operations/DeleteOperation"

/* One attempt's outcome, filled by on_done. */
typedef struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int calls;
  pthread_t thread;
  ee_status st;
  ProtobufCMessage *resp;
  bool sent;
} waiter;

static void waiter_init(waiter *w) {
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
}

static void waiter_destroy(waiter *w) {
  if (w->resp) protobuf_c_message_free_unpacked(w->resp, NULL);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
}

static void on_done(void *user, eei_attempt_result *res) {
  waiter *w = user;
  pthread_mutex_lock(&w->mu);
  w->calls++;
  w->thread = pthread_self();
  w->st = res->status;
  w->sent = res->sent;
  w->resp = res->response;
  res->response = NULL; /* taken */
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static void waiter_wait(waiter *w) {
  pthread_mutex_lock(&w->mu);
  while (!w->calls) pthread_cond_wait(&w->cv, &w->mu);
  pthread_mutex_unlock(&w->mu);
}

static int64_t in_ms(int ms) {
  return eei_now_ms() + ms;
}

/* Prepares and runs one attempt; the result is in *w (waiter_init'ed by this). */
static void run(eei_transport *t, const char *rpc, const ProtobufCMessage *req, int64_t deadline,
                waiter *w) {
  eei_prepared *p = NULL;
  ee_status st;
  if (T->prepare(t, route(rpc), req, &p, &st) != EE_OK)
    fail(__FILE__, __LINE__, "prepare %s: %s", rpc, st.message);
  waiter_init(w);
  eei_attempt *a = NULL;
  if (T->start(t, p, headers, N_HEADERS, deadline, on_done, w, &a, &st) != EE_OK)
    fail(__FILE__, __LINE__, "start %s: %s", rpc, st.message);
  waiter_wait(w);
  CHECK(w->calls == 1);
  CHECK(!pthread_equal(w->thread, pthread_self())); /* done runs on the event thread */
  T->prepared_free(p);
}

/* Runs one call from JSON and returns its response (or NULL with *st the error). */
static ProtobufCMessage *call_json(eei_transport *t, const char *rpc, const char *json,
                                   ee_status *st) {
  const ee_route *r = route(rpc);
  ProtobufCMessage *req = from_json(r->request, json);
  waiter w;
  run(t, rpc, req, in_ms(30000), &w);
  protobuf_c_message_free_unpacked(req, NULL);
  *st = w.st;
  ProtobufCMessage *resp = w.resp;
  w.resp = NULL;
  waiter_destroy(&w);
  if (st->code == EE_OK)
    CHECK(resp && resp->descriptor == r->response);
  else
    CHECK(resp == NULL);
  return resp;
}

static Google__Longrunning__Operation *export_one(eei_transport *t, const char *json) {
  ee_status st;
  ProtobufCMessage *m = call_json(t, EXPORT, json, &st);
  CHECK_CODE(st, EE_OK);
  return (Google__Longrunning__Operation *)m;
}

/* ------------------------------------------------------------------------------------
 * Groups
 * ---------------------------------------------------------------------------------- */

/* ExportImage, Get, List, Cancel, Delete; the token reaches the service (--token). */
static void group_rpcs(void) {
  start_emulator((const char *const[]){"--token", "s3cret", NULL});
  eei_transport *t = new_transport();
  Google__Longrunning__Operation *op = export_one(t, EXPORT_JSON("projects/p1", ""));
  CHECK(strncmp(op->name, "projects/p1/operations/", 23) == 0);
  CHECK(!op->done);

  char json[512];
  ee_status st;
  snprintf(json, sizeof json, "{\"name\":\"%s\"}", op->name);
  Google__Longrunning__Operation *got =
      (Google__Longrunning__Operation *)call_json(t, GET, json, &st);
  CHECK_CODE(st, EE_OK);
  CHECK(strcmp(got->name, op->name) == 0);
  protobuf_c_message_free_unpacked(&got->base, NULL);

  Google__Longrunning__ListOperationsResponse *list =
      (Google__Longrunning__ListOperationsResponse *)call_json(
          t, LIST, "{\"name\":\"projects/p1\",\"pageSize\":10}", &st);
  CHECK_CODE(st, EE_OK);
  CHECK(list->n_operations == 1 && strcmp(list->operations[0]->name, op->name) == 0);
  protobuf_c_message_free_unpacked(&list->base, NULL);

  ProtobufCMessage *empty = call_json(t, CANCEL, json, &st);
  CHECK_CODE(st, EE_OK);
  CHECK(strcmp(empty->descriptor->name, "google.protobuf.Empty") == 0);
  protobuf_c_message_free_unpacked(empty, NULL);
  empty = call_json(t, DELETE, json, &st);
  CHECK_CODE(st, EE_OK);
  protobuf_c_message_free_unpacked(empty, NULL);
  CHECK(call_json(t, GET, json, &st) == NULL);
  CHECK_CODE(st, EE_NOT_FOUND);
  protobuf_c_message_free_unpacked(&op->base, NULL);
  T->destroy(t);
  CHECK(emu_stop(&emu) == 0);
}

/* Service errors with their details; local refusals send nothing. */
static void group_errors(void) {
  start_emulator((const char *const[]){"--token", "s3cret", NULL});
  eei_transport *t = new_transport();
  ee_status st;
  CHECK(!call_json(t, GET, "{\"name\":\"projects/p1/operations/NOSUCH\"}", &st));
  CHECK_CODE(st, EE_NOT_FOUND);
  CHECK(strcmp(st.reason, "NOT_FOUND") == 0);
  CHECK(strstr(st.message, "projects/p1/operations/NOSUCH") != NULL);

  /* The service's validation: the field's JSON path leads the message. */
  CHECK(!call_json(t, EXPORT, "{\"project\":\"projects/p1\"}", &st));
  CHECK_CODE(st, EE_INVALID_ARGUMENT);
  CHECK(strcmp(st.reason, "INVALID_ARGUMENT") == 0);
  CHECK(strstr(st.message, "expression") != NULL);

  /* A path value the route refuses: INVALID_ARGUMENT naming the field, nothing built. */
  ProtobufCMessage *req = from_json(route(EXPORT)->request, EXPORT_JSON("p1/x", ""));
  eei_prepared *p = (eei_prepared *)1;
  CHECK(T->prepare(t, route(EXPORT), req, &p, &st) == EE_INVALID_ARGUMENT);
  CHECK(p == NULL);
  CHECK(strstr(st.message, "project") != NULL);
  /* A request of the wrong type. */
  CHECK(T->prepare(t, route(GET), req, &p, &st) == EE_INVALID_ARGUMENT);
  protobuf_c_message_free_unpacked(req, NULL);

  /* Wrong token: UNAUTHENTICATED with the service's reason. */
  req = from_json(route(GET)->request, "{\"name\":\"projects/p1/operations/x\"}");
  CHECK(T->prepare(t, route(GET), req, &p, &st) == EE_OK);
  waiter w;
  waiter_init(&w);
  const eei_header bad[] = {{"authorization", "Bearer wrong", true}};
  CHECK(T->start(t, p, bad, 1, 0, on_done, &w, NULL, &st) == EE_OK);
  waiter_wait(&w);
  CHECK_CODE(w.st, EE_UNAUTHENTICATED);
  CHECK(strcmp(w.st.reason, "ACCESS_TOKEN_INVALID") == 0);
  waiter_destroy(&w);
  /* An illegal header is refused by start (done never runs). */
  const eei_header ugly[] = {{"Bad Name", "v", false}};
  CHECK(T->start(t, p, ugly, 1, 0, on_done, &w, NULL, &st) == EE_INVALID_ARGUMENT);
  CHECK(strstr(st.message, "Bad Name") != NULL);
  const eei_header ctl[] = {{"x-ok", "line\nbreak", false}};
  CHECK(T->start(t, p, ctl, 1, 0, on_done, &w, NULL, &st) == EE_INVALID_ARGUMENT);
  CHECK(strstr(st.message, "x-ok") != NULL && strstr(st.message, "value") != NULL);
  T->prepared_free(p);
  protobuf_c_message_free_unpacked(req, NULL);

  /* prepare_bytes: the bytes as given, request params from the caller. */
  req = from_json(route(EXPORT)->request, EXPORT_JSON("projects/p2", ""));
  size_t len = protobuf_c_message_get_packed_size(req);
  uint8_t *bytes = malloc(len);
  protobuf_c_message_pack(req, bytes);
  CHECK(T->prepare_bytes(t, route(EXPORT), bytes, len, "project=projects%2Fp2", &p, &st) == EE_OK);
  waiter_init(&w);
  CHECK(T->start(t, p, headers, N_HEADERS, in_ms(30000), on_done, &w, NULL, &st) == EE_OK);
  waiter_wait(&w);
  CHECK_CODE(w.st, EE_OK);
  CHECK(strncmp(((Google__Longrunning__Operation *)w.resp)->name, "projects/p2/", 12) == 0);
  waiter_destroy(&w);
  T->prepared_free(p);
  /* Bytes that are not the request: the service says so. */
  CHECK(T->prepare_bytes(t, route(EXPORT), (const uint8_t *)"\xff\xff", 2, NULL, &p, &st) == EE_OK);
  waiter_init(&w);
  CHECK(T->start(t, p, headers, N_HEADERS, 0, on_done, &w, NULL, &st) == EE_OK);
  waiter_wait(&w);
  CHECK_CODE(w.st, EE_INVALID_ARGUMENT);
  waiter_destroy(&w);
  T->prepared_free(p);
  free(bytes);
  protobuf_c_message_free_unpacked(req, NULL);
  T->destroy(t);
  CHECK(emu_stop(&emu) == 0);
}

/* --fail-rate 1.0: UNAVAILABLE from the service, which did receive the call. */
static void group_faults(void) {
  start_emulator((const char *const[]){"--fail-rate", "1.0", NULL});
  eei_transport *t = new_transport();
  ee_status st;
  ProtobufCMessage *req = from_json(route(EXPORT)->request, EXPORT_JSON("projects/p1", ""));
  waiter w;
  run(t, EXPORT, req, in_ms(30000), &w);
  CHECK_CODE(w.st, EE_UNAVAILABLE);
  CHECK(strcmp(w.st.reason, "FAULT_INJECTED") == 0);
  CHECK(w.sent);
  waiter_destroy(&w);
  CHECK(!call_json(t, LIST, "{\"name\":\"projects/p1\"}", &st));
  CHECK_CODE(st, EE_UNAVAILABLE);
  protobuf_c_message_free_unpacked(req, NULL);
  T->destroy(t);
  CHECK(emu_stop(&emu) == 0);
}

/* Nothing listens: UNAVAILABLE, and the request certainly was not sent. */
static void group_refused(void) {
  start_emulator(NULL);
  int port = emu.grpc_port;
  CHECK(emu_stop(&emu) == 0); /* the port is now closed */
  eei_transport *t = new_transport_cfg(port, 0, 0);
  ProtobufCMessage *req = from_json(route(EXPORT)->request, EXPORT_JSON("projects/p1", ""));
  for (int i = 0; i < 2; i++) { /* the first connect, then the channel in backoff */
    waiter w;
    run(t, EXPORT, req, in_ms(30000), &w);
    CHECK_CODE(w.st, EE_UNAVAILABLE);
    if (w.sent) fail(__FILE__, __LINE__, "sent=true for: %s", w.st.message);
    waiter_destroy(&w);
  }
  protobuf_c_message_free_unpacked(req, NULL);
  T->destroy(t);
}

/* A deadline shorter than the service's latency, and one already past. */
static void group_deadline(void) {
  start_emulator((const char *const[]){"--latency-ms", "5000", NULL});
  eei_transport *t = new_transport();
  ProtobufCMessage *req = from_json(route(EXPORT)->request, EXPORT_JSON("projects/p1", ""));
  waiter w;
  int64_t t0 = eei_now_ms();
  run(t, EXPORT, req, in_ms(200), &w);
  CHECK_CODE(w.st, EE_DEADLINE_EXCEEDED);
  CHECK(eei_now_ms() - t0 >= 190); /* not before the deadline (grpc rounds to ms) */
  waiter_destroy(&w);
  run(t, EXPORT, req, eei_now_ms() - 1000, &w);
  CHECK_CODE(w.st, EE_DEADLINE_EXCEEDED);
  waiter_destroy(&w);
  protobuf_c_message_free_unpacked(req, NULL);
  T->destroy(t);
  CHECK(emu_stop(&emu) == 0);
}

/* cancel while the call waits for the (slow) service: done runs once, CANCELLED. */
static void group_cancel(void) {
  start_emulator((const char *const[]){"--latency-ms", "5000", NULL});
  eei_transport *t = new_transport();
  ProtobufCMessage *req = from_json(route(EXPORT)->request, EXPORT_JSON("projects/p1", ""));
  eei_prepared *p;
  ee_status st;
  CHECK(T->prepare(t, route(EXPORT), req, &p, &st) == EE_OK);
  for (int round = 0; round < 2; round++) {
    waiter w;
    waiter_init(&w);
    eei_attempt *a = NULL;
    int64_t t0 = eei_now_ms();
    CHECK(T->start(t, p, headers, N_HEADERS, 0, on_done, &w, &a, &st) == EE_OK);
    CHECK(a != NULL);
    /* Round 0 cancels at once; round 1 once the call surely is on the wire. */
    if (round == 1) {
      struct timespec ts = {0, 100 * 1000000};
      nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&w.mu); /* as the client core does: cancel only before done ran */
    if (!w.calls) T->cancel(t, a);
    pthread_mutex_unlock(&w.mu);
    waiter_wait(&w);
    CHECK_CODE(w.st, EE_CANCELLED);
    CHECK(eei_now_ms() - t0 < 5000); /* ended by the cancel, not by the answer */
    CHECK(w.calls == 1);
    waiter_destroy(&w);
  }
  T->prepared_free(p);
  protobuf_c_message_free_unpacked(req, NULL);
  T->destroy(t);
  CHECK(emu_stop(&emu) == 0);
}

/* max_response_bytes (exactly the size passes, one less is OUT_OF_RANGE) and max_depth. */
static void group_limits(void) {
  start_emulator(NULL);
  eei_transport *big = new_transport(); /* generous limits, alive throughout */
  Google__Longrunning__Operation *op = export_one(big, EXPORT_JSON("projects/p1", ""));
  char json[512];
  snprintf(json, sizeof json, "{\"name\":\"%s\"}", op->name);
  /* The operation's size now, then exactly that limit and one less. The emulator's answer
   * changes as the task runs, so retry until two answers agree. */
  ee_status st;
  eei_transport *t;
  for (int tries = 0;; tries++) {
    CHECK(tries < 20);
    ProtobufCMessage *m = call_json(big, GET, json, &st);
    CHECK_CODE(st, EE_OK);
    size_t size = protobuf_c_message_get_packed_size(m);
    protobuf_c_message_free_unpacked(m, NULL);
    t = new_transport_cfg(emu.grpc_port, size, 0);
    m = call_json(t, GET, json, &st);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    T->destroy(t);
    if (st.code != EE_OK) continue; /* the operation grew in between */
    t = new_transport_cfg(emu.grpc_port, size - 1, 0);
    m = call_json(t, GET, json, &st);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    T->destroy(t);
    if (st.code == EE_OUT_OF_RANGE) break;
    CHECK_CODE(st, EE_OK); /* it shrank: try again */
  }
  CHECK(strstr(st.message, "max_response_bytes") != NULL);
  /* A list far over a small limit: grpc's own limit stops it, reported the same way. */
  for (int i = 0; i < 30; i++) {
    Google__Longrunning__Operation *o = export_one(big, EXPORT_JSON("projects/p1", ""));
    protobuf_c_message_free_unpacked(&o->base, NULL);
  }
  t = new_transport_cfg(emu.grpc_port, 1000, 0);
  CHECK(!call_json(t, LIST, "{\"name\":\"projects/p1\"}", &st));
  CHECK_CODE(st, EE_OUT_OF_RANGE);
  CHECK(strstr(st.message, "max_response_bytes") != NULL);
  T->destroy(t);
  /* Depth: an Operation's metadata (an Any) is at depth 2. */
  t = new_transport_cfg(emu.grpc_port, 0, 1);
  CHECK(!call_json(t, GET, json, &st));
  CHECK_CODE(st, EE_INTERNAL);
  CHECK(strstr(st.message, "not a valid google.longrunning.Operation") != NULL);
  T->destroy(t);
  protobuf_c_message_free_unpacked(&op->base, NULL);
  T->destroy(big);
  CHECK(emu_stop(&emu) == 0);
}

/* The dry-run description: method, metadata with secrets redacted, message as JSON. */
static void group_describe(void) {
  start_emulator(NULL);
  eei_transport *t = new_transport();
  ProtobufCMessage *req =
      from_json(route(EXPORT)->request, EXPORT_JSON("projects/p1", "\"requestId\":\"r-1\","));
  eei_prepared *p;
  ee_status st;
  CHECK(T->prepare(t, route(EXPORT), req, &p, &st) == EE_OK);
  ee_buf out = EE_BUF_INIT;
  CHECK(T->describe(p, headers, N_HEADERS, &out, &st) == EE_OK);
  char *msg = to_json(req);
  char want[4096];
  snprintf(want, sizeof want,
           "{\"transport\":\"grpc\",\"method\":\"" EXPORT
           "\",\"metadata\":{"
           "\"authorization\":\"REDACTED\",\"x-goog-api-client\":\"gl-c/11 ee-c/0.1.0\","
           "\"x-goog-user-project\":\"quota-proj\",\"user-agent\":\"eetest/1.0 ee-c/0.1.0\","
           "\"x-goog-request-params\":\"project=projects%%2Fp1\"},\"message\":%s}",
           msg);
  if (strcmp(out.data, want) != 0)
    fail(__FILE__, __LINE__, "describe:\n got %s\nwant %s", out.data, want);
  CHECK(!strstr(out.data, "s3cret"));
  /* prepare_bytes describes the same call: the bytes decoded, the caller's params. */
  size_t len = protobuf_c_message_get_packed_size(req);
  uint8_t *bytes = malloc(len);
  protobuf_c_message_pack(req, bytes);
  eei_prepared *pb;
  CHECK(T->prepare_bytes(t, route(EXPORT), bytes, len, "project=projects%2Fp1", &pb, &st) == EE_OK);
  free(bytes);
  ee_buf_reset(&out);
  CHECK(T->describe(pb, headers, N_HEADERS, &out, &st) == EE_OK);
  CHECK(strcmp(out.data, want) == 0);
  T->prepared_free(pb);
  /* Bytes that are no request cannot be described. */
  CHECK(T->prepare_bytes(t, route(EXPORT), (const uint8_t *)"\xff", 1, NULL, &pb, &st) == EE_OK);
  CHECK(T->describe(pb, headers, N_HEADERS, &out, &st) == EE_INVALID_ARGUMENT);
  T->prepared_free(pb);
  const char *method = NULL;
  char target[128];
  snprintf(target, sizeof target, "%s:%d" EXPORT, emu.grpc_host, emu.grpc_port);
  CHECK(strcmp(T->target(p, &method), target) == 0);
  CHECK(strcmp(method, "POST") == 0);
  free(msg);
  ee_buf_free(&out);
  T->prepared_free(p);
  protobuf_c_message_free_unpacked(req, NULL);
  T->destroy(t);
  CHECK(emu_stop(&emu) == 0);
}

/* 16 threads x 500 attempts on one transport: every one OK, done once each. */
#define THREADS 16
#define PER_THREAD 500

typedef struct worker_arg {
  eei_transport *t;
  eei_prepared *p;
  int ok;
} worker_arg;

static void *worker(void *arg) {
  worker_arg *wa = arg;
  for (int i = 0; i < PER_THREAD; i++) {
    waiter w;
    waiter_init(&w);
    ee_status st;
    if (T->start(wa->t, wa->p, headers, N_HEADERS, in_ms(60000), on_done, &w, NULL, &st) != EE_OK) {
      fprintf(stderr, "start: %s\n", st.message);
      waiter_destroy(&w);
      continue;
    }
    waiter_wait(&w);
    if (w.calls == 1 && w.st.code == EE_OK && w.resp)
      wa->ok++;
    else
      fprintf(stderr, "attempt: %s: %s\n", ee_code_name(w.st.code), w.st.message);
    waiter_destroy(&w);
  }
  return NULL;
}

static void group_concurrency(void) {
  start_emulator((const char *const[]){"--max-queued", "100000", NULL});
  eei_transport *t = new_transport();
  ProtobufCMessage *req = from_json(route(EXPORT)->request, EXPORT_JSON("projects/p1", ""));
  pthread_t th[THREADS];
  worker_arg args[THREADS];
  ee_status st;
  for (int i = 0; i < THREADS; i++) { /* one prepared call per thread (one call each) */
    args[i].t = t;
    args[i].ok = 0;
    CHECK(T->prepare(t, route(EXPORT), req, &args[i].p, &st) == EE_OK);
    CHECK(pthread_create(&th[i], NULL, worker, &args[i]) == 0);
  }
  int ok = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    ok += args[i].ok;
    T->prepared_free(args[i].p);
  }
  if (ok != THREADS * PER_THREAD) fail(__FILE__, __LINE__, "%d of %d OK", ok, THREADS * PER_THREAD);
  /* The service holds exactly that many operations. */
  Google__Longrunning__ListOperationsResponse *list =
      (Google__Longrunning__ListOperationsResponse *)call_json(
          t, LIST, "{\"name\":\"projects/p1\",\"pageSize\":1000}", &st);
  CHECK_CODE(st, EE_OK);
  CHECK(list->n_operations == 1000 && list->next_page_token[0]);
  protobuf_c_message_free_unpacked(&list->base, NULL);
  protobuf_c_message_free_unpacked(req, NULL);
  T->destroy(t);
  CHECK(emu_stop(&emu) == 0);
}

/* destroy with calls in flight: each done runs once (CANCELLED), then destroy returns. */
#define IN_FLIGHT 64

typedef struct counter {
  pthread_mutex_t mu;
  int calls, cancelled;
} counter;

static void count_done(void *user, eei_attempt_result *res) {
  counter *c = user;
  pthread_mutex_lock(&c->mu);
  c->calls++;
  if (res->status.code == EE_CANCELLED) c->cancelled++;
  pthread_mutex_unlock(&c->mu);
}

static void group_destroy(void) {
  start_emulator((const char *const[]){"--latency-ms", "5000", NULL});
  eei_transport *t = new_transport();
  ProtobufCMessage *req = from_json(route(EXPORT)->request, EXPORT_JSON("projects/p1", ""));
  eei_prepared *p;
  ee_status st;
  CHECK(T->prepare(t, route(EXPORT), req, &p, &st) == EE_OK);
  counter c = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
  for (int i = 0; i < IN_FLIGHT; i++)
    CHECK(T->start(t, p, headers, N_HEADERS, 0, count_done, &c, NULL, &st) == EE_OK);
  int64_t t0 = eei_now_ms();
  T->destroy(t);
  CHECK(eei_now_ms() - t0 < 5000); /* by cancelling, not by waiting for the answers */
  CHECK(c.calls == IN_FLIGHT && c.cancelled == IN_FLIGHT);
  T->prepared_free(p);
  protobuf_c_message_free_unpacked(req, NULL);
  CHECK(emu_stop(&emu) == 0);
}

/* Against a server we did not write (peer_grpc.py, Python grpcio): one export and two
 * failing Gets, printed for the script to compare with what it received and sent. With a
 * CA file the server speaks TLS; then a transport trusting only the system's roots must
 * fail the handshake, with the request certainly not sent. */
static void group_peer(int port, const char *ca_file) {
  snprintf(emu.grpc_host, sizeof emu.grpc_host, "127.0.0.1");
  tls_ca_file = ca_file;
  eei_transport *t = new_transport_cfg(port, 0, 0);
  ee_status st;
  Google__Longrunning__Operation *op =
      export_one(t, EXPORT_JSON("projects/p1", "\"requestId\":\"r-1\",\"priority\":7,"));
  printf("export %s\n", op->name);
  protobuf_c_message_free_unpacked(&op->base, NULL);
  CHECK(!call_json(t, GET, "{\"name\":\"projects/p1/operations/missing\"}", &st));
  printf("error %s|%s|%s|%s|%lld\n", ee_code_name(st.code), st.message, st.reason, st.domain,
         (long long)st.retry_delay_ms);
  size_t pos = 0;
  const char *k, *v;
  while (ee_status_metadata_next(&st, &pos, &k, &v)) printf("meta %s=%s\n", k, v);
  /* A status without details: grpc's message as it came. */
  CHECK(!call_json(t, GET, "{\"name\":\"projects/p1/operations/plain\"}", &st));
  printf("plain %s|%s|%s\n", ee_code_name(st.code), st.message, st.reason);
  T->destroy(t);
  if (!ca_file) return;
  tls_ca_file = ""; /* the system's roots do not know the test's CA */
  t = new_transport_cfg(port, 0, 0);
  ProtobufCMessage *req = from_json(route(EXPORT)->request, EXPORT_JSON("projects/p1", ""));
  waiter w;
  run(t, EXPORT, req, in_ms(30000), &w);
  printf("untrusted %s sent=%d\n", ee_code_name(w.st.code), w.sent);
  if (w.sent) fprintf(stderr, "untrusted: %s\n", w.st.message);
  waiter_destroy(&w);
  protobuf_c_message_free_unpacked(req, NULL);
  T->destroy(t);
}

static const struct {
  const char *name;
  void (*fn)(void);
} groups[] = {
    {"rpcs", group_rpcs},       {"errors", group_errors},     {"faults", group_faults},
    {"refused", group_refused}, {"deadline", group_deadline}, {"cancel", group_cancel},
    {"limits", group_limits},   {"describe", group_describe}, {"concurrency", group_concurrency},
    {"destroy", group_destroy},
};

int main(int argc, char **argv) {
  if (argc != 3 && !(argc == 4 && strcmp(argv[2], "peer") == 0)) {
    fprintf(stderr, "usage: %s EMULATOR GROUP\n", argv[0]);
    return 2;
  }
  emulator_path = argv[1];
  if (strcmp(argv[2], "peer") == 0) { /* argv[1] is the peer's port, argv[3] its CA */
    group_peer(atoi(argv[1]), argc > 3 ? argv[3] : NULL);
    return 0;
  }
  for (size_t i = 0; i < sizeof groups / sizeof *groups; i++) {
    if (strcmp(argv[2], groups[i].name) != 0) continue;
    groups[i].fn();
    printf("ok %s\n", argv[2]);
    return 0;
  }
  fprintf(stderr, "unknown group %s\n", argv[2]);
  return 2;
}
