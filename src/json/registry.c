/* Type registry for Any: full message name -> descriptor, an open-addressing hash table.
 * The default registry holds every generated message (eei_message_descriptors). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "eei_message_descriptors.h"
#include "json_internal.h"

struct ee_json_registry {
  size_t count;
  size_t mask;
  const ProtobufCMessageDescriptor **slots;
};

static uint32_t name_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static const ProtobufCMessageDescriptor *lookup(const ee_json_registry *reg, const char *name,
                                                size_t len) {
  if (!reg || !reg->slots) return NULL;
  for (size_t i = name_hash(name, len) & reg->mask;; i = (i + 1) & reg->mask) {
    const ProtobufCMessageDescriptor *d = reg->slots[i];
    if (!d) return NULL;
    if (strncmp(d->name, name, len) == 0 && d->name[len] == '\0') return d;
  }
}

static void put(ee_json_registry *reg, const ProtobufCMessageDescriptor *d) {
  size_t i = name_hash(d->name, strlen(d->name)) & reg->mask;
  while (reg->slots[i]) i = (i + 1) & reg->mask;
  reg->slots[i] = d;
  reg->count++;
}

/* Keeps the load at or below one half. */
static int grow(ee_json_registry *reg, size_t want) {
  if (reg->slots && want * 2 <= reg->mask + 1) return 0;
  size_t size = 64;
  while (size < want * 2) size *= 2;
  const ProtobufCMessageDescriptor **old = reg->slots;
  size_t old_size = old ? reg->mask + 1 : 0;
  reg->slots = calloc(size, sizeof *reg->slots);
  if (!reg->slots) {
    reg->slots = old;
    return -1;
  }
  reg->mask = size - 1;
  reg->count = 0;
  for (size_t i = 0; i < old_size; i++) {
    if (old[i]) put(reg, old[i]);
  }
  free(old);
  return 0;
}

static ee_code add(ee_json_registry *reg, const ProtobufCMessageDescriptor *desc, ee_status *st) {
  if (!reg || !desc || desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "registry_add: need a registry and a descriptor");
  if (lookup(reg, desc->name, strlen(desc->name))) return EE_OK;
  if (grow(reg, reg->count + 1) != 0)
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory growing the type registry");
  put(reg, desc);
  return EE_OK;
}

static ee_json_registry g_default;
static pthread_once_t g_default_once = PTHREAD_ONCE_INIT;

static void default_init(void) {
  /* A failure leaves an empty registry: lookups then report unknown types. */
  if (grow(&g_default, eei_message_descriptors_count) != 0) return;
  for (size_t i = 0; i < eei_message_descriptors_count; i++)
    add(&g_default, eei_message_descriptors[i], NULL);
}

const ee_json_registry *ee_json_default_registry(void) {
  pthread_once(&g_default_once, default_init);
  return &g_default;
}

ee_json_registry *ee_json_registry_new(void) {
  const ee_json_registry *def = ee_json_default_registry();
  ee_json_registry *reg = calloc(1, sizeof *reg);
  if (!reg) return NULL;
  if (grow(reg, def->count + 16) != 0) {
    free(reg);
    return NULL;
  }
  for (size_t i = 0; def->slots && i <= def->mask; i++) {
    if (def->slots[i]) put(reg, def->slots[i]);
  }
  return reg;
}

ee_code ee_json_registry_add(ee_json_registry *reg, const ProtobufCMessageDescriptor *desc,
                             ee_status *st) {
  if (reg == &g_default)
    return ee_status_set(st, EE_FAILED_PRECONDITION, "the default registry is immutable");
  return add(reg, desc, st);
}

const ProtobufCMessageDescriptor *eei_registry_find_span(const ee_json_registry *reg,
                                                         const char *name, size_t len) {
  for (size_t i = len; i > 0; i--) {
    if (name[i - 1] == '/') {
      name += i;
      len -= i;
      break;
    }
  }
  return lookup(reg, name, len);
}

const ProtobufCMessageDescriptor *ee_json_registry_find(const ee_json_registry *reg,
                                                        const char *name_or_url) {
  if (!name_or_url) return NULL;
  return eei_registry_find_span(reg, name_or_url, strlen(name_or_url));
}

void ee_json_registry_free(ee_json_registry *reg) {
  if (!reg || reg == &g_default) return;
  free(reg->slots);
  free(reg);
}
