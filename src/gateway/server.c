/* ee-gateway: the gRPC server and the life of one forwarded call.
 *
 * One completion queue, polled by --threads threads; no thread per call. Each call is a
 * gw_call whose events arrive as tags on that queue (accept, the request message, the
 * close, the sent reply) plus one event from outside: the upstream call's completion,
 * on a client thread. Those can come in any order (a client cancel can race the upstream
 * answer), so a gw_call is reference counted: every operation outstanding on it (each
 * grpc batch, the upstream call) holds one reference, and the last one frees it. The
 * few fields two threads touch (the upstream handle, the peer's cancel) sit under the
 * call's mutex; the reply is sent once, guarded by an atomic flag.
 *
 * The upstream client is used under a read-write lock: starting and cancelling upstream
 * calls take it shared, ee_client_free takes it exclusively, so no call starts on (or
 * cancels into) a freed client during shutdown. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "ee/route.h"
#include "gateway.h"

/* Calls accepted ahead per polling thread: a burst of new calls finds a requested slot
 * instead of waiting for the previous accept to be re-armed. */
#define ACCEPTS_PER_THREAD 16
#define METHOD_MAX 128
#define QUOTA_MAX 256
/* After the grace period and the cancels, how long to wait before forcing the client. */
#define CANCEL_WAIT_MS 3000

static const char *const served[] = {
    "/google.earthengine.v1.EarthEngine/ExportImage",
    "/google.longrunning.Operations/GetOperation",
    "/google.longrunning.Operations/ListOperations",
    "/google.longrunning.Operations/CancelOperation",
    "/google.longrunning.Operations/DeleteOperation",
    "/google.longrunning.Operations/WaitOperation",
};

typedef enum tag_kind { TAG_ACCEPT, TAG_RECV, TAG_CLOSE, TAG_SEND, TAG_SHUTDOWN } tag_kind;

typedef struct gw_call gw_call;

/* What grpc hands back on the queue: which event, for which call. */
typedef struct tag {
  /* Bumped (release) before the tag is handed to grpc and read (acquire) first when it
   * comes back: grpc's queue already orders the two, but inside grpc's uninstrumented
   * code; this makes the hand-over visible to ThreadSanitizer. */
  atomic_uint handoff;
  tag_kind kind;
  gw_call *call; /* NULL for TAG_SHUTDOWN */
} tag;

struct gw_call {
  gateway *g;
  atomic_int refs;
  tag t_accept, t_recv, t_close, t_send;
  gw_call *prev, *next; /* in g->calls */
  /* Filled by grpc when the call is accepted; read by one thread at a time after that. */
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array md;
  grpc_byte_buffer *payload;
  int peer_cancelled_out; /* RECV_CLOSE_ON_SERVER's answer */
  bool accepted;
  char method[METHOD_MAX];
  const char *rpc; /* the served method, or NULL */
  struct timespec started;
  /* Shared between the close event and the thread that starts the upstream call. */
  pthread_mutex_t mu;
  ee_call *up;
  bool peer_cancelled;
  atomic_bool swept; /* seen by cancel_all_upstream */
  /* The reply: sent once; its buffers live until the call is freed. */
  atomic_bool replied;
  ee_code code;
  grpc_byte_buffer *resp;
  grpc_slice status_text;
  grpc_metadata trailer;
};

struct gateway {
  gw_config cfg;
  grpc_server *server;
  grpc_completion_queue *cq;
  pthread_t *threads;
  int n_threads;
  tag shutdown_tag;
  pthread_rwlock_t client_lock;
  ee_client *client; /* NULL once freed */
  atomic_int in_flight;
  pthread_mutex_t mu; /* the fields below */
  pthread_cond_t changed;
  gw_call *calls;
  size_t n_calls;
  bool stopping, shut_down;
};

static double ms_since(const struct timespec *t0) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- the call object ---- */

static void tag_init(tag *t, tag_kind kind, gw_call *c) {
  atomic_init(&t->handoff, 0);
  t->kind = kind;
  t->call = c;
}

static gw_call *call_new(gateway *g) {
  gw_call *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->g = g;
  atomic_init(&c->refs, 1);
  tag_init(&c->t_accept, TAG_ACCEPT, c);
  tag_init(&c->t_recv, TAG_RECV, c);
  tag_init(&c->t_close, TAG_CLOSE, c);
  tag_init(&c->t_send, TAG_SEND, c);
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->md);
  c->status_text = grpc_empty_slice();
  c->trailer.key = grpc_empty_slice();
  c->trailer.value = grpc_empty_slice();
  pthread_mutex_init(&c->mu, NULL);
  atomic_init(&c->replied, false);
  atomic_init(&c->swept, false);
  pthread_mutex_lock(&g->mu);
  c->next = g->calls;
  if (g->calls) g->calls->prev = c;
  g->calls = c;
  g->n_calls++;
  pthread_mutex_unlock(&g->mu);
  return c;
}

/* The per-call log line: what was asked, how it ended, how long it took. Never a
 * header value (no token reaches this line). */
static void log_call(const gw_call *c) {
  bool replied = atomic_load(&c->replied);
  fprintf(stderr, "ee-gateway: %s %s %.1f ms%s\n", c->method,
          ee_code_name(replied ? c->code : EE_CANCELLED), ms_since(&c->started),
          replied ? "" : " (client went away)");
}

static void call_free(gw_call *c) {
  gateway *g = c->g;
  /* Out of the list first: cancel_all_upstream no longer finds it. */
  pthread_mutex_lock(&g->mu);
  if (c->prev)
    c->prev->next = c->next;
  else
    g->calls = c->next;
  if (c->next) c->next->prev = c->prev;
  pthread_mutex_unlock(&g->mu);
  if (c->accepted) log_call(c);
  if (c->call) grpc_call_unref(c->call);
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->md);
  if (c->payload) grpc_byte_buffer_destroy(c->payload);
  if (c->resp) grpc_byte_buffer_destroy(c->resp);
  grpc_slice_unref(c->status_text);
  grpc_slice_unref(c->trailer.key);
  grpc_slice_unref(c->trailer.value);
  ee_call_release(c->up); /* safe after the call ended, and after ee_client_free */
  pthread_mutex_destroy(&c->mu);
  free(c);
  /* Counted down last: gw_stop destroys the server once this reaches zero. */
  pthread_mutex_lock(&g->mu);
  if (--g->n_calls == 0) pthread_cond_broadcast(&g->changed);
  pthread_mutex_unlock(&g->mu);
}

static void call_ref(gw_call *c) {
  atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

/* A reference to a call found in the list, unless it is already being freed. */
static bool call_try_ref(gw_call *c) {
  int n = atomic_load(&c->refs);
  while (n > 0)
    if (atomic_compare_exchange_weak(&c->refs, &n, n + 1)) return true;
  return false;
}

static void call_unref(gw_call *c) {
  if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) call_free(c);
}

/* Starts a batch that holds one reference until its tag comes back. */
static void start_batch(gw_call *c, const grpc_op *ops, size_t n, tag *t) {
  call_ref(c);
  atomic_fetch_add_explicit(&t->handoff, 1, memory_order_release);
  grpc_call_error e = grpc_call_start_batch(c->call, ops, n, t, NULL);
  if (e != GRPC_CALL_OK) {
    fprintf(stderr, "ee-gateway: error: %s: grpc_call_start_batch refused (%d)\n", c->method,
            (int)e);
    call_unref(c);
  }
}

/* ---- replies ---- */

/* Adds the grpc-status-details-bin trailer: google.rpc.Status with the ErrorInfo (reason,
 * domain, metadata) and RetryInfo the upstream error carried, so a caller sees the same
 * details as from the upstream itself. */
static void set_details_trailer(gw_call *c, const ee_status *st) {
  ee_route_error_kv kv[EE_STATUS_METADATA_MAX / 2];
  size_t n = 0, pos = 0;
  const char *k, *v;
  while (n < sizeof kv / sizeof *kv && ee_status_metadata_next(st, &pos, &k, &v))
    kv[n++] = (ee_route_error_kv){k, v};
  ee_buf details;
  ee_buf_init(&details, 0);
  ee_status ignore;
  if (ee_route_status_to_rpc(st, kv, n, &details, &ignore) == EE_OK) {
    c->trailer.key = grpc_slice_from_static_string("grpc-status-details-bin");
    c->trailer.value = grpc_slice_from_copied_buffer(details.data ? details.data : "", details.len);
  } else {
    fprintf(stderr, "ee-gateway: error: %s: status details not sent: %s\n", c->method,
            ignore.message);
  }
  ee_buf_free(&details);
}

/* Sends the answer (resp on success, else st with its details) and the status. Once per
 * call: a second reply (which the call's paths never make) is ignored. */
static void reply(gw_call *c, const ProtobufCMessage *resp, const ee_status *st) {
  if (atomic_exchange(&c->replied, true)) return;
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  c->code = st->code;
  if (st->code == EE_OK) {
    size_t len = resp ? protobuf_c_message_get_packed_size(resp) : 0;
    grpc_slice s = grpc_slice_malloc(len);
    if (len) protobuf_c_message_pack(resp, GRPC_SLICE_START_PTR(s));
    c->resp = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = c->resp;
  } else {
    c->status_text = grpc_slice_from_copied_string(st->message);
    set_details_trailer(c, st);
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = (grpc_status_code)st->code;
  ops[n].data.send_status_from_server.status_details = st->code == EE_OK ? NULL : &c->status_text;
  if (GRPC_SLICE_LENGTH(c->trailer.value)) {
    ops[n].data.send_status_from_server.trailing_metadata_count = 1;
    ops[n].data.send_status_from_server.trailing_metadata = &c->trailer;
  }
  n++;
  start_batch(c, ops, n, &c->t_send);
}

static void reply_error(gw_call *c, ee_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_error(gw_call *c, ee_code code, const char *fmt, ...) {
  ee_status st;
  ee_status_clear(&st);
  va_list ap;
  va_start(ap, fmt);
  ee_status_vset(&st, code, fmt, ap);
  va_end(ap);
  reply(c, NULL, &st);
}

/* ---- the upstream side ---- */

/* The upstream call ended (a client thread): hand the answer to grpc. */
static void upstream_done(void *user, ProtobufCMessage *resp, const ee_status *st) {
  gw_call *c = user;
  atomic_fetch_sub(&c->g->in_flight, 1);
  reply(c, resp, st);
  ee_message_free(resp);
  call_unref(c); /* the upstream call's reference */
}

/* Cancels the upstream call, unless the client is already gone (its calls then ended). */
static void cancel_upstream(gateway *g, ee_call *up) {
  pthread_rwlock_rdlock(&g->client_lock);
  if (g->client) ee_call_cancel(up);
  pthread_rwlock_unlock(&g->client_lock);
}

/* Milliseconds left before the caller's deadline: 0 when it has none, -1 when past. */
static int remaining_ms(gpr_timespec deadline) {
  if (gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) == 0) return 0;
  gpr_timespec d = gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC);
  gpr_timespec left = gpr_time_sub(d, gpr_now(GPR_CLOCK_MONOTONIC));
  int64_t ms = (int64_t)left.tv_sec * 1000 + left.tv_nsec / 1000000;
  if (ms <= 0) return -1;
  return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* The caller's x-goog-user-project, copied into buf; NULL when absent or unusable (it
 * becomes an HTTP header upstream: printable ASCII only). */
static const char *quota_project(const grpc_metadata_array *md, char *buf, size_t size) {
  for (size_t i = 0; i < md->count; i++) {
    if (grpc_slice_str_cmp(md->metadata[i].key, "x-goog-user-project") != 0) continue;
    size_t n = GRPC_SLICE_LENGTH(md->metadata[i].value);
    const uint8_t *v = GRPC_SLICE_START_PTR(md->metadata[i].value);
    if (n == 0 || n >= size) return NULL;
    for (size_t j = 0; j < n; j++)
      if (v[j] < 0x21 || v[j] > 0x7e) return NULL;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return buf;
  }
  return NULL;
}

/* Starts the upstream call with the request bytes. Holds the client shared, so it cannot
 * be freed under the start; a cancel that came before the handle was stored is applied
 * here. */
static void start_upstream(gw_call *c, const uint8_t *bytes, size_t len,
                           const ee_call_options *co) {
  gateway *g = c->g;
  ee_status st;
  ee_status_clear(&st);
  ee_call *up = NULL;
  pthread_rwlock_rdlock(&g->client_lock);
  if (!g->client) {
    pthread_rwlock_unlock(&g->client_lock);
    atomic_fetch_sub(&g->in_flight, 1);
    reply_error(c, EE_UNAVAILABLE, "ee-gateway: shutting down");
    return;
  }
  call_ref(c); /* for upstream_done */
  ee_code rc =
      ee_client_call_bytes_async(g->client, c->rpc, bytes, len, co, upstream_done, c, &up, &st);
  if (rc != EE_OK) {
    pthread_rwlock_unlock(&g->client_lock);
    atomic_fetch_sub(&g->in_flight, 1);
    call_unref(c); /* never the last: the receive holds one */
    reply(c, NULL, &st);
    return;
  }
  pthread_mutex_lock(&c->mu);
  c->up = up;
  bool cancel_now = c->peer_cancelled;
  pthread_mutex_unlock(&c->mu);
  if (cancel_now) ee_call_cancel(up);
  pthread_rwlock_unlock(&g->client_lock);
}

/* The request arrived: check the deadline and the bound, then forward. */
static void forward(gw_call *c) {
  gateway *g = c->g;
  ee_call_options co = {0};
  char quota[QUOTA_MAX];
  co.timeout_ms = remaining_ms(c->details.deadline);
  if (co.timeout_ms < 0) {
    reply_error(c, EE_DEADLINE_EXCEEDED, "ee-gateway: deadline passed before forwarding");
    return;
  }
  co.max_attempts = g->cfg.max_attempts;
  co.quota_project = quota_project(&c->md, quota, sizeof quota);
  if (atomic_fetch_add(&g->in_flight, 1) >= g->cfg.max_in_flight) {
    atomic_fetch_sub(&g->in_flight, 1);
    reply_error(c, EE_RESOURCE_EXHAUSTED, "ee-gateway: more than %d calls in flight",
                g->cfg.max_in_flight);
    return;
  }
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, c->payload)) {
    atomic_fetch_sub(&g->in_flight, 1);
    reply_error(c, EE_INVALID_ARGUMENT, "request: unreadable message");
    return;
  }
  grpc_slice bytes = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  start_upstream(c, GRPC_SLICE_START_PTR(bytes), GRPC_SLICE_LENGTH(bytes), &co);
  grpc_slice_unref(bytes);
}

/* ---- events ---- */

static void post_accept(gateway *g) {
  pthread_mutex_lock(&g->mu);
  bool stopping = g->stopping;
  pthread_mutex_unlock(&g->mu);
  if (stopping) return;
  gw_call *c = call_new(g);
  if (!c) {
    fprintf(stderr, "ee-gateway: error: out of memory accepting a call\n");
    return;
  }
  atomic_fetch_add_explicit(&c->t_accept.handoff, 1, memory_order_release);
  grpc_call_error e = grpc_server_request_call(g->server, &c->call, &c->details, &c->md, g->cq,
                                               g->cq, &c->t_accept);
  if (e != GRPC_CALL_OK) call_unref(c);
}

static const char *served_rpc(const char *method) {
  for (size_t i = 0; i < sizeof served / sizeof *served; i++)
    if (strcmp(method, served[i]) == 0) return served[i];
  return NULL;
}

/* A call arrived: re-arm the accept, watch for its close (a cancel), read its request. */
static void on_accept(gw_call *c, bool ok) {
  if (!ok) { /* the server is shutting down */
    call_unref(c);
    return;
  }
  post_accept(c->g);
  c->accepted = true;
  clock_gettime(CLOCK_MONOTONIC, &c->started);
  size_t n = GRPC_SLICE_LENGTH(c->details.method);
  snprintf(c->method, sizeof c->method, "%.*s", (int)(n < METHOD_MAX ? n : METHOD_MAX - 1),
           (const char *)GRPC_SLICE_START_PTR(c->details.method));
  c->rpc = n < METHOD_MAX ? served_rpc(c->method) : NULL;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->peer_cancelled_out;
  start_batch(c, &op, 1, &c->t_close);
  if (!c->rpc) {
    reply_error(c, EE_UNIMPLEMENTED, "ee-gateway: method not served: %s", c->method);
  } else {
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->payload;
    start_batch(c, &op, 1, &c->t_recv);
  }
  call_unref(c); /* the accept's reference */
}

static void on_recv(gw_call *c, bool ok) {
  if (!ok) return; /* the call is gone; its close event follows */
  if (!c->payload)
    reply_error(c, EE_INVALID_ARGUMENT, "request: missing (the client sent no message)");
  else
    forward(c);
}

/* The call is over on the server side; cancelled means the caller (or its deadline, or
 * shutdown) ended it before our reply: end the upstream call too. */
static void on_close(gw_call *c) {
  if (!c->peer_cancelled_out) return;
  pthread_mutex_lock(&c->mu);
  c->peer_cancelled = true;
  ee_call *up = c->up;
  pthread_mutex_unlock(&c->mu);
  if (up) cancel_upstream(c->g, up);
}

static void on_shutdown(gateway *g) {
  pthread_mutex_lock(&g->mu);
  g->shut_down = true;
  pthread_cond_broadcast(&g->changed);
  pthread_mutex_unlock(&g->mu);
}

static void dispatch(gateway *g, tag *t, bool ok) {
  atomic_load_explicit(&t->handoff, memory_order_acquire);
  gw_call *c = t->call;
  switch (t->kind) {
    case TAG_ACCEPT: on_accept(c, ok); return; /* consumes the accept's reference */
    case TAG_RECV: on_recv(c, ok); break;
    case TAG_CLOSE: on_close(c); break;
    case TAG_SEND: break; /* the reply is out (or the call was gone) */
    case TAG_SHUTDOWN: on_shutdown(g); return;
  }
  call_unref(c);
}

static void *poll_main(void *arg) {
  gateway *g = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type == GRPC_OP_COMPLETE) dispatch(g, ev.tag, ev.success != 0);
  }
  return NULL;
}

/* ---- start and stop ---- */

static grpc_server *new_server(void) {
  /* grpc sets SO_REUSEPORT by default: a second gateway would then share the port
   * silently instead of failing to start. */
  grpc_arg arg;
  memset(&arg, 0, sizeof arg);
  arg.type = GRPC_ARG_INTEGER;
  arg.key = GRPC_ARG_ALLOW_REUSEPORT;
  arg.value.integer = 0;
  grpc_channel_args ca = {1, &arg};
  return grpc_server_create(&ca, NULL);
}

static ee_code bind_port(gateway *g, int *port, ee_status *st) {
  char addr[300];
  bool v6 = strchr(g->cfg.host, ':') != NULL;
  snprintf(addr, sizeof addr, v6 ? "[%s]:%d" : "%s:%d", g->cfg.host, g->cfg.grpc_port);
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  *port = grpc_server_add_http2_port(g->server, addr, creds);
  grpc_server_credentials_release(creds);
  if (*port <= 0)
    return ee_status_set(st, EE_UNAVAILABLE, "--grpc-port: cannot listen on %s", addr);
  return EE_OK;
}

static gateway *gateway_new(const gw_config *cfg, ee_client *client) {
  gateway *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->threads = calloc((size_t)cfg->threads, sizeof *g->threads);
  if (!g->threads) {
    free(g);
    return NULL;
  }
  g->cfg = *cfg;
  g->client = client;
  tag_init(&g->shutdown_tag, TAG_SHUTDOWN, NULL);
  atomic_init(&g->in_flight, 0);
  pthread_rwlock_init(&g->client_lock, NULL);
  pthread_mutex_init(&g->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* the grace period ignores clock jumps */
  pthread_cond_init(&g->changed, &attr);
  pthread_condattr_destroy(&attr);
  g->server = new_server();
  g->cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(g->server, g->cq, NULL);
  return g;
}

/* Undoes a start that failed before the server started: no call was ever accepted. */
static void gw_abort(gateway *g) {
  grpc_server_destroy(g->server);
  grpc_completion_queue_shutdown(g->cq); /* the threads started so far see it and end */
  for (int i = 0; i < g->n_threads; i++) pthread_join(g->threads[i], NULL);
  grpc_completion_queue_destroy(g->cq);
  ee_client_free(g->client);
  pthread_rwlock_destroy(&g->client_lock);
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->changed);
  free(g->threads);
  free(g);
}

ee_code gw_start(const gw_config *cfg, ee_client *client, gateway **out, int *port, ee_status *st) {
  *out = NULL;
  gateway *g = gateway_new(cfg, client);
  if (!g) {
    ee_client_free(client);
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (bind_port(g, port, st) != EE_OK) goto fail;
  /* Pollers first: once the server starts, every event has a thread to go to. */
  for (; g->n_threads < cfg->threads; g->n_threads++) {
    if (pthread_create(&g->threads[g->n_threads], NULL, poll_main, g) != 0) {
      ee_status_set(st, EE_RESOURCE_EXHAUSTED, "cannot start the polling threads");
      goto fail;
    }
  }
  grpc_server_start(g->server);
  for (int i = 0; i < cfg->threads * ACCEPTS_PER_THREAD; i++) post_accept(g);
  *out = g;
  return EE_OK;
fail:
  gw_abort(g);
  return st->code;
}

/* Waits until the server reported its shutdown and every call is freed, or timeout_ms
 * (< 0: no limit). Returns whether that happened. */
static bool wait_idle(gateway *g, int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  if (timeout_ms >= 0) {
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
  }
  bool timed_out = false;
  pthread_mutex_lock(&g->mu);
  while (!(g->shut_down && g->n_calls == 0) && !timed_out) {
    if (timeout_ms < 0)
      pthread_cond_wait(&g->changed, &g->mu);
    else
      timed_out = pthread_cond_timedwait(&g->changed, &g->mu, &until) != 0;
  }
  bool idle = g->shut_down && g->n_calls == 0;
  pthread_mutex_unlock(&g->mu);
  return idle;
}

/* Cancels every upstream call still running, and any about to start. Each call is swept
 * once; it is held by a reference while cancelled outside the list lock (the unref may
 * free it, which takes that lock). */
static void cancel_all_upstream(gateway *g) {
  for (;;) {
    gw_call *victim = NULL;
    pthread_mutex_lock(&g->mu);
    for (gw_call *c = g->calls; c && !victim; c = c->next)
      if (!atomic_exchange(&c->swept, true) && call_try_ref(c)) victim = c;
    pthread_mutex_unlock(&g->mu);
    if (!victim) return;
    pthread_mutex_lock(&victim->mu);
    victim->peer_cancelled = true; /* an upstream call started later is cancelled at once */
    ee_call *up = victim->up;
    pthread_mutex_unlock(&victim->mu);
    if (up) cancel_upstream(g, up);
    call_unref(victim);
  }
}

static void free_client(gateway *g) {
  pthread_rwlock_wrlock(&g->client_lock);
  ee_client_free(g->client); /* cancels what is left and waits for its callbacks */
  g->client = NULL;
  pthread_rwlock_unlock(&g->client_lock);
}

void gw_stop(gateway *g) {
  if (!g) return;
  pthread_mutex_lock(&g->mu);
  g->stopping = true;
  pthread_mutex_unlock(&g->mu);
  atomic_fetch_add_explicit(&g->shutdown_tag.handoff, 1, memory_order_release);
  grpc_server_shutdown_and_notify(g->server, g->cq, &g->shutdown_tag);
  if (!wait_idle(g, g->cfg.grace_ms)) {
    fprintf(stderr, "ee-gateway: grace period over, cancelling the calls in flight\n");
    grpc_server_cancel_all_calls(g->server);
    cancel_all_upstream(g);
    if (!wait_idle(g, CANCEL_WAIT_MS))
      fprintf(stderr, "ee-gateway: calls still running after their cancel; freeing the client\n");
  }
  free_client(g);
  wait_idle(g, -1); /* the client's last callbacks have sent their replies */
  grpc_server_destroy(g->server);
  grpc_completion_queue_shutdown(g->cq);
  for (int i = 0; i < g->n_threads; i++) pthread_join(g->threads[i], NULL);
  grpc_completion_queue_destroy(g->cq);
  pthread_rwlock_destroy(&g->client_lock);
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->changed);
  free(g->threads);
  free(g);
}
