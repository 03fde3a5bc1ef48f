/* REST transport: one attempt of one call is one HTTP exchange on libcurl's multi
 * interface, driven by one event thread per transport.
 *
 * Loops. A loop is one curl multi handle with its epoll set, eventfd, start queue and
 * pooled easy handles. The transport's own loop runs on its event thread and carries
 * every async call. A blocking caller takes a loop of its own (a driver: see
 * transport.h) and runs it on its thread while it waits, so its call needs no hand-off
 * to the event thread and back; drivers are pooled with their kept-alive connections.
 *
 * Threads. start() and cancel() run on any thread: they only touch a loop's queue and
 * flags under the loop's mutex and wake its runner (an eventfd). Everything curl sees runs on
 * the thread running the loop: it takes the queue, adds easy handles, removes cancelled
 * ones, lets curl work on the sockets epoll reports ready (curl_multi_socket_action),
 * reads finished transfers (curl_multi_info_read) and calls each attempt's done once. An
 * attempt is freed right after its done returned, never earlier, so a cancel() made while
 * done has not returned always touches live memory.
 *
 * Why socket_action and not curl_multi_poll + curl_multi_perform: perform visits every
 * transfer on each wake-up and checks each one's socket with a poll(2) of its own; at 16
 * calls in flight that was ~4 poll calls per call and most of the CPU per call. With
 * socket_action curl touches only the transfer whose socket is ready, and one
 * epoll_wait serves them all.
 *
 * Cost per call. One multi handle holds the connection cache, so every transfer reuses
 * an idle connection (HTTP/1.1 keep-alive, or streams on one HTTP/2 connection over TLS)
 * instead of a new TCP/TLS handshake. Easy handles are pooled with their response
 * buffer and only the per-transfer options are set again. The attempt, its curl header
 * list and the header text are one allocation; the prepared call (URL, log target,
 * body) is another. */
#include "rest_curl.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ee/wire.h"
#include "transport.h"

#define IDLE_HANDLES_MAX 64 /* easy handles kept for reuse, per loop */
#define DRIVERS_MAX                                                                         \
  64                            /* drivers at once, taken or idle: each holds a connection, \
                                   an epoll set, an eventfd and curl's wake-up pair;        \
                                   callers beyond wait on the event thread instead */
#define HOST_CONNECTIONS_MAX 64 /* HTTP/1.1: further transfers wait in curl's queue */
#define WAIT_MAX_MS 1000        /* epoll_wait returns at least this often */
#define EVENTS_MAX 64           /* epoll events taken per wait */
#define DEFAULT_MAX_RESPONSE ((size_t)32 << 20)
#define BODY_KEEP_MAX ((size_t)1 << 20) /* a pooled response buffer larger than this is freed */
#define DEADLINE_SLACK_MS 5             /* curl's timer may fire this early against our clock */
#define RETRY_AFTER_MAX_S 86400

/* An easy handle with its response buffer, reused across attempts (event thread only). */
typedef struct rest_slot {
  CURL *easy;
  struct rest_slot *next_idle;
  ee_buf body;
  size_t limit;   /* max_response_bytes */
  bool too_large; /* the write callback refused the body */
  bool no_memory; /* the write callback could not grow the buffer */
  char errbuf[CURL_ERROR_SIZE];
} rest_slot;

typedef struct rest_loop rest_loop;

struct eei_prepared {
  eei_transport *t;
  rest_loop *loop; /* where its attempts run: a driver, or NULL for the event thread's */
  const ee_route *route;
  const ee_http_binding *binding;
  const char *method; /* static (route table) */
  const char *target; /* "POST http://host/v1/..." */
  const char *url;    /* points into target, after "POST " */
  const char *body;   /* NUL-terminated JSON; NULL when no body */
  size_t body_len;
  bool empty_body; /* no body, but a method that needs Content-Length: 0 (not GET/DELETE) */
};

struct eei_attempt {
  eei_transport *t;
  rest_loop *l;
  eei_prepared *p;
  eei_attempt *qnext;       /* start queue (under l->mu) */
  eei_attempt *prev, *next; /* running list (the loop's runner) */
  rest_slot *slot;          /* while in curl */
  int64_t deadline_ms;      /* 0 = none */
  eei_attempt_done_fn done;
  void *user;
  bool cancel_requested;      /* under l->mu */
  struct curl_slist *headers; /* nodes and text live in this allocation */
};

/* One curl multi handle and what drives it. Fields marked "runner" are touched only by
 * the thread running the loop (the event thread, or a driver's taker). */
struct rest_loop {
  eei_transport *t;
  CURLM *multi;
  int epfd;    /* runner: curl's sockets and wake_fd */
  int wake_fd; /* eventfd: start/cancel/destroy -> the runner */
  pthread_mutex_t mu;
  bool stopping;    /* under mu: the transport is being destroyed (the event thread's loop) */
  bool sleeping;    /* under mu: the runner found nothing to do and may be blocked in
                       epoll_wait; the next start/cancel wakes it */
  int64_t timer_at; /* runner: curl's next timeout (eei_now_ms), -1 none */
  uint32_t *fds;    /* runner: per socket, FD_* bits (see on_socket) */
  size_t n_fds;
  eei_attempt *q_head, *q_tail; /* under mu: attempts started, not yet seen by the loop */
  bool cancel_pending;          /* under mu: some attempt asked to be cancelled */
  eei_attempt *running;         /* runner: attempts handed to curl */
  rest_slot *idle;              /* runner: pooled easy handles */
  size_t n_idle;
  rest_loop *next_idle; /* under t->mu: the transport's idle drivers */
};

struct eei_transport {
  eei_transport_config cfg; /* strings owned by the client */
  size_t max_response;
  rest_loop *main; /* the event thread's loop */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t drivers_back; /* signalled (while stopping) when drivers_out reaches 0 */
  bool stopping;               /* under mu: destroy() began; start() refuses */
  rest_loop *idle_drivers;     /* under mu */
  size_t n_idle_drivers, drivers_out;
  _Atomic uint64_t transfers, connects, handles;
};

/* ------------------------------------------------------------------------------------
 * Prepared calls
 * ---------------------------------------------------------------------------------- */

static size_t endpoint_len(const eei_transport *t) {
  size_t n = strlen(t->cfg.endpoint);
  while (n && t->cfg.endpoint[n - 1] == '/') n--; /* the target starts with '/' */
  return n;
}

/* One allocation: the struct, "METHOD URL\0", then the body and its NUL. */
static ee_code prepared_from_http(eei_transport *t, const ee_route *route,
                                  const ee_http_request *http, eei_prepared **out, ee_status *st) {
  size_t mlen = strlen(http->method), elen = endpoint_len(t);
  size_t tlen = mlen + 1 + elen + http->target.len;
  size_t blen = http->has_body ? http->body.len : 0;
  eei_prepared *p = malloc(sizeof *p + tlen + 1 + (http->has_body ? blen + 1 : 0));
  if (!p)
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "rest: out of memory preparing %s",
                         route->grpc_path);
  char *target = (char *)(p + 1);
  memcpy(target, http->method, mlen);
  target[mlen] = ' ';
  memcpy(target + mlen + 1, t->cfg.endpoint, elen);
  memcpy(target + mlen + 1 + elen, http->target.data, http->target.len);
  target[tlen] = '\0';
  p->t = t;
  p->loop = NULL;
  p->route = route;
  p->binding = http->binding;
  p->method = http->method;
  p->target = target;
  p->url = target + mlen + 1;
  p->body = NULL;
  p->body_len = blen;
  p->empty_body = !http->has_body && strcmp(http->method, "GET") != 0 &&
                  strcmp(http->method, "DELETE") != 0 && strcmp(http->method, "HEAD") != 0;
  if (http->has_body) {
    char *body = target + tlen + 1;
    if (blen) memcpy(body, http->body.data, blen);
    body[blen] = '\0';
    p->body = body;
  }
  *out = p;
  return EE_OK;
}

static ee_code rest_prepare(eei_transport *t, const ee_route *route, const ProtobufCMessage *req,
                            eei_prepared **out, ee_status *st) {
  *out = NULL;
  if (!req || req->descriptor != route->request)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "rest: %s takes a %s request", route->grpc_path,
                         route->request->name);
  ee_http_request http;
  ee_http_request_init(&http);
  ee_code rc = ee_route_to_http(route, req, NULL, &http, st);
  if (rc == EE_OK) rc = prepared_from_http(t, route, &http, out, st);
  ee_http_request_free(&http);
  return rc;
}

static ee_code rest_prepare_bytes(eei_transport *t, const ee_route *route, const uint8_t *bytes,
                                  size_t len, const char *request_params, eei_prepared **out,
                                  ee_status *st) {
  (void)request_params; /* REST carries the path variables in the URL */
  *out = NULL;
  ProtobufCMessage *req = NULL;
  ee_code rc = ee_wire_unpack(route->request, bytes, len, t->cfg.max_depth, NULL, &req, st);
  if (rc != EE_OK) return ee_status_prefix(st, "%s request bytes", route->grpc_path);
  rc = rest_prepare(t, route, req, out, st);
  protobuf_c_message_free_unpacked(req, NULL);
  return rc;
}

static void rest_prepared_free(eei_prepared *p) {
  free(p);
}

static const char *rest_target(const eei_prepared *p, const char **http_method) {
  if (http_method) *http_method = p->method;
  return p->target;
}

/* A JSON string literal of s (UTF-8 passed through; the encoder made the body, and
 * header values and URLs are checked ASCII or escaped here). */
static ee_code json_quote(ee_buf *b, const char *s, ee_status *st) {
  ee_code rc = ee_buf_append(b, "\"", 1, st);
  for (const char *run = s; rc == EE_OK; s++) {
    unsigned char c = (unsigned char)*s;
    if (c != '\0' && c != '"' && c != '\\' && c >= 0x20) continue;
    rc = ee_buf_append(b, run, (size_t)(s - run), st);
    if (c == '\0' || rc != EE_OK) break;
    rc = c == '"' || c == '\\' ? ee_buf_printf(b, st, "\\%c", c)
                               : ee_buf_printf(b, st, "\\u%04x", c);
    run = s + 1;
  }
  return rc == EE_OK ? ee_buf_append(b, "\"", 1, st) : rc;
}

static ee_code describe_header(ee_buf *out, bool first, const char *name, const char *value,
                               ee_status *st) {
  ee_code rc = first ? EE_OK : ee_buf_append(out, ",", 1, st);
  if (rc == EE_OK) rc = json_quote(out, name, st);
  if (rc == EE_OK) rc = ee_buf_append(out, ":", 1, st);
  return rc == EE_OK ? json_quote(out, value, st) : rc;
}

/* {"transport":"rest","method":…,"url":…,"headers":{…},"body":{…}}; "body" is left out
 * when the call sends none. */
static ee_code rest_describe(const eei_prepared *p, const eei_header *headers, size_t n_headers,
                             ee_buf *out, ee_status *st) {
  size_t mark = out->len;
  ee_code rc =
      ee_buf_printf(out, st, "{\"transport\":\"rest\",\"method\":\"%s\",\"url\":", p->method);
  if (rc == EE_OK) rc = json_quote(out, p->url, st);
  if (rc == EE_OK) rc = ee_buf_append_str(out, ",\"headers\":{", st);
  for (size_t i = 0; i < n_headers && rc == EE_OK; i++)
    rc = describe_header(out, i == 0, headers[i].name,
                         headers[i].secret ? "REDACTED" : headers[i].value, st);
  if (rc == EE_OK && p->body)
    rc = describe_header(out, n_headers == 0, "content-type", "application/json", st);
  if (rc == EE_OK) rc = ee_buf_append(out, "}", 1, st);
  if (rc == EE_OK && p->body) rc = ee_buf_append_str(out, ",\"body\":", st);
  if (rc == EE_OK && p->body) rc = ee_buf_append(out, p->body, p->body_len ? p->body_len : 0, st);
  if (rc == EE_OK && p->body && p->body_len == 0) rc = ee_buf_append(out, "{}", 2, st);
  if (rc == EE_OK) rc = ee_buf_append(out, "}", 1, st);
  if (rc != EE_OK) {
    out->len = mark;
    if (out->data) out->data[mark] = '\0';
  }
  return rc;
}

/* ------------------------------------------------------------------------------------
 * Easy handles
 * ---------------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *user) {
  rest_slot *s = user;
  size_t n = size * nmemb;
  if (n > s->limit - s->body.len) {
    s->too_large = true;
    return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
  }
  if (ee_buf_append(&s->body, data, n, NULL) != EE_OK) {
    s->no_memory = true;
    return 0;
  }
  return n;
}

static curl_socket_t on_open(void *user, curlsocktype purpose, struct curl_sockaddr *addr);
static int on_close(void *user, curl_socket_t fd);

/* Options that stay the same for every transfer of this loop. */
static bool slot_configure(rest_loop *l, rest_slot *s) {
  const eei_transport *t = l->t;
  CURL *e = s->easy;
  bool ok = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_WRITEDATA, s) == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf) == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open) == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, l) == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close) == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, l) == CURLE_OK;
  if (t->cfg.connect_timeout_ms > 0)
    ok = ok && curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)t->cfg.connect_timeout_ms) ==
                   CURLE_OK;
  if (t->cfg.tls) {
    /* HTTP/2 when ALPN offers it; wait for the first connection rather than open one per
     * transfer, so concurrent calls become streams on one connection. */
    ok = ok && curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L) == CURLE_OK;
    if (t->cfg.ca_file) ok = ok && curl_easy_setopt(e, CURLOPT_CAINFO, t->cfg.ca_file) == CURLE_OK;
  } else {
    ok = ok && curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) == CURLE_OK;
  }
  return ok;
}

static rest_slot *slot_get(rest_loop *l) {
  eei_transport *t = l->t;
  rest_slot *s = l->idle;
  if (s) {
    l->idle = s->next_idle;
    l->n_idle--;
  } else {
    s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->easy = curl_easy_init();
    if (!s->easy || !slot_configure(l, s)) {
      curl_easy_cleanup(s->easy);
      free(s);
      return NULL;
    }
    ee_buf_init(&s->body, t->max_response > EE_BUF_DEFAULT_LIMIT ? t->max_response : 0);
    s->limit = t->max_response;
    atomic_fetch_add(&t->handles, 1);
  }
  ee_buf_reset(&s->body);
  s->too_large = s->no_memory = false;
  s->errbuf[0] = '\0';
  return s;
}

static void slot_free(rest_slot *s) {
  curl_easy_cleanup(s->easy);
  ee_buf_free(&s->body);
  free(s);
}

static void slot_put(rest_loop *l, rest_slot *s) {
  if (l->n_idle >= IDLE_HANDLES_MAX) {
    slot_free(s);
    return;
  }
  if (s->body.cap > BODY_KEEP_MAX) ee_buf_free(&s->body);
  s->next_idle = l->idle;
  l->idle = s;
  l->n_idle++;
}

/* Options of this transfer. Every option a previous transfer may have set is set again. */
static bool slot_bind(rest_slot *s, eei_attempt *a, long timeout_ms) {
  CURL *e = s->easy;
  const eei_prepared *p = a->p;
  bool ok = curl_easy_setopt(e, CURLOPT_URL, p->url) == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_PRIVATE, a) == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->headers) == CURLE_OK;
  ok = ok && curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK;
  if (p->body || p->empty_body) {
    ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)p->body_len) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body ? p->body : "") == CURLE_OK;
  } else {
    ok = ok && curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
  }
  /* GET, and POST with a body, are curl's own methods; anything else is named. */
  bool own = strcmp(p->method, p->body || p->empty_body ? "POST" : "GET") == 0;
  ok = ok && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, own ? NULL : p->method) == CURLE_OK;
  return ok;
}

/* ------------------------------------------------------------------------------------
 * Ending attempts (the loop's runner)
 * ---------------------------------------------------------------------------------- */

static void result_init(eei_attempt_result *res) {
  ee_status_clear(&res->status);
  res->response = NULL;
  res->retry_after_ms = -1;
  res->sent = true;
}

static void running_unlink(rest_loop *l, eei_attempt *a) {
  if (a->prev)
    a->prev->next = a->next;
  else if (l->running == a)
    l->running = a->next;
  if (a->next) a->next->prev = a->prev;
  a->prev = a->next = NULL;
}

/* Takes a out of curl (if it was in), calls done, frees what is left. */
static void attempt_finish(rest_loop *l, eei_attempt *a, eei_attempt_result *res) {
  if (a->slot) {
    curl_multi_remove_handle(l->multi, a->slot->easy);
    slot_put(l, a->slot);
    a->slot = NULL;
    running_unlink(l, a);
  }
  a->done(a->user, res);
  if (res->response) protobuf_c_message_free_unpacked(res->response, NULL);
  free(a);
}

static void attempt_fail(rest_loop *l, eei_attempt *a, ee_code code, bool sent, const char *what) {
  eei_attempt_result res;
  result_init(&res);
  res.sent = sent;
  ee_status_set(&res.status, code, "%s", what);
  attempt_finish(l, a, &res);
}

/* Retry-After: delta-seconds, or an HTTP-date (read by curl_getdate). -1 when absent. */
static int64_t retry_after_ms(CURL *e) {
  struct curl_header *h = NULL;
  if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h->value)
    return -1;
  const char *v = h->value;
  while (*v == ' ' || *v == '\t') v++;
  if (*v >= '0' && *v <= '9') {
    int64_t s = 0;
    for (; *v >= '0' && *v <= '9'; v++)
      if (s <= RETRY_AFTER_MAX_S) s = s * 10 + (*v - '0');
    while (*v == ' ' || *v == '\t') v++;
    if (*v) return -1;
    return (s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s) * 1000;
  }
  time_t when = curl_getdate(v, NULL);
  if (when == (time_t)-1) return -1;
  time_t now = time(NULL);
  if (when <= now) return 0;
  int64_t d = (int64_t)(when - now);
  return (d > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : d) * 1000;
}

/* An HTTP answer arrived: 2xx is the response message, the rest the error envelope. */
static void http_result(eei_transport *t, eei_attempt *a, eei_attempt_result *res) {
  rest_slot *s = a->slot;
  long code = 0;
  curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code > 299) {
    ee_route_error_decode((int)code, s->body.data, s->body.len, &res->status);
    res->retry_after_ms = retry_after_ms(s->easy);
    return;
  }
  ee_json_decode_options jo = EE_JSON_DECODE_OPTIONS_INIT;
  jo.ignore_unknown_fields = true; /* the service adds fields over time */
  jo.accept_wrapper_objects = true;
  jo.max_depth = t->cfg.max_depth;
  jo.max_input = t->max_response;
  const char *json = s->body.len ? s->body.data : "{}"; /* 204: an empty message */
  size_t len = s->body.len ? s->body.len : 2;
  if (ee_route_decode_response(a->p->route, a->p->binding, json, len, &jo, &res->response,
                               &res->status) != EE_OK) {
    ee_status_prefix(&res->status, "the HTTP %ld response of %s is not a %s", code,
                     a->p->route->grpc_path, a->p->route->response->name);
    res->status.code = EE_INTERNAL;
  }
  res->status.http_status = (int)code;
}

/* Failures before the request could reach the service. */
static bool never_sent(CURLcode cc) {
  switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT: return true;
    default: return false;
  }
}

/* curl ended the transfer without a complete HTTP answer. The message is curl's text
 * (it never holds header values). */
static void curl_error_result(const eei_attempt *a, CURLcode cc, eei_attempt_result *res) {
  const rest_slot *s = a->slot;
  const char *why = s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc);
  if (s->too_large) {
    ee_status_set(&res->status, EE_OUT_OF_RANGE,
                  "rest: the response of %s is larger than max_response_bytes (%zu bytes)",
                  a->p->route->grpc_path, s->limit);
    return;
  }
  if (s->no_memory) {
    ee_status_set(&res->status, EE_RESOURCE_EXHAUSTED, "rest: out of memory reading a response");
    return;
  }
  long sent_bytes = 0; /* request bytes curl wrote; 0 until the request went out */
  curl_easy_getinfo(s->easy, CURLINFO_REQUEST_SIZE, &sent_bytes);
  if (cc == CURLE_OPERATION_TIMEDOUT && a->deadline_ms &&
      eei_now_ms() >= a->deadline_ms - DEADLINE_SLACK_MS) {
    res->sent = sent_bytes > 0;
    ee_status_set(&res->status, EE_DEADLINE_EXCEEDED, "rest: deadline exceeded: %s", why);
    return;
  }
  if (cc == CURLE_OPERATION_TIMEDOUT) /* the connect timeout, before the deadline */
    res->sent = sent_bytes > 0;
  else
    res->sent = !never_sent(cc);
  ee_status_set(&res->status, cc == CURLE_URL_MALFORMAT ? EE_INVALID_ARGUMENT : EE_UNAVAILABLE,
                "rest: %s", why);
}

static void transfer_done(rest_loop *l, CURL *easy, CURLcode cc) {
  eei_transport *t = l->t;
  eei_attempt *a = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&a);
  long conns = 0;
  curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &conns);
  atomic_fetch_add(&t->connects, (uint64_t)conns);
  atomic_fetch_add(&t->transfers, 1);
  eei_attempt_result res;
  result_init(&res);
  if (cc == CURLE_OK)
    http_result(t, a, &res);
  else
    curl_error_result(a, cc, &res);
  attempt_finish(l, a, &res);
}

/* ------------------------------------------------------------------------------------
 * The event loop
 * ---------------------------------------------------------------------------------- */

static void launch(rest_loop *l, eei_attempt *a) {
  long timeout_ms = 0;
  if (a->deadline_ms) {
    int64_t left = a->deadline_ms - eei_now_ms();
    if (left <= 0) {
      attempt_fail(l, a, EE_DEADLINE_EXCEEDED, false,
                   "rest: deadline exceeded before the request was sent");
      return;
    }
    timeout_ms = (long)left;
  }
  rest_slot *s = slot_get(l);
  if (!s) {
    attempt_fail(l, a, EE_RESOURCE_EXHAUSTED, false, "rest: cannot create a curl handle");
    return;
  }
  if (!slot_bind(s, a, timeout_ms)) {
    slot_put(l, s);
    attempt_fail(l, a, EE_INTERNAL, false, "rest: curl refused a transfer option");
    return;
  }
  if (curl_multi_add_handle(l->multi, s->easy) != CURLM_OK) {
    slot_put(l, s);
    attempt_fail(l, a, EE_INTERNAL, false, "rest: curl refused a transfer");
    return;
  }
  a->slot = s;
  a->prev = NULL;
  a->next = l->running;
  if (l->running) l->running->prev = a;
  l->running = a;
}

/* Ends with CANCELLED every running attempt that asked for it (all when stopping). */
static void sweep_cancelled(rest_loop *l, bool all) {
  eei_attempt *victims = NULL;
  pthread_mutex_lock(&l->mu);
  for (eei_attempt *a = l->running, *next; a; a = next) {
    next = a->next;
    if (!all && !a->cancel_requested) continue;
    running_unlink(l, a);
    a->next = victims;
    victims = a;
  }
  pthread_mutex_unlock(&l->mu);
  while (victims) {
    eei_attempt *a = victims;
    victims = a->next;
    a->next = NULL;
    curl_multi_remove_handle(l->multi, a->slot->easy);
    slot_put(l, a->slot);
    a->slot = NULL;
    attempt_fail(l, a, EE_CANCELLED, true, "rest: the call was cancelled");
  }
}

static void drain_finished(rest_loop *l) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(l->multi, &left)))
    if (m->msg == CURLMSG_DONE) transfer_done(l, m->easy_handle, m->data.result);
}

/* Per-socket state, so that a kept-alive connection costs no epoll_ctl per call: curl
 * drops a socket from its set when a transfer ends (CURL_POLL_REMOVE) and asks for it
 * again when the next transfer reuses the connection. A connection socket (opened by
 * on_open, closed by on_close) stays registered across that gap; events that arrive
 * while curl does not want it take it out (an idle connection the server closed). */
#define FD_IN_EPOLL 0x80000000u /* registered with the events in FD_EVENTS */
#define FD_OURS 0x40000000u     /* a connection socket: on_close will tell us */
#define FD_WANTED 0x20000000u   /* curl currently wants its events */
#define FD_EVENTS 0x0000ffffu

static uint32_t *fd_state(rest_loop *l, curl_socket_t fd) {
  if (fd < 0) return NULL;
  if ((size_t)fd >= l->n_fds) {
    size_t n = l->n_fds ? l->n_fds : 64;
    while (n <= (size_t)fd) n *= 2;
    uint32_t *grown = realloc(l->fds, n * sizeof *grown);
    if (!grown) return NULL;
    memset(grown + l->n_fds, 0, (n - l->n_fds) * sizeof *grown);
    l->fds = grown;
    l->n_fds = n;
  }
  return &l->fds[fd];
}

static int epoll_set(rest_loop *l, curl_socket_t fd, uint32_t *state, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  bool in = *state & FD_IN_EPOLL;
  if (in && (*state & FD_EVENTS) == events) return 0;
  int rc = epoll_ctl(l->epfd, in ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
  if (rc != 0 && errno == (in ? ENOENT : EEXIST)) /* our record was stale */
    rc = epoll_ctl(l->epfd, in ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
  if (rc != 0) return -1;
  *state = (*state & ~FD_EVENTS) | FD_IN_EPOLL | events;
  return 0;
}

static void epoll_drop(rest_loop *l, curl_socket_t fd, uint32_t *state) {
  if (*state & FD_IN_EPOLL) epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
  *state &= ~(FD_IN_EPOLL | FD_EVENTS);
}

/* curl says which events it wants on a socket (CURLMOPT_SOCKETFUNCTION). */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *user, void *socketp) {
  (void)easy;
  (void)socketp;
  rest_loop *l = user;
  uint32_t *state = fd_state(l, fd);
  if (!state) return -1;
  if (what == CURL_POLL_REMOVE) {
    *state &= ~FD_WANTED;
    if (!(*state & FD_OURS)) epoll_drop(l, fd, state); /* closed without telling us */
    return 0;
  }
  *state |= FD_WANTED;
  uint32_t events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
  return epoll_set(l, fd, state, events);
}

/* Connection sockets, opened and closed through us (CURLOPT_OPENSOCKETFUNCTION and
 * CURLOPT_CLOSESOCKETFUNCTION) so on_socket may keep them registered between transfers. */
static curl_socket_t on_open(void *user, curlsocktype purpose, struct curl_sockaddr *addr) {
  (void)purpose;
  rest_loop *l = user;
  curl_socket_t fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  uint32_t *state = fd == CURL_SOCKET_BAD ? NULL : fd_state(l, fd);
  if (state) *state = FD_OURS; /* a new file: not in epoll whatever the number held before */
  return fd;
}

static int on_close(void *user, curl_socket_t fd) {
  rest_loop *l = user;
  uint32_t *state = fd_state(l, fd);
  if (state) *state = 0; /* closing removes it from epoll */
  return close(fd);
}

/* curl's single timer (CURLMOPT_TIMERFUNCTION): -1 deletes it. */
static int on_timer(CURLM *multi, long timeout_ms, void *user) {
  (void)multi;
  rest_loop *l = user;
  l->timer_at = timeout_ms < 0 ? -1 : eei_now_ms() + timeout_ms;
  return 0;
}

static void run_due_timer(rest_loop *l) {
  if (l->timer_at < 0 || eei_now_ms() < l->timer_at) return;
  l->timer_at = -1;
  int running = 0;
  curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

/* Waits (up to max_wait ms) for sockets, the wake-up or curl's timer, and lets curl
 * handle what is ready. */
static void wait_and_work(rest_loop *l, int max_wait) {
  int wait = max_wait;
  if (l->timer_at >= 0 && wait > 0) {
    int64_t left = l->timer_at - eei_now_ms();
    wait = left <= 0 ? 0 : left < wait ? (int)left : wait;
  }
  struct epoll_event ev[EVENTS_MAX];
  int n = epoll_wait(l->epfd, ev, EVENTS_MAX, wait);
  for (int i = 0; i < n; i++) {
    if (ev[i].data.fd == l->wake_fd) continue; /* edge-triggered: nothing to read */
    uint32_t *state = fd_state(l, ev[i].data.fd);
    if (state && !(*state & FD_WANTED)) { /* an idle kept connection: curl looks next time */
      epoll_drop(l, ev[i].data.fd, state);
      continue;
    }
    int mask = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
               (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
               (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    int running = 0;
    curl_multi_socket_action(l->multi, ev[i].data.fd, mask, &running);
  }
  run_due_timer(l);
  drain_finished(l);
}

static bool until_set(const _Atomic uint32_t *until) {
  return until && atomic_load_explicit(until, memory_order_acquire) != 0;
}

/* Runs l until the transport stops (the event thread: until is NULL) or *until is set
 * (a driver). */
static void loop_run(rest_loop *l, const _Atomic uint32_t *until) {
  for (;;) {
    pthread_mutex_lock(&l->mu);
    eei_attempt *q = l->q_head;
    l->q_head = l->q_tail = NULL;
    bool cancels = l->cancel_pending, stopping = l->stopping;
    l->cancel_pending = false;
    bool idle = !q && !cancels && !stopping;
    l->sleeping = idle; /* from here on, new work wakes us */
    pthread_mutex_unlock(&l->mu);
    while (q) {
      eei_attempt *a = q;
      q = a->qnext;
      if (stopping)
        attempt_fail(l, a, EE_CANCELLED, false, "rest: the call was cancelled (shutting down)");
      else
        launch(l, a);
    }
    if (cancels || stopping) sweep_cancelled(l, stopping);
    if (stopping) break; /* nothing runs and start() refuses new work */
    run_due_timer(l);    /* new transfers set a timer of 0: start them now */
    drain_finished(l);
    if (until_set(until)) break;
    /* Block only after a look at the queue found it empty (sleeping is then set); else
     * just collect ready sockets and look at the queue again. A driver carries one call,
     * so after launching it goes straight back to the queue (and then blocks). */
    if (idle)
      wait_and_work(l, WAIT_MAX_MS);
    else if (!until)
      wait_and_work(l, 0);
    if (until_set(until)) break;
  }
}

static void *event_loop(void *arg) {
  eei_transport *t = arg;
  loop_run(t->main, NULL);
  return NULL;
}

/* The eventfd is registered edge-triggered: every write is one epoll event and nobody
 * ever reads it (its counter cannot reach 2^64-1 in practice). */
static void wake(rest_loop *l) {
  uint64_t one = 1;
  if (write(l->wake_fd, &one, sizeof one) < 0) { /* cannot happen short of 2^64 writes */
  }
}

/* Called with l->mu held after queueing work: whether the loop's runner must be woken
 * (only when it may be blocked; a busy loop looks at the queue before it blocks). */
static bool wake_needed(rest_loop *l) {
  bool need = l->sleeping;
  l->sleeping = false; /* one wake-up is enough */
  return need;
}

static void loop_free(rest_loop *l) {
  if (!l) return;
  while (l->idle) {
    rest_slot *s = l->idle;
    l->idle = s->next_idle;
    slot_free(s);
  }
  if (l->multi) curl_multi_cleanup(l->multi); /* closes its connections through on_close */
  if (l->epfd >= 0) close(l->epfd);
  free(l->fds);
  if (l->wake_fd >= 0) close(l->wake_fd);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static rest_loop *loop_new(eei_transport *t, ee_status *st) {
  rest_loop *l = calloc(1, sizeof *l);
  if (!l) {
    ee_status_set(st, EE_RESOURCE_EXHAUSTED, "rest: out of memory");
    return NULL;
  }
  l->t = t;
  l->timer_at = -1;
  pthread_mutex_init(&l->mu, NULL);
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = l->wake_fd};
  if (l->epfd < 0 || l->wake_fd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) != 0) {
    int err = errno;
    loop_free(l);
    ee_status_set(st, EE_INTERNAL, "rest: epoll/eventfd: %s", strerror(err));
    return NULL;
  }
  l->multi = curl_multi_init();
  if (!l->multi) {
    loop_free(l);
    ee_status_set(st, EE_INTERNAL, "rest: curl_multi_init failed");
    return NULL;
  }
  curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
  curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
  curl_multi_setopt(l->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)HOST_CONNECTIONS_MAX);
  curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, (long)HOST_CONNECTIONS_MAX);
  return l;
}

/* ---- drivers: loops that blocking callers run (transport.h) ---- */

static eei_driver *as_driver(rest_loop *l) {
  return (eei_driver *)(void *)l;
}

static rest_loop *as_loop(eei_driver *d) {
  return (rest_loop *)(void *)d;
}

static eei_driver *rest_driver_get(eei_transport *t) {
  pthread_mutex_lock(&t->mu);
  rest_loop *l = t->stopping ? NULL : t->idle_drivers;
  if (l) {
    t->idle_drivers = l->next_idle;
    t->n_idle_drivers--;
  }
  bool make = !l && !t->stopping && t->drivers_out + t->n_idle_drivers < DRIVERS_MAX;
  if (make || l) t->drivers_out++;
  pthread_mutex_unlock(&t->mu);
  if (make) {
    ee_status ignored;
    l = loop_new(t, &ignored);
    if (!l) {
      pthread_mutex_lock(&t->mu);
      if (--t->drivers_out == 0) pthread_cond_broadcast(&t->drivers_back);
      pthread_mutex_unlock(&t->mu);
      return NULL;
    }
  }
  return l ? as_driver(l) : NULL;
}

static void rest_bind_driver(eei_prepared *p, eei_driver *d) {
  p->loop = d ? as_loop(d) : NULL;
}

static void rest_driver_run(eei_driver *d, const _Atomic uint32_t *until) {
  loop_run(as_loop(d), until);
}

/* Its last run may have left sleeping set: nobody waits in it until it is taken again,
 * and its taker runs it before it could block. */
static void loop_quiet(rest_loop *l) {
  pthread_mutex_lock(&l->mu);
  l->sleeping = false;
  pthread_mutex_unlock(&l->mu);
}

static void rest_driver_wake(eei_driver *d) {
  wake(as_loop(d));
}

/* Back to the idle list with its kept-alive connection (freed once the transport stops). */
static void rest_driver_put(eei_driver *d) {
  rest_loop *l = as_loop(d);
  eei_transport *t = l->t;
  loop_quiet(l);
  pthread_mutex_lock(&t->mu);
  bool keep = !t->stopping;
  if (keep) {
    l->next_idle = t->idle_drivers;
    t->idle_drivers = l;
    t->n_idle_drivers++;
  }
  pthread_mutex_unlock(&t->mu);
  if (!keep) loop_free(l);
  pthread_mutex_lock(&t->mu);
  if (--t->drivers_out == 0) pthread_cond_broadcast(&t->drivers_back);
  pthread_mutex_unlock(&t->mu);
}

/* ------------------------------------------------------------------------------------
 * The ops
 * ---------------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void transport_free(eei_transport *t) {
  loop_free(t->main);
  while (t->idle_drivers) {
    rest_loop *l = t->idle_drivers;
    t->idle_drivers = l->next_idle;
    loop_free(l);
  }
  pthread_cond_destroy(&t->drivers_back);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

static ee_code rest_create(const eei_transport_config *cfg, eei_transport **out, ee_status *st) {
  *out = NULL;
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK)
    return ee_status_set(st, EE_INTERNAL, "rest: curl_global_init: %s",
                         curl_easy_strerror(curl_init_rc));
  if (!cfg || !cfg->endpoint) return ee_status_set(st, EE_INVALID_ARGUMENT, "rest: no endpoint");
  eei_transport *t = calloc(1, sizeof *t);
  if (!t) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "rest: out of memory");
  t->cfg = *cfg;
  t->max_response = cfg->max_response_bytes ? cfg->max_response_bytes : DEFAULT_MAX_RESPONSE;
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->drivers_back, NULL);
  t->main = loop_new(t, st);
  if (!t->main) {
    transport_free(t);
    return st ? st->code : EE_INTERNAL;
  }
  /* The event thread takes no signals: they belong to the application's threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&t->thread, NULL, event_loop, t);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) {
    transport_free(t);
    return ee_status_set(st, EE_INTERNAL, "rest: cannot start the event thread (error %d)", err);
  }
  *out = t;
  return EE_OK;
}

/* Drivers still taken are waited for (a blocking call on its way out gives its driver
 * back after its result is published). */
static void rest_destroy(eei_transport *t) {
  if (!t) return;
  pthread_mutex_lock(&t->mu);
  t->stopping = true;
  while (t->drivers_out) pthread_cond_wait(&t->drivers_back, &t->mu);
  pthread_mutex_unlock(&t->mu);
  pthread_mutex_lock(&t->main->mu);
  t->main->stopping = true;
  pthread_mutex_unlock(&t->main->mu);
  wake(t->main);
  pthread_join(t->thread, NULL);
  transport_free(t);
}

/* A header value with CR or LF would end the header early (and smuggle another). */
static bool header_ok(const char *s) {
  return s && !strpbrk(s, "\r\n");
}

static const char CONTENT_TYPE[] = "Content-Type: application/json";
static const char NO_CONTENT_TYPE[] = "Content-Type:"; /* an empty POST: not curl's form type */
static const char NO_EXPECT[] = "Expect:";             /* never wait for 100-continue */

/* The attempt, its curl_slist nodes and their text in one allocation. */
static eei_attempt *attempt_new(const eei_prepared *p, const eei_header *h, size_t n,
                                ee_status *st) {
  size_t text = 0;
  for (size_t i = 0; i < n; i++) {
    if (!header_ok(h[i].name) || !h[i].name[0] || !header_ok(h[i].value)) {
      ee_status_set(st, EE_INVALID_ARGUMENT,
                    "rest: header \"%s\" has an empty name or a "
                    "line break",
                    h[i].name ? h[i].name : "(null)");
      return NULL;
    }
    text += strlen(h[i].name) + 2 + strlen(h[i].value) + 1;
  }
  size_t nodes = n + (p->body || p->empty_body ? 2 : 0);
  eei_attempt *a = malloc(sizeof *a + nodes * sizeof(struct curl_slist) + text);
  if (!a) {
    ee_status_set(st, EE_RESOURCE_EXHAUSTED, "rest: out of memory starting a call");
    return NULL;
  }
  memset(a, 0, sizeof *a);
  struct curl_slist *node = (struct curl_slist *)(a + 1);
  char *w = (char *)(node + nodes);
  for (size_t i = 0; i < n; i++, node++) {
    size_t nl = strlen(h[i].name), vl = strlen(h[i].value);
    node->data = w;
    memcpy(w, h[i].name, nl);
    memcpy(w + nl, ": ", 2);
    memcpy(w + nl + 2, h[i].value, vl + 1);
    w += nl + 2 + vl + 1;
  }
  if (p->body || p->empty_body) {
    node[0].data = (char *)(p->body ? CONTENT_TYPE : NO_CONTENT_TYPE); /* curl only reads */
    node[1].data = (char *)NO_EXPECT;
  }
  struct curl_slist *first = (struct curl_slist *)(a + 1);
  for (size_t i = 0; i < nodes; i++) first[i].next = i + 1 < nodes ? &first[i + 1] : NULL;
  a->headers = nodes ? first : NULL;
  return a;
}

static ee_code rest_start(eei_transport *t, eei_prepared *p, const eei_header *headers,
                          size_t n_headers, int64_t deadline_ms, eei_attempt_done_fn done,
                          void *user, eei_attempt **out, ee_status *st) {
  if (out) *out = NULL;
  eei_attempt *a = attempt_new(p, headers, n_headers, st);
  if (!a) return st ? st->code : EE_INTERNAL;
  rest_loop *l = p->loop ? p->loop : t->main;
  a->t = t;
  a->l = l;
  a->p = p;
  a->deadline_ms = deadline_ms;
  a->done = done;
  a->user = user;
  /* *out is set before the loop's runner can see the attempt: done may run (and the
   * attempt be gone) before this function returns. */
  if (out) *out = a;
  pthread_mutex_lock(&l->mu);
  if (l->stopping) {
    pthread_mutex_unlock(&l->mu);
    if (out) *out = NULL;
    free(a);
    return ee_status_set(st, EE_CANCELLED, "rest: the transport is shutting down");
  }
  if (l->q_tail)
    l->q_tail->qnext = a;
  else
    l->q_head = a;
  l->q_tail = a;
  bool need = wake_needed(l);
  pthread_mutex_unlock(&l->mu);
  if (need) wake(l);
  return EE_OK;
}

static void rest_cancel(eei_transport *t, eei_attempt *a) {
  if (!t || !a) return;
  rest_loop *l = a->l;
  pthread_mutex_lock(&l->mu);
  a->cancel_requested = true;
  l->cancel_pending = true;
  bool need = wake_needed(l);
  pthread_mutex_unlock(&l->mu);
  if (need) wake(l);
}

void eei_rest_get_stats(const eei_transport *t, eei_rest_stats *out) {
  eei_transport *m = (eei_transport *)t; /* atomics are read-only here */
  out->transfers = atomic_load(&m->transfers);
  out->connects = atomic_load(&m->connects);
  out->handles = atomic_load(&m->handles);
}

const eei_transport_ops eei_rest_transport = {
    .name = "rest",
    .create = rest_create,
    .destroy = rest_destroy,
    .prepare = rest_prepare,
    .prepare_bytes = rest_prepare_bytes,
    .describe = rest_describe,
    .target = rest_target,
    .start = rest_start,
    .cancel = rest_cancel,
    .prepared_free = rest_prepared_free,
    .driver_get = rest_driver_get,
    .bind_driver = rest_bind_driver,
    .driver_run = rest_driver_run,
    .driver_wake = rest_driver_wake,
    .driver_put = rest_driver_put,
};
