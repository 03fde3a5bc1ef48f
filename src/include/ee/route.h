/* eeclient: gRPC transcoding (google.api.http), both directions.
 *
 * One generated description of each method (gen/routes/, written by protoc-gen-ee-routes
 * from the google.api.http options in proto/) drives:
 *   - the client's REST call:   request message -> HTTP method, path + query, JSON body;
 *   - the client's gRPC call:   the gRPC method path and the x-goog-request-params value;
 *   - the emulator's routing:   HTTP verb, path, query, body -> route + request message;
 *   - errors on the wire:       ee_status <-> Google JSON error envelope / google.rpc.Status.
 * The rules are TRANSCODING.md's. All tables are static, immutable and thread-safe; every
 * function here is reentrant.
 *
 * Field paths in templates use proto field names ("a.b_c"); query parameter names are the
 * dotted lowerCamelCase JSON names ("a.bC"); the parser also accepts proto names. */
#ifndef EE_ROUTE_H
#define EE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/export.h"
#include "ee/buf.h"
#include "ee/json.h"
#include "ee/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------
 * Route tables (generated; the types are public so generated code and callers share them)
 * ---------------------------------------------------------------------------------- */

/* Named limits on untrusted input (the HTTP -> request direction, and templates). */
#define EE_ROUTE_MAX_PATH 8192      /* bytes of request path (before '?') */
#define EE_ROUTE_MAX_QUERY 16384    /* bytes of query string (after '?') */
#define EE_ROUTE_MAX_PARAMS 256     /* query parameters */
#define EE_ROUTE_MAX_SEGMENTS 128   /* path segments in a template or a request path */
#define EE_ROUTE_MAX_VARIABLES 16   /* variables in one template */
#define EE_ROUTE_MAX_FIELD_DEPTH 16 /* components of a dotted field path */

typedef enum ee_route_seg_kind {
  EE_ROUTE_SEG_LITERAL = 0,    /* matches exactly `literal` (after percent-decoding) */
  EE_ROUTE_SEG_STAR = 1,       /* `*`: exactly one non-empty segment */
  EE_ROUTE_SEG_DOUBLE_STAR = 2 /* `**`: zero or more segments; only last */
} ee_route_seg_kind;

typedef struct ee_route_segment {
  ee_route_seg_kind kind;
  const char *literal; /* EE_ROUTE_SEG_LITERAL only, else NULL */
} ee_route_segment;

/* A `{field.path=sub/segments}` variable. It covers segments [seg_begin, seg_end) of the
 * template's flat segment list; `{var}` alone is `{var=*}` (one STAR segment). */
typedef struct ee_route_variable {
  const char *field_path;         /* dotted proto field names, e.g. "name" or "a.b_c" */
  const char *const *field_names; /* field_path split on '.', n_field_names entries */
  size_t n_field_names;
  size_t seg_begin, seg_end;
} ee_route_variable;

/* A parsed path template: "/" Segments [":" Verb]. */
typedef struct ee_route_template {
  const char *text; /* the template as written, e.g. "/v1/{name}/operations" */
  const ee_route_segment *segments;
  size_t n_segments;
  const ee_route_variable *variables;
  size_t n_variables;
  const char *verb; /* the ":verb" suffix without ':' ("export"), or NULL */
} ee_route_template;

/* One HTTP binding of a method: the primary rule or one of its additional_bindings. */
typedef struct ee_http_binding {
  const char *method; /* "GET", "PUT", "POST", "DELETE", "PATCH", or a custom kind */
  ee_route_template path;
  const char *body;          /* NULL: no body; "*": every field not bound by the path;
                                else the top-level proto field name of the body */
  const char *response_body; /* NULL: the whole response; else a top-level field name */
} ee_http_binding;

struct ee_route_table;

/* One routed RPC method. bindings[0] is the primary rule, the rest its
 * additional_bindings in declaration order. */
typedef struct ee_route {
  const char *grpc_path; /* "/google.earthengine.v1.EarthEngine/ExportImage" */
  const char *service;   /* "google.earthengine.v1.EarthEngine" */
  const char *method;    /* "ExportImage" */
  const ProtobufCMessageDescriptor *request;
  const ProtobufCMessageDescriptor *response;
  const ee_http_binding *bindings;
  size_t n_bindings;
  const struct ee_route_table *table; /* the table this route belongs to (JSON names) */
} ee_route;

/* protoc's json_name for one field. */
typedef struct ee_route_json_field {
  uint32_t number;
  const char *name;      /* proto name: "page_size" */
  const char *json_name; /* protoc's json_name: "pageSize" */
} ee_route_json_field;

/* The JSON names of every field of one message, sorted by field number. */
typedef struct ee_route_json_message {
  const char *full_name; /* "google.longrunning.ListOperationsRequest" */
  const ProtobufCMessageDescriptor *descriptor;
  const ee_route_json_field *fields;
  size_t n_fields;
} ee_route_json_message;

typedef struct ee_route_table {
  const ee_route *routes; /* sorted by grpc_path */
  size_t n_routes;
  const ee_route_json_message *messages; /* sorted by full_name */
  size_t n_messages;
} ee_route_table;

/* Every route of proto/ (gen/routes/). Static storage; never freed. */
EE_API const ee_route_table *ee_route_table_default(void);

/* Looks a route up by gRPC method path ("/pkg.Service/Method"). NULL when unknown. The
 * result points into the (static) table. */
EE_API const ee_route *ee_route_find(const ee_route_table *table, const char *grpc_path);

/* protoc's json_name of a field of desc, from the route table's JSON name table (falls
 * back to ee_json_name's derivation for messages the table does not list). Writes
 * into out (truncated to out_size, NUL-terminated) and returns the full length. */
EE_API size_t ee_route_json_name(const ee_route_table *table,
                                 const ProtobufCMessageDescriptor *desc,
                                 const ProtobufCFieldDescriptor *field, char *out, size_t out_size);

/* ------------------------------------------------------------------------------------
 * Path templates (the grammar of TRANSCODING.md; the plugin uses the same parser)
 * ---------------------------------------------------------------------------------- */

/* Parses a template. On success *out is a new template the caller owns (free with
 * ee_route_template_free). On failure *out is NULL and st says what and where
 * (INVALID_ARGUMENT, e.g. "'**' must be the last segment", with the template and the
 * offset). Only the grammar is checked here; the plugin checks the field paths against
 * the messages. */
EE_API ee_code ee_route_template_parse(const char *text, ee_route_template **out, ee_status *st);

/* Frees a template made by ee_route_template_parse. Accepts NULL. */
EE_API void ee_route_template_free(ee_route_template *t);

/* Captured variable values of a matched path: values[i] belongs to variables[i]. */
typedef struct ee_route_captures {
  size_t n;
  char *values[EE_ROUTE_MAX_VARIABLES]; /* owned; decoded (multi-segment keep %2F) */
} ee_route_captures;

/* Frees the captured values and resets to empty. Accepts NULL. */
EE_API void ee_route_captures_free(ee_route_captures *c);

/* Matches a request path (no query string; percent-escapes still in it) against t.
 * EE_OK: caps holds one decoded value per variable (the caller frees them with
 * ee_route_captures_free). EE_NOT_FOUND: no match (caps empty). EE_INVALID_ARGUMENT:
 * malformed percent-escape, an escaped NUL, invalid UTF-8 in a value, or too long. Bounded by
 * EE_ROUTE_MAX_PATH and EE_ROUTE_MAX_SEGMENTS. */
EE_API ee_code ee_route_template_match(const ee_route_template *t, const char *path,
                                       size_t path_len, ee_route_captures *caps, ee_status *st);

/* ------------------------------------------------------------------------------------
 * Client direction: request message -> HTTP
 * ---------------------------------------------------------------------------------- */

typedef struct ee_http_request {
  const char *method;             /* points into the route table (static) */
  const ee_http_binding *binding; /* the binding chosen; points into the table */
  ee_buf target;   /* path [+ "?" + query], e.g. "/v1/projects/p/operations?pageSize=5" */
  size_t path_len; /* bytes of target before the '?' (or all of it) */
  ee_buf body;     /* JSON body; empty when !has_body */
  bool has_body;
} ee_http_request;

/* Initialises an empty ee_http_request (buffers with default limits). */
EE_API void ee_http_request_init(ee_http_request *r);

/* Frees the buffers and resets to empty. Accepts NULL. */
EE_API void ee_http_request_free(ee_http_request *r);

/* Transcodes req (of type route->request) to HTTP. Picks the first binding whose path
 * variables are all set and match their patterns; expands the path (single-segment
 * variables percent-encode all but [-_.~0-9a-zA-Z], multi-segment ones keep '/'; '.' and
 * '..' segment values are refused); builds the query from the set fields not bound by
 * the path or body (dotted lowerCamelCase names, repeated keys, enums by name, sorted by
 * name for determinism; doubles and floats spelled as the JSON body spells them, e.g.
 * 100.0 and 1e+21, as Google's Python clients send them, whatever the C locale); writes
 * the JSON body per the binding's body rule.
 * A value that breaks its pattern, an unset path field, or a field that cannot be a
 * query parameter (map, repeated message) is EE_INVALID_ARGUMENT naming the field,
 * value and pattern; nothing is sent. With body "f", an unset message f is sent as {}
 * (and so arrives as an empty message); an unset list as []. json_opts may be NULL (defaults). The
 * caller owns req and out; out is reset first and holds the result only on EE_OK. */
EE_API ee_code ee_route_to_http(const ee_route *route, const ProtobufCMessage *req,
                                const ee_json_encode_options *json_opts, ee_http_request *out,
                                ee_status *st);

/* The x-goog-request-params metadata value for a gRPC call: "field=value" for each path
 * variable of the binding ee_route_to_http would choose, joined by '&', values
 * URL-encoded (e.g. "project=projects%2Fmy-proj"). Appends to out (empty string when the
 * route has no variables). EE_INVALID_ARGUMENT as ee_route_to_http for bad path values.
 * The caller owns req and out. */
EE_API ee_code ee_route_request_params(const ee_route *route, const ProtobufCMessage *req,
                                       ee_buf *out, ee_status *st);

/* Decodes an HTTP response body into a new response message of route->response,
 * honouring the binding's response_body. The caller owns *out (free with
 * protobuf_c_message_free_unpacked(*out, opts->allocator)). *out is NULL on failure. */
EE_API ee_code ee_route_decode_response(const ee_route *route, const ee_http_binding *binding,
                                        const char *json, size_t len,
                                        const ee_json_decode_options *opts, ProtobufCMessage **out,
                                        ee_status *st);

/* ------------------------------------------------------------------------------------
 * Server direction (the emulator): HTTP -> route + request message
 * ---------------------------------------------------------------------------------- */

typedef struct ee_route_decode_options {
  ee_json_decode_options json; /* for the body and WKT query values (ignore unknown,
                                  {"value": x} wrappers, limits, allocator) */
  bool ignore_unknown_query;   /* skip unknown query parameters instead of failing */
  size_t max_path;             /* 0 = EE_ROUTE_MAX_PATH */
  size_t max_query;            /* 0 = EE_ROUTE_MAX_QUERY */
  size_t max_params;           /* 0 = EE_ROUTE_MAX_PARAMS */
} ee_route_decode_options;

#define EE_ROUTE_DECODE_OPTIONS_INIT \
  { EE_JSON_DECODE_OPTIONS_INIT, false, 0, 0, 0 }

/* The HTTP status ee_route_from_http reports (in st->http_status, with code
 * EE_NOT_FOUND and reason "METHOD_NOT_ALLOWED") when a path matches a route only under
 * other HTTP methods. A plain miss has http_status 404 and reason "NOT_FOUND". */
#define EE_ROUTE_HTTP_METHOD_NOT_ALLOWED 405

typedef struct ee_route_match {
  const ee_route *route;          /* into the table */
  const ee_http_binding *binding; /* into the table */
  ProtobufCMessage *request;      /* new message of route->request type, caller owns */
} ee_route_match;

/* Routes an incoming request. verb is the HTTP method ("GET"), path the raw request path
 * (escapes intact, no '?'), query the raw query string (without '?'; may be NULL/0),
 * body the raw body (may be NULL/0; an empty body with a body rule means "{}").
 * Steps: find the route (a template with a ":verb" is preferred over a ** that would
 * swallow it; then more literal segments; then table order), decode the body with
 * ee_json_decode into the body message (body "*": the whole request; body "f": field f),
 * then set path variables, then query parameters.
 * Conflicts: a path variable overrides an equal body value; a body that sets a
 * path-bound field to a different value is EE_INVALID_ARGUMENT. A query parameter naming
 * a path-bound field, a field inside the body, or a singular field twice is
 * EE_INVALID_ARGUMENT. With body "*" every non-path field comes from the body, so any
 * query parameter is unknown. System parameters ("alt=json", "prettyPrint", "$.xgafv",
 * "key", "fields", "quotaUser", "access_token", "oauth_token", "callback",
 * "upload_protocol", "uploadType") are accepted and ignored, as Google's front end does.
 * Errors: EE_NOT_FOUND (http_status 404, or 405 as above); EE_INVALID_ARGUMENT for
 * malformed escapes, unknown query parameters (unless ignored), bad values, bad JSON,
 * and a passed limit (then st->http_status is 414 for the path or query length, 400
 * otherwise; not RESOURCE_EXHAUSTED, which would invite a retry). A body sent to a
 * binding without a body rule is ignored. On EE_OK the caller owns out->request
 * (free with protobuf_c_message_free_unpacked(out->request, opts->json.allocator));
 * on failure out->request is NULL (out->route may still be set once a route matched).
 * opts may be NULL. */
EE_API ee_code ee_route_from_http(const ee_route_table *table, const char *verb, const char *path,
                                  size_t path_len, const char *query, size_t query_len,
                                  const char *body, size_t body_len,
                                  const ee_route_decode_options *opts, ee_route_match *out,
                                  ee_status *st);

/* Encodes a response message for the HTTP reply, honouring binding->response_body.
 * Appends to out; the caller owns resp and out. */
EE_API ee_code ee_route_encode_response(const ee_route *route, const ee_http_binding *binding,
                                        const ProtobufCMessage *resp,
                                        const ee_json_encode_options *json_opts, ee_buf *out,
                                        ee_status *st);

/* ------------------------------------------------------------------------------------
 * Errors on the wire
 * ---------------------------------------------------------------------------------- */

#define EE_ROUTE_ERROR_INFO_TYPE "type.googleapis.com/google.rpc.ErrorInfo"
#define EE_ROUTE_RETRY_INFO_TYPE "type.googleapis.com/google.rpc.RetryInfo"
#define EE_ROUTE_MAX_ERROR_BODY ((size_t)1 << 20) /* bytes of error body we parse */

/* One google.rpc.ErrorInfo metadata entry. */
typedef struct ee_route_error_kv {
  const char *key;
  const char *value;
} ee_route_error_kv;

/* Appends the Google JSON error envelope for err to out:
 * {"error":{"code":<HTTP>,"message":"…","status":"<CODE_NAME>","details":[{"@type":
 * "type.googleapis.com/google.rpc.ErrorInfo","reason":"…","domain":"…","metadata":{…}}]}}
 * code is err->http_status when set, else ee_code_to_http(err->code). details appears
 * only when err->reason or err->domain or metadata is non-empty. metadata may be NULL
 * (n_metadata 0). The caller owns everything passed. */
EE_API ee_code ee_route_error_encode(const ee_status *err, const ee_route_error_kv *metadata,
                                     size_t n_metadata, ee_buf *out, ee_status *st);

/* Fills *out from an HTTP error reply: the envelope's error.status (preferred), else
 * error.code, else the HTTP status (ee_code_from_http); message, ErrorInfo reason and
 * domain when present. A body that is not an envelope (a proxy's HTML 502 page) maps by
 * http_status with a message that says so. ErrorInfo.metadata fills out->metadata and a
 * google.rpc.RetryInfo fills out->retry_delay_ms. out->http_status = http_status. Never fails;
 * returns out->code. body may be NULL; only EE_ROUTE_MAX_ERROR_BODY bytes are parsed. */
EE_API ee_code ee_route_error_decode(int http_status, const char *body, size_t len, ee_status *out);

/* Builds a google.rpc.Status (code, message, and an ErrorInfo in details when err has a
 * reason or domain or metadata is given) and appends its binary encoding to out (the
 * grpc-status-details-bin value). The caller owns everything passed. */
EE_API ee_code ee_route_status_to_rpc(const ee_status *err, const ee_route_error_kv *metadata,
                                      size_t n_metadata, ee_buf *out, ee_status *st);

/* Fills *out from a binary google.rpc.Status (grpc-status-details-bin): code, message,
 * the first ErrorInfo's reason, domain and metadata, and RetryInfo's delay. Bytes that do not parse
 * (or a code outside google.rpc.Code) give out->code = fallback_code (the grpc-status the trailer
 * came with) and a message saying the details were unreadable. out->http_status = 0. Never fails;
 * returns out->code. */
EE_API ee_code ee_route_status_from_rpc(const uint8_t *data, size_t len, ee_code fallback_code,
                                        ee_status *out);

#ifdef __cplusplus
}
#endif
#endif
