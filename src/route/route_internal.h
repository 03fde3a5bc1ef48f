/* Internal helpers shared by the files of the route layer (not installed). */
#ifndef EEI_ROUTE_INTERNAL_H
#define EEI_ROUTE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "ee/buf.h"
#include "ee/route.h"
#include "ee/status.h"
#include "json_rules.h" /* the json layer's shared rules: numbers, base64, UTF-8, presence */

/* True when every '%' in s is followed by two hex digits. */
bool eei_route_pct_valid(const char *s, size_t n);

/* Decodes percent-escapes of s into out (cap bytes, NUL-terminated); keep_slash leaves
 * "%2F"/"%2f" encoded (as "%2F"), for multi-segment variables. plus_is_space decodes '+'
 * as ' ' (query strings). Returns 0, or -1 on a malformed escape or lack of room. */
int eei_route_pct_decode_ex(const char *s, size_t n, bool keep_slash, bool plus_is_space, char *out,
                            size_t cap, size_t *out_len);
int eei_route_pct_decode(const char *s, size_t n, bool keep_slash, char *out, size_t cap,
                         size_t *out_len);

/* Appends s percent-encoded: every byte but [-_.~0-9a-zA-Z] (and '/' when keep_slash). */
ee_code eei_route_pct_encode(ee_buf *b, const char *s, size_t n, bool keep_slash, ee_status *st);

/* ---- table.c ---- */

/* protoc's json_name from the table (or the default table), NULL when not listed. */
const char *eei_route_json_name_ptr(const ee_route_table *table,
                                    const ProtobufCMessageDescriptor *desc,
                                    const ProtobufCFieldDescriptor *field);

/* A field of desc named by its proto name or its json_name (n bytes of name). */
const ProtobufCFieldDescriptor *eei_route_field_lookup(const ee_route_table *table,
                                                       const ProtobufCMessageDescriptor *desc,
                                                       const char *name, size_t n);

/* ---- value.c: generic protobuf-c field access ---- */

/* The storage of a field inside a message, and of its quantifier (n_, has_ or case). */
#define EEI_FIELD_PTR(msg, f) ((void *)((char *)(msg) + (f)->offset))
#define EEI_QUANT_PTR(msg, f) ((void *)((char *)(msg) + (f)->quantifier_offset))

bool eei_route_is_oneof(const ProtobufCFieldDescriptor *f);

/* True when the field holds a value: the codec's presence rule (eei_field_is_set), so a
 * field is a path or query value exactly when the JSON body would print it. */
bool eei_route_field_is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/* Well-known message types with a scalar JSON form that can travel in a path or query:
 * wrappers, Duration, Timestamp, FieldMask. */
bool eei_route_is_scalar_wkt(const ProtobufCMessageDescriptor *d);
bool eei_route_is_wrapper(const ProtobufCMessageDescriptor *d);

/* Appends the text form of element i of a primitive field (i ignored when singular):
 * strings as-is, integers in decimal, bool "true"/"false", enums by name, doubles and
 * floats exactly as the JSON body prints them (eei_format_double/float: "100.0",
 * "1e+21"; NaN/Infinity/-Infinity), bytes as standard padded base64. The text never
 * depends on the locale. */
ee_code eei_route_value_text(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t i,
                             ee_buf *out, ee_status *st);

/* Text of a scalar-form WKT (the JSON value without quotes), via ee_json_encode. */
ee_code eei_route_wkt_text(const ProtobufCMessage *wkt, ee_buf *out, ee_status *st);

/* Sets (singular) or appends (repeated) a primitive field from text. name is the
 * parameter or variable name for messages. Allocates with a (NULL = malloc). */
ee_code eei_route_set_text(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *text,
                           const char *name, ProtobufCAllocator *a, ee_status *st);

/* Sets a singular scalar-form WKT message field from text (wrappers directly; Duration,
 * Timestamp and FieldMask through ee_json_decode of the quoted text). */
ee_code eei_route_set_wkt_text(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                               const char *text, const char *name,
                               const ee_json_decode_options *jopts, ee_status *st);

/* The submessage of a singular message field, created (and its oneof case selected)
 * when absent. NULL only when out of memory or another member of its oneof is set. */
ProtobufCMessage *eei_route_mutable_message(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                                            ProtobufCAllocator *a);

/* A new, initialised, empty message of type d (free with protobuf_c_message_free_unpacked). */
ProtobufCMessage *eei_route_new_message(const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a);

void *eei_route_alloc(ProtobufCAllocator *a, size_t n);
void eei_route_dealloc(ProtobufCAllocator *a, void *p);

/* ---- to_http.c ---- */

/* Appends the JSON of one field's value (a message's object, a list, a scalar), as the
 * body "f" and response_body "f" rules need. */
ee_code eei_route_encode_field(const ee_route_table *table, const ProtobufCMessage *m,
                               const ProtobufCFieldDescriptor *f,
                               const ee_json_encode_options *json_opts, ee_buf *out, ee_status *st);

#endif
