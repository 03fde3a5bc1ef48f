/* Transports: REST on libcurl and gRPC on grpc core behind one ops table.
 *
 * The client layer (src/client/) owns retries, deadlines, tokens, validation and logging;
 * a transport performs one attempt of one call, asynchronously:
 *
 *   prepare  (caller's thread) route + request message -> an eei_prepared: the request in
 *            this transport's wire form (URL + JSON body, or gRPC path + binary bytes +
 *            x-goog-request-params). Done once per call; every attempt reuses it.
 *   start    (any thread) launches one attempt with the attempt's headers (which carry the
 *            current token) and an absolute deadline. Returns at once.
 *   done     (the transport's event thread) is called exactly once per started attempt,
 *            with the decoded response or the error. After done returns, the attempt is
 *            gone; the transport never calls done again for it.
 *   cancel   (any thread, before done ran) asks the attempt to end early; done still runs
 *            once, with EE_CANCELLED (unless the attempt had already finished otherwise).
 *
 * No per-RPC code lives in a transport: everything comes from the route (ee/route.h).
 * A transport never logs, never retries and never sees more than one attempt at a time
 * for an eei_attempt. */
#ifndef EE_TRANSPORT_H
#define EE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/buf.h"
#include "ee/client.h"
#include "ee/route.h"
#include "ee/status.h"

/* Monotonic clock in milliseconds (CLOCK_MONOTONIC). */
int64_t eei_now_ms(void);

/* One request header / metadata entry. Names are lower-case. */
typedef struct eei_header {
  const char *name; /* "authorization", "x-goog-user-project", "x-goog-api-client", ... */
  const char *value;
  bool secret; /* redacted in ee_client_prepare output and never logged */
} eei_header;

/* What a transport needs to know of the client's configuration. Strings are owned by
 * the client and outlive the transport. */
typedef struct eei_transport_config {
  const char *endpoint; /* "https://host[:port]" or "http://host:port" (validated) */
  bool tls;             /* endpoint scheme is https */
  const char *host;     /* host part of endpoint (no brackets for IPv6) */
  int port;             /* explicit or 443 / 80 */
  const char *ca_file;  /* NULL = system roots */
  int connect_timeout_ms;
  size_t max_response_bytes;
  int max_depth; /* message nesting accepted in responses */
  /* gRPC only (see ee_client_options). */
  int completion_threads;
  struct grpc_channel *channel;     /* the caller's, not owned; NULL = make one */
  struct grpc_completion_queue *cq; /* the caller's, not owned; NULL = own queue + threads */
} eei_transport_config;

/* gRPC: one event of a caller's queue that carries a transport tag (lowest bit set). */
void eei_grpc_event(void *tag, int success);

typedef struct eei_transport eei_transport; /* one per client, transport-specific */
typedef struct eei_prepared eei_prepared;   /* one per call, transport-specific */
typedef struct eei_attempt eei_attempt;     /* one per attempt, transport-specific */
typedef struct eei_driver eei_driver;       /* an event loop a blocking caller drives */

/* How one attempt ended. status.code is EE_OK with response set (a new message of the
 * route's response type, malloc-allocated, now owned by the receiver), or an error with
 * response NULL. For errors, status carries what the service said: code, message, HTTP
 * status (REST), ErrorInfo reason/domain/metadata, RetryInfo delay; and
 * retry_after_ms >= 0 when a Retry-After header asked for a delay. sent is false only
 * when the request certainly never reached the service (connection refused, DNS, TLS
 * handshake): the retry policy may then retry even non-idempotent calls. */
typedef struct eei_attempt_result {
  ee_status status;
  ProtobufCMessage *response;
  int64_t retry_after_ms;
  bool sent;
} eei_attempt_result;

/* Called once per attempt on the transport's event thread. It may start new attempts
 * (on any transport) and may take ownership of res->response (set it to NULL); the
 * transport frees whatever is left in *res after it returns. It must not block for long:
 * it runs on the thread that drives every other call of this transport. */
typedef void (*eei_attempt_done_fn)(void *user, eei_attempt_result *res);

typedef struct eei_transport_ops {
  const char *name; /* "rest" or "grpc" */

  /* Creates the transport and starts its event thread. Connections open lazily. */
  ee_code (*create)(const eei_transport_config *cfg, eei_transport **out, ee_status *st);

  /* Cancels every running attempt, waits until each done callback has run, stops the
   * event thread, frees. Accepts NULL. Not from the event thread. */
  void (*destroy)(eei_transport *t);

  /* Builds the wire form of req (of route->request type): REST: method, URL, JSON body
   * (ee_route_to_http); gRPC: binary bytes, x-goog-request-params. INVALID_ARGUMENT for
   * a request that cannot be expressed (bad path value), naming the field. The prepared
   * call keeps no pointer into req. */
  ee_code (*prepare)(eei_transport *t, const ee_route *route, const ProtobufCMessage *req,
                     eei_prepared **out, ee_status *st);

  /* The same for a request already in binary protobuf form (nanopb callers, the gateway):
   * gRPC uses the bytes as they are (request_params must be supplied by the caller, may
   * be ""); REST decodes them to build JSON. */
  ee_code (*prepare_bytes)(eei_transport *t, const ee_route *route, const uint8_t *bytes,
                           size_t len, const char *request_params, eei_prepared **out,
                           ee_status *st);

  /* Appends the DESIGN.md dry-run JSON object for p with these headers (secret values
   * printed as "REDACTED"). */
  ee_code (*describe)(const eei_prepared *p, const eei_header *headers, size_t n_headers,
                      ee_buf *out, ee_status *st);

  /* "POST https://host/v1/..." (REST) or "host:port/pkg.Service/Method" (gRPC), for logs.
   * Static for the prepared call's life. http_method gets "GET"/"POST"/... */
  const char *(*target)(const eei_prepared *p, const char **http_method);

  /* Extra headers this transport adds for this call (gRPC: x-goog-request-params), to
   * show in describe; may be NULL. */

  /* Starts one attempt. headers are copied before start returns. deadline_ms is absolute
   * (eei_now_ms clock), 0 = none. On EE_OK, done(user, …) will run exactly once and
   * *out (may be NULL if the caller does not cancel) is valid until then. On failure
   * done never runs. */
  ee_code (*start)(eei_transport *t, eei_prepared *p, const eei_header *headers, size_t n_headers,
                   int64_t deadline_ms, eei_attempt_done_fn done, void *user, eei_attempt **out,
                   ee_status *st);

  /* Asks a started attempt to end (done runs with EE_CANCELLED unless it already ended).
   * Safe from any thread while done has not returned; a no-op if it already finished. */
  void (*cancel)(eei_transport *t, eei_attempt *a);

  /* Frees a prepared call. Accepts NULL. Not while an attempt on it runs, except from
   * inside that attempt's done (the client frees a call's prepared request when its last
   * attempt ends): a transport must not touch the prepared call once done is called.
   * Always before destroy. */
  void (*prepared_free)(eei_prepared *p);

  /* Runs fn(arg) soon on one of the transport's completion threads (for gRPC with a
   * caller's queue: the thread polling it), so that a call ending off those threads (the
   * timer thread) still calls back where the contract says. May be NULL (the caller then
   * runs fn itself); a non-OK return also means fn will not run. */
  ee_code (*post)(eei_transport *t, void (*fn)(void *arg), void *arg);

  /* Drivers (optional; NULL in a transport without them): an event loop of the transport
   * that a blocking caller's thread runs itself while it waits, so a blocking call costs
   * no hand-off to the event thread and back (two context switches, the larger part of a
   * call's CPU on a small machine). The call machine is the same: attempts of a prepared
   * call bound to a driver are started, cancelled and ended on it, retries included.
   *   driver_get   (any thread) takes an idle driver, or makes one; NULL when none can
   *                be had (the caller then waits on the event thread as usual).
   *   bind_driver  attaches a prepared call to d before its first attempt starts.
   *   driver_run   (the taker's thread only) runs d until *until becomes non-zero.
   *   driver_wake  (any thread) makes a driver_run look at *until again.
   *   driver_put   gives d back once no attempt runs on it. */
  eei_driver *(*driver_get)(eei_transport *t);
  void (*bind_driver)(eei_prepared *p, eei_driver *d);
  void (*driver_run)(eei_driver *d, const _Atomic uint32_t *until);
  void (*driver_wake)(eei_driver *d);
  void (*driver_put)(eei_driver *d);
} eei_transport_ops;

extern const eei_transport_ops eei_rest_transport;
extern const eei_transport_ops eei_grpc_transport;

#endif
