/* Test support: random protobuf-c messages and a canonical dump of their contents.
 *
 * ee_test_fill_random() sets every field of a message (one member per oneof, 1-3
 * elements per repeated field, unique map keys) from a seeded generator, so tests are
 * reproducible. Strings are valid UTF-8. Singular proto3 scalars never hold -0.0, which
 * protobuf-c does not pack (DESIGN.md, Known traps).
 *
 * ee_test_dump() writes one "path<TAB>value" line per set value, with a fixed format
 * that tests/gen/pydump.py reproduces independently from Python's protobuf: integers in
 * decimal, floats and doubles as the decimal of their IEEE-754 bit pattern, strings and
 * bytes in hex, map entries addressed by key. Callers sort the lines to compare. */
#ifndef EE_TEST_RANDMSG_H
#define EE_TEST_RANDMSG_H

#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

typedef struct ee_test_rng {
  uint64_t state;
} ee_test_rng;

uint64_t ee_test_rng_next(ee_test_rng *rng);

/* Allocates a message of type desc with malloc and fills it. Free with
 * protobuf_c_message_free_unpacked(msg, NULL). max_depth bounds nested messages. */
ProtobufCMessage *ee_test_new_random(const ProtobufCMessageDescriptor *desc, ee_test_rng *rng,
                                     int max_depth);

/* Writes the canonical dump of msg to out. */
void ee_test_dump(const ProtobufCMessage *msg, FILE *out);

/* True when desc is a map entry type protoc-c generated (FooEntry with key and value). */
int ee_test_is_map_entry(const ProtobufCMessageDescriptor *desc);

#endif
