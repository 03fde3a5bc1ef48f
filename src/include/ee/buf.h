/* eeclient: a growable byte buffer with a hard size limit.
 *
 * Encoders write into an ee_buf the caller can see and reuse. Every append checks the
 * limit, so output built from untrusted input can never grow without bound. The data
 * is always NUL-terminated (the NUL is not counted in len). */
#ifndef EE_BUF_H
#define EE_BUF_H

#include <stddef.h>

#include "ee/export.h"
#include "ee/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EE_BUF_DEFAULT_LIMIT ((size_t)64 << 20) /* 64 MiB */

typedef struct ee_buf {
  char *data;   /* owned by the buffer; NULL until the first append */
  size_t len;   /* bytes in use */
  size_t cap;   /* bytes allocated */
  size_t limit; /* most bytes len may reach; 0 means EE_BUF_DEFAULT_LIMIT */
} ee_buf;

#define EE_BUF_INIT \
  { NULL, 0, 0, 0 }

/* Initialises an empty buffer with the given limit (0 = default). */
EE_API void ee_buf_init(ee_buf *b, size_t limit);

/* Frees the storage and leaves an empty buffer with the same limit. Accepts NULL. */
EE_API void ee_buf_free(ee_buf *b);

/* Empties the buffer but keeps its storage for reuse. */
EE_API void ee_buf_reset(ee_buf *b);

/* Makes room for n more bytes. EE_RESOURCE_EXHAUSTED past the limit and when out of
 * memory (the message says which; see status.h); the buffer is unchanged on failure. */
EE_API ee_code ee_buf_reserve(ee_buf *b, size_t n, ee_status *st);

EE_API ee_code ee_buf_append(ee_buf *b, const void *data, size_t n, ee_status *st);
EE_API ee_code ee_buf_append_str(ee_buf *b, const char *s, ee_status *st);
EE_API ee_code ee_buf_printf(ee_buf *b, ee_status *st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Hands the storage to the caller (free() it) and leaves the buffer empty. Never NULL
 * on success: an empty buffer yields a fresh "" allocation. */
EE_API char *ee_buf_take(ee_buf *b, size_t *len_out, ee_status *st);

#ifdef __cplusplus
}
#endif
#endif
