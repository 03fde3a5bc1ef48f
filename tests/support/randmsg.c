/* Random protobuf-c messages and their canonical dump (see randmsg.h). */
#include "randmsg.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

uint64_t ee_test_rng_next(ee_test_rng *rng) {
  /* splitmix64: tiny, seedable, good enough for test data. */
  uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static unsigned pick(ee_test_rng *rng, unsigned n) {
  return (unsigned)(ee_test_rng_next(rng) % n);
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (!p) abort();
  return p;
}

int ee_test_is_map_entry(const ProtobufCMessageDescriptor *desc) {
  size_t len = strlen(desc->name);
  return desc->n_fields == 2 && len > 5 && strcmp(desc->name + len - 5, "Entry") == 0 &&
         strcmp(desc->fields[0].name, "key") == 0 && strcmp(desc->fields[1].name, "value") == 0;
}

static size_t scalar_size(ProtobufCType type) {
  switch (type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    default: return 4;
  }
}

static char *random_utf8(ee_test_rng *rng) {
  static const char *const pieces[] = {"a",
                                       "Z",
                                       "0",
                                       "_",
                                       " ",
                                       "\"",
                                       "\\",
                                       "/",
                                       "\n",
                                       "\t",
                                       "\x01",
                                       "\x1f",
                                       "\x7f",
                                       "\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80",
                                       "\xe6\x97\xa5",
                                       "<",
                                       "&",
                                       "'"};
  unsigned n = pick(rng, 12);
  char *s = xcalloc(n * 4 + 1, 1);
  for (unsigned i = 0; i < n; i++) strcat(s, pieces[pick(rng, sizeof pieces / sizeof *pieces)]);
  return s;
}

static uint64_t random_int_bits(ee_test_rng *rng) {
  static const uint64_t edges[] = {1,
                                   2,
                                   127,
                                   128,
                                   0x7fffffff,
                                   0x80000000,
                                   0xffffffff,
                                   0x7fffffffffffffffULL,
                                   0x8000000000000000ULL,
                                   0xffffffffffffffffULL};
  if (pick(rng, 3) == 0) return edges[pick(rng, sizeof edges / sizeof *edges)];
  return ee_test_rng_next(rng) >> pick(rng, 64);
}

static double random_double(ee_test_rng *rng, bool allow_neg_zero) {
  static const double edges[] = {1.0,    -1.0,     0.1,       1e-300,        1.7976931348623157e308,
                                 5e-324, INFINITY, -INFINITY, 123456789.125, -2.5};
  unsigned k = pick(rng, 4);
  if (k == 0) return edges[pick(rng, sizeof edges / sizeof *edges)];
  if (k == 1 && allow_neg_zero) return -0.0;
  double d = (double)(int64_t)ee_test_rng_next(rng) / (double)(1ULL << pick(rng, 60));
  return d;
}

static void fill_value(void *slot, const ProtobufCFieldDescriptor *f, ee_test_rng *rng, int depth,
                       bool in_oneof_or_repeated, unsigned index);

static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *desc, ee_test_rng *rng,
                                     int depth);

/* Map keys must be unique for a field to mean the same thing in every language. */
static void fill_map_key(void *slot, const ProtobufCFieldDescriptor *f, ee_test_rng *rng,
                         unsigned index) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
      char *s = random_utf8(rng);
      char *k = xcalloc(strlen(s) + 16, 1);
      sprintf(k, "%u%s", index, s);
      free(s);
      *(char **)slot = k;
      break;
    }
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)slot = index & 1; break;
    default: {
      uint64_t v = (uint64_t)index * 1000003u + (pick(rng, 2) ? 0 : 0x80000000u);
      if (scalar_size(f->type) == 8)
        memcpy(slot, &v, 8);
      else {
        uint32_t v32 = (uint32_t)v;
        memcpy(slot, &v32, 4);
      }
    }
  }
}

static void fill_map_entry(ProtobufCMessage *entry, ee_test_rng *rng, int depth, unsigned index) {
  const ProtobufCMessageDescriptor *d = entry->descriptor;
  fill_map_key((char *)entry + d->fields[0].offset, &d->fields[0], rng, index);
  /* A map value is a singular field of the entry message, so -0.0 is not packed there. */
  fill_value((char *)entry + d->fields[1].offset, &d->fields[1], rng, depth, false, index);
}

static void fill_value(void *slot, const ProtobufCFieldDescriptor *f, ee_test_rng *rng, int depth,
                       bool in_oneof_or_repeated, unsigned index) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)slot = 1; break;
    case PROTOBUF_C_TYPE_ENUM: {
      const ProtobufCEnumDescriptor *e = f->descriptor;
      *(int *)slot = e->values[pick(rng, e->n_values)].value;
      break;
    }
    case PROTOBUF_C_TYPE_FLOAT:
      *(float *)slot = (float)random_double(rng, in_oneof_or_repeated);
      break;
    case PROTOBUF_C_TYPE_DOUBLE: *(double *)slot = random_double(rng, in_oneof_or_repeated); break;
    case PROTOBUF_C_TYPE_STRING: *(char **)slot = random_utf8(rng); break;
    case PROTOBUF_C_TYPE_BYTES: {
      ProtobufCBinaryData *b = slot;
      b->len = pick(rng, 9);
      b->data = xcalloc(b->len, 1);
      for (size_t i = 0; i < b->len; i++) b->data[i] = (uint8_t)ee_test_rng_next(rng);
      break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
      const ProtobufCMessageDescriptor *md = f->descriptor;
      ProtobufCMessage *m;
      if (ee_test_is_map_entry(md)) {
        m = xcalloc(1, md->sizeof_message);
        protobuf_c_message_init(md, m);
        fill_map_entry(m, rng, depth, index);
      } else {
        m = new_message(md, rng, depth + 1);
      }
      *(ProtobufCMessage **)slot = m;
      break;
    }
    default: {
      uint64_t v = random_int_bits(rng);
      if (scalar_size(f->type) == 8)
        memcpy(slot, &v, 8);
      else {
        uint32_t v32 = (uint32_t)v;
        memcpy(slot, &v32, 4);
      }
    }
  }
}

/* A nested message is possible at this depth only if the field's type has a way to stop
 * (we leave fields unset when the depth budget is gone). */
static bool can_set(const ProtobufCFieldDescriptor *f, int depth, int max_depth) {
  return f->type != PROTOBUF_C_TYPE_MESSAGE || depth < max_depth;
}

static int g_max_depth;

static void fill_repeated(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, ee_test_rng *rng,
                          int depth) {
  size_t n = can_set(f, depth, g_max_depth) ? 1 + pick(rng, 3) : 0;
  if (f->type == PROTOBUF_C_TYPE_MESSAGE && ee_test_is_map_entry(f->descriptor) &&
      ((const ProtobufCMessageDescriptor *)f->descriptor)->fields[0].type == PROTOBUF_C_TYPE_BOOL &&
      n > 2)
    n = 2;
  if (n == 0) return;
  size_t size = scalar_size(f->type);
  void *arr = xcalloc(n, size);
  for (size_t i = 0; i < n; i++)
    fill_value((char *)arr + i * size, f, rng, depth, true, (unsigned)i);
  *(size_t *)((char *)m + f->quantifier_offset) = n;
  *(void **)((char *)m + f->offset) = arr;
}

/* Picks one member of the oneof whose first member is fields[first]. */
static void fill_oneof(ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, unsigned first,
                       ee_test_rng *rng, int depth) {
  unsigned members[64], n = 0;
  for (unsigned i = first; i < d->n_fields && n < 64; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        f->quantifier_offset == d->fields[first].quantifier_offset &&
        can_set(f, depth, g_max_depth))
      members[n++] = i;
  }
  if (n == 0) return;
  const ProtobufCFieldDescriptor *f = &d->fields[members[pick(rng, n)]];
  fill_value((char *)m + f->offset, f, rng, depth, true, 0);
  *(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
}

/* proto2 `optional` scalars (descriptor.proto) keep presence in a has_ flag. */
static bool has_flag(const ProtobufCFieldDescriptor *f) {
  return f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
         f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING;
}

static bool oneof_seen(const ProtobufCMessageDescriptor *d, unsigned i) {
  for (unsigned j = 0; j < i; j++)
    if ((d->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        d->fields[j].quantifier_offset == d->fields[i].quantifier_offset)
      return true;
  return false;
}

static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *desc, ee_test_rng *rng,
                                     int depth) {
  ProtobufCMessage *m = xcalloc(1, desc->sizeof_message);
  protobuf_c_message_init(desc, m);
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      if (!oneof_seen(desc, i)) fill_oneof(m, desc, i, rng, depth);
    } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      fill_repeated(m, f, rng, depth);
    } else if (can_set(f, depth, g_max_depth)) {
      fill_value((char *)m + f->offset, f, rng, depth, false, 0);
      if (has_flag(f)) *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
    }
  }
  return m;
}

ProtobufCMessage *ee_test_new_random(const ProtobufCMessageDescriptor *desc, ee_test_rng *rng,
                                     int max_depth) {
  g_max_depth = max_depth;
  return new_message(desc, rng, 0);
}

/* ---- canonical dump ---- */

static void dump_message(const ProtobufCMessage *m, const char *path, FILE *out);

static void hex(FILE *out, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) fprintf(out, "%02x", p[i]);
}

static bool is_default(const void *slot, const ProtobufCFieldDescriptor *f) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: return (*(char *const *)slot)[0] == '\0';
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)slot)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE: return *(void *const *)slot == NULL;
    case PROTOBUF_C_TYPE_BOOL: return *(const protobuf_c_boolean *)slot == 0;
    case PROTOBUF_C_TYPE_FLOAT: return *(const float *)slot == 0;
    case PROTOBUF_C_TYPE_DOUBLE: return *(const double *)slot == 0;
    default: {
      uint64_t v = 0;
      memcpy(&v, slot, scalar_size(f->type));
      return v == 0;
    }
  }
}

static void dump_scalar(const void *slot, const ProtobufCFieldDescriptor *f, FILE *out) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM: fprintf(out, "%d", *(const int32_t *)slot); break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: fprintf(out, "%u", *(const uint32_t *)slot); break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: fprintf(out, "%lld", (long long)*(const int64_t *)slot); break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      fprintf(out, "%llu", (unsigned long long)*(const uint64_t *)slot);
      break;
    case PROTOBUF_C_TYPE_BOOL: fprintf(out, "%d", *(const protobuf_c_boolean *)slot ? 1 : 0); break;
    case PROTOBUF_C_TYPE_FLOAT: {
      uint32_t bits;
      memcpy(&bits, slot, 4);
      fprintf(out, "f%u", bits);
      break;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
      uint64_t bits;
      memcpy(&bits, slot, 8);
      fprintf(out, "d%llu", (unsigned long long)bits);
      break;
    }
    case PROTOBUF_C_TYPE_STRING: {
      const char *s = *(char *const *)slot;
      fputc('s', out);
      hex(out, (const uint8_t *)s, strlen(s));
      break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
      const ProtobufCBinaryData *b = slot;
      fputc('b', out);
      hex(out, b->data, b->len);
      break;
    }
    default: break;
  }
}

static void dump_value(const void *slot, const ProtobufCFieldDescriptor *f, const char *path,
                       FILE *out) {
  if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
    dump_message(*(ProtobufCMessage *const *)slot, path, out);
    return;
  }
  fprintf(out, "%s\t", path);
  dump_scalar(slot, f, out);
  fputc('\n', out);
}

static void dump_map_entry(const ProtobufCMessage *e, const char *field_path, FILE *out) {
  const ProtobufCMessageDescriptor *d = e->descriptor;
  char key[512];
  FILE *k = fmemopen(key, sizeof key, "w");
  dump_scalar((const char *)e + d->fields[0].offset, &d->fields[0], k);
  fclose(k);
  char path[2048];
  if (snprintf(path, sizeof path, "%s{%s}", field_path, key) >= (int)sizeof path) abort();
  const void *vslot = (const char *)e + d->fields[1].offset;
  if (d->fields[1].type == PROTOBUF_C_TYPE_MESSAGE && *(void *const *)vslot == NULL) {
    fprintf(out, "%s\t{}\n", path); /* a map value message is always present */
    return;
  }
  dump_value(vslot, &d->fields[1], path, out);
}

static void dump_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                       const char *prefix, FILE *out) {
  const char *base = (const char *)m;
  char path[1024];
  if (snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", f->name) >=
      (int)sizeof path)
    abort();
  if (f->label == PROTOBUF_C_LABEL_REPEATED) {
    size_t n = *(const size_t *)(base + f->quantifier_offset);
    const char *arr = *(char *const *)(base + f->offset);
    bool is_map = f->type == PROTOBUF_C_TYPE_MESSAGE && ee_test_is_map_entry(f->descriptor);
    for (size_t i = 0; i < n; i++) {
      const void *slot = arr + i * scalar_size(f->type);
      if (is_map) {
        dump_map_entry(*(ProtobufCMessage *const *)slot, path, out);
      } else {
        char ipath[1100];
        if (snprintf(ipath, sizeof ipath, "%s[%zu]", path, i) >= (int)sizeof ipath) abort();
        dump_value(slot, f, ipath, out);
      }
    }
    return;
  }
  const void *slot = base + f->offset;
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    if (*(const uint32_t *)(base + f->quantifier_offset) != f->id) return;
  } else if (has_flag(f)) {
    if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset)) return;
  } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type == PROTOBUF_C_TYPE_STRING) {
    if (*(char *const *)slot == NULL) return; /* proto2: NULL means absent */
  } else if (f->label != PROTOBUF_C_LABEL_REQUIRED && is_default(slot, f)) {
    return;
  }
  dump_value(slot, f, path, out);
}

static void dump_message(const ProtobufCMessage *m, const char *path, FILE *out) {
  fprintf(out, "%s\t{}\n", path);
  for (unsigned i = 0; i < m->descriptor->n_fields; i++)
    dump_field(m, &m->descriptor->fields[i], path, out);
}

void ee_test_dump(const ProtobufCMessage *msg, FILE *out) {
  dump_message(msg, "", out);
}
