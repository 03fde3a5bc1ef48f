/* Generic access to protobuf-c message fields: presence, text forms (path and query
 * values), and setting fields from text with the message's allocator. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route_internal.h"

void *eei_route_alloc(ProtobufCAllocator *a, size_t n) {
  return a ? a->alloc(a->allocator_data, n) : malloc(n);
}

void eei_route_dealloc(ProtobufCAllocator *a, void *p) {
  if (!p) return;
  if (a)
    a->free(a->allocator_data, p);
  else
    free(p);
}

bool eei_route_is_oneof(const ProtobufCFieldDescriptor *f) {
  return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

/* Presence is the codec's rule (json_rules.h), so a field is a query parameter exactly
 * when the JSON body would print it. */
bool eei_route_field_is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  return eei_field_is_set(m, f);
}

bool eei_route_is_wrapper(const ProtobufCMessageDescriptor *d) {
  return eei_wkt_of(d) == EEI_WKT_WRAPPER;
}

bool eei_route_is_scalar_wkt(const ProtobufCMessageDescriptor *d) {
  switch (eei_wkt_of(d)) {
    case EEI_WKT_WRAPPER:
    case EEI_WKT_DURATION:
    case EEI_WKT_TIMESTAMP:
    case EEI_WKT_FIELD_MASK: return true;
    default: return false;
  }
}

/* ------------------------------------------------------------------------------------
 * Text forms
 * ---------------------------------------------------------------------------------- */

static ee_code base64_append(ee_buf *out, const uint8_t *d, size_t n, ee_status *st) {
  size_t len = eei_base64_encoded_len(n);
  ee_code rc = ee_buf_reserve(out, len, st);
  if (rc != EE_OK) return rc;
  if (n) eei_base64_encode(d, n, out->data + out->len);
  out->len += len;
  out->data[out->len] = '\0';
  return EE_OK;
}

/* The codec's spelling (json_rules.h), so a value reads the same in the query as in the
 * body: 100.0 is "100.0" in both, whatever the locale. */
static ee_code double_text(double d, bool is_float, ee_buf *out, ee_status *st) {
  char tmp[40];
  if (isnan(d)) return ee_buf_append_str(out, "NaN", st);
  if (isinf(d)) return ee_buf_append_str(out, d > 0 ? "Infinity" : "-Infinity", st);
  size_t n = is_float ? eei_format_float((float)d, tmp) : eei_format_double(d, tmp);
  return ee_buf_append(out, tmp, n, st);
}

static ee_code int_text(int64_t v, ee_buf *out, ee_status *st) {
  char tmp[24];
  return ee_buf_append(out, tmp, eei_format_i64(v, tmp), st);
}

static ee_code uint_text(uint64_t v, ee_buf *out, ee_status *st) {
  char tmp[24];
  return ee_buf_append(out, tmp, eei_format_u64(v, tmp), st);
}

ee_code eei_route_value_text(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t i,
                             ee_buf *out, ee_status *st) {
  const char *base = EEI_FIELD_PTR(m, f);
  if (f->label == PROTOBUF_C_LABEL_REPEATED)
    base = *(char *const *)base + i * eei_storage_size(f->type);
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return int_text(*(const int32_t *)base, out, st);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return uint_text(*(const uint32_t *)base, out, st);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return int_text(*(const int64_t *)base, out, st);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return uint_text(*(const uint64_t *)base, out, st);
    case PROTOBUF_C_TYPE_FLOAT: return double_text(*(const float *)base, true, out, st);
    case PROTOBUF_C_TYPE_DOUBLE: return double_text(*(const double *)base, false, out, st);
    case PROTOBUF_C_TYPE_BOOL:
      return ee_buf_append_str(out, *(const protobuf_c_boolean *)base ? "true" : "false", st);
    case PROTOBUF_C_TYPE_ENUM: {
      int32_t v = *(const int32_t *)base;
      const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
      return ev ? ee_buf_append_str(out, ev->name, st) : int_text(v, out, st);
    }
    case PROTOBUF_C_TYPE_STRING: {
      const char *s = *(char *const *)base;
      return ee_buf_append_str(out, s ? s : "", st);
    }
    case PROTOBUF_C_TYPE_BYTES: {
      const ProtobufCBinaryData *b = (const ProtobufCBinaryData *)base;
      return base64_append(out, b->data, b->len, st);
    }
    case PROTOBUF_C_TYPE_MESSAGE: break;
  }
  return ee_status_set(st, EE_INVALID_ARGUMENT, "field '%s' is a message, not a value", f->name);
}

/* The JSON of a scalar-form WKT is a string (Duration "1.5s", Int64Value "5") or a bare
 * number/bool; path and query carry it unquoted. */
ee_code eei_route_wkt_text(const ProtobufCMessage *wkt, ee_buf *out, ee_status *st) {
  /* A wrapper's text is its value's: no JSON round trip, so any string can travel. */
  if (eei_route_is_wrapper(wkt->descriptor))
    return eei_route_value_text(wkt, &wkt->descriptor->fields[0], 0, out, st);
  ee_buf j = EE_BUF_INIT;
  ee_code rc = ee_json_encode(wkt, NULL, &j, st);
  if (rc != EE_OK) goto done;
  if (j.len >= 2 && j.data[0] == '"') {
    /* Scalar WKT strings never need JSON escapes except in FieldMask paths, which are
     * identifiers; a backslash would mean our assumption broke, so refuse it. */
    if (memchr(j.data, '\\', j.len)) {
      rc = ee_status_set(st, EE_INVALID_ARGUMENT, "%s value %s cannot be a URL parameter",
                         wkt->descriptor->name, j.data);
      goto done;
    }
    rc = ee_buf_append(out, j.data + 1, j.len - 2, st);
  } else {
    rc = ee_buf_append(out, j.data ? j.data : "", j.len, st);
  }
done:
  ee_buf_free(&j);
  return rc;
}

/* ------------------------------------------------------------------------------------
 * Setting from text
 * ---------------------------------------------------------------------------------- */

typedef union scalar {
  int32_t i32;
  uint32_t u32;
  int64_t i64;
  uint64_t u64;
  float f;
  double d;
  protobuf_c_boolean b;
} scalar;

static ee_code bad_value(const char *name, const char *text, const char *what, ee_status *st) {
  return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: invalid value \"%.200s\": %s", name, text,
                       what);
}

static ee_code parse_signed(const char *t, int64_t lo, int64_t hi, int64_t *out, const char *name,
                            ee_status *st) {
  char *end;
  if (!((*t >= '0' && *t <= '9') || *t == '-')) return bad_value(name, t, "not an integer", st);
  errno = 0;
  long long v = strtoll(t, &end, 10);
  if (*end || end == t) return bad_value(name, t, "not an integer", st);
  if (errno == ERANGE || v < lo || v > hi) return bad_value(name, t, "out of range", st);
  *out = v;
  return EE_OK;
}

static ee_code parse_unsigned(const char *t, uint64_t hi, uint64_t *out, const char *name,
                              ee_status *st) {
  char *end;
  if (!(*t >= '0' && *t <= '9')) return bad_value(name, t, "not an unsigned integer", st);
  errno = 0;
  unsigned long long v = strtoull(t, &end, 10);
  if (*end) return bad_value(name, t, "not an unsigned integer", st);
  if (errno == ERANGE || v > hi) return bad_value(name, t, "out of range", st);
  *out = v;
  return EE_OK;
}

/* A number in the JSON number grammar (as the codec takes a number inside a string), or
 * NaN/Infinity/-Infinity; parsed by the codec's locale-independent eei_strtod. */
static bool json_number_syntax(const char *t) {
  const char *p = t;
  if (*p == '-') p++;
  if (*p == '0')
    p++;
  else if (*p >= '1' && *p <= '9')
    while (*p >= '0' && *p <= '9') p++;
  else
    return false;
  if (*p == '.') {
    if (!(*++p >= '0' && *p <= '9')) return false;
    while (*p >= '0' && *p <= '9') p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!(*p >= '0' && *p <= '9')) return false;
    while (*p >= '0' && *p <= '9') p++;
  }
  return *p == '\0';
}

static ee_code parse_double(const char *t, bool is_float, double *out, const char *name,
                            ee_status *st) {
  if (strcmp(t, "NaN") == 0)
    *out = NAN;
  else if (strcmp(t, "Infinity") == 0)
    *out = INFINITY;
  else if (strcmp(t, "-Infinity") == 0)
    *out = -INFINITY;
  else {
    if (!json_number_syntax(t)) return bad_value(name, t, "not a number", st);
    if (eei_strtod(t, strlen(t), out) != 0) return bad_value(name, t, "out of range", st);
    /* The codec's float rule: out of range when it rounds to infinity as a float. */
    if (is_float && isinf((float)*out)) return bad_value(name, t, "out of range", st);
  }
  return EE_OK;
}

static ee_code parse_scalar(const ProtobufCFieldDescriptor *f, const char *t, scalar *v,
                            const char *name, ee_status *st) {
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  ee_code rc = EE_OK;
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      rc = parse_signed(t, INT32_MIN, INT32_MAX, &i, name, st);
      v->i32 = (int32_t)i;
      break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      rc = parse_signed(t, INT64_MIN, INT64_MAX, &i, name, st);
      v->i64 = i;
      break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      rc = parse_unsigned(t, UINT32_MAX, &u, name, st);
      v->u32 = (uint32_t)u;
      break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      rc = parse_unsigned(t, UINT64_MAX, &u, name, st);
      v->u64 = u;
      break;
    case PROTOBUF_C_TYPE_FLOAT:
      rc = parse_double(t, true, &d, name, st);
      v->f = (float)d;
      break;
    case PROTOBUF_C_TYPE_DOUBLE:
      rc = parse_double(t, false, &d, name, st);
      v->d = d;
      break;
    case PROTOBUF_C_TYPE_BOOL:
      if (strcmp(t, "true") == 0)
        v->b = 1;
      else if (strcmp(t, "false") == 0)
        v->b = 0;
      else
        rc = bad_value(name, t, "expected true or false", st);
      break;
    case PROTOBUF_C_TYPE_ENUM: {
      const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, t);
      if (ev)
        v->i32 = ev->value;
      else if (parse_signed(t, INT32_MIN, INT32_MAX, &i, name, st) == EE_OK)
        v->i32 = (int32_t)i;
      else
        rc = ee_status_set(st, EE_INVALID_ARGUMENT, "%s: \"%.200s\" is not a value of enum %s",
                           name, t, ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
      break;
    }
    default: rc = bad_value(name, t, "unsupported field type", st); break;
  }
  return rc;
}

/* Makes room for one more element of a repeated field; returns its address. */
static void *append_slot(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                         ProtobufCAllocator *a) {
  size_t *n = EEI_QUANT_PTR(m, f), sz = eei_storage_size(f->type);
  char **arr = EEI_FIELD_PTR(m, f);
  char *grown = eei_route_alloc(a, (*n + 1) * sz);
  if (!grown) return NULL;
  if (*n) memcpy(grown, *arr, *n * sz);
  eei_route_dealloc(a, *arr);
  *arr = grown;
  memset(grown + *n * sz, 0, sz);
  return grown + (*n)++ * sz;
}

static ee_code select_oneof(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                            const char *name, ee_status *st) {
  uint32_t *c = EEI_QUANT_PTR(m, f);
  if (*c != 0 && *c != f->id)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: another member of its oneof is already set",
                         name);
  *c = f->id;
  return EE_OK;
}

/* Where a new value of f goes: a fresh slot of a repeated field, or the singular storage
 * (with its presence flag set). Frees a previous string/bytes value. */
static void *value_slot(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                        ProtobufCAllocator *a, const char *name, ee_status *st, ee_code *rc) {
  *rc = EE_OK;
  if (f->label == PROTOBUF_C_LABEL_REPEATED) {
    void *slot = append_slot(m, f, a);
    if (!slot) *rc = ee_status_set(st, EE_RESOURCE_EXHAUSTED, "%s: out of memory", name);
    return slot;
  }
  if (eei_route_is_oneof(f)) {
    bool was = eei_route_field_is_set(m, f);
    if ((*rc = select_oneof(m, f, name, st)) != EE_OK) return NULL;
    if (!was) memset(EEI_FIELD_PTR(m, f), 0, eei_storage_size(f->type));
  } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING) {
    *(protobuf_c_boolean *)EEI_QUANT_PTR(m, f) = 1;
  }
  void *v = EEI_FIELD_PTR(m, f);
  if (f->type == PROTOBUF_C_TYPE_STRING) {
    char *old = *(char **)v;
    if (old && old != f->default_value) eei_route_dealloc(a, old);
    *(char **)v = NULL;
  } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
    ProtobufCBinaryData *old = v;
    const ProtobufCBinaryData *def = f->default_value;
    if (old->data && (!def || old->data != def->data)) eei_route_dealloc(a, old->data);
    old->data = NULL;
    old->len = 0;
  }
  return v;
}

static ee_code text_to_storage(const ProtobufCFieldDescriptor *f, const char *text,
                               const char *name, ProtobufCAllocator *a, void *slot, ee_status *st) {
  size_t n = strlen(text);
  if (f->type == PROTOBUF_C_TYPE_STRING) {
    if (!eei_utf8_valid(text, n)) return bad_value(name, text, "not valid UTF-8", st);
    char *s = eei_route_alloc(a, n + 1);
    if (!s) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "%s: out of memory", name);
    memcpy(s, text, n + 1);
    *(char **)slot = s;
    return EE_OK;
  }
  if (f->type == PROTOBUF_C_TYPE_BYTES) {
    ProtobufCBinaryData *b = slot;
    uint8_t *d = eei_route_alloc(a, n / 4 * 3 + 3);
    if (!d) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "%s: out of memory", name);
    size_t len = eei_base64_decode(text, n, d);
    if (len == (size_t)-1) {
      eei_route_dealloc(a, d);
      b->len = 0;
      return bad_value(name, text, "not base64", st);
    }
    b->data = d;
    b->len = len;
    return EE_OK;
  }
  scalar v;
  ee_code rc = parse_scalar(f, text, &v, name, st);
  if (rc == EE_OK) memcpy(slot, &v, eei_storage_size(f->type));
  return rc;
}

ee_code eei_route_set_text(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *text,
                           const char *name, ProtobufCAllocator *a, ee_status *st) {
  ee_code rc;
  if (f->type == PROTOBUF_C_TYPE_MESSAGE)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: field '%s' is a message", name, f->name);
  /* Validate before touching the message, so a bad value leaves it unchanged. */
  if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_BYTES) {
    scalar probe;
    if ((rc = parse_scalar(f, text, &probe, name, st)) != EE_OK) return rc;
  } else if (f->type == PROTOBUF_C_TYPE_STRING && !eei_utf8_valid(text, strlen(text))) {
    return bad_value(name, text, "not valid UTF-8", st);
  }
  void *slot = value_slot(m, f, a, name, st, &rc);
  if (!slot) return rc;
  rc = text_to_storage(f, text, name, a, slot, st);
  if (rc != EE_OK && f->label == PROTOBUF_C_LABEL_REPEATED) (*(size_t *)EEI_QUANT_PTR(m, f))--;
  if (rc != EE_OK && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED)
    *(const char **)slot = f->default_value;
  return rc;
}

ProtobufCMessage *eei_route_new_message(const ProtobufCMessageDescriptor *d,
                                        ProtobufCAllocator *a) {
  ProtobufCMessage *m = eei_route_alloc(a, d->sizeof_message);
  if (m) d->message_init(m);
  return m;
}

ProtobufCMessage *eei_route_mutable_message(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                                            ProtobufCAllocator *a) {
  ProtobufCMessage **slot = EEI_FIELD_PTR(m, f);
  if (eei_route_is_oneof(f)) {
    uint32_t *c = EEI_QUANT_PTR(m, f);
    if (*c == f->id && *slot) return *slot;
    if (*c != 0 && *c != f->id) return NULL;
    *slot = NULL;
  }
  if (*slot) return *slot;
  *slot = eei_route_new_message(f->descriptor, a);
  if (*slot && eei_route_is_oneof(f)) *(uint32_t *)EEI_QUANT_PTR(m, f) = f->id;
  return *slot;
}

ee_code eei_route_set_wkt_text(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                               const char *text, const char *name,
                               const ee_json_decode_options *jopts, ee_status *st) {
  ProtobufCAllocator *a = jopts ? jopts->allocator : NULL;
  const ProtobufCMessageDescriptor *d = f->descriptor;
  if (eei_route_field_is_set(m, f))
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: set more than once", name);
  if (eei_route_is_wrapper(d)) {
    ProtobufCMessage *w = eei_route_mutable_message(m, f, a);
    if (!w)
      return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: another member of its oneof is set", name);
    return eei_route_set_text(w, &d->fields[0], text, name, a, st);
  }
  /* Duration, Timestamp, FieldMask: their JSON is a string; let the codec parse it. */
  ee_buf j = EE_BUF_INIT;
  ProtobufCMessage *parsed = NULL;
  ee_code rc = ee_buf_append_str(&j, "\"", st);
  for (const char *p = text; *p && rc == EE_OK; p++) {
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
      rc = bad_value(name, text, "unexpected character", st);
    else
      rc = ee_buf_append(&j, p, 1, st);
  }
  if (rc == EE_OK) rc = ee_buf_append_str(&j, "\"", st);
  if (rc == EE_OK) rc = ee_json_decode(d, j.data, j.len, jopts, &parsed, st);
  if (rc != EE_OK) {
    ee_status_prefix(st, "%s", name);
    goto done;
  }
  if (eei_route_is_oneof(f)) {
    if ((rc = select_oneof(m, f, name, st)) != EE_OK) goto done;
  }
  *(ProtobufCMessage **)EEI_FIELD_PTR(m, f) = parsed;
  parsed = NULL;
done:
  if (parsed) protobuf_c_message_free_unpacked(parsed, a);
  ee_buf_free(&j);
  return rc;
}
