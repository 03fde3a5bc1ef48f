/* ee-emulator: the gRPC front end on grpc core's C API.
 *
 * Event driven: EMU_GRPC_POLLERS threads each poll one completion queue registered with
 * the server and keep REQUESTS_PER_POLLER requested calls on it. A call is a small state
 * machine driven by its queue's events: requested -> receiving (initial metadata out,
 * the request message in) -> replying (message or error, status, close) -> freed. A call
 * that cannot block is handled on the poller; one that may block (WaitOperation, or every
 * call under --latency-ms) is handed to one of --grpc-threads handler threads, which
 * start its reply batch themselves (the batch's event still comes to the poller). So the
 * common call costs no thread hand-off at all: with a thread per call and a queue per
 * thread, grpc's cross-thread wake-ups made up most of the emulator's CPU per call.
 * Errors go out as grpc-status + grpc-message plus a google.rpc.Status (with ErrorInfo)
 * in the grpc-status-details-bin trailer. */
#include <pthread.h>
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

#include "frontends.h"
#include "ee/wire.h"

/* How long shutdown lets calls in flight finish before cancelling them. */
#define DRAIN_MS 3000
/* One poller keeps up with the emulator's work on two cores (the service is a mutex-held
 * table); more pollers only add grpc's wake-ups between them. */
#define EMU_GRPC_POLLERS 1
/* Calls grpc may hand us without queueing them internally first. */
#define REQUESTS_PER_POLLER 64

typedef enum { CALL_REQUESTED, CALL_RECEIVING, CALL_REPLYING } call_state;

typedef struct poller {
  struct emu_grpc *g;
  grpc_completion_queue *cq;
  pthread_t thread;
  bool started;
} poller;

/* One call from request to the end of its reply; everything grpc reads during a batch
 * lives here until the batch's event. */
typedef struct srv_call {
  struct emu_grpc *g;
  poller *p;
  /* Stored (release) just before the call is handed to grpc, loaded (acquire) when its
   * event comes back: the hand-over through grpc's queue, from a handler thread to the
   * poller, is invisible to ThreadSanitizer (Debian's grpc is not instrumented), so this
   * states the ordering grpc provides. */
  _Atomic int state;
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array md;
  grpc_byte_buffer *payload; /* the request message */
  grpc_byte_buffer *msg;     /* the response message */
  grpc_slice text;           /* status details */
  grpc_metadata trailer;     /* grpc-status-details-bin */
  ee_buf details_bin;
  int cancelled;
  struct srv_call *next; /* handler queue */
} srv_call;

struct emu_grpc {
  const emu_service *svc;
  grpc_server *server;
  grpc_completion_queue *shutdown_cq;
  poller pollers[EMU_GRPC_POLLERS];
  pthread_t *handlers;
  int n_handlers; /* started */
  pthread_mutex_t mu;
  pthread_cond_t work;
  srv_call *q_head, *q_tail; /* calls waiting for a handler thread */
  bool handlers_stop;
  atomic_bool stopping; /* no new calls are requested */
  atomic_int live;      /* srv_calls not yet freed */
  bool started;
};

static const char *metadata_value(const grpc_metadata_array *md, const char *key, char *buf,
                                  size_t size) {
  for (size_t i = 0; i < md->count; i++) {
    if (grpc_slice_str_cmp(md->metadata[i].key, key) != 0) continue;
    size_t n = GRPC_SLICE_LENGTH(md->metadata[i].value);
    if (n >= size) n = size - 1; /* longer than any token we accept: compares unequal */
    memcpy(buf, GRPC_SLICE_START_PTR(md->metadata[i].value), n);
    buf[n] = '\0';
    return buf;
  }
  return NULL;
}

static int64_t deadline_ns(gpr_timespec deadline) {
  gpr_timespec rt = gpr_convert_clock_type(deadline, GPR_CLOCK_REALTIME);
  if (gpr_time_cmp(rt, gpr_inf_future(GPR_CLOCK_REALTIME)) >= 0 || rt.tv_sec > 4000000000LL)
    return 0;
  return rt.tv_sec * 1000000000LL + rt.tv_nsec;
}

/* The request's method, via the generated route table; -1 when not served. */
static int method_of(const grpc_call_details *details) {
  char path[256];
  size_t n = GRPC_SLICE_LENGTH(details->method);
  if (n >= sizeof path) return -1;
  memcpy(path, GRPC_SLICE_START_PTR(details->method), n);
  path[n] = '\0';
  return emu_method_for_route(ee_route_find(ee_route_table_default(), path));
}

/* Client bytes go through the depth-checked decoder (protobuf-c alone would recurse
 * without limit); its refusals become INVALID_ARGUMENT naming the request. */
static ee_code decode(const ProtobufCMessageDescriptor *desc, grpc_slice bytes, int max_depth,
                      ProtobufCMessage **req, ee_status *st) {
  static const uint8_t empty[1];
  const uint8_t *data = GRPC_SLICE_LENGTH(bytes) ? GRPC_SLICE_START_PTR(bytes) : empty;
  if (ee_wire_unpack(desc, data, GRPC_SLICE_LENGTH(bytes), max_depth, NULL, req, st) == EE_OK)
    return EE_OK;
  char why[EE_STATUS_MESSAGE_MAX];
  snprintf(why, sizeof why, "%s", st->message);
  return emu_fail(st, EE_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                  "request: not a valid %s message: %s", desc->name, why);
}

/* Decodes the payload and runs the call; the packed response goes to out. */
static ee_code handle(emu_grpc *g, int m, grpc_byte_buffer *payload,
                      const grpc_call_details *details, const grpc_metadata_array *md, ee_buf *out,
                      ee_status *st) {
  const emu_config *cfg = g->svc->cfg;
  char auth[1024];
  emu_call call = {metadata_value(md, "authorization", auth, sizeof auth),
                   deadline_ns(details->deadline)};
  if (emu_service_admit(g->svc, &call, st) != EE_OK) return st->code;
  if (m < 0)
    return emu_fail(
        st, EE_UNIMPLEMENTED, "UNIMPLEMENTED", "Method not found: %.*s",
        (int)(GRPC_SLICE_LENGTH(details->method) > 200 ? 200 : GRPC_SLICE_LENGTH(details->method)),
        (const char *)GRPC_SLICE_START_PTR(details->method));
  if (!payload) return emu_fail(st, EE_INVALID_ARGUMENT, "INVALID_ARGUMENT", "request: missing");
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, payload))
    return emu_fail(st, EE_INVALID_ARGUMENT, "INVALID_ARGUMENT", "request: unreadable message");
  grpc_slice bytes = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  ProtobufCMessage *req = NULL;
  ee_code rc = EE_OK;
  if (GRPC_SLICE_LENGTH(bytes) > cfg->max_request_bytes)
    rc = emu_fail(st, EE_INVALID_ARGUMENT, "REQUEST_TOO_LARGE", "request: larger than %zu bytes",
                  cfg->max_request_bytes);
  if (rc == EE_OK) rc = decode(emu_methods[m].input, bytes, cfg->max_depth, &req, st);
  grpc_slice_unref(bytes);
  if (rc != EE_OK) return rc;
  rc = emu_service_call(g->svc, (emu_method_id)m, &call, req, out, st);
  protobuf_c_message_free_unpacked(req, NULL);
  return rc;
}

/* ---- the call state machine ---- */

static void call_free(srv_call *c) {
  emu_grpc *g = c->g;
  if (c->call) grpc_call_unref(c->call);
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->md);
  if (c->payload) grpc_byte_buffer_destroy(c->payload);
  if (c->msg) grpc_byte_buffer_destroy(c->msg);
  grpc_slice_unref(c->text);
  grpc_slice_unref(c->trailer.value);
  ee_buf_free(&c->details_bin);
  free(c);
  atomic_fetch_sub(&g->live, 1);
}

/* Asks grpc for one more call on p's queue; false once the server is stopping. */
static bool request_call(poller *p) {
  emu_grpc *g = p->g;
  if (atomic_load(&g->stopping)) return false;
  srv_call *c = calloc(1, sizeof *c);
  if (!c) return false;
  c->g = g;
  c->p = p;
  atomic_store_explicit(&c->state, CALL_REQUESTED, memory_order_release);
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->md);
  ee_buf_init(&c->details_bin, 0);
  atomic_fetch_add(&g->live, 1);
  if (grpc_server_request_call(g->server, &c->call, &c->details, &c->md, p->cq, p->cq, c) !=
      GRPC_CALL_OK) {
    call_free(c);
    return false;
  }
  return true;
}

/* Sends the response (or the error with its details trailer) and closes the call; its
 * event comes back to the poller as CALL_REPLYING. */
static void reply(srv_call *c, ee_code rc, const ee_buf *out, const ee_status *st) {
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  ee_status ignore;
  c->text = grpc_slice_from_copied_string(rc == EE_OK ? "" : st->message);
  if (rc == EE_OK) {
    grpc_slice s = grpc_slice_from_copied_buffer(out->data ? out->data : "", out->len);
    c->msg = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = c->msg;
  } else if (ee_route_status_to_rpc(st, NULL, 0, &c->details_bin, &ignore) == EE_OK) {
    c->trailer.key = grpc_slice_from_static_string("grpc-status-details-bin");
    c->trailer.value = grpc_slice_from_copied_buffer(c->details_bin.data, c->details_bin.len);
    ops[n].data.send_status_from_server.trailing_metadata_count = 1;
    ops[n].data.send_status_from_server.trailing_metadata = &c->trailer;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = (grpc_status_code)rc;
  ops[n++].data.send_status_from_server.status_details = &c->text;
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
  grpc_call *call = c->call; /* c is the poller's once the state is stored */
  atomic_store_explicit(&c->state, CALL_REPLYING, memory_order_release);
  if (grpc_call_start_batch(call, ops, n, c, NULL) != GRPC_CALL_OK) call_free(c);
}

/* Runs the call and starts its reply (on a poller or a handler thread). */
static void handle_and_reply(srv_call *c) {
  ee_buf out;
  ee_buf_init(&out, 0);
  ee_status st;
  ee_status_clear(&st);
  ee_code rc = handle(c->g, method_of(&c->details), c->payload, &c->details, &c->md, &out, &st);
  reply(c, rc, &out, &st);
  ee_buf_free(&out);
}

/* Whether handling may sleep: a Wait blocks until the operation changes, and
 * --latency-ms delays every call. */
static bool may_block(const srv_call *c) {
  return c->g->svc->cfg->latency_ms > 0 || method_of(&c->details) == (int)EMU_M_WAIT_OPERATION;
}

static void hand_to_handlers(srv_call *c) {
  emu_grpc *g = c->g;
  pthread_mutex_lock(&g->mu);
  c->next = NULL;
  if (g->q_tail)
    g->q_tail->next = c;
  else
    g->q_head = c;
  g->q_tail = c;
  pthread_cond_signal(&g->work);
  pthread_mutex_unlock(&g->mu);
}

/* A new call: ask for the next one, then for this one's message. */
static void on_requested(srv_call *c, bool ok) {
  if (!ok) { /* the server is shutting down */
    call_free(c);
    return;
  }
  request_call(c->p);
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_MESSAGE;
  ops[1].data.recv_message.recv_message = &c->payload;
  atomic_store_explicit(&c->state, CALL_RECEIVING, memory_order_release);
  if (grpc_call_start_batch(c->call, ops, 2, c, NULL) != GRPC_CALL_OK) call_free(c);
}

static void on_event(srv_call *c, bool ok) {
  switch ((call_state)atomic_load_explicit(&c->state, memory_order_acquire)) {
    case CALL_REQUESTED: on_requested(c, ok); return;
    case CALL_RECEIVING:
      if (!ok) /* the client went away before sending */
        call_free(c);
      else if (may_block(c))
        hand_to_handlers(c);
      else
        handle_and_reply(c);
      return;
    case CALL_REPLYING: call_free(c); return;
  }
}

static void *poller_main(void *arg) {
  poller *p = arg;
  for (int i = 0; i < REQUESTS_PER_POLLER; i++) request_call(p);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(p->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type == GRPC_OP_COMPLETE) on_event(ev.tag, ev.success != 0);
  }
  return NULL;
}

static void *handler_main(void *arg) {
  emu_grpc *g = arg;
  pthread_mutex_lock(&g->mu);
  for (;;) {
    while (!g->q_head && !g->handlers_stop) pthread_cond_wait(&g->work, &g->mu);
    srv_call *c = g->q_head;
    if (!c) break; /* stopping and nothing left */
    g->q_head = c->next;
    if (!g->q_head) g->q_tail = NULL;
    pthread_mutex_unlock(&g->mu);
    handle_and_reply(c);
    pthread_mutex_lock(&g->mu);
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

/* The --tls-cert / --tls-key pair (checked by emu_tls_load); no client certificates. */
static grpc_server_credentials *tls_credentials(const emu_config *cfg) {
  grpc_ssl_pem_key_cert_pair pair = {cfg->tls_key_pem, cfg->tls_cert_pem};
  grpc_ssl_server_certificate_config *config =
      grpc_ssl_server_certificate_config_create(NULL, &pair, 1);
  grpc_ssl_server_credentials_options *opts =
      grpc_ssl_server_credentials_create_options_using_config(
          GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, config);
  return grpc_ssl_server_credentials_create_with_options(opts);
}

static ee_code bind_port(emu_grpc *g, const emu_config *cfg, int *bound, ee_status *st) {
  char addr[300];
  bool v6 = strchr(cfg->host, ':') != NULL;
  snprintf(addr, sizeof addr, v6 ? "[%s]:%d" : "%s:%d", cfg->host, cfg->grpc_port);
  grpc_server_credentials *creds =
      cfg->tls_cert_pem ? tls_credentials(cfg) : grpc_insecure_server_credentials_create();
  *bound = grpc_server_add_http2_port(g->server, addr, creds);
  grpc_server_credentials_release(creds);
  if (*bound <= 0)
    return ee_status_set(st, EE_UNAVAILABLE, "--grpc-port: cannot listen on %s%s", addr,
                         cfg->tls_cert_pem ? " (port in use, or grpc refused the TLS pair)" : "");
  return EE_OK;
}

static grpc_server *new_server(const emu_config *cfg) {
  /* Room for a message a little over our own limit, so our check (and its message) is what
   * a client sees for the usual too-large request; grpc's own limit stops anything huge. */
  size_t max = cfg->max_request_bytes * 2;
  grpc_arg args[2];
  memset(args, 0, sizeof args);
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = max > 0x7fffffff ? 0x7fffffff : (int)max;
  /* grpc sets SO_REUSEPORT by default: a second emulator would then share the port
   * silently instead of failing to start. */
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = GRPC_ARG_ALLOW_REUSEPORT;
  args[1].value.integer = 0;
  grpc_channel_args ca = {2, args};
  return grpc_server_create(&ca, NULL);
}

ee_code emu_grpc_start(const emu_service *svc, emu_grpc **out, int *bound_port, ee_status *st) {
  const emu_config *cfg = svc->cfg;
  emu_grpc *g = calloc(1, sizeof *g);
  *out = NULL;
  if (!g || !(g->handlers = calloc((size_t)cfg->grpc_threads, sizeof *g->handlers))) {
    free(g);
    return ee_status_set(st, EE_INTERNAL, "out of memory");
  }
  g->svc = svc;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->work, NULL);
  atomic_init(&g->stopping, false);
  atomic_init(&g->live, 0);
  g->server = new_server(cfg);
  g->shutdown_cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(g->server, g->shutdown_cq, NULL);
  for (int i = 0; i < EMU_GRPC_POLLERS; i++) {
    g->pollers[i].g = g;
    g->pollers[i].cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(g->server, g->pollers[i].cq, NULL);
  }
  if (bind_port(g, cfg, bound_port, st) != EE_OK) goto fail;
  grpc_server_start(g->server);
  g->started = true;
  for (int i = 0; i < cfg->grpc_threads; i++) {
    if (pthread_create(&g->handlers[i], NULL, handler_main, g) != 0) goto no_threads;
    g->n_handlers++;
  }
  for (int i = 0; i < EMU_GRPC_POLLERS; i++) {
    if (pthread_create(&g->pollers[i].thread, NULL, poller_main, &g->pollers[i]) != 0)
      goto no_threads;
    g->pollers[i].started = true;
  }
  *out = g;
  return EE_OK;
no_threads:
  ee_status_set(st, EE_INTERNAL, "cannot start gRPC threads");
fail:
  emu_grpc_stop(g);
  return st->code;
}

static void drain_and_destroy(grpc_completion_queue *cq) {
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Order: no new calls; the server shuts down (calls in flight get DRAIN_MS, then are
 * cancelled; requested calls fail and are freed by their poller); the handler threads
 * finish what they hold; once every call is freed the pollers' queues shut down. */
void emu_grpc_stop(emu_grpc *g) {
  if (!g) return;
  static int shutdown_tag;
  atomic_store(&g->stopping, true);
  if (g->started) {
    grpc_server_shutdown_and_notify(g->server, g->shutdown_cq, &shutdown_tag);
    gpr_timespec drain =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(DRAIN_MS, GPR_TIMESPAN));
    if (grpc_completion_queue_next(g->shutdown_cq, drain, NULL).type != GRPC_OP_COMPLETE) {
      grpc_server_cancel_all_calls(g->server);
      grpc_completion_queue_next(g->shutdown_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    }
  }
  pthread_mutex_lock(&g->mu);
  g->handlers_stop = true;
  pthread_cond_broadcast(&g->work);
  pthread_mutex_unlock(&g->mu);
  for (int i = 0; i < g->n_handlers; i++) pthread_join(g->handlers[i], NULL);
  bool polled = false;
  for (int i = 0; i < EMU_GRPC_POLLERS; i++) polled = polled || g->pollers[i].started;
  while (polled && atomic_load(&g->live) > 0) sleep_ms(1); /* the pollers free the rest */
  for (int i = 0; i < EMU_GRPC_POLLERS; i++) {
    if (!g->pollers[i].started) continue;
    grpc_completion_queue_shutdown(g->pollers[i].cq);
    pthread_join(g->pollers[i].thread, NULL);
  }
  grpc_server_destroy(g->server);
  for (int i = 0; i < EMU_GRPC_POLLERS; i++) {
    if (g->pollers[i].started) /* already shut down and drained by its poller */
      grpc_completion_queue_destroy(g->pollers[i].cq);
    else
      drain_and_destroy(g->pollers[i].cq);
  }
  drain_and_destroy(g->shutdown_cq);
  pthread_cond_destroy(&g->work);
  pthread_mutex_destroy(&g->mu);
  free(g->handlers);
  free(g);
}
