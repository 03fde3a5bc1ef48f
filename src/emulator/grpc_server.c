/* ee-emulator: the gRPC front end on grpc core's C API.
 *
 * Each of --grpc-threads workers owns a completion queue registered with the server; it
 * asks for one call, serves it to the end (receive, handle, send), then asks for the
 * next. A blocking WaitOperation therefore holds one worker; more calls than workers wait
 * inside grpc until a worker is free. Errors go out as grpc-status + grpc-message plus a
 * google.rpc.Status (with ErrorInfo) in the grpc-status-details-bin trailer. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "frontends.h"
#include "ee/wire.h"

/* How long shutdown lets calls in flight finish before cancelling them. */
#define DRAIN_MS 3000

typedef struct worker {
  struct emu_grpc *g;
  grpc_completion_queue *cq;
  pthread_t thread;
  bool started;
} worker;

struct emu_grpc {
  const emu_service *svc;
  grpc_server *server;
  grpc_completion_queue *shutdown_cq;
  worker *workers;
  int n_workers;
  bool started;
};

/* Waits for the one event in flight on this worker's queue. */
static bool wait_event(worker *w) {
  grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  return ev.type == GRPC_OP_COMPLETE && ev.success;
}

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
static ee_code handle(worker *w, int m, grpc_byte_buffer *payload, const grpc_call_details *details,
                      const grpc_metadata_array *md, ee_buf *out, ee_status *st) {
  const emu_config *cfg = w->g->svc->cfg;
  char auth[1024];
  emu_call call = {metadata_value(md, "authorization", auth, sizeof auth),
                   deadline_ns(details->deadline)};
  if (emu_service_admit(w->g->svc, &call, st) != EE_OK) return st->code;
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
  rc = emu_service_call(w->g->svc, (emu_method_id)m, &call, req, out, st);
  protobuf_c_message_free_unpacked(req, NULL);
  return rc;
}

/* Sends the response (or the error with its details trailer) and closes the call. */
static void reply(worker *w, grpc_call *call, ee_code rc, const ee_buf *out, const ee_status *st) {
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  grpc_byte_buffer *msg = NULL;
  grpc_metadata trailer;
  memset(&trailer, 0, sizeof trailer);
  ee_buf details;
  ee_buf_init(&details, 0);
  ee_status ignore;
  int cancelled = 0;
  grpc_slice text = grpc_slice_from_copied_string(rc == EE_OK ? "" : st->message);
  if (rc == EE_OK) {
    grpc_slice s = grpc_slice_from_copied_buffer(out->data ? out->data : "", out->len);
    msg = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = msg;
  } else if (ee_route_status_to_rpc(st, NULL, 0, &details, &ignore) == EE_OK) {
    trailer.key = grpc_slice_from_static_string("grpc-status-details-bin");
    trailer.value = grpc_slice_from_copied_buffer(details.data, details.len);
    ops[n].data.send_status_from_server.trailing_metadata_count = 1;
    ops[n].data.send_status_from_server.trailing_metadata = &trailer;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = (grpc_status_code)rc;
  ops[n++].data.send_status_from_server.status_details = &text;
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n++].data.recv_close_on_server.cancelled = &cancelled;
  if (grpc_call_start_batch(call, ops, n, w, NULL) == GRPC_CALL_OK) wait_event(w);
  if (msg) grpc_byte_buffer_destroy(msg);
  grpc_slice_unref(trailer.value);
  grpc_slice_unref(text);
  ee_buf_free(&details);
}

static void serve_call(worker *w, grpc_call *call, const grpc_call_details *details,
                       const grpc_metadata_array *md) {
  grpc_byte_buffer *payload = NULL;
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_MESSAGE;
  ops[1].data.recv_message.recv_message = &payload;
  if (grpc_call_start_batch(call, ops, 2, w, NULL) != GRPC_CALL_OK) return;
  if (!wait_event(w)) { /* the client went away before sending */
    if (payload) grpc_byte_buffer_destroy(payload);
    return;
  }
  ee_buf out;
  ee_buf_init(&out, 0);
  ee_status st;
  ee_status_clear(&st);
  ee_code rc = handle(w, method_of(details), payload, details, md, &out, &st);
  reply(w, call, rc, &out, &st);
  if (payload) grpc_byte_buffer_destroy(payload);
  ee_buf_free(&out);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  for (;;) {
    grpc_call *call = NULL;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_call_details_init(&details);
    grpc_metadata_array_init(&md);
    bool ok = grpc_server_request_call(w->g->server, &call, &details, &md, w->cq, w->cq, w) ==
              GRPC_CALL_OK;
    ok = ok && wait_event(w); /* fails once the server shuts down */
    if (ok) serve_call(w, call, &details, &md);
    if (call) grpc_call_unref(call);
    grpc_call_details_destroy(&details);
    grpc_metadata_array_destroy(&md);
    if (!ok) break;
  }
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
  if (!g || !(g->workers = calloc((size_t)cfg->grpc_threads, sizeof *g->workers))) {
    free(g);
    return ee_status_set(st, EE_INTERNAL, "out of memory");
  }
  g->svc = svc;
  g->n_workers = cfg->grpc_threads;
  g->server = new_server(cfg);
  g->shutdown_cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(g->server, g->shutdown_cq, NULL);
  for (int i = 0; i < g->n_workers; i++) {
    g->workers[i].g = g;
    g->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(g->server, g->workers[i].cq, NULL);
  }
  if (bind_port(g, cfg, bound_port, st) != EE_OK) goto fail;
  grpc_server_start(g->server);
  g->started = true;
  for (int i = 0; i < g->n_workers; i++) {
    if (pthread_create(&g->workers[i].thread, NULL, worker_main, &g->workers[i]) != 0) {
      ee_status_set(st, EE_INTERNAL, "cannot start gRPC worker threads");
      goto fail;
    }
    g->workers[i].started = true;
  }
  *out = g;
  return EE_OK;
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

void emu_grpc_stop(emu_grpc *g) {
  if (!g) return;
  static int shutdown_tag;
  if (g->started) { /* calls in flight get DRAIN_MS to finish, then are cancelled */
    grpc_server_shutdown_and_notify(g->server, g->shutdown_cq, &shutdown_tag);
    gpr_timespec drain =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(DRAIN_MS, GPR_TIMESPAN));
    if (grpc_completion_queue_next(g->shutdown_cq, drain, NULL).type != GRPC_OP_COMPLETE) {
      grpc_server_cancel_all_calls(g->server);
      grpc_completion_queue_next(g->shutdown_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    }
  }
  for (int i = 0; i < g->n_workers; i++)
    if (g->workers[i].started) pthread_join(g->workers[i].thread, NULL);
  grpc_server_destroy(g->server);
  for (int i = 0; i < g->n_workers; i++) drain_and_destroy(g->workers[i].cq);
  drain_and_destroy(g->shutdown_cq);
  free(g->workers);
  free(g);
}
