/* ee-emulator: the REST front end on libmicrohttpd.
 *
 * One thread per connection (a WaitOperation may block for up to a minute), at most
 * --max-connections at once. The body is collected up to --max-request-bytes. Routing,
 * body and query decoding, and the error envelope all come from the transcoding layer
 * (ee/route.h) and its generated route table: nothing about paths is written here. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "frontends.h"
#include "tokens.h"

struct emu_rest {
  const emu_service *svc;
  struct MHD_Daemon *daemon;
  atomic_int in_flight; /* requests between their first callback and their completion */
};

/* How long shutdown lets requests in flight finish before closing their connections. */
#define DRAIN_MS 3000

typedef struct request {
  ee_buf body;
  bool too_large;
} request;

typedef struct query_builder {
  ee_buf *out;
  bool failed;
} query_builder;

/* Keeps percent-escapes: the route layer decodes paths and queries itself (a %2F inside a
 * multi-segment variable must stay encoded, TRANSCODING.md). */
static size_t keep_escapes(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  (void)c;
  return strlen(s);
}

/* Rebuilds the raw query string from the arguments MHD split (escapes intact). */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value) {
  query_builder *q = cls;
  ee_status st;
  (void)kind;
  if (q->out->len && ee_buf_append(q->out, "&", 1, &st) != EE_OK) q->failed = true;
  if (ee_buf_append_str(q->out, key, &st) != EE_OK) q->failed = true;
  if (value && (ee_buf_append(q->out, "=", 1, &st) != EE_OK ||
                ee_buf_append_str(q->out, value, &st) != EE_OK))
    q->failed = true;
  return q->failed ? MHD_NO : MHD_YES;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int http, const ee_buf *json) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      json->len, json->data ? json->data : (void *)"", MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json; charset=UTF-8");
  if (http == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"ee-emulator\"");
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)http, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, const ee_status *err) {
  ee_buf json;
  ee_status st;
  ee_buf_init(&json, 0);
  int http = err->http_status ? err->http_status : ee_code_to_http(err->code);
  if (ee_route_error_encode(err, NULL, 0, &json, &st) != EE_OK) {
    ee_buf_reset(&json);
    ee_buf_append_str(&json, "{\"error\":{\"code\":500,\"status\":\"INTERNAL\"}}", &st);
    http = 500;
  }
  enum MHD_Result ret = send_json(c, http, &json);
  ee_buf_free(&json);
  return ret;
}

/* Turns the packed response into the HTTP body the route's binding asks for. */
static ee_code encode_reply(const ee_route_match *match, const ee_buf *packed, ee_buf *json,
                            ee_status *st) {
  ProtobufCMessage *resp =
      protobuf_c_message_unpack(match->route->response, NULL, packed->len,
                                (const uint8_t *)(packed->data ? packed->data : ""));
  if (!resp) return ee_status_set(st, EE_INTERNAL, "cannot re-read the response");
  ee_code rc = ee_route_encode_response(match->route, match->binding, resp, NULL, json, st);
  protobuf_c_message_free_unpacked(resp, NULL);
  return rc;
}

/* Routes, decodes and runs one admitted request; fills json on success. */
static ee_code run(const emu_rest *r, struct MHD_Connection *c, const char *method, const char *url,
                   const request *req, const emu_call *call, ee_buf *json, ee_status *st) {
  const emu_config *cfg = r->svc->cfg;
  ee_buf query, packed;
  ee_buf_init(&query, EE_ROUTE_MAX_QUERY + 1);
  ee_buf_init(&packed, 0);
  query_builder qb = {&query, false};
  ee_route_match match = {NULL, NULL, NULL};
  ee_code rc = EE_OK;
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &qb);
  if (qb.failed) {
    rc = emu_fail(st, EE_INVALID_ARGUMENT, "INVALID_ARGUMENT", "query string too long");
    goto done;
  }
  ee_route_decode_options opts = EE_ROUTE_DECODE_OPTIONS_INIT;
  opts.json.accept_wrapper_objects = true; /* the official Python client sends {"value": x} */
  opts.json.max_depth = cfg->max_depth;
  opts.json.max_input = cfg->max_request_bytes;
  rc = ee_route_from_http(ee_route_table_default(), method, url, strlen(url), query.data, query.len,
                          req->body.data, req->body.len, &opts, &match, st);
  if (rc != EE_OK) goto done;
  int m = emu_method_for_route(match.route);
  if (m < 0) {
    rc = emu_fail(st, EE_NOT_FOUND, "NOT_FOUND", "no such method: %s %.200s", method, url);
    goto done;
  }
  rc = emu_service_call(r->svc, (emu_method_id)m, call, match.request, &packed, st);
  if (rc == EE_OK) rc = encode_reply(&match, &packed, json, st);
done:
  if (match.request) protobuf_c_message_free_unpacked(match.request, NULL);
  ee_buf_free(&query);
  ee_buf_free(&packed);
  return rc;
}

static enum MHD_Result answer(const emu_rest *r, struct MHD_Connection *c, const char *method,
                              const char *url, const request *req) {
  ee_status st;
  ee_buf json;
  ee_buf_init(&json, 0);
  emu_call call = {MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                   0};
  ee_code rc = emu_service_admit(r->svc, &call, &st);
  if (rc == EE_OK && req->too_large)
    rc = emu_fail(&st, EE_INVALID_ARGUMENT, "REQUEST_TOO_LARGE", "request: larger than %zu bytes",
                  r->svc->cfg->max_request_bytes);
  if (rc == EE_OK) rc = run(r, c, method, url, req, &call, &json, &st);
  enum MHD_Result ret = rc == EE_OK ? send_json(c, 200, &json) : send_error(c, &st);
  ee_buf_free(&json);
  return ret;
}

static bool serve_token_endpoint(const emu_rest *r, struct MHD_Connection *c, const char *url,
                                 const char *method, const request *req, enum MHD_Result *ret);

/* Collects the body; the last call (no more data) answers. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state) {
  const emu_rest *r = cls;
  request *req = *state;
  (void)version;
  if (!req) {
    if (!(req = calloc(1, sizeof *req))) return MHD_NO;
    ee_buf_init(&req->body, r->svc->cfg->max_request_bytes);
    *state = req;
    atomic_fetch_add(&((emu_rest *)r)->in_flight, 1);
    return MHD_YES;
  }
  if (*upload_size) {
    ee_status st;
    if (!req->too_large && ee_buf_append(&req->body, upload, *upload_size, &st) != EE_OK) {
      req->too_large = true; /* keep reading (and dropping) so the error can be sent */
      ee_buf_free(&req->body);
    }
    *upload_size = 0;
    return MHD_YES;
  }
  enum MHD_Result ret;
  if (serve_token_endpoint(r, c, url, method, req, &ret)) return ret;
  return answer(r, c, method, url, req);
}

/* POST /token and /revoke when the emulator is a token endpoint (tokens.h); they need no
 * authorization and see no injected faults. Returns false for every other request. */
static bool serve_token_endpoint(const emu_rest *r, struct MHD_Connection *c, const char *url,
                                 const char *method, const request *req, enum MHD_Result *ret) {
  ee_buf json;
  int http = 0;
  ee_buf_init(&json, 0);
  if (req->too_large || !emu_tokens_serve(r->svc->cfg->tokens, method, url, req->body.data,
                                          req->body.len, &http, &json)) {
    ee_buf_free(&json);
    return false;
  }
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(json.len, json.data ? json.data : "", MHD_RESPMEM_MUST_COPY);
  *ret = MHD_NO;
  if (resp) {
    MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    *ret = MHD_queue_response(c, (unsigned)http, resp);
    MHD_destroy_response(resp);
  }
  if (json.data) memset(json.data, 0, json.cap); /* it may hold an access token */
  ee_buf_free(&json);
  return true;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why) {
  request *req = *state;
  emu_rest *r = cls;
  (void)c;
  (void)why;
  if (!req) return;
  atomic_fetch_sub(&r->in_flight, 1);
  if (req->body.data) memset(req->body.data, 0, req->body.cap); /* may hold a credential */
  ee_buf_free(&req->body);
  free(req);
  *state = NULL;
}

static ee_code resolve(const emu_config *cfg, struct sockaddr_storage *sa, ee_status *st) {
  struct addrinfo hints, *res = NULL;
  char port[16];
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  snprintf(port, sizeof port, "%d", cfg->rest_port);
  int e = getaddrinfo(cfg->host, port, &hints, &res);
  if (e != 0 || !res || res->ai_addrlen > sizeof *sa) {
    if (res) freeaddrinfo(res);
    return ee_status_set(st, EE_INVALID_ARGUMENT, "--host %s: %s", cfg->host,
                         e ? gai_strerror(e) : "no address");
  }
  memset(sa, 0, sizeof *sa);
  memcpy(sa, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return EE_OK;
}

ee_code emu_rest_start(const emu_service *svc, emu_rest **out, int *bound_port, ee_status *st) {
  const emu_config *cfg = svc->cfg;
  struct sockaddr_storage sa;
  *out = NULL;
  if (resolve(cfg, &sa, st) != EE_OK) return st->code;
  emu_rest *r = calloc(1, sizeof *r);
  if (!r) return ee_status_set(st, EE_INTERNAL, "out of memory");
  r->svc = svc;
  /* MHD_USE_ITC lets shutdown quiesce the listener while requests in flight finish. */
  unsigned flags =
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ITC;
  if (sa.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  /* TLS options go in an MHD_OPTION_ARRAY that is empty for plaintext. */
  struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
  if (cfg->tls_cert_pem) {
    /* Debian's libmicrohttpd has TLS through GnuTLS; a build without it cannot serve https. */
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      free(r);
      return ee_status_set(st, EE_UNIMPLEMENTED,
                           "--tls-cert: this libmicrohttpd was built without TLS support");
    }
    flags |= MHD_USE_TLS;
    tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cfg->tls_cert_pem};
    tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, cfg->tls_key_pem};
    tls[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  }
  r->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)(EMU_MAX_WAIT_SECONDS * 2), MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
      MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes, NULL, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
  if (!r->daemon) {
    free(r);
    if (cfg->tls_cert_pem) /* libcrypto accepted the pair, but GnuTLS may still refuse it */
      return ee_status_set(st, EE_UNAVAILABLE,
                           "--rest-port: cannot serve TLS on %s:%d (port in use, or GnuTLS "
                           "refused --tls-cert %s / --tls-key %s)",
                           cfg->host, cfg->rest_port, cfg->tls_cert_file, cfg->tls_key_file);
    return ee_status_set(st, EE_UNAVAILABLE, "--rest-port: cannot listen on %s:%d", cfg->host,
                         cfg->rest_port);
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
  *bound_port = info ? info->port : cfg->rest_port;
  *out = r;
  return EE_OK;
}

/* Stops accepting, lets requests in flight send their answers (the store has already woken
 * every WaitOperation), then closes every connection. */
void emu_rest_stop(emu_rest *r) {
  if (!r) return;
  MHD_socket listener = MHD_quiesce_daemon(r->daemon);
  for (int waited = 0; atomic_load(&r->in_flight) > 0 && waited < DRAIN_MS; waited += 10)
    emu_sleep_ms(10);
  MHD_stop_daemon(r->daemon);
  if (listener != MHD_INVALID_SOCKET) close(listener); /* quiesce hands it to us */
  free(r);
}
