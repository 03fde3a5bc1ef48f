/* The gRPC transport on grpc core's C API (transport.h's contract).
 *
 * One channel and one completion queue per transport: our own, polled by
 * completion_threads threads that block in grpc_completion_queue_next (and so also drive
 * grpc's I/O), or the caller's (ee_client_options.grpc_cq), whose polling loop hands our
 * events back through eei_grpc_event; likewise the channel may be the caller's. Every
 * attempt is one grpc_call on that queue with one batch holding all six unary ops; the
 * batch's completion is the attempt's only event, so the "state machine" is start ->
 * complete -> done. The batch tag is the attempt's address with its lowest bit set
 * (ee_client_owns_tag).
 *
 * Lifetime: an attempt is on the transport's live list from start until its done returned;
 * cancel (grpc_call_cancel, thread-safe) is only valid while it is there, which is what
 * the client core guarantees by calling cancel under its lock only before done returned.
 * destroy cancels the live list and waits for it to empty before shutting the queue down.
 *
 * The channel is created at the first start rather than in create: grpc owns the
 * user-agent header (GRPC_ARG_PRIMARY_USER_AGENT_STRING is a channel argument, and the
 * http filter overwrites an application user-agent), and the only place the client's
 * user agent reaches a transport is the header list of an attempt. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "ee/json.h"
#include "ee/wire.h"
#include "transport.h"

#define MAX_CA_FILE ((size_t)4 << 20) /* bytes of PEM roots we read */
#define MAX_HEADERS 64                /* headers of one attempt */
/* Keepalive pings only while calls run, every 5 minutes: Google front ends (and grpc
 * servers by default) answer more frequent pings on idle connections with GOAWAY
 * "too_many_pings"; 5 minutes still finds a dead connection within a long Wait. */
#define KEEPALIVE_TIME_MS 300000
#define KEEPALIVE_TIMEOUT_MS 20000
#define MAX_RECONNECT_BACKOFF_MS 30000 /* the client's own retries wait at most ~32 s */

#define MAX_THREADS 64

struct eei_transport {
  grpc_completion_queue *cq;
  bool own_cq; /* false: the caller's queue (ee_client_options.grpc_cq) */
  grpc_channel_credentials *creds;
  grpc_channel *channel; /* NULL until the first start; then fixed (under mu) */
  bool own_channel;      /* false: the caller's channel, never destroyed here */
  char target[300];      /* "host:port", IPv6 hosts bracketed */
  int connect_timeout_ms;
  size_t max_response_bytes;
  int max_depth;
  pthread_t threads[MAX_THREADS];
  int n_threads; /* started */
  pthread_mutex_t mu;
  pthread_cond_t idle;      /* signalled (while closing) when live becomes empty */
  struct eei_attempt *live; /* attempts whose done has not returned (doubly linked) */
  size_t n_posted;          /* posted functions that have not run yet */
  bool closing;             /* destroy began: start refuses */
};

struct eei_prepared {
  const ee_route *route;
  grpc_slice message; /* the packed request (refcounted; each attempt's buffer refs it) */
  grpc_slice params;  /* x-goog-request-params value; may be empty */
  int max_depth;      /* for describe's decode */
  char *target;       /* "host:port/pkg.Service/Method" */
};

/* What a tag points to (lowest bit cleared): an attempt, or a posted function. */
enum { TAG_ATTEMPT = 0x41545450, TAG_POST = 0x504f5354 };

/* Both kinds start with `kind`, stored (release) just before the object is handed to
 * grpc and loaded (acquire) when its event comes back: grpc's own hand-over through the
 * queue is invisible to ThreadSanitizer (Debian's grpc is not instrumented), so this
 * states the ordering it provides. */
typedef struct posted {
  _Atomic int kind; /* TAG_POST */
  eei_transport *t;
  void (*fn)(void *arg);
  void *arg;
} posted;

struct eei_attempt {
  _Atomic int kind; /* TAG_ATTEMPT once handed to grpc */
  eei_transport *t;
  eei_prepared *p;
  grpc_call *call;
  eei_attempt_done_fn done;
  void *user;
  struct eei_attempt *prev, *next;
  grpc_byte_buffer *send;
  grpc_byte_buffer *recv;
  grpc_metadata_array initial, trailing;
  grpc_status_code status;
  grpc_slice details;
  const char *error_string; /* gpr_malloc'ed by grpc */
  grpc_slice header_block;  /* copies of the header names and values; md slices point in */
  size_t n_md;
  grpc_metadata md[]; /* n_md entries */
};

/* ------------------------------------------------------------------------------------
 * create / destroy
 * ---------------------------------------------------------------------------------- */

static void *event_loop(void *arg);

/* Reads the PEM roots of ca_file into a NUL-terminated heap string. */
static ee_code read_pem(const char *path, char **out, ee_status *st) {
  FILE *f = fopen(path, "rb");
  if (!f) return ee_status_set(st, EE_INVALID_ARGUMENT, "ca_file %s: cannot open", path);
  char *buf = malloc(MAX_CA_FILE + 1);
  size_t n = buf ? fread(buf, 1, MAX_CA_FILE + 1, f) : 0;
  bool err = ferror(f) != 0;
  fclose(f);
  if (!buf) return ee_status_set(st, EE_INTERNAL, "out of memory");
  if (err || n == 0 || n > MAX_CA_FILE) {
    free(buf);
    return ee_status_set(st, EE_INVALID_ARGUMENT, "ca_file %s: %s", path,
                         err      ? "read error"
                         : n == 0 ? "empty"
                                  : "larger than 4 MiB");
  }
  buf[n] = '\0';
  if (!strstr(buf, "-----BEGIN CERTIFICATE-----")) {
    free(buf);
    return ee_status_set(st, EE_INVALID_ARGUMENT, "ca_file %s: no PEM certificate in it", path);
  }
  *out = buf;
  return EE_OK;
}

/* TLS with the CA file's roots (or grpc's default: the system's) for https; plaintext
 * otherwise. */
static ee_code make_credentials(const eei_transport_config *cfg, grpc_channel_credentials **out,
                                ee_status *st) {
  if (!cfg->tls) {
    *out = grpc_insecure_credentials_create();
  } else {
    char *pem = NULL;
    if (cfg->ca_file && read_pem(cfg->ca_file, &pem, st) != EE_OK) return st->code;
    *out = grpc_ssl_credentials_create(pem, NULL, NULL, NULL);
    free(pem);
  }
  if (!*out) return ee_status_set(st, EE_INTERNAL, "grpc: cannot create channel credentials");
  return EE_OK;
}

static void transport_free(eei_transport *t) {
  if (t->channel && t->own_channel) grpc_channel_destroy(t->channel);
  if (t->creds) grpc_channel_credentials_release(t->creds);
  if (t->cq && t->own_cq) grpc_completion_queue_destroy(t->cq);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->idle);
  free(t);
  grpc_shutdown();
}

/* Shuts our queue down and lets the event threads see GRPC_QUEUE_SHUTDOWN (or drains it
 * here when none started). A caller's queue is the caller's to shut down. */
static void stop_queue(eei_transport *t) {
  if (!t->own_cq) return;
  grpc_completion_queue_shutdown(t->cq);
  if (t->n_threads) {
    for (int i = 0; i < t->n_threads; i++) pthread_join(t->threads[i], NULL);
    return;
  }
  while (grpc_completion_queue_next(t->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
}

static ee_code grpc_create(const eei_transport_config *cfg, eei_transport **out, ee_status *st) {
  *out = NULL;
  if (!cfg || !cfg->host || !cfg->host[0] || cfg->port <= 0 || cfg->port > 65535)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "grpc transport: endpoint host and port needed");
  eei_transport *t = calloc(1, sizeof *t);
  if (!t) return ee_status_set(st, EE_INTERNAL, "out of memory");
  grpc_init();
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->idle, NULL);
  bool v6 = strchr(cfg->host, ':') != NULL;
  int n = snprintf(t->target, sizeof t->target, v6 ? "[%s]:%d" : "%s:%d", cfg->host, cfg->port);
  t->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000;
  t->max_response_bytes = cfg->max_response_bytes ? cfg->max_response_bytes : (size_t)32 << 20;
  t->max_depth = cfg->max_depth > 0 ? cfg->max_depth : EE_WIRE_DEFAULT_MAX_DEPTH;
  if (n < 0 || (size_t)n >= sizeof t->target) {
    ee_status_set(st, EE_INVALID_ARGUMENT, "grpc transport: endpoint host too long");
    transport_free(t);
    return st->code;
  }
  if (cfg->channel) {
    t->channel = cfg->channel; /* the user agent and TLS settings are the caller's */
  } else {
    t->own_channel = true;
    if (make_credentials(cfg, &t->creds, st) != EE_OK) {
      transport_free(t);
      return st->code;
    }
  }
  if (cfg->cq) {
    t->cq = cfg->cq; /* the caller polls it: no thread of ours */
    *out = t;
    return EE_OK;
  }
  t->own_cq = true;
  t->cq = grpc_completion_queue_create_for_next(NULL);
  int want = cfg->completion_threads > 0 ? cfg->completion_threads : 1;
  if (want > MAX_THREADS) want = MAX_THREADS;
  for (; t->n_threads < want; t->n_threads++)
    if (pthread_create(&t->threads[t->n_threads], NULL, event_loop, t) != 0) break;
  if (t->n_threads < want) {
    stop_queue(t);
    transport_free(t);
    return ee_status_set(st, EE_INTERNAL, "grpc transport: cannot start the completion threads");
  }
  *out = t;
  return EE_OK;
}

static void grpc_destroy(eei_transport *t) {
  if (!t) return;
  pthread_mutex_lock(&t->mu);
  t->closing = true;
  for (struct eei_attempt *a = t->live; a; a = a->next) grpc_call_cancel(a->call, NULL);
  while (t->live || t->n_posted) pthread_cond_wait(&t->idle, &t->mu);
  pthread_mutex_unlock(&t->mu);
  stop_queue(t);
  transport_free(t);
}

/* The channel, created on first use with the user agent the attempt carries. Called
 * under t->mu. */
static grpc_channel *channel_locked(eei_transport *t, const char *user_agent) {
  if (t->channel) return t->channel;
  grpc_arg args[9];
  size_t n = 0;
  memset(args, 0, sizeof args);
#define INT_ARG(k, v) \
  (args[n].type = GRPC_ARG_INTEGER, args[n].key = (char *)(k), args[n++].value.integer = (v))
  size_t max = t->max_response_bytes;
  /* One byte over our limit so that a response of exactly max_response_bytes passes and
   * the check below (not grpc's) decides; grpc still stops anything larger early. */
  INT_ARG(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, max >= INT_MAX ? INT_MAX : (int)max + 1);
  INT_ARG(GRPC_ARG_KEEPALIVE_TIME_MS, KEEPALIVE_TIME_MS);
  INT_ARG(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, KEEPALIVE_TIMEOUT_MS);
  /* grpc's connect timeout is the minimum reconnect backoff (subchannel.cc). */
  INT_ARG(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, t->connect_timeout_ms);
  INT_ARG(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, MAX_RECONNECT_BACKOFF_MS);
  /* The client core retries (with its own policy and requestIds); grpc's retry filter
   * would only buffer every message a second time. */
  INT_ARG(GRPC_ARG_ENABLE_RETRIES, 0);
  INT_ARG(GRPC_ARG_ENABLE_CHANNELZ, 0);
#undef INT_ARG
  if (user_agent) {
    args[n].type = GRPC_ARG_STRING;
    args[n].key = (char *)GRPC_ARG_PRIMARY_USER_AGENT_STRING;
    args[n++].value.string = (char *)user_agent;
  }
  grpc_channel_args ca = {n, args};
  t->channel = grpc_channel_create(t->target, t->creds, &ca);
  t->own_channel = true;
  return t->channel;
}

/* ------------------------------------------------------------------------------------
 * prepare
 * ---------------------------------------------------------------------------------- */

static ee_code prepared_new(eei_transport *t, const ee_route *route, eei_prepared **out,
                            ee_status *st) {
  size_t tl = strlen(t->target), pl = strlen(route->grpc_path);
  eei_prepared *p = calloc(1, sizeof *p + tl + pl + 1);
  if (!p) return ee_status_set(st, EE_INTERNAL, "out of memory");
  p->route = route;
  p->max_depth = t->max_depth;
  p->target = (char *)(p + 1);
  memcpy(p->target, t->target, tl);
  memcpy(p->target + tl, route->grpc_path, pl + 1);
  p->message = grpc_empty_slice();
  p->params = grpc_empty_slice();
  *out = p;
  return EE_OK;
}

static void grpc_prepared_free(eei_prepared *p) {
  if (!p) return;
  grpc_slice_unref(p->message);
  grpc_slice_unref(p->params);
  free(p);
}

static ee_code check_route(const ee_route *route, ee_status *st) {
  if (!route || !route->grpc_path || route->grpc_path[0] != '/' || !route->request ||
      !route->response)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "grpc transport: incomplete route");
  return EE_OK;
}

static ee_code grpc_prepare(eei_transport *t, const ee_route *route, const ProtobufCMessage *req,
                            eei_prepared **out, ee_status *st) {
  *out = NULL;
  if (check_route(route, st) != EE_OK) return st->code;
  if (!req || req->descriptor != route->request)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: request must be a %s, not %s",
                         route->grpc_path, route->request->name,
                         req ? req->descriptor->name : "NULL");
  /* Path values first: a bad one means nothing is built (nor sent). */
  ee_buf params = EE_BUF_INIT;
  if (ee_route_request_params(route, req, &params, st) != EE_OK) {
    ee_buf_free(&params);
    return st->code;
  }
  eei_prepared *p;
  if (prepared_new(t, route, &p, st) != EE_OK) {
    ee_buf_free(&params);
    return st->code;
  }
  if (params.len) p->params = grpc_slice_from_copied_buffer(params.data, params.len);
  ee_buf_free(&params);
  size_t len = protobuf_c_message_get_packed_size(req);
  if (len) { /* packed straight into the refcounted slice every attempt sends */
    p->message = grpc_slice_malloc(len);
    protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(p->message));
  }
  *out = p;
  return EE_OK;
}

static ee_code grpc_prepare_bytes(eei_transport *t, const ee_route *route, const uint8_t *bytes,
                                  size_t len, const char *request_params, eei_prepared **out,
                                  ee_status *st) {
  *out = NULL;
  if (check_route(route, st) != EE_OK) return st->code;
  if (len && !bytes) return ee_status_set(st, EE_INVALID_ARGUMENT, "request bytes: NULL");
  eei_prepared *p;
  if (prepared_new(t, route, &p, st) != EE_OK) return st->code;
  if (len) p->message = grpc_slice_from_copied_buffer((const char *)bytes, len);
  if (request_params && request_params[0])
    p->params = grpc_slice_from_copied_string(request_params);
  *out = p;
  return EE_OK;
}

/* ------------------------------------------------------------------------------------
 * describe / target
 * ---------------------------------------------------------------------------------- */

/* Appends s (n bytes) as a JSON string. Bytes >= 0x80 pass through (UTF-8). */
static ee_code json_string(ee_buf *b, const char *s, size_t n, ee_status *st) {
  static const char hex[] = "0123456789abcdef";
  if (ee_buf_reserve(b, n + 2, st) != EE_OK) return st->code;
  b->data[b->len++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
    size_t el = 2;
    switch (c) {
      case '"': esc[1] = '"'; break;
      case '\\': esc[1] = '\\'; break;
      case '\n': esc[1] = 'n'; break;
      case '\r': esc[1] = 'r'; break;
      case '\t': esc[1] = 't'; break;
      case '\b': esc[1] = 'b'; break;
      case '\f': esc[1] = 'f'; break;
      default:
        if (c >= 0x20) {
          esc[0] = (char)c;
          el = 1;
        } else {
          memcpy(esc + 1, "u00", 3);
          esc[4] = hex[c >> 4];
          esc[5] = hex[c & 15];
          el = 6;
        }
    }
    if (ee_buf_append(b, esc, el, st) != EE_OK) return st->code;
  }
  return ee_buf_append(b, "\"", 1, st);
}

static ee_code json_member(ee_buf *b, bool first, const char *name, const char *value,
                           size_t value_len, ee_status *st) {
  if (!first && ee_buf_append(b, ",", 1, st) != EE_OK) return st->code;
  if (json_string(b, name, strlen(name), st) != EE_OK) return st->code;
  if (ee_buf_append(b, ":", 1, st) != EE_OK) return st->code;
  return json_string(b, value, value_len, st);
}

static ee_code describe_metadata(const eei_prepared *p, const eei_header *headers, size_t n,
                                 ee_buf *out, ee_status *st) {
  if (ee_buf_append_str(out, "\"metadata\":{", st) != EE_OK) return st->code;
  bool first = true;
  for (size_t i = 0; i < n; i++) {
    const char *v = headers[i].secret ? "REDACTED" : headers[i].value ? headers[i].value : "";
    if (json_member(out, first, headers[i].name, v, strlen(v), st) != EE_OK) return st->code;
    first = false;
  }
  if (GRPC_SLICE_LENGTH(p->params) && json_member(out, first, "x-goog-request-params",
                                                  (const char *)GRPC_SLICE_START_PTR(p->params),
                                                  GRPC_SLICE_LENGTH(p->params), st) != EE_OK)
    return st->code;
  return ee_buf_append_str(out, "}", st);
}

static ee_code grpc_describe(const eei_prepared *p, const eei_header *headers, size_t n_headers,
                             ee_buf *out, ee_status *st) {
  static const uint8_t empty[1];
  size_t len = GRPC_SLICE_LENGTH(p->message);
  const uint8_t *data = len ? GRPC_SLICE_START_PTR(p->message) : empty;
  ProtobufCMessage *msg = NULL;
  if (ee_wire_unpack(p->route->request, data, len, p->max_depth, NULL, &msg, st) != EE_OK)
    return ee_status_prefix(st, "request: not a valid %s", p->route->request->name);
  ee_code rc = ee_buf_append_str(out, "{\"transport\":\"grpc\",\"method\":", st);
  if (rc == EE_OK) rc = json_string(out, p->route->grpc_path, strlen(p->route->grpc_path), st);
  if (rc == EE_OK) rc = ee_buf_append(out, ",", 1, st);
  if (rc == EE_OK) rc = describe_metadata(p, headers, n_headers, out, st);
  if (rc == EE_OK) rc = ee_buf_append_str(out, ",\"message\":", st);
  if (rc == EE_OK) rc = ee_json_encode(msg, NULL, out, st);
  if (rc == EE_OK) rc = ee_buf_append(out, "}", 1, st);
  protobuf_c_message_free_unpacked(msg, NULL);
  return rc;
}

static const char *grpc_target(const eei_prepared *p, const char **http_method) {
  if (http_method) *http_method = "POST";
  return p->target;
}

/* ------------------------------------------------------------------------------------
 * start / cancel
 * ---------------------------------------------------------------------------------- */

static void attempt_free(eei_attempt *a) {
  if (a->call) grpc_call_unref(a->call);
  if (a->send) grpc_byte_buffer_destroy(a->send);
  if (a->recv) grpc_byte_buffer_destroy(a->recv);
  grpc_metadata_array_destroy(&a->initial);
  grpc_metadata_array_destroy(&a->trailing);
  grpc_slice_unref(a->details);
  if (a->error_string) gpr_free((void *)a->error_string);
  for (size_t i = 0; i < a->n_md; i++) grpc_slice_unref(a->md[i].value);
  grpc_slice_unref(a->header_block);
  free(a);
}

/* Takes a off the live list (from then on destroy no longer cancels it) and frees it.
 * The free happens after destroy may have seen the list empty; that is safe because
 * destroy then only shuts the queue down (a call whose batch completed adds no work to
 * it) and joins this thread before it destroys the channel. */
static void release(eei_transport *t, eei_attempt *a) {
  pthread_mutex_lock(&t->mu);
  if (a->prev)
    a->prev->next = a->next;
  else
    t->live = a->next;
  if (a->next) a->next->prev = a->prev;
  /* Under the lock: once it is released, destroy may see the transport idle and destroy
   * the condition variable (and the transport) before a broadcast made after it. */
  if (!t->live && !t->n_posted && t->closing) pthread_cond_broadcast(&t->idle);
  pthread_mutex_unlock(&t->mu);
  attempt_free(a);
}

/* What grpc accepts (validate_metadata.cc), checked here because grpc logs a refusal to
 * stderr and a transport never logs: names [0-9a-z-_.]+, values of non-binary headers
 * printable ASCII. */
static bool legal_name(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
          *s == '.'))
      return false;
  return true;
}

static bool legal_value(const char *name, size_t nl, const char *v) {
  if (nl > 4 && memcmp(name + nl - 4, "-bin", 4) == 0) return true;
  for (; *v; v++)
    if ((unsigned char)*v < 0x20 || (unsigned char)*v > 0x7e) return false;
  return true;
}

/* Copies the headers (bar user-agent, which grpc sends from the channel argument) into
 * one refcounted block and points the call's metadata into it. Returns the user agent
 * seen, or NULL. */
static ee_code copy_headers(eei_attempt *a, const eei_header *h, size_t n, const char **ua,
                            ee_status *st) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (!h[i].name || !h[i].value)
      return ee_status_set(st, EE_INVALID_ARGUMENT, "header %zu: NULL name or value", i);
    total += strlen(h[i].name) + strlen(h[i].value);
  }
  a->header_block = grpc_slice_malloc(total);
  char *w = (char *)GRPC_SLICE_START_PTR(a->header_block);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(h[i].name, "user-agent") == 0) {
      *ua = h[i].value;
      continue;
    }
    size_t nl = strlen(h[i].name), vl = strlen(h[i].value);
    if (!legal_name(h[i].name) || !legal_value(h[i].name, nl, h[i].value))
      return ee_status_set(st, EE_INVALID_ARGUMENT, "header \"%.100s\": not a legal gRPC %s",
                           h[i].name,
                           legal_name(h[i].name) ? "value (printable ASCII)"
                                                 : "name (lower-case letters, digits, -_.)");
    memcpy(w, h[i].name, nl);
    memcpy(w + nl, h[i].value, vl);
    size_t off = (size_t)(w - (char *)GRPC_SLICE_START_PTR(a->header_block));
    grpc_metadata *m = &a->md[a->n_md++];
    m->key = grpc_slice_sub_no_ref(a->header_block, off, off + nl);
    m->value = grpc_slice_sub(a->header_block, off + nl, off + nl + vl);
    w += nl + vl;
  }
  return EE_OK;
}

/* Why grpc refused the metadata, should it refuse something copy_headers let through. */
static ee_code bad_metadata(const eei_attempt *a, ee_status *st) {
  for (size_t i = 0; i < a->n_md; i++) {
    const grpc_metadata *m = &a->md[i];
    bool name_ok = grpc_header_key_is_legal(m->key) != 0;
    if (name_ok && (grpc_is_binary_header(m->key) || grpc_header_nonbin_value_is_legal(m->value)))
      continue;
    return ee_status_set(st, EE_INVALID_ARGUMENT, "header \"%.*s\": not a legal gRPC %s",
                         (int)GRPC_SLICE_LENGTH(m->key), (const char *)GRPC_SLICE_START_PTR(m->key),
                         name_ok ? "value" : "name (lower-case letters, digits, -_.)");
  }
  return ee_status_set(st, EE_INVALID_ARGUMENT, "grpc refused the call's metadata");
}

/* The attempt's absolute deadline on the monotonic clock, from eei_now_ms's. */
static gpr_timespec to_deadline(int64_t deadline_ms) {
  if (deadline_ms <= 0) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  int64_t left = deadline_ms - eei_now_ms();
  if (left < 0) left = 0;
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(left, GPR_TIMESPAN));
}

/* Our tags have their lowest bit set (ee_client_owns_tag), so that a caller's queue can
 * tell them from its own; an attempt is malloc'ed, so its own lowest bit is clear. */
static void *attempt_tag(eei_attempt *a) {
  return (void *)((uintptr_t)a | 1u);
}

/* The one batch of a unary call: everything is sent and received in it. */
static grpc_call_error start_batch(eei_attempt *a) {
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = a->n_md;
  ops[0].data.send_initial_metadata.metadata = a->md;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = a->send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &a->initial;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &a->recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &a->trailing;
  ops[5].data.recv_status_on_client.status = &a->status;
  ops[5].data.recv_status_on_client.status_details = &a->details;
  ops[5].data.recv_status_on_client.error_string = &a->error_string;
  return grpc_call_start_batch(a->call, ops, 6, attempt_tag(a), NULL);
}

static eei_attempt *attempt_new(eei_prepared *p, size_t n_headers) {
  eei_attempt *a = calloc(1, sizeof *a + (n_headers + 1) * sizeof(grpc_metadata));
  if (!a) return NULL;
  a->p = p;
  a->details = grpc_empty_slice();
  a->header_block = grpc_empty_slice();
  grpc_metadata_array_init(&a->initial);
  grpc_metadata_array_init(&a->trailing);
  return a;
}

static ee_code grpc_start(eei_transport *t, eei_prepared *p, const eei_header *headers,
                          size_t n_headers, int64_t deadline_ms, eei_attempt_done_fn done,
                          void *user, eei_attempt **out, ee_status *st) {
  if (out) *out = NULL;
  if (n_headers > MAX_HEADERS)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "more than %d headers", MAX_HEADERS);
  eei_attempt *a = attempt_new(p, n_headers);
  if (!a) return ee_status_set(st, EE_INTERNAL, "out of memory");
  a->t = t;
  a->done = done;
  a->user = user;
  const char *ua = NULL;
  if (copy_headers(a, headers, n_headers, &ua, st) != EE_OK) {
    attempt_free(a);
    return st->code;
  }
  if (GRPC_SLICE_LENGTH(p->params)) {
    grpc_metadata *m = &a->md[a->n_md++];
    m->key = grpc_slice_from_static_string("x-goog-request-params");
    m->value = grpc_slice_ref(p->params);
  }
  grpc_slice msg = grpc_slice_ref(p->message);
  a->send = grpc_raw_byte_buffer_create(&msg, 1);
  grpc_slice_unref(msg);
  gpr_timespec deadline = to_deadline(deadline_ms);

  pthread_mutex_lock(&t->mu);
  grpc_channel *ch = t->closing ? NULL : channel_locked(t, ua);
  if (!ch) {
    bool closing = t->closing;
    pthread_mutex_unlock(&t->mu);
    attempt_free(a);
    return closing
               ? ee_status_set(st, EE_CANCELLED, "the client is shutting down")
               : ee_status_set(st, EE_INTERNAL, "grpc: cannot create a channel to %s", t->target);
  }
  a->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, t->cq,
                                     grpc_slice_from_static_string(p->route->grpc_path), NULL,
                                     deadline, NULL);
  a->next = t->live;
  if (t->live) t->live->prev = a;
  t->live = a;
  pthread_mutex_unlock(&t->mu);

  /* *out before the batch: the attempt may complete (and be freed) before we return. */
  if (out) *out = a;
  atomic_store_explicit(&a->kind, TAG_ATTEMPT, memory_order_release);
  grpc_call_error ce = start_batch(a);
  if (ce == GRPC_CALL_OK) return EE_OK;
  if (out) *out = NULL;
  if (ce == GRPC_CALL_ERROR_INVALID_METADATA)
    bad_metadata(a, st);
  else
    ee_status_set(st, EE_INTERNAL, "grpc: cannot start the call: %s",
                  grpc_call_error_to_string(ce));
  release(t, a);
  return st->code;
}

static void grpc_cancel(eei_transport *t, eei_attempt *a) {
  (void)t;
  if (a && a->call) grpc_call_cancel(a->call, NULL);
}

/* ------------------------------------------------------------------------------------
 * completion
 * ---------------------------------------------------------------------------------- */

static const grpc_slice *trailer(const grpc_metadata_array *md, const char *key) {
  for (size_t i = 0; i < md->count; i++)
    if (grpc_slice_str_cmp(md->metadata[i].key, key) == 0) return &md->metadata[i].value;
  return NULL;
}

/* The response message: the byte buffer's one slice when it is plain (the usual case),
 * else a flattened copy. */
static void decode_response(eei_attempt *a, eei_attempt_result *res) {
  static const uint8_t empty[1];
  const ee_route *route = a->p->route;
  if (!a->recv) {
    ee_status_set(&res->status, EE_INTERNAL, "%s: the server sent OK without a response",
                  route->grpc_path);
    return;
  }
  grpc_slice flat = grpc_empty_slice();
  const grpc_slice_buffer *sb = &a->recv->data.raw.slice_buffer;
  if (a->recv->type == GRPC_BB_RAW && a->recv->data.raw.compression == GRPC_COMPRESS_NONE &&
      sb->count == 1) {
    flat = grpc_slice_ref(sb->slices[0]);
  } else {
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, a->recv)) {
      ee_status_set(&res->status, EE_INTERNAL, "%s: unreadable (compressed?) response",
                    route->grpc_path);
      return;
    }
    flat = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
  }
  size_t len = GRPC_SLICE_LENGTH(flat);
  if (len > a->t->max_response_bytes) {
    ee_status_set(&res->status, EE_OUT_OF_RANGE,
                  "%s: response of %zu bytes is larger than max_response_bytes (%zu)",
                  route->grpc_path, len, a->t->max_response_bytes);
  } else if (ee_wire_unpack(route->response, len ? GRPC_SLICE_START_PTR(flat) : empty, len,
                            a->t->max_depth, NULL, &res->response, &res->status) != EE_OK) {
    ee_status_prefix(&res->status, "%s: response is not a valid %s", route->grpc_path,
                     route->response->name);
    res->status.code = EE_INTERNAL;
  }
  grpc_slice_unref(flat);
}

/* Errors grpc reports for a connection it could not make: the request was not sent. */
static bool never_sent(const eei_attempt *a, const char *details) {
  static const char *const phrases[] = {
      "failed to connect", "Failed to connect", "Connection refused",   "DNS resolution failed",
      "Handshake failed",  "handshake failed",  "No address added out", "name resolution"};
  if (a->status != GRPC_STATUS_UNAVAILABLE || a->initial.count || a->trailing.count) return false;
  for (size_t i = 0; i < sizeof phrases / sizeof *phrases; i++)
    if (strstr(details, phrases[i])) return true;
  return false;
}

static void decode_error(eei_attempt *a, eei_attempt_result *res) {
  char details[EE_STATUS_MESSAGE_MAX];
  size_t dl = GRPC_SLICE_LENGTH(a->details);
  if (dl >= sizeof details) dl = sizeof details - 1;
  memcpy(details, GRPC_SLICE_START_PTR(a->details), dl);
  details[dl] = '\0';
  ee_code code = (unsigned)a->status < EE_CODE_COUNT ? (ee_code)a->status : EE_UNKNOWN;
  const grpc_slice *bin = trailer(&a->trailing, "grpc-status-details-bin");
  if (bin) {
    ee_route_status_from_rpc(GRPC_SLICE_START_PTR(*bin), GRPC_SLICE_LENGTH(*bin), code,
                             &res->status);
    if (!res->status.message[0])
      snprintf(res->status.message, EE_STATUS_MESSAGE_MAX, "%s", details);
  } else if (code == EE_RESOURCE_EXHAUSTED && !a->trailing.count &&
             strstr(details, "larger than max")) {
    /* grpc's own receive limit: ours to report, and not worth a retry. */
    ee_status_set(&res->status, EE_OUT_OF_RANGE,
                  "%s: response larger than max_response_bytes (%zu): %s", a->p->route->grpc_path,
                  a->t->max_response_bytes, details);
  } else {
    ee_status_set(&res->status, code, "%s", dl ? details : ee_code_name(code));
  }
  res->sent = !never_sent(a, details);
}

static void complete(eei_attempt *a, int success) {
  eei_transport *t = a->t;
  eei_attempt_result res;
  ee_status_clear(&res.status);
  res.response = NULL;
  res.retry_after_ms = -1;
  res.sent = true;
  if (a->status == GRPC_STATUS_OK && success) {
    decode_response(a, &res);
  } else if (a->status == GRPC_STATUS_OK) { /* a failed batch without a status: unusual */
    ee_status_set(&res.status, EE_UNKNOWN, "%s: the call failed without a status",
                  a->p->route->grpc_path);
  } else {
    decode_error(a, &res);
  }
  a->done(a->user, &res);
  if (res.response) protobuf_c_message_free_unpacked(res.response, NULL);
  release(t, a);
}

static void dispatch(void *tag, int success);

static void *event_loop(void *arg) {
  eei_transport *t = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(t->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type == GRPC_OP_COMPLETE) dispatch(ev.tag, ev.success);
  }
  return NULL;
}

/* ---- posting a function to the queue ----
 *
 * grpc core has no public "post" or alarm in C. A connectivity watch on our channel whose
 * "last observed" state is SHUTDOWN (which a live channel never is) completes at once on
 * the queue, with our tag: that is the post. */

static void run_posted(posted *p) {
  eei_transport *t = p->t;
  p->fn(p->arg);
  free(p);
  pthread_mutex_lock(&t->mu);
  t->n_posted--;
  /* Under the lock, as in release. */
  if (!t->live && !t->n_posted && t->closing) pthread_cond_broadcast(&t->idle);
  pthread_mutex_unlock(&t->mu);
}

static ee_code grpc_post(eei_transport *t, void (*fn)(void *arg), void *arg) {
  posted *p = malloc(sizeof *p);
  if (!p) return EE_RESOURCE_EXHAUSTED;
  p->t = t;
  p->fn = fn;
  p->arg = arg;
  atomic_store_explicit(&p->kind, TAG_POST, memory_order_release);
  pthread_mutex_lock(&t->mu);
  grpc_channel *ch = t->channel; /* set once an attempt ran: the only case we are asked */
  if (ch) {
    t->n_posted++;
    grpc_channel_watch_connectivity_state(ch, GRPC_CHANNEL_SHUTDOWN,
                                          gpr_inf_future(GPR_CLOCK_MONOTONIC), t->cq,
                                          (void *)((uintptr_t)p | 1u));
  }
  pthread_mutex_unlock(&t->mu);
  if (!ch) free(p);
  return ch ? EE_OK : EE_UNAVAILABLE;
}

static void dispatch(void *tag, int success) {
  void *obj = (void *)((uintptr_t)tag & ~(uintptr_t)1u);
  if (atomic_load_explicit((_Atomic int *)obj, memory_order_acquire) == TAG_POST)
    run_posted(obj);
  else
    complete(obj, success);
}

void eei_grpc_event(void *tag, int success) {
  if (tag) dispatch(tag, success);
}

/* No drivers: a blocking call waits for a completion thread. (Polling a queue of its own
 * on the caller's thread, as grpc's C++ sync stubs do, measured slower here: grpc core
 * still hands each event between threads.) */
const eei_transport_ops eei_grpc_transport = {
    .name = "grpc",
    .create = grpc_create,
    .destroy = grpc_destroy,
    .prepare = grpc_prepare,
    .prepare_bytes = grpc_prepare_bytes,
    .describe = grpc_describe,
    .target = grpc_target,
    .start = grpc_start,
    .cancel = grpc_cancel,
    .prepared_free = grpc_prepared_free,
    .post = grpc_post,
};
