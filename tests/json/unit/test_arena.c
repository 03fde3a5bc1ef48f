/* ee_arena as a decode allocator: a message decoded into an arena equals the same
 * message decoded with malloc, the limit bounds what untrusted input can take, alignment
 * holds, and reset/free release everything (ASan's leak check runs this in scripts/test). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ee/arena.h"
#include "ee/json.h"
#include "google/earthengine/v1/expression.pb-c.h"

static const char graph[] =
    "{\"values\":{\"0\":{\"functionInvocationValue\":{\"functionName\":\"Image.constant\","
    "\"arguments\":{\"value\":{\"constantValue\":[1,\"two\",{\"three\":3.5},null,true]}}}},"
    "\"1\":{\"arrayValue\":{\"values\":[{\"valueReference\":\"0\"},{\"bytesValue\":\"AQID\"},"
    "{\"integerValue\":\"-9007199254740993\"}]}}},\"result\":\"1\"}";

static void test_same_message(void) {
  const ProtobufCMessageDescriptor *d = &google__earthengine__v1__expression__descriptor;
  ee_status st;
  ProtobufCMessage *plain = NULL, *in_arena = NULL;
  CHECK(ee_json_decode(d, graph, sizeof graph - 1, NULL, &plain, &st) == EE_OK);
  ee_arena *a = ee_arena_new(128); /* small blocks: the decode spans many of them */
  ee_json_decode_options opts = EE_JSON_DECODE_OPTIONS_INIT;
  opts.allocator = ee_arena_allocator(a);
  for (int round = 0; round < 3; round++) { /* reuse after reset gives the same result */
    CHECK(ee_json_decode(d, graph, sizeof graph - 1, &opts, &in_arena, &st) == EE_OK);
    CHECK(in_arena != NULL && ee_arena_used(a) > 0);
    if (plain && in_arena) {
      size_t n1 = protobuf_c_message_get_packed_size(plain);
      size_t n2 = protobuf_c_message_get_packed_size(in_arena);
      uint8_t *b1 = malloc(n1), *b2 = malloc(n2);
      protobuf_c_message_pack(plain, b1);
      protobuf_c_message_pack(in_arena, b2);
      CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
      free(b1);
      free(b2);
    }
    ee_arena_reset(a);
    CHECK(ee_arena_used(a) == 0);
  }
  ee_arena_free(a);
  protobuf_c_message_free_unpacked(plain, NULL);
}

static void test_limit(void) {
  const ProtobufCMessageDescriptor *d = &google__earthengine__v1__expression__descriptor;
  ee_arena *a = ee_arena_new(0);
  ee_arena_set_limit(a, 256); /* far less than the graph needs */
  ee_json_decode_options opts = EE_JSON_DECODE_OPTIONS_INIT;
  opts.allocator = ee_arena_allocator(a);
  ee_status st;
  ProtobufCMessage *m = (ProtobufCMessage *)1;
  ee_code rc = ee_json_decode(d, graph, sizeof graph - 1, &opts, &m, &st);
  CHECK(rc != EE_OK);
  CHECK(m == NULL);
  CHECK(ee_arena_used(a) <= 256);
  ee_arena_free(a);
}

static void test_alignment_and_growth(void) {
  ee_arena *a = ee_arena_new(64);
  ProtobufCAllocator *al = ee_arena_allocator(a);
  size_t total = 0;
  for (size_t size = 1; size < 100000; size = size * 3 + 1) {
    char *p = al->alloc(al->allocator_data, size);
    CHECK(p != NULL && ((uintptr_t)p % 16) == 0);
    if (p) memset(p, 0xab, size); /* ASan: the whole allocation is usable */
    total += size;
  }
  CHECK(ee_arena_used(a) >= total);
  CHECK(al->alloc(al->allocator_data, SIZE_MAX - 8) == NULL); /* overflow is refused */
  ee_arena_free(a);
  ee_arena_free(NULL);
}

int main(void) {
  test_same_message();
  test_limit();
  test_alignment_and_growth();
  return check_report("arena");
}
