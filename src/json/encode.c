/* protobuf-c message -> proto3 JSON, written straight into the caller's ee_buf.
 *
 * Output form (documented in json.h): json_format's choices where the mapping leaves one
 * (field order by number, int64 quoted, floats in Python repr style, Timestamp/Duration
 * with 0/3/6/9 fractional digits, bytes as padded standard base64), compact separators
 * (no spaces) unless indent is set, in which case the layout is json.dumps(indent=N).
 * Strings are raw UTF-8; only '"', '\\' and control characters are escaped (\b \f \n \r
 * \t, others \u00XX), exactly as json.dumps(ensure_ascii=False). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ee/wire.h"
#include "json_internal.h"

typedef struct enc {
  ee_buf *b;
  const ee_json_registry *reg;
  bool proto_names, emit_defaults, enums_as_ints;
  int indent;
  int depth, max_depth;
  size_t limit; /* the buffer's limit, checked here so the fast path honours it */
  /* first error */
  bool failed;
  ee_code code;
  char reason[384];
  char path[512];
  size_t path_start;
  bool path_cut;
} enc;

/* ------------------------------------------------------------------ errors */

__attribute__((format(printf, 3, 4))) static int efail(enc *e, ee_code code, const char *fmt, ...) {
  if (e->failed) return -1;
  e->failed = true;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->reason, sizeof e->reason, fmt, ap);
  va_end(ap);
  return -1;
}

static void path_prepend(enc *e, const char *s, size_t n) {
  if (n > e->path_start - 1) {
    e->path_cut = true;
    return;
  }
  e->path_start -= n;
  memcpy(e->path + e->path_start, s, n);
}

static void path_field(enc *e, const eei_field *f) {
  if (e->proto_names)
    path_prepend(e, f->fd->name, f->name_len);
  else
    path_prepend(e, f->json_name, f->json_len);
  path_prepend(e, ".", 1);
}

static void path_index(enc *e, size_t i) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "[%zu]", i);
  path_prepend(e, tmp, (size_t)n);
}

/* ------------------------------------------------------------------ output */

static int grow(enc *e, size_t n) {
  ee_status st;
  if (ee_buf_reserve(e->b, n, &st) != EE_OK) return efail(e, st.code, "%s", st.message);
  return 0;
}

/* Room for n more bytes (plus the buffer's NUL). */
static inline int room(enc *e, size_t n) {
  if (e->b->cap - e->b->len > n && e->b->len + n <= e->limit) return 0;
  return grow(e, n);
}

static inline void put_c(enc *e, char c) {
  e->b->data[e->b->len++] = c;
}

static inline void put_n(enc *e, const char *s, size_t n) {
  memcpy(e->b->data + e->b->len, s, n);
  e->b->len += n;
}

static int write_raw(enc *e, const char *s, size_t n) {
  if (room(e, n) != 0) return -1;
  put_n(e, s, n);
  return 0;
}

static int newline_indent(enc *e, int level) {
  size_t n = (size_t)level * (size_t)e->indent;
  if (room(e, n + 1) != 0) return -1;
  put_c(e, '\n');
  memset(e->b->data + e->b->len, ' ', n);
  e->b->len += n;
  return 0;
}

static int open_container(enc *e, char c) {
  if (++e->depth > e->max_depth)
    return efail(e, EE_INVALID_ARGUMENT, "message nests deeper than the limit of %d", e->max_depth);
  return write_raw(e, &c, 1);
}

/* Before each member or element: the comma, and in pretty mode a new line. */
static int next_item(enc *e, size_t *count) {
  if (room(e, 1) != 0) return -1;
  if ((*count)++) put_c(e, ',');
  return e->indent ? newline_indent(e, e->depth) : 0;
}

static int close_container(enc *e, size_t count, char c) {
  e->depth--;
  if (e->indent && count && newline_indent(e, e->depth) != 0) return -1;
  return write_raw(e, &c, 1);
}

static int write_key_sep(enc *e) {
  return e->indent ? write_raw(e, ": ", 2) : write_raw(e, ":", 1);
}

/* 0: verbatim, 1: escape, 2: UTF-8 lead byte (validated). */
static const unsigned char k_esc[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

static void put_escape(enc *e, unsigned char c) {
  static const char hex[] = "0123456789abcdef";
  char *o = e->b->data + e->b->len;
  o[0] = '\\';
  switch (c) {
    case '"': o[1] = '"'; break;
    case '\\': o[1] = '\\'; break;
    case '\b': o[1] = 'b'; break;
    case '\f': o[1] = 'f'; break;
    case '\n': o[1] = 'n'; break;
    case '\r': o[1] = 'r'; break;
    case '\t': o[1] = 't'; break;
    default:
      memcpy(o + 1, "u00", 3);
      o[4] = hex[c >> 4];
      o[5] = hex[c & 15];
      e->b->len += 6;
      return;
  }
  e->b->len += 2;
}

static int write_string(enc *e, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  if (room(e, n + 2) != 0) return -1;
  put_c(e, '"');
  while (p < end) {
    const unsigned char *run = p;
    while (p < end && !k_esc[*p]) p++;
    put_n(e, (const char *)run, (size_t)(p - run));
    if (p >= end) break;
    if (k_esc[*p] == 1) {
      /* each escape grows the text by at most 5 bytes */
      if (room(e, (size_t)(end - p) + 6) != 0) return -1;
      put_escape(e, *p++);
    } else {
      size_t k = eei_utf8_seq(p, end);
      if (!k) return efail(e, EE_INVALID_ARGUMENT, "string is not valid UTF-8");
      put_n(e, (const char *)p, k);
      p += k;
    }
  }
  put_c(e, '"');
  return 0;
}

static int write_cstr(enc *e, const char *s) {
  return write_string(e, s ? s : "", s ? strlen(s) : 0);
}

/* ------------------------------------------------------------------ scalars */

static int write_real(enc *e, double v, bool is_float) {
  if (room(e, 40) != 0) return -1;
  if (isnan(v)) {
    put_n(e, "\"NaN\"", 5);
  } else if (isinf(v)) {
    if (v > 0)
      put_n(e, "\"Infinity\"", 10);
    else
      put_n(e, "\"-Infinity\"", 11);
  } else {
    char *o = e->b->data + e->b->len;
    e->b->len += is_float ? eei_format_float((float)v, o) : eei_format_double(v, o);
  }
  return 0;
}

static int write_enum(enc *e, const ProtobufCEnumDescriptor *ed, int v) {
  if (!e->enums_as_ints) {
    if (strcmp(ed->name, "google.protobuf.NullValue") == 0) return write_raw(e, "null", 4);
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
    if (ev) return write_string(e, ev->name, strlen(ev->name));
  }
  if (room(e, 24) != 0) return -1;
  e->b->len += eei_format_i64(v, e->b->data + e->b->len);
  return 0;
}

static int write_bytes(enc *e, const ProtobufCBinaryData *bd) {
  size_t n = eei_base64_encoded_len(bd->len);
  if (room(e, n + 2) != 0) return -1;
  put_c(e, '"');
  if (bd->len) eei_base64_encode(bd->data, bd->len, e->b->data + e->b->len);
  e->b->len += n;
  put_c(e, '"');
  return 0;
}

/* One non-message value at p. */
static int write_scalar(enc *e, const ProtobufCFieldDescriptor *fd, const void *p) {
  char *o;
  switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      if (room(e, 24) != 0) return -1;
      e->b->len += eei_format_i64(*(const int32_t *)p, e->b->data + e->b->len);
      return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      if (room(e, 24) != 0) return -1;
      e->b->len += eei_format_u64(*(const uint32_t *)p, e->b->data + e->b->len);
      return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      if (room(e, 26) != 0) return -1;
      put_c(e, '"');
      o = e->b->data + e->b->len;
      e->b->len += eei_format_i64(*(const int64_t *)p, o);
      put_c(e, '"');
      return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      if (room(e, 26) != 0) return -1;
      put_c(e, '"');
      o = e->b->data + e->b->len;
      e->b->len += eei_format_u64(*(const uint64_t *)p, o);
      put_c(e, '"');
      return 0;
    case PROTOBUF_C_TYPE_FLOAT: return write_real(e, *(const float *)p, true);
    case PROTOBUF_C_TYPE_DOUBLE: return write_real(e, *(const double *)p, false);
    case PROTOBUF_C_TYPE_BOOL:
      return *(const protobuf_c_boolean *)p ? write_raw(e, "true", 4) : write_raw(e, "false", 5);
    case PROTOBUF_C_TYPE_ENUM: return write_enum(e, fd->descriptor, *(const int *)p);
    case PROTOBUF_C_TYPE_STRING: return write_cstr(e, *(char *const *)p);
    case PROTOBUF_C_TYPE_BYTES: return write_bytes(e, p);
    case PROTOBUF_C_TYPE_MESSAGE: break;
  }
  return efail(e, EE_INTERNAL, "field %s is not a scalar", fd->name);
}

/* ------------------------------------------------------------------ messages */

static int write_message(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg);

/* A NULL sub-message prints as its type's default instance, as json_format would. */
static int write_child(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg) {
  if (!mi) return efail(e, EE_RESOURCE_EXHAUSTED, "out of memory");
  if (msg) return write_message(e, mi, msg);
  ProtobufCMessage *tmp = malloc(mi->desc->sizeof_message);
  if (!tmp) return efail(e, EE_RESOURCE_EXHAUSTED, "out of memory");
  protobuf_c_message_init(mi->desc, tmp);
  int rc = write_message(e, mi, tmp);
  free(tmp);
  return rc;
}

static bool is_present(const eei_field *f, const ProtobufCMessage *msg) {
  const ProtobufCFieldDescriptor *fd = f->fd;
  const char *p = (const char *)msg + fd->offset;
  if (fd->label == PROTOBUF_C_LABEL_REPEATED)
    return EEI_MEMBER(size_t, msg, fd->quantifier_offset) != 0;
  if (f->is_oneof) return EEI_MEMBER(uint32_t, msg, fd->quantifier_offset) == fd->id;
  if (fd->type == PROTOBUF_C_TYPE_MESSAGE) return *(void *const *)p != NULL;
  if (fd->label == PROTOBUF_C_LABEL_REQUIRED) return true;
  if (fd->label == PROTOBUF_C_LABEL_OPTIONAL) {
    if (fd->type == PROTOBUF_C_TYPE_STRING)
      return *(void *const *)p != NULL && *(void *const *)p != fd->default_value;
    return EEI_MEMBER(protobuf_c_boolean, msg, fd->quantifier_offset) != 0;
  }
  switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING: return *(char *const *)p && **(char *const *)p;
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len != 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: { /* bit test: -0.0 is present */
      uint64_t v;
      memcpy(&v, p, 8);
      return v != 0;
    }
    default: {
      uint32_t v;
      memcpy(&v, p, 4);
      return v != 0;
    }
  }
}

static int write_map_key(enc *e, const ProtobufCFieldDescriptor *kfd, const void *p) {
  if (kfd->type == PROTOBUF_C_TYPE_STRING) return write_cstr(e, *(char *const *)p);
  if (kfd->type == PROTOBUF_C_TYPE_BOOL)
    return *(const protobuf_c_boolean *)p ? write_raw(e, "\"true\"", 6)
                                          : write_raw(e, "\"false\"", 7);
  if (room(e, 26) != 0) return -1;
  put_c(e, '"');
  bool is64 = kfd->type == PROTOBUF_C_TYPE_INT64 || kfd->type == PROTOBUF_C_TYPE_SINT64 ||
              kfd->type == PROTOBUF_C_TYPE_SFIXED64 || kfd->type == PROTOBUF_C_TYPE_UINT64 ||
              kfd->type == PROTOBUF_C_TYPE_FIXED64;
  bool is_unsigned = kfd->type == PROTOBUF_C_TYPE_UINT32 || kfd->type == PROTOBUF_C_TYPE_FIXED32 ||
                     kfd->type == PROTOBUF_C_TYPE_UINT64 || kfd->type == PROTOBUF_C_TYPE_FIXED64;
  char *o = e->b->data + e->b->len;
  if (is64)
    e->b->len += is_unsigned ? eei_format_u64(*(const uint64_t *)p, o)
                             : eei_format_i64(*(const int64_t *)p, o);
  else
    e->b->len += is_unsigned ? eei_format_u64(*(const uint32_t *)p, o)
                             : eei_format_i64(*(const int32_t *)p, o);
  put_c(e, '"');
  return 0;
}

static int write_map(enc *e, const eei_field *f, const ProtobufCMessage *msg) {
  size_t n = EEI_MEMBER(size_t, msg, f->fd->quantifier_offset), count = 0;
  ProtobufCMessage *const *ents = EEI_MEMBER(ProtobufCMessage **, msg, f->fd->offset);
  const ProtobufCFieldDescriptor *kfd = f->map_key, *vfd = f->map_value;
  const eei_msg_info *child = vfd->type == PROTOBUF_C_TYPE_MESSAGE ? eei_field_child(f) : NULL;
  if (open_container(e, '{') != 0) return -1;
  for (size_t i = 0; i < n; i++) {
    const ProtobufCMessage *en = ents[i];
    if (!en) continue;
    if (next_item(e, &count) != 0 || write_map_key(e, kfd, (const char *)en + kfd->offset) != 0 ||
        write_key_sep(e) != 0)
      return -1;
    int rc = vfd->type == PROTOBUF_C_TYPE_MESSAGE
                 ? write_child(e, child, EEI_MEMBER(ProtobufCMessage *, en, vfd->offset))
                 : write_scalar(e, vfd, (const char *)en + vfd->offset);
    if (rc != 0) {
      path_prepend(e, "]", 1);
      if (kfd->type == PROTOBUF_C_TYPE_STRING) {
        const char *k = EEI_MEMBER(char *, en, kfd->offset);
        path_prepend(e, "\"", 1);
        path_prepend(e, k ? k : "", k ? strlen(k) : 0);
        path_prepend(e, "\"", 1);
      }
      path_prepend(e, "[", 1);
      return -1;
    }
  }
  return close_container(e, count, '}');
}

static int write_repeated(enc *e, const eei_field *f, const ProtobufCMessage *msg) {
  const ProtobufCFieldDescriptor *fd = f->fd;
  size_t n = EEI_MEMBER(size_t, msg, fd->quantifier_offset), count = 0;
  const char *arr = EEI_MEMBER(const char *, msg, fd->offset);
  const eei_msg_info *child = fd->type == PROTOBUF_C_TYPE_MESSAGE ? eei_field_child(f) : NULL;
  size_t elem;
  switch (fd->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: elem = 8; break;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE: elem = sizeof(void *); break;
    case PROTOBUF_C_TYPE_BYTES: elem = sizeof(ProtobufCBinaryData); break;
    default: elem = 4; break;
  }
  if (open_container(e, '[') != 0) return -1;
  for (size_t i = 0; i < n; i++) {
    const void *p = arr + i * elem;
    if (next_item(e, &count) != 0) return -1;
    int rc = child ? write_child(e, child, *(ProtobufCMessage *const *)p) : write_scalar(e, fd, p);
    if (rc != 0) {
      path_index(e, i);
      return -1;
    }
  }
  return close_container(e, count, ']');
}

static int write_field_value(enc *e, const eei_field *f, const ProtobufCMessage *msg) {
  const ProtobufCFieldDescriptor *fd = f->fd;
  if (f->is_map) return write_map(e, f, msg);
  if (fd->label == PROTOBUF_C_LABEL_REPEATED) return write_repeated(e, f, msg);
  if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
    return write_child(e, eei_field_child(f), EEI_MEMBER(ProtobufCMessage *, msg, fd->offset));
  return write_scalar(e, fd, (const char *)msg + fd->offset);
}

static int write_member(enc *e, const eei_field *f, const ProtobufCMessage *msg, size_t *count) {
  if (next_item(e, count) != 0) return -1;
  if (e->proto_names ? write_raw(e, f->enc_proto, f->enc_proto_len)
                     : write_raw(e, f->enc_json, f->enc_json_len))
    return -1;
  if (write_key_sep(e) != 0) return -1;
  if (write_field_value(e, f, msg) != 0) {
    path_field(e, f);
    return -1;
  }
  return 0;
}

/* The members of msg into an object whose '{' is already written (count members so far):
 * the present fields by number, then with emit_defaults the absent ones, in the order
 * json_format uses. Like its including_default_value_fields, defaults skip oneof members
 * and singular messages. */
static int write_fields(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg,
                        size_t *count) {
  size_t absent = 0;
  for (unsigned i = 0; i < mi->n_fields; i++) {
    const eei_field *f = &mi->fields[i];
    if (!is_present(f, msg)) {
      absent++;
      continue;
    }
    if (write_member(e, f, msg, count) != 0) return -1;
  }
  for (unsigned i = 0; e->emit_defaults && absent && i < mi->n_fields; i++) {
    const eei_field *f = &mi->fields[i];
    if (f->is_oneof ||
        (f->fd->type == PROTOBUF_C_TYPE_MESSAGE && f->fd->label != PROTOBUF_C_LABEL_REPEATED) ||
        is_present(f, msg))
      continue;
    if (write_member(e, f, msg, count) != 0) return -1;
  }
  return 0;
}

static int write_object(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg) {
  size_t count = 0;
  if (open_container(e, '{') != 0 || write_fields(e, mi, msg, &count) != 0) return -1;
  return close_container(e, count, '}');
}

/* ------------------------------------------------------------------ well-known types */

static const eei_field *wkt_field(const eei_msg_info *mi, uint32_t id) {
  for (unsigned i = 0; i < mi->n_fields; i++) {
    if (mi->fields[i].fd->id == id) return &mi->fields[i];
  }
  return NULL;
}

static int write_time(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg, bool duration) {
  int64_t sec = EEI_MEMBER(int64_t, msg, wkt_field(mi, 1)->fd->offset);
  int32_t nanos = EEI_MEMBER(int32_t, msg, wkt_field(mi, 2)->fd->offset);
  char tmp[48];
  size_t n =
      duration ? eei_format_duration(sec, nanos, tmp) : eei_format_timestamp(sec, nanos, tmp);
  if (!n)
    return efail(e, EE_INVALID_ARGUMENT,
                 duration ? "Duration out of range (seconds %lld, nanos %d)"
                          : "Timestamp out of range (seconds %lld, nanos %d)",
                 (long long)sec, (int)nanos);
  if (room(e, n + 2) != 0) return -1;
  put_c(e, '"');
  put_n(e, tmp, n);
  put_c(e, '"');
  return 0;
}

/* "foo_bar.baz" -> "fooBar.baz"; paths that would not read back the same are refused,
 * as json_format refuses them. */
static int write_mask_path(enc *e, const char *s) {
  bool after_us = false;
  for (; *s; s++) {
    char c = *s;
    if (c >= 'A' && c <= 'Z')
      return efail(e, EE_INVALID_ARGUMENT, "FieldMask path must not contain uppercase letters");
    if (after_us) {
      if (c < 'a' || c > 'z')
        return efail(e, EE_INVALID_ARGUMENT,
                     "FieldMask path: the character after '_' must be a lowercase letter");
      c = (char)(c - 'a' + 'A');
      after_us = false;
    } else if (c == '_') {
      after_us = true;
      continue;
    }
    if (c == '"' || c == '\\' || (unsigned char)c < 0x20) {
      if (room(e, 6) != 0) return -1;
      put_escape(e, (unsigned char)c);
    } else if (write_raw(e, &c, 1) != 0) {
      return -1;
    }
  }
  if (after_us) return efail(e, EE_INVALID_ARGUMENT, "FieldMask path must not end with '_'");
  return 0;
}

static int write_field_mask(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg) {
  const ProtobufCFieldDescriptor *fd = wkt_field(mi, 1)->fd;
  size_t n = EEI_MEMBER(size_t, msg, fd->quantifier_offset);
  char *const *paths = EEI_MEMBER(char **, msg, fd->offset);
  if (write_raw(e, "\"", 1) != 0) return -1;
  for (size_t i = 0; i < n; i++) {
    if (i && write_raw(e, ",", 1) != 0) return -1;
    if (write_mask_path(e, paths[i] ? paths[i] : "") != 0) {
      path_index(e, i);
      path_prepend(e, ".paths", 6);
      return -1;
    }
  }
  return write_raw(e, "\"", 1);
}

static int write_value(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg) {
  const eei_field *f1 = wkt_field(mi, 1);
  uint32_t kind = EEI_MEMBER(uint32_t, msg, f1->fd->quantifier_offset);
  const eei_field *f = kind ? wkt_field(mi, kind) : NULL;
  if (!f || kind == 1) return write_raw(e, "null", 4); /* unset prints as null too */
  const void *p = (const char *)msg + f->fd->offset;
  switch (kind) {
    case 2: {
      double v = *(const double *)p;
      if (!isfinite(v))
        return efail(e, EE_INVALID_ARGUMENT, "Value.number_value cannot be NaN or Infinity");
      return write_real(e, v, false);
    }
    case 3:
    case 4: return write_scalar(e, f->fd, p);
    default: return write_child(e, eei_field_child(f), *(ProtobufCMessage *const *)p);
  }
}

static int write_wrapper(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg) {
  const eei_field *f = wkt_field(mi, 1);
  return write_scalar(e, f->fd, (const char *)msg + f->fd->offset);
}

static int write_any(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg) {
  const char *url = EEI_MEMBER(char *, msg, wkt_field(mi, 1)->fd->offset);
  const ProtobufCBinaryData *val =
      &EEI_MEMBER(ProtobufCBinaryData, msg, wkt_field(mi, 2)->fd->offset);
  if ((!url || !*url) && val->len == 0) return write_raw(e, "{}", 2);
  const ProtobufCMessageDescriptor *desc = url ? ee_json_registry_find(e->reg, url) : NULL;
  if (!desc)
    return efail(e, EE_INVALID_ARGUMENT, "Any type \"%s\" is not in the type registry",
                 url ? url : "");
  const eei_msg_info *inner_mi = eei_msg_info_get(desc);
  if (!inner_mi) return efail(e, EE_RESOURCE_EXHAUSTED, "out of memory");
  ProtobufCMessage *inner = NULL;
  ee_status st;
  int budget = e->max_depth - e->depth;
  if (ee_wire_unpack(desc, val->data, val->len, budget > 0 ? budget : 1, NULL, &inner, &st) !=
      EE_OK)
    return efail(e, st.code, "Any value of type %s: %s", desc->name, st.message);
  size_t count = 1;
  int rc = -1;
  if (open_container(e, '{') != 0) goto done;
  if (e->indent && newline_indent(e, e->depth) != 0) goto done;
  if (write_raw(e, "\"@type\"", 7) != 0 || write_key_sep(e) != 0 || write_cstr(e, url) != 0)
    goto done;
  if (inner_mi->wkt != EEI_WKT_NONE) {
    if (next_item(e, &count) != 0 || write_raw(e, "\"value\"", 7) != 0 || write_key_sep(e) != 0)
      goto done;
    if (write_message(e, inner_mi, inner) != 0) {
      path_prepend(e, ".value", 6);
      goto done;
    }
  } else if (write_fields(e, inner_mi, inner, &count) != 0) {
    goto done;
  }
  rc = close_container(e, count, '}');
done:
  protobuf_c_message_free_unpacked(inner, NULL);
  return rc;
}

static int write_message(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg) {
  switch (mi->wkt) {
    case EEI_WKT_ANY: return write_any(e, mi, msg);
    case EEI_WKT_TIMESTAMP: return write_time(e, mi, msg, false);
    case EEI_WKT_DURATION: return write_time(e, mi, msg, true);
    case EEI_WKT_FIELD_MASK: return write_field_mask(e, mi, msg);
    case EEI_WKT_STRUCT: return write_map(e, &mi->fields[0], msg);
    case EEI_WKT_VALUE: return write_value(e, mi, msg);
    case EEI_WKT_LIST_VALUE: return write_repeated(e, &mi->fields[0], msg);
    case EEI_WKT_WRAPPER: return write_wrapper(e, mi, msg);
    case EEI_WKT_NONE: break;
  }
  return write_object(e, mi, msg);
}

ee_code ee_json_encode(const ProtobufCMessage *msg, const ee_json_encode_options *opts, ee_buf *out,
                       ee_status *st) {
  static const ee_json_encode_options defaults = EE_JSON_ENCODE_OPTIONS_INIT;
  if (!msg || !out || !msg->descriptor ||
      msg->descriptor->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "ee_json_encode: need a message and a buffer");
  if (!opts) opts = &defaults;
  const eei_msg_info *mi = eei_msg_info_get(msg->descriptor);
  if (!mi) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  enc e;
  memset(&e, 0, offsetof(enc, reason));
  e.b = out;
  e.limit = out->limit ? out->limit : EE_BUF_DEFAULT_LIMIT;
  e.reg = opts->registry ? opts->registry : ee_json_default_registry();
  e.proto_names = opts->use_proto_names;
  e.emit_defaults = opts->emit_defaults;
  e.enums_as_ints = opts->enums_as_ints;
  e.indent = opts->indent > 0 ? opts->indent : 0;
  e.max_depth = EE_JSON_DEFAULT_MAX_DEPTH;
  e.path_start = sizeof e.path - 1;
  e.path[e.path_start] = '\0';
  e.path_cut = false;
  e.reason[0] = '\0';
  size_t start = out->len;
  if (write_message(&e, mi, msg) != 0 || room(&e, 0) != 0) {
    out->len = start;
    if (out->data) out->data[start] = '\0';
    const char *path = e.path + e.path_start;
    if (*path == '.') path++;
    if (*path)
      return ee_status_set(st, e.code, "%s%s: %s", e.path_cut ? "..." : "", path, e.reason);
    return ee_status_set(st, e.code, "%s", e.reason);
  }
  out->data[out->len] = '\0';
  ee_status_clear(st);
  return EE_OK;
}
