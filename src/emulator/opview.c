/* ee-emulator: an operation as the service shows it (google.longrunning.Operation with
 * OperationMetadata in its Any), built on the stack from the store's record. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "google/earthengine/v1/operation_metadata.pb-c.h"
#include "google/longrunning/operations.pb-c.h"

#include "store_int.h"

#define METADATA_TYPE "type.googleapis.com/google.earthengine.v1.OperationMetadata"
#define EMPTY_TYPE "type.googleapis.com/google.protobuf.Empty"

/* Progress runs on the wall clock from start_time; terminal states freeze it. */
static double progress_of(const emu_store *s, const emu_op *op, int64_t now) {
  if (op->state == ST_SUCCEEDED) return 1.0;
  if (!op->start_ns) return 0.0;
  int64_t until = emu_op_done(op) ? op->end_ns : now;
  double p = s->task_ns > 0 ? (double)(until - op->start_ns) / (double)s->task_ns : 1.0;
  return p < 0 ? 0 : p > 0.99 ? 0.99 : p;
}

static void set_time(Google__Protobuf__Timestamp *ts, int64_t ns) {
  ts->seconds = ns / 1000000000LL;
  ts->nanos = (int32_t)(ns % 1000000000LL);
}

/* Work units: one per 256x256 tile of the grid (16 when the grid has no size). */
static int64_t work_units(const emu_op *op) {
  if (op->pixels <= 0) return 16;
  int64_t w = (op->pixels + 65535) / 65536;
  return w > 1000000 ? 1000000 : w;
}

typedef struct view {
  Google__Earthengine__V1__OperationMetadata md;
  Google__Protobuf__Timestamp times[4];
  Google__Earthengine__V1__OperationStage stages[3];
  Google__Earthengine__V1__OperationStage *stage_ptrs[3];
  char *uris[1];
} view;

/* Starting (setup), Computing (the tiles), Writing (the output); a stage not reached yet
 * has no work units, as a fresh stage of the service may omit them. */
static void fill_stages(view *v, const emu_op *op, double p) {
  static const char *names[3] = {"Starting", "Computing", "Writing"};
  static const char *descs[3] = {"Preparing the export", "Computing the image",
                                 "Writing the output"};
  int64_t totals[3] = {1, work_units(op), 1};
  double done[3] = {p >= 0.1 ? 1 : 0,
                    p <= 0.1   ? 0
                    : p >= 0.9 ? 1
                               : (p - 0.1) / 0.8,
                    op->state == ST_SUCCEEDED ? 1 : 0};
  double begins[3] = {0.0, 0.1, 0.9};
  for (int i = 0; i < 3; i++) {
    Google__Earthengine__V1__OperationStage init = GOOGLE__EARTHENGINE__V1__OPERATION_STAGE__INIT;
    v->stages[i] = init;
    v->stages[i].display_name = (char *)names[i];
    v->stages[i].description = (char *)descs[i];
    if (p > begins[i] || done[i] > 0) {
      v->stages[i].total_work_units = totals[i];
      v->stages[i].complete_work_units = (int32_t)floor(done[i] * (double)totals[i]);
    }
    v->stage_ptrs[i] = &v->stages[i];
  }
  v->md.n_stages = 3;
  v->md.stages = v->stage_ptrs;
}

static void fill_metadata(view *v, const emu_store *s, const emu_op *op, int64_t now) {
  Google__Earthengine__V1__OperationMetadata init =
      GOOGLE__EARTHENGINE__V1__OPERATION_METADATA__INIT;
  Google__Protobuf__Timestamp ts_init = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  Google__Protobuf__Timestamp **slots[4] = {&v->md.create_time, &v->md.update_time,
                                            &v->md.start_time, &v->md.end_time};
  const int64_t ns[4] = {op->create_ns, op->update_ns, op->start_ns, op->end_ns};
  v->md = init;
  v->md.state = (Google__Earthengine__V1__OperationMetadata__State)op->state;
  v->md.description = op->description;
  v->md.type = "EXPORT_IMAGE";
  v->md.priority = op->priority;
  for (int i = 0; i < 4; i++) {
    v->times[i] = ts_init;
    if (ns[i] <= 0) continue;
    set_time(&v->times[i], ns[i]);
    *slots[i] = &v->times[i];
  }
  double p = progress_of(s, op, now);
  v->md.progress = p;
  v->md.attempt = op->attempt;
  v->uris[0] = op->dest_uri;
  v->md.n_destination_uris = 1;
  v->md.destination_uris = v->uris;
  if (op->start_ns && op->error_code != 3) fill_stages(v, op, p);
  if (op->state == ST_SUCCEEDED) v->md.batch_eecu_usage_seconds = (double)s->task_ns / 2e9;
}

/* Appends the packed form of msg to out. */
static ee_code pack_into(const ProtobufCMessage *msg, ee_buf *out, ee_status *st) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  if (ee_buf_reserve(out, n + 1, st) != EE_OK) return st->code;
  protobuf_c_message_pack(msg, (uint8_t *)out->data + out->len);
  out->len += n;
  out->data[out->len] = '\0';
  return EE_OK;
}

ee_code emu_op_pack(const emu_store *s, const emu_op *op, int64_t now, ee_buf *out, ee_status *st) {
  view v;
  ee_buf md_bytes;
  ee_buf_init(&md_bytes, 0);
  fill_metadata(&v, s, op, now);
  ee_code rc = pack_into(&v.md.base, &md_bytes, st);
  if (rc != EE_OK) goto done;
  Google__Protobuf__Any md_any = GOOGLE__PROTOBUF__ANY__INIT, resp = GOOGLE__PROTOBUF__ANY__INIT;
  md_any.type_url = METADATA_TYPE;
  md_any.value.len = md_bytes.len;
  md_any.value.data = (uint8_t *)md_bytes.data;
  Google__Longrunning__Operation o = GOOGLE__LONGRUNNING__OPERATION__INIT;
  Google__Rpc__Status err = GOOGLE__RPC__STATUS__INIT;
  o.name = op->name;
  o.metadata = &md_any;
  o.done = emu_op_done(op);
  if (op->state == ST_SUCCEEDED) {
    resp.type_url = EMPTY_TYPE; /* exports produce no response message */
    o.result_case = GOOGLE__LONGRUNNING__OPERATION__RESULT_RESPONSE;
    o.response = &resp;
  } else if (o.done) {
    err.code = op->error_code;
    err.message = op->error_message;
    o.result_case = GOOGLE__LONGRUNNING__OPERATION__RESULT_ERROR;
    o.error = &err;
  }
  rc = pack_into(&o.base, out, st);
done:
  ee_buf_free(&md_bytes);
  return rc;
}
