/* ee-emulator: string hash map. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

static char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

void emu_strmap_init(emu_strmap *m) {
  memset(m, 0, sizeof *m);
}

void emu_strmap_free(emu_strmap *m) {
  if (!m) return;
  for (size_t i = 0; i < m->cap; i++) {
    if (m->slots[i].key && m->slots[i].key != TOMBSTONE) free(m->slots[i].key);
  }
  free(m->slots);
  memset(m, 0, sizeof *m);
}

/* Index of key's slot, or of the first free slot where it would go (cap > 0). */
static size_t find_slot(const emu_strmap *m, const char *key, int *found) {
  size_t mask = m->cap - 1, i = (size_t)hash_str(key) & mask, free_at = SIZE_MAX;
  *found = 0;
  for (;; i = (i + 1) & mask) {
    char *k = m->slots[i].key;
    if (!k) return free_at != SIZE_MAX ? free_at : i;
    if (k == TOMBSTONE) {
      if (free_at == SIZE_MAX) free_at = i;
    } else if (strcmp(k, key) == 0) {
      *found = 1;
      return i;
    }
  }
}

static ee_code grow(emu_strmap *m, ee_status *st) {
  size_t ncap = m->cap ? m->cap * 2 : 64;
  if (m->live * 4 < m->cap) ncap = m->cap; /* mostly tombstones: rehash in place size */
  emu_strmap_slot *ns = calloc(ncap, sizeof *ns);
  if (!ns) return ee_status_set(st, EE_INTERNAL, "out of memory");
  emu_strmap old = *m;
  m->slots = ns;
  m->cap = ncap;
  m->used = m->live = 0;
  for (size_t i = 0; i < old.cap; i++) {
    char *k = old.slots[i].key;
    if (!k || k == TOMBSTONE) continue;
    int found;
    size_t at = find_slot(m, k, &found);
    m->slots[at] = old.slots[i];
    m->used++;
    m->live++;
  }
  free(old.slots);
  return EE_OK;
}

void *emu_strmap_get(const emu_strmap *m, const char *key) {
  if (!m->cap) return NULL;
  int found;
  size_t at = find_slot(m, key, &found);
  return found ? m->slots[at].value : NULL;
}

ee_code emu_strmap_put(emu_strmap *m, const char *key, void *value, ee_status *st) {
  if ((m->used + 1) * 4 >= m->cap * 3 && grow(m, st) != EE_OK) return st ? st->code : EE_INTERNAL;
  int found;
  size_t at = find_slot(m, key, &found);
  if (found) {
    m->slots[at].value = value;
    return EE_OK;
  }
  char *k = strdup(key);
  if (!k) return ee_status_set(st, EE_INTERNAL, "out of memory");
  if (m->slots[at].key != TOMBSTONE) m->used++;
  m->slots[at].key = k;
  m->slots[at].value = value;
  m->live++;
  return EE_OK;
}

void *emu_strmap_remove(emu_strmap *m, const char *key) {
  if (!m->cap) return NULL;
  int found;
  size_t at = find_slot(m, key, &found);
  if (!found) return NULL;
  void *v = m->slots[at].value;
  free(m->slots[at].key);
  m->slots[at].key = TOMBSTONE;
  m->slots[at].value = NULL;
  m->live--;
  return v;
}
