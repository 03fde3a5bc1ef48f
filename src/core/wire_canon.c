/* Rewrite of non-canonical wire data into the canonical form protobuf-c 1.4.1 parses as the
 * encoding spec says (wire_internal.h). Runs only on input ee_wire_unpack's walk found
 * non-canonical, so it favours simplicity over speed.
 *
 * A message is parsed as the concatenation of its occurrences, so the rewrite works on a
 * list of spans of the input. Each message goes through two passes over its spans:
 *  1. every occurrence that competes with others is recorded: singular message fields,
 *     oneof members and map entries. Sorted by (field or oneof, position), each group
 *     gets its outcome: a singular message field is written once, at its last occurrence,
 *     as the merge (the rewrite of the concatenation) of all its payloads; a oneof keeps
 *     its last member, a message member merged with the run of the same member before it
 *     (a different member in between replaces); a map keeps the last entry of each key.
 *  2. the fields are written in their order: the recorded ones as decided, message
 *     payloads (repeated elements too) rewritten recursively, known fields with a wire
 *     type their type cannot have dropped, all else copied as it is.
 *     Bytes fields, Any.value among them, are opaque: the parser keeps them as they are.
 *
 * Memory: the output is never longer than the input (a merge drops tags and length
 * prefixes, and the length of a sum needs no more varint bytes than the lengths of its
 * parts), so it is one allocation of the input's size. Scratch is 40 bytes per recorded
 * occurrence in the messages on the current path (each takes at least 2 input bytes), freed
 * on return. Recursion follows the nesting ee_wire_check has bounded. */
#include <stdlib.h>
#include <string.h>

#include "wire_internal.h"

enum kind {
  K_DROP,     /* a known field with a wire type its type cannot have: dropped */
  K_PLAIN,    /* copied as it is */
  K_ELEM,     /* an element of a repeated message field: its payload rewritten */
  K_SINGULAR, /* a singular message field: recorded */
  K_ONEOF,    /* a oneof member: recorded */
  K_MAP       /* a map entry: recorded */
};

enum act { A_SKIP, A_RAW, A_ONE, A_MERGE };

/* One recorded occurrence. */
typedef struct occ {
  uint32_t off, len;   /* its payload (or, for a scalar oneof member, nothing) */
  uint32_t fidx;       /* the field's index in its message's descriptor */
  uint32_t first, pos; /* A_MERGE: its payloads are the level's sorted[first .. pos] */
  uint8_t kind, act;
} occ;

typedef struct span {
  uint32_t off, len;
} span;

typedef struct map_item {
  eei_wire_key key;
  uint32_t i; /* level-relative occurrence index: the position */
} map_item;

/* A growable array; stacks of them hold the levels on the current path. */
typedef struct vec {
  void *p;
  size_t n, cap;
} vec;

typedef struct canon {
  const uint8_t *in;
  uint8_t *out;
  size_t pos, cap;
  vec occs;   /* occ */
  vec sorted; /* uint64_t: (group << 32 | level-relative index) */
  vec spans;  /* span */
  vec items;  /* map_item, one level at a time */
  int max_depth;
  ee_status *st;
} canon;

#define ONEOF_GROUP 0x80000000u

static ee_code oom(canon *c) {
  return ee_status_set(c->st, EE_RESOURCE_EXHAUSTED, "out of memory");
}

static ee_code internal(canon *c, const char *what) {
  return ee_status_set(c->st, EE_INTERNAL, "binary message rewrite: %s", what);
}

/* Room for one more element of size sz; returns its address or NULL. */
static void *vec_push(vec *v, size_t sz) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 64;
    void *p = realloc(v->p, cap * sz);
    if (!p) return NULL;
    v->p = p;
    v->cap = cap;
  }
  return (char *)v->p + sz * v->n++;
}

#define AT(v, T, i) (((T *)(v).p)[i])

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static size_t put_varint(uint8_t *o, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    o[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  o[n++] = (uint8_t)v;
  return n;
}

static ee_code emit(canon *c, const uint8_t *p, size_t n) {
  if (n > c->cap - c->pos) return internal(c, "output longer than the input");
  memcpy(c->out + c->pos, p, n);
  c->pos += n;
  return EE_OK;
}

/* One field of the input, as both passes read it. */
typedef struct field {
  const uint8_t *start, *end; /* the whole field: tag and value */
  const uint8_t *payload;     /* length-delimited: the payload (len bytes) */
  uint64_t len;
  uint32_t num;
  int wt;
} field;

static int next_field(const uint8_t **p, const uint8_t *end, field *f) {
  uint64_t tag, v = 0;
  f->start = *p;
  if (eei_wire_varint(p, end, &tag) != 0) return -1;
  f->num = (uint32_t)(tag >> 3);
  f->wt = (int)(tag & 7);
  f->payload = NULL;
  switch (f->wt) {
    case 0:
      if (eei_wire_varint(p, end, &v) != 0) return -1;
      break;
    case 1:
    case 5: {
      size_t n = f->wt == 1 ? 8 : 4;
      if ((size_t)(end - *p) < n) return -1;
      *p += n;
      break;
    }
    case 2:
      if (eei_wire_varint(p, end, &v) != 0 || v > (uint64_t)(end - *p)) return -1;
      f->payload = *p;
      *p += v;
      break;
    default: return -1;
  }
  f->len = v;
  f->end = *p;
  return 0;
}

/* The last map question asked in a message, remembered: entries come in runs. */
typedef struct map_cache {
  const ProtobufCFieldDescriptor *fd;
  bool is_map;
} map_cache;

static enum kind kind_of(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *fd,
                         int wt, map_cache *mc) {
  if (!fd) return K_PLAIN;
  if (!eei_wire_type_fits(fd, wt)) return K_DROP;
  if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) return K_ONEOF;
  if (fd->type != PROTOBUF_C_TYPE_MESSAGE) return K_PLAIN;
  if (fd->label != PROTOBUF_C_LABEL_REPEATED) return K_SINGULAR;
  if (mc->fd != fd) {
    mc->fd = fd;
    mc->is_map = eei_wire_is_map_field(desc, fd);
  }
  return mc->is_map ? K_MAP : K_ELEM;
}

static uint32_t group_of(const ProtobufCMessageDescriptor *desc, const occ *o) {
  const ProtobufCFieldDescriptor *fd = &desc->fields[o->fidx];
  return o->kind == K_ONEOF ? ONEOF_GROUP | fd->quantifier_offset : o->fidx;
}

static int u64_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int item_cmp(const void *a, const void *b) {
  const map_item *x = a, *y = b;
  int r = eei_wire_key_cmp(&x->key, &y->key);
  return r ? r : (x->i < y->i ? -1 : x->i > y->i);
}

/* The entries sorted[g .. ge) of one map field: the last of each key is written. */
static ee_code decide_map(canon *c, const ProtobufCMessageDescriptor *entry, size_t obase,
                          size_t pbase, size_t g, size_t ge) {
  c->items.n = 0;
  for (size_t k = g; k < ge; k++) {
    uint32_t i = (uint32_t)AT(c->sorted, uint64_t, pbase + k);
    const occ *o = &AT(c->occs, occ, obase + i);
    map_item *it = vec_push(&c->items, sizeof *it);
    if (!it) return oom(c);
    eei_wire_entry_key(entry, c->in + o->off, c->in + o->off + o->len, &it->key);
    it->i = i;
  }
  map_item *items = c->items.p;
  qsort(items, c->items.n, sizeof *items, item_cmp);
  for (size_t k = 0; k < c->items.n; k++)
    if (k + 1 == c->items.n || eei_wire_key_cmp(&items[k].key, &items[k + 1].key) != 0)
      AT(c->occs, occ, obase + items[k].i).act = A_ONE;
  return EE_OK;
}

/* Gives every recorded occurrence of the level (occs[obase ..]) its outcome. */
static ee_code decide(canon *c, const ProtobufCMessageDescriptor *desc, size_t obase,
                      size_t pbase) {
  size_t n = c->occs.n - obase;
  if (n == 0) return EE_OK;
  for (size_t i = 0; i < n; i++) {
    uint64_t *k = vec_push(&c->sorted, sizeof *k);
    if (!k) return oom(c);
    *k = (uint64_t)group_of(desc, &AT(c->occs, occ, obase + i)) << 32 | i;
  }
  uint64_t *sorted = &AT(c->sorted, uint64_t, pbase);
  qsort(sorted, n, sizeof *sorted, u64_cmp);
  for (size_t g = 0, ge; g < n; g = ge) {
    uint32_t grp = (uint32_t)(sorted[g] >> 32);
    for (ge = g + 1; ge < n && (uint32_t)(sorted[ge] >> 32) == grp;) ge++;
    occ *last = &AT(c->occs, occ, obase + (uint32_t)sorted[ge - 1]);
    const ProtobufCFieldDescriptor *fd = &desc->fields[last->fidx];
    if (last->kind == K_MAP) {
      ee_code rc = decide_map(c, fd->descriptor, obase, pbase, g, ge);
      if (rc != EE_OK) return rc;
      sorted = &AT(c->sorted, uint64_t, pbase);
      continue;
    }
    if (fd->type != PROTOBUF_C_TYPE_MESSAGE) { /* a scalar oneof member: the last wins */
      last->act = A_RAW;
      continue;
    }
    size_t j = ge - 1; /* a oneof merges the run of its last member; a field, all */
    while (j > g && AT(c->occs, occ, obase + (uint32_t)sorted[j - 1]).fidx == last->fidx) j--;
    last->act = A_MERGE;
    last->first = (uint32_t)j;
    last->pos = (uint32_t)(ge - 1);
  }
  return EE_OK;
}

static ee_code canon_message(canon *c, const ProtobufCMessageDescriptor *desc, size_t sbase,
                             size_t ns, int depth);

/* Tag, length and the rewrite of the message of type desc made of spans[sbase ..]. */
static ee_code write_nested(canon *c, uint32_t num, const ProtobufCMessageDescriptor *desc,
                            size_t sbase, int depth) {
  size_t ns = c->spans.n - sbase;
  uint64_t total = 0;
  for (size_t i = 0; i < ns; i++) total += AT(c->spans, span, sbase + i).len;
  uint8_t tag[10];
  size_t tn = put_varint(tag, (uint64_t)num << 3 | 2), w = varint_len(total);
  ee_code rc = emit(c, tag, tn);
  if (rc != EE_OK) return rc;
  if (w > c->cap - c->pos) return internal(c, "output longer than the input");
  size_t at = c->pos;
  c->pos += w; /* room for the longest length the rewrite can have */
  if ((rc = canon_message(c, desc, sbase, ns, depth + 1)) != EE_OK) return rc;
  size_t n = c->pos - at - w, nw = varint_len(n);
  if (nw < w) { /* it shrank past a varint boundary: close the gap */
    memmove(c->out + at + nw, c->out + at + w, n);
    c->pos -= w - nw;
  }
  put_varint(c->out + at, n);
  c->spans.n = sbase;
  return EE_OK;
}

static ee_code push_span(canon *c, const uint8_t *p, uint64_t len) {
  span *s = vec_push(&c->spans, sizeof *s);
  if (!s) return oom(c);
  *s = (span){(uint32_t)(p - c->in), (uint32_t)len};
  return EE_OK;
}

/* Pass 1: records the competing occurrences of the level's fields. */
static ee_code record(canon *c, const ProtobufCMessageDescriptor *desc, size_t sbase, size_t ns) {
  map_cache mc = {NULL, false};
  unsigned cursor = 0;
  for (size_t s = 0; s < ns; s++) {
    span sp = AT(c->spans, span, sbase + s);
    const uint8_t *p = c->in + sp.off, *end = p + sp.len;
    while (p < end) {
      field f;
      if (next_field(&p, end, &f) != 0) return internal(c, "unframed input");
      const ProtobufCFieldDescriptor *fd = eei_wire_field(desc, f.num, &cursor);
      enum kind k = kind_of(desc, fd, f.wt, &mc);
      if (k < K_SINGULAR) continue;
      occ *o = vec_push(&c->occs, sizeof *o);
      if (!o) return oom(c);
      *o = (occ){f.payload ? (uint32_t)(f.payload - c->in) : 0,
                 (uint32_t)f.len,
                 (uint32_t)(fd - desc->fields),
                 0,
                 0,
                 (uint8_t)k,
                 A_SKIP};
    }
  }
  return EE_OK;
}

/* Writes the canonical form of the message of type desc whose bytes are the concatenation
 * of spans[sbase .. sbase + ns). */
static ee_code canon_message(canon *c, const ProtobufCMessageDescriptor *desc, size_t sbase,
                             size_t ns, int depth) {
  if (depth > c->max_depth) return internal(c, "deeper than the check allowed");
  size_t obase = c->occs.n, pbase = c->sorted.n;
  ee_code rc = record(c, desc, sbase, ns);
  if (rc == EE_OK) rc = decide(c, desc, obase, pbase);
  /* Pass 2: the fields in their order. */
  map_cache mc = {NULL, false};
  unsigned cursor = 0;
  size_t r = obase;
  for (size_t s = 0; s < ns && rc == EE_OK; s++) {
    span sp = AT(c->spans, span, sbase + s);
    const uint8_t *p = c->in + sp.off, *end = p + sp.len;
    while (p < end && rc == EE_OK) {
      field f;
      if (next_field(&p, end, &f) != 0) return internal(c, "unframed input");
      const ProtobufCFieldDescriptor *fd = eei_wire_field(desc, f.num, &cursor);
      enum kind k = kind_of(desc, fd, f.wt, &mc);
      if (k == K_DROP) continue;
      if (k == K_PLAIN) {
        rc = emit(c, f.start, (size_t)(f.end - f.start));
        continue;
      }
      size_t top = c->spans.n;
      if (k == K_ELEM) {
        if ((rc = push_span(c, f.payload, f.len)) == EE_OK)
          rc = write_nested(c, f.num, fd->descriptor, top, depth);
        continue;
      }
      occ o = AT(c->occs, occ, r++);
      switch (o.act) {
        case A_SKIP: break;
        case A_RAW: rc = emit(c, f.start, (size_t)(f.end - f.start)); break;
        case A_ONE:
          if ((rc = push_span(c, f.payload, f.len)) == EE_OK)
            rc = write_nested(c, f.num, fd->descriptor, top, depth);
          break;
        default: /* A_MERGE */
          for (uint32_t i = o.first; i <= o.pos && rc == EE_OK; i++) {
            const occ *part =
                &AT(c->occs, occ, obase + (uint32_t)AT(c->sorted, uint64_t, pbase + i));
            rc = push_span(c, c->in + part->off, part->len);
          }
          if (rc == EE_OK) rc = write_nested(c, f.num, fd->descriptor, top, depth);
      }
    }
  }
  c->occs.n = obase;
  c->sorted.n = pbase;
  return rc;
}

ee_code eei_wire_canonicalize(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                              size_t len, int max_depth, uint8_t **out, size_t *out_len,
                              ee_status *st) {
  *out = NULL;
  *out_len = 0;
  canon c;
  memset(&c, 0, sizeof c);
  c.st = st;
  c.max_depth = max_depth;
  if (len > UINT32_MAX)
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "binary message of %zu bytes is too large",
                         len);
  if (len == 0) return EE_OK;
  c.in = data;
  c.cap = len;
  c.out = malloc(len);
  if (!c.out) return oom(&c);
  ee_code rc = push_span(&c, data, len);
  if (rc == EE_OK) rc = canon_message(&c, desc, 0, 1, 1);
  free(c.occs.p);
  free(c.sorted.p);
  free(c.spans.p);
  free(c.items.p);
  if (rc != EE_OK) {
    free(c.out);
    return rc;
  }
  *out = c.out;
  *out_len = c.pos;
  return EE_OK;
}
