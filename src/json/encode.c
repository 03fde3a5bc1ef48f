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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ee/wire.h"
#include "json_internal.h"

typedef struct enc {
  ee_buf *b;
  const ee_json_registry *reg;
  bool proto_names, emit_defaults, enums_as_ints;
  int indent;
  int depth, max_depth;
  size_t limit; /* the buffer's limit, checked here so the fast path honours it */
  /* The write window into b: b->len is stale while encoding and synced by grow() and at
   * the end. A cursor in the encoder itself spares every write a load of b, len and data. */
  char *cur;          /* next byte to write */
  char *end;          /* cur may advance to here: min(capacity less the NUL, limit) */
  char *cap_end;      /* the end of the allocation less the NUL (slack for block copies) */
  char last_url[192]; /* the last Any type URL resolved, and its descriptor */
  size_t last_url_len;
  eei_date_cache dates; /* the last Timestamp's date text */
  const ProtobufCMessageDescriptor *last_desc;
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

/* Bytes written so far (the buffer's length once synced). */
static inline size_t out_len(const enc *e) {
  return (size_t)(e->cur - e->b->data);
}

/* Writers reserve room for the most they may write (26 bytes for any integer, say), so
 * near the buffer's limit a reservation may pass it when the text would not. The window
 * therefore ignores the limit by up to this margin, every reservation beyond it is an
 * overflow for certain, and the length is checked against the limit at the end. */
#define EEI_ROOM_MARGIN 64

/* Points the window at b's storage after b->len; b->data is never NULL here. */
static void set_window(enc *e) {
  e->cur = e->b->data + e->b->len;
  e->end = e->cap_end = e->b->data + e->b->cap - 1;
}

static int overflow(enc *e) {
  return efail(e, EE_RESOURCE_EXHAUSTED, "output exceeds the %zu-byte limit", e->limit);
}

/* Room for n more bytes, or an error if they pass the limit by more than the margin. */
static int grow(enc *e, size_t n) {
  size_t len = out_len(e);
  if (len > e->limit || n > e->limit - len + EEI_ROOM_MARGIN) return overflow(e);
  ee_status st;
  size_t saved = e->b->limit;
  e->b->limit = e->limit + EEI_ROOM_MARGIN;
  e->b->len = len;
  ee_code rc = ee_buf_reserve(e->b, n, &st);
  e->b->limit = saved;
  if (rc != EE_OK) return efail(e, st.code, "%s", st.message);
  set_window(e);
  return 0;
}

/* Room for n more bytes (plus the buffer's NUL). */
static inline int room(enc *e, size_t n) {
  if ((size_t)(e->end - e->cur) >= n) return 0;
  return grow(e, n);
}

static inline void put_c(enc *e, char c) {
  *e->cur++ = c;
}

/* Short copies dominate (keys, numbers, small strings): overlapping word moves avoid a
 * libc call for anything up to 16 bytes. */
static inline __attribute__((always_inline)) void copy_small(char *d, const char *s, size_t n) {
  if (n >= 8 && n <= 16) {
    uint64_t a, b;
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
    memcpy(d, &a, 8);
    memcpy(d + n - 8, &b, 8);
  } else if (n >= 4 && n < 8) {
    uint32_t a, b;
    memcpy(&a, s, 4);
    memcpy(&b, s + n - 4, 4);
    memcpy(d, &a, 4);
    memcpy(d + n - 4, &b, 4);
  } else if (n < 4) {
    for (size_t i = 0; i < n; i++) d[i] = s[i];
  } else {
    memcpy(d, s, n);
  }
}

/* A member key (padded, see eei_field) at o, which has room for n bytes: in 16-byte
 * blocks when the allocation has room for the overrun. */
static inline __attribute__((always_inline)) void copy_key(const enc *e, char *o, const char *key,
                                                           size_t n) {
  size_t blocks = (n + EEI_KEY_BLOCK - 1) / EEI_KEY_BLOCK * EEI_KEY_BLOCK;
  if (n <= 16 || (size_t)(e->cap_end - o) < blocks) {
    copy_small(o, key, n);
    return;
  }
  for (size_t i = 0; i < n; i += EEI_KEY_BLOCK) memcpy(o + i, key + i, EEI_KEY_BLOCK);
}

static inline __attribute__((always_inline)) void put_n(enc *e, const char *s, size_t n) {
  copy_small(e->cur, s, n);
  e->cur += n;
}

static inline __attribute__((always_inline)) int write_raw(enc *e, const char *s, size_t n) {
  if (room(e, n) != 0) return -1;
  put_n(e, s, n);
  return 0;
}

static int newline_indent(enc *e, int level) {
  size_t n = (size_t)level * (size_t)e->indent;
  if (room(e, n + 1) != 0) return -1;
  put_c(e, '\n');
  memset(e->cur, ' ', n);
  e->cur += n;
  return 0;
}

static inline int open_container(enc *e, char c) {
  if (++e->depth > e->max_depth)
    return efail(e, EE_INVALID_ARGUMENT, "message nests deeper than the limit of %d", e->max_depth);
  return write_raw(e, &c, 1);
}

/* Before each member or element: the comma, and in pretty mode a new line. */
static inline int next_item(enc *e, size_t *count) {
  if (room(e, 1) != 0) return -1;
  if ((*count)++) put_c(e, ',');
  return e->indent ? newline_indent(e, e->depth) : 0;
}

static inline int close_container(enc *e, size_t count, char c) {
  e->depth--;
  if (e->indent && count && newline_indent(e, e->depth) != 0) return -1;
  return write_raw(e, &c, 1);
}

static inline int write_key_sep(enc *e) {
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

/* Bytes with a two-character escape. */
static const bool k_short_escape[256] = {['"'] = true,  ['\\'] = true, ['\b'] = true, ['\f'] = true,
                                         ['\n'] = true, ['\r'] = true, ['\t'] = true};

static void put_escape(enc *e, unsigned char c) {
  static const char hex[] = "0123456789abcdef";
  char *o = e->cur;
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
      e->cur += 6;
      return;
  }
  e->cur += 2;
}

/* Strings are copied in blocks while they are scanned; the copy may run up to this many
 * bytes past the string's end (overwritten by what follows), so room is reserved for it. */
#define EEI_STRING_SLACK 16

enum { STRING_OK = 0, STRING_NUL = 1 };

#if EEI_USE_SSE2
/* Bits set where a byte of v needs attention: '"', '\\', a control or a non-ASCII byte
 * (the signed compare puts bytes >= 0x80 below 0x20). */
static inline unsigned special_bits(__m128i v) {
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x20);
  __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                           _mm_cmplt_epi8(v, ctl));
  return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Whether any of the 8 bytes in x needs attention (the classic has-zero-byte tricks). */
static inline bool special_in8(uint64_t x) {
  const uint64_t lo = 0x0101010101010101u, hi = 0x8080808080808080u;
  uint64_t q = x ^ (lo * '"'), b = x ^ (lo * '\\');
  return ((x | ((x - lo * 0x20) & ~x) | ((q - lo) & ~q) | ((b - lo) & ~b)) & hi) != 0;
}

/* Copies the plain bytes from *pp (none of '"', '\\', controls, non-ASCII) to *op and
 * stops at the first byte that is not plain, or at end. With blocks, the output has room
 * for the rest of the input plus EEI_STRING_SLACK and is copied in blocks, and the input
 * may be read anywhere in [start, end). */
static inline __attribute__((always_inline)) void copy_plain(const unsigned char *start,
                                                             const unsigned char **pp,
                                                             const unsigned char *end, char **op,
                                                             bool blocks) {
  const unsigned char *p = *pp;
  char *o = *op;
#if EEI_USE_SSE2
  while (blocks && end - p >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    _mm_storeu_si128((__m128i *)(void *)o, v);
    unsigned bits = special_bits(v);
    if (bits) {
      unsigned k = (unsigned)__builtin_ctz(bits);
      *pp = p + k;
      *op = o + k;
      return;
    }
    p += 16;
    o += 16;
  }
#endif
  while (blocks && end - p >= 8) {
    uint64_t x;
    memcpy(&x, p, 8);
    memcpy(o, &x, 8);
    if (special_in8(x)) break;
    p += 8;
    o += 8;
  }
  /* The last 1..7 bytes of a string of at least 8: one load of its last 8 bytes, the ones
   * before p shifted out and replaced by plain filler. */
#if EEI_LITTLE_ENDIAN /* the shift below keeps the last bytes: the high ones on LE */
  size_t rest = (size_t)(end - p);
  if (blocks && rest > 0 && rest < 8 && end - start >= 8) {
    uint64_t x;
    memcpy(&x, end - 8, 8);
    x = x >> (8 * (8 - rest)) | 0x6161616161616161u << (8 * rest);
    if (!special_in8(x)) {
      memcpy(o, &x, 8);
      *pp = end;
      *op = o + rest;
      return;
    }
  }
#else
  (void)start;
#endif
  while (p < end && !k_esc[*p]) *o++ = (char)*p++;
  *pp = p;
  *op = o;
}

/* Room for need more bytes; *blocks says whether the slack for block copies is there too
 * (it is not counted against the buffer's limit, so near the limit it may be missing). */
static inline int string_room(enc *e, size_t need, bool *blocks) {
  if (room(e, need) != 0) return -1;
  *blocks = (size_t)(e->cap_end - e->cur) >= need + EEI_STRING_SLACK;
  if (!*blocks && out_len(e) + need + EEI_STRING_SLACK <= e->limit + EEI_ROOM_MARGIN) {
    if (grow(e, need + EEI_STRING_SLACK) != 0) return -1;
    *blocks = true;
  }
  return 0;
}

/* The quoted, escaped string. With nul_stops, a NUL byte ends the attempt with STRING_NUL
 * (the output is then partial; the caller rewinds). */
static inline int put_string(enc *e, const char *s, size_t n, bool nul_stops) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  bool blocks;
  if (string_room(e, n + 2, &blocks) != 0) return -1;
  char *o = e->cur;
  *o++ = '"';
  for (;;) {
    if (blocks)
      copy_plain((const unsigned char *)s, &p, end, &o, true);
    else
      copy_plain((const unsigned char *)s, &p, end, &o, false);
    if (p >= end) break;
    if (k_esc[*p] == 1) {
      if (*p == 0 && nul_stops) return STRING_NUL;
      e->cur = o;
      /* this escape (2 or 6 bytes), the rest at least as long, the closing quote */
      size_t esc = k_short_escape[*p] ? 2 : 6;
      if (string_room(e, (size_t)(end - p) - 1 + esc + 1, &blocks) != 0) return -1;
      put_escape(e, *p++);
      o = e->cur;
    } else {
      size_t k = eei_utf8_seq(p, end);
      if (!k) return efail(e, EE_INVALID_ARGUMENT, "string is not valid UTF-8");
      memcpy(o, p, k);
      o += k;
      p += k;
    }
  }
  *o++ = '"';
  e->cur = o;
  return STRING_OK;
}

static int write_string(enc *e, const char *s, size_t n) {
  return put_string(e, s, n, false);
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
    char *o = e->cur;
    e->cur += is_float ? eei_format_float((float)v, o) : eei_format_double(v, o);
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
  e->cur += eei_format_i64(v, e->cur);
  return 0;
}

static int write_bytes(enc *e, const ProtobufCBinaryData *bd) {
  size_t n = eei_base64_encoded_len(bd->len);
  if (room(e, n + 2) != 0) return -1;
  put_c(e, '"');
  if (bd->len) eei_base64_encode(bd->data, bd->len, e->cur);
  e->cur += n;
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
      e->cur += eei_format_i64(*(const int32_t *)p, e->cur);
      return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      if (room(e, 24) != 0) return -1;
      e->cur += eei_format_u64(*(const uint32_t *)p, e->cur);
      return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      if (room(e, 26) != 0) return -1;
      put_c(e, '"');
      o = e->cur;
      e->cur += eei_format_i64(*(const int64_t *)p, o);
      put_c(e, '"');
      return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      if (room(e, 26) != 0) return -1;
      put_c(e, '"');
      o = e->cur;
      e->cur += eei_format_u64(*(const uint64_t *)p, o);
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
static inline int write_child(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg) {
  if (!mi) return efail(e, EE_RESOURCE_EXHAUSTED, "out of memory");
  if (msg) return write_message(e, mi, msg);
  ProtobufCMessage *tmp = malloc(mi->desc->sizeof_message);
  if (!tmp) return efail(e, EE_RESOURCE_EXHAUSTED, "out of memory");
  protobuf_c_message_init(mi->desc, tmp);
  int rc = write_message(e, mi, tmp);
  free(tmp);
  return rc;
}

static inline bool is_present(const eei_field *f, const ProtobufCMessage *msg) {
  return eei_presence_holds(f->presence, f->fd, msg);
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
  char *o = e->cur;
  if (is64)
    e->cur += is_unsigned ? eei_format_u64(*(const uint64_t *)p, o)
                          : eei_format_i64(*(const int64_t *)p, o);
  else
    e->cur += is_unsigned ? eei_format_u64(*(const uint32_t *)p, o)
                          : eei_format_i64(*(const int32_t *)p, o);
  put_c(e, '"');
  return 0;
}

/* Messages decoded into a churned heap sit all over memory, and printing them is a
 * pointer chase; touching the entries a few steps ahead lets the loads overlap. */
#define EEI_PREFETCH_AHEAD 8

static inline void prefetch_entries(ProtobufCMessage *const *ents, size_t i, size_t n,
                                    const ProtobufCFieldDescriptor *kfd,
                                    const ProtobufCFieldDescriptor *vfd) {
  if (i + EEI_PREFETCH_AHEAD < n) __builtin_prefetch(ents[i + EEI_PREFETCH_AHEAD]);
  size_t j = i + EEI_PREFETCH_AHEAD / 2;
  if (j < n && ents[j]) {
    if (kfd->type == PROTOBUF_C_TYPE_STRING)
      __builtin_prefetch(EEI_MEMBER(char *, ents[j], kfd->offset));
    if (vfd->type == PROTOBUF_C_TYPE_MESSAGE || vfd->type == PROTOBUF_C_TYPE_STRING)
      __builtin_prefetch(EEI_MEMBER(void *, ents[j], vfd->offset));
  }
}

static int write_map(enc *e, const eei_field *f, const ProtobufCMessage *msg) {
  size_t n = EEI_MEMBER(size_t, msg, f->fd->quantifier_offset), count = 0;
  ProtobufCMessage *const *ents = EEI_MEMBER(ProtobufCMessage **, msg, f->fd->offset);
  const ProtobufCFieldDescriptor *kfd = f->map_key, *vfd = f->map_value;
  const eei_msg_info *child = vfd->type == PROTOBUF_C_TYPE_MESSAGE ? eei_field_child(f) : NULL;
  if (open_container(e, '{') != 0) return -1;
  for (size_t i = 0; i < n; i++) {
    prefetch_entries(ents, i, n, kfd, vfd);
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
  size_t elem = eei_storage_size(fd->type);
  if (open_container(e, '[') != 0) return -1;
  for (size_t i = 0; i < n; i++) {
    if (child && i + EEI_PREFETCH_AHEAD < n)
      __builtin_prefetch(((ProtobufCMessage *const *)(const void *)arr)[i + EEI_PREFETCH_AHEAD]);
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

/* ',' and the key of a member, then room for value_room more bytes: one reservation in
 * compact form. */
static inline __attribute__((always_inline)) int put_key(enc *e, const eei_field *f, size_t *count,
                                                         size_t value_room) {
  bool proto = e->proto_names;
  const char *key = proto ? f->enc_proto : f->enc_json;
  size_t n = proto ? f->enc_proto_len : f->enc_json_len;
  if (e->indent)
    return next_item(e, count) != 0 || write_raw(e, key, n) != 0 || write_key_sep(e) != 0 ||
                   room(e, value_room) != 0
               ? -1
               : 0;
  if (room(e, n + 2 + value_room) != 0) return -1;
  char *o = e->cur;
  size_t c = *count;
  *o = ',';
  o += c != 0;
  *count = c + 1;
  copy_key(e, o, key, n);
  o[n] = ':';
  e->cur = o + n + 1;
  return 0;
}

static int write_member(enc *e, const eei_field *f, const ProtobufCMessage *msg, size_t *count) {
  if (put_key(e, f, count, 0) != 0) return -1;
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
  if (mi->oneof_only && !e->emit_defaults) {
    /* Every field is a member of one oneof (ValueNode and the like): go by the case. */
    uint32_t id = EEI_MEMBER(uint32_t, msg, mi->oneof_case_offset);
    const eei_field *f = id ? eei_msg_field_by_number(mi, id) : NULL;
    return f ? write_member(e, f, msg, count) : 0;
  }
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

/* The quoted text of a Timestamp or Duration, formatted in place; -1 when out of range
 * (no error set) or out of room (error set). */
static int put_time(enc *e, int64_t sec, int32_t nanos, bool duration) {
  if (room(e, EEI_TIME_TEXT_MAX + 2) != 0) return -1;
  char *o = e->cur;
  size_t n = duration ? eei_format_duration(sec, nanos, o + 1)
                      : eei_format_timestamp(sec, nanos, o + 1, &e->dates);
  if (!n) return -1;
  o[0] = '"';
  o[n + 1] = '"';
  e->cur = o + n + 2;
  return 0;
}

static int write_time(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg, bool duration) {
  int64_t sec = EEI_MEMBER(int64_t, msg, eei_msg_field_by_number(mi, 1)->fd->offset);
  int32_t nanos = EEI_MEMBER(int32_t, msg, eei_msg_field_by_number(mi, 2)->fd->offset);
  if (put_time(e, sec, nanos, duration) != 0)
    return e->failed ? -1
                     : efail(e, EE_INVALID_ARGUMENT,
                             duration ? "Duration out of range (seconds %lld, nanos %d)"
                                      : "Timestamp out of range (seconds %lld, nanos %d)",
                             (long long)sec, (int)nanos);
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
  const ProtobufCFieldDescriptor *fd = eei_msg_field_by_number(mi, 1)->fd;
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
  const eei_field *f1 = eei_msg_field_by_number(mi, 1);
  uint32_t kind = EEI_MEMBER(uint32_t, msg, f1->fd->quantifier_offset);
  const eei_field *f = kind ? eei_msg_field_by_number(mi, kind) : NULL;
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
  const eei_field *f = eei_msg_field_by_number(mi, 1);
  return write_scalar(e, f->fd, (const char *)msg + f->fd->offset);
}

/* ------------------------------------------------------------------ Any fast path
 *
 * An Any carries its message as wire bytes. Unpacking them with protobuf-c, printing the
 * tree and freeing it costs more than the printing itself, so when the payload is in the
 * canonical form every serializer writes (fields in number order, each repeated field in
 * one run, no singular field twice, no two members of a oneof) and its type uses nothing
 * but scalars, strings, bytes, enums, repeated fields and nested messages, Timestamps and
 * Durations, the bytes are printed directly. Anything else, and any error, falls back to
 * the general path, which then prints (or reports) exactly what it always does: so the
 * fast path must never accept bytes protobuf-c refuses (field number 0, tags or length
 * prefixes over 5 bytes). fuzz_json_any holds the two paths to the same output. */

enum { STREAM_OK = 0, STREAM_FALLBACK = 1 };

static inline int wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  const uint8_t *q = *p;
  if (q < end && *q < 0x80) {
    *out = *q;
    *p = q + 1;
    return 0;
  }
  uint64_t v = 0;
  if (end - q >= 10) { /* the common case: no bounds check per byte */
    for (int i = 0; i < 10; i++) {
      uint64_t b = q[i];
      v |= (b & 0x7f) << (7 * i);
      if (b < 0x80) {
        *out = v;
        *p = q + i + 1;
        return 0;
      }
    }
    return -1;
  }
  for (int shift = 0; shift < 64 && q < end; shift += 7) {
    uint8_t b = *q++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      *p = q;
      return 0;
    }
  }
  return -1;
}

/* protobuf-c reads tags and length prefixes of at most 5 bytes and refuses longer
 * (over-long) encodings; the fast path must refuse what the general path refuses. */
#define EEI_WIRE_SHORT_MAX 5

static inline int wire_short(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  const uint8_t *start = *p;
  if (wire_varint(p, end, out) != 0 || *p - start > EEI_WIRE_SHORT_MAX) return -1;
  return 0;
}

/* One value of wire type wt: its bits (varint, fixed) or its span (length-delimited). */
typedef struct wire_val {
  uint64_t u;
  const uint8_t *s;
  size_t n;
} wire_val;

static inline __attribute__((always_inline)) int wire_read(int wt, const uint8_t **p,
                                                           const uint8_t *end, wire_val *v) {
  switch (wt) {
    case 0: return wire_varint(p, end, &v->u);
    case 1:
      if (end - *p < 8) return -1;
      v->u = eei_load_le64(*p);
      *p += 8;
      return 0;
    case 5:
      if (end - *p < 4) return -1;
      v->u = eei_load_le32(*p);
      *p += 4;
      return 0;
    case 2:
      if (wire_short(p, end, &v->u) != 0 || v->u > (uint64_t)(end - *p)) return -1;
      v->s = *p;
      v->n = (size_t)v->u;
      *p += v->n;
      return 0;
    default: return -1;
  }
}

/* Integer text at the cursor, quoted for the 64-bit types; the caller made room for 26. */
static inline void put_i64(enc *e, int64_t v, bool quoted) {
  if (quoted) *e->cur++ = '"';
  e->cur += eei_format_i64(v, e->cur);
  if (quoted) *e->cur++ = '"';
}

static inline void put_u64(enc *e, uint64_t v, bool quoted) {
  if (quoted) *e->cur++ = '"';
  e->cur += eei_format_u64(v, e->cur);
  if (quoted) *e->cur++ = '"';
}

/* Prints a varint/fixed value as protobuf-c would have stored it. */
static inline __attribute__((always_inline)) int write_wire_number(enc *e, const eei_field *f,
                                                                   uint64_t u) {
  if (room(e, 26) != 0) return -1;
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SFIXED32: put_i64(e, (int32_t)(uint32_t)u, false); return 0;
    case PROTOBUF_C_TYPE_SINT32:
      put_i64(e, (int32_t)((uint32_t)u >> 1 ^ -((uint32_t)u & 1)), false);
      return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: put_u64(e, (uint32_t)u, false); return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SFIXED64: put_i64(e, (int64_t)u, true); return 0;
    case PROTOBUF_C_TYPE_SINT64: put_i64(e, (int64_t)(u >> 1 ^ -(u & 1)), true); return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: put_u64(e, u, true); return 0;
    case PROTOBUF_C_TYPE_BOOL:
      if (u)
        put_n(e, "true", 4);
      else
        put_n(e, "false", 5);
      return 0;
    case PROTOBUF_C_TYPE_FLOAT: {
      uint32_t w = (uint32_t)u;
      float v;
      memcpy(&v, &w, 4);
      return write_real(e, v, true);
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
      double v;
      memcpy(&v, &u, 8);
      return write_real(e, v, false);
    }
    case PROTOBUF_C_TYPE_ENUM: return write_enum(e, f->fd->descriptor, (int)(uint32_t)u);
    default: return efail(e, EE_INTERNAL, "field %s is not a number", f->fd->name);
  }
}

/* Can this type's own fields be streamed (children are checked when reached)? */
static bool streamable(const eei_msg_info *mi) {
  int st = atomic_load_explicit(&((eei_msg_info *)mi)->stream_state, memory_order_relaxed);
  if (st) return st == 1;
  bool ok = mi->wkt == EEI_WKT_NONE || mi->wkt == EEI_WKT_TIMESTAMP || mi->wkt == EEI_WKT_DURATION;
  for (unsigned i = 0; ok && mi->wkt == EEI_WKT_NONE && i < mi->n_fields; i++) {
    const eei_field *f = &mi->fields[i];
    if (f->is_map || f->fd->label == PROTOBUF_C_LABEL_REQUIRED) ok = false;
  }
  atomic_store_explicit(&((eei_msg_info *)mi)->stream_state, ok ? 1 : 2, memory_order_relaxed);
  return ok;
}

static int stream_message(enc *e, const eei_msg_info *mi, const uint8_t *p, const uint8_t *end);

static inline __attribute__((always_inline)) int stream_value(enc *e, const eei_field *f,
                                                              const wire_val *v) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
      /* protobuf-c strings end at a NUL; let the general path print what it keeps */
      return put_string(e, (const char *)v->s, v->n, true) != STRING_OK ? STREAM_FALLBACK
                                                                        : STREAM_OK;
    case PROTOBUF_C_TYPE_BYTES: {
      ProtobufCBinaryData bd = {v->n, (uint8_t *)(uintptr_t)v->s};
      return write_bytes(e, &bd) != 0 ? STREAM_FALLBACK : STREAM_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
      const eei_msg_info *c = eei_field_child(f);
      if (!c || !streamable(c)) return STREAM_FALLBACK;
      return stream_message(e, c, v->s, v->s + v->n);
    }
    default: return write_wire_number(e, f, v->u) != 0 ? STREAM_FALLBACK : STREAM_OK;
  }
}

/* All consecutive entries of repeated field f (first one already read) as one array. */
static int stream_repeated(enc *e, const eei_field *f, uint64_t tag, int wt, wire_val *v,
                           const uint8_t **pp, const uint8_t *end, size_t *elems) {
  int fwt = f->wire_type;
  size_t n = 0;
  for (;;) {
    if (wt == 2 && fwt != 2) { /* packed scalars */
      const uint8_t *q = v->s, *qe = v->s + v->n;
      while (q < qe) {
        wire_val x = {0, NULL, 0};
        if (wire_read(fwt, &q, qe, &x) != 0) return STREAM_FALLBACK;
        if (next_item(e, &n) != 0 || stream_value(e, f, &x) != STREAM_OK) return STREAM_FALLBACK;
      }
    } else if (wt == fwt) {
      if (next_item(e, &n) != 0 || stream_value(e, f, v) != STREAM_OK) return STREAM_FALLBACK;
    } else {
      return STREAM_FALLBACK;
    }
    const uint8_t *q = *pp;
    uint64_t t;
    if (q >= end || wire_short(&q, end, &t) != 0 || (t >> 3) != (tag >> 3)) break;
    wt = (int)(t & 7);
    if (wire_read(wt, &q, end, v) != 0) return STREAM_FALLBACK;
    *pp = q;
  }
  *elems = n;
  return STREAM_OK;
}

/* One singular member whose tag (of wire type wt) has been read: its value is read,
 * skipped when proto3 omits it, else printed with its key. */
static inline __attribute__((always_inline)) int stream_singular(enc *e, const eei_field *f, int wt,
                                                                 const uint8_t **pp,
                                                                 const uint8_t *end,
                                                                 size_t *count) {
  wire_val v = {0, NULL, 0};
  if (wt != f->wire_type || wire_read(wt, pp, end, &v) != 0) return STREAM_FALLBACK;
  /* (a length for strings and bytes; 32-bit types keep only the low half of a varint) */
  if (f->skip_zero && (f->narrow ? (uint32_t)v.u == 0 : v.u == 0)) return STREAM_OK;
  if (put_key(e, f, count, 0) != 0) return STREAM_FALLBACK;
  return stream_value(e, f, &v);
}

/* The members of a canonical payload into an open object (count members so far). */
static int stream_fields(enc *e, const eei_msg_info *mi, const uint8_t *p, const uint8_t *end,
                         size_t *count_io) {
  size_t count = *count_io; /* a local the compiler can keep in a register */
  uint32_t last = 0;
  unsigned oneofs_seen[8];
  size_t n_oneofs = 0;
  while (p < end) {
    uint64_t tag;
    wire_val v = {0, NULL, 0};
    if (wire_short(&p, end, &tag) != 0) return STREAM_FALLBACK;
    uint32_t num = (uint32_t)(tag >> 3);
    int wt = (int)(tag & 7);
    if (num == 0 || tag >> 32) return STREAM_FALLBACK;
    const eei_field *f = eei_msg_field_by_number(mi, num);
    if (num <= last) {
      if (num == last || f) return STREAM_FALLBACK;
      if (wire_read(wt, &p, end, &v) != 0) return STREAM_FALLBACK;
      continue; /* an unknown field out of order is harmless */
    }
    last = num; /* also for unknown fields, so a known one after them is caught above */
    if (!f) {   /* unknown */
      if (wire_read(wt, &p, end, &v) != 0) return STREAM_FALLBACK;
      continue;
    }
    if (f->is_oneof) {
      for (size_t i = 0; i < n_oneofs; i++)
        if (oneofs_seen[i] == f->fd->quantifier_offset) return STREAM_FALLBACK;
      if (n_oneofs == 8) return STREAM_FALLBACK;
      oneofs_seen[n_oneofs++] = f->fd->quantifier_offset;
    }
    if (!f->repeated) {
      if (stream_singular(e, f, wt, &p, end, &count) != STREAM_OK) return STREAM_FALLBACK;
      continue;
    }
    if (wire_read(wt, &p, end, &v) != 0) return STREAM_FALLBACK;
    size_t mark = out_len(e), before = count, elems = 0;
    if (put_key(e, f, &count, 0) != 0 || open_container(e, '[') != 0 ||
        stream_repeated(e, f, tag, wt, &v, &p, end, &elems) != 0 ||
        close_container(e, elems, ']') != 0)
      return STREAM_FALLBACK;
    if (elems == 0) { /* an empty packed run: protobuf-c would hold no elements */
      e->cur = e->b->data + mark;
      count = before;
    }
    /* a later run of the same field has a number <= last and falls back */
  }
  *count_io = count;
  return STREAM_OK;
}

static int stream_time(enc *e, const eei_msg_info *mi, const uint8_t *p, const uint8_t *end) {
  int64_t sec = 0;
  int32_t nanos = 0;
  while (p < end) {
    uint64_t tag;
    wire_val v = {0, NULL, 0};
    if (wire_short(&p, end, &tag) != 0 || (tag >> 3) == 0 || tag >> 32 ||
        wire_read((int)(tag & 7), &p, end, &v) != 0)
      return STREAM_FALLBACK; /* (number 0 or past 2^29-1: the general path says so) */
    if (tag == (1 << 3))
      sec = (int64_t)v.u;
    else if (tag == (2 << 3))
      nanos = (int32_t)(uint32_t)v.u;
    else if ((tag >> 3) == 1 || (tag >> 3) == 2)
      return STREAM_FALLBACK;
  }
  return put_time(e, sec, nanos, mi->wkt == EEI_WKT_DURATION) != 0 ? STREAM_FALLBACK : STREAM_OK;
}

static int stream_message(enc *e, const eei_msg_info *mi, const uint8_t *p, const uint8_t *end) {
  if (mi->wkt != EEI_WKT_NONE) return stream_time(e, mi, p, end);
  size_t count = 0;
  if (open_container(e, '{') != 0 || stream_fields(e, mi, p, end, &count) != STREAM_OK ||
      close_container(e, count, '}') != 0)
    return STREAM_FALLBACK;
  return STREAM_OK;
}

/* Tries the fast path for an Any's payload; on fallback the output and the error state
 * are as they were. */
static int stream_any(enc *e, const eei_msg_info *inner_mi, const char *url, size_t url_len,
                      const ProtobufCBinaryData *val) {
  if (e->emit_defaults || inner_mi->wkt != EEI_WKT_NONE || !streamable(inner_mi))
    return STREAM_FALLBACK;
  size_t mark = out_len(e), path_start = e->path_start;
  int depth = e->depth;
  size_t count = 1;
  const uint8_t *p = val->data ? val->data : (const uint8_t *)"";
  if (open_container(e, '{') == 0 && (!e->indent || newline_indent(e, e->depth) == 0) &&
      write_raw(e, "\"@type\"", 7) == 0 && write_key_sep(e) == 0 &&
      write_string(e, url, url_len) == 0 &&
      stream_fields(e, inner_mi, p, p + val->len, &count) == STREAM_OK &&
      close_container(e, count, '}') == 0)
    return STREAM_OK;
  e->cur = e->b->data + mark;
  e->depth = depth;
  e->failed = false;
  e->path_start = path_start;
  e->path_cut = false;
  return STREAM_FALLBACK;
}

static int write_any(enc *e, const eei_msg_info *mi, const ProtobufCMessage *msg) {
  const char *url = EEI_MEMBER(char *, msg, eei_msg_field_by_number(mi, 1)->fd->offset);
  const ProtobufCBinaryData *val =
      &EEI_MEMBER(ProtobufCBinaryData, msg, eei_msg_field_by_number(mi, 2)->fd->offset);
  if ((!url || !*url) && val->len == 0) return write_raw(e, "{}", 2);
  /* Any lists usually repeat one type: remember the last one (a copy, since the URL may
   * belong to a message unpacked and freed inside an earlier Any). */
  const ProtobufCMessageDescriptor *desc;
  size_t url_len = url ? strlen(url) : 0;
  if (url && e->last_desc && url_len == e->last_url_len && memcmp(url, e->last_url, url_len) == 0) {
    desc = e->last_desc;
  } else {
    desc = url ? ee_json_registry_find(e->reg, url) : NULL;
    e->last_desc = NULL;
    if (desc && url_len < sizeof e->last_url) {
      memcpy(e->last_url, url, url_len + 1);
      e->last_url_len = url_len;
      e->last_desc = desc;
    }
  }
  if (!desc)
    return efail(e, EE_INVALID_ARGUMENT, "Any type \"%s\" is not in the type registry",
                 url ? url : "");
  const eei_msg_info *inner_mi = eei_msg_info_get(desc);
  if (!inner_mi) return efail(e, EE_RESOURCE_EXHAUSTED, "out of memory");
  if (stream_any(e, inner_mi, url, url_len, val) == STREAM_OK) return 0;
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
  ee_code rc = ee_buf_reserve(out, 0, st); /* st may be NULL: keep the code here */
  if (rc != EE_OK) return rc;
  set_window(&e);
  if (write_message(&e, mi, msg) != 0 || room(&e, 0) != 0 ||
      (out_len(&e) > e.limit && overflow(&e))) {
    out->len = start;
    if (out->data) out->data[start] = '\0';
    const char *path = e.path + e.path_start;
    if (*path == '.') path++;
    if (*path)
      return ee_status_set(st, e.code, "%s%s: %s", e.path_cut ? "..." : "", path, e.reason);
    return ee_status_set(st, e.code, "%s", e.reason);
  }
  out->len = out_len(&e);
  out->data[out->len] = '\0';
  ee_status_clear(st);
  return EE_OK;
}
