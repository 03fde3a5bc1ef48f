/* The RPCs by name and type, all pages of a list, following an operation to its end, and
 * the dry-run description of a call. Each is a thin layer on the call state machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_internal.h"
#include "ee/wire.h"

#define RPC_EXPORT "/google.earthengine.v1.EarthEngine/ExportImage"
#define RPC_GET "/google.longrunning.Operations/GetOperation"
#define RPC_LIST "/google.longrunning.Operations/ListOperations"
#define RPC_CANCEL "/google.longrunning.Operations/CancelOperation"
#define RPC_DELETE "/google.longrunning.Operations/DeleteOperation"
#define RPC_WAIT "/google.longrunning.Operations/WaitOperation"

void ee_message_free(void *msg) {
  if (msg) protobuf_c_message_free_unpacked(msg, NULL);
}

ee_code ee_client_call(ee_client *c, const char *rpc, const ProtobufCMessage *req,
                       const ee_call_options *co, ProtobufCMessage **out, ee_status *st) {
  const ee_route *route;
  *out = NULL;
  if (!c) return ee_status_set(st, EE_INVALID_ARGUMENT, "client: NULL");
  ee_code rc = eei_client_route(rpc, &route, st);
  return rc == EE_OK ? eei_call_blocking(c, route, req, co, out, st) : rc;
}

ee_code ee_client_call_raw(ee_client *c, const char *rpc, const uint8_t *req, size_t len,
                           const char *request_params, const ee_call_options *co,
                           ee_buf *response_bytes, ee_status *st) {
  const ee_route *route;
  ProtobufCMessage *resp = NULL;
  if (!c) return ee_status_set(st, EE_INVALID_ARGUMENT, "client: NULL");
  if (!response_bytes) return ee_status_set(st, EE_INVALID_ARGUMENT, "response_bytes: NULL");
  ee_code rc = eei_client_route(rpc, &route, st);
  if (rc != EE_OK) return rc;
  eei_raw_request raw = {.bytes = req, .len = len, .request_params = request_params};
  rc = eei_call_blocking_raw(c, route, &raw, co, &resp, st);
  if (rc != EE_OK) return rc;
  /* The transport decoded the answer (bounded by max_response_bytes and max_depth);
   * packing it again gives canonical bytes of the same message. */
  size_t n = protobuf_c_message_get_packed_size(resp);
  uint8_t *packed = malloc(n ? n : 1);
  if (!packed) {
    rc = ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  } else {
    protobuf_c_message_pack(resp, packed);
    rc = ee_buf_append(response_bytes, packed, n, st); /* keeps the buffer's NUL and limit */
    free(packed);
  }
  ee_message_free(resp);
  return rc;
}

/* Calls rpc and hands back its response as the caller's type. */
static ee_code typed_call(ee_client *c, const char *rpc, const ProtobufCMessage *req,
                          const ee_call_options *co, void **out, ee_status *st) {
  ProtobufCMessage *resp = NULL;
  ee_code rc = ee_client_call(c, rpc, req, co, &resp, st);
  *out = resp;
  return rc;
}

/* Calls rpc and drops its (Empty) response. */
static ee_code empty_call(ee_client *c, const char *rpc, const ProtobufCMessage *req,
                          const ee_call_options *co, ee_status *st) {
  ProtobufCMessage *resp = NULL;
  ee_code rc = ee_client_call(c, rpc, req, co, &resp, st);
  ee_message_free(resp);
  return rc;
}

ee_code ee_client_export_image(ee_client *c, const Google__Earthengine__V1__ExportImageRequest *req,
                               const ee_call_options *co, Google__Longrunning__Operation **out,
                               ee_status *st) {
  return typed_call(c, RPC_EXPORT, req ? &req->base : NULL, co, (void **)out, st);
}

ee_code ee_client_get_operation(ee_client *c, const Google__Longrunning__GetOperationRequest *req,
                                const ee_call_options *co, Google__Longrunning__Operation **out,
                                ee_status *st) {
  return typed_call(c, RPC_GET, req ? &req->base : NULL, co, (void **)out, st);
}

ee_code ee_client_list_operations(ee_client *c,
                                  const Google__Longrunning__ListOperationsRequest *req,
                                  const ee_call_options *co,
                                  Google__Longrunning__ListOperationsResponse **out,
                                  ee_status *st) {
  return typed_call(c, RPC_LIST, req ? &req->base : NULL, co, (void **)out, st);
}

ee_code ee_client_cancel_operation(ee_client *c,
                                   const Google__Longrunning__CancelOperationRequest *req,
                                   const ee_call_options *co, ee_status *st) {
  return empty_call(c, RPC_CANCEL, req ? &req->base : NULL, co, st);
}

ee_code ee_client_delete_operation(ee_client *c,
                                   const Google__Longrunning__DeleteOperationRequest *req,
                                   const ee_call_options *co, ee_status *st) {
  return empty_call(c, RPC_DELETE, req ? &req->base : NULL, co, st);
}

ee_code ee_client_wait_operation(ee_client *c, const Google__Longrunning__WaitOperationRequest *req,
                                 const ee_call_options *co, Google__Longrunning__Operation **out,
                                 ee_status *st) {
  return typed_call(c, RPC_WAIT, req ? &req->base : NULL, co, (void **)out, st);
}

/* ---- asynchronous ---- */

static ee_code start_async(ee_client *c, const char *rpc, const ProtobufCMessage *req,
                           const ee_call_options *co, const eei_done *d, ee_call **call,
                           ee_status *st) {
  const ee_route *route;
  if (call) *call = NULL;
  if (!c) return ee_status_set(st, EE_INVALID_ARGUMENT, "client: NULL");
  if (!d->fn.message) return ee_status_set(st, EE_INVALID_ARGUMENT, "done callback: NULL");
  ee_code rc = eei_client_route(rpc, &route, st);
  return rc == EE_OK ? eei_call_start_done(c, route, req, co, d, call, st) : rc;
}

ee_code ee_client_call_async(ee_client *c, const char *rpc, const ProtobufCMessage *req,
                             const ee_call_options *co, ee_call_done_fn done, void *user,
                             ee_call **call, ee_status *st) {
  eei_done d = {.kind = EEI_DONE_MESSAGE, .fn.message = done, .user = user};
  return start_async(c, rpc, req, co, &d, call, st);
}

/* Bytes from outside pass ee_wire (depth and size bounds, canonical for protobuf-c) and
 * then take the same path as a struct: validation, defaults, a requestId. */
ee_code ee_client_call_bytes_async(ee_client *c, const char *rpc, const uint8_t *bytes, size_t len,
                                   const ee_call_options *co, ee_call_done_fn done, void *user,
                                   ee_call **call, ee_status *st) {
  static const uint8_t empty[1];
  const ee_route *route;
  ProtobufCMessage *req = NULL;
  if (call) *call = NULL;
  if (!c) return ee_status_set(st, EE_INVALID_ARGUMENT, "client: NULL");
  ee_code rc = eei_client_route(rpc, &route, st);
  if (rc != EE_OK) return rc;
  if (len && !bytes) return ee_status_set(st, EE_INVALID_ARGUMENT, "request bytes: NULL");
  rc = ee_wire_unpack(route->request, len ? bytes : empty, len, c->opts.max_depth, NULL, &req, st);
  if (rc != EE_OK) return ee_status_prefix(st, "request: not a valid %s", route->request->name);
  rc = ee_client_call_async(c, rpc, req, co, done, user, call, st);
  ee_message_free(req);
  return rc;
}

#define TYPED_ASYNC(fn_name, req_type, rpc, done_type, kind_, member)                           \
  ee_code fn_name(ee_client *c, const req_type *req, const ee_call_options *co, done_type done, \
                  void *user, ee_call **call, ee_status *st) {                                  \
    eei_done d = {.kind = kind_, .fn.member = done, .user = user};                              \
    return start_async(c, rpc, req ? &req->base : NULL, co, &d, call, st);                      \
  }

TYPED_ASYNC(ee_client_export_image_async, Google__Earthengine__V1__ExportImageRequest, RPC_EXPORT,
            ee_operation_done_fn, EEI_DONE_OPERATION, operation)
TYPED_ASYNC(ee_client_get_operation_async, Google__Longrunning__GetOperationRequest, RPC_GET,
            ee_operation_done_fn, EEI_DONE_OPERATION, operation)
TYPED_ASYNC(ee_client_wait_operation_async, Google__Longrunning__WaitOperationRequest, RPC_WAIT,
            ee_operation_done_fn, EEI_DONE_OPERATION, operation)
TYPED_ASYNC(ee_client_list_operations_async, Google__Longrunning__ListOperationsRequest, RPC_LIST,
            ee_list_done_fn, EEI_DONE_LIST, list)
TYPED_ASYNC(ee_client_cancel_operation_async, Google__Longrunning__CancelOperationRequest,
            RPC_CANCEL, ee_empty_done_fn, EEI_DONE_EMPTY, empty)
TYPED_ASYNC(ee_client_delete_operation_async, Google__Longrunning__DeleteOperationRequest,
            RPC_DELETE, ee_empty_done_fn, EEI_DONE_EMPTY, empty)

void ee_call_cancel(ee_call *call) {
  eei_call_cancel(call);
}

void ee_call_release(ee_call *call) {
  eei_call_release(call);
}

/* ---- all pages ---- */

#define MAX_PAGE_TOKEN 4096

struct ee_operation_iter {
  ee_client *client;
  ee_call_options co;
  bool has_co;
  Google__Longrunning__ListOperationsRequest req; /* shallow; strings below */
  char *name, *filter;
  char page_token[MAX_PAGE_TOKEN];
  Google__Longrunning__ListOperationsResponse *page;
  size_t index, pages;
  bool last_page;
};

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

ee_code ee_client_list_all(ee_client *c, const Google__Longrunning__ListOperationsRequest *req,
                           const ee_call_options *co, ee_operation_iter **out, ee_status *st) {
  *out = NULL;
  if (!c || !req) return ee_status_set(st, EE_INVALID_ARGUMENT, "client and request are required");
  if (req->page_token && strlen(req->page_token) >= MAX_PAGE_TOKEN)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "pageToken: longer than %d bytes",
                         MAX_PAGE_TOKEN - 1);
  ee_operation_iter *it = calloc(1, sizeof *it);
  if (!it) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  it->client = c;
  it->req = *req;
  it->name = dup_or_null(req->name);
  it->filter = dup_or_null(req->filter);
  if ((req->name && !it->name) || (req->filter && !it->filter)) {
    ee_operation_iter_free(it);
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  }
  it->req.name = it->name ? it->name : (char *)protobuf_c_empty_string;
  it->req.filter = it->filter ? it->filter : (char *)protobuf_c_empty_string;
  if (req->page_token) strcpy(it->page_token, req->page_token);
  if (co) it->co = *co, it->has_co = true;
  *out = it;
  return EE_OK;
}

static ee_code fetch_page(ee_operation_iter *it, ee_status *st) {
  Google__Longrunning__ListOperationsResponse *page = NULL;
  it->req.page_token = it->page_token;
  ee_code rc =
      ee_client_list_operations(it->client, &it->req, it->has_co ? &it->co : NULL, &page, st);
  if (rc != EE_OK) return rc;
  const char *next = page->next_page_token ? page->next_page_token : "";
  if (strlen(next) >= MAX_PAGE_TOKEN) {
    ee_message_free(page);
    return ee_status_set(st, EE_OUT_OF_RANGE, "nextPageToken: longer than %d bytes",
                         MAX_PAGE_TOKEN - 1);
  }
  /* A server that hands back the token it was given would loop forever. */
  if (next[0] && strcmp(next, it->page_token) == 0) {
    ee_message_free(page);
    return ee_status_set(st, EE_INTERNAL, "the service returned the same nextPageToken again");
  }
  ee_message_free(it->page);
  it->page = page;
  it->index = 0;
  it->pages++;
  it->last_page = !next[0];
  strcpy(it->page_token, next);
  return EE_OK;
}

ee_code ee_operation_iter_next(ee_operation_iter *it, const Google__Longrunning__Operation **op,
                               ee_status *st) {
  *op = NULL;
  while (!it->page || it->index >= it->page->n_operations) {
    if (it->page && it->last_page) {
      ee_status_clear(st);
      return EE_OK;
    }
    ee_code rc = fetch_page(it, st);
    if (rc != EE_OK) return rc;
  }
  *op = it->page->operations[it->index++];
  return EE_OK;
}

size_t ee_operation_iter_pages(const ee_operation_iter *it) {
  return it ? it->pages : 0;
}

void ee_operation_iter_free(ee_operation_iter *it) {
  if (!it) return;
  ee_message_free(it->page);
  free(it->name);
  free(it->filter);
  free(it);
}

/* ---- all pages, asynchronously ---- */

typedef struct pager {
  ee_client *client;
  ee_call_options co;
  bool has_co;
  char *quota_project;
  Google__Longrunning__ListOperationsRequest req; /* shallow; strings below */
  char *name, *filter;
  char page_token[MAX_PAGE_TOKEN];
  ee_page_fn on_page;
  ee_empty_done_fn done;
  void *user;
} pager;

static void pager_free(pager *p) {
  free(p->name);
  free(p->filter);
  free(p->quota_project);
  free(p);
}

static void pager_end(pager *p, const ee_status *st) {
  ee_empty_done_fn done = p->done;
  void *user = p->user;
  pager_free(p);
  done(user, st);
}

static void on_page_done(void *user, Google__Longrunning__ListOperationsResponse *page,
                         const ee_status *st);

static ee_code pager_next(pager *p, ee_status *st) {
  p->req.page_token = p->page_token;
  return ee_client_list_operations_async(p->client, &p->req, p->has_co ? &p->co : NULL,
                                         on_page_done, p, NULL, st);
}

/* One page came: hand it over, then fetch the next one from here (a client thread). */
static void on_page_done(void *user, Google__Longrunning__ListOperationsResponse *page,
                         const ee_status *st) {
  pager *p = user;
  ee_status next_st;
  if (st->code != EE_OK) {
    pager_end(p, st);
    return;
  }
  bool more = p->on_page(p->user, page);
  const char *next = page->next_page_token ? page->next_page_token : "";
  if (more && next[0] && strlen(next) >= MAX_PAGE_TOKEN) {
    ee_status_set(&next_st, EE_OUT_OF_RANGE, "nextPageToken: longer than %d bytes",
                  MAX_PAGE_TOKEN - 1);
    more = false;
  } else {
    ee_status_clear(&next_st);
    more = more && next[0];
    if (more) memcpy(p->page_token, next, strlen(next) + 1);
  }
  ee_message_free(page);
  if (more && pager_next(p, &next_st) == EE_OK) return;
  pager_end(p, &next_st);
}

static ee_code pager_new(ee_client *c, const Google__Longrunning__ListOperationsRequest *req,
                         const ee_call_options *co, pager **out, ee_status *st) {
  pager *p = calloc(1, sizeof *p);
  if (!p) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  p->client = c;
  p->req = *req;
  p->name = dup_or_null(req->name);
  p->filter = dup_or_null(req->filter);
  p->req.name = p->name;
  p->req.filter = p->filter;
  if (co) {
    p->co = *co;
    p->has_co = true;
    p->quota_project = dup_or_null(co->quota_project);
    p->co.quota_project = p->quota_project;
  }
  snprintf(p->page_token, sizeof p->page_token, "%s", req->page_token ? req->page_token : "");
  if ((req->name && !p->name) || (req->filter && !p->filter) ||
      (co && co->quota_project && !p->quota_project)) {
    pager_free(p);
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  }
  *out = p;
  return EE_OK;
}

ee_code ee_client_list_all_async(ee_client *c,
                                 const Google__Longrunning__ListOperationsRequest *req,
                                 const ee_call_options *co, ee_page_fn on_page,
                                 ee_empty_done_fn done, void *user, ee_status *st) {
  pager *p = NULL;
  if (!c || !req || !on_page || !done)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "client, request, on_page and done are required");
  if (req->page_token && strlen(req->page_token) >= MAX_PAGE_TOKEN)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "pageToken: longer than %d bytes",
                         MAX_PAGE_TOKEN - 1);
  ee_code rc = pager_new(c, req, co, &p, st);
  if (rc != EE_OK) return rc;
  p->on_page = on_page;
  p->done = done;
  p->user = user;
  rc = pager_next(p, st);
  if (rc != EE_OK) pager_free(p);
  return rc;
}

/* ---- following an operation ---- */

Google__Earthengine__V1__OperationMetadata *ee_operation_metadata(
    const Google__Longrunning__Operation *op) {
  static const char type[] = "type.googleapis.com/google.earthengine.v1.OperationMetadata";
  ProtobufCMessage *md = NULL;
  if (!op || !op->metadata || !op->metadata->type_url || strcmp(op->metadata->type_url, type) != 0)
    return NULL;
  if (ee_wire_unpack(&google__earthengine__v1__operation_metadata__descriptor,
                     op->metadata->value.data, op->metadata->value.len, 0, NULL, &md,
                     NULL) != EE_OK)
    return NULL;
  return (Google__Earthengine__V1__OperationMetadata *)md;
}

/* A change is anything in done or the metadata bytes. */
static bool op_changed(const Google__Longrunning__Operation *a,
                       const Google__Longrunning__Operation *b) {
  if (!a || !b) return true;
  if (a->done != b->done) return true;
  const ProtobufCBinaryData *x = a->metadata ? &a->metadata->value : NULL;
  const ProtobufCBinaryData *y = b->metadata ? &b->metadata->value : NULL;
  if (!x || !y) return x != y;
  return x->len != y->len || memcmp(x->data, y->data, x->len) != 0;
}

static void report(ee_progress_fn progress, void *user, const Google__Longrunning__Operation *op) {
  if (!progress) return;
  Google__Earthengine__V1__OperationMetadata *md = ee_operation_metadata(op);
  progress(user, op, md);
  ee_message_free(md);
}

/* One step: WaitOperation for up to wait_ms while the service supports it, else Get. */
static ee_code poll_once(ee_client *c, const char *name, bool *use_wait, int64_t wait_ms,
                         int64_t remaining_ms, Google__Longrunning__Operation **op, ee_status *st) {
  ee_call_options co = {.timeout_ms = 0, .max_attempts = 0};
  if (remaining_ms > 0) co.timeout_ms = (int)(remaining_ms < 1 ? 1 : remaining_ms);
  if (*use_wait) {
    Google__Longrunning__WaitOperationRequest w = GOOGLE__LONGRUNNING__WAIT_OPERATION_REQUEST__INIT;
    Google__Protobuf__Duration timeout = GOOGLE__PROTOBUF__DURATION__INIT;
    timeout.seconds = wait_ms / 1000;
    timeout.nanos = (int32_t)(wait_ms % 1000) * 1000000;
    w.name = (char *)name;
    w.timeout = &timeout;
    ee_code rc = ee_client_wait_operation(c, &w, &co, op, st);
    if (rc != EE_UNIMPLEMENTED) return rc;
    *use_wait = false; /* the service has no Wait: poll with Get from now on */
  }
  Google__Longrunning__GetOperationRequest g = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  g.name = (char *)name;
  return ee_client_get_operation(c, &g, &co, op, st);
}

#define WAIT_SLICE_MS 10000         /* one WaitOperation asks for at most this */
#define WAIT_SLICE_PROGRESS_MS 2000 /* ... while a progress callback watches */
#define POLL_INITIAL_MS 500         /* Get polling: first interval */
#define POLL_MAX_MS 10000           /* Get polling: longest interval */

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

ee_code ee_client_wait_done(ee_client *c, const char *name, int timeout_ms, ee_progress_fn progress,
                            void *user, Google__Longrunning__Operation **out, ee_status *st) {
  Google__Longrunning__Operation *last = NULL;
  int64_t deadline = timeout_ms > 0 ? eei_now_ms() + timeout_ms : 0;
  int64_t poll_ms = POLL_INITIAL_MS;
  bool first = true, wait_supported = true;
  ee_code rc = EE_OK;
  *out = NULL;
  if (!c || !name || !name[0]) return ee_status_set(st, EE_INVALID_ARGUMENT, "name: required");
  for (;;) {
    int64_t started = eei_now_ms();
    int64_t remaining = deadline ? deadline - started : 0;
    if (deadline && remaining <= 0) {
      rc = ee_status_set(st, EE_DEADLINE_EXCEEDED, "%s: not done after %d ms", name, timeout_ms);
      break;
    }
    /* With someone watching progress, come back often enough to show it move. */
    int64_t max_slice = progress ? WAIT_SLICE_PROGRESS_MS : WAIT_SLICE_MS;
    int64_t slice = deadline && remaining < max_slice ? remaining : max_slice;
    /* The first look is a Get (no need to wait when it is done already), then Wait while
     * the service has it. */
    bool use_wait = !first && wait_supported;
    Google__Longrunning__Operation *op = NULL;
    rc = poll_once(c, name, &use_wait, slice, remaining, &op, st);
    if (rc != EE_OK) break;
    if (!first && !use_wait) wait_supported = false;
    first = false;
    bool changed = op_changed(last, op);
    if (changed) report(progress, user, op);
    ee_message_free(last);
    last = op;
    if (op->done) break;
    /* Get polling, or a Wait that came back at once with nothing new: back off. */
    if (!use_wait || (!changed && eei_now_ms() - started < 200)) {
      int64_t left = deadline ? deadline - eei_now_ms() : poll_ms;
      sleep_ms(left < poll_ms ? left : poll_ms);
      poll_ms = poll_ms * 3 / 2 > POLL_MAX_MS ? POLL_MAX_MS : poll_ms * 3 / 2;
    }
  }
  *out = last;
  if (rc == EE_OK) ee_status_clear(st);
  return rc;
}

/* ---- dry run ---- */

ee_code ee_client_prepare(ee_client *c, const char *rpc, const ProtobufCMessage *req, ee_buf *out,
                          ee_status *st) {
  const ee_route *route;
  const ProtobufCMessage *effective;
  void *owned = NULL;
  char request_id[EE_REQUEST_ID_MAX + 1];
  eei_prepared *prepared = NULL;
  eei_header headers[6];
  size_t n = 0;
  ee_buf token;
  if (!c) return ee_status_set(st, EE_INVALID_ARGUMENT, "client: NULL");
  ee_code rc = eei_client_route(rpc, &route, st);
  if (rc == EE_OK) rc = eei_request_effective(c, route, req, &effective, &owned, request_id, st);
  if (rc == EE_OK) rc = c->ops->prepare(c->transport, route, effective, &prepared, st);
  free(owned);
  ee_buf_init(&token, 4096);
  if (rc == EE_OK) rc = eei_attempt_headers(c, false, true, NULL, &token, headers, &n, st);
  if (rc == EE_OK) rc = c->ops->describe(prepared, headers, n, out, st);
  c->ops->prepared_free(prepared);
  ee_buf_free(&token);
  return rc;
}
