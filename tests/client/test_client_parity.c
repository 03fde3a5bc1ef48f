/* The parity suite: every scenario runs over REST and over gRPC against the same
 * ee-emulator, and both must give identical structs (compared as proto3 JSON) and
 * identical statuses (code, message, ErrorInfo reason, domain and metadata).
 *
 *   test_client_parity [--tls DIR]     DIR holds ca.pem, server.pem, server.key
 *
 * Three emulators: `fast` (tasks take 1 s), `slow` (tasks take an hour: cancel, delete)
 * and `lagged` (every call delayed 2 s: deadlines). All demand a token. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "emu_proc.h"
#include "export_fixture.h"
#include "ee/client.h"
#include "ee/json.h"

#define TOKEN "parity-token-d41d8cd9"

typedef struct setup {
  const char *tls_dir; /* NULL: plaintext */
  char ca_file[512];
  emu_proc fast, slow, lagged;
  ee_client *rest[3], *grpc[3]; /* per emulator: fast, slow, lagged */
  ee_client *rest_bad_token, *grpc_bad_token;
} setup;

/* ---- one result: a response as JSON, or a status ---- */

typedef struct result {
  ee_code code;
  char json[16384];
  ee_status st;
} result;

static void take(result *r, ee_code rc, const ProtobufCMessage *resp, const ee_status *st) {
  memset(r, 0, sizeof *r);
  r->code = rc;
  r->st = *st;
  if (rc == EE_OK && resp) {
    ee_buf b = EE_BUF_INIT;
    ee_status est;
    if (ee_json_encode(resp, NULL, &b, &est) == EE_OK)
      snprintf(r->json, sizeof r->json, "%s", b.data);
    else
      snprintf(r->json, sizeof r->json, "(encode failed: %s)", est.message);
    ee_buf_free(&b);
  }
}

static bool same_status(const ee_status *a, const ee_status *b) {
  return a->code == b->code && strcmp(a->message, b->message) == 0 &&
         strcmp(a->reason, b->reason) == 0 && strcmp(a->domain, b->domain) == 0 &&
         a->metadata_len == b->metadata_len &&
         memcmp(a->metadata, b->metadata, a->metadata_len) == 0;
}

static void compare(const char *what, const result *r, const result *g) {
  CHECK(r->code == g->code, "%s: rest %s, grpc %s (%s | %s)", what, ee_code_name(r->code),
        ee_code_name(g->code), r->st.message, g->st.message);
  if (r->code == EE_OK) {
    CHECK(strcmp(r->json, g->json) == 0, "%s: structs differ\n rest: %s\n grpc: %s", what, r->json,
          g->json);
  } else {
    CHECK(same_status(&r->st, &g->st), "%s: statuses differ\n rest: %s [%s/%s]\n grpc: %s [%s/%s]",
          what, r->st.message, r->st.reason, r->st.domain, g->st.message, g->st.reason,
          g->st.domain);
  }
  printf("  %-44s %s\n", what, r->code == EE_OK ? "OK" : ee_code_name(r->code));
}

/* ---- requests ---- */

/* A valid small export: Image constant 5 to Drive as GeoTIFF. */
static void export_init(export_fixture *e, const char *request_id) {
  export_fixture_init(e, "projects/parity", "parity");
  e->drive.filename_prefix = "img";
  e->req.description = "parity export";
  if (request_id) e->req.request_id = (char *)request_id;
}

static ee_code do_export(ee_client *c, const char *request_id, result *r) {
  export_fixture e;
  Google__Longrunning__Operation *op = NULL;
  ee_status st;
  export_init(&e, request_id);
  ee_code rc = ee_client_export_image(c, &e.req, NULL, &op, &st);
  take(r, rc, op ? &op->base : NULL, &st);
  ee_message_free(op);
  return rc;
}

static ee_code do_get(ee_client *c, const char *name, const ee_call_options *co, result *r) {
  Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  Google__Longrunning__Operation *op = NULL;
  ee_status st;
  req.name = (char *)name;
  ee_code rc = ee_client_get_operation(c, &req, co, &op, &st);
  take(r, rc, op ? &op->base : NULL, &st);
  ee_message_free(op);
  return rc;
}

/* The name of the operation a successful export returned, from its JSON. */
static void op_name(const result *r, char *out, size_t cap) {
  const char *p = strstr(r->json, "\"name\":\"");
  out[0] = '\0';
  if (!p) return;
  p += 8;
  size_t n = strcspn(p, "\"");
  snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

static int progress_calls;
static void count_progress(void *user, const Google__Longrunning__Operation *op,
                           const Google__Earthengine__V1__OperationMetadata *md) {
  (void)user;
  (void)op;
  if (md) progress_calls++;
}

/* Waits for `name` over client c; the final operation as a result. */
static void wait_for(ee_client *c, const char *name, result *r, int *progress) {
  Google__Longrunning__Operation *op = NULL;
  ee_status st;
  progress_calls = 0;
  ee_code rc = ee_client_wait_done(c, name, 30000, count_progress, NULL, &op, &st);
  take(r, rc, op ? &op->base : NULL, &st);
  if (progress) *progress = progress_calls;
  ee_message_free(op);
}

/* ---- scenarios ---- */

static void scenario_export_get_wait(setup *s) {
  result r, g;
  char name[256], id[64];
  snprintf(id, sizeof id, "parity-%d-a", (int)getpid());
  /* The same requestId over both: one operation, so both answers must be identical once it
   * is done (a running operation changes between two reads). */
  CHECK(do_export(s->rest[0], id, &r) == EE_OK, "export: %s", r.st.message);
  op_name(&r, name, sizeof name);
  int pr = 0, pg = 0;
  wait_for(s->rest[0], name, &r, &pr);
  wait_for(s->grpc[0], name, &g, &pg);
  compare("wait until done (same operation)", &r, &g);
  CHECK(strstr(r.json, "\"done\":true") != NULL, "not done: %s", r.json);
  CHECK(strstr(r.json, "SUCCEEDED") != NULL, "not SUCCEEDED: %s", r.json);
  do_export(s->rest[0], id, &r);
  do_export(s->grpc[0], id, &g);
  compare("ExportImage with a known requestId", &r, &g);
  do_get(s->rest[0], name, NULL, &r);
  do_get(s->grpc[0], name, NULL, &g);
  compare("GetOperation", &r, &g);

  /* Wait with progress: a fresh export per transport, followed at once; both must report
   * progress and end SUCCEEDED. */
  char rn[256], gn[256];
  do_export(s->rest[0], NULL, &r);
  op_name(&r, rn, sizeof rn);
  wait_for(s->rest[0], rn, &r, &pr);
  do_export(s->grpc[0], NULL, &g);
  op_name(&g, gn, sizeof gn);
  wait_for(s->grpc[0], gn, &g, &pg);
  CHECK(rn[0] && gn[0] && strcmp(rn, gn) != 0, "two exports without requestId: %s %s", rn, gn);
  CHECK(r.code == EE_OK && g.code == EE_OK, "wait: %s | %s", r.st.message, g.st.message);
  CHECK(pr >= 2 && pg >= 2, "progress reports: rest %d, grpc %d (want >= 2 each)", pr, pg);
  CHECK(strstr(r.json, "SUCCEEDED") && strstr(g.json, "SUCCEEDED"), "final states: %s | %s", r.json,
        g.json);
  printf("  %-44s rest %d, grpc %d progress reports\n", "wait with progress", pr, pg);
}

/* Collects every operation of the project through the iterator, as one JSON array. */
static void list_all(ee_client *c, int page_size, result *r, size_t *pages) {
  Google__Longrunning__ListOperationsRequest req =
      GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
  ee_operation_iter *it = NULL;
  ee_status st;
  req.name = "projects/parity";
  req.page_size = page_size;
  req.filter = "done = true";
  memset(r, 0, sizeof *r);
  ee_code rc = ee_client_list_all(c, &req, NULL, &it, &st);
  size_t used = 0;
  const Google__Longrunning__Operation *op;
  while (rc == EE_OK && (rc = ee_operation_iter_next(it, &op, &st)) == EE_OK && op) {
    ee_buf b = EE_BUF_INIT;
    if (ee_json_encode(&op->base, NULL, &b, &st) == EE_OK && used + b.len + 2 < sizeof r->json) {
      memcpy(r->json + used, b.data, b.len);
      used += b.len;
      r->json[used++] = '\n';
    }
    ee_buf_free(&b);
  }
  r->json[used] = '\0';
  r->code = rc;
  r->st = st;
  *pages = ee_operation_iter_pages(it);
  ee_operation_iter_free(it);
}

static void scenario_list(setup *s) {
  result r, g;
  size_t rp = 0, gp = 0;
  list_all(s->rest[0], 2, &r, &rp);
  list_all(s->grpc[0], 2, &g, &gp);
  compare("ListOperations, all pages of 2", &r, &g);
  CHECK(rp >= 2 && rp == gp, "pages: rest %zu, grpc %zu", rp, gp);
}

static void scenario_cancel_delete(setup *s) {
  result r, g;
  char rn[256], gn[256];
  do_export(s->rest[1], NULL, &r);
  op_name(&r, rn, sizeof rn);
  do_export(s->grpc[1], NULL, &g);
  op_name(&g, gn, sizeof gn);
  Google__Longrunning__CancelOperationRequest c =
      GOOGLE__LONGRUNNING__CANCEL_OPERATION_REQUEST__INIT;
  ee_status rs, gs;
  c.name = rn;
  ee_code rrc = ee_client_cancel_operation(s->rest[1], &c, NULL, &rs);
  c.name = gn;
  ee_code grc = ee_client_cancel_operation(s->grpc[1], &c, NULL, &gs);
  CHECK(rrc == EE_OK && grc == EE_OK, "cancel: %s | %s", rs.message, gs.message);
  wait_for(s->rest[1], rn, &r, NULL);
  wait_for(s->grpc[1], gn, &g, NULL);
  CHECK(strstr(r.json, "CANCELLED") && strstr(g.json, "CANCELLED"), "after cancel: %s | %s", r.json,
        g.json);
  CHECK(strstr(r.json, "\"error\":{\"code\":1") && strstr(g.json, "\"error\":{\"code\":1"),
        "cancelled operations carry error.code 1: %s | %s", r.json, g.json);
  printf("  %-44s CANCELLED both\n", "CancelOperation, then wait");

  /* Cancelling it again: the same answer both ways. */
  c.name = rn;
  rrc = ee_client_cancel_operation(s->rest[1], &c, NULL, &rs);
  take(&r, rrc, NULL, &rs);
  c.name = gn;
  grc = ee_client_cancel_operation(s->grpc[1], &c, NULL, &gs);
  take(&g, grc, NULL, &gs);
  /* The names differ, so compare codes only here. */
  CHECK(r.code == g.code, "cancel again: %s | %s", ee_code_name(r.code), ee_code_name(g.code));

  Google__Longrunning__DeleteOperationRequest d =
      GOOGLE__LONGRUNNING__DELETE_OPERATION_REQUEST__INIT;
  d.name = rn;
  rrc = ee_client_delete_operation(s->rest[1], &d, NULL, &rs);
  d.name = gn;
  grc = ee_client_delete_operation(s->grpc[1], &d, NULL, &gs);
  CHECK(rrc == EE_OK && grc == EE_OK, "delete: %s | %s", rs.message, gs.message);
  do_get(s->rest[1], rn, NULL, &r);
  do_get(s->grpc[1], rn, NULL, &g); /* the same deleted name over both */
  compare("GetOperation after DeleteOperation", &r, &g);
  CHECK(r.code == EE_NOT_FOUND, "deleted: %s", ee_code_name(r.code));
}

static void scenario_errors(setup *s) {
  result r, g;
  do_get(s->rest[0], "projects/parity/operations/no-such-op", NULL, &r);
  do_get(s->grpc[0], "projects/parity/operations/no-such-op", NULL, &g);
  compare("NOT_FOUND", &r, &g);
  CHECK(r.code == EE_NOT_FOUND, "%s", ee_code_name(r.code));

  /* Refused by the service: the expression's result names no node. */
  export_fixture e;
  Google__Longrunning__Operation *op = NULL;
  ee_status st;
  export_init(&e, NULL);
  e.expr.result = "missing";
  ee_code rc = ee_client_export_image(s->rest[0], &e.req, NULL, &op, &st);
  take(&r, rc, NULL, &st);
  rc = ee_client_export_image(s->grpc[0], &e.req, NULL, &op, &st);
  take(&g, rc, NULL, &st);
  compare("INVALID_ARGUMENT from the service", &r, &g);
  CHECK(r.code == EE_INVALID_ARGUMENT && strstr(r.st.message, "expression.result"),
        "names the field: %s", r.st.message);

  /* Refused locally, nothing sent. */
  Google__Protobuf__Int32Value prio = GOOGLE__PROTOBUF__INT32_VALUE__INIT;
  prio.value = 10000;
  export_init(&e, NULL);
  e.req.priority = &prio;
  rc = ee_client_export_image(s->rest[0], &e.req, NULL, &op, &st);
  take(&r, rc, NULL, &st);
  rc = ee_client_export_image(s->grpc[0], &e.req, NULL, &op, &st);
  take(&g, rc, NULL, &st);
  compare("INVALID_ARGUMENT locally (priority)", &r, &g);
  CHECK(r.code == EE_INVALID_ARGUMENT && strstr(r.st.message, "priority"), "%s", r.st.message);

  /* A path value that breaks its pattern. */
  do_get(s->rest[0], "operations/x", NULL, &r);
  do_get(s->grpc[0], "operations/x", NULL, &g);
  compare("INVALID_ARGUMENT locally (path pattern)", &r, &g);
  CHECK(r.code == EE_INVALID_ARGUMENT && strstr(r.st.message, "name"), "%s", r.st.message);

  /* Deadline: every call to `lagged` takes 2 s. */
  ee_call_options co = {.timeout_ms = 400, .max_attempts = 1};
  do_get(s->rest[2], "projects/parity/operations/x", &co, &r);
  do_get(s->grpc[2], "projects/parity/operations/x", &co, &g);
  CHECK(r.code == EE_DEADLINE_EXCEEDED && g.code == EE_DEADLINE_EXCEEDED, "deadline: %s | %s",
        ee_code_name(r.code), ee_code_name(g.code));
  printf("  %-44s DEADLINE_EXCEEDED both\n", "deadline exceeded");

  do_get(s->rest_bad_token, "projects/parity/operations/x", NULL, &r);
  do_get(s->grpc_bad_token, "projects/parity/operations/x", NULL, &g);
  compare("wrong token", &r, &g);
  CHECK(r.code == EE_UNAUTHENTICATED, "%s", ee_code_name(r.code));
}

/* ---- setup ---- */

static bool start_emulator(setup *s, emu_proc *e, const char *a1, const char *a2) {
  char cert[600], key[600];
  const char *args[12];
  int n = 0;
  args[n++] = "--token";
  args[n++] = TOKEN;
  args[n++] = a1;
  args[n++] = a2;
  if (s->tls_dir) {
    snprintf(cert, sizeof cert, "%s/server.pem", s->tls_dir);
    snprintf(key, sizeof key, "%s/server.key", s->tls_dir);
    args[n++] = "--tls-cert";
    args[n++] = cert;
    args[n++] = "--tls-key";
    args[n++] = key;
  }
  args[n] = NULL;
  return emu_start(e, emu_path(), args) == 0;
}

static ee_client *make_client(setup *s, ee_transport_kind t, const emu_proc *e, const char *token) {
  ee_client_options o;
  ee_client *c = NULL;
  ee_status st;
  ee_client_options_init(&o);
  o.transport = t;
  o.endpoint = t == EE_TRANSPORT_REST ? e->rest_url : e->grpc_url;
  o.access_token = token;
  o.project = "projects/parity";
  o.retry.initial_backoff_ms = 50;
  if (s->tls_dir) o.ca_file = s->ca_file;
  if (ee_client_new(&o, &c, &st) != EE_OK)
    fprintf(stderr, "ee_client_new(%s): %s\n", o.endpoint, st.message);
  return c;
}

int main(int argc, char **argv) {
  setup s;
  memset(&s, 0, sizeof s);
  if (argc == 3 && strcmp(argv[1], "--tls") == 0) {
    s.tls_dir = argv[2];
    snprintf(s.ca_file, sizeof s.ca_file, "%s/ca.pem", s.tls_dir);
  }
  if (!start_emulator(&s, &s.fast, "--task-seconds", "1") ||
      !start_emulator(&s, &s.slow, "--task-seconds", "3600") ||
      !start_emulator(&s, &s.lagged, "--latency-ms", "2000"))
    return 1;
  emu_proc *emus[3] = {&s.fast, &s.slow, &s.lagged};
  for (int i = 0; i < 3; i++) {
    s.rest[i] = make_client(&s, EE_TRANSPORT_REST, emus[i], TOKEN);
    s.grpc[i] = make_client(&s, EE_TRANSPORT_GRPC, emus[i], TOKEN);
    if (!s.rest[i] || !s.grpc[i]) return 1;
  }
  s.rest_bad_token = make_client(&s, EE_TRANSPORT_REST, &s.fast, "wrong-token");
  s.grpc_bad_token = make_client(&s, EE_TRANSPORT_GRPC, &s.fast, "wrong-token");
  printf("parity over %s\n", s.tls_dir ? "TLS" : "plaintext");
  scenario_export_get_wait(&s);
  scenario_list(&s);
  scenario_cancel_delete(&s);
  scenario_errors(&s);
  for (int i = 0; i < 3; i++) {
    ee_client_free(s.rest[i]);
    ee_client_free(s.grpc[i]);
    emu_stop(emus[i]);
  }
  ee_client_free(s.rest_bad_token);
  ee_client_free(s.grpc_bad_token);
  return check_report("parity");
}
