/* ee-emulator: the handlers behind both front ends. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "google/earthengine/v1/earthengine.pb-c.h"
#include "google/longrunning/operations.pb-c.h"
#include "google/protobuf/empty.pb-c.h"

#include "service.h"
#include "tokens.h"
#include "validate.h"

const emu_method emu_methods[EMU_M_COUNT] = {
    [EMU_M_EXPORT_IMAGE] = {&google__earthengine__v1__export_image_request__descriptor},
    [EMU_M_GET_OPERATION] = {&google__longrunning__get_operation_request__descriptor},
    [EMU_M_LIST_OPERATIONS] = {&google__longrunning__list_operations_request__descriptor},
    [EMU_M_DELETE_OPERATION] = {&google__longrunning__delete_operation_request__descriptor},
    [EMU_M_CANCEL_OPERATION] = {&google__longrunning__cancel_operation_request__descriptor},
    [EMU_M_WAIT_OPERATION] = {&google__longrunning__wait_operation_request__descriptor},
};

int emu_method_for_route(const ee_route *route) {
  for (int i = 0; route && i < EMU_M_COUNT; i++)
    if (route->request == emu_methods[i].input) return i;
  return -1;
}

ee_code emu_methods_check(const ee_route_table *table, ee_status *st) {
  bool seen[EMU_M_COUNT] = {false};
  for (size_t i = 0; i < table->n_routes; i++) {
    int m = emu_method_for_route(&table->routes[i]);
    if (m >= 0) seen[m] = true;
  }
  for (int i = 0; i < EMU_M_COUNT; i++)
    if (!seen[i])
      return ee_status_set(st, EE_INTERNAL, "the route table has no method taking %s",
                           emu_methods[i].input->name);
  return EE_OK;
}

/* ---- identity ---- */

/* requestId is scoped per caller. The caller is the bearer token, kept only as a hash so
 * that --state never writes a credential to disk; no token means "anonymous". */
static void caller_of(const emu_call *call, char *out, size_t size) {
  const char *a = call->authorization;
  if (!a || strncasecmp(a, "Bearer ", 7) != 0) {
    snprintf(out, size, "anonymous");
    return;
  }
  uint64_t h = 1469598103934665603ULL;
  for (const char *p = a + 7; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  snprintf(out, size, "bearer:%016llx", (unsigned long long)h);
}

/* Compares without an early exit, so timing does not reveal how much of a token matched. */
static bool same_secret(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  unsigned char diff = na != nb;
  for (size_t i = 0; i < na; i++) diff |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
  return diff == 0;
}

/* --token and the tokens the token endpoint issued (tokens.h) are accepted; with neither
 * configured, every caller is. */
static ee_code authenticate(const emu_config *cfg, const emu_call *call, ee_status *st) {
  if (!cfg->token && !cfg->tokens) return EE_OK;
  const char *a = call->authorization;
  if (!a || !a[0])
    return emu_fail(st, EE_UNAUTHENTICATED, "CREDENTIALS_MISSING",
                    "Request is missing required authentication credential. Expected OAuth 2 "
                    "access token, login cookie or other valid authentication credential.");
  bool bearer = strncasecmp(a, "Bearer ", 7) == 0;
  if (bearer && cfg->token && same_secret(a + 7, cfg->token)) return EE_OK;
  emu_token_check t =
      bearer && cfg->tokens ? emu_tokens_check(cfg->tokens, a + 7) : EMU_TOKEN_UNKNOWN;
  if (t == EMU_TOKEN_OK) return EE_OK;
  if (t == EMU_TOKEN_EXPIRED)
    return emu_fail(st, EE_UNAUTHENTICATED, "ACCESS_TOKEN_EXPIRED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential.");
  return emu_fail(st, EE_UNAUTHENTICATED, "ACCESS_TOKEN_INVALID",
                  "Request had invalid authentication credentials. Expected OAuth 2 access "
                  "token, login cookie or other valid authentication credential.");
}

static ee_code injected(ee_status *st, const char *when) {
  return emu_fail(st, EE_UNAVAILABLE, "FAULT_INJECTED",
                  "The service is currently unavailable (fault injected %s).", when);
}

/* ---- handlers ---- */

static ee_code bad_name(ee_status *st, const char *want) {
  return emu_fail(st, EE_INVALID_ARGUMENT, "INVALID_ARGUMENT", "name: must look like %s", want);
}

static ee_code export_image(const emu_service *svc, const emu_call *call,
                            const Google__Earthengine__V1__ExportImageRequest *req, ee_buf *out,
                            ee_status *st) {
  emu_export_plan plan;
  char caller[64];
  if (emu_validate_export(req, &plan, st) != EE_OK) return st->code;
  caller_of(call, caller, sizeof caller);
  ee_buf packed;
  ee_buf_init(&packed, 0);
  size_t n = protobuf_c_message_get_packed_size(&req->base);
  ee_code rc = ee_buf_reserve(&packed, n + 1, st);
  if (rc == EE_OK) {
    protobuf_c_message_pack(&req->base, (uint8_t *)packed.data);
    packed.len = n;
    emu_export_input in = {caller,
                           req->project,
                           req->request_id,
                           req->description,
                           &plan,
                           (const uint8_t *)packed.data,
                           n};
    rc = emu_store_export(svc->store, &in, out, st);
  }
  ee_buf_free(&packed);
  return rc;
}

static ee_code list_operations(const emu_service *svc,
                               const Google__Longrunning__ListOperationsRequest *req, ee_buf *out,
                               ee_status *st) {
  emu_filter f;
  if (!emu_valid_project(req->name)) return bad_name(st, "projects/{project-id}");
  if (req->page_size < 0)
    return emu_fail(st, EE_INVALID_ARGUMENT, "INVALID_ARGUMENT", "pageSize: must not be negative");
  int size = req->page_size == 0                  ? EMU_DEFAULT_PAGE_SIZE
             : req->page_size > EMU_MAX_PAGE_SIZE ? EMU_MAX_PAGE_SIZE
                                                  : req->page_size;
  if (emu_filter_parse(req->filter, &f, st) != EE_OK) return st->code;
  if (strlen(req->page_token) > 64)
    return emu_fail(st, EE_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                    "pageToken: not a token this service issued");
  return emu_store_list(svc->store, req->name, &f, size, req->page_token, out, st);
}

static ee_code wait_operation(const emu_service *svc, const emu_call *call,
                              const Google__Longrunning__WaitOperationRequest *req, ee_buf *out,
                              ee_status *st) {
  int64_t timeout = (int64_t)(EMU_DEFAULT_WAIT_SECONDS * 1e9);
  if (!emu_valid_operation_name(req->name)) return bad_name(st, "projects/*/operations/*");
  if (req->timeout) {
    if (req->timeout->seconds < 0 || req->timeout->nanos < 0)
      return emu_fail(st, EE_INVALID_ARGUMENT, "INVALID_ARGUMENT", "timeout: must not be negative");
    timeout = req->timeout->seconds > (int64_t)EMU_MAX_WAIT_SECONDS
                  ? (int64_t)(EMU_MAX_WAIT_SECONDS * 1e9)
                  : req->timeout->seconds * 1000000000LL + req->timeout->nanos;
  }
  if (timeout > (int64_t)(EMU_MAX_WAIT_SECONDS * 1e9))
    timeout = (int64_t)(EMU_MAX_WAIT_SECONDS * 1e9);
  if (call->deadline_ns) { /* answer before the caller gives up */
    int64_t left = call->deadline_ns - emu_now_ns() - 50000000LL;
    if (left < timeout) timeout = left > 0 ? left : 0;
  }
  return emu_store_wait(svc->store, req->name, timeout, out, st);
}

static ee_code dispatch(const emu_service *svc, emu_method_id m, const emu_call *call,
                        const ProtobufCMessage *req, ee_buf *out, ee_status *st) {
  const char *name = NULL;
  switch (m) {
    case EMU_M_EXPORT_IMAGE: return export_image(svc, call, (const void *)req, out, st);
    case EMU_M_LIST_OPERATIONS: return list_operations(svc, (const void *)req, out, st);
    case EMU_M_WAIT_OPERATION: return wait_operation(svc, call, (const void *)req, out, st);
    case EMU_M_GET_OPERATION:
      name = ((const Google__Longrunning__GetOperationRequest *)req)->name;
      if (!emu_valid_operation_name(name)) return bad_name(st, "projects/*/operations/*");
      return emu_store_get(svc->store, name, out, st);
    case EMU_M_CANCEL_OPERATION:
      name = ((const Google__Longrunning__CancelOperationRequest *)req)->name;
      if (!emu_valid_operation_name(name)) return bad_name(st, "projects/*/operations/*");
      return emu_store_cancel(svc->store, name, st); /* Empty packs to no bytes */
    case EMU_M_DELETE_OPERATION:
      name = ((const Google__Longrunning__DeleteOperationRequest *)req)->name;
      if (!emu_valid_operation_name(name)) return bad_name(st, "projects/*/operations/*");
      return emu_store_delete(svc->store, name, st);
    default: return emu_fail(st, EE_UNIMPLEMENTED, "UNIMPLEMENTED", "method not implemented");
  }
}

ee_code emu_service_admit(const emu_service *svc, const emu_call *call, ee_status *st) {
  const emu_config *cfg = svc->cfg;
  ee_status_clear(st);
  if (cfg->latency_ms > 0) emu_sleep_ms(cfg->latency_ms);
  if (cfg->fail_rate > 0 && emu_rng_unit() < cfg->fail_rate) return injected(st, "before handling");
  return authenticate(cfg, call, st);
}

ee_code emu_service_call(const emu_service *svc, emu_method_id m, const emu_call *call,
                         const ProtobufCMessage *req, ee_buf *out, ee_status *st) {
  const emu_config *cfg = svc->cfg;
  ee_status_clear(st);
  if (dispatch(svc, m, call, req, out, st) != EE_OK) return st->code;
  if (cfg->fail_after_commit_rate > 0 && emu_rng_unit() < cfg->fail_after_commit_rate) {
    ee_buf_reset(out); /* the change is made and journaled; only the answer is lost */
    return injected(st, "after handling");
  }
  return EE_OK;
}
