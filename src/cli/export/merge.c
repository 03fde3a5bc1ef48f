/* Protobuf merge of two decoded messages (MergeFrom semantics), driven by descriptors.
 *
 * Why not concatenate the binary encodings and unpack again: protobuf-c 1.4.1 gets
 * merging wrong (DESIGN.md, known traps): a oneof message member that occurs twice is
 * replaced instead of merged, a singular message field that occurs twice loses members,
 * and a repeated map key keeps both entries. Here, for each field set in src:
 *   - a singular scalar (proto3: non-default) or string replaces dst's;
 *   - a singular message merges into dst's, field by field;
 *   - a oneof member merges into dst's when dst has the same member, else replaces it;
 *   - a map entry replaces dst's entry with the same key, others are appended;
 *   - other repeated fields are appended.
 * Memory: dst is a message protobuf-c unpacked (malloc); what it takes from src is
 * copied, so both are freed as usual. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MEMBER(m, off) ((void *)((char *)(m) + (off)))

static size_t scalar_size(ProtobufCType t) {
  switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    default: return 4; /* int32 kinds, float, enum */
  }
}

/* A deep copy (pack, then unpack: one occurrence of everything, which protobuf-c reads
 * right). NULL when out of memory. */
static ProtobufCMessage *clone(const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *bytes = malloc(n ? n : 1);
  if (!bytes) return NULL;
  protobuf_c_message_pack(m, bytes);
  ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, n, bytes);
  free(bytes);
  return copy;
}

/* Frees what one value slot owns and resets it to the field's default. */
static void free_value(const ProtobufCFieldDescriptor *f, void *slot) {
  if (f->type == PROTOBUF_C_TYPE_STRING) {
    char *s = *(char **)slot;
    if (s && s != (const char *)f->default_value && s != protobuf_c_empty_string) free(s);
    *(const char **)slot = f->default_value ? f->default_value : protobuf_c_empty_string;
  } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
    ProtobufCBinaryData *b = slot;
    const ProtobufCBinaryData *def = f->default_value;
    if (b->data && (!def || b->data != def->data)) free(b->data);
    b->data = NULL;
    b->len = 0;
  } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
    protobuf_c_message_free_unpacked(*(ProtobufCMessage **)slot, NULL);
    *(ProtobufCMessage **)slot = NULL;
  } else {
    memset(slot, 0, scalar_size(f->type));
  }
}

/* Copies one value from src's slot into dst's (empty) slot. */
static int copy_value(const ProtobufCFieldDescriptor *f, void *dst, const void *src) {
  if (f->type == PROTOBUF_C_TYPE_STRING) {
    const char *s = *(char *const *)src;
    char *d = strdup(s ? s : "");
    if (!d) return -1;
    *(char **)dst = d;
  } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
    const ProtobufCBinaryData *s = src;
    ProtobufCBinaryData *d = dst;
    d->len = s->len;
    d->data = malloc(s->len ? s->len : 1);
    if (!d->data) return -1;
    if (s->len) memcpy(d->data, s->data, s->len);
  } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
    const ProtobufCMessage *s = *(ProtobufCMessage *const *)src;
    *(ProtobufCMessage **)dst = s ? clone(s) : NULL;
    if (s && !*(ProtobufCMessage **)dst) return -1;
  } else {
    memcpy(dst, src, scalar_size(f->type));
  }
  return 0;
}

/* Whether a proto3 singular field without presence holds a non-default value. */
static bool is_set(const ProtobufCFieldDescriptor *f, const void *slot) {
  if (f->type == PROTOBUF_C_TYPE_STRING) {
    const char *s = *(char *const *)slot;
    return s && s[0];
  }
  if (f->type == PROTOBUF_C_TYPE_BYTES) return ((const ProtobufCBinaryData *)slot)->len > 0;
  if (f->type == PROTOBUF_C_TYPE_MESSAGE) return *(ProtobufCMessage *const *)slot != NULL;
  static const char zeros[8];
  return memcmp(slot, zeros, scalar_size(f->type)) != 0;
}

static int merge_message(ProtobufCMessage *dst, const ProtobufCMessage *src);

/* protoc's map entry: a message type "...Entry" with exactly key = 1 and value = 2. */
static bool is_map(const ProtobufCFieldDescriptor *f) {
  const ProtobufCMessageDescriptor *e = f->descriptor;
  if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE || !e)
    return false;
  size_t n = strlen(e->name);
  return e->n_fields == 2 && n > 5 && strcmp(e->name + n - 5, "Entry") == 0 &&
         e->fields[0].id == 1 && e->fields[1].id == 2;
}

static bool same_key(const ProtobufCMessage *a, const ProtobufCMessage *b) {
  const ProtobufCFieldDescriptor *k = &a->descriptor->fields[0];
  const void *x = MEMBER(a, k->offset), *y = MEMBER(b, k->offset);
  if (k->type == PROTOBUF_C_TYPE_STRING) {
    const char *s = *(char *const *)x, *t = *(char *const *)y;
    return strcmp(s ? s : "", t ? t : "") == 0;
  }
  return memcmp(x, y, scalar_size(k->type)) == 0;
}

static int merge_repeated(ProtobufCMessage *dst, const ProtobufCMessage *src,
                          const ProtobufCFieldDescriptor *f) {
  size_t *dn = MEMBER(dst, f->quantifier_offset);
  size_t sn = *(const size_t *)MEMBER(src, f->quantifier_offset);
  size_t esize = scalar_size(f->type);
  char **darr = MEMBER(dst, f->offset);
  char *const *sarr = MEMBER(src, f->offset);
  if (sn == 0) return 0;
  char *grown = realloc(*darr, (*dn + sn) * esize);
  if (!grown) return -1;
  *darr = grown;
  bool map = is_map(f);
  for (size_t i = 0; i < sn; i++) {
    const void *from = *sarr + i * esize;
    size_t at = *dn;
    for (size_t j = 0; map && j < *dn; j++)
      if (same_key(*(ProtobufCMessage **)(grown + j * esize), *(ProtobufCMessage *const *)from)) {
        free_value(f, grown + j * esize);
        at = j;
        break;
      }
    if (copy_value(f, grown + at * esize, from)) return -1;
    if (at == *dn) (*dn)++;
  }
  return 0;
}

static int merge_oneof_member(ProtobufCMessage *dst, const ProtobufCMessage *src,
                              const ProtobufCFieldDescriptor *f) {
  uint32_t *dcase = MEMBER(dst, f->quantifier_offset);
  uint32_t scase = *(const uint32_t *)MEMBER(src, f->quantifier_offset);
  if (scase != f->id) return 0;
  void *dslot = MEMBER(dst, f->offset);
  const void *sslot = MEMBER(src, f->offset);
  if (*dcase == f->id && f->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage **)dslot)
    return merge_message(*(ProtobufCMessage **)dslot, *(ProtobufCMessage *const *)sslot);
  if (*dcase != 0) {
    /* Another member (or this one, not a message) is set: it goes. */
    const ProtobufCFieldDescriptor *old =
        protobuf_c_message_descriptor_get_field(dst->descriptor, (unsigned)*dcase);
    if (old) free_value(old, dslot);
  }
  *dcase = 0;
  if (copy_value(f, dslot, sslot)) return -1;
  *dcase = f->id;
  return 0;
}

static int merge_field(ProtobufCMessage *dst, const ProtobufCMessage *src,
                       const ProtobufCFieldDescriptor *f) {
  if (f->label == PROTOBUF_C_LABEL_REPEATED) return merge_repeated(dst, src, f);
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) return merge_oneof_member(dst, src, f);
  void *dslot = MEMBER(dst, f->offset);
  const void *sslot = MEMBER(src, f->offset);
  bool has_flag = f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                  f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING;
  if (has_flag ? !*(const protobuf_c_boolean *)MEMBER(src, f->quantifier_offset)
               : !is_set(f, sslot))
    return 0;
  if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage **)dslot)
    return merge_message(*(ProtobufCMessage **)dslot, *(ProtobufCMessage *const *)sslot);
  free_value(f, dslot);
  if (copy_value(f, dslot, sslot)) return -1;
  if (has_flag) *(protobuf_c_boolean *)MEMBER(dst, f->quantifier_offset) = 1;
  return 0;
}

static int merge_message(ProtobufCMessage *dst, const ProtobufCMessage *src) {
  const ProtobufCMessageDescriptor *d = src->descriptor;
  if (dst->descriptor != d) return -1;
  for (unsigned i = 0; i < d->n_fields; i++)
    if (merge_field(dst, src, &d->fields[i])) return -1;
  return 0;
}

int cli_merge(ProtobufCMessage *dst, const ProtobufCMessage *src) {
  if (merge_message(dst, src)) return cli_error(EXIT_USAGE, EE_RESOURCE_EXHAUSTED, "out of memory");
  return 0;
}
