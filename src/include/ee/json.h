/* eeclient: proto3 JSON for any protobuf-c message.
 *
 * Descriptor-driven: works for every ProtobufCMessageDescriptor, not only the Earth
 * Engine types. The decoder parses straight into the message with its own lexer and the
 * encoder writes straight from it; there is no intermediate DOM. The mapping is the
 * proto3 JSON mapping (TRANSCODING.md), including every well-known type.
 *
 * Field names: protobuf-c descriptors carry no json_name, so the codec takes protoc's
 * json_name (a custom `json_name` option included) from the tables protoc-gen-ee-routes
 * generates: the table of every message in proto/ always, and the tables of other protos
 * once added with ee_json_add_names. Fields of messages no table lists get protoc's
 * default rule (ee_json_name: drop each '_', upper-case the letter after it). Input
 * accepts the json_name and the proto name, as json_format does.
 *
 * Errors: every failure returns a non-OK ee_code and fills the ee_status with
 *   "<json path>: <reason> (byte <offset>)"
 * where the path looks like `expression.values["0"].functionInvocationValue.arguments`
 * (empty for the root, in which case the message is "<reason> (byte <offset>)"). Encode
 * errors have no byte offset. The offset is 0-based, of the token at fault; path segments
 * are keys as written in the input, [i] for array elements and ["k"] for map keys.
 * Codes: EE_INVALID_ARGUMENT for bad input, EE_RESOURCE_EXHAUSTED for the size limits
 * (max_input, the output buffer's limit) and out of memory.
 *
 * Output form (ee_json_encode). Where the mapping leaves a choice, json_format's:
 *  - members in field-number order (with emit_defaults: the set fields, then the unset
 *    ones, also by number; json_format orders the unset ones by declaration, which
 *    protobuf-c descriptors do not record); compact separators "," and ":" (indent N:
 *    json.dumps(indent=N) layout, ": " after keys);
 *  - int64/uint64/fixed64/sfixed64/sint64 as quoted decimals, 32-bit integers as numbers;
 *  - double: the shortest text that reads back to the same double, in Python repr style
 *    ("1.0", "0.1", "1e-05", "1e+16", "-0.0"); float: json_format's rule, the fewest
 *    digits from 6 to 9 that read back to the same float, in the same style
 *    ("0.1", "3.4028235e+38"); NaN and infinities as "NaN", "Infinity", "-Infinity";
 *    -0.0 counts as set and prints as -0.0;
 *  - strings as raw UTF-8; only '"', '\\' and control characters are escaped (\b \f \n
 *    \r \t, others as a lower-case \u00XX escape), i.e. json.dumps(ensure_ascii=False);
 *    a string that is not valid UTF-8 is an error;
 *  - bytes as standard base64 with padding; enums by name (the number when it has none);
 *  - Timestamp in UTC with "Z" and 0, 3, 6 or 9 fractional digits; Duration likewise with
 *    "s"; Any with "@type" first.
 *
 * Input (ee_json_decode) is strict RFC 8259 JSON plus the mapping's leniencies: both
 * field spellings; int64 as number or string; integers in exponent or fraction form when
 * integral ("1e3", "1.0"); numbers inside strings follow the JSON number grammar;
 * enums by name or number (quoted or not; unknown numbers are kept); bytes in standard
 * or URL-safe base64, padded or not (a partial pad is refused); map keys parsed per key
 * type; a float that rounds to a finite float is accepted (json_format refuses values
 * above FLT_MAX even when they round to it). Refused: duplicate keys (also two spellings
 * of one field, and map keys equal after parsing, like "1" and "1.0"), two members of a
 * oneof, invalid UTF-8, lone surrogates, unescaped control characters, trailing data,
 * nesting deeper than max_depth (objects and arrays; the root object is depth 1), and
 * an escaped NUL character in a string field or string map key (protobuf-c strings are
 * NUL-terminated).
 *
 * Limits: the encoder refuses output nested deeper than EE_JSON_DEFAULT_MAX_DEPTH, so
 * whatever it prints decodes with the default options. Any payloads go through the
 * depth-checked ee_wire_unpack (ee/wire.h) with the remaining depth, or are printed
 * straight from their canonical wire bytes.
 *
 * Threads: encode and decode are reentrant and thread-safe; per-descriptor tables are
 * built once on first use (locked) and read without locks afterwards. Each thread keeps a
 * small scratch area between decode calls (released at thread exit, or after a call that
 * grew it past 1 MiB). */
#ifndef EE_JSON_H
#define EE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/export.h"
#include "ee/buf.h"
#include "ee/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Named limits on untrusted input. */
#define EE_JSON_DEFAULT_MAX_DEPTH 100                /* nesting of objects and arrays */
#define EE_JSON_DEFAULT_MAX_INPUT ((size_t)64 << 20) /* bytes of JSON text */

/* A set of message types that Any values may name ("type.googleapis.com/pkg.Msg"). */
typedef struct ee_json_registry ee_json_registry;

/* Every message in proto/ plus the well-known types. Static, immutable, thread-safe;
 * never freed. */
EE_API const ee_json_registry *ee_json_default_registry(void);

/* A new registry that already holds everything in the default registry. The caller
 * owns it and frees it with ee_json_registry_free. NULL only when out of memory. */
EE_API ee_json_registry *ee_json_registry_new(void);

/* Adds one message type (not its nested types). Adding a name twice keeps the first.
 * The descriptor must outlive the registry. Not thread-safe against concurrent lookups. */
EE_API ee_code ee_json_registry_add(ee_json_registry *reg, const ProtobufCMessageDescriptor *desc,
                                    ee_status *st);

/* Looks up a full message name ("google.rpc.Status") or a type URL (the part after the
 * last '/' is used). NULL when unknown. */
EE_API const ProtobufCMessageDescriptor *ee_json_registry_find(const ee_json_registry *reg,
                                                               const char *name_or_url);

/* Frees a registry made by ee_json_registry_new. Accepts NULL. */
EE_API void ee_json_registry_free(ee_json_registry *reg);

typedef struct ee_json_encode_options {
  bool emit_defaults;               /* print fields that hold their default value (not oneofs) */
  bool use_proto_names;             /* "page_size" instead of "pageSize" */
  bool enums_as_ints;               /* 2 instead of "BAR" */
  int indent;                       /* 0: compact; N: pretty-print with N spaces per level */
  const ee_json_registry *registry; /* for Any; NULL = ee_json_default_registry() */
} ee_json_encode_options;

typedef struct ee_json_decode_options {
  bool ignore_unknown_fields;       /* skip unknown keys (and unknown enum names) */
  bool accept_wrapper_objects;      /* wrappers may also be {"value": x} (Earth Engine) */
  int max_depth;                    /* 0 = EE_JSON_DEFAULT_MAX_DEPTH */
  size_t max_input;                 /* 0 = EE_JSON_DEFAULT_MAX_INPUT */
  const ee_json_registry *registry; /* for Any; NULL = ee_json_default_registry() */
  ProtobufCAllocator *allocator;    /* NULL = protobuf-c's default (malloc) */
} ee_json_decode_options;

/* Zero options are the defaults; these initialisers spell that out. */
#define EE_JSON_ENCODE_OPTIONS_INIT \
  { false, false, false, 0, NULL }
#define EE_JSON_DECODE_OPTIONS_INIT \
  { false, false, 0, 0, NULL, NULL }

/* Appends the JSON form of msg to out. opts may be NULL. On failure out is restored to
 * the length it had before the call. The caller keeps ownership of msg and out.
 * EE_RESOURCE_EXHAUSTED when the text would pass out's limit (a text of exactly the limit
 * fits). */
EE_API ee_code ee_json_encode(const ProtobufCMessage *msg, const ee_json_encode_options *opts,
                              ee_buf *out, ee_status *st);

/* Parses len bytes of JSON as a message of type desc. On success *out is a new message
 * the caller owns, freed with protobuf_c_message_free_unpacked(*out, opts->allocator).
 * On failure *out is NULL, nothing is leaked, and st says where and why. opts may be
 * NULL. json need not be NUL-terminated. */
EE_API ee_code ee_json_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                              const ee_json_decode_options *opts, ProtobufCMessage **out,
                              ee_status *st);

struct ee_route_table; /* ee/route.h */

/* Makes the codec use the JSON names of a table protoc-gen-ee-routes wrote for protos
 * outside proto/ (table->messages: protoc's json_name of every field, custom json_name
 * options included). Call it before the first encode or decode of those types: names are
 * read once per type. Adding a table twice is harmless. Thread-safe. The table must
 * outlive every later encode and decode (generated tables are static). Errors:
 * EE_FAILED_PRECONDITION when one of its types was already encoded or decoded under
 * other names. */
EE_API ee_code ee_json_add_names(const struct ee_route_table *table, ee_status *st);

/* The lowerCamelCase JSON name protoc would give a field name, written into out
 * (truncated to out_size). Returns the full length. */
EE_API size_t ee_json_name(const char *field_name, char *out, size_t out_size);

#ifdef __cplusplus
}
#endif
#endif
