/* Wire-format framing, depth and canonical-form check ahead of protobuf_c_message_unpack
 * (ee/wire.h, wire_internal.h). Recursion here is bounded by max_depth, which is the
 * point of the exercise.
 *
 * The same walk notices the input protobuf-c 1.4.1 parses wrongly (wire_internal.h): at
 * any level, a singular message field or a oneof occurring more than once, or a map key
 * occurring twice in one map, or a known field with a wire type its type cannot have (python
 * keeps it as an unknown field; protobuf-c refuses it, or for a bool reads garbage). Such
 * input is rewritten by eei_wire_canonicalize
 * (wire_canon.c) before protobuf-c sees it. Canonical input, what every serializer
 * writes, is handed to protobuf-c untouched: the check costs a bit test per message
 * field, a small search per oneof member and one key record per map entry. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ee/wire.h"
#include "wire_internal.h"

/* ------------------------------------------------------------------ shared helpers */

int eei_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (*p >= end) return -1;
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

const ProtobufCFieldDescriptor *eei_wire_field(const ProtobufCMessageDescriptor *desc, uint32_t num,
                                               unsigned *cursor) {
  /* protobuf-c's fields[] are sorted by number (its range lookup depends on it). */
  const ProtobufCFieldDescriptor *f = desc->fields;
  unsigned i = *cursor, n = desc->n_fields;
  if (i < n && f[i].id <= num) {
    while (i < n && f[i].id < num && i - *cursor < 4) i++;
    if (i < n && f[i].id == num) {
      *cursor = i;
      return &f[i];
    }
    if (i >= n || f[i].id > num) return NULL; /* a gap: unknown */
  }
  /* out of order, or a long way ahead: protobuf-c's binary search */
  const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, num);
  if (fd) *cursor = (unsigned)(fd - f);
  return fd;
}

bool eei_wire_is_map_field(const ProtobufCMessageDescriptor *parent,
                           const ProtobufCFieldDescriptor *fd) {
  if (!eei_wire_entry_like(fd)) return false;
  const ProtobufCMessageDescriptor *e = fd->descriptor;
  if (strcmp(e->fields[0].name, "key") != 0 || strcmp(e->fields[1].name, "value") != 0)
    return false;
  size_t plen = strlen(parent->name);
  if (strncmp(e->name, parent->name, plen) != 0 || e->name[plen] != '.') return false;
  const char *s = e->name + plen + 1, *p = fd->name;
  bool up = true;
  for (; *p; p++) {
    if (*p == '_') {
      up = true;
      continue;
    }
    char c = *p;
    if (up && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    up = false;
    if (*s++ != c) return false;
  }
  return strcmp(s, "Entry") == 0;
}

/* The wire type a value of this type travels with. */
static int key_wire_type(ProtobufCType t) {
  switch (t) {
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT: return 5;
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 1;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE: return 2;
    default: return 0;
  }
}

bool eei_wire_type_fits(const ProtobufCFieldDescriptor *fd, int wt) {
  int natural = key_wire_type(fd->type);
  return wt == natural || (wt == 2 && fd->label == PROTOBUF_C_LABEL_REPEATED); /* packed */
}

void eei_wire_set_key(const ProtobufCMessageDescriptor *entry, int wt, uint64_t v, const uint8_t *s,
                      size_t len, eei_wire_key *key) {
  ProtobufCType t = entry->fields[0].type;
  if (wt != key_wire_type(t)) return; /* a stray wire type: not the key */
  if (wt == 2) {
    /* protobuf-c keeps strings as C strings: a key is what it holds, up to a NUL ("a\0b"
     * and "a" are one key in the struct, so one of them must go) */
    const uint8_t *nul = len ? memchr(s, 0, len) : NULL;
    if (nul) len = (size_t)(nul - s);
    uint64_t h = 0; /* a hash of all the bytes (equal keys, equal v); "" is 0, as absent */
    for (size_t i = 0; i < len; i += 8) {
      uint64_t chunk = 0;
      memcpy(&chunk, s + i, len - i < 8 ? len - i : 8);
      h = (h ^ chunk) * 0xff51afd7ed558ccdu;
      h ^= h >> 29;
    }
    key->s = s;
    key->len = (uint32_t)len;
    key->v = h;
    return;
  }
  switch (t) {
    case PROTOBUF_C_TYPE_BOOL: v = v != 0; break;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_ENUM: v &= 0xffffffffu; break;
    default: break;
  }
  key->s = NULL;
  key->len = 0;
  key->v = v;
}

int eei_wire_key_cmp(const eei_wire_key *a, const eei_wire_key *b) {
  if (a->v != b->v) return a->v < b->v ? -1 : 1;
  if (a->len != b->len) return a->len < b->len ? -1 : 1;
  if (!a->len) return 0;
  return memcmp(a->s, b->s, a->len);
}

/* Reads one field's value of wire type wt: numbers into *v, a span into *s / *v. */
static int read_value(int wt, const uint8_t **p, const uint8_t *end, uint64_t *v,
                      const uint8_t **s) {
  switch (wt) {
    case 0: return eei_wire_varint(p, end, v);
    case 1:
    case 5: {
      size_t n = wt == 1 ? 8 : 4;
      if ((size_t)(end - *p) < n) return -1;
      uint8_t le[8] = {0};
      memcpy(le, *p, n);
      *v = 0;
      for (size_t i = n; i-- > 0;) *v = *v << 8 | le[i]; /* little-endian on any host */
      *p += n;
      return 0;
    }
    case 2:
      if (eei_wire_varint(p, end, v) != 0 || *v > (uint64_t)(end - *p)) return -1;
      *s = *p;
      *p += *v;
      return 0;
    default: return -1;
  }
}

void eei_wire_entry_key(const ProtobufCMessageDescriptor *entry, const uint8_t *p,
                        const uint8_t *end, eei_wire_key *key) {
  *key = (eei_wire_key){NULL, 0, 0};
  while (p < end) {
    uint64_t tag, v = 0;
    const uint8_t *s = NULL;
    if (eei_wire_varint(&p, end, &tag) != 0 || read_value((int)(tag & 7), &p, end, &v, &s) != 0)
      return; /* (the check has framed these bytes already) */
    if ((tag >> 3) == 1) eei_wire_set_key(entry, (int)(tag & 7), v, s, (size_t)v, key);
  }
}

/* ------------------------------------------------------------------ the check */

/* eei_wire_varint with the one-byte case (most tags and lengths) inline. */
static inline __attribute__((always_inline)) int fast_varint(const uint8_t **p, const uint8_t *end,
                                                             uint64_t *out) {
  if (*p < end && **p < 0x80) {
    *out = *(*p)++;
    return 0;
  }
  return eei_wire_varint(p, end, out);
}

/* One map entry's key, recorded for the duplicate test at the end of its message. */
typedef struct key_rec {
  eei_wire_key key;
  uint32_t field; /* index of the map field in the message's descriptor */
} key_rec;

/* Scratch kept per thread from one call to the next: the key stack and the hash table
 * that finds a repeated key. A map of 10,000 entries needs 400 KB of it, and allocating
 * that on every call costs more than the scan: a large malloc makes glibc consolidate the
 * small chunks protobuf-c's unpack is about to reuse. It is freed at thread exit, and
 * bounded by the largest map the thread has read (40 bytes per entry). */
typedef struct scratch {
  key_rec *keys;
  size_t cap;
  uint32_t *table;
  size_t table_cap;
} scratch;

static _Thread_local scratch tls_scratch;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static bool tls_key_ok;

static void scratch_free(void *p) {
  scratch *s = p;
  free(s->keys);
  free(s->table);
  memset(s, 0, sizeof *s);
}

static void scratch_key_init(void) {
  tls_key_ok = pthread_key_create(&tls_key, scratch_free) == 0;
}

/* Registers this thread's scratch for freeing at thread exit, before its first malloc. */
static void scratch_register(void) {
  pthread_once(&tls_once, scratch_key_init);
  if (tls_key_ok) pthread_setspecific(tls_key, &tls_scratch);
}

typedef struct walk {
  const uint8_t *base;
  int max_depth;
  ee_status *st;
  bool rewrite;  /* non-canonical input seen: later checks for it are skipped */
  key_rec *keys; /* the map keys of the messages on the current path, a stack */
  size_t n_keys, cap_keys;
  key_rec local[64]; /* the stack's first storage: most inputs need no more */
  /* "Is it a map?" answers by field, direct-mapped: the name comparison is not cheap, and
   * nested messages take turns with their map fields. */
  const ProtobufCFieldDescriptor *map_fd[8];
  bool map_is_map[8];
} walk;

/* Messages with more oneofs than this, all present, are taken for non-canonical: the
 * rewrite is right for any input, merely slower. */
#define WALK_MAX_ONEOFS 8

static ee_code bad(walk *w, const uint8_t *at, const char *why) {
  return ee_status_set(w->st, EE_INVALID_ARGUMENT, "malformed binary message: %s (byte %zu)", why,
                       (size_t)(at - w->base));
}

static ee_code push_key(walk *w, uint32_t field, const eei_wire_key *key) {
  if (w->n_keys == w->cap_keys) { /* past local[]: the thread's scratch */
    scratch *sc = &tls_scratch;
    if (sc->cap <= w->n_keys) {
      size_t cap = sc->cap ? sc->cap * 2 : 1024;
      while (cap <= w->n_keys) cap *= 2;
      if (!sc->keys) scratch_register();
      key_rec *k = realloc(sc->keys, cap * sizeof *k);
      if (!k) return ee_status_set(w->st, EE_RESOURCE_EXHAUSTED, "out of memory");
      sc->keys = k;
      sc->cap = cap;
    }
    if (w->keys != sc->keys) memcpy(sc->keys, w->keys, w->n_keys * sizeof *w->keys);
    w->keys = sc->keys;
    w->cap_keys = sc->cap;
  }
  w->keys[w->n_keys++] = (key_rec){*key, field};
  return EE_OK;
}

static inline bool same_key(const key_rec *a, const key_rec *b) {
  return a->field == b->field && eei_wire_key_cmp(&a->key, &b->key) == 0;
}

/* Do two entries of one map field share a key? Few keys: every pair; many: a hash table
 * (in the thread's scratch), so a map of n entries costs O(n). */
static int keys_repeat(walk *w, const key_rec *k, size_t n) {
  if (n <= 16) {
    for (size_t i = 1; i < n; i++)
      for (size_t j = 0; j < i; j++)
        if (same_key(&k[i], &k[j])) return 1;
    return 0;
  }
  scratch *sc = &tls_scratch;
  size_t cap = 64;
  while (cap < 2 * n) cap *= 2;
  if (sc->table_cap < cap) {
    if (!sc->keys && !sc->table) scratch_register();
    uint32_t *t = realloc(sc->table, cap * sizeof *t);
    if (!t) return ee_status_set(w->st, EE_RESOURCE_EXHAUSTED, "out of memory"), -1;
    sc->table = t;
    sc->table_cap = cap;
  }
  uint32_t *t = sc->table;
  memset(t, 0xff, cap * sizeof *t);
  for (size_t i = 0; i < n; i++) {
    uint64_t h = k[i].key.v ^ ((uint64_t)k[i].field << 40) ^ k[i].key.len;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    for (size_t slot = h & (cap - 1);; slot = (slot + 1) & (cap - 1)) {
      if (t[slot] == UINT32_MAX) {
        t[slot] = (uint32_t)i;
        break;
      }
      if (same_key(&k[t[slot]], &k[i])) return 1;
    }
  }
  return 0;
}

/* Is fd a map field? Most repeated message fields fail the cheap test; the others' answers
 * are cached. */
static inline bool is_map_cached(walk *w, const ProtobufCMessageDescriptor *desc,
                                 const ProtobufCFieldDescriptor *fd) {
  if (!eei_wire_entry_like(fd)) return false;
  size_t i = ((uintptr_t)fd >> 4) % 8;
  if (w->map_fd[i] != fd) {
    w->map_fd[i] = fd;
    w->map_is_map[i] = eei_wire_is_map_field(desc, fd);
  }
  return w->map_is_map[i];
}

/* Per message: the last known field number, and the oneofs that have occurred. */
typedef struct seen {
  uint32_t last;
  unsigned n_oneofs;
  unsigned oneofs[WALK_MAX_ONEOFS];
} seen;

/* Does this occurrence of fd make the message non-canonical? Serializers write fields in
 * number order, so a singular message field can only repeat where the numbers do not
 * rise; such a field out of order is taken for a repeat (the rewrite is right for any
 * input, merely slower). A oneof can hold two members in rising order, so its members are
 * remembered. */
static inline bool repeats(seen *s, const ProtobufCFieldDescriptor *fd) {
  uint32_t num = fd->id, last = s->last;
  if (num > last) s->last = num;
  if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    for (unsigned i = 0; i < s->n_oneofs; i++)
      if (s->oneofs[i] == fd->quantifier_offset) return true;
    if (s->n_oneofs == WALK_MAX_ONEOFS) return true;
    s->oneofs[s->n_oneofs++] = fd->quantifier_offset;
    return false;
  }
  return num <= last && fd->label != PROTOBUF_C_LABEL_REPEATED &&
         fd->type == PROTOBUF_C_TYPE_MESSAGE;
}

/* Walks the fields of one message of type desc. When key is not NULL, desc is a map
 * entry's type and *key receives its key. */
static ee_code walk_message(walk *w, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                            const uint8_t *end, int depth, eei_wire_key *key) {
  if (depth > w->max_depth)
    return ee_status_set(w->st, EE_INVALID_ARGUMENT,
                         "binary message nests deeper than the limit of %d (byte %zu)",
                         w->max_depth, (size_t)(p - w->base));
  seen s;
  s.last = 0;
  s.n_oneofs = 0;
  size_t keys_base = w->n_keys;
  unsigned cursor = 0;
  while (p < end) {
    const uint8_t *at = p, *span = NULL;
    uint64_t tag, v = 0;
    if (fast_varint(&p, end, &tag) != 0) return bad(w, at, "truncated tag");
    if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return bad(w, at, "invalid field number");
    int wt = (int)(tag & 7);
    uint32_t num = (uint32_t)(tag >> 3);
    switch (wt) {
      case 0:
        if (fast_varint(&p, end, &v) != 0) return bad(w, at, "truncated varint");
        break;
      case 2:
        if (fast_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
          return bad(w, at, "truncated length-delimited field");
        span = p;
        p += v;
        break;
      case 1:
      case 5:
        if (key && num == 1) { /* a fixed-width map key: its value is wanted */
          if (read_value(wt, &p, end, &v, &span) != 0) return bad(w, at, "truncated fixed field");
        } else {
          if ((size_t)(end - p) < (wt == 1 ? 8u : 4u))
            return bad(w, at, wt == 1 ? "truncated fixed64" : "truncated fixed32");
          p += wt == 1 ? 8 : 4;
        }
        break;
      default: return bad(w, at, "groups and wire types 6/7 are not supported");
    }
    if (key && num == 1) eei_wire_set_key(desc, wt, v, span, (size_t)v, key);
    if (wt != 2 && w->rewrite) continue; /* only nesting matters now */
    const ProtobufCFieldDescriptor *fd = eei_wire_field(desc, num, &cursor);
    if (!fd) continue;
    if (!eei_wire_type_fits(fd, wt)) {
      w->rewrite = true; /* python keeps it as an unknown field; the rewrite drops it */
      continue;
    }
    if (!w->rewrite && repeats(&s, fd)) w->rewrite = true;
    if (fd->type != PROTOBUF_C_TYPE_MESSAGE) continue;
    bool entry = !w->rewrite && is_map_cached(w, desc, fd);
    eei_wire_key k = {NULL, 0, 0};
    ee_code rc = walk_message(w, fd->descriptor, span, p, depth + 1, entry ? &k : NULL);
    if (rc != EE_OK) return rc;
    if (entry && !w->rewrite && (rc = push_key(w, (uint32_t)(fd - desc->fields), &k)) != EE_OK)
      return rc;
  }
  if (!w->rewrite && w->n_keys - keys_base >= 2) {
    int r = keys_repeat(w, w->keys + keys_base, w->n_keys - keys_base);
    if (r < 0) return w->st ? w->st->code : EE_RESOURCE_EXHAUSTED;
    w->rewrite = r == 1;
  }
  w->n_keys = keys_base;
  return EE_OK;
}

ee_code eei_wire_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      int max_depth, bool *rewrite, ee_status *st) {
  *rewrite = false;
  if (!desc || (!data && len))
    return ee_status_set(st, EE_INVALID_ARGUMENT, "ee_wire_check: bad arguments");
  walk w;
  w.base = data;
  w.max_depth = max_depth > 0 ? max_depth : EE_WIRE_DEFAULT_MAX_DEPTH;
  w.st = st;
  w.rewrite = false;
  memset(w.map_fd, 0, sizeof w.map_fd);
  w.keys = w.local;
  w.n_keys = 0;
  w.cap_keys = sizeof w.local / sizeof w.local[0];
  /* data may be NULL when len is 0 (an empty Any value); NULL + 0 is undefined in C. */
  ee_code rc = walk_message(&w, desc, data, len ? data + len : data, 1, NULL);
  if (rc != EE_OK) return rc;
  *rewrite = w.rewrite;
  ee_status_clear(st);
  return EE_OK;
}

ee_code ee_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      int max_depth, ee_status *st) {
  bool rewrite;
  return eei_wire_scan(desc, data, len, max_depth, &rewrite, st);
}

ee_code ee_wire_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                       int max_depth, ProtobufCAllocator *allocator, ProtobufCMessage **out,
                       ee_status *st) {
  static const uint8_t empty[1];
  *out = NULL;
  bool rewrite;
  ee_code rc = eei_wire_scan(desc, data, len, max_depth, &rewrite, st);
  if (rc != EE_OK) return rc;
  uint8_t *canon = NULL;
  if (rewrite) {
    rc = eei_wire_canonicalize(
        desc, data, len, max_depth > 0 ? max_depth : EE_WIRE_DEFAULT_MAX_DEPTH, &canon, &len, st);
    if (rc != EE_OK) return rc;
    data = canon;
  }
  /* protobuf-c copies what it keeps, so the rewritten bytes can go right after. */
  *out = protobuf_c_message_unpack(desc, allocator, len, data && len ? data : empty);
  free(canon);
  if (!*out)
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "binary message does not parse as %s (bad field encoding or invalid "
                         "value)",
                         desc->name);
  return EE_OK;
}
