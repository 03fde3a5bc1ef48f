/* eeclient: the Earth Engine export client.
 *
 * One client object, created from options, speaks REST (HTTP/JSON through libcurl) or
 * gRPC (grpc core), chosen by ee_client_options.transport (or EE_TRANSPORT). The calls,
 * the generated request and response structs and the errors are the same for both.
 *
 * Calls. Every RPC is a state machine driven by completion events: curl's multi
 * interface (REST) or a grpc completion queue (gRPC: the client's own, polled by its
 * completion threads, or a queue the caller polls), plus one timer thread for retry
 * backoff. A blocking call starts the same machine and waits for it, so blocking and
 * asynchronous calls (the _async functions) are one code path. Over REST the blocking
 * caller's thread runs the curl loop of its call itself while it waits (a loop of the
 * client's, kept with its connection for the next blocking call): no hand-off between
 * threads, and log_fn runs on the caller's thread.
 *
 * Before anything is sent, a request is checked locally (path patterns of the route,
 * requestId charset and length, priority range, exactly one export destination); a
 * failure is EE_INVALID_ARGUMENT naming the field, and nothing is sent.
 *
 * Retries: UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED of one attempt, 5xx and
 * connection failures are retried with capped exponential backoff and full jitter,
 * honouring google.rpc.RetryInfo and Retry-After, bounded by max_attempts and the call's
 * total deadline. ExportImage is retried only when it carries a requestId; the client sets
 * a random UUIDv4 requestId when the caller gives none (unless no_auto_request_id), so a
 * retried export never starts two tasks.
 *
 * Threads: an ee_client is safe to share between threads; every call may be made from
 * any thread at once. ee_client_free must not race with calls on the same client.
 *
 * Ownership: the caller keeps ownership of everything it passes; the client copies what
 * it needs before a call returns. A response *out is new and owned by the caller; free
 * it with protobuf_c_message_free_unpacked(&(*out)->base, NULL) (or ee_message_free). */
#ifndef EE_CLIENT_H
#define EE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/auth.h"
#include "ee/buf.h"
#include "ee/export.h"
#include "ee/status.h"
#include "google/earthengine/v1/earthengine.pb-c.h"
#include "google/earthengine/v1/operation_metadata.pb-c.h"
#include "google/longrunning/operations.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ee_client ee_client;
struct grpc_channel;          /* grpc/grpc.h, for callers that bring their own */
struct grpc_completion_queue; /* likewise */

typedef enum ee_transport_kind {
  EE_TRANSPORT_REST = 0, /* HTTP/1.1 or HTTP/2 (over TLS) with proto3 JSON bodies */
  EE_TRANSPORT_GRPC = 1  /* gRPC over HTTP/2, binary protobuf */
} ee_transport_kind;

#define EE_DEFAULT_ENDPOINT "https://earthengine.googleapis.com"
#define EE_DEFAULT_SCOPE "https://www.googleapis.com/auth/earthengine"
#define EE_REQUEST_ID_MAX 60 /* bytes of requestId, [A-Za-z0-9-] */

/* Supplies a bearer access token (without the "Bearer " prefix) for one attempt. Called
 * from client threads, possibly from several at once: it must be thread-safe. After the
 * service answered UNAUTHENTICATED, the next call has force_refresh true (a cached token
 * must be replaced). Append the token to *token; on failure return a non-OK code with st
 * set (the call then fails with that status). */
typedef ee_code (*ee_token_fn)(void *user, bool force_refresh, ee_buf *token, ee_status *st);

/* Retry policy. Attempts are bounded by max_attempts and by the call's total deadline;
 * the delay before retry n (n >= 1) is uniform in [0, min(max_backoff, initial *
 * multiplier^(n-1))] ("full jitter"), but never less than a delay the service asked for
 * (RetryInfo or Retry-After) when that fits the deadline. */
typedef struct ee_retry_policy {
  int max_attempts;       /* including the first; 1 = no retries. Default 6 */
  int initial_backoff_ms; /* default 250 */
  int max_backoff_ms;     /* default 32000 */
  double multiplier;      /* default 2.0 */
} ee_retry_policy;

/* One line of the per-call log: what was sent, and how it ended. Never holds a secret. */
typedef struct ee_call_log {
  const char *transport;  /* "rest" or "grpc" */
  const char *rpc;        /* "/google.longrunning.Operations/GetOperation" */
  const char *method;     /* HTTP method ("GET"), or "POST" for gRPC */
  const char *target;     /* full URL (REST) or "host:port/pkg.Service/Method" (gRPC) */
  int attempt;            /* 1 for the first */
  ee_code code;           /* EE_OK or the attempt's error */
  int http_status;        /* REST: the HTTP status; 0 when none */
  const char *message;    /* the error message, "" on success */
  double duration_ms;     /* of this attempt */
  int64_t retry_delay_ms; /* >= 0 when a retry follows after this delay, else -1 */
} ee_call_log;

/* Receives one ee_call_log per attempt, on a client thread (or, for a blocking REST call,
 * on its caller's thread); must be thread-safe. The entry and its strings are valid only
 * during the callback. */
typedef void (*ee_log_fn)(void *user, const ee_call_log *entry);

typedef struct ee_client_options {
  ee_transport_kind transport;
  const char *endpoint;      /* URL: "https://host[:port]" (TLS) or "http://host:port"
                                (plaintext, e.g. ee-emulator); NULL = EE_DEFAULT_ENDPOINT */
  const char *project;       /* default "projects/ID" for calls that leave it empty */
  const char *quota_project; /* sent as x-goog-user-project; NULL = the credentials'
                                quota_project_id, else none */
  /* Authorization, the first that is set: access_token, credentials, token_fn, adc. */
  const char *access_token;     /* a fixed bearer token */
  ee_token_source *credentials; /* ee/auth.h; the client takes its own reference */
  ee_token_fn token_fn;         /* a caller's token hook */
  void *token_user;
  bool adc;                  /* build Application Default Credentials (ee_token_source_adc with
                                EE_DEFAULT_SCOPE) in ee_client_new; a bad key file fails ee_client_new */
  const char *ca_file;       /* PEM roots for TLS; NULL = the system's */
  int connect_timeout_ms;    /* default 10000 */
  int attempt_timeout_ms;    /* one attempt; default 60000 */
  int call_timeout_ms;       /* a whole call with its retries; default 300000 */
  ee_retry_policy retry;     /* zeros = defaults */
  const char *user_agent;    /* prepended to "ee-c/<version>" in User-Agent; may be NULL */
  bool no_auto_request_id;   /* do not fill an empty ExportImage requestId */
  size_t max_response_bytes; /* default 32 MiB; larger answers fail OUT_OF_RANGE */
  int max_depth;             /* message nesting accepted in responses; default 100 */
  ee_log_fn log_fn;          /* NULL = no log */
  void *log_user;
  /* gRPC only. */
  int completion_threads;            /* threads polling the client's completion queue, which run the
                                        callbacks of async calls; default 1, at most 64. (REST runs
                                        its one event thread.) Ignored with grpc_cq. */
  struct grpc_channel *grpc_channel; /* the caller's channel: the client starts its calls on
                                        it and never closes it (it must outlive the client);
                                        its credentials and connection pool are used, so
                                        endpoint only names the service in logs, and
                                        ca_file, connect_timeout_ms and user_agent do not
                                        apply. NULL = the client makes its own. */
  struct grpc_completion_queue *grpc_cq; /* a queue the caller polls (see "Bring your own
                                            completion queue" below); NULL = the client's own
                                            queue and threads */
} ee_client_options;

/* Fills *o with the defaults (zeros mean defaults throughout). */
EE_API void ee_client_options_init(ee_client_options *o);

/* Applies EE_TRANSPORT (rest|grpc), EE_ENDPOINT, EE_PROJECT ("projects/ID" or "ID") and
 * EE_ACCESS_TOKEN over *o. The strings point into the environment (or static storage):
 * do not change the environment while *o is in use. An unknown EE_TRANSPORT is
 * EE_INVALID_ARGUMENT naming the variable; *o is then unchanged.
 *
 * Credentials: EE_ACCESS_TOKEN when set; else, when *o has no credentials, token_fn or
 * access_token of its own, Application Default Credentials (o->adc = true) but only
 * when ADC has a real source (ee_adc_available: GOOGLE_APPLICATION_CREDENTIALS, the
 * gcloud file, or GCE_METADATA_HOST), so that a program run with no credentials at all
 * (tests, ee-emulator) sends none rather than waiting on a metadata server that is not
 * there. EE_CREDENTIALS=adc asks for ADC regardless (on GCE: the metadata server at
 * metadata.google.internal); EE_CREDENTIALS=none for no authorization. */
EE_API ee_code ee_client_options_from_env(ee_client_options *o, ee_status *st);

/* Parses "rest" / "grpc". Returns 0, or -1 for anything else. */
EE_API int ee_transport_from_name(const char *name, ee_transport_kind *out);
EE_API const char *ee_transport_name(ee_transport_kind t);

/* Creates a client: checks the options, opens the channel (gRPC) or connection pool
 * (REST) lazily, starts the client's threads. Copies every string it keeps. On failure
 * *out is NULL and st names the bad option. Free with ee_client_free. */
EE_API ee_code ee_client_new(const ee_client_options *opts, ee_client **out, ee_status *st);

/* The client's token source (opts.credentials, or the one ADC gave), borrowed: valid
 * while the client lives. NULL when it uses access_token, token_fn or nothing. */
EE_API ee_token_source *ee_client_credentials(const ee_client *c);

/* Cancels calls still running (their callbacks run with CANCELLED), waits for them,
 * stops the threads and frees the client. Accepts NULL. Must not be called from a client
 * callback. */
EE_API void ee_client_free(ee_client *c);

/* Per-call options; NULL means the client's defaults. Zero-initialise it and set what you
 * need (fields may be added at the end). */
typedef struct ee_call_options {
  int timeout_ms;            /* total deadline of the call including retries; 0 = client's */
  int max_attempts;          /* 0 = client's retry policy */
  const char *quota_project; /* x-goog-user-project for this call; NULL = the client's.
                                Copied before the call function returns. */
} ee_call_options;

/* --- The RPCs. Each blocks until the call ends; *out is new and owned by the caller,
 *     NULL on failure. The request is only read. --- */

/* google.earthengine.v1.EarthEngine/ExportImage. An empty req->project takes the
 * client's project. */
EE_API ee_code ee_client_export_image(ee_client *c,
                                      const Google__Earthengine__V1__ExportImageRequest *req,
                                      const ee_call_options *co,
                                      Google__Longrunning__Operation **out, ee_status *st);

/* google.longrunning.Operations/GetOperation. */
EE_API ee_code ee_client_get_operation(ee_client *c,
                                       const Google__Longrunning__GetOperationRequest *req,
                                       const ee_call_options *co,
                                       Google__Longrunning__Operation **out, ee_status *st);

/* google.longrunning.Operations/ListOperations: one page. An empty req->name takes the
 * client's project. */
EE_API ee_code ee_client_list_operations(ee_client *c,
                                         const Google__Longrunning__ListOperationsRequest *req,
                                         const ee_call_options *co,
                                         Google__Longrunning__ListOperationsResponse **out,
                                         ee_status *st);

/* google.longrunning.Operations/CancelOperation (the operation ends CANCELLED). */
EE_API ee_code ee_client_cancel_operation(ee_client *c,
                                          const Google__Longrunning__CancelOperationRequest *req,
                                          const ee_call_options *co, ee_status *st);

/* google.longrunning.Operations/DeleteOperation (forgets it; does not cancel). */
EE_API ee_code ee_client_delete_operation(ee_client *c,
                                          const Google__Longrunning__DeleteOperationRequest *req,
                                          const ee_call_options *co, ee_status *st);

/* google.longrunning.Operations/WaitOperation: one server-side wait, which may return
 * before the operation is done. */
EE_API ee_code ee_client_wait_operation(ee_client *c,
                                        const Google__Longrunning__WaitOperationRequest *req,
                                        const ee_call_options *co,
                                        Google__Longrunning__Operation **out, ee_status *st);

/* Any routed RPC by its gRPC path ("/google.longrunning.Operations/GetOperation"), for
 * generic code (the CLI, the gateway). req must be of the route's request type; *out is
 * of its response type (Empty for Cancel and Delete). */
EE_API ee_code ee_client_call(ee_client *c, const char *rpc, const ProtobufCMessage *req,
                              const ee_call_options *co, ProtobufCMessage **out, ee_status *st);

/* Any routed RPC with the request already encoded (binary protobuf of the route's request
 * type), answered as binary bytes: for callers that encode and decode with another
 * protobuf runtime (ee/nanopb.h). The bytes are sent as they are over gRPC (REST decodes
 * them to build the JSON body); they are not validated locally and no defaults are filled
 * (no project, no requestId: an ExportImage without a requestId is not retried once it
 * may have been sent). request_params is the x-goog-request-params value the route needs
 * ("project=projects%2Fmy-proj" for ExportImage; NULL or "" for none): the client does not
 * decode the bytes to compute it (see ee_nanopb_request_params). On EE_OK the response,
 * re-encoded in binary protobuf, is appended to *response_bytes (the caller's buffer,
 * bounded by its limit); on failure nothing is appended. The retries, deadlines, tokens
 * and errors are those of ee_client_call: the same call machine. */
EE_API ee_code ee_client_call_raw(ee_client *c, const char *rpc, const uint8_t *req, size_t len,
                                  const char *request_params, const ee_call_options *co,
                                  ee_buf *response_bytes, ee_status *st);

/* --- Asynchronous calls ---
 *
 * The same RPCs, started without waiting: the start function checks and sends the request
 * and returns at once; the result arrives later through a completion callback, with the
 * same structs and ee_status as the blocking call (retries, deadlines and token refresh
 * behave the same: the blocking calls are this path plus a wait).
 *
 * Threads: the callback runs exactly once, on a client completion thread: the transport's
 * event thread (REST: curl's multi loop; gRPC: one of opts.completion_threads threads on
 * the client's completion queue), or on the thread that polls the caller's own queue
 * (opts.grpc_cq, see below). Never inside the start function: a start that fails returns
 * the error and no callback runs. A callback may start new calls, cancel calls and release
 * handles; it must not block for long (it holds up other calls' completions) and must not
 * call ee_client_free. ee_client_free cancels what is still running and returns only after
 * every callback has returned: no callback runs after it.
 *
 * Ownership: the callback owns resp (NULL unless st->code is EE_OK; free with
 * ee_message_free); st is borrowed for the callback. The request is copied before the start
 * function returns. */

/* A running call. The handle (when asked for) is the caller's reference: valid for
 * ee_call_cancel until ee_call_release, whether or not the call has ended. */
typedef struct ee_call ee_call;

/* Results: resp is of the RPC's response type (Empty for Cancel and Delete). */
typedef void (*ee_call_done_fn)(void *user, ProtobufCMessage *resp, const ee_status *st);
typedef void (*ee_operation_done_fn)(void *user, Google__Longrunning__Operation *op,
                                     const ee_status *st);
typedef void (*ee_list_done_fn)(void *user, Google__Longrunning__ListOperationsResponse *resp,
                                const ee_status *st);
typedef void (*ee_empty_done_fn)(void *user, const ee_status *st);

/* Starts any routed RPC by its gRPC path (as ee_client_call). On EE_OK done(user, ...) will
 * run once; *call (call may be NULL) is a new reference to release with ee_call_release.
 * On failure nothing was sent, done never runs and *call is NULL. */
EE_API ee_code ee_client_call_async(ee_client *c, const char *rpc, const ProtobufCMessage *req,
                                    const ee_call_options *co, ee_call_done_fn done, void *user,
                                    ee_call **call, ee_status *st);

/* The same for a request already in binary protobuf form (a gateway passing bytes on):
 * gRPC sends them as they are, REST decodes them to build the JSON body; both check them
 * as a request of the RPC's type first (INVALID_ARGUMENT naming the field). */
EE_API ee_code ee_client_call_bytes_async(ee_client *c, const char *rpc, const uint8_t *bytes,
                                          size_t len, const ee_call_options *co,
                                          ee_call_done_fn done, void *user, ee_call **call,
                                          ee_status *st);

EE_API ee_code ee_client_export_image_async(ee_client *c,
                                            const Google__Earthengine__V1__ExportImageRequest *req,
                                            const ee_call_options *co, ee_operation_done_fn done,
                                            void *user, ee_call **call, ee_status *st);
EE_API ee_code ee_client_get_operation_async(ee_client *c,
                                             const Google__Longrunning__GetOperationRequest *req,
                                             const ee_call_options *co, ee_operation_done_fn done,
                                             void *user, ee_call **call, ee_status *st);
EE_API ee_code ee_client_list_operations_async(
    ee_client *c, const Google__Longrunning__ListOperationsRequest *req, const ee_call_options *co,
    ee_list_done_fn done, void *user, ee_call **call, ee_status *st);
EE_API ee_code ee_client_cancel_operation_async(
    ee_client *c, const Google__Longrunning__CancelOperationRequest *req, const ee_call_options *co,
    ee_empty_done_fn done, void *user, ee_call **call, ee_status *st);
EE_API ee_code ee_client_delete_operation_async(
    ee_client *c, const Google__Longrunning__DeleteOperationRequest *req, const ee_call_options *co,
    ee_empty_done_fn done, void *user, ee_call **call, ee_status *st);
EE_API ee_code ee_client_wait_operation_async(ee_client *c,
                                              const Google__Longrunning__WaitOperationRequest *req,
                                              const ee_call_options *co, ee_operation_done_fn done,
                                              void *user, ee_call **call, ee_status *st);

/* Every page of ListOperations, asynchronously: fetches page after page (from the client
 * thread that got the previous one), calling on_page with each (borrowed for the
 * callback) until it returns false or the last page came, then done once: EE_OK, or the
 * failed page's status (a page's retries as for any call). On failure at the start,
 * nothing was sent and neither callback runs. req (copied) as for ee_client_list_all;
 * ee_client_free ends a running listing with CANCELLED. */
typedef bool (*ee_page_fn)(void *user, const Google__Longrunning__ListOperationsResponse *page);
EE_API ee_code ee_client_list_all_async(ee_client *c,
                                        const Google__Longrunning__ListOperationsRequest *req,
                                        const ee_call_options *co, ee_page_fn on_page,
                                        ee_empty_done_fn done, void *user, ee_status *st);

/* Asks the call to end now: its callback runs (once, as always) with EE_CANCELLED unless
 * it already ended otherwise. A request already sent may still take effect at the service
 * (an export may start). Any thread, also from a callback; a no-op once the call ended.
 * Not after ee_client_free. */
EE_API void ee_call_cancel(ee_call *call);

/* Drops the caller's reference. Accepts NULL. Any thread, also from the call's own
 * callback. Releasing does not cancel. */
EE_API void ee_call_release(ee_call *call);

/* --- Bring your own completion queue (gRPC) ---
 *
 * With opts.grpc_cq the client starts every gRPC call on the caller's queue and runs no
 * completion thread of its own: the caller's polling loop hands back the events that are
 * the client's. The tag convention: a tag the client puts on the queue has its lowest bit
 * set; the caller's own tags must have it clear (any pointer to an object aligned to 2 or
 * more bytes, which is every malloc'ed or struct pointer). So the loop reads
 *
 *   grpc_event ev = grpc_completion_queue_next(cq, deadline, NULL);
 *   if (ev.type == GRPC_OP_COMPLETE && ee_client_owns_tag(ev.tag))
 *     ee_client_grpc_event(ev.tag, ev.success);   // runs the call's next step (its callback)
 *   else ...                                      // the caller's own event
 *
 * Threads: ee_client_grpc_event runs on the polling thread and may run the call's
 * callback there; any number of threads may poll. The client's timer thread still waits
 * out retry backoffs and starts the retry on the caller's queue; a call that ends during
 * a backoff (cancelled, or out of time) runs its callback on that timer thread.
 * Shutdown: ee_client_free cancels the client's calls and waits until their events came
 * back through ee_client_grpc_event, so keep polling (on another thread) until it returns;
 * then shut the queue down as usual. */
#define ee_client_owns_tag(tag) ((((uintptr_t)(tag)) & (uintptr_t)1) != 0)

/* Hands one of the client's events (ee_client_owns_tag) back to it. */
EE_API void ee_client_grpc_event(void *tag, int success);

/* --- All pages of ListOperations. --- */

typedef struct ee_operation_iter ee_operation_iter;

/* Starts iterating over every operation that req selects, across pages (req->page_token
 * is the first page's token, usually empty). Fetches nothing until the first next. The
 * iterator copies req. Free with ee_operation_iter_free. */
EE_API ee_code ee_client_list_all(ee_client *c,
                                  const Google__Longrunning__ListOperationsRequest *req,
                                  const ee_call_options *co, ee_operation_iter **out,
                                  ee_status *st);

/* The next operation, fetching the next page when needed. *op is borrowed: valid until
 * the next call on the iterator or its free. At the end: EE_OK with *op == NULL. A failed
 * page is the call's status; the iterator may be retried with next. */
EE_API ee_code ee_operation_iter_next(ee_operation_iter *it,
                                      const Google__Longrunning__Operation **op, ee_status *st);

/* Pages fetched so far. */
EE_API size_t ee_operation_iter_pages(const ee_operation_iter *it);

/* Accepts NULL. */
EE_API void ee_operation_iter_free(ee_operation_iter *it);

/* --- Following an operation to its end. --- */

/* Called on each change of the operation (state, stage, progress), on the calling
 * thread of ee_client_wait_done. md is the decoded OperationMetadata, or NULL when the
 * operation carries none (or another type). Both are borrowed for the callback. */
typedef void (*ee_progress_fn)(void *user, const Google__Longrunning__Operation *op,
                               const Google__Earthengine__V1__OperationMetadata *md);

/* Follows operation `name` until it is done or timeout_ms passes (0 = no limit but the
 * client's call timeout per request): WaitOperation while the service honours it (it
 * returns early at most ~its timeout), else GetOperation with capped backoff. *out is the
 * final operation (done) on EE_OK; on a timeout EE_DEADLINE_EXCEEDED and *out the last
 * one seen (may be NULL). A done operation that failed is EE_OK here: look at
 * (*out)->error. progress may be NULL. */
EE_API ee_code ee_client_wait_done(ee_client *c, const char *name, int timeout_ms,
                                   ee_progress_fn progress, void *user,
                                   Google__Longrunning__Operation **out, ee_status *st);

/* Decodes op->metadata when it is an OperationMetadata. Returns a new message the caller
 * frees (ee_message_free), or NULL when absent, of another type or undecodable. */
EE_API Google__Earthengine__V1__OperationMetadata *ee_operation_metadata(
    const Google__Longrunning__Operation *op);

/* --- Seeing a call without making it. --- */

/* Validates req as the call would (requestId filled the same way) and writes, without
 * sending anything, one JSON object describing the exact call to *out (appended):
 *   REST: {"transport":"rest","method":"POST","url":"…","headers":{…},"body":{…}}
 *   gRPC: {"transport":"grpc","method":"/pkg.Service/Method","metadata":{…},"message":{…}}
 * Secrets (authorization) are redacted. rpc as for ee_client_call. */
EE_API ee_code ee_client_prepare(ee_client *c, const char *rpc, const ProtobufCMessage *req,
                                 ee_buf *out, ee_status *st);

/* Frees any message the client returned (protobuf_c_message_free_unpacked). Accepts
 * NULL. */
EE_API void ee_message_free(void *msg);

/* A new random UUIDv4 in canonical text form (36 chars + NUL) in out[37]. */
EE_API void ee_uuid4(char out[37]);

#ifdef __cplusplus
}
#endif
#endif
