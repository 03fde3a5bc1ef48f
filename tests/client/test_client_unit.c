/* Unit tests of the client core (src/client) over a scripted transport (label client).
 *
 * Every case runs the real client (options, call state machine, retries, timers,
 * validation, paging, waiting) against fake_transport.c, which completes attempts on its
 * own event thread as the transport contract says, and records what the client started.
 * The expectations come from ee/client.h and the retry rules, not from the
 * code under test. Timing checks are upper bounds with generous slack, plus lower bounds
 * only where the client must wait (a delay the service asked for).
 *
 *   test_client_unit CASE   (one ctest test per case: client.unit_CASE) */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_internal.h"
#include "check.h"
#include "fake_transport.h"

#define RPC_EXPORT "/google.earthengine.v1.EarthEngine/ExportImage"
#define RPC_GET "/google.longrunning.Operations/GetOperation"
#define RPC_LIST "/google.longrunning.Operations/ListOperations"
#define RPC_WAIT "/google.longrunning.Operations/WaitOperation"
#define SLACK_MS 1500 /* scheduling slack on every upper bound: loaded CI, ASan */

typedef Google__Earthengine__V1__ExportImageRequest ExportReq;
typedef Google__Longrunning__Operation Operation;

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Polls cond until true; gives up after 20 s (a hang, not a timing check). */
static bool wait_for(bool (*cond)(void *), void *arg) {
  for (int i = 0; i < 10000; i++) {
    if (cond(arg)) return true;
    sleep_ms(2);
  }
  return cond(arg);
}

/* ------------------------------------------------------------------ the log callback */

typedef struct log_rec {
  int attempt;
  ee_code code;
  int64_t retry_delay_ms;
  char *text; /* every string field, joined */
  char rpc[128], method[16], target[256], transport[16];
} log_rec;

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static log_rec g_logs[4096];
static size_t g_n_logs;
static volatile int g_freed; /* set once ee_client_free returned: no callback may follow */
static int g_after_free;

static void on_log(void *user, const ee_call_log *e) {
  (void)user;
  pthread_mutex_lock(&g_log_mu);
  if (g_freed) g_after_free++;
  if (g_n_logs < sizeof g_logs / sizeof *g_logs) {
    log_rec *r = &g_logs[g_n_logs++];
    size_t n = strlen(e->transport) + strlen(e->rpc) + strlen(e->method) + strlen(e->target) +
               strlen(e->message) + 8;
    r->text = malloc(n);
    snprintf(r->text, n, "%s|%s|%s|%s|%s", e->transport, e->rpc, e->method, e->target, e->message);
    r->attempt = e->attempt;
    r->code = e->code;
    r->retry_delay_ms = e->retry_delay_ms;
    snprintf(r->rpc, sizeof r->rpc, "%s", e->rpc);
    snprintf(r->method, sizeof r->method, "%s", e->method);
    snprintf(r->target, sizeof r->target, "%s", e->target);
    snprintf(r->transport, sizeof r->transport, "%s", e->transport);
  }
  pthread_mutex_unlock(&g_log_mu);
}

static void logs_reset(void) {
  pthread_mutex_lock(&g_log_mu);
  for (size_t i = 0; i < g_n_logs; i++) free(g_logs[i].text);
  g_n_logs = 0;
  pthread_mutex_unlock(&g_log_mu);
}

static size_t logs_count(void) {
  pthread_mutex_lock(&g_log_mu);
  size_t n = g_n_logs;
  pthread_mutex_unlock(&g_log_mu);
  return n;
}

/* ------------------------------------------------------------------ scripts */

/* Replies by the attempt number within a call; the last entry repeats. */
typedef struct script {
  fake_reply replies[8];
  int n;
} script;

static void script_responder(void *user, const fake_start *s, fake_reply *r) {
  script *sc = user;
  int i = s->call_attempt <= sc->n ? s->call_attempt - 1 : sc->n - 1;
  *r = sc->replies[i];
}

static fake_reply reply_err(ee_code code) {
  fake_reply r;
  memset(&r, 0, sizeof r);
  r.code = code;
  return r;
}

static fake_reply reply_ok(void) {
  return reply_err(EE_OK);
}

/* ------------------------------------------------------------------ clients, requests */

static void base_options(ee_client_options *o) {
  ee_client_options_init(o);
  o->endpoint = "http://127.0.0.1:1";
  o->log_fn = on_log;
  o->retry.initial_backoff_ms = 5;
  o->retry.max_backoff_ms = 20;
}

static ee_client *new_client(const ee_client_options *o) {
  ee_client *c = NULL;
  ee_status st;
  ee_code rc = eei_client_new_with_ops(o, &fake_transport_ops, &c, &st);
  CHECK(rc == EE_OK && c, "client: %s", st.message);
  if (!c) exit(1);
  return c;
}

/* Frees the client and checks the transport's contract held throughout. */
static void free_client(ee_client *c) {
  ee_client_free(c);
  CHECK(fake_n_live_attempts() == 0, "%zu attempts still live after free", fake_n_live_attempts());
  CHECK(fake_violations() == 0, "%zu transport contract violations", fake_violations());
}

/* A valid ExportImage request in caller storage. */
typedef struct export_store {
  ExportReq req;
  Google__Earthengine__V1__Expression expr;
  Google__Earthengine__V1__ImageFileExportOptions file;
  Google__Earthengine__V1__CloudStorageDestination gcs;
} export_store;

static ExportReq *export_req(export_store *s, const char *project, const char *request_id) {
  ExportReq r = GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__INIT;
  Google__Earthengine__V1__Expression e = GOOGLE__EARTHENGINE__V1__EXPRESSION__INIT;
  Google__Earthengine__V1__ImageFileExportOptions f =
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__INIT;
  Google__Earthengine__V1__CloudStorageDestination g =
      GOOGLE__EARTHENGINE__V1__CLOUD_STORAGE_DESTINATION__INIT;
  s->req = r;
  s->expr = e;
  s->file = f;
  s->gcs = g;
  s->expr.result = "0";
  s->gcs.bucket = "bucket";
  s->file.destination_case =
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION_CLOUD_STORAGE_DESTINATION;
  s->file.cloud_storage_destination = &s->gcs;
  s->req.project = (char *)project;
  s->req.expression = &s->expr;
  s->req.request_id = (char *)request_id;
  s->req.export_options_case =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_FILE_EXPORT_OPTIONS;
  s->req.file_export_options = &s->file;
  return &s->req;
}

static ee_code get_op(ee_client *c, const char *name, const ee_call_options *co, ee_status *st) {
  Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  Operation *op = NULL;
  g.name = (char *)name;
  ee_code rc = ee_client_get_operation(c, &g, co, &op, st);
  CHECK((rc == EE_OK) == (op != NULL), "get: *out set iff OK (rc %d)", rc);
  ee_message_free(op);
  return rc;
}

static const char *export_id(const fake_start *s) {
  return ((const ExportReq *)s->request)->request_id;
}

static bool is_uuid4(const char *s) {
  static const char hex[] = "0123456789abcdef";
  if (!s || strlen(s) != 36) return false;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!s[i] || !strchr(hex, s[i])) {
      return false;
    }
  }
  return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* ------------------------------------------------------------------ 1. attempts, backoff */

static void case_unavailable(void) {
  script sc = {{reply_err(EE_UNAVAILABLE)}, 1};
  fake_reset(script_responder, &sc);
  logs_reset();
  ee_client_options o;
  base_options(&o);
  o.retry.max_attempts = 5;
  o.retry.initial_backoff_ms = 20;
  o.retry.max_backoff_ms = 80;
  o.retry.multiplier = 2.0;
  static const int64_t caps[4] = {20, 40, 80, 80};
  ee_client *c = new_client(&o);
  ee_status st;
  ee_code rc = get_op(c, "operations/a", NULL, &st);
  CHECK(rc == EE_UNAVAILABLE, "code %s, want UNAVAILABLE", ee_code_name(rc));
  CHECK(strstr(st.message, "5 attempts") != NULL, "message names the attempts: %s", st.message);
  fake_start *s;
  size_t n = fake_starts(&s);
  CHECK(n == 5, "%zu attempts, want 5", n);
  if (n == 5) {
    int64_t total = s[4].at_ms - s[0].at_ms;
    CHECK(total <= 220 + SLACK_MS, "retries took %" PRId64 " ms, caps sum to 220", total);
    for (int i = 0; i < 4; i++)
      CHECK(s[i + 1].at_ms - s[i].at_ms <= caps[i] + SLACK_MS, "gap %d: %" PRId64 " ms", i,
            s[i + 1].at_ms - s[i].at_ms);
  }
  fake_starts_free(s, n);
  /* The log holds the exact delays chosen: each within its full-jitter cap. */
  CHECK(logs_count() == 5, "%zu log entries", logs_count());
  for (size_t i = 0; i < logs_count() && i < 4; i++)
    CHECK(g_logs[i].retry_delay_ms >= 0 && g_logs[i].retry_delay_ms <= caps[i],
          "retry %zu delay %" PRId64 " not in [0,%" PRId64 "]", i + 1, g_logs[i].retry_delay_ms,
          caps[i]);
  /* Per-call max_attempts overrides the policy. */
  ee_call_options co = {.timeout_ms = 0, .max_attempts = 2};
  fake_reset(script_responder, &sc);
  rc = get_op(c, "operations/b", &co, &st);
  CHECK(rc == EE_UNAVAILABLE && fake_n_starts() == 2, "max_attempts 2: %zu attempts",
        fake_n_starts());
  free_client(c);
}

/* Full jitter: over 100 first retries with cap 80 the delays spread over [0, 80]. */
typedef struct async_count {
  pthread_mutex_t mu;
  int done;
  int cancelled;
  int ok;
  int want; /* async_all_done: this many calls ended */
} async_count;

static void on_async_done(void *user, ProtobufCMessage *resp, const ee_status *st) {
  async_count *a = user;
  pthread_mutex_lock(&a->mu);
  if (g_freed) g_after_free++;
  a->done++;
  if (st->code == EE_CANCELLED) a->cancelled++;
  if (st->code == EE_OK) a->ok++;
  pthread_mutex_unlock(&a->mu);
  ee_message_free(resp);
}

static bool async_all_done(void *arg) {
  async_count *a = arg;
  pthread_mutex_lock(&a->mu);
  int d = a->done;
  pthread_mutex_unlock(&a->mu);
  return d >= a->want;
}

static void case_jitter(void) {
  script sc = {{reply_err(EE_UNAVAILABLE), reply_ok()}, 2};
  fake_reset(script_responder, &sc);
  logs_reset();
  ee_client_options o;
  base_options(&o);
  o.retry.initial_backoff_ms = 80;
  o.retry.max_backoff_ms = 80;
  ee_client *c = new_client(&o);
  const ee_route *route;
  ee_status st;
  CHECK(eei_client_route(RPC_GET, &route, &st) == EE_OK, "route");
  async_count ac = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 100};
  Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  g.name = "operations/j";
  for (int i = 0; i < 100; i++)
    CHECK(eei_call_start(c, route, &g.base, NULL, on_async_done, &ac, NULL, &st) == EE_OK,
          "start: %s", st.message);
  CHECK(wait_for(async_all_done, &ac), "100 calls end");
  CHECK(ac.ok == 100, "%d of 100 OK", ac.ok);
  int64_t lo = 1000, hi = -1, n = 0;
  for (size_t i = 0; i < logs_count(); i++) {
    if (g_logs[i].retry_delay_ms < 0) continue;
    n++;
    if (g_logs[i].retry_delay_ms < lo) lo = g_logs[i].retry_delay_ms;
    if (g_logs[i].retry_delay_ms > hi) hi = g_logs[i].retry_delay_ms;
  }
  CHECK(n == 100, "%" PRId64 " retries logged", n);
  CHECK(hi <= 80, "a delay of %" PRId64 " ms exceeds the 80 ms cap", hi);
  CHECK(lo < 40 && hi > 40, "delays %" PRId64 "..%" PRId64 " are not spread over [0, 80]", lo, hi);
  free_client(c);
}

/* ------------------------------------------------------------------ 2. RetryInfo, Retry-After */

static void retry_delay_case(bool retry_after) {
  fake_reply first = reply_err(EE_RESOURCE_EXHAUSTED);
  if (retry_after)
    first.retry_after_ms = 300;
  else
    first.retry_delay_ms = 300;
  script sc = {{first, reply_ok()}, 2};
  fake_reset(script_responder, &sc);
  logs_reset();
  ee_client_options o;
  base_options(&o);
  o.retry.initial_backoff_ms = 1;
  o.retry.max_backoff_ms = 1;
  ee_client *c = new_client(&o);
  ee_status st;
  ee_code rc = get_op(c, "operations/r", NULL, &st);
  const char *what = retry_after ? "Retry-After" : "RetryInfo";
  CHECK(rc == EE_OK, "%s: %s", what, st.message);
  fake_start *s;
  size_t n = fake_starts(&s);
  CHECK(n == 2, "%s: %zu attempts", what, n);
  if (n == 2) {
    int64_t gap = s[1].at_ms - s[0].at_ms;
    CHECK(gap >= 300, "%s: the retry came after %" PRId64 " ms, asked 300", what, gap);
    CHECK(gap <= 300 + SLACK_MS, "%s: the retry came after %" PRId64 " ms", what, gap);
  }
  fake_starts_free(s, n);
  CHECK(logs_count() == 2 && g_logs[0].retry_delay_ms >= 300, "%s: logged delay", what);
  /* A delay longer than what is left of the call's deadline: no retry, at once. */
  if (retry_after)
    sc.replies[0].retry_after_ms = 60000;
  else
    sc.replies[0].retry_delay_ms = 60000;
  fake_reset(script_responder, &sc);
  ee_call_options co = {.timeout_ms = 1000, .max_attempts = 0};
  int64_t t0 = eei_now_ms();
  rc = get_op(c, "operations/r2", &co, &st);
  CHECK(rc == EE_RESOURCE_EXHAUSTED && fake_n_starts() == 1,
        "%s past the deadline: %s after %zu attempts", what, ee_code_name(rc), fake_n_starts());
  CHECK(eei_now_ms() - t0 <= SLACK_MS, "%s past the deadline: gave up at once", what);
  free_client(c);
}

static void case_retry_info(void) {
  retry_delay_case(false);
  retry_delay_case(true);
}

/* Which errors are retried: UNAVAILABLE, RESOURCE_EXHAUSTED, an attempt's
 * DEADLINE_EXCEEDED, and INTERNAL / UNKNOWN only as an HTTP 500. */
static void case_codes(void) {
  static const struct {
    ee_code code;
    int http;
    int attempts; /* with max_attempts 3 */
  } rows[] = {
      {EE_UNAVAILABLE, 503, 3},       {EE_RESOURCE_EXHAUSTED, 429, 3},
      {EE_DEADLINE_EXCEEDED, 504, 3}, {EE_INTERNAL, 500, 3},
      {EE_UNKNOWN, 500, 3},           {EE_INTERNAL, 0, 1},
      {EE_NOT_FOUND, 404, 1},         {EE_INVALID_ARGUMENT, 400, 1},
      {EE_PERMISSION_DENIED, 403, 1}, {EE_FAILED_PRECONDITION, 400, 1},
      {EE_UNIMPLEMENTED, 501, 1},     {EE_ALREADY_EXISTS, 409, 1},
  };
  ee_client_options o;
  base_options(&o);
  o.retry.max_attempts = 3;
  ee_client *c = new_client(&o);
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    fake_reply r = reply_err(rows[i].code);
    r.http_status = rows[i].http;
    r.message = "scripted";
    script sc = {{r}, 1};
    fake_reset(script_responder, &sc);
    ee_status st;
    ee_code rc = get_op(c, "operations/c", NULL, &st);
    CHECK(rc == rows[i].code && (int)fake_n_starts() == rows[i].attempts,
          "%s (HTTP %d): %s after %zu attempts, want %d", ee_code_name(rows[i].code), rows[i].http,
          ee_code_name(rc), fake_n_starts(), rows[i].attempts);
    CHECK(st.http_status == rows[i].http && strstr(st.message, "scripted"),
          "%s: status keeps the HTTP status and message: %d %s", ee_code_name(rows[i].code),
          st.http_status, st.message);
  }
  free_client(c);
}

/* A NULL status pointer is accepted everywhere (ee_status_set accepts NULL); a token
 * source is still handed a status to fill. */
static int g_token_null_st;

static ee_code failing_token(void *user, bool force_refresh, ee_buf *token, ee_status *st) {
  (void)user, (void)force_refresh, (void)token;
  if (!st) {
    g_token_null_st++;
    return EE_UNAUTHENTICATED;
  }
  return ee_status_set(st, EE_PERMISSION_DENIED, "no credentials here");
}

static void case_null_status(void) {
  ee_client_options o;
  base_options(&o);
  o.project = "p";
  ee_client *c = new_client(&o);
  export_store es;
  Operation *op = (Operation *)1;
  fake_reset(NULL, NULL);
  CHECK(ee_client_export_image(c, export_req(&es, "", "bad_id"), NULL, &op, NULL) ==
                EE_INVALID_ARGUMENT &&
            !op,
        "bad requestId, NULL status");
  CHECK(ee_client_export_image(c, NULL, NULL, &op, NULL) == EE_INVALID_ARGUMENT && !op,
        "NULL request");
  ee_buf b;
  ee_buf_init(&b, 0);
  CHECK(ee_client_prepare(c, RPC_EXPORT, &export_req(&es, "", "bad_id")->base, &b, NULL) ==
            EE_INVALID_ARGUMENT,
        "prepare, NULL status");
  ee_buf_free(&b);
  CHECK(get_op(c, "operations/n", NULL, NULL) == EE_OK, "a call with a NULL status");
  CHECK(fake_n_starts() == 1, "%zu starts", fake_n_starts());
  free_client(c);

  /* A failing token source: the call fails with its status, nothing sent. */
  base_options(&o);
  o.token_fn = failing_token;
  c = new_client(&o);
  fake_reset(NULL, NULL);
  ee_status st;
  ee_code rc = get_op(c, "operations/n", NULL, &st);
  CHECK(rc == EE_PERMISSION_DENIED && strstr(st.message, "no credentials here"),
        "token failure: %s %s", ee_code_name(rc), st.message);
  rc = get_op(c, "operations/n", NULL, NULL);
  CHECK(rc == EE_PERMISSION_DENIED && g_token_null_st == 0,
        "token failure with NULL status: %s, token_fn saw NULL %d times", ee_code_name(rc),
        g_token_null_st);
  CHECK(fake_n_starts() == 0, "%zu starts with no token", fake_n_starts());
  free_client(c);
}

/* ------------------------------------------------------------------ 3. requestId */

static void case_request_id(void) {
  script sc = {{reply_err(EE_UNAVAILABLE), reply_err(EE_UNAVAILABLE), reply_ok()}, 3};
  ee_client_options o;
  base_options(&o);
  o.project = "proj";
  ee_client *c = new_client(&o);
  export_store es;
  ee_status st;
  Operation *op = NULL;

  /* No id: the client fills a UUIDv4, the same in every attempt; the caller's struct is
   * untouched. */
  fake_reset(script_responder, &sc);
  ExportReq *r = export_req(&es, "", "");
  ee_code rc = ee_client_export_image(c, r, NULL, &op, &st);
  CHECK(rc == EE_OK && op, "export with retries: %s", st.message);
  ee_message_free(op);
  CHECK(r->request_id[0] == '\0' && r->project[0] == '\0', "the caller's request was changed");
  fake_start *s;
  size_t n = fake_starts(&s);
  CHECK(n == 3, "%zu attempts, want 3", n);
  for (size_t i = 0; i < n; i++) {
    CHECK(is_uuid4(export_id(&s[i])), "attempt %zu requestId \"%s\" is not a UUIDv4", i + 1,
          export_id(&s[i]));
    CHECK(strcmp(export_id(&s[i]), export_id(&s[0])) == 0, "attempt %zu has another id", i + 1);
  }
  fake_starts_free(s, n);
  /* Two calls get two ids. */
  char first[64];
  fake_reset(NULL, NULL);
  rc = ee_client_export_image(c, r, NULL, &op, &st);
  ee_message_free(op);
  rc = ee_client_export_image(c, r, NULL, &op, &st);
  ee_message_free(op);
  n = fake_starts(&s);
  if (n == 2) {
    snprintf(first, sizeof first, "%s", export_id(&s[0]));
    CHECK(is_uuid4(first) && strcmp(first, export_id(&s[1])) != 0, "ids %s %s", first,
          export_id(&s[1]));
  }
  fake_starts_free(s, n);

  /* A caller's id is kept, in every attempt. */
  fake_reset(script_responder, &sc);
  r = export_req(&es, "projects/proj", "caller-id-7");
  rc = ee_client_export_image(c, r, NULL, &op, &st);
  ee_message_free(op);
  n = fake_starts(&s);
  CHECK(rc == EE_OK && n == 3, "caller id: %s, %zu attempts", ee_code_name(rc), n);
  for (size_t i = 0; i < n; i++)
    CHECK(strcmp(export_id(&s[i]), "caller-id-7") == 0, "attempt %zu id %s", i + 1,
          export_id(&s[i]));
  fake_starts_free(s, n);
  free_client(c);

  /* no_auto_request_id and no id: a sent export is never retried, an unsent one is. */
  o.no_auto_request_id = true;
  c = new_client(&o);
  r = export_req(&es, "", "");
  script sent = {{reply_err(EE_UNAVAILABLE)}, 1};
  fake_reset(script_responder, &sent);
  rc = ee_client_export_image(c, r, NULL, &op, &st);
  CHECK(rc == EE_UNAVAILABLE && fake_n_starts() == 1,
        "sent, no id: %s after %zu attempts (want UNAVAILABLE after 1)", ee_code_name(rc),
        fake_n_starts());
  n = fake_starts(&s);
  if (n) CHECK(export_id(&s[0])[0] == '\0', "an id was filled: %s", export_id(&s[0]));
  fake_starts_free(s, n);
  script unsent = {{reply_err(EE_UNAVAILABLE), reply_ok()}, 2};
  unsent.replies[0].not_sent = true;
  fake_reset(script_responder, &unsent);
  rc = ee_client_export_image(c, r, NULL, &op, &st);
  ee_message_free(op);
  CHECK(rc == EE_OK && fake_n_starts() == 2, "unsent, no id: %s after %zu attempts (want OK, 2)",
        ee_code_name(rc), fake_n_starts());
  free_client(c);
}

/* ------------------------------------------------------------------ 4. validation */

static void expect_invalid(ee_client *c, const ExportReq *r, const char *field, const char *what) {
  ee_status st;
  Operation *op = (Operation *)1;
  fake_reset(NULL, NULL);
  ee_code rc = ee_client_export_image(c, r, NULL, &op, &st);
  CHECK(rc == EE_INVALID_ARGUMENT, "%s: %s, want INVALID_ARGUMENT", what, ee_code_name(rc));
  CHECK(st.code == rc, "%s: status code %d", what, st.code);
  CHECK(strstr(st.message, field) != NULL, "%s: message does not name %s: %s", what, field,
        st.message);
  CHECK(op == NULL, "%s: *out not NULL", what);
  CHECK(fake_n_prepares() == 0 && fake_n_starts() == 0, "%s: something was prepared or sent", what);
  /* The dry run validates the same way. */
  ee_buf b;
  ee_buf_init(&b, 0);
  rc = ee_client_prepare(c, RPC_EXPORT, &r->base, &b, &st);
  CHECK(rc == EE_INVALID_ARGUMENT && strstr(st.message, field), "%s: prepare: %s", what,
        st.message);
  ee_buf_free(&b);
}

static void case_validation(void) {
  ee_client_options o;
  base_options(&o);
  ee_client *c = new_client(&o); /* no project */
  export_store es;
  char long_id[62];
  memset(long_id, 'a', 61);
  long_id[61] = '\0';
  expect_invalid(c, export_req(&es, "projects/p", "bad_id"), "requestId", "requestId with _");
  expect_invalid(c, export_req(&es, "projects/p", "bad id"), "requestId", "requestId with space");
  expect_invalid(c, export_req(&es, "projects/p", long_id), "requestId", "requestId of 61");
  Google__Protobuf__Int32Value prio = GOOGLE__PROTOBUF__INT32_VALUE__INIT;
  prio.value = 10000;
  ExportReq *r = export_req(&es, "projects/p", "");
  r->priority = &prio;
  expect_invalid(c, r, "priority", "priority 10000");
  prio.value = -1;
  expect_invalid(c, r, "priority", "priority -1");
  r = export_req(&es, "projects/p", "");
  r->export_options_case = GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS__NOT_SET;
  r->file_export_options = NULL;
  expect_invalid(c, r, "ExportOptions", "no destination");
  r = export_req(&es, "projects/p", "");
  es.file.destination_case =
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION__NOT_SET;
  es.file.cloud_storage_destination = NULL;
  expect_invalid(c, r, "fileExportOptions", "file destination missing");
  Google__Earthengine__V1__ImageAssetExportOptions asset =
      GOOGLE__EARTHENGINE__V1__IMAGE_ASSET_EXPORT_OPTIONS__INIT;
  r = export_req(&es, "projects/p", "");
  r->export_options_case =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_ASSET_EXPORT_OPTIONS;
  r->asset_export_options = &asset;
  expect_invalid(c, r, "assetExportOptions", "asset destination missing");
  expect_invalid(c, export_req(&es, "", ""), "project", "empty project, no client project");
  /* A request of the wrong type: nothing sent either. */
  ee_status st;
  ProtobufCMessage *out = NULL;
  fake_reset(NULL, NULL);
  ee_code rc =
      ee_client_call(c, RPC_GET, &export_req(&es, "projects/p", "")->base, NULL, &out, &st);
  CHECK(rc == EE_INVALID_ARGUMENT && fake_n_starts() == 0, "wrong request type: %s",
        ee_code_name(rc));
  rc = ee_client_call(c, "/no.Such/Rpc", &export_req(&es, "projects/p", "")->base, NULL, &out, &st);
  CHECK(rc != EE_OK && strstr(st.message, "/no.Such/Rpc"), "unknown rpc: %s", st.message);
  free_client(c);
}

/* ------------------------------------------------------------------ 5. defaults */

static void case_defaults(void) {
  ee_client_options o;
  base_options(&o);
  o.project = "myproj";
  ee_client *c = new_client(&o);
  export_store es;
  ee_status st;
  Operation *op = NULL;
  fake_reset(NULL, NULL);
  CHECK(ee_client_export_image(c, export_req(&es, "", "id1"), NULL, &op, &st) == EE_OK, "export");
  ee_message_free(op);
  CHECK(
      ee_client_export_image(c, export_req(&es, "projects/other", "id2"), NULL, &op, &st) == EE_OK,
      "export 2");
  ee_message_free(op);
  Google__Longrunning__ListOperationsRequest l = GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
  Google__Longrunning__ListOperationsResponse *page = NULL;
  CHECK(ee_client_list_operations(c, &l, NULL, &page, &st) == EE_OK, "list");
  ee_message_free(page);
  l.name = "projects/named";
  CHECK(ee_client_list_operations(c, &l, NULL, &page, &st) == EE_OK, "list 2");
  ee_message_free(page);
  fake_start *s;
  size_t n = fake_starts(&s);
  CHECK(n == 4, "%zu starts", n);
  if (n == 4) {
    const char *p0 = ((ExportReq *)s[0].request)->project;
    const char *p1 = ((ExportReq *)s[1].request)->project;
    const char *n2 = ((Google__Longrunning__ListOperationsRequest *)s[2].request)->name;
    const char *n3 = ((Google__Longrunning__ListOperationsRequest *)s[3].request)->name;
    CHECK(strcmp(p0, "projects/myproj") == 0, "empty project became \"%s\"", p0);
    CHECK(strcmp(p1, "projects/other") == 0, "a given project became \"%s\"", p1);
    CHECK(strcmp(n2, "projects/myproj") == 0, "empty list name became \"%s\"", n2);
    CHECK(strcmp(n3, "projects/named") == 0, "a given list name became \"%s\"", n3);
  }
  fake_starts_free(s, n);
  free_client(c);
  /* "projects/ID" is kept as it is; "a/b" is refused naming the option. */
  o.project = "projects/p2";
  c = new_client(&o);
  fake_reset(NULL, NULL);
  CHECK(ee_client_export_image(c, export_req(&es, "", "id3"), NULL, &op, &st) == EE_OK, "export");
  ee_message_free(op);
  n = fake_starts(&s);
  if (n == 1)
    CHECK(strcmp(((ExportReq *)s[0].request)->project, "projects/p2") == 0, "projects/p2 -> %s",
          ((ExportReq *)s[0].request)->project);
  fake_starts_free(s, n);
  free_client(c);
  static const char *const bad_projects[] = {"a/b", "projects/", "", "projects/a/b"};
  for (size_t i = 0; i < sizeof bad_projects / sizeof *bad_projects; i++) {
    o.project = bad_projects[i];
    ee_client *bad = NULL;
    CHECK(eei_client_new_with_ops(&o, &fake_transport_ops, &bad, &st) == EE_INVALID_ARGUMENT &&
              !bad && strstr(st.message, "project"),
          "project \"%s\": %s", bad_projects[i], st.message);
    ee_client_free(bad);
  }
}

/* ------------------------------------------------------------------ 6. tokens */

typedef struct token_src {
  pthread_mutex_t mu;
  int calls;
  bool force[8];
} token_src;

static ee_code token_fn(void *user, bool force_refresh, ee_buf *token, ee_status *st) {
  token_src *t = user;
  pthread_mutex_lock(&t->mu);
  int n = ++t->calls;
  if (n <= 8) t->force[n - 1] = force_refresh;
  pthread_mutex_unlock(&t->mu);
  return ee_buf_printf(token, st, "tok-%d", n);
}

static void case_token(void) {
  script sc = {{reply_err(EE_UNAUTHENTICATED)}, 1};
  token_src ts = {PTHREAD_MUTEX_INITIALIZER, 0, {0}};
  ee_client_options o;
  base_options(&o);
  o.token_fn = token_fn;
  o.token_user = &ts;
  ee_client *c = new_client(&o);
  ee_status st;
  fake_reset(script_responder, &sc);
  ee_code rc = get_op(c, "operations/t", NULL, &st);
  CHECK(rc == EE_UNAUTHENTICATED, "token_fn: %s, want UNAUTHENTICATED", ee_code_name(rc));
  CHECK(ts.calls == 2, "token_fn called %d times, want 2", ts.calls);
  CHECK(!ts.force[0] && ts.force[1], "force_refresh %d then %d, want 0 then 1", ts.force[0],
        ts.force[1]);
  fake_start *s;
  size_t n = fake_starts(&s);
  CHECK(n == 2, "%zu attempts, want 2 (one refresh)", n);
  if (n == 2) {
    const char *a0 = fake_header(&s[0], "authorization"), *a1 = fake_header(&s[1], "authorization");
    CHECK(a0 && strcmp(a0, "Bearer tok-1") == 0, "authorization 1: %s", a0 ? a0 : "(none)");
    CHECK(a1 && strcmp(a1, "Bearer tok-2") == 0, "authorization 2: %s", a1 ? a1 : "(none)");
  }
  fake_starts_free(s, n);
  /* The refresh fixes it: OK on the second attempt. */
  script once = {{reply_err(EE_UNAUTHENTICATED), reply_ok()}, 2};
  fake_reset(script_responder, &once);
  rc = get_op(c, "operations/t2", NULL, &st);
  CHECK(rc == EE_OK && fake_n_starts() == 2, "refresh then OK: %s", ee_code_name(rc));
  free_client(c);

  /* A fixed token cannot be refreshed: not retried. */
  base_options(&o);
  o.access_token = "fixed-token";
  c = new_client(&o);
  fake_reset(script_responder, &sc);
  rc = get_op(c, "operations/t3", NULL, &st);
  n = fake_starts(&s);
  CHECK(rc == EE_UNAUTHENTICATED && n == 1, "fixed token: %s after %zu attempts", ee_code_name(rc),
        n);
  if (n) {
    const char *a = fake_header(&s[0], "authorization");
    CHECK(a && strcmp(a, "Bearer fixed-token") == 0, "authorization: %s", a ? a : "(none)");
  }
  fake_starts_free(s, n);
  free_client(c);

  /* No token source: no authorization header. */
  base_options(&o);
  c = new_client(&o);
  fake_reset(NULL, NULL);
  get_op(c, "operations/t4", NULL, &st);
  n = fake_starts(&s);
  CHECK(n == 1 && !fake_header(&s[0], "authorization"), "no token: authorization sent");
  fake_starts_free(s, n);
  free_client(c);
}

/* ------------------------------------------------------------------ 7. headers */

static void case_headers(void) {
  ee_client_options o;
  base_options(&o);
  o.quota_project = "quota-p";
  o.user_agent = "myapp/1.0";
  ee_client *c = new_client(&o);
  ee_status st;
  fake_reset(NULL, NULL);
  get_op(c, "operations/h", NULL, &st);
  free_client(c);
  base_options(&o);
  c = new_client(&o);
  get_op(c, "operations/h", NULL, &st);
  free_client(c);
  fake_start *s;
  size_t n = fake_starts(&s);
  CHECK(n == 2, "%zu starts", n);
  char want[64];
  snprintf(want, sizeof want, "ee-c/%s", ee_version());
  for (size_t i = 0; i < n; i++) {
    const char *api = fake_header(&s[i], "x-goog-api-client");
    const char *ua = fake_header(&s[i], "user-agent");
    const char *qp = fake_header(&s[i], "x-goog-user-project");
    CHECK(api && strcmp(api, want) == 0, "x-goog-api-client: %s, want %s", api ? api : "(none)",
          want);
    CHECK(ua && strstr(ua, want), "user-agent: %s", ua ? ua : "(none)");
    if (i == 0) {
      CHECK(qp && strcmp(qp, "quota-p") == 0, "x-goog-user-project: %s", qp ? qp : "(none)");
      CHECK(ua && strncmp(ua, "myapp/1.0 ", 10) == 0, "user-agent: %s", ua ? ua : "(none)");
    } else {
      CHECK(!qp, "x-goog-user-project sent without a quota project");
    }
    for (size_t h = 0; h < s[i].n_headers; h++)
      for (const char *p = s[i].header_names[h]; *p; p++)
        CHECK(!(*p >= 'A' && *p <= 'Z'), "header name %s is not lower-case", s[i].header_names[h]);
  }
  fake_starts_free(s, n);
}

/* ------------------------------------------------------------------ 8. deadlines */

static void deadline_run(const char *what, fake_reply reply, int backoff_ms, bool want_deadline) {
  script sc = {{reply}, 1};
  ee_client_options o;
  base_options(&o);
  o.attempt_timeout_ms = 10000;
  o.retry.max_attempts = 100;
  o.retry.initial_backoff_ms = backoff_ms;
  o.retry.max_backoff_ms = backoff_ms;
  ee_client *c = new_client(&o);
  fake_reset(script_responder, &sc);
  ee_call_options co = {.timeout_ms = 500, .max_attempts = 0};
  ee_status st;
  int64_t t0 = eei_now_ms();
  ee_code rc = get_op(c, "operations/d", &co, &st);
  int64_t took = eei_now_ms() - t0;
  if (want_deadline)
    CHECK(rc == EE_DEADLINE_EXCEEDED, "%s: %s, want DEADLINE_EXCEEDED", what, ee_code_name(rc));
  else
    CHECK(rc == EE_UNAVAILABLE || rc == EE_DEADLINE_EXCEEDED, "%s: %s", what, ee_code_name(rc));
  CHECK(took <= 500 + SLACK_MS, "%s: the call took %" PRId64 " ms (deadline 500)", what, took);
  fake_start *s;
  size_t n = fake_starts(&s);
  CHECK(n >= 1, "%s: no attempt", what);
  /* The call's deadline is set when it starts, before its first attempt. */
  for (size_t i = 0; i < n; i++)
    CHECK(s[i].deadline_ms > 0 && s[i].deadline_ms <= s[0].at_ms + 500,
          "%s: attempt %zu deadline %" PRId64 " ms after the first start, past the call's", what,
          i + 1, s[i].deadline_ms - s[0].at_ms);
  fake_starts_free(s, n);
  free_client(c);
}

static void case_deadline(void) {
  fake_reply unavailable = reply_err(EE_UNAVAILABLE);
  unavailable.delay_ms = 100;
  deadline_run("long backoff", unavailable, 60000, false);
  deadline_run("short backoff", unavailable, 150, false);
  fake_reply hang = reply_ok();
  hang.hang = true;
  deadline_run("no answer", hang, 5, true);

  /* An attempt's own timeout is retried within the call's deadline. */
  script sc = {{hang}, 1};
  ee_client_options o;
  base_options(&o);
  o.attempt_timeout_ms = 100;
  o.retry.max_attempts = 3;
  ee_client *c = new_client(&o);
  fake_reset(script_responder, &sc);
  ee_status st;
  ee_code rc = get_op(c, "operations/d2", NULL, &st);
  CHECK(rc == EE_DEADLINE_EXCEEDED && fake_n_starts() == 3,
        "attempt timeout: %s after %zu attempts, want DEADLINE_EXCEEDED after 3", ee_code_name(rc),
        fake_n_starts());
  fake_start *s;
  size_t n = fake_starts(&s);
  for (size_t i = 0; i < n; i++)
    CHECK(s[i].deadline_ms <= s[i].at_ms + 100, "attempt %zu deadline %" PRId64 " ms ahead", i + 1,
          s[i].deadline_ms - s[i].at_ms);
  fake_starts_free(s, n);
  free_client(c);
}

/* ------------------------------------------------------------------ 9. free while busy */

typedef struct blocked {
  ee_client *c;
  const char *name;
  ee_code rc;
} blocked;

static void *blocked_main(void *arg) {
  blocked *b = arg;
  ee_status st;
  b->rc = get_op(b->c, b->name, NULL, &st);
  return NULL;
}

static void busy_responder(void *user, const fake_start *s, fake_reply *r) {
  (void)user;
  const char *name = ((const Google__Longrunning__GetOperationRequest *)s->request)->name;
  memset(r, 0, sizeof *r);
  if (strncmp(name, "hang", 4) == 0) {
    r->hang = true;
  } else {
    r->code = EE_UNAVAILABLE;
    r->retry_delay_ms = 60000; /* the client must wait a minute before retrying */
  }
}

static bool backoffs_logged(void *arg) {
  return logs_count() >= *(size_t *)arg;
}

static bool starts_reached(void *arg) {
  return fake_n_starts() >= *(size_t *)arg;
}

static void free_busy_round(void) {
  fake_reset(busy_responder, NULL);
  logs_reset();
  ee_client_options o;
  base_options(&o);
  o.retry.max_attempts = 3;
  ee_client *c = new_client(&o);
  pthread_t th[8];
  blocked b[8];
  for (int i = 0; i < 8; i++) {
    b[i] = (blocked){c, i % 2 ? "hang" : "backoff", EE_OK};
    pthread_create(&th[i], NULL, blocked_main, &b[i]);
  }
  const ee_route *route;
  ee_status st;
  eei_client_route(RPC_GET, &route, &st);
  async_count ac = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 4};
  Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  for (int i = 0; i < 4; i++) {
    g.name = i % 2 ? "hang" : "backoff";
    CHECK(eei_call_start(c, route, &g.base, NULL, on_async_done, &ac, NULL, &st) == EE_OK,
          "async start");
  }
  size_t want_starts = 12, want_logs = 6;
  CHECK(wait_for(starts_reached, &want_starts), "12 attempts started");
  CHECK(wait_for(backoffs_logged, &want_logs), "6 calls in backoff");
  int64_t t0 = eei_now_ms();
  ee_client_free(c);
  int64_t took = eei_now_ms() - t0;
  g_freed = 1;
  CHECK(took <= SLACK_MS, "ee_client_free took %" PRId64 " ms", took);
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    CHECK(b[i].rc == EE_CANCELLED, "blocked call %d (%s) ended %s, want CANCELLED", i, b[i].name,
          ee_code_name(b[i].rc));
  }
  CHECK(ac.done == 4 && ac.cancelled == 4, "async: %d done, %d cancelled, want 4 and 4", ac.done,
        ac.cancelled);
  CHECK(fake_n_starts() == 12, "%zu attempts, want 12 (no retry after free)", fake_n_starts());
  CHECK(fake_n_live_attempts() == 0, "attempts live after free");
  CHECK(fake_violations() == 0, "transport contract violations");
  sleep_ms(50);
  CHECK(g_after_free == 0, "%d callbacks after ee_client_free", g_after_free);
  g_freed = 0;
}

/* Several rounds: the calls ending on the timer thread race with ee_client_free. */
static void case_free_busy(void) {
  for (int round = 0; round < 10; round++) free_busy_round();
}

/* eei_call_cancel on a running attempt and on a backoff: CANCELLED, once. */
static void case_cancel(void) {
  fake_reset(busy_responder, NULL);
  logs_reset();
  ee_client_options o;
  base_options(&o);
  ee_client *c = new_client(&o);
  const ee_route *route;
  ee_status st;
  eei_client_route(RPC_GET, &route, &st);
  for (int round = 0; round < 50; round++) {
    async_count ac = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 1};
    Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
    g.name = round % 2 ? "hang" : "backoff";
    eei_call *call = NULL;
    size_t logs_before = logs_count() + 1, starts = fake_n_starts() + 1;
    CHECK(eei_call_start(c, route, &g.base, NULL, on_async_done, &ac, &call, &st) == EE_OK && call,
          "start");
    wait_for(starts_reached, &starts);
    if (round % 2 == 0) wait_for(backoffs_logged, &logs_before);
    eei_call_cancel(call);
    CHECK(wait_for(async_all_done, &ac), "round %d: the cancelled call ends", round);
    sleep_ms(1); /* a second done would show here */
    pthread_mutex_lock(&ac.mu);
    CHECK(ac.done == 1 && ac.cancelled == 1, "round %d: %d done, %d cancelled", round, ac.done,
          ac.cancelled);
    pthread_mutex_unlock(&ac.mu);
    eei_call_cancel(call); /* after the end: a no-op, the handle is still ours */
    eei_call_release(call);
  }
  free_client(c);
}

/* ------------------------------------------------------------------ 10. the log */

static void case_log(void) {
  script sc = {
      {reply_err(EE_UNAVAILABLE), reply_err(EE_UNAVAILABLE), reply_err(EE_UNAVAILABLE), reply_ok()},
      4};
  sc.replies[1].message = "try later";
  fake_reset(script_responder, &sc);
  logs_reset();
  ee_client_options o;
  base_options(&o);
  o.access_token = "SECRET-TOKEN-123";
  ee_client *c = new_client(&o);
  ee_status st;
  CHECK(get_op(c, "operations/l", NULL, &st) == EE_OK, "log call: %s", st.message);
  CHECK(logs_count() == 4, "%zu log entries, want 4", logs_count());
  for (size_t i = 0; i < logs_count(); i++) {
    log_rec *r = &g_logs[i];
    bool last = i + 1 == logs_count();
    CHECK(r->attempt == (int)i + 1, "entry %zu: attempt %d", i, r->attempt);
    CHECK(last ? r->retry_delay_ms == -1 : r->retry_delay_ms >= 0,
          "entry %zu: retry delay %" PRId64, i, r->retry_delay_ms);
    CHECK(r->code == (last ? EE_OK : EE_UNAVAILABLE), "entry %zu: code %d", i, r->code);
    CHECK(strcmp(r->rpc, RPC_GET) == 0 && strcmp(r->transport, "fake") == 0 &&
              strcmp(r->method, "POST") == 0 && strstr(r->target, RPC_GET),
          "entry %zu: %s", i, r->text);
    CHECK(!strstr(r->text, "SECRET"), "entry %zu holds the token: %s", i, r->text);
  }
  CHECK(logs_count() < 2 || strstr(g_logs[1].text, "try later"), "the error message is logged");
  /* A failed call logs -1 on its last attempt too. */
  script fail = {{reply_err(EE_UNAVAILABLE)}, 1};
  fake_reset(script_responder, &fail);
  logs_reset();
  ee_call_options co = {.timeout_ms = 0, .max_attempts = 3};
  get_op(c, "operations/l2", &co, &st);
  CHECK(logs_count() == 3 && g_logs[2].retry_delay_ms == -1 && g_logs[2].attempt == 3 &&
            g_logs[1].retry_delay_ms >= 0,
        "failed call log");
  /* The dry run shows the authorization header redacted. */
  ee_buf b;
  ee_buf_init(&b, 0);
  Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  g.name = "operations/p";
  CHECK(ee_client_prepare(c, RPC_GET, &g.base, &b, &st) == EE_OK, "prepare: %s", st.message);
  CHECK(b.data && !strstr(b.data, "SECRET") && strstr(b.data, "REDACTED"), "prepare output: %s",
        b.data ? b.data : "");
  ee_buf_free(&b);
  free_client(c);
}

/* ------------------------------------------------------------------ 11. options */

static void case_options(void) {
  ee_client_options o, before;
  ee_status st;
  ee_client_options_init(&o);
  setenv("EE_TRANSPORT", "grpc", 1);
  setenv("EE_ENDPOINT", "http://127.0.0.1:8080", 1);
  setenv("EE_PROJECT", "envproj", 1);
  setenv("EE_ACCESS_TOKEN", "envtoken", 1);
  CHECK(ee_client_options_from_env(&o, &st) == EE_OK, "from_env: %s", st.message);
  CHECK(o.transport == EE_TRANSPORT_GRPC, "EE_TRANSPORT=grpc");
  CHECK(o.endpoint && strcmp(o.endpoint, "http://127.0.0.1:8080") == 0, "EE_ENDPOINT");
  CHECK(o.project && strcmp(o.project, "envproj") == 0, "EE_PROJECT");
  CHECK(o.access_token && strcmp(o.access_token, "envtoken") == 0, "EE_ACCESS_TOKEN");
  setenv("EE_TRANSPORT", "rest", 1);
  CHECK(ee_client_options_from_env(&o, &st) == EE_OK && o.transport == EE_TRANSPORT_REST,
        "EE_TRANSPORT=rest");

  /* A bad EE_TRANSPORT: named, and nothing applied. */
  ee_client_options_init(&o);
  o.endpoint = "http://keep:1";
  before = o;
  setenv("EE_TRANSPORT", "bogus", 1);
  ee_code rc = ee_client_options_from_env(&o, &st);
  CHECK(rc == EE_INVALID_ARGUMENT && strstr(st.message, "EE_TRANSPORT"), "EE_TRANSPORT=bogus: %s",
        st.message);
  CHECK(memcmp(&o, &before, sizeof o) == 0, "EE_TRANSPORT=bogus changed the options");

  /* The environment's project and token reach the client. */
  setenv("EE_TRANSPORT", "rest", 1);
  ee_client_options_init(&o);
  ee_client_options_from_env(&o, &st);
  o.log_fn = on_log;
  ee_client *c = new_client(&o);
  export_store es;
  Operation *op = NULL;
  fake_reset(NULL, NULL);
  CHECK(ee_client_export_image(c, export_req(&es, "", "x"), NULL, &op, &st) == EE_OK, "env export");
  ee_message_free(op);
  fake_start *s;
  size_t n = fake_starts(&s);
  if (n == 1) {
    CHECK(strcmp(((ExportReq *)s[0].request)->project, "projects/envproj") == 0, "project %s",
          ((ExportReq *)s[0].request)->project);
    const char *a = fake_header(&s[0], "authorization");
    CHECK(a && strcmp(a, "Bearer envtoken") == 0, "authorization %s", a ? a : "(none)");
  }
  fake_starts_free(s, n);
  free_client(c);
  unsetenv("EE_TRANSPORT");
  unsetenv("EE_ENDPOINT");
  unsetenv("EE_PROJECT");
  unsetenv("EE_ACCESS_TOKEN");

  /* Bad endpoints: INVALID_ARGUMENT naming the endpoint, no client. */
  static const char *const bad[] = {
      "ftp://x",   "http://",     "http://h:0",   "http://h:99999", "http://h/path",   "https://",
      "http://h:", "http://[::1", "http://h:80x", "http://h?q=1",   "http://h:1234567"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ee_client_options_init(&o);
    o.endpoint = bad[i];
    c = (ee_client *)1;
    rc = eei_client_new_with_ops(&o, &fake_transport_ops, &c, &st);
    CHECK(rc == EE_INVALID_ARGUMENT && c == NULL, "endpoint %s: %s", bad[i], ee_code_name(rc));
    CHECK(strstr(st.message, "endpoint") && strstr(st.message, bad[i]), "endpoint %s: message %s",
          bad[i], st.message);
  }
  static const char *const good[] = {"http://h:1", "https://h", "https://h:443/", "http://[::1]:80",
                                     "http://127.0.0.1:65535"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    ee_client_options_init(&o);
    o.endpoint = good[i];
    c = NULL;
    rc = eei_client_new_with_ops(&o, &fake_transport_ops, &c, &st);
    CHECK(rc == EE_OK && c, "endpoint %s: %s", good[i], st.message);
    ee_client_free(c);
  }
  ee_transport_kind k;
  CHECK(ee_transport_from_name("grpc", &k) == 0 && k == EE_TRANSPORT_GRPC &&
            ee_transport_from_name("GRPC", &k) == -1 && ee_transport_from_name(NULL, &k) == -1,
        "ee_transport_from_name");
  ee_client_free(NULL);
}

/* ------------------------------------------------------------------ 12. list iterator */

typedef struct pager {
  bool repeat; /* the server keeps answering the same nextPageToken */
} pager;

static void page_responder(void *user, const fake_start *s, fake_reply *r) {
  pager *pg = user;
  const Google__Longrunning__ListOperationsRequest *q = (const void *)s->request;
  static const char *const pages[3][3] = {
      {"op1", "op2", NULL}, {"op3", NULL}, {"op4", "op5", NULL}};
  static const char *const next[3] = {"p2", "p3", ""};
  int page = strcmp(q->page_token, "p2") == 0 ? 1 : strcmp(q->page_token, "p3") == 0 ? 2 : 0;
  Operation ops[3];
  Operation *ptrs[3];
  Google__Longrunning__ListOperationsResponse resp =
      GOOGLE__LONGRUNNING__LIST_OPERATIONS_RESPONSE__INIT;
  size_t n = 0;
  for (; pages[page][n]; n++) {
    Operation op = GOOGLE__LONGRUNNING__OPERATION__INIT;
    ops[n] = op;
    ops[n].name = (char *)pages[page][n];
    ptrs[n] = &ops[n];
  }
  resp.n_operations = n;
  resp.operations = ptrs;
  resp.next_page_token = (char *)(pg->repeat ? "same" : next[page]);
  memset(r, 0, sizeof *r);
  r->response = fake_dup(&resp.base);
}

static void case_list(void) {
  ee_client_options o;
  base_options(&o);
  o.project = "lp";
  ee_client *c = new_client(&o);
  pager pg = {false};
  fake_reset(page_responder, &pg);
  Google__Longrunning__ListOperationsRequest l = GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
  l.filter = "done=false";
  ee_operation_iter *it = NULL;
  ee_status st;
  CHECK(ee_client_list_all(c, &l, NULL, &it, &st) == EE_OK, "list_all: %s", st.message);
  CHECK(ee_operation_iter_pages(it) == 0 && fake_n_starts() == 0, "fetched before next");
  static const char *const want[] = {"op1", "op2", "op3", "op4", "op5"};
  size_t got = 0;
  for (;;) {
    const Operation *op = NULL;
    ee_code rc = ee_operation_iter_next(it, &op, &st);
    CHECK(rc == EE_OK, "next: %s", st.message);
    if (rc != EE_OK || !op) break;
    CHECK(got < 5 && strcmp(op->name, want[got]) == 0, "op %zu is %s", got, op->name);
    got++;
  }
  CHECK(got == 5, "%zu operations, want 5", got);
  CHECK(ee_operation_iter_pages(it) == 3, "%zu pages, want 3", ee_operation_iter_pages(it));
  const Operation *op = (const Operation *)1;
  CHECK(ee_operation_iter_next(it, &op, &st) == EE_OK && !op, "next after the end");
  ee_operation_iter_free(it);
  fake_start *s;
  size_t n = fake_starts(&s);
  CHECK(n == 3, "%zu page requests", n);
  for (size_t i = 0; i < n; i++) {
    const Google__Longrunning__ListOperationsRequest *q = (const void *)s[i].request;
    CHECK(strcmp(q->name, "projects/lp") == 0 && strcmp(q->filter, "done=false") == 0,
          "page %zu request: name %s filter %s", i, q->name, q->filter);
  }
  fake_starts_free(s, n);

  /* The same nextPageToken again: an error, not a loop. */
  pg.repeat = true;
  fake_reset(page_responder, &pg);
  CHECK(ee_client_list_all(c, &l, NULL, &it, &st) == EE_OK, "list_all");
  ee_code rc = EE_OK;
  for (int i = 0; i < 100 && rc == EE_OK; i++) rc = ee_operation_iter_next(it, &op, &st);
  CHECK(rc != EE_OK && strstr(st.message, "nextPageToken"), "repeated token: %s (%s)",
        ee_code_name(rc), st.message);
  CHECK(fake_n_starts() <= 3, "%zu page requests for a repeating token", fake_n_starts());
  ee_operation_iter_free(it);
  free_client(c);
}

/* ------------------------------------------------------------------ 13. wait_done */

typedef struct waiter_script {
  bool wait_supported;
  int gets_until_done; /* GetOperation answers done from this call on; 0 = never */
  int gets, waits;
} waiter_script;

static ProtobufCMessage *operation(const char *name, bool done, double progress) {
  Google__Earthengine__V1__OperationMetadata md = GOOGLE__EARTHENGINE__V1__OPERATION_METADATA__INIT;
  md.progress = progress;
  md.state = done ? GOOGLE__EARTHENGINE__V1__OPERATION_METADATA__STATE__SUCCEEDED
                  : GOOGLE__EARTHENGINE__V1__OPERATION_METADATA__STATE__RUNNING;
  uint8_t buf[256];
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = "type.googleapis.com/google.earthengine.v1.OperationMetadata";
  any.value.data = buf;
  any.value.len = protobuf_c_message_pack(&md.base, buf);
  Operation op = GOOGLE__LONGRUNNING__OPERATION__INIT;
  op.name = (char *)name;
  op.done = done;
  op.metadata = &any;
  return fake_dup(&op.base);
}

static void wait_responder(void *user, const fake_start *s, fake_reply *r) {
  waiter_script *w = user;
  memset(r, 0, sizeof *r);
  if (strcmp(s->rpc, RPC_WAIT) == 0) {
    w->waits++;
    if (!w->wait_supported) {
      r->code = EE_UNIMPLEMENTED;
      return;
    }
    r->response = operation("operations/w", true, 1.0);
    return;
  }
  int n = ++w->gets;
  bool done = w->gets_until_done && n >= w->gets_until_done;
  r->response = operation("operations/w", done, done ? 1.0 : 0.5);
}

typedef struct progress_log {
  int calls;
  bool done[8];
  double progress[8];
  bool had_md[8];
} progress_log;

static void on_progress(void *user, const Operation *op,
                        const Google__Earthengine__V1__OperationMetadata *md) {
  progress_log *p = user;
  if (p->calls < 8) {
    p->done[p->calls] = op->done;
    p->progress[p->calls] = md ? md->progress : -1;
    p->had_md[p->calls] = md != NULL;
  }
  p->calls++;
}

static void case_wait_done(void) {
  ee_client_options o;
  base_options(&o);
  ee_client *c = new_client(&o);
  ee_status st;
  Operation *op = NULL;

  /* No WaitOperation: Get not done twice (no change between), then done. */
  waiter_script w = {false, 3, 0, 0};
  progress_log pl = {0};
  fake_reset(wait_responder, &w);
  ee_code rc = ee_client_wait_done(c, "operations/w", 0, on_progress, &pl, &op, &st);
  CHECK(rc == EE_OK && op && op->done, "wait_done: %s", st.message);
  ee_message_free(op);
  CHECK(w.gets == 3 && w.waits == 1, "%d Get, %d Wait; want 3 and 1 (then Get only)", w.gets,
        w.waits);
  CHECK(pl.calls == 2, "progress called %d times, want 2 (one per change)", pl.calls);
  CHECK(!pl.done[0] && pl.had_md[0] && pl.progress[0] == 0.5, "first progress");
  CHECK(pl.done[1] && pl.progress[1] == 1.0, "last progress");

  /* With WaitOperation: Get (not done), then one Wait that ends it. */
  w = (waiter_script){true, 0, 0, 0};
  pl = (progress_log){0};
  fake_reset(wait_responder, &w);
  rc = ee_client_wait_done(c, "operations/w", 0, on_progress, &pl, &op, &st);
  CHECK(rc == EE_OK && op && op->done, "wait_done (Wait): %s", st.message);
  ee_message_free(op);
  CHECK(w.gets == 1 && w.waits == 1 && pl.calls == 2, "Wait: %d Get %d Wait %d progress", w.gets,
        w.waits, pl.calls);
  fake_start *s;
  size_t n = fake_starts(&s);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(s[i].rpc, RPC_WAIT) != 0) continue;
    const Google__Longrunning__WaitOperationRequest *q = (const void *)s[i].request;
    CHECK(strcmp(q->name, "operations/w") == 0 && q->timeout && q->timeout->seconds <= 60,
          "WaitOperation request");
  }
  fake_starts_free(s, n);

  /* Never done: DEADLINE_EXCEEDED, with the last operation seen. */
  w = (waiter_script){false, 0, 0, 0};
  pl = (progress_log){0};
  fake_reset(wait_responder, &w);
  int64_t t0 = eei_now_ms();
  rc = ee_client_wait_done(c, "operations/w", 300, on_progress, &pl, &op, &st);
  int64_t took = eei_now_ms() - t0;
  CHECK(rc == EE_DEADLINE_EXCEEDED, "never done: %s", ee_code_name(rc));
  CHECK(op && !op->done, "never done: the last operation seen is returned");
  ee_message_free(op);
  CHECK(took <= 300 + SLACK_MS, "never done: took %" PRId64 " ms", took);
  CHECK(pl.calls == 1, "never done: %d progress calls, want 1", pl.calls);
  rc = ee_client_wait_done(c, "", 300, NULL, NULL, &op, &st);
  CHECK(rc == EE_INVALID_ARGUMENT && !op, "empty name");
  free_client(c);
}

/* ------------------------------------------------------------------ 14. many threads */

static void echo_responder(void *user, const fake_start *s, fake_reply *r) {
  (void)user;
  const Google__Longrunning__GetOperationRequest *q = (const void *)s->request;
  Operation op = GOOGLE__LONGRUNNING__OPERATION__INIT;
  op.name = q->name;
  memset(r, 0, sizeof *r);
  r->response = fake_dup(&op.base);
}

typedef struct worker {
  ee_client *c;
  int id;
  int ok;
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  for (int i = 0; i < 500; i++) {
    char name[64];
    snprintf(name, sizeof name, "operations/t%d-%d", w->id, i);
    Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
    g.name = name;
    Operation *op = NULL;
    ee_status st;
    if (ee_client_get_operation(w->c, &g, NULL, &op, &st) == EE_OK && op &&
        strcmp(op->name, name) == 0)
      w->ok++;
    ee_message_free(op);
  }
  return NULL;
}

static void case_threads(void) {
  fake_reset(echo_responder, NULL);
  ee_client_options o;
  base_options(&o);
  o.log_fn = NULL;
  o.access_token = "t";
  ee_client *c = new_client(&o);
  pthread_t th[16];
  worker w[16];
  for (int i = 0; i < 16; i++) {
    w[i] = (worker){c, i, 0};
    pthread_create(&th[i], NULL, worker_main, &w[i]);
  }
  int ok = 0;
  for (int i = 0; i < 16; i++) {
    pthread_join(th[i], NULL);
    ok += w[i].ok;
  }
  CHECK(ok == 8000, "%d of 8000 calls OK with their own answer", ok);
  free_client(c); /* a blocking call returns while its done still runs: count after */
  CHECK(fake_n_starts() == 8000 && fake_n_dones() == 8000, "%zu starts, %zu dones", fake_n_starts(),
        fake_n_dones());
}

/* ------------------------------------------------------------------ main */

static const struct {
  const char *name;
  void (*fn)(void);
} cases[] = {
    {"unavailable", case_unavailable},
    {"codes", case_codes},
    {"null_status", case_null_status},
    {"jitter", case_jitter},
    {"retry_info", case_retry_info},
    {"request_id", case_request_id},
    {"validation", case_validation},
    {"defaults", case_defaults},
    {"token", case_token},
    {"headers", case_headers},
    {"deadline", case_deadline},
    {"free_busy", case_free_busy},
    {"cancel", case_cancel},
    {"log", case_log},
    {"options", case_options},
    {"list", case_list},
    {"wait_done", case_wait_done},
    {"threads", case_threads},
};

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int ran = 0;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    if (argc > 1 && strcmp(argv[1], cases[i].name) != 0) continue;
    printf("-- %s\n", cases[i].name);
    cases[i].fn();
    ran++;
  }
  fake_reset(NULL, NULL);
  logs_reset();
  if (!ran) {
    fprintf(stderr, "no case named %s\n", argc > 1 ? argv[1] : "");
    return 2;
  }
  return check_report("client unit");
}
