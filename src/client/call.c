/* The call state machine. A call is prepared once, then runs attempts on its transport:
 *
 *   start ──▶ ATTEMPT ──done──▶ (ok) ───────────────────────────────▶ FINISH
 *               ▲                (retryable, budget left) ──▶ BACKOFF (timer)
 *               └────────────────────────────timer fires───────────────┘
 *
 * Every step runs on a client thread (the transport's event thread for `done`, the timer
 * thread for a retry) except the first attempt, which the caller's thread launches. The
 * call's mutex orders `done`, `cancel` and the launch of an attempt; the transport frees
 * an attempt only after its done returned, so cancel (under the same mutex, only while
 * an attempt is recorded) never touches a freed attempt. */
#define _GNU_SOURCE /* syscall */
#include <inttypes.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client_internal.h"

struct ee_call {
  _Atomic int refs; /* the machine's (until finish) + the caller's handle (until release) */
  ee_client *client;
  const ee_route *route;
  eei_prepared *prepared;
  pthread_mutex_t mu;
  eei_attempt *attempt; /* running attempt, or NULL */
  eei_timer backoff;
  int attempt_no; /* attempts launched so far */
  int max_attempts;
  int64_t deadline_ms; /* whole call, eei_now_ms clock */
  int64_t attempt_started_ms;
  bool cancelled;
  bool idempotent;      /* false: ExportImage without a requestId */
  bool refreshed_token; /* the one UNAUTHENTICATED refresh was spent */
  bool force_refresh;   /* the next attempt asks for a new token */
  uint64_t token_gen;   /* generation of the credentials' token the last attempt sent */
  eei_done done;
  char *quota_project;   /* per-call x-goog-user-project, or NULL for the client's */
  eei_call *prev, *next; /* in client->calls */
};

/* ---- the client's list of live calls (ee_client_free cancels and waits for them) ---- */

static bool register_call(ee_client *c, eei_call *call) {
  bool ok;
  pthread_mutex_lock(&c->mu);
  ok = !c->closing;
  if (ok) {
    call->next = c->calls;
    if (c->calls) c->calls->prev = call;
    c->calls = call;
    c->n_calls++;
  }
  pthread_mutex_unlock(&c->mu);
  return ok;
}

static void unregister_call(ee_client *c, eei_call *call) {
  pthread_mutex_lock(&c->mu);
  if (call->prev)
    call->prev->next = call->next;
  else
    c->calls = call->next;
  if (call->next) call->next->prev = call->prev;
  if (--c->n_calls == 0) pthread_cond_broadcast(&c->idle);
  pthread_mutex_unlock(&c->mu);
}

static void call_free(eei_call *call) {
  if (call->prepared) call->client->ops->prepared_free(call->prepared);
  free(call->quota_project);
  pthread_mutex_destroy(&call->mu);
  free(call);
}

static void call_unref(eei_call *call) {
  if (atomic_fetch_sub_explicit(&call->refs, 1, memory_order_acq_rel) == 1) call_free(call);
}

void eei_call_release(eei_call *call) {
  if (call) call_unref(call);
}

/* Hands the result to the callback of the call's kind. */
static void deliver(const eei_done *d, ProtobufCMessage *resp, const ee_status *st) {
  switch (d->kind) {
    case EEI_DONE_MESSAGE: d->fn.message(d->user, resp, st); return;
    case EEI_DONE_OPERATION:
      d->fn.operation(d->user, (Google__Longrunning__Operation *)resp, st);
      return;
    case EEI_DONE_LIST:
      d->fn.list(d->user, (Google__Longrunning__ListOperationsResponse *)resp, st);
      return;
    case EEI_DONE_EMPTY:
      ee_message_free(resp); /* google.protobuf.Empty: nothing to hand over */
      d->fn.empty(d->user, st);
      return;
  }
}

/* Ends the call: the user's callback, then the machine lets go of it (a caller's handle
 * may keep the memory for a while). The prepared call is freed while the call is still
 * registered: once the list is empty, ee_client_free destroys the transport that owns
 * it. Nothing touches the client after unregister_call. */
static void finish(eei_call *call, ProtobufCMessage *resp, const ee_status *st) {
  ee_client *c = call->client;
  deliver(&call->done, resp, st);
  c->ops->prepared_free(call->prepared);
  call->prepared = NULL;
  unregister_call(c, call);
  call_unref(call);
}

/* ---- logging ---- */

static void log_attempt(eei_call *call, const ee_status *st, int64_t retry_delay_ms) {
  ee_client *c = call->client;
  if (!c->opts.log_fn) return;
  const char *http_method = "POST";
  ee_call_log e;
  e.transport = c->ops->name;
  e.rpc = call->route->grpc_path;
  e.target = c->ops->target(call->prepared, &http_method);
  e.method = http_method;
  e.attempt = call->attempt_no;
  e.code = st->code;
  e.http_status = st->http_status;
  e.message = st->code == EE_OK ? "" : st->message;
  e.duration_ms = (double)(eei_now_ms() - call->attempt_started_ms);
  e.retry_delay_ms = retry_delay_ms;
  c->opts.log_fn(c->opts.log_user, &e);
}

/* ---- retry policy ---- */

static bool retryable_code(const ee_status *st) {
  switch (st->code) {
    case EE_UNAVAILABLE:
    case EE_RESOURCE_EXHAUSTED:
    case EE_DEADLINE_EXCEEDED: /* of this attempt; the call's own deadline is checked apart */
      return true;
    case EE_INTERNAL:
    case EE_UNKNOWN: /* a bare 500 from a front end */ return st->http_status == 500;
    default: return false;
  }
}

/* Full jitter: uniform in [0, min(max, initial * multiplier^(n-1))]. */
static int64_t backoff_ms(const ee_retry_policy *p, int retry_no) {
  double cap = p->initial_backoff_ms;
  for (int i = 1; i < retry_no && cap < p->max_backoff_ms; i++) cap *= p->multiplier;
  if (cap > p->max_backoff_ms) cap = p->max_backoff_ms;
  if (cap < 1) return 0;
  return (int64_t)(eei_random64() % ((uint64_t)cap + 1));
}

/* The delay before the next attempt, or -1 when the call must end with `st`. */
static int64_t next_delay(eei_call *call, const eei_attempt_result *res) {
  const ee_status *st = &res->status;
  ee_client *c = call->client;
  if (call->cancelled) return -1;
  if (st->code == EE_UNAUTHENTICATED && eei_client_refreshes_tokens(c) && !call->refreshed_token) {
    call->refreshed_token = true;
    call->force_refresh = true;
    return 0;
  }
  if (!retryable_code(st)) return -1;
  if (!call->idempotent && res->sent) return -1;
  if (call->attempt_no >= call->max_attempts) return -1;
  int64_t delay = backoff_ms(&c->opts.retry, call->attempt_no);
  int64_t asked =
      st->retry_delay_ms > res->retry_after_ms ? st->retry_delay_ms : res->retry_after_ms;
  if (asked > delay) delay = asked;
  if (call->deadline_ms && eei_now_ms() + delay >= call->deadline_ms) return -1;
  return delay;
}

/* The status a call ends with when retries stop: the last error, saying how many
 * attempts it took when there were several. */
static void final_status(eei_call *call, ee_status *st) {
  if (call->cancelled && st->code != EE_CANCELLED) {
    ee_status_set(st, EE_CANCELLED, "the call was cancelled");
    return;
  }
  if (call->attempt_no > 1 && st->code != EE_OK && !call->cancelled)
    ee_status_prefix(st, "after %d attempts", call->attempt_no);
}

/* ---- attempts ---- */

static void on_attempt_done(void *user, eei_attempt_result *res);
static void launch_from_timer(void *arg);

/* Launches the next attempt. Returns EE_OK, or the error that ends the call (the caller
 * decides whether done runs). */
static ee_code launch(eei_call *call, ee_status *st) {
  ee_client *c = call->client;
  ee_buf token;
  eei_header headers[6];
  size_t n = 0;
  ee_buf_init(&token, 64 << 10);
  pthread_mutex_lock(&call->mu);
  bool refresh = call->force_refresh;
  call->force_refresh = false;
  bool cancelled = call->cancelled;
  pthread_mutex_unlock(&call->mu);
  if (cancelled) {
    ee_buf_free(&token);
    return ee_status_set(st, EE_CANCELLED, "the call was cancelled");
  }
  /* The token source may block (a refresh): not under the call's lock. */
  ee_code rc = eei_attempt_headers(c, refresh, false, &call->token_gen, &token, headers, &n, st);
  if (rc == EE_OK && call->quota_project)
    eei_set_header(headers, &n, "x-goog-user-project", call->quota_project);
  if (rc == EE_OK) {
    int64_t now = eei_now_ms();
    int64_t deadline = now + c->opts.attempt_timeout_ms;
    if (call->deadline_ms && call->deadline_ms < deadline) deadline = call->deadline_ms;
    pthread_mutex_lock(&call->mu);
    if (call->cancelled) {
      rc = ee_status_set(st, EE_CANCELLED, "the call was cancelled");
    } else {
      call->attempt_no++;
      call->attempt_started_ms = now;
      rc = c->ops->start(c->transport, call->prepared, headers, n, deadline, on_attempt_done, call,
                         &call->attempt, st);
      if (rc != EE_OK) call->attempt = NULL;
    }
    pthread_mutex_unlock(&call->mu);
  }
  /* The token text is no longer needed: wipe it before the buffer goes back. */
  if (token.data) memset(token.data, 0, token.cap);
  ee_buf_free(&token);
  return rc;
}

/* A call that ends on the timer thread (cancelled during a backoff, or its retry could
 * not start) finishes on a completion thread when the transport can take it there. */
typedef struct posted_end {
  eei_call *call;
  ee_status st;
} posted_end;

static void finish_posted(void *arg) {
  posted_end *pe = arg;
  finish(pe->call, NULL, &pe->st);
  free(pe);
}

static void launch_from_timer(void *arg) {
  eei_call *call = arg;
  ee_client *c = call->client;
  posted_end *pe = malloc(sizeof *pe);
  ee_status fallback, *st = pe ? &pe->st : &fallback;
  if (launch(call, st) == EE_OK) {
    free(pe);
    return;
  }
  if (pe) {
    pe->call = call;
    if (c->ops->post && c->ops->post(c->transport, finish_posted, pe) == EE_OK) return;
    fallback = pe->st;
    free(pe);
  }
  finish(call, NULL, &fallback);
}

static void on_attempt_done(void *user, eei_attempt_result *res) {
  eei_call *call = user;
  pthread_mutex_lock(&call->mu);
  call->attempt = NULL;
  int64_t delay = res->status.code == EE_OK ? -1 : next_delay(call, res);
  pthread_mutex_unlock(&call->mu);
  log_attempt(call, &res->status, delay);
  if (res->status.code == EE_OK) {
    ProtobufCMessage *resp = res->response;
    res->response = NULL;
    finish(call, resp, &res->status);
    return;
  }
  if (delay >= 0) {
    /* Queued under the call's lock, so a cancel from now on finds it and fires it. */
    pthread_mutex_lock(&call->mu);
    if (call->cancelled)
      delay = -1;
    else
      eei_timer_add(call->client->timers, &call->backoff, eei_now_ms() + delay);
    pthread_mutex_unlock(&call->mu);
  }
  if (delay < 0) {
    pthread_mutex_lock(&call->mu); /* cancelled is written under it by eei_call_cancel */
    final_status(call, &res->status);
    pthread_mutex_unlock(&call->mu);
    finish(call, NULL, &res->status);
  }
}

void eei_call_cancel(eei_call *call) {
  if (!call) return;
  pthread_mutex_lock(&call->mu);
  call->cancelled = true;
  if (call->attempt) call->client->ops->cancel(call->client->transport, call->attempt);
  /* Waiting out a backoff: run the timer now, which sees the cancel and finishes. Under
   * the call's lock: once it is released, done may run and free the call. */
  eei_timer_fire_now(call->client->timers, &call->backoff);
  pthread_mutex_unlock(&call->mu);
}

/* ---- starting ---- */

static int resolve_attempts(const ee_client *c, const ee_call_options *co) {
  int n = co && co->max_attempts > 0 ? co->max_attempts : c->opts.retry.max_attempts;
  return n > 0 ? n : 1;
}

static int64_t resolve_deadline(const ee_client *c, const ee_call_options *co) {
  int ms = co && co->timeout_ms > 0 ? co->timeout_ms : c->opts.call_timeout_ms;
  return ms > 0 ? eei_now_ms() + ms : 0;
}

static bool is_export(const ee_route *route) {
  return route->request == &google__earthengine__v1__export_image_request__descriptor;
}

static bool request_is_idempotent(const ee_route *route, const ProtobufCMessage *req) {
  if (!is_export(route)) return true;
  const Google__Earthengine__V1__ExportImageRequest *r = (const void *)req;
  return r->request_id && r->request_id[0];
}

/* A per-call quota project: a header value, so printable ASCII, and bounded. */
static ee_code copy_quota_project(const ee_call_options *co, char **out, ee_status *st) {
  *out = NULL;
  if (!co || !co->quota_project) return EE_OK;
  size_t n = strnlen(co->quota_project, EEI_MAX_QUOTA_PROJECT + 1);
  if (n == 0 || n > EEI_MAX_QUOTA_PROJECT)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "quota_project: %s",
                         n ? "longer than 256 bytes" : "empty (use NULL for the client's)");
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)co->quota_project[i] < 0x21 || (unsigned char)co->quota_project[i] > 0x7e)
      return ee_status_set(st, EE_INVALID_ARGUMENT,
                           "quota_project: byte %zu is not printable ASCII", i);
  *out = strdup(co->quota_project);
  return *out ? EE_OK : ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
}

ee_code eei_call_start(ee_client *c, const ee_route *route, const ProtobufCMessage *req,
                       const ee_call_options *co, eei_call_done_fn done, void *user, eei_call **out,
                       ee_status *st) {
  eei_done d = {.kind = EEI_DONE_MESSAGE, .fn.message = done, .user = user};
  return eei_call_start_done(c, route, req, co, &d, out, st);
}

/* A new call (not yet prepared, registered or launched) with the caller's reference
 * when out is asked for. */
static ee_code call_new(ee_client *c, const ee_route *route, const ee_call_options *co,
                        const eei_done *done, bool idempotent, bool want_ref, eei_call **out,
                        ee_status *st) {
  eei_call *call = calloc(1, sizeof *call);
  *out = NULL;
  if (!call) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  atomic_init(&call->refs, want_ref ? 2 : 1);
  call->client = c;
  call->route = route;
  call->done = *done;
  call->max_attempts = resolve_attempts(c, co);
  call->deadline_ms = resolve_deadline(c, co);
  call->idempotent = idempotent;
  call->backoff.fn = launch_from_timer;
  call->backoff.arg = call;
  pthread_mutex_init(&call->mu, NULL);
  ee_code rc = copy_quota_project(co, &call->quota_project, st);
  if (rc != EE_OK) {
    call_free(call);
    return rc;
  }
  *out = call;
  return EE_OK;
}

/* Registers a prepared call and launches its first attempt; frees it on failure. */
static ee_code call_go(ee_client *c, eei_call *call, eei_call **out, ee_status *st) {
  ee_code rc;
  if (!register_call(c, call)) {
    rc = ee_status_set(st, EE_CANCELLED, "the client is being freed");
    call_free(call);
    return rc;
  }
  if (out) *out = call;
  rc = launch(call, st);
  if (rc != EE_OK) {
    if (out) *out = NULL;
    unregister_call(c, call);
    call_free(call);
  }
  return rc;
}

/* Attaches a prepared call to the driver its blocking caller runs (NULL: none). */
static void bind_driver(ee_client *c, eei_call *call, eei_driver *driver) {
  if (driver) c->ops->bind_driver(call->prepared, driver);
}

static ee_code start_struct(ee_client *c, const ee_route *route, const ProtobufCMessage *req,
                            const ee_call_options *co, const eei_done *done, eei_driver *driver,
                            eei_call **out, ee_status *st) {
  const ProtobufCMessage *effective = NULL;
  void *owned = NULL;
  char request_id[EE_REQUEST_ID_MAX + 1];
  eei_call *call = NULL;
  if (out) *out = NULL;
  ee_code rc = eei_request_effective(c, route, req, &effective, &owned, request_id, st);
  if (rc == EE_OK)
    rc = call_new(c, route, co, done, request_is_idempotent(route, effective), out != NULL, &call,
                  st);
  if (rc == EE_OK) rc = c->ops->prepare(c->transport, route, effective, &call->prepared, st);
  free(owned); /* the prepared call keeps no pointer into the request */
  if (rc != EE_OK) {
    if (call) call_free(call);
    return rc;
  }
  bind_driver(c, call, driver);
  return call_go(c, call, out, st);
}

ee_code eei_call_start_done(ee_client *c, const ee_route *route, const ProtobufCMessage *req,
                            const ee_call_options *co, const eei_done *done, eei_call **out,
                            ee_status *st) {
  return start_struct(c, route, req, co, done, NULL, out, st);
}

/* Whether top-level field `number` of the encoded message is a non-empty length-delimited
 * value (the requestId of a raw ExportImage). Reads only tags and lengths; malformed
 * bytes answer false (the service will refuse them; the call is then not retried). */
static bool read_varint(const uint8_t *b, size_t len, size_t *i, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*i >= len) return false;
    uint8_t byte = b[(*i)++];
    *v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

static bool raw_has_nonempty_field(const uint8_t *b, size_t len, uint32_t number) {
  size_t i = 0;
  bool found = false;
  while (i < len) {
    uint64_t key, n;
    if (!read_varint(b, len, &i, &key)) return false;
    switch (key & 7) {
      case 0:
        if (!read_varint(b, len, &i, &n)) return false;
        break;
      case 1: n = 8; goto skip;
      case 5: n = 4; goto skip;
      case 2:
        if (!read_varint(b, len, &i, &n)) return false;
        if ((key >> 3) == number) found = n > 0; /* the last occurrence wins */
      skip:
        if (n > len - i) return false;
        i += (size_t)n;
        break;
      default: return false;
    }
  }
  return found;
}

static ee_code start_raw(ee_client *c, const ee_route *route, const eei_raw_request *raw,
                         const ee_call_options *co, const eei_done *done, eei_driver *driver,
                         eei_call **out, ee_status *st) {
  eei_call *call = NULL;
  if (out) *out = NULL;
  if (raw->len && !raw->bytes) return ee_status_set(st, EE_INVALID_ARGUMENT, "request bytes: NULL");
  /* An export is retried only when it carries a requestId (field 6), as for structs. */
  bool idempotent = !is_export(route) || raw_has_nonempty_field(raw->bytes, raw->len, 6);
  ee_code rc = call_new(c, route, co, done, idempotent, out != NULL, &call, st);
  if (rc == EE_OK)
    rc = c->ops->prepare_bytes(c->transport, route, raw->bytes, raw->len,
                               raw->request_params ? raw->request_params : "", &call->prepared, st);
  if (rc != EE_OK) {
    if (call) call_free(call);
    return rc;
  }
  bind_driver(c, call, driver);
  return call_go(c, call, out, st);
}

ee_code eei_call_start_raw(ee_client *c, const ee_route *route, const eei_raw_request *raw,
                           const ee_call_options *co, const eei_done *done, eei_call **out,
                           ee_status *st) {
  return start_raw(c, route, raw, co, done, NULL, out, st);
}

/* ---- the blocking form: a wait on the same machine ----
 *
 * Where the transport has drivers (REST), the caller takes one and runs it while it
 * waits: the call's attempts run on the caller's thread, and nothing is handed between
 * threads. Otherwise (gRPC) the caller sleeps on a one-shot futex: the client thread that
 * finishes the call makes one FUTEX_WAKE after it has published the result, and the woken
 * caller never contends for a lock the waker still holds (with a condvar signalled under
 * its mutex the caller wakes only to block again on that mutex). */

enum { WAIT_PENDING, WAIT_RESULT, WAIT_RELEASED };

typedef struct waiter {
  /* WAIT_PENDING until the result below is written; then WAIT_RESULT while the finishing
   * thread may still touch the driver, WAIT_RELEASED once it no longer does. */
  _Atomic uint32_t done;
  ProtobufCMessage *resp;
  ee_status st;
  const eei_transport_ops *ops;
  eei_driver *driver; /* NULL: the caller sleeps on the futex */
  pthread_t runner;   /* the thread running the driver */
} waiter;

static void futex_wait_while_zero(_Atomic uint32_t *word) {
  while (atomic_load_explicit(word, memory_order_acquire) == 0)
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

static void futex_set_and_wake(_Atomic uint32_t *word) {
  atomic_store_explicit(word, WAIT_RELEASED, memory_order_release);
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* A call driven by its caller usually ends on the caller's own thread; when it ends on
 * another (the timer thread: cancelled in a backoff), the driver's runner is woken, and
 * released only after that wake-up no longer needs the driver. */
static void wake_driver_waiter(waiter *w) {
  eei_driver *d = w->driver;
  const eei_transport_ops *ops = w->ops;
  if (pthread_equal(pthread_self(), w->runner)) {
    atomic_store_explicit(&w->done, WAIT_RELEASED, memory_order_release);
    return;
  }
  atomic_store_explicit(&w->done, WAIT_RESULT, memory_order_release);
  ops->driver_wake(d);
  atomic_store_explicit(&w->done, WAIT_RELEASED, memory_order_release); /* w may go now */
}

static void wake(void *user, ProtobufCMessage *resp, const ee_status *st) {
  waiter *w = user;
  w->resp = resp;
  w->st = *st;
  if (w->driver)
    wake_driver_waiter(w);
  else
    futex_set_and_wake(&w->done); /* w may be gone once the caller sees done */
}

static void wait_for(waiter *w) {
  if (!w->driver) {
    futex_wait_while_zero(&w->done);
    return;
  }
  w->ops->driver_run(w->driver, &w->done);
  while (atomic_load_explicit(&w->done, memory_order_acquire) != WAIT_RELEASED) sched_yield();
}

/* Starts the call (a struct request, or raw bytes when raw is set) and waits for it. */
static ee_code call_and_wait(ee_client *c, const ee_route *route, const ProtobufCMessage *req,
                             const eei_raw_request *raw, const ee_call_options *co,
                             ProtobufCMessage **out, ee_status *st) {
  waiter w;
  ee_status ignored; /* the token source is always handed a status to fill */
  if (!st) st = &ignored;
  *out = NULL;
  atomic_init(&w.done, WAIT_PENDING);
  w.resp = NULL;
  w.ops = c->ops;
  w.driver = c->ops->driver_get ? c->ops->driver_get(c->transport) : NULL;
  w.runner = pthread_self();
  eei_done d = {.kind = EEI_DONE_MESSAGE, .fn.message = wake, .user = &w};
  ee_code rc = raw ? start_raw(c, route, raw, co, &d, w.driver, NULL, st)
                   : start_struct(c, route, req, co, &d, w.driver, NULL, st);
  if (rc == EE_OK) {
    wait_for(&w);
    rc = w.st.code;
    *st = w.st;
    *out = w.resp;
  }
  if (w.driver) c->ops->driver_put(w.driver);
  return rc;
}

ee_code eei_call_blocking(ee_client *c, const ee_route *route, const ProtobufCMessage *req,
                          const ee_call_options *co, ProtobufCMessage **out, ee_status *st) {
  return call_and_wait(c, route, req, NULL, co, out, st);
}

ee_code eei_call_blocking_raw(ee_client *c, const ee_route *route, const eei_raw_request *raw,
                              const ee_call_options *co, ProtobufCMessage **out, ee_status *st) {
  return call_and_wait(c, route, NULL, raw, co, out, st);
}

/* ---- ee_client_free's side ---- */

void eei_client_cancel_all(ee_client *c);
void eei_client_cancel_all(ee_client *c) {
  pthread_mutex_lock(&c->mu);
  c->closing = true;
  for (eei_call *call = c->calls; call; call = call->next) eei_call_cancel(call);
  while (c->n_calls) pthread_cond_wait(&c->idle, &c->mu);
  pthread_mutex_unlock(&c->mu);
}
