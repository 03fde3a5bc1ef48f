/* ee_arena: blocks of memory handed out by bumping a pointer, released all at once. */
#include <stdint.h>
#include <stdlib.h>

#include "ee/arena.h"

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_BLOCK ((size_t)64 << 10)

typedef struct arena_block {
  struct arena_block *next; /* the block allocated before this one */
  size_t size;              /* usable bytes after the header */
} arena_block;

struct ee_arena {
  ProtobufCAllocator allocator; /* first, so the allocator's data can be the arena */
  arena_block *blocks;          /* newest first */
  char *cur, *end;              /* free space in the newest block */
  size_t block_size;
  size_t used, limit;
};

/* The header is padded so block data starts 16-byte aligned. */
static size_t header_size(void) {
  return (sizeof(arena_block) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

static char *block_data(arena_block *b) {
  return (char *)b + header_size();
}

/* Blocks double in size (up to 16 MiB each), so a large message needs few mallocs and,
 * since reset keeps the largest block, a repeated decode soon needs none. */
static int add_block(ee_arena *a, size_t need) {
  size_t size = a->block_size;
  if (a->blocks && a->blocks->size < ((size_t)16 << 20)) {
    size_t doubled = a->blocks->size * 2;
    if (doubled > size) size = doubled;
  }
  if (need > size) size = need;
  if (size > SIZE_MAX - header_size()) return -1;
  arena_block *b = malloc(header_size() + size);
  if (!b) return -1;
  b->size = size;
  b->next = a->blocks;
  a->blocks = b;
  a->cur = block_data(b);
  a->end = a->cur + size;
  return 0;
}

static void *arena_alloc(void *data, size_t size) {
  ee_arena *a = data;
  size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (rounded < size) return NULL; /* overflow */
  if (a->limit && (rounded > a->limit || a->used > a->limit - rounded)) return NULL;
  if ((size_t)(a->end - a->cur) < rounded && add_block(a, rounded) != 0) return NULL;
  void *p = a->cur;
  a->cur += rounded;
  a->used += rounded;
  return p;
}

/* Memory goes back only with the whole arena. */
static void arena_free(void *data, void *ptr) {
  (void)data;
  (void)ptr;
}

ee_arena *ee_arena_new(size_t block_size) {
  ee_arena *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->block_size = block_size ? block_size : ARENA_DEFAULT_BLOCK;
  a->allocator.alloc = arena_alloc;
  a->allocator.free = arena_free;
  a->allocator.allocator_data = a;
  return a;
}

ProtobufCAllocator *ee_arena_allocator(ee_arena *a) {
  return &a->allocator;
}

void ee_arena_set_limit(ee_arena *a, size_t max_bytes) {
  a->limit = max_bytes;
}

size_t ee_arena_used(const ee_arena *a) {
  return a->used;
}

void ee_arena_reset(ee_arena *a) {
  /* Keep the largest block: after a reset the same work fits without a malloc. */
  arena_block *keep = NULL;
  for (arena_block *b = a->blocks, *next; b; b = next) {
    next = b->next;
    if (!keep || b->size > keep->size) {
      if (keep) free(keep);
      keep = b;
    } else {
      free(b);
    }
  }
  a->blocks = keep;
  if (keep) {
    keep->next = NULL;
    a->cur = block_data(keep);
    a->end = a->cur + keep->size;
  } else {
    a->cur = a->end = NULL;
  }
  a->used = 0;
}

void ee_arena_free(ee_arena *a) {
  if (!a) return;
  for (arena_block *b = a->blocks, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  free(a);
}
