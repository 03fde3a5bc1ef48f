/* The scripted transport of fake_transport.h. One global lock guards the records and
 * every fake transport's attempt list: the tests need consistency, not speed. */
#include "fake_transport.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct eei_transport {
  pthread_t thread;
  pthread_cond_t cv; /* CLOCK_MONOTONIC: attempt list changed or one is due */
  eei_attempt *live; /* started, done not returned yet */
  size_t n_prepared; /* prepared calls not freed yet */
  bool stop;
};

struct eei_prepared {
  eei_transport *t;
  const ee_route *route;
  uint8_t *bytes;
  size_t len;
  int attempts; /* started so far */
  int running;  /* started, done not returned */
  char target[256];
};

struct eei_attempt {
  eei_transport *t;
  eei_prepared *p;
  int64_t due_ms; /* INT64_MAX: only cancel or destroy ends it */
  fake_reply reply;
  bool cancelled;
  bool running; /* done is being called */
  eei_attempt_done_fn done;
  void *user;
  eei_attempt *next;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static fake_responder g_responder;
static void *g_user;
static fake_start *g_starts;
static size_t g_n_starts, g_cap_starts;
static size_t g_cancels, g_prepares, g_dones, g_violations, g_live_attempts;

/* Called with g_mu held. */
__attribute__((format(printf, 1, 2))) static void violation(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("FAKE TRANSPORT CONTRACT: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  va_end(ap);
  g_violations++;
}

ProtobufCMessage *fake_dup(const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *b = malloc(n ? n : 1);
  protobuf_c_message_pack(m, b);
  ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, n, b);
  free(b);
  return copy;
}

static void free_start(fake_start *s) {
  for (size_t i = 0; i < s->n_headers; i++) {
    free(s->header_names[i]);
    free(s->header_values[i]);
  }
  if (s->request) protobuf_c_message_free_unpacked(s->request, NULL);
}

void fake_reset(fake_responder fn, void *user) {
  pthread_mutex_lock(&g_mu);
  for (size_t i = 0; i < g_n_starts; i++) free_start(&g_starts[i]);
  free(g_starts);
  g_starts = NULL;
  g_n_starts = g_cap_starts = 0;
  g_cancels = g_prepares = g_dones = 0;
  g_responder = fn;
  g_user = user;
  pthread_mutex_unlock(&g_mu);
}

/* Shallow copies: the strings and requests stay owned by the records until fake_reset. */
size_t fake_starts(fake_start **out) {
  pthread_mutex_lock(&g_mu);
  size_t n = g_n_starts;
  *out = malloc((n ? n : 1) * sizeof **out);
  if (n) memcpy(*out, g_starts, n * sizeof **out);
  pthread_mutex_unlock(&g_mu);
  return n;
}

void fake_starts_free(fake_start *s, size_t n) {
  (void)n;
  free(s);
}

static size_t read_counter(const size_t *c) {
  pthread_mutex_lock(&g_mu);
  size_t v = *c;
  pthread_mutex_unlock(&g_mu);
  return v;
}

size_t fake_n_starts(void) {
  return read_counter(&g_n_starts);
}
size_t fake_n_cancels(void) {
  return read_counter(&g_cancels);
}
size_t fake_n_prepares(void) {
  return read_counter(&g_prepares);
}
size_t fake_n_dones(void) {
  return read_counter(&g_dones);
}
size_t fake_n_live_attempts(void) {
  return read_counter(&g_live_attempts);
}
size_t fake_violations(void) {
  return read_counter(&g_violations);
}

const char *fake_header(const fake_start *s, const char *name) {
  for (size_t i = 0; i < s->n_headers; i++)
    if (strcmp(s->header_names[i], name) == 0) return s->header_values[i];
  return NULL;
}

/* ---- the event thread ---- */

static void unlink_attempt(eei_transport *t, eei_attempt *a) {
  eei_attempt **pp = &t->live;
  while (*pp != a) pp = &(*pp)->next;
  *pp = a->next;
}

/* Runs done for a (g_mu not held), then frees what the receiver left. */
static void complete(eei_attempt *a) {
  eei_attempt_result res;
  memset(&res, 0, sizeof res);
  ee_status_clear(&res.status);
  res.sent = !a->reply.not_sent;
  res.retry_after_ms = a->reply.retry_after_ms > 0 ? a->reply.retry_after_ms : -1;
  if (a->reply.code == EE_OK) {
    res.response = a->reply.response ? a->reply.response
                                     : protobuf_c_message_unpack(a->p->route->response, NULL, 0,
                                                                 (const uint8_t *)"");
  } else {
    ee_status_set(&res.status, a->reply.code, "%s",
                  a->reply.message ? a->reply.message : ee_code_name(a->reply.code));
    res.status.http_status = a->reply.http_status;
    res.status.retry_delay_ms = a->reply.retry_delay_ms;
    if (a->reply.response) protobuf_c_message_free_unpacked(a->reply.response, NULL);
  }
  a->reply.response = NULL;
  a->p = NULL; /* see event_main */
  a->done(a->user, &res);
  if (res.response) protobuf_c_message_free_unpacked(res.response, NULL);
}

static eei_attempt *next_due(eei_transport *t, int64_t *next_ms) {
  int64_t now = eei_now_ms();
  *next_ms = INT64_MAX;
  for (eei_attempt *a = t->live; a; a = a->next) {
    if (a->running) continue;
    if (a->due_ms <= now) return a;
    if (a->due_ms < *next_ms) *next_ms = a->due_ms;
  }
  return NULL;
}

static void *event_main(void *arg) {
  eei_transport *t = arg;
  pthread_mutex_lock(&g_mu);
  for (;;) {
    int64_t next_ms;
    eei_attempt *a = next_due(t, &next_ms);
    if (a) {
      /* done may free the prepared call (the last attempt's done ends the call): from
       * here on only the attempt is touched, never a->p. */
      a->running = true;
      a->p->running--;
      pthread_mutex_unlock(&g_mu);
      complete(a);
      pthread_mutex_lock(&g_mu);
      g_dones++;
      g_live_attempts--;
      unlink_attempt(t, a);
      free(a);
      pthread_cond_broadcast(&t->cv);
      continue;
    }
    if (t->stop && !t->live) break;
    if (next_ms == INT64_MAX) {
      pthread_cond_wait(&t->cv, &g_mu);
    } else {
      struct timespec ts = {(time_t)(next_ms / 1000), (long)(next_ms % 1000) * 1000000L};
      pthread_cond_timedwait(&t->cv, &g_mu, &ts);
    }
  }
  pthread_mutex_unlock(&g_mu);
  return NULL;
}

/* ---- the ops ---- */

static ee_code fake_create(const eei_transport_config *cfg, eei_transport **out, ee_status *st) {
  (void)cfg;
  eei_transport *t = calloc(1, sizeof *t);
  if (!t) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&t->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&t->thread, NULL, event_main, t) != 0) {
    pthread_cond_destroy(&t->cv);
    free(t);
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "cannot start the fake event thread");
  }
  *out = t;
  return EE_OK;
}

static void end_early(eei_attempt *a, ee_code code, const char *message) {
  if (a->reply.response) protobuf_c_message_free_unpacked(a->reply.response, NULL);
  a->reply.response = NULL;
  a->reply.code = code;
  a->reply.message = message;
  a->reply.http_status = 0;
  a->reply.retry_delay_ms = 0;
  a->reply.retry_after_ms = 0;
}

static void fake_destroy(eei_transport *t) {
  if (!t) return;
  pthread_mutex_lock(&g_mu);
  for (eei_attempt *a = t->live; a; a = a->next) {
    if (a->running || a->cancelled) continue;
    a->cancelled = true;
    a->due_ms = 0;
    end_early(a, EE_CANCELLED, "the transport is being destroyed");
  }
  t->stop = true;
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&g_mu);
  pthread_join(t->thread, NULL);
  pthread_mutex_lock(&g_mu);
  if (t->n_prepared) violation("%zu prepared call(s) not freed before destroy", t->n_prepared);
  pthread_mutex_unlock(&g_mu);
  pthread_cond_destroy(&t->cv);
  free(t);
}

static ee_code new_prepared(eei_transport *t, const ee_route *route, const uint8_t *bytes,
                            size_t len, eei_prepared **out, ee_status *st) {
  eei_prepared *p = calloc(1, sizeof *p);
  if (!p) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  p->bytes = malloc(len ? len : 1);
  if (!p->bytes) {
    free(p);
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (len) memcpy(p->bytes, bytes, len);
  p->len = len;
  p->t = t;
  p->route = route;
  snprintf(p->target, sizeof p->target, "fake%s", route->grpc_path);
  pthread_mutex_lock(&g_mu);
  t->n_prepared++;
  g_prepares++;
  pthread_mutex_unlock(&g_mu);
  *out = p;
  return EE_OK;
}

/* Packs the request now, as the gRPC transport does: later attempts see these bytes,
 * never the caller's struct. */
static ee_code fake_prepare(eei_transport *t, const ee_route *route, const ProtobufCMessage *req,
                            eei_prepared **out, ee_status *st) {
  *out = NULL;
  if (!req || req->descriptor != route->request)
    return ee_status_set(st, EE_INTERNAL, "fake prepare: request of the wrong type");
  size_t n = protobuf_c_message_get_packed_size(req);
  uint8_t *b = malloc(n ? n : 1);
  if (!b) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  protobuf_c_message_pack(req, b);
  ee_code rc = new_prepared(t, route, b, n, out, st);
  free(b);
  return rc;
}

static ee_code fake_prepare_bytes(eei_transport *t, const ee_route *route, const uint8_t *bytes,
                                  size_t len, const char *request_params, eei_prepared **out,
                                  ee_status *st) {
  (void)request_params;
  *out = NULL;
  return new_prepared(t, route, bytes, len, out, st);
}

static ee_code fake_describe(const eei_prepared *p, const eei_header *headers, size_t n_headers,
                             ee_buf *out, ee_status *st) {
  ee_code rc = ee_buf_printf(out, st, "{\"transport\":\"fake\",\"method\":\"%s\",\"headers\":{",
                             p->route->grpc_path);
  for (size_t i = 0; i < n_headers && rc == EE_OK; i++)
    rc = ee_buf_printf(out, st, "%s\"%s\":\"%s\"", i ? "," : "", headers[i].name,
                       headers[i].secret ? "REDACTED" : headers[i].value);
  if (rc == EE_OK) rc = ee_buf_printf(out, st, "},\"bytes\":%zu}", p->len);
  return rc;
}

static const char *fake_target(const eei_prepared *p, const char **http_method) {
  if (http_method) *http_method = "POST";
  return p->target;
}

/* Records the start (g_mu held). */
static fake_start *record_start(eei_prepared *p, const eei_header *headers, size_t n,
                                int64_t deadline_ms) {
  if (g_n_starts == g_cap_starts) {
    g_cap_starts = g_cap_starts ? g_cap_starts * 2 : 64;
    g_starts = realloc(g_starts, g_cap_starts * sizeof *g_starts);
  }
  fake_start *s = &g_starts[g_n_starts++];
  memset(s, 0, sizeof *s);
  s->rpc = p->route->grpc_path;
  s->call_attempt = p->attempts;
  s->at_ms = eei_now_ms();
  s->deadline_ms = deadline_ms;
  if (n > FAKE_MAX_HEADERS) {
    violation("%zu headers (at most %d expected)", n, FAKE_MAX_HEADERS);
    n = FAKE_MAX_HEADERS;
  }
  for (size_t i = 0; i < n; i++) {
    s->header_names[i] = strdup(headers[i].name);
    s->header_values[i] = strdup(headers[i].value);
  }
  s->n_headers = n;
  s->request = protobuf_c_message_unpack(p->route->request, NULL, p->len, p->bytes);
  if (!s->request) violation("the prepared bytes of %s do not unpack", s->rpc);
  return s;
}

static ee_code fake_start_attempt(eei_transport *t, eei_prepared *p, const eei_header *headers,
                                  size_t n_headers, int64_t deadline_ms, eei_attempt_done_fn done,
                                  void *user, eei_attempt **out, ee_status *st) {
  eei_attempt *a = calloc(1, sizeof *a);
  if (!a) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_lock(&g_mu);
  if (p->t != t) violation("start on a prepared call of another transport");
  if (p->running)
    violation("attempt %d of %s started while one runs", p->attempts + 1, p->route->grpc_path);
  p->attempts++;
  p->running++;
  fake_start *s = record_start(p, headers, n_headers, deadline_ms);
  if (g_responder) g_responder(g_user, s, &a->reply);
  a->t = t;
  a->p = p;
  a->done = done;
  a->user = user;
  a->due_ms = a->reply.hang ? INT64_MAX : s->at_ms + a->reply.delay_ms;
  if (deadline_ms && a->due_ms > deadline_ms) {
    a->due_ms = deadline_ms;
    end_early(a, EE_DEADLINE_EXCEEDED, "the attempt's deadline passed");
  }
  a->next = t->live;
  t->live = a;
  g_live_attempts++;
  if (out) *out = a;
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&g_mu);
  return EE_OK;
}

static void fake_cancel(eei_transport *t, eei_attempt *a) {
  pthread_mutex_lock(&g_mu);
  eei_attempt *x = t->live;
  while (x && x != a) x = x->next;
  if (!x) {
    violation("cancel of an attempt whose done already returned");
  } else if (!a->running && !a->cancelled) {
    a->cancelled = true;
    a->due_ms = 0;
    end_early(a, EE_CANCELLED, "cancelled");
    g_cancels++;
    pthread_cond_broadcast(&t->cv);
  }
  pthread_mutex_unlock(&g_mu);
}

static void fake_prepared_free(eei_prepared *p) {
  if (!p) return;
  pthread_mutex_lock(&g_mu);
  if (p->running) violation("prepared call freed while an attempt on it runs");
  p->t->n_prepared--;
  pthread_mutex_unlock(&g_mu);
  free(p->bytes);
  free(p);
}

/* No post (the timer thread ends calls itself) and no drivers (blocking callers wait). */
const eei_transport_ops fake_transport_ops = {
    .name = "fake",
    .create = fake_create,
    .destroy = fake_destroy,
    .prepare = fake_prepare,
    .prepare_bytes = fake_prepare_bytes,
    .describe = fake_describe,
    .target = fake_target,
    .start = fake_start_attempt,
    .cancel = fake_cancel,
    .prepared_free = fake_prepared_free,
};
