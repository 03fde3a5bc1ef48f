/* The async API against ee-emulator, over one transport per run:
 *
 *   test_async rest|grpc SCENARIO
 *
 *   parity     each RPC started async gives what the blocking call gives (responses
 *              compared as proto3 JSON, errors by code, message and ErrorInfo)
 *   many       1,000 concurrent ExportImage calls started from one thread all complete,
 *              with 1,000 distinct operations
 *   cancel     cancel right after the start and while the service is still answering:
 *              CANCELLED, long before the service's answer would have come
 *   deadline   a call whose timeout is shorter than the service's latency ends
 *              DEADLINE_EXCEEDED, on time
 *   free_busy  ee_client_free with calls in flight: every callback has run (CANCELLED)
 *              when it returns, and none runs after
 *   pages      ee_client_list_all_async sees every operation the blocking iterator sees,
 *              page by page, and stops when on_page says so
 *   own_queue  (grpc) the client on a completion queue and channel of the test's own:
 *              callbacks run on the test's polling thread, also for a call cancelled
 *              while it waits out a retry backoff (which the timer thread ends), and
 *              ee_client_free returns while the test keeps polling
 *   handles    a handle outlives its call: cancel after the end is a no-op, release from
 *              another thread while the callback runs is safe (run it under ASan/TSan)
 *
 * Two emulators: `fast` (answers at once; tasks last an hour, so operations do not change
 * between the calls compared) and `lagged` (every call delayed LAG_MS). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "check.h"
#include "emu_proc.h"
#include "export_fixture.h"
#include "ee/client.h"
#include "ee/json.h"

#define LAG_MS 2000
#define MANY 1000

static const char *transport_name;

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}
static emu_proc fast, lagged;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ee_client *client_for(const emu_proc *e) {
  ee_client_options o;
  ee_client *c = NULL;
  ee_status st;
  ee_client_options_init(&o);
  ee_transport_from_name(transport_name, &o.transport);
  o.endpoint = o.transport == EE_TRANSPORT_REST ? e->rest_url : e->grpc_url;
  o.project = "projects/async";
  o.retry.max_attempts = 1; /* every outcome is the service's first answer */
  if (ee_client_new(&o, &c, &st) != EE_OK) {
    fprintf(stderr, "ee_client_new: %s\n", st.message);
    exit(1);
  }
  return c;
}

/* ---- one result, delivered by a callback; waited for by the test thread ---- */

typedef struct result {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int calls; /* callbacks that ran: must end at exactly 1 */
  ee_status st;
  char json[8192];
  int64_t at_ms; /* when the callback ran */
} result;

static void result_init(result *r) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
}

static void result_destroy(result *r) {
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
}

static void to_json(const ProtobufCMessage *m, char *out, size_t cap) {
  ee_buf b = EE_BUF_INIT;
  ee_status st;
  out[0] = '\0';
  if (m && ee_json_encode(m, NULL, &b, &st) == EE_OK) snprintf(out, cap, "%s", b.data);
  ee_buf_free(&b);
}

static void record(result *r, const ProtobufCMessage *resp, const ee_status *st) {
  pthread_mutex_lock(&r->mu);
  r->calls++;
  r->st = *st;
  r->at_ms = now_ms();
  to_json(resp, r->json, sizeof r->json);
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static void on_message(void *user, ProtobufCMessage *resp, const ee_status *st) {
  record(user, resp, st);
  ee_message_free(resp);
}

static void on_operation(void *user, Google__Longrunning__Operation *op, const ee_status *st) {
  record(user, op ? &op->base : NULL, st);
  ee_message_free(op);
}

static void on_list(void *user, Google__Longrunning__ListOperationsResponse *resp,
                    const ee_status *st) {
  record(user, resp ? &resp->base : NULL, st);
  ee_message_free(resp);
}

static void on_empty(void *user, const ee_status *st) {
  record(user, NULL, st);
}

/* Waits up to 30 s for the callback; returns whether it ran. */
static bool await(result *r) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 30;
  pthread_mutex_lock(&r->mu);
  while (r->calls == 0)
    if (pthread_cond_timedwait(&r->cv, &r->mu, &until) != 0) break;
  bool ran = r->calls > 0;
  pthread_mutex_unlock(&r->mu);
  return ran;
}

/* The blocking call's outcome in the same form. */
static void take_blocking(result *r, ee_code rc, const ProtobufCMessage *resp,
                          const ee_status *st) {
  r->calls = 1;
  r->st = *st;
  r->st.code = rc;
  to_json(rc == EE_OK ? resp : NULL, r->json, sizeof r->json);
}

static bool same_status(const ee_status *a, const ee_status *b) {
  return a->code == b->code && strcmp(a->message, b->message) == 0 &&
         strcmp(a->reason, b->reason) == 0 && strcmp(a->domain, b->domain) == 0 &&
         a->metadata_len == b->metadata_len &&
         memcmp(a->metadata, b->metadata, a->metadata_len) == 0;
}

/* The emulator's progress moves with the clock; everything else of an operation that
 * lasts an hour stays put between two calls. */
static void drop_progress(char *json) {
  char *p;
  while ((p = strstr(json, "\"progress\":"))) {
    char *end = p + strlen("\"progress\":");
    end += strspn(end, "0123456789.eE+-");
    if (*end == ',') end++;
    memmove(p, end, strlen(end) + 1);
  }
}

static void compare(const char *what, result *async, result *blocking) {
  drop_progress(async->json);
  drop_progress(blocking->json);
  CHECK(async->calls == 1, "%s: the callback ran %d times", what, async->calls);
  CHECK(same_status(&async->st, &blocking->st), "%s: async %s \"%s\", blocking %s \"%s\"", what,
        ee_code_name(async->st.code), async->st.message, ee_code_name(blocking->st.code),
        blocking->st.message);
  CHECK(strcmp(async->json, blocking->json) == 0,
        "%s: responses differ\n async:    %s\n blocking: %s", what, async->json, blocking->json);
  printf("  %-34s %s\n", what, ee_code_name(async->st.code));
}

/* ---- parity ---- */

static void export_req(export_fixture *e, const char *request_id) {
  export_fixture_init(e, "projects/async", "async");
  e->req.request_id = (char *)request_id;
}

/* The operation name in an Operation's JSON. */
static void op_name(const char *json, char *out, size_t cap) {
  const char *p = strstr(json, "\"name\":\"");
  out[0] = '\0';
  if (!p) return;
  p += 8;
  size_t n = strcspn(p, "\"");
  snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

static void parity_export(ee_client *c, const char *id, char *name, size_t cap) {
  export_fixture e;
  result a, b;
  ee_status st;
  Google__Longrunning__Operation *op = NULL;
  result_init(&a);
  result_init(&b);
  export_req(&e, id);
  CHECK(ee_client_export_image_async(c, &e.req, NULL, on_operation, &a, NULL, &st) == EE_OK,
        "export start: %s", st.message);
  await(&a);
  /* The same requestId again, blocking: the service's answer for the same export. */
  ee_code rc = ee_client_export_image(c, &e.req, NULL, &op, &st);
  take_blocking(&b, rc, op ? &op->base : NULL, &st);
  ee_message_free(op);
  /* The first answer saw the task PENDING, the second may see it started: the same
   * operation is what a repeated requestId must give. */
  char again[256];
  op_name(a.json, name, cap);
  op_name(b.json, again, sizeof again);
  CHECK(a.calls == 1 && a.st.code == EE_OK && b.st.code == EE_OK, "export: %s / %s", a.st.message,
        b.st.message);
  CHECK(name[0] && strcmp(name, again) == 0, "export: async %s, blocking again %s", name, again);
  printf("  %-34s %s\n", "ExportImage (same requestId)", name[0] ? "same operation" : "none");
  result_destroy(&a);
  result_destroy(&b);
}

static void parity_get(ee_client *c, const char *name, const char *what) {
  Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  Google__Longrunning__Operation *op = NULL;
  result a, b;
  ee_status st;
  result_init(&a);
  result_init(&b);
  req.name = (char *)name;
  CHECK(ee_client_get_operation_async(c, &req, NULL, on_operation, &a, NULL, &st) == EE_OK,
        "get start: %s", st.message);
  await(&a);
  ee_code rc = ee_client_get_operation(c, &req, NULL, &op, &st);
  take_blocking(&b, rc, op ? &op->base : NULL, &st);
  ee_message_free(op);
  compare(what, &a, &b);
  result_destroy(&a);
  result_destroy(&b);
}

static void parity_list(ee_client *c) {
  Google__Longrunning__ListOperationsRequest req =
      GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
  Google__Longrunning__ListOperationsResponse *resp = NULL;
  result a, b;
  ee_status st;
  result_init(&a);
  result_init(&b);
  req.page_size = 2;
  CHECK(ee_client_list_operations_async(c, &req, NULL, on_list, &a, NULL, &st) == EE_OK,
        "list start: %s", st.message);
  await(&a);
  ee_code rc = ee_client_list_operations(c, &req, NULL, &resp, &st);
  take_blocking(&b, rc, resp ? &resp->base : NULL, &st);
  ee_message_free(resp);
  compare("ListOperations (page of 2)", &a, &b);
  result_destroy(&a);
  result_destroy(&b);
}

static void parity_wait(ee_client *c, const char *name) {
  Google__Longrunning__WaitOperationRequest req = GOOGLE__LONGRUNNING__WAIT_OPERATION_REQUEST__INIT;
  Google__Protobuf__Duration timeout = GOOGLE__PROTOBUF__DURATION__INIT;
  Google__Longrunning__Operation *op = NULL;
  result a, b;
  ee_status st;
  result_init(&a);
  result_init(&b);
  timeout.nanos = 50000000; /* the task lasts an hour: the wait ends at its timeout */
  req.name = (char *)name;
  req.timeout = &timeout;
  CHECK(ee_client_wait_operation_async(c, &req, NULL, on_operation, &a, NULL, &st) == EE_OK,
        "wait start: %s", st.message);
  await(&a);
  ee_code rc = ee_client_wait_operation(c, &req, NULL, &op, &st);
  take_blocking(&b, rc, op ? &op->base : NULL, &st);
  ee_message_free(op);
  compare("WaitOperation (50 ms)", &a, &b);
  result_destroy(&a);
  result_destroy(&b);
}

/* Cancel (or Delete) async, then the blocking one on the same operation: both OK (the
 * service answers a second cancel the same way); afterwards Get shows the effect. */
static void parity_cancel_delete(ee_client *c, const char *name, bool delete) {
  result a, b;
  ee_status st;
  ee_code rc;
  result_init(&a);
  result_init(&b);
  if (delete) {
    Google__Longrunning__DeleteOperationRequest req =
        GOOGLE__LONGRUNNING__DELETE_OPERATION_REQUEST__INIT;
    req.name = (char *)name;
    CHECK(ee_client_delete_operation_async(c, &req, NULL, on_empty, &a, NULL, &st) == EE_OK,
          "delete start: %s", st.message);
    await(&a);
    rc = ee_client_delete_operation(c, &req, NULL, &st);
  } else {
    Google__Longrunning__CancelOperationRequest req =
        GOOGLE__LONGRUNNING__CANCEL_OPERATION_REQUEST__INIT;
    req.name = (char *)name;
    CHECK(ee_client_cancel_operation_async(c, &req, NULL, on_empty, &a, NULL, &st) == EE_OK,
          "cancel start: %s", st.message);
    await(&a);
    rc = ee_client_cancel_operation(c, &req, NULL, &st);
  }
  take_blocking(&b, rc, NULL, &st);
  CHECK(a.st.code == EE_OK, "%s: %s", delete ? "delete" : "cancel", a.st.message);
  /* A second delete may be NOT_FOUND; compare only what a repeat must keep. */
  if (!delete) compare("CancelOperation (twice)", &a, &b);
  result_destroy(&a);
  result_destroy(&b);
  parity_get(c, name, delete ? "GetOperation after delete" : "GetOperation after cancel");
}

/* The generic and bytes forms: the same answer as the typed one. */
static void parity_generic(ee_client *c, const char *name) {
  Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  result a, b;
  ee_status st;
  uint8_t bytes[512];
  result_init(&a);
  result_init(&b);
  req.name = (char *)name;
  size_t len = protobuf_c_message_pack(&req.base, bytes);
  CHECK(ee_client_call_async(c, "/google.longrunning.Operations/GetOperation", &req.base, NULL,
                             on_message, &a, NULL, &st) == EE_OK,
        "call_async: %s", st.message);
  CHECK(ee_client_call_bytes_async(c, "/google.longrunning.Operations/GetOperation", bytes, len,
                                   NULL, on_message, &b, NULL, &st) == EE_OK,
        "call_bytes_async: %s", st.message);
  await(&a);
  await(&b);
  compare("GetOperation generic vs bytes", &a, &b);
  /* Bad bytes and a bad request are refused at the start, naming what is wrong. */
  static const uint8_t junk[] = {0x0a, 0x7f, 'x'};
  CHECK(ee_client_call_bytes_async(c, "/google.longrunning.Operations/GetOperation", junk,
                                   sizeof junk, NULL, on_message, &b, NULL,
                                   &st) == EE_INVALID_ARGUMENT &&
            strstr(st.message, "GetOperationRequest"),
        "junk bytes: %s", st.message);
  req.name = "not-an-operation-name";
  ee_status_clear(&st);
  result_init(&b);
  ee_code rc = ee_client_get_operation_async(c, &req, NULL, on_operation, &b, NULL, &st);
  CHECK(rc == EE_INVALID_ARGUMENT && strstr(st.message, "name"),
        "bad name refused before sending: %s %s", ee_code_name(rc), st.message);
  if (rc == EE_OK) await(&b);
  CHECK(ee_client_call_async(c, "/nope.Service/Nope", &req.base, NULL, on_message, &b, NULL, &st) ==
            EE_UNIMPLEMENTED,
        "unknown rpc: %s", st.message);
  result_destroy(&a);
  result_destroy(&b);
}

static void scenario_parity(void) {
  ee_client *c = client_for(&fast);
  char a[256], b[256], d[256], id[64];
  snprintf(id, sizeof id, "async-parity-%s-a", transport_name);
  parity_export(c, id, a, sizeof a);
  snprintf(id, sizeof id, "async-parity-%s-b", transport_name);
  parity_export(c, id, b, sizeof b);
  snprintf(id, sizeof id, "async-parity-%s-d", transport_name);
  parity_export(c, id, d, sizeof d);
  parity_get(c, a, "GetOperation");
  parity_get(c, "projects/async/operations/missing", "GetOperation (missing)");
  parity_list(c);
  parity_wait(c, a);
  parity_cancel_delete(c, b, false);
  parity_cancel_delete(c, d, true);
  parity_generic(c, a);
  ee_client_free(c);
}

/* ---- many at once ---- */

typedef struct tally {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done, ok;
  char first_error[256];
  char (*names)[96];
} tally;

static void on_many(void *user, Google__Longrunning__Operation *op, const ee_status *st) {
  tally *t = user;
  pthread_mutex_lock(&t->mu);
  if (st->code == EE_OK && op && op->name)
    snprintf(t->names[t->ok++], 96, "%s", op->name);
  else if (!t->first_error[0])
    snprintf(t->first_error, sizeof t->first_error, "%s: %.200s", ee_code_name(st->code),
             st->message);
  t->done++;
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
  ee_message_free(op);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(a, b);
}

static void scenario_many(void) {
  ee_client *c = client_for(&fast);
  tally t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, "", NULL};
  t.names = calloc(MANY, sizeof *t.names);
  export_fixture e;
  ee_status st;
  int started = 0;
  export_req(&e, NULL); /* the client gives each its own requestId */
  for (int i = 0; i < MANY; i++)
    if (ee_client_export_image_async(c, &e.req, NULL, on_many, &t, NULL, &st) == EE_OK)
      started++;
    else
      CHECK(0, "start %d: %s", i, st.message);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 60;
  pthread_mutex_lock(&t.mu);
  while (t.done < started)
    if (pthread_cond_timedwait(&t.cv, &t.mu, &until) != 0) break;
  pthread_mutex_unlock(&t.mu);
  CHECK(started == MANY && t.done == MANY && t.ok == MANY, "%d started, %d done, %d OK; %s",
        started, t.done, t.ok, t.first_error);
  qsort(t.names, (size_t)t.ok, sizeof *t.names, cmp_names);
  int dups = 0;
  for (int i = 1; i < t.ok; i++) dups += strcmp(t.names[i - 1], t.names[i]) == 0;
  CHECK(dups == 0, "%d duplicate operations among %d", dups, t.ok);
  printf("  %d concurrent exports from one thread: %d OK, %d distinct\n", MANY, t.ok, t.ok - dups);
  free(t.names);
  ee_client_free(c);
}

/* ---- cancel and deadlines (the lagged emulator answers after LAG_MS) ---- */

static void get_lagged(ee_client *c, const ee_call_options *co, result *r, ee_call **call) {
  Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  ee_status st;
  req.name = "projects/async/operations/any";
  CHECK(ee_client_get_operation_async(c, &req, co, on_operation, r, call, &st) == EE_OK,
        "start: %s", st.message);
}

static void scenario_cancel(void) {
  ee_client *c = client_for(&lagged);
  for (int during = 0; during < 2; during++) {
    result r;
    ee_call *call = NULL;
    result_init(&r);
    int64_t t0 = now_ms();
    get_lagged(c, NULL, &r, &call);
    if (during) sleep_ms(200);
    ee_call_cancel(call);
    CHECK(await(&r), "the cancelled call ends");
    int64_t took = r.at_ms - t0;
    CHECK(r.calls == 1 && r.st.code == EE_CANCELLED, "cancel %s: %d callbacks, %s %s",
          during ? "during" : "before", r.calls, ee_code_name(r.st.code), r.st.message);
    CHECK(took < LAG_MS / 2, "cancel %s: ended after %lld ms", during ? "during" : "before",
          (long long)took);
    ee_call_cancel(call); /* after the end: a no-op */
    ee_call_release(call);
    printf("  cancel %-6s -> %s after %lld ms\n", during ? "during" : "before",
           ee_code_name(r.st.code), (long long)took);
    result_destroy(&r);
  }
  ee_client_free(c);
}

static void scenario_deadline(void) {
  ee_client *c = client_for(&lagged);
  ee_call_options co = {.timeout_ms = 300};
  result r;
  result_init(&r);
  int64_t t0 = now_ms();
  get_lagged(c, &co, &r, NULL);
  CHECK(await(&r), "the call ends");
  int64_t took = r.at_ms - t0;
  CHECK(r.st.code == EE_DEADLINE_EXCEEDED, "%s %s", ee_code_name(r.st.code), r.st.message);
  CHECK(took >= 250 && took < LAG_MS - 500, "ended after %lld ms (deadline 300)", (long long)took);
  printf("  timeout 300 ms -> %s after %lld ms\n", ee_code_name(r.st.code), (long long)took);
  result_destroy(&r);
  ee_client_free(c);
}

/* ---- freeing a busy client ---- */

static atomic_int after_free; /* callbacks that ran once ee_client_free returned */
static atomic_int free_returned;

static void on_free_busy(void *user, Google__Longrunning__Operation *op, const ee_status *st) {
  atomic_int *cancelled = user;
  if (atomic_load(&free_returned)) atomic_fetch_add(&after_free, 1);
  if (st->code == EE_CANCELLED) atomic_fetch_add(cancelled, 1);
  ee_message_free(op);
}

static void scenario_free_busy(void) {
  ee_client *c = client_for(&lagged);
  atomic_int cancelled = 0;
  int n = 50;
  Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  ee_status st;
  req.name = "projects/async/operations/any";
  for (int i = 0; i < n; i++)
    CHECK(
        ee_client_get_operation_async(c, &req, NULL, on_free_busy, &cancelled, NULL, &st) == EE_OK,
        "start %d: %s", i, st.message);
  sleep_ms(100);
  int64_t t0 = now_ms();
  ee_client_free(c);
  atomic_store(&free_returned, 1);
  int64_t took = now_ms() - t0;
  sleep_ms(300); /* a late callback would show here */
  CHECK(atomic_load(&cancelled) == n, "%d of %d callbacks saw CANCELLED before free returned",
        atomic_load(&cancelled), n);
  CHECK(atomic_load(&after_free) == 0, "%d callbacks ran after ee_client_free",
        atomic_load(&after_free));
  CHECK(took < LAG_MS, "ee_client_free took %lld ms", (long long)took);
  printf("  free with %d in flight: %d cancelled, %d after free, %lld ms\n", n,
         atomic_load(&cancelled), atomic_load(&after_free), (long long)took);
}

/* ---- all pages ---- */

typedef struct pages {
  result end;
  int pages, ops, stop_after; /* stop_after 0: never stop */
  char names[64][96];
} pages;

static bool on_page(void *user, const Google__Longrunning__ListOperationsResponse *page) {
  pages *p = user;
  p->pages++;
  for (size_t i = 0; i < page->n_operations; i++, p->ops++)
    if (p->ops < 64)
      snprintf(p->names[p->ops], sizeof p->names[0], "%s", page->operations[i]->name);
  return p->stop_after == 0 || p->pages < p->stop_after;
}

static void on_pages_end(void *user, const ee_status *st) {
  record(&((pages *)user)->end, NULL, st);
}

static void scenario_pages(void) {
  ee_client *c = client_for(&fast);
  Google__Longrunning__ListOperationsRequest req =
      GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
  ee_status st;
  char name[256], id[64];
  for (int i = 0; i < 7; i++) {
    snprintf(id, sizeof id, "async-pages-%s-%d", transport_name, i);
    parity_export(c, id, name, sizeof name);
  }
  /* The blocking iterator's view, as the oracle. */
  char want[64][96];
  int n_want = 0;
  ee_operation_iter *it = NULL;
  req.page_size = 2;
  CHECK(ee_client_list_all(c, &req, NULL, &it, &st) == EE_OK, "list_all: %s", st.message);
  const Google__Longrunning__Operation *op;
  while (ee_operation_iter_next(it, &op, &st) == EE_OK && op)
    if (n_want < 64) snprintf(want[n_want++], sizeof want[0], "%s", op->name);
  size_t want_pages = ee_operation_iter_pages(it);
  ee_operation_iter_free(it);

  pages *p = calloc(1, sizeof *p);
  result_init(&p->end);
  CHECK(ee_client_list_all_async(c, &req, NULL, on_page, on_pages_end, p, &st) == EE_OK,
        "list_all_async: %s", st.message);
  CHECK(await(&p->end) && p->end.st.code == EE_OK, "listing ends OK: %s", p->end.st.message);
  CHECK(p->ops == n_want && (size_t)p->pages == want_pages,
        "async %d ops in %d pages, blocking %d in %zu", p->ops, p->pages, n_want, want_pages);
  for (int i = 0; i < n_want && i < p->ops; i++)
    CHECK(strcmp(p->names[i], want[i]) == 0, "operation %d: %s vs %s", i, p->names[i], want[i]);
  printf("  list_all_async: %d operations in %d pages (blocking: %d in %zu)\n", p->ops, p->pages,
         n_want, want_pages);
  result_destroy(&p->end);
  memset(p, 0, sizeof *p);

  /* on_page says stop after the second page: done(OK) then, no third page. */
  p->stop_after = 2;
  result_init(&p->end);
  CHECK(ee_client_list_all_async(c, &req, NULL, on_page, on_pages_end, p, &st) == EE_OK,
        "list_all_async: %s", st.message);
  CHECK(await(&p->end) && p->end.st.code == EE_OK && p->pages == 2 && p->end.calls == 1,
        "stopped after %d pages, %d ends: %s", p->pages, p->end.calls, p->end.st.message);
  result_destroy(&p->end);
  free(p);
  ee_client_free(c);
}

/* ---- a caller's own queue and channel ---- */

static grpc_completion_queue *own_cq;
static pthread_t poller;

static void *poll_own_queue(void *arg) {
  (void)arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(own_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) return NULL;
    if (ev.type == GRPC_OP_COMPLETE && ee_client_owns_tag(ev.tag))
      ee_client_grpc_event(ev.tag, ev.success);
    else
      CHECK(0, "an event that is not the client's: %p", ev.tag);
  }
}

typedef struct own_result {
  result r;
  bool on_poller;
} own_result;

static void on_own(void *user, Google__Longrunning__Operation *op, const ee_status *st) {
  own_result *o = user;
  o->on_poller = pthread_equal(pthread_self(), poller) != 0;
  record(&o->r, op ? &op->base : NULL, st);
  ee_message_free(op);
}

static ee_client *own_client(grpc_channel *ch, int backoff_ms) {
  ee_client_options o;
  ee_client *c = NULL;
  ee_status st;
  ee_client_options_init(&o);
  o.transport = EE_TRANSPORT_GRPC;
  o.endpoint = "http://own-channel.example";
  o.project = "projects/async";
  o.grpc_channel = ch;
  o.grpc_cq = own_cq;
  o.retry.max_attempts = 5;
  o.retry.initial_backoff_ms = backoff_ms;
  o.retry.max_backoff_ms = backoff_ms;
  CHECK(ee_client_new(&o, &c, &st) == EE_OK, "client on our queue: %s", st.message);
  return c;
}

static void scenario_own_queue(void) {
  if (strcmp(transport_name, "grpc") != 0) {
    printf("  (gRPC only)\n");
    return;
  }
  emu_proc failing;
  const char *fail_args[] = {"--fail-rate", "1.0", NULL};
  if (emu_start(&failing, emu_path(), fail_args) != 0) exit(1);
  grpc_init();
  own_cq = grpc_completion_queue_create_for_next(NULL);
  pthread_create(&poller, NULL, poll_own_queue, NULL);
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  char target[128];
  snprintf(target, sizeof target, "%s:%d", fast.grpc_host, fast.grpc_port);
  grpc_channel *fast_ch = grpc_channel_create(target, creds, NULL);
  snprintf(target, sizeof target, "%s:%d", failing.grpc_host, failing.grpc_port);
  grpc_channel *failing_ch = grpc_channel_create(target, creds, NULL);

  /* An ordinary call: its callback on our poller. */
  ee_client *c = own_client(fast_ch, 100);
  Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  ee_status st;
  own_result a = {0};
  result_init(&a.r);
  req.name = "projects/async/operations/missing";
  CHECK(ee_client_get_operation_async(c, &req, NULL, on_own, &a, NULL, &st) == EE_OK, "start: %s",
        st.message);
  CHECK(await(&a.r) && a.r.st.code == EE_NOT_FOUND && a.on_poller,
        "get on our queue: %s %s, on our poller: %d", ee_code_name(a.r.st.code), a.r.st.message,
        a.on_poller);
  printf("  own queue: GetOperation -> %s on the polling thread: %s\n", ee_code_name(a.r.st.code),
         a.on_poller ? "yes" : "no");
  result_destroy(&a.r);
  ee_client_free(c); /* nothing in flight */

  /* UNAVAILABLE, then a 5 s backoff; cancelled in it: the timer thread ends the call, and
   * the callback still comes on our poller. */
  c = own_client(failing_ch, 5000);
  own_result b = {0};
  ee_call *call = NULL;
  result_init(&b.r);
  int64_t t0 = now_ms();
  CHECK(ee_client_get_operation_async(c, &req, NULL, on_own, &b, &call, &st) == EE_OK, "start: %s",
        st.message);
  sleep_ms(300); /* the first attempt failed; now in the backoff */
  ee_call_cancel(call);
  CHECK(await(&b.r) && b.r.st.code == EE_CANCELLED && b.on_poller,
        "cancelled in a backoff: %s %s, on our poller: %d", ee_code_name(b.r.st.code),
        b.r.st.message, b.on_poller);
  CHECK(now_ms() - t0 < 3000, "the cancel did not wait out the backoff (%lld ms)",
        (long long)(now_ms() - t0));
  printf("  own queue: cancelled in a backoff -> %s on the polling thread: %s\n",
         ee_code_name(b.r.st.code), b.on_poller ? "yes" : "no");
  ee_call_release(call);
  result_destroy(&b.r);

  /* Freed with a call in its backoff, while we keep polling. */
  own_result d = {0};
  result_init(&d.r);
  CHECK(ee_client_get_operation_async(c, &req, NULL, on_own, &d, NULL, &st) == EE_OK, "start: %s",
        st.message);
  sleep_ms(300);
  ee_client_free(c);
  CHECK(d.r.calls == 1 && d.r.st.code == EE_CANCELLED && d.on_poller,
        "free in a backoff: %d callbacks, %s, on our poller: %d", d.r.calls,
        ee_code_name(d.r.st.code), d.on_poller);
  result_destroy(&d.r);

  grpc_channel_destroy(fast_ch);
  grpc_channel_destroy(failing_ch);
  grpc_channel_credentials_release(creds);
  grpc_completion_queue_shutdown(own_cq);
  pthread_join(poller, NULL);
  grpc_completion_queue_destroy(own_cq);
  grpc_shutdown();
  emu_stop(&failing);
}

/* ---- handles ---- */

/* One call's test state, on the heap: its callback frees it. */
typedef struct handle_case {
  ee_call *call;
  pthread_mutex_t mu; /* held by the starter until the handle is stored */
} handle_case;

static atomic_int handle_callbacks;

static void on_handle(void *user, Google__Longrunning__Operation *op, const ee_status *st) {
  (void)st;
  handle_case *h = user;
  pthread_mutex_lock(&h->mu);
  /* Our own call, from its callback, perhaps after the starter released its handle: the
   * machine still holds the call while its callback runs, and a cancel now is a no-op. */
  ee_call_cancel(h->call);
  pthread_mutex_unlock(&h->mu);
  pthread_mutex_destroy(&h->mu);
  free(h);
  ee_message_free(op);
  atomic_fetch_add(&handle_callbacks, 1);
}

static void scenario_handles(void) {
  ee_client *c = client_for(&fast);
  Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  ee_status st;
  int n = 200, started = 0;
  req.name = "projects/async/operations/missing";
  for (int i = 0; i < n; i++) {
    handle_case *h = calloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_lock(&h->mu);
    ee_code rc = ee_client_get_operation_async(c, &req, NULL, on_handle, h, &h->call, &st);
    ee_call *call = h->call; /* h is the callback's from the unlock on */
    pthread_mutex_unlock(&h->mu);
    CHECK(rc == EE_OK, "start: %s", st.message);
    if (rc != EE_OK) {
      pthread_mutex_destroy(&h->mu);
      free(h);
      continue;
    }
    started++;
    if (i % 2) ee_call_cancel(call); /* races the answer: either end is fine */
    if (i % 3) sleep_ms(1);
    ee_call_release(call); /* before, during or after the callback */
  }
  ee_client_free(c); /* waits for the last callbacks */
  CHECK(atomic_load(&handle_callbacks) == started, "%d callbacks for %d calls",
        atomic_load(&handle_callbacks), started);
  printf("  %d calls with handles cancelled and released while running\n", started);
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "rest") && strcmp(argv[1], "grpc"))) {
    fprintf(stderr,
            "usage: test_async rest|grpc "
            "parity|many|cancel|deadline|free_busy|pages|own_queue|handles\n");
    return 2;
  }
  transport_name = argv[1];
  const char *fast_args[] = {"--task-seconds", "3600", "--max-queued", "100000", NULL};
  char lag[16];
  snprintf(lag, sizeof lag, "%d", LAG_MS);
  const char *lag_args[] = {"--latency-ms", lag, NULL};
  if (emu_start(&fast, emu_path(), fast_args) != 0 || emu_start(&lagged, emu_path(), lag_args) != 0)
    return 1;
  const char *s = argv[2];
  printf("async %s %s\n", transport_name, s);
  if (strcmp(s, "parity") == 0)
    scenario_parity();
  else if (strcmp(s, "many") == 0)
    scenario_many();
  else if (strcmp(s, "cancel") == 0)
    scenario_cancel();
  else if (strcmp(s, "deadline") == 0)
    scenario_deadline();
  else if (strcmp(s, "free_busy") == 0)
    scenario_free_busy();
  else if (strcmp(s, "pages") == 0)
    scenario_pages();
  else if (strcmp(s, "own_queue") == 0)
    scenario_own_queue();
  else if (strcmp(s, "handles") == 0)
    scenario_handles();
  else {
    fprintf(stderr, "unknown scenario %s\n", s);
    return 2;
  }
  emu_stop(&fast);
  emu_stop(&lagged);
  return check_report("test_async");
}
