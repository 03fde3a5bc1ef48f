/* Per-descriptor side tables for the JSON codec.
 *
 * protobuf-c descriptors are const and carry no JSON names, no map-entry flag and no
 * way to find a field by its JSON name, so the codec keeps one eei_msg_info per
 * descriptor: JSON names, pre-quoted keys for the encoder, a hashed name table taking
 * both spellings, map and well-known-type classification. Infos are built on first use
 * and live for the whole process, so a decoder or encoder can hold pointers to them
 * without reference counting.
 *
 * The cache is an open-addressing table keyed by descriptor address. Readers never lock:
 * they load the current table and its slots with acquire semantics. Writers serialise on
 * a mutex, publish a fully built info with a release store, and when the table fills
 * they publish a bigger copy; old tables are kept (never freed) because a reader may
 * still be walking one.
 *
 * JSON names: protobuf-c descriptors carry no json_name, so the names come from the
 * tables protoc-gen-ee-routes writes (the same tables the route layer uses for query
 * parameter names; gen/ is below json, so the codec may read them): the default table of
 * proto/ always, others added with ee_json_add_names. A field no table lists gets
 * protoc's default derivation (ee_json_name). The names are looked up once per
 * descriptor, when its info is built, so the encoder and decoder pay nothing for them. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "eei_routes.h" /* gen/routes: protoc's json_name of every field of proto/ */
#include "json_internal.h"

typedef struct cache_table {
  size_t mask;
  struct cache_table *older; /* retired tables, kept alive for lock-free readers */
  _Atomic(const eei_msg_info *) slots[];
} cache_table;

static _Atomic(cache_table *) g_table;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t g_count;

/* Name tables added with ee_json_add_names, in order; guarded by g_lock (infos are built
 * under it too). */
static const ee_route_table **g_name_tables;
static size_t g_n_name_tables;

static const ee_route_json_message *names_in(const ee_route_table *t, const char *full_name) {
  size_t lo = 0, hi = t->n_messages;
  while (lo < hi) { /* sorted by full_name (the plugin sorts them) */
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(full_name, t->messages[mid].full_name);
    if (c == 0) return &t->messages[mid];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

/* The name list of d: the default table first, then the added ones. Called under g_lock. */
static const ee_route_json_message *names_of(const ProtobufCMessageDescriptor *d) {
  const ee_route_json_message *m = names_in(&eei_routes, d->name);
  for (size_t i = 0; !m && i < g_n_name_tables; i++) m = names_in(g_name_tables[i], d->name);
  return m;
}

/* protoc's json_name of field number id, or NULL when the list does not have it. */
static const char *listed_json_name(const ee_route_json_message *m, uint32_t id) {
  size_t lo = 0, hi = m ? m->n_fields : 0;
  while (lo < hi) { /* sorted by number */
    size_t mid = lo + (hi - lo) / 2;
    if (m->fields[mid].number == id) return m->fields[mid].json_name;
    if (m->fields[mid].number < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static uint32_t hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static size_t hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t)x;
}

const ProtobufCFieldDescriptor *eei_field_by_id(const ProtobufCMessageDescriptor *d, uint32_t id) {
  for (unsigned i = 0; i < d->n_fields; i++) {
    if (d->fields[i].id == id) return &d->fields[i];
  }
  return NULL;
}

size_t ee_json_name(const char *field_name, char *out, size_t out_size) {
  size_t n = 0;
  bool up = false;
  for (const char *p = field_name; *p; p++) {
    char c = *p;
    if (c == '_') {
      up = true;
      continue;
    }
    if (up && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    up = false;
    if (n + 1 < out_size) out[n] = c;
    n++;
  }
  if (out_size) out[n < out_size ? n : out_size - 1] = '\0';
  return n;
}

eei_wkt eei_wkt_of(const ProtobufCMessageDescriptor *d) {
  static const struct {
    const char *name;
    eei_wkt wkt;
  } table[] = {
      {"google.protobuf.Any", EEI_WKT_ANY},
      {"google.protobuf.Timestamp", EEI_WKT_TIMESTAMP},
      {"google.protobuf.Duration", EEI_WKT_DURATION},
      {"google.protobuf.FieldMask", EEI_WKT_FIELD_MASK},
      {"google.protobuf.Struct", EEI_WKT_STRUCT},
      {"google.protobuf.Value", EEI_WKT_VALUE},
      {"google.protobuf.ListValue", EEI_WKT_LIST_VALUE},
      {"google.protobuf.DoubleValue", EEI_WKT_WRAPPER},
      {"google.protobuf.FloatValue", EEI_WKT_WRAPPER},
      {"google.protobuf.Int64Value", EEI_WKT_WRAPPER},
      {"google.protobuf.UInt64Value", EEI_WKT_WRAPPER},
      {"google.protobuf.Int32Value", EEI_WKT_WRAPPER},
      {"google.protobuf.UInt32Value", EEI_WKT_WRAPPER},
      {"google.protobuf.BoolValue", EEI_WKT_WRAPPER},
      {"google.protobuf.StringValue", EEI_WKT_WRAPPER},
      {"google.protobuf.BytesValue", EEI_WKT_WRAPPER},
  };
  if (strncmp(d->name, "google.protobuf.", 16) != 0) return EEI_WKT_NONE;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (strcmp(d->name, table[i].name) == 0) return table[i].wkt;
  }
  return EEI_WKT_NONE;
}

/* protoc's map entry rule: a repeated message field "foo_bar" of a nested type
 * "<parent>.FooBarEntry" whose only fields are key = 1 and value = 2. */
static bool is_map_field(const ProtobufCMessageDescriptor *parent,
                         const ProtobufCFieldDescriptor *fd) {
  if (fd->label != PROTOBUF_C_LABEL_REPEATED || fd->type != PROTOBUF_C_TYPE_MESSAGE) return false;
  const ProtobufCMessageDescriptor *e = fd->descriptor;
  if (e->n_fields != 2 || e->fields[0].id != 1 || e->fields[1].id != 2) return false;
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

eei_presence eei_presence_of(const ProtobufCFieldDescriptor *fd) {
  if (fd->label == PROTOBUF_C_LABEL_REPEATED) return EEI_PRESENT_COUNT;
  if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) return EEI_PRESENT_ONEOF;
  if (fd->type == PROTOBUF_C_TYPE_MESSAGE) return EEI_PRESENT_PTR;
  if (fd->label == PROTOBUF_C_LABEL_REQUIRED) return EEI_PRESENT_ALWAYS;
  if (fd->label == PROTOBUF_C_LABEL_OPTIONAL)
    return fd->type == PROTOBUF_C_TYPE_STRING ? EEI_PRESENT_OPT_STRING : EEI_PRESENT_HAS;
  switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING: return EEI_PRESENT_STRING;
    case PROTOBUF_C_TYPE_BYTES: return EEI_PRESENT_BYTES;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return EEI_PRESENT_BITS64;
    default: return EEI_PRESENT_BITS32;
  }
}

/* "name" with its quotes, NUL-terminated, in an allocation padded to whole
 * EEI_KEY_BLOCKs so the encoder may copy it in blocks. */
static char *quoted(const char *name, size_t len) {
  size_t size = (len + 3 + EEI_KEY_BLOCK - 1) / EEI_KEY_BLOCK * EEI_KEY_BLOCK;
  char *q = calloc(1, size);
  if (!q) return NULL;
  q[0] = '"';
  memcpy(q + 1, name, len);
  q[len + 1] = '"';
  q[len + 2] = '\0';
  return q;
}

static void name_insert(eei_msg_info *mi, const char *name, size_t len, int idx) {
  uint32_t h = hash_bytes(name, len);
  for (uint32_t i = h & mi->name_mask;; i = (i + 1) & mi->name_mask) {
    eei_name_slot *s = &mi->names[i];
    if (s->field < 0) {
      s->hash = h;
      s->field = idx;
      return;
    }
    const eei_field *f = &mi->fields[s->field];
    if (s->hash == h && ((f->json_len == len && memcmp(f->json_name, name, len) == 0) ||
                         (f->name_len == len && memcmp(f->fd->name, name, len) == 0)))
      return; /* first wins, as protoc would reject the clash anyway */
  }
}

int eei_msg_info_find(const eei_msg_info *mi, const char *key, size_t len) {
  uint32_t h = hash_bytes(key, len);
  for (uint32_t i = h & mi->name_mask;; i = (i + 1) & mi->name_mask) {
    const eei_name_slot *s = &mi->names[i];
    if (s->field < 0) return -1;
    if (s->hash != h) continue;
    const eei_field *f = &mi->fields[s->field];
    if (f->json_len == len && memcmp(f->json_name, key, len) == 0) return s->field;
    if (f->name_len == len && memcmp(f->fd->name, key, len) == 0) return s->field;
  }
}

static void info_free(eei_msg_info *mi) {
  if (!mi) return;
  for (unsigned i = 0; mi->fields && i < mi->n_fields; i++) {
    free((char *)mi->fields[i].json_name);
    free((char *)mi->fields[i].enc_json);
    free((char *)mi->fields[i].enc_proto);
  }
  free(mi->fields);
  free(mi->names);
  free(mi->by_number);
  free(mi);
}

/* The wire type a field's values use (packed repeated scalars aside). */
static int wire_type_of(ProtobufCType t) {
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

static bool field_init(eei_field *f, const ProtobufCMessageDescriptor *d,
                       const ProtobufCFieldDescriptor *fd, const ee_route_json_message *names) {
  f->fd = fd;
  f->name_len = (uint32_t)strlen(fd->name);
  const char *listed = listed_json_name(names, fd->id);
  size_t len = listed ? strlen(listed) : f->name_len;
  char *jn = malloc(len + 1);
  if (!jn) return false;
  if (listed)
    memcpy(jn, listed, len + 1);
  else
    len = ee_json_name(fd->name, jn, len + 1);
  f->json_len = (uint32_t)len;
  f->json_name = jn;
  f->enc_json = quoted(jn, f->json_len);
  f->enc_proto = quoted(fd->name, f->name_len);
  if (!f->enc_json || !f->enc_proto) return false;
  f->enc_json_len = f->json_len + 2;
  f->enc_proto_len = f->name_len + 2;
  f->is_oneof = (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
  f->is_null_enum = fd->type == PROTOBUF_C_TYPE_ENUM &&
                    strcmp(((const ProtobufCEnumDescriptor *)fd->descriptor)->name,
                           "google.protobuf.NullValue") == 0;
  f->is_map = is_map_field(d, fd);
  if (f->is_map) {
    const ProtobufCMessageDescriptor *e = fd->descriptor;
    f->map_key = &e->fields[0];
    f->map_value = &e->fields[1];
  }
  f->presence = (uint8_t)eei_presence_of(fd);
  f->id = fd->id;
  f->type = (uint8_t)fd->type;
  f->wire_type = (uint8_t)wire_type_of(fd->type);
  f->repeated = fd->label == PROTOBUF_C_LABEL_REPEATED;
  f->narrow = fd->type == PROTOBUF_C_TYPE_INT32 || fd->type == PROTOBUF_C_TYPE_SINT32 ||
              fd->type == PROTOBUF_C_TYPE_SFIXED32 || fd->type == PROTOBUF_C_TYPE_UINT32 ||
              fd->type == PROTOBUF_C_TYPE_FIXED32 || fd->type == PROTOBUF_C_TYPE_FLOAT ||
              fd->type == PROTOBUF_C_TYPE_ENUM;
  f->skip_zero =
      fd->label == PROTOBUF_C_LABEL_NONE && !f->is_oneof && fd->type != PROTOBUF_C_TYPE_MESSAGE;
  atomic_init(&f->child, NULL);
  return true;
}

/* The number -> field table, when the highest number is small enough (else
 * eei_msg_field_by_number searches the fields, which protoc-c sorts by number); false
 * when out of memory. */
static bool number_table_build(eei_msg_info *mi) {
  uint32_t max = 0;
  for (unsigned i = 0; i < mi->n_fields; i++)
    if (mi->fields[i].id > max) max = mi->fields[i].id;
  if (max > EEI_NUMBER_TABLE_MAX) return true;
  mi->by_number = calloc(max + 1, sizeof *mi->by_number);
  if (!mi->by_number) return false;
  mi->max_number = max;
  for (unsigned i = 0; i < mi->n_fields; i++) mi->by_number[mi->fields[i].id] = (uint16_t)(i + 1);
  return true;
}

static eei_msg_info *info_build(const ProtobufCMessageDescriptor *d) {
  eei_msg_info *mi = calloc(1, sizeof *mi);
  if (!mi) return NULL;
  mi->desc = d;
  mi->wkt = eei_wkt_of(d);
  mi->n_fields = d->n_fields;
  size_t fields_size = (d->n_fields ? d->n_fields : 1) * sizeof *mi->fields;
  mi->fields = aligned_alloc(_Alignof(eei_field), fields_size);
  if (mi->fields) memset(mi->fields, 0, fields_size);
  uint32_t size = 4;
  while (size < 4u * d->n_fields) size *= 2;
  mi->name_mask = size - 1;
  mi->names = malloc(size * sizeof *mi->names);
  if (!mi->fields || !mi->names) goto fail;
  for (uint32_t i = 0; i < size; i++) mi->names[i].field = -1;
  const ee_route_json_message *names = names_of(d);
  for (unsigned i = 0; i < d->n_fields; i++) {
    if (!field_init(&mi->fields[i], d, &d->fields[i], names)) goto fail;
  }
  for (unsigned i = 0; i < d->n_fields; i++) {
    const eei_field *f = &mi->fields[i];
    name_insert(mi, f->json_name, f->json_len, (int)i);
    name_insert(mi, f->fd->name, f->name_len, (int)i);
  }
  if (!number_table_build(mi)) goto fail;
  mi->oneof_only = d->n_fields > 0;
  for (unsigned i = 0; i < d->n_fields; i++) {
    if (!mi->fields[i].is_oneof ||
        mi->fields[i].fd->quantifier_offset != mi->fields[0].fd->quantifier_offset)
      mi->oneof_only = false;
  }
  if (mi->oneof_only) mi->oneof_case_offset = mi->fields[0].fd->quantifier_offset;
  return mi;
fail:
  info_free(mi);
  return NULL;
}

static const eei_msg_info *table_lookup(cache_table *t, const ProtobufCMessageDescriptor *d) {
  if (!t) return NULL;
  for (size_t i = hash_ptr(d) & t->mask;; i = (i + 1) & t->mask) {
    const eei_msg_info *mi = atomic_load_explicit(&t->slots[i], memory_order_acquire);
    if (!mi) return NULL;
    if (mi->desc == d) return mi;
  }
}

static void table_put(cache_table *t, const eei_msg_info *mi) {
  size_t i = hash_ptr(mi->desc) & t->mask;
  while (atomic_load_explicit(&t->slots[i], memory_order_relaxed)) i = (i + 1) & t->mask;
  atomic_store_explicit(&t->slots[i], mi, memory_order_release);
}

static cache_table *table_new(size_t size) {
  cache_table *t = calloc(1, sizeof *t + size * sizeof t->slots[0]);
  if (!t) return NULL;
  t->mask = size - 1;
  for (size_t i = 0; i < size; i++) atomic_init(&t->slots[i], NULL);
  return t;
}

/* Called with g_lock held: makes room for one more entry (load <= 1/2). */
static cache_table *table_reserve(cache_table *t) {
  if (t && (g_count + 1) * 2 <= t->mask + 1) return t;
  cache_table *n = table_new(t ? (t->mask + 1) * 2 : 256);
  if (!n) return NULL;
  for (size_t i = 0; t && i <= t->mask; i++) {
    const eei_msg_info *mi = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
    if (mi) table_put(n, mi);
  }
  n->older = t;
  atomic_store_explicit(&g_table, n, memory_order_release);
  return n;
}

const eei_msg_info *eei_msg_info_get(const ProtobufCMessageDescriptor *d) {
  const eei_msg_info *mi = table_lookup(atomic_load_explicit(&g_table, memory_order_acquire), d);
  if (mi) return mi;
  pthread_mutex_lock(&g_lock);
  cache_table *t = atomic_load_explicit(&g_table, memory_order_relaxed);
  mi = table_lookup(t, d);
  if (!mi) {
    eei_msg_info *built = info_build(d);
    t = built ? table_reserve(t) : NULL;
    if (t) {
      table_put(t, built);
      g_count++;
      mi = built;
    } else {
      info_free(built);
    }
  }
  pthread_mutex_unlock(&g_lock);
  return mi;
}

const eei_msg_info *eei_field_child(const eei_field *f) {
  const eei_msg_info *c = atomic_load_explicit(&((eei_field *)f)->child, memory_order_acquire);
  if (c) return c;
  const ProtobufCMessageDescriptor *d =
      f->is_map ? f->map_value->descriptor : (const ProtobufCMessageDescriptor *)f->fd->descriptor;
  c = eei_msg_info_get(d);
  if (c) atomic_store_explicit(&((eei_field *)f)->child, c, memory_order_release);
  return c;
}

/* A table's names may differ from what a type already built with (the derived names,
 * when the table comes after the first use): refuse then, rather than print one type two
 * ways in one process. Called under g_lock. */
static const char *names_conflict(const ee_route_table *t, const ee_route_json_message **at) {
  cache_table *ct = atomic_load_explicit(&g_table, memory_order_relaxed);
  for (size_t i = 0; i < t->n_messages; i++) {
    const ee_route_json_message *m = &t->messages[i];
    const eei_msg_info *mi = m->descriptor ? table_lookup(ct, m->descriptor) : NULL;
    for (unsigned k = 0; mi && k < mi->n_fields; k++) {
      const char *jn = listed_json_name(m, mi->fields[k].id);
      if (jn && strcmp(jn, mi->fields[k].json_name) != 0) {
        *at = m;
        return jn;
      }
    }
  }
  return NULL;
}

ee_code ee_json_add_names(const ee_route_table *table, ee_status *st) {
  if (!table) return ee_status_set(st, EE_INVALID_ARGUMENT, "ee_json_add_names: need a table");
  ee_code rc = EE_OK;
  pthread_mutex_lock(&g_lock);
  bool known = table == &eei_routes;
  for (size_t i = 0; i < g_n_name_tables; i++) known = known || g_name_tables[i] == table;
  const ee_route_json_message *m = NULL;
  const char *clash = known ? NULL : names_conflict(table, &m);
  if (clash) {
    rc = ee_status_set(st, EE_FAILED_PRECONDITION,
                       "%s was encoded or decoded before its JSON names (\"%s\") were added: "
                       "call ee_json_add_names first",
                       m->full_name, clash);
  } else if (!known) {
    const ee_route_table **grown =
        realloc(g_name_tables, (g_n_name_tables + 1) * sizeof *g_name_tables);
    if (grown) {
      g_name_tables = grown;
      g_name_tables[g_n_name_tables++] = table;
    } else {
      rc = ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory adding JSON names");
    }
  }
  pthread_mutex_unlock(&g_lock);
  if (rc == EE_OK) ee_status_clear(st);
  return rc;
}
