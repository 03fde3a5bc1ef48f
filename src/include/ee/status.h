/* eeclient: one result type for every fallible call.
 *
 * An ee_status carries a google.rpc.Code value, a message that says what went wrong
 * (naming the field, flag or JSON path where there is one) and, when known, the HTTP
 * status and the google.rpc.ErrorInfo reason and domain. It owns no heap memory: it is
 * plain data, safe to copy, and needs no free function.
 *
 * The contract every fallible ee_ function keeps:
 *  - it returns an ee_code, EE_OK on success, and fills the ee_status it is given with
 *    the same code and a message (an OK status has an empty message);
 *  - the ee_status * may be NULL: the function then does the same work and returns the
 *    same code, and only the message is lost. Functions whose result IS a status
 *    (ee_route_error_decode, ee_route_status_from_rpc) accept a NULL out likewise.
 *
 * Codes for running out of something:
 *  - EE_RESOURCE_EXHAUSTED: malloc failed ("out of memory ..."), or a size limit the
 *    caller set was reached (an ee_buf's limit, max_input, an arena's limit: "... exceeds
 *    the N-byte limit"), as gRPC reports a message past its size limit. The message says
 *    which; both mean "this call with these resources cannot complete", never bad input.
 *  - A limit on what a peer sent us (a request path too long for ee_route_from_http) is
 *    the peer's error: EE_INVALID_ARGUMENT, with the HTTP status saying which limit.
 *  - EE_INTERNAL is kept for broken invariants (a bug), never for resource shortage. */
#ifndef EE_STATUS_H
#define EE_STATUS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ee/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* google.rpc.Code, with the same numbers. */
typedef enum ee_code {
  EE_OK = 0,
  EE_CANCELLED = 1,
  EE_UNKNOWN = 2,
  EE_INVALID_ARGUMENT = 3,
  EE_DEADLINE_EXCEEDED = 4,
  EE_NOT_FOUND = 5,
  EE_ALREADY_EXISTS = 6,
  EE_PERMISSION_DENIED = 7,
  EE_RESOURCE_EXHAUSTED = 8,
  EE_FAILED_PRECONDITION = 9,
  EE_ABORTED = 10,
  EE_OUT_OF_RANGE = 11,
  EE_UNIMPLEMENTED = 12,
  EE_INTERNAL = 13,
  EE_UNAVAILABLE = 14,
  EE_DATA_LOSS = 15,
  EE_UNAUTHENTICATED = 16
} ee_code;

#define EE_CODE_COUNT 17
#define EE_STATUS_MESSAGE_MAX 1024
#define EE_STATUS_REASON_MAX 128
#define EE_STATUS_METADATA_MAX 512 /* bytes of ErrorInfo.metadata kept ("k\0v\0" pairs) */

typedef struct ee_status {
  ee_code code;
  int http_status;                       /* 0 when no HTTP exchange was involved */
  char message[EE_STATUS_MESSAGE_MAX];   /* NUL-terminated; truncated if longer */
  char reason[EE_STATUS_REASON_MAX];     /* google.rpc.ErrorInfo.reason, or "" */
  char domain[EE_STATUS_REASON_MAX];     /* google.rpc.ErrorInfo.domain, or "" */
  int64_t retry_delay_ms;                /* google.rpc.RetryInfo.retry_delay; 0 when absent */
  size_t metadata_len;                   /* bytes used in metadata */
  char metadata[EE_STATUS_METADATA_MAX]; /* ErrorInfo.metadata as "key\0value\0" pairs, in
                                            the order received; entries that do not fit
                                            are dropped. Read with ee_status_metadata*. */
} ee_status;

/* Resets *st to OK with empty strings. Accepts NULL. */
EE_API void ee_status_clear(ee_status *st);

/* Sets code and a printf-formatted message; returns code so callers can
 * `return ee_status_set(st, EE_INVALID_ARGUMENT, "...")`. Accepts a NULL st. */
EE_API ee_code ee_status_set(ee_status *st, ee_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
EE_API ee_code ee_status_vset(ee_status *st, ee_code code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Puts "prefix: " in front of the current message (for adding context on the way
 * up, e.g. a file name). Returns st->code; EE_OK for a NULL st (whose code is unknown). */
EE_API ee_code ee_status_prefix(ee_status *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends one ErrorInfo.metadata entry. Returns 0, or -1 (nothing added) when it does not
 * fit in what is left of st->metadata or st is NULL. */
EE_API int ee_status_add_metadata(ee_status *st, const char *key, const char *value);

/* The value of ErrorInfo.metadata[key], or NULL. Points into st. */
EE_API const char *ee_status_metadata(const ee_status *st, const char *key);

/* Iterates the metadata entries: start with *pos = 0; returns 1 and sets *key, *value
 * (pointing into st) while there is an entry, then 0. */
EE_API int ee_status_metadata_next(const ee_status *st, size_t *pos, const char **key,
                                   const char **value);

/* The canonical name ("NOT_FOUND"); "UNKNOWN" for values outside google.rpc.Code. */
EE_API const char *ee_code_name(ee_code code);

/* Parses a canonical name; returns 0 and sets *out, or -1 when unknown. */
EE_API int ee_code_from_name(const char *name, ee_code *out);

/* HTTP status for a code (TRANSCODING.md's table), and the code an HTTP status means
 * when no error body says otherwise. */
EE_API int ee_code_to_http(ee_code code);
EE_API ee_code ee_code_from_http(int http_status);

/* The library's version string, e.g. "0.1.0". Static storage. */
EE_API const char *ee_version(void);

#ifdef __cplusplus
}
#endif
#endif
