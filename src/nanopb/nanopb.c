/* ee/nanopb.h: encode and decode nanopb structs in the caller's memory, name the field
 * at fault when bytes do not fit, and hand the bytes to the client's raw call.
 *
 * Nothing here allocates: the streams are nanopb's buffer streams, the error paths use
 * fixed-size buffers on the stack, and the field names come from the protobuf-c
 * descriptors (static data) of the same messages. */
#include "ee/nanopb.h"

#include <stdio.h>
#include <string.h>

#include <pb_common.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "eei_message_descriptors.h"
#include "eei_nanopb_index.h"

#define PATH_MAX_LEN 256
#define MAX_FIELDS 64 /* fields of one message counted for repeated bounds */
#define MAX_WALK_DEPTH 32

/* The protobuf-c descriptor of the same message (field names), or NULL. */
static const ProtobufCMessageDescriptor *names_of(const pb_msgdesc_t *type) {
  for (size_t i = 0; i < eei_nanopb_names_count; i++) {
    if (eei_nanopb_names[i].msg != type) continue;
    for (size_t j = 0; j < eei_message_descriptors_count; j++)
      if (strcmp(eei_message_descriptors[j]->name, eei_nanopb_names[i].full_name) == 0)
        return eei_message_descriptors[j];
    return NULL;
  }
  return NULL;
}

static const char *full_name(const pb_msgdesc_t *type) {
  const ProtobufCMessageDescriptor *d = names_of(type);
  return d ? d->name : "message";
}

static void path_join(char *out, size_t cap, const char *prefix,
                      const ProtobufCMessageDescriptor *pd, uint32_t tag) {
  const ProtobufCFieldDescriptor *f = pd ? protobuf_c_message_descriptor_get_field(pd, tag) : NULL;
  char num[16];
  snprintf(num, sizeof num, "%u", (unsigned)tag);
  int n = snprintf(out, cap, "%s%s%s", prefix, prefix[0] ? "." : "", f ? f->name : num);
  if (n < 0 || (size_t)n >= cap) /* a path deeper than we name: mark the cut */
    memcpy(out + cap - 4, "...", 4);
}

/* Elements in one packed run of a repeated scalar. */
static size_t packed_count(const uint8_t *b, size_t len, pb_type_t ltype) {
  if (ltype == PB_LTYPE_FIXED32) return len / 4;
  if (ltype == PB_LTYPE_FIXED64) return len / 8;
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (!(b[i] & 0x80)) n++;
  return n;
}

typedef struct overflow {
  char path[PATH_MAX_LEN];
  char why[128];
} overflow;

/* Looks through buf for the first value that does not fit the nanopb struct of `type`
 * (a string, bytes or repeated field over its bound, in this message or a nested one).
 * Reads only; true when found, with *o filled. */
static bool find_overflow(const pb_msgdesc_t *type, const ProtobufCMessageDescriptor *pd,
                          const uint8_t *buf, size_t len, const char *prefix, int depth,
                          overflow *o) {
  size_t counts[MAX_FIELDS] = {0};
  pb_istream_t s = pb_istream_from_buffer(buf, len);
  if (depth > MAX_WALK_DEPTH) return false;
  for (;;) {
    pb_wire_type_t wt;
    uint32_t tag;
    bool eof;
    if (!pb_decode_tag(&s, &wt, &tag, &eof)) return false;
    pb_field_iter_t it;
    bool ours = pb_field_iter_begin(&it, type, NULL) && pb_field_iter_find(&it, tag) &&
                PB_ATYPE(it.type) == PB_ATYPE_STATIC; /* not unknown, not a callback */
    bool repeated = ours && PB_HTYPE(it.type) == PB_HTYPE_REPEATED && it.index < MAX_FIELDS;
    pb_type_t lt = ours ? PB_LTYPE(it.type) : 0;
    uint32_t n = 0;
    const uint8_t *v = NULL;
    if (wt == PB_WT_STRING) {
      if (!pb_decode_varint32(&s, &n) || n > s.bytes_left) return false;
      v = buf + (len - s.bytes_left);
    } else if (!pb_skip_field(&s, wt)) {
      return false;
    }
    if (!ours) goto next;
    /* One element, or a packed run of scalars. */
    if (repeated && (counts[it.index] +=
                     (v && lt <= PB_LTYPE_FIXED64) ? packed_count(v, n, lt) : 1) > it.array_size) {
      path_join(o->path, sizeof o->path, prefix, pd, tag);
      snprintf(o->why, sizeof o->why, "more than %u elements", (unsigned)it.array_size);
      return true;
    }
    if (!v) continue;
    char path[PATH_MAX_LEN];
    path_join(path, sizeof path, prefix, pd, tag);
    if (lt == PB_LTYPE_STRING && n >= it.data_size) {
      snprintf(o->path, sizeof o->path, "%s", path);
      snprintf(o->why, sizeof o->why, "longer than %u bytes", (unsigned)(it.data_size - 1));
      return true;
    }
    if (lt == PB_LTYPE_BYTES && n > it.data_size - offsetof(pb_bytes_array_t, bytes)) {
      snprintf(o->path, sizeof o->path, "%s", path);
      snprintf(o->why, sizeof o->why, "longer than %u bytes",
               (unsigned)(it.data_size - offsetof(pb_bytes_array_t, bytes)));
      return true;
    }
    if (lt == PB_LTYPE_SUBMESSAGE || lt == PB_LTYPE_SUBMSG_W_CB) {
      const ProtobufCFieldDescriptor *f =
          pd ? protobuf_c_message_descriptor_get_field(pd, tag) : NULL;
      const ProtobufCMessageDescriptor *sub =
          f && f->type == PROTOBUF_C_TYPE_MESSAGE ? f->descriptor : NULL;
      if (find_overflow(it.submsg_desc, sub, v, n, path, depth + 1, o)) return true;
    }
  next:
    if (v) {
      s.bytes_left -= n;
      s.state = (uint8_t *)s.state + n;
    }
  }
}

/* The top-level field whose bytes contain offset pos (where decoding stopped), or 0. */
static uint32_t field_at(const uint8_t *buf, size_t len, size_t pos) {
  pb_istream_t s = pb_istream_from_buffer(buf, len);
  for (;;) {
    pb_wire_type_t wt;
    uint32_t tag;
    bool eof;
    if (!pb_decode_tag(&s, &wt, &tag, &eof)) return 0;
    size_t start = len - s.bytes_left;
    if (!pb_skip_field(&s, wt)) return tag;
    if (start < pos && pos <= len - s.bytes_left) return tag;
    if (start >= pos) return 0;
  }
}

ee_code ee_nanopb_decode(const pb_msgdesc_t *type, const uint8_t *buf, size_t len, void *msg,
                         ee_status *st) {
  static const uint8_t empty[1];
  if (!type || !msg || (len && !buf))
    return ee_status_set(st, EE_INVALID_ARGUMENT, "ee_nanopb_decode: NULL argument");
  if (!len) buf = empty;
  pb_istream_t s = pb_istream_from_buffer(buf, len);
  if (pb_decode(&s, type, msg)) {
    ee_status_clear(st);
    return EE_OK;
  }
  const char *err = PB_GET_ERROR(&s);
  const ProtobufCMessageDescriptor *pd = names_of(type);
  overflow o;
  if (find_overflow(type, pd, buf, len, "", 0, &o))
    return ee_status_set(st, EE_OUT_OF_RANGE, "%s: %s: %s (%s; the bound is in proto/**/*.options)",
                         full_name(type), o.path, o.why, err);
  uint32_t tag = field_at(buf, len, len - s.bytes_left);
  char path[PATH_MAX_LEN] = "";
  if (tag) path_join(path, sizeof path, "", pd, tag);
  return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: %s%s%s", full_name(type), path,
                       path[0] ? ": " : "", err);
}

ee_code ee_nanopb_encode(const pb_msgdesc_t *type, const void *msg, uint8_t *buf, size_t cap,
                         size_t *len, ee_status *st) {
  if (len) *len = 0;
  if (!type || !msg || !len || (cap && !buf))
    return ee_status_set(st, EE_INVALID_ARGUMENT, "ee_nanopb_encode: NULL argument");
  pb_ostream_t s = pb_ostream_from_buffer(buf, cap);
  if (!pb_encode(&s, type, msg)) {
    const char *err = PB_GET_ERROR(&s);
    if (strcmp(err, "stream full") == 0)
      return ee_status_set(st, EE_OUT_OF_RANGE, "%s: does not fit in %zu bytes", full_name(type),
                           cap);
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: %s", full_name(type), err);
  }
  *len = s.bytes_written;
  ee_status_clear(st);
  return EE_OK;
}

/* Path values are escaped as the route layer does: unreserved bytes stay, others %XX. */
ee_code ee_nanopb_request_params(const google_earthengine_v1_ExportImageRequest *req, char *out,
                                 size_t cap, ee_status *st) {
  static const char hex[] = "0123456789ABCDEF";
  const char *p = req ? req->project : NULL;
  if (!out || !cap) return ee_status_set(st, EE_INVALID_ARGUMENT, "request params: no buffer");
  out[0] = '\0';
  if (!p || strncmp(p, "projects/", 9) != 0 || !p[9] || strchr(p + 9, '/'))
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "project: must be projects/ID (the raw path fills no default)");
  size_t n = 0;
  const char *prefix = "project=";
  for (const char *q = prefix; *q; q++) out[n++] = *q; /* cap >= 1; checked below */
  for (const unsigned char *q = (const unsigned char *)p; *q; q++) {
    bool keep = (*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
                *q == '-' || *q == '.' || *q == '_' || *q == '~';
    if (n + (keep ? 1 : 3) >= cap) {
      out[0] = '\0';
      return ee_status_set(st, EE_OUT_OF_RANGE, "request params: longer than %zu bytes", cap - 1);
    }
    if (keep) {
      out[n++] = (char)*q;
    } else {
      out[n++] = '%';
      out[n++] = hex[*q >> 4];
      out[n++] = hex[*q & 15];
    }
  }
  out[n] = '\0';
  ee_status_clear(st);
  return EE_OK;
}

ee_code ee_nanopb_operation_metadata(const google_longrunning_Operation *op,
                                     google_earthengine_v1_OperationMetadata *md, ee_status *st) {
  static const char type[] = "type.googleapis.com/google.earthengine.v1.OperationMetadata";
  if (!op || !md) return ee_status_set(st, EE_INVALID_ARGUMENT, "operation metadata: NULL");
  if (!op->has_metadata || strcmp(op->metadata.type_url, type) != 0)
    return ee_status_set(st, EE_NOT_FOUND, "%s: no OperationMetadata", op->name);
  ee_code rc = ee_nanopb_decode(&google_earthengine_v1_OperationMetadata_msg,
                                op->metadata.value.bytes, op->metadata.value.size, md, st);
  return rc == EE_OK ? rc : ee_status_prefix(st, "metadata.value");
}

ee_code ee_nanopb_export_image(ee_client *c, const google_earthengine_v1_ExportImageRequest *req,
                               uint8_t *scratch, size_t scratch_cap, const ee_call_options *co,
                               ee_buf *response, google_longrunning_Operation *op, ee_status *st) {
  char params[EE_NANOPB_REQUEST_PARAMS_MAX];
  size_t len = 0;
  if (!response || !op) return ee_status_set(st, EE_INVALID_ARGUMENT, "response, op: NULL");
  ee_code rc = ee_nanopb_request_params(req, params, sizeof params, st);
  if (rc == EE_OK)
    rc = ee_nanopb_encode(&google_earthengine_v1_ExportImageRequest_msg, req, scratch, scratch_cap,
                          &len, st);
  if (rc != EE_OK) return rc;
  ee_buf_reset(response);
  rc = ee_client_call_raw(c, EE_RPC_EXPORT_IMAGE, scratch, len, params, co, response, st);
  if (rc != EE_OK) return rc;
  return ee_nanopb_decode(&google_longrunning_Operation_msg, (const uint8_t *)response->data,
                          response->len, op, st);
}
