/* eeclient: a bump allocator for decoded messages.
 *
 * Decoding a large message with protobuf-c's default allocator costs one malloc per
 * message, string and array, and as much again in protobuf_c_message_free_unpacked. An
 * arena hands out memory from large blocks instead and releases it all at once, which is
 * what C++ protobuf users get from google::protobuf::Arena.
 *
 *   ee_arena *a = ee_arena_new(0);
 *   opts.allocator = ee_arena_allocator(a);
 *   ee_json_decode(desc, json, len, &opts, &msg, &st);   // msg lives in the arena
 *   ...use msg...
 *   ee_arena_reset(a);     // frees msg and everything else from the arena; no
 *                          // protobuf_c_message_free_unpacked needed (it is harmless)
 *   ee_arena_free(a);
 *
 * Individual frees are no-ops. An arena is not thread-safe: one thread at a time. */
#ifndef EE_ARENA_H
#define EE_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ee_arena ee_arena;

/* A new, empty arena that grows in blocks of at least block_size bytes (0 = 64 KiB).
 * The caller owns it and frees it with ee_arena_free. NULL only when out of memory. */
EE_API ee_arena *ee_arena_new(size_t block_size);

/* The allocator that draws from a; valid until ee_arena_free(a). Allocations are
 * 16-byte aligned; alloc returns NULL when out of memory or past ee_arena_set_limit. */
EE_API ProtobufCAllocator *ee_arena_allocator(ee_arena *a);

/* Caps the bytes the arena may hold (0 = no cap), to bound untrusted input. */
EE_API void ee_arena_set_limit(ee_arena *a, size_t max_bytes);

/* Bytes handed out since the last reset. */
EE_API size_t ee_arena_used(const ee_arena *a);

/* Releases everything allocated from a, keeping one block for reuse. */
EE_API void ee_arena_reset(ee_arena *a);

/* Frees the arena and everything allocated from it. Accepts NULL. */
EE_API void ee_arena_free(ee_arena *a);

#ifdef __cplusplus
}
#endif
#endif
