/* ee-emulator: a string-keyed hash map (open addressing, linear probing).
 *
 * Keys are copied and owned by the map; values are borrowed pointers. Not thread-safe:
 * the store guards its maps with its own lock. */
#ifndef EMU_STRMAP_H
#define EMU_STRMAP_H

#include <stddef.h>

#include "ee/status.h"

typedef struct emu_strmap_slot {
  char *key; /* NULL: empty; EMU_STRMAP_TOMBSTONE: removed */
  void *value;
} emu_strmap_slot;

typedef struct emu_strmap {
  emu_strmap_slot *slots;
  size_t cap;  /* power of two, or 0 */
  size_t used; /* live keys plus tombstones (what drives growth) */
  size_t live;
} emu_strmap;

void emu_strmap_init(emu_strmap *m);
/* Frees the keys and the table (not the values). Accepts NULL. */
void emu_strmap_free(emu_strmap *m);
void *emu_strmap_get(const emu_strmap *m, const char *key);
/* Inserts or replaces. EE_INTERNAL when out of memory (the map is unchanged). */
ee_code emu_strmap_put(emu_strmap *m, const char *key, void *value, ee_status *st);
/* Removes key if present; returns its value or NULL. */
void *emu_strmap_remove(emu_strmap *m, const char *key);

#endif
