/* The client layer's internals: the client object, the call state machine, the timer
 * thread and local validation. See ee/client.h for the contract and
 * src/transport/transport.h for what a transport does for one attempt. */
#ifndef EE_CLIENT_INTERNAL_H
#define EE_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ee/client.h"
#include "transport.h"

/* ---- timers: one thread per client runs callbacks at their time ---- */

typedef struct eei_timer {
  int64_t when_ms; /* eei_now_ms clock */
  void (*fn)(void *arg);
  void *arg;
  bool queued;
  struct eei_timer *next;
} eei_timer;

typedef struct eei_timers eei_timers;

ee_code eei_timers_new(eei_timers **out, ee_status *st);
/* Runs what is due, then stops the thread. Timers still queued are dropped. */
void eei_timers_free(eei_timers *t);
/* Queues t to run fn(arg) on the timer thread at when_ms. t must not be queued. */
void eei_timer_add(eei_timers *ts, eei_timer *t, int64_t when_ms);
/* If t is queued, makes it due now and returns true; false when it is not queued (it
 * already ran, is running, or was never added). */
bool eei_timer_fire_now(eei_timers *ts, eei_timer *t);

/* ---- random numbers: per-thread xorshift seeded from getrandom ---- */
uint64_t eei_random64(void);

/* ---- the client ---- */

typedef struct ee_call eei_call; /* the public ee_call */

struct ee_client {
  ee_client_options opts; /* strings below point into `strings` */
  char *strings;          /* one allocation holding every copied option string */
  const eei_transport_ops *ops;
  eei_transport *transport;
  eei_transport_config tcfg;
  eei_timers *timers;
  char api_client[64]; /* x-goog-api-client: "ee-c/<version>" */
  char *user_agent;    /* "[opts.user_agent ]ee-c/<version>" */
  pthread_mutex_t mu;  /* guards calls, n_calls, closing */
  pthread_cond_t idle; /* signalled when n_calls drops to 0 */
  eei_call *calls;     /* live calls, for ee_client_free */
  size_t n_calls;
  bool closing;
  pthread_mutex_t token_mu; /* serialises token_fn refreshes (single flight) */
  ee_token_source *creds;   /* a reference: opts.credentials, or the ADC source built for
                               opts.adc; NULL when access_token or token_fn is used */
};

/* Called once per call, on a client thread, with the final result. The callee owns
 * resp (NULL unless st->code is EE_OK). */
typedef void (*eei_call_done_fn)(void *user, ProtobufCMessage *resp, const ee_status *st);

/* Who gets a call's result, and as which type. */
typedef enum eei_done_kind {
  EEI_DONE_MESSAGE,   /* fn.message: any response type */
  EEI_DONE_OPERATION, /* fn.operation: google.longrunning.Operation */
  EEI_DONE_LIST,      /* fn.list: ListOperationsResponse */
  EEI_DONE_EMPTY      /* fn.empty: the Empty response is dropped */
} eei_done_kind;

typedef struct eei_done {
  eei_done_kind kind;
  union {
    eei_call_done_fn message;
    ee_operation_done_fn operation;
    ee_list_done_fn list;
    ee_empty_done_fn empty;
  } fn;
  void *user;
} eei_done;

#define EEI_MAX_QUOTA_PROJECT 256 /* bytes of a per-call x-goog-user-project */

/* Sets header `name` to value in headers[0..*n) (replacing it, or appending: the array
 * has room for one more than eei_attempt_headers fills). */
void eei_set_header(eei_header *headers, size_t *n, const char *name, const char *value);

/* Starts a call: fills defaults (project, requestId), validates, prepares, launches the
 * first attempt. On EE_OK, done runs exactly once later, on a client thread (never
 * inside this function). On failure nothing was sent and done never runs. *out (may be
 * NULL) is a reference for eei_call_cancel, to drop with eei_call_release. */
ee_code eei_call_start(ee_client *c, const ee_route *route, const ProtobufCMessage *req,
                       const ee_call_options *co, eei_call_done_fn done, void *user, eei_call **out,
                       ee_status *st);

/* eei_call_start with a typed callback (the async API). *out, when asked for, is a
 * reference the caller drops with eei_call_release; it stays valid after done ran. */
ee_code eei_call_start_done(ee_client *c, const ee_route *route, const ProtobufCMessage *req,
                            const ee_call_options *co, const eei_done *done, eei_call **out,
                            ee_status *st);

/* A request already in binary protobuf form (ee_client_call_raw): sent as it is over gRPC
 * (REST decodes it to build the JSON body). request_params is the x-goog-request-params
 * value (NULL or "" = none). Not validated locally and no defaults are filled (no
 * project, no requestId): the bytes are the caller's exact request. */
typedef struct eei_raw_request {
  const uint8_t *bytes;
  size_t len;
  const char *request_params;
} eei_raw_request;

/* eei_call_start_done for raw bytes: the same machine, prepared with ops->prepare_bytes.
 * The bytes are copied before it returns. */
ee_code eei_call_start_raw(ee_client *c, const ee_route *route, const eei_raw_request *raw,
                           const ee_call_options *co, const eei_done *done, eei_call **out,
                           ee_status *st);

/* Blocking form of eei_call_start_raw. */
ee_code eei_call_blocking_raw(ee_client *c, const ee_route *route, const eei_raw_request *raw,
                              const ee_call_options *co, ProtobufCMessage **out, ee_status *st);

/* Drops a reference taken by eei_call_start_done / eei_call_start (out). Accepts NULL. */
void eei_call_release(eei_call *call);

/* Asks a call to end with CANCELLED (done still runs once). Only while done has not
 * returned. */
void eei_call_cancel(eei_call *call);

/* Blocking form: starts the call and waits for it. */
ee_code eei_call_blocking(ee_client *c, const ee_route *route, const ProtobufCMessage *req,
                          const ee_call_options *co, ProtobufCMessage **out, ee_status *st);

/* The request as it will be sent: a shallow copy of req with the client's defaults
 * filled (project, requestId), after local validation. *owned is set to a malloc'ed
 * shallow copy when one was made (free with free(), not free_unpacked), else NULL and
 * *effective == req. */
ee_code eei_request_effective(ee_client *c, const ee_route *route, const ProtobufCMessage *req,
                              const ProtobufCMessage **effective, void **owned,
                              char request_id[EE_REQUEST_ID_MAX + 1], ee_status *st);

/* The headers of one attempt (authorization from the token source unless for_dry_run,
 * where a configured source shows as a redacted value without being asked). token
 * holds the token text; headers point into it and into c. Returns the count. token_gen
 * (may be NULL): the generation of the credentials' token this call last used (in, for
 * a forced refresh) and of the one now used (out). */
ee_code eei_attempt_headers(ee_client *c, bool force_refresh, bool for_dry_run, uint64_t *token_gen,
                            ee_buf *token, eei_header headers[6], size_t *n, ee_status *st);

/* Whether the client asks a refreshable source for tokens (one refresh after a 401). */
bool eei_client_refreshes_tokens(const ee_client *c);

/* Local checks of an ExportImage request, naming the JSON field at fault. */
ee_code eei_validate_export(const Google__Earthengine__V1__ExportImageRequest *req, ee_status *st);

/* ee_client_new with a given transport (unit tests use a fake one). */
ee_code eei_client_new_with_ops(const ee_client_options *opts, const eei_transport_ops *ops,
                                ee_client **out, ee_status *st);

/* Looks up a route of the default table, or EE_INVALID_ARGUMENT / EE_UNIMPLEMENTED. */
ee_code eei_client_route(const char *rpc, const ee_route **out, ee_status *st);

#endif
