/* nanopb bindings against protobuf-c: the same wire both ways, bounds refused by name,
 * and no allocation on the nanopb encode and decode steps.
 *
 * Allocations are counted by wrapping malloc, calloc and realloc at link time
 * (-Wl,--wrap=...): every call from code linked into this program (ee_nanopb, nanopb's
 * runtime archive, the generated structs) goes through the counters below. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "check.h"
#include "ee/nanopb.h"
#include "ee/route.h"
#include "google/earthengine/v1/earthengine.pb-c.h"
#include "google/earthengine/v1/operation_metadata.pb-c.h"
#include "google/longrunning/operations.pb-c.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb-c.h"
#include "randmsg.h"

/* ---- the allocation counter ---- */
static size_t n_allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n) {
  n_allocs++;
  return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
  n_allocs++;
  return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
  n_allocs++;
  return __real_realloc(p, n);
}

/* ---- callbacks that capture a field's raw bytes on decode and replay them on encode ---- */
typedef struct capture {
  uint32_t tag;
  size_t n;
  uint8_t data[1 << 15];
  size_t lens[64];
  size_t count;
} capture;

static bool capture_decode(pb_istream_t *s, const pb_field_t *f, void **arg) {
  capture *c = *arg;
  size_t len = s->bytes_left;
  if (c->count == 64 || len > sizeof c->data - c->n) return false;
  c->tag = f->tag;
  if (!pb_read(s, c->data + c->n, len)) return false;
  c->lens[c->count++] = len;
  c->n += len;
  return true;
}

static bool capture_encode(pb_ostream_t *s, const pb_field_t *f, void *const *arg) {
  const capture *c = *arg;
  size_t off = 0;
  for (size_t i = 0; i < c->count; i++) {
    if (!pb_encode_tag_for_field(s, f) || !pb_encode_string(s, c->data + off, c->lens[i]))
      return false;
    off += c->lens[i];
  }
  return true;
}

static bool failing_decode(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)s, (void)f, (void)arg;
  return false;
}

static void set_capture(pb_callback_t *cb, capture *c) {
  memset(c, 0, sizeof *c);
  cb->funcs.decode = capture_decode;
  cb->arg = c;
}

static void to_encode(pb_callback_t *cb) {
  cb->funcs.encode = capture_encode;
}

/* ---- round trips ---- */

typedef struct pair {
  const ProtobufCMessageDescriptor *pbc;
  const pb_msgdesc_t *npb;
  size_t size;
  int kind; /* 0 plain, 1 ExportImageRequest (expression.values), 2 ListOperationsResponse */
} pair;

#define P(pbc, npb, kind) \
  { &pbc, &npb##_msg, sizeof(npb), kind }
static const pair pairs[] = {
    P(google__earthengine__v1__export_image_request__descriptor,
      google_earthengine_v1_ExportImageRequest, 1),
    P(google__longrunning__operation__descriptor, google_longrunning_Operation, 0),
    P(google__earthengine__v1__operation_metadata__descriptor,
      google_earthengine_v1_OperationMetadata, 0),
    P(google__earthengine__v1__operation_stage__descriptor, google_earthengine_v1_OperationStage,
      0),
    P(google__earthengine__v1__pixel_grid__descriptor, google_earthengine_v1_PixelGrid, 0),
    P(google__earthengine__v1__image_file_export_options__descriptor,
      google_earthengine_v1_ImageFileExportOptions, 0),
    P(google__earthengine__v1__image_asset_export_options__descriptor,
      google_earthengine_v1_ImageAssetExportOptions, 0),
    P(google__earthengine__v1__tf_record_image_export_options__descriptor,
      google_earthengine_v1_TfRecordImageExportOptions, 0),
    P(google__earthengine__v1__function_definition__descriptor,
      google_earthengine_v1_FunctionDefinition, 0),
    P(google__rpc__status__descriptor, google_rpc_Status, 0),
    P(google__rpc__error_info__descriptor, google_rpc_ErrorInfo, 0),
    P(google__rpc__bad_request__descriptor, google_rpc_BadRequest, 0),
    P(google__rpc__quota_failure__descriptor, google_rpc_QuotaFailure, 0),
    P(google__rpc__retry_info__descriptor, google_rpc_RetryInfo, 0),
    P(google__longrunning__list_operations_request__descriptor,
      google_longrunning_ListOperationsRequest, 0),
    P(google__longrunning__wait_operation_request__descriptor,
      google_longrunning_WaitOperationRequest, 0),
    P(google__longrunning__list_operations_response__descriptor,
      google_longrunning_ListOperationsResponse, 2),
};

static union {
  google_earthengine_v1_ExportImageRequest export_req;
  google_longrunning_Operation op;
  uint8_t raw[1 << 17];
} msg;
static capture cap;
static uint8_t a[1 << 16], b[1 << 16];

/* Sets the capture callbacks of the message kinds that have callback fields. */
static pb_callback_t *callback_field(int kind) {
  if (kind == 1) return &msg.export_req.expression.values;
  if (kind == 2) return &((google_longrunning_ListOperationsResponse *)msg.raw)->operations;
  return NULL;
}

static void roundtrip(const pair *p, ee_test_rng *rng) {
  ProtobufCMessage *m = ee_test_new_random(p->pbc, rng, 4);
  size_t na = protobuf_c_message_get_packed_size(m);
  CHECK(na <= sizeof a, "%s: %zu bytes", p->pbc->name, na);
  protobuf_c_message_pack(m, a);
  protobuf_c_message_free_unpacked(m, NULL);
  memset(&msg, 0, sizeof msg);
  pb_callback_t *cb = callback_field(p->kind);
  if (cb) set_capture(cb, &cap);
  ee_status st;
  /* protobuf-c -> nanopb -> the same bytes. */
  ee_code rc = ee_nanopb_decode(p->npb, a, na, &msg, &st);
  CHECK(rc == EE_OK, "%s: %s", p->pbc->name, st.message);
  if (cb) to_encode(cb);
  size_t nb = 0;
  rc = ee_nanopb_encode(p->npb, &msg, b, sizeof b, &nb, &st);
  CHECK(rc == EE_OK, "%s: %s", p->pbc->name, st.message);
  CHECK(nb == na && memcmp(a, b, na) == 0, "%s: nanopb re-encodes %zu bytes for %zu", p->pbc->name,
        nb, na);
  /* nanopb -> protobuf-c -> the same bytes (the reverse direction). */
  ProtobufCMessage *back = protobuf_c_message_unpack(p->pbc, NULL, nb, b);
  CHECK(back != NULL, "%s: protobuf-c refuses nanopb's bytes", p->pbc->name);
  if (back) {
    size_t nc = protobuf_c_message_pack(back, a);
    CHECK(nc == nb && memcmp(a, b, nb) == 0, "%s: protobuf-c re-encodes differently", p->pbc->name);
    protobuf_c_message_free_unpacked(back, NULL);
  }
}

/* ---- bounds ---- */

static char big[8192];

static void expect_refused(const ProtobufCMessage *m, const pb_msgdesc_t *t, const char *field) {
  static uint8_t buf[1 << 16];
  size_t n = protobuf_c_message_pack(m, buf);
  /* Decode into a struct followed by guard bytes: nothing may be written past it. */
  static struct {
    google_longrunning_Operation op;
    uint8_t guard[256];
  } g;
  memset(&g, 0, sizeof g);
  memset(g.guard, 0xa5, sizeof g.guard);
  ee_status st;
  size_t before = n_allocs;
  ee_code rc = ee_nanopb_decode(t, buf, n, &g.op, &st);
  CHECK(n_allocs == before, "%zu allocations refusing %s", n_allocs - before, field);
  CHECK(rc == EE_OUT_OF_RANGE, "%s: %s", field, st.message);
  CHECK(strstr(st.message, field) != NULL, "message does not name %s: %s", field, st.message);
  bool intact = true;
  for (size_t i = 0; i < sizeof g.guard; i++) intact = intact && g.guard[i] == 0xa5;
  CHECK(intact, "%s: decoder wrote past the struct", field);
}

static void test_bounds(void) {
  memset(big, 'x', sizeof big - 1);
  /* A string one byte over: description holds 255. */
  Google__Earthengine__V1__ExportImageRequest r =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__INIT;
  char desc[257];
  memset(desc, 'd', 256);
  desc[256] = 0;
  r.description = desc;
  expect_refused(&r.base, &google_earthengine_v1_ExportImageRequest_msg, "description");
  desc[255] = 0; /* exactly at the bound: accepted */
  {
    uint8_t buf[512];
    size_t n = protobuf_c_message_pack(&r.base, buf);
    ee_status st;
    CHECK(
        ee_nanopb_decode(&google_earthengine_v1_ExportImageRequest_msg, buf, n, &msg, &st) == EE_OK,
        "255-byte description: %s", st.message);
  }
  /* Nested bytes: Operation.metadata.value over 4096. */
  Google__Longrunning__Operation op = GOOGLE__LONGRUNNING__OPERATION__INIT;
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = "type.googleapis.com/google.earthengine.v1.OperationMetadata";
  any.value.data = (uint8_t *)big;
  any.value.len = 4097;
  op.name = "projects/p/operations/x";
  op.metadata = &any;
  expect_refused(&op.base, &google_longrunning_Operation_msg, "metadata.value");
  /* A repeated field over its count: Status.details holds 4. */
  Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
  Google__Protobuf__Any d = GOOGLE__PROTOBUF__ANY__INIT, *ds[5] = {&d, &d, &d, &d, &d};
  d.type_url = "type.googleapis.com/google.rpc.ErrorInfo";
  status.n_details = 5;
  status.details = ds;
  any.value.len = 10;
  op.result_case = GOOGLE__LONGRUNNING__OPERATION__RESULT_ERROR;
  op.error = &status;
  expect_refused(&op.base, &google_longrunning_Operation_msg, "error.details");
  /* OperationMetadata.stages holds 8. */
  Google__Earthengine__V1__OperationMetadata md = GOOGLE__EARTHENGINE__V1__OPERATION_METADATA__INIT;
  Google__Earthengine__V1__OperationStage stage = GOOGLE__EARTHENGINE__V1__OPERATION_STAGE__INIT,
                                          *stages[9];
  for (int i = 0; i < 9; i++) stages[i] = &stage;
  stage.display_name = "Compute";
  md.n_stages = 9;
  md.stages = stages;
  expect_refused(&md.base, &google_earthengine_v1_OperationMetadata_msg, "stages");

  /* A callback that fails is named too (INVALID_ARGUMENT, not a bound). */
  Google__Earthengine__V1__Expression e = GOOGLE__EARTHENGINE__V1__EXPRESSION__INIT;
  Google__Earthengine__V1__Expression__ValuesEntry ent =
      GOOGLE__EARTHENGINE__V1__EXPRESSION__VALUES_ENTRY__INIT;
  Google__Earthengine__V1__Expression__ValuesEntry *ents[1] = {&ent};
  ent.key = "0";
  e.n_values = 1;
  e.values = ents;
  e.result = "0";
  r.description = "ok";
  r.expression = &e;
  uint8_t buf[512];
  size_t n = protobuf_c_message_pack(&r.base, buf);
  memset(&msg, 0, sizeof msg);
  msg.export_req.expression.values.funcs.decode = failing_decode;
  ee_status st;
  ee_code rc = ee_nanopb_decode(&google_earthengine_v1_ExportImageRequest_msg, buf, n, &msg, &st);
  CHECK(rc == EE_INVALID_ARGUMENT && strstr(st.message, "expression"), "bad callback: %s",
        st.message);
  /* Truncated input is refused, not read past. */
  rc = ee_nanopb_decode(&google_earthengine_v1_ExportImageRequest_msg, buf, n - 1, &msg, &st);
  CHECK(rc == EE_INVALID_ARGUMENT, "truncated: %s", st.message);
}

/* ---- the request path allocates nothing ---- */

static void test_no_allocations(void) {
  static google_earthengine_v1_ExportImageRequest req;
  static google_longrunning_Operation op;
  static google_earthengine_v1_OperationMetadata md;
  static uint8_t wire[4096];
  char params[EE_NANOPB_REQUEST_PARAMS_MAX];
  ee_status st;
  size_t len = 0;
  /* An Operation reply as the service would send it, packed beforehand by protobuf-c. */
  Google__Earthengine__V1__OperationMetadata pmd =
      GOOGLE__EARTHENGINE__V1__OPERATION_METADATA__INIT;
  pmd.state = GOOGLE__EARTHENGINE__V1__OPERATION_METADATA__STATE__PENDING;
  pmd.description = "nanopb";
  uint8_t mdbuf[256], opbuf[512];
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = "type.googleapis.com/google.earthengine.v1.OperationMetadata";
  any.value.len = protobuf_c_message_pack(&pmd.base, mdbuf);
  any.value.data = mdbuf;
  Google__Longrunning__Operation pop = GOOGLE__LONGRUNNING__OPERATION__INIT;
  pop.name = "projects/my-proj/operations/ABC";
  pop.metadata = &any;
  size_t oplen = protobuf_c_message_pack(&pop.base, opbuf);

  size_t before = n_allocs;
  memset(&req, 0, sizeof req);
  strcpy(req.project, "projects/my-proj");
  strcpy(req.description, "nanopb");
  strcpy(req.request_id, "0b7c1c1e-1111-4222-8333-444455556666");
  req.which_export_options = google_earthengine_v1_ExportImageRequest_file_export_options_tag;
  req.export_options.file_export_options.file_format =
      google_earthengine_v1_ImageFileFormat_GEO_TIFF;
  req.export_options.file_export_options.which_destination =
      google_earthengine_v1_ImageFileExportOptions_drive_destination_tag;
  strcpy(req.export_options.file_export_options.destination.drive_destination.folder, "exports");
  ee_code rc = ee_nanopb_request_params(&req, params, sizeof params, &st);
  CHECK(rc == EE_OK && strcmp(params, "project=projects%2Fmy-proj") == 0, "params %s", params);
  rc = ee_nanopb_encode(&google_earthengine_v1_ExportImageRequest_msg, &req, wire, sizeof wire,
                        &len, &st);
  CHECK(rc == EE_OK, "%s", st.message);
  rc = ee_nanopb_decode(&google_longrunning_Operation_msg, opbuf, oplen, &op, &st);
  CHECK(rc == EE_OK, "%s", st.message);
  rc = ee_nanopb_operation_metadata(&op, &md, &st);
  CHECK(rc == EE_OK, "%s", st.message);
  size_t made = n_allocs - before;
  CHECK(made == 0, "the nanopb request path made %zu allocations", made);
  printf("nanopb encode + decode: %zu allocations\n", made);
  CHECK(strcmp(op.name, "projects/my-proj/operations/ABC") == 0 &&
            strcmp(md.description, "nanopb") == 0 &&
            md.state == google_earthengine_v1_OperationMetadata_State_PENDING,
        "decoded %s", op.name);
  /* The counter works: it sees the library's own allocations (libprotobuf-c is a shared
   * library, outside --wrap; ee_buf is linked in statically). */
  before = n_allocs;
  ee_buf probe = EE_BUF_INIT;
  CHECK(ee_buf_append_str(&probe, "x", &st) == EE_OK, "%s", st.message);
  CHECK(n_allocs > before, "the malloc counter sees nothing");
  ee_buf_free(&probe);

  /* The same request built with protobuf-c packs to the same bytes, and the route
   * computes the same request params. */
  Google__Earthengine__V1__ExportImageRequest p =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__INIT;
  Google__Earthengine__V1__ImageFileExportOptions f =
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__INIT;
  Google__Earthengine__V1__DriveDestination d = GOOGLE__EARTHENGINE__V1__DRIVE_DESTINATION__INIT;
  p.project = "projects/my-proj";
  p.description = "nanopb";
  p.request_id = "0b7c1c1e-1111-4222-8333-444455556666";
  p.export_options_case =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_FILE_EXPORT_OPTIONS;
  p.file_export_options = &f;
  f.file_format = GOOGLE__EARTHENGINE__V1__IMAGE_FILE_FORMAT__GEO_TIFF;
  f.destination_case =
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION_DRIVE_DESTINATION;
  f.drive_destination = &d;
  d.folder = "exports";
  uint8_t pb[4096];
  size_t pn = protobuf_c_message_pack(&p.base, pb);
  CHECK(pn == len && memcmp(pb, wire, len) == 0, "protobuf-c and nanopb bytes differ");
  const ee_route *route = ee_route_find(ee_route_table_default(), EE_RPC_EXPORT_IMAGE);
  ee_buf rp = EE_BUF_INIT;
  CHECK(route && ee_route_request_params(route, &p.base, &rp, &st) == EE_OK && rp.data &&
            strcmp(rp.data, params) == 0,
        "route params %s vs %s", rp.data ? rp.data : "(none)", params);
  ee_buf_free(&rp);
  /* A buffer too small is refused, not overrun. */
  rc = ee_nanopb_encode(&google_earthengine_v1_ExportImageRequest_msg, &req, wire, 10, &len, &st);
  CHECK(rc == EE_OUT_OF_RANGE, "%s", st.message);
}

int main(void) {
  ee_test_rng rng = {0x5eed0f0a0b0c0d0eULL};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    for (int k = 0; k < 200; k++) roundtrip(&pairs[i], &rng);
  test_bounds();
  test_no_allocations();
  return check_report("test_nanopb");
}
