/* Binary protobuf internals shared by wire.c (the check), wire_canon.c (the rewrite) and
 * the layers above (the JSON codec asks the same map question).
 *
 * protobuf-c 1.4.1 gets the encoding spec's merge rules wrong on valid input (DESIGN.md,
 * "Known traps"): a singular message field that occurs twice must be parsed as the
 * concatenation of its occurrences, a oneof message member that occurs twice merges while
 * a different member replaces, and a map key that occurs twice keeps its last entry.
 * ee_wire_unpack's walk notices such input and has eei_wire_canonicalize rewrite it into
 * the form protobuf-c reads correctly; canonical input goes to protobuf-c as it is. */
#ifndef EE_CORE_WIRE_INTERNAL_H
#define EE_CORE_WIRE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/status.h"

/* Is fd (a field of parent) a map field? protobuf-c's descriptors do not say, so this is
 * protoc's naming rule: a repeated message field whose type is parent's nested
 * "<CamelName>Entry" with exactly the fields key = 1 and value = 2. */
bool eei_wire_is_map_field(const ProtobufCMessageDescriptor *parent,
                           const ProtobufCFieldDescriptor *fd);

/* The cheap half of eei_wire_is_map_field: fd is a repeated message field whose type has
 * exactly the fields 1 and 2 (every map field passes; the names are not compared). */
static inline bool eei_wire_entry_like(const ProtobufCFieldDescriptor *fd) {
  const ProtobufCMessageDescriptor *e = fd->descriptor;
  return fd->label == PROTOBUF_C_LABEL_REPEATED && fd->type == PROTOBUF_C_TYPE_MESSAGE &&
         e->n_fields == 2 && e->fields[0].id == 1 && e->fields[1].id == 2;
}

/* Can field fd arrive with wire type wt (its own, or 2 for a packed repeated scalar)? A
 * field with another wire type is an unknown field to python's parser. */
bool eei_wire_type_fits(const ProtobufCFieldDescriptor *fd, int wt);

/* Reads a varint of at most 10 bytes; 0, or -1 when truncated or longer. */
int eei_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* The field descriptor for number num, or NULL. *cursor remembers the last index found so
 * that fields arriving in number order (the canonical order) cost a compare or two. */
const ProtobufCFieldDescriptor *eei_wire_field(const ProtobufCMessageDescriptor *desc, uint32_t num,
                                               unsigned *cursor);

/* A map key as the parser sees it: numbers normalised to the key type (a 32-bit key keeps
 * the low 32 bits of its varint, a bool is 0 or 1), strings as their bytes. */
typedef struct eei_wire_key {
  const uint8_t *s; /* string keys: the bytes (len of them); NULL for numbers */
  uint64_t v;       /* numbers: the value; strings: their first bytes, a cheap prefilter */
  uint32_t len;
} eei_wire_key;

/* Reads the key of a map entry from its payload (the last key field wins, an absent key is
 * the type's zero). */
void eei_wire_entry_key(const ProtobufCMessageDescriptor *entry, const uint8_t *p,
                        const uint8_t *end, eei_wire_key *key);

/* Records key field 1 of entry type entry, read with wire type wt: sets *key. */
void eei_wire_set_key(const ProtobufCMessageDescriptor *entry, int wt, uint64_t v, const uint8_t *s,
                      size_t len, eei_wire_key *key);

/* Orders keys (a total order consistent with equality); 0 when equal. */
int eei_wire_key_cmp(const eei_wire_key *a, const eei_wire_key *b);

/* Rewrites len bytes of well-framed wire data for desc (ee_wire_check has accepted them
 * with max_depth) into canonical form: every singular message field and every oneof once,
 * merged as the spec says, every map key once (its last entry), known fields with a wire
 * type their type cannot have dropped (python holds them as unknown fields, which no
 * JSON shows), all else as it was.
 * *out (malloc'ed, at most len bytes; the caller frees it) and *out_len are set on
 * success. Any.value and other bytes fields are opaque and copied as they are. */
ee_code eei_wire_canonicalize(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                              size_t len, int max_depth, uint8_t **out, size_t *out_len,
                              ee_status *st);

/* The check ee_wire_unpack runs: ee_wire_check's, plus whether the bytes need
 * eei_wire_canonicalize before protobuf-c may read them (*rewrite). */
ee_code eei_wire_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      int max_depth, bool *rewrite, ee_status *st);

#endif
