/* ee_buf: a growable, NUL-terminated byte buffer with a hard limit. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ee/buf.h"

static size_t buf_limit(const ee_buf *b) {
  return b->limit ? b->limit : EE_BUF_DEFAULT_LIMIT;
}

void ee_buf_init(ee_buf *b, size_t limit) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->limit = limit;
}

void ee_buf_free(ee_buf *b) {
  if (!b) return;
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void ee_buf_reset(ee_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

ee_code ee_buf_reserve(ee_buf *b, size_t n, ee_status *st) {
  size_t limit = buf_limit(b);
  if (n > limit || b->len > limit - n) {
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "output exceeds the %zu-byte limit", limit);
  }
  size_t need = b->len + n + 1; /* +1 keeps room for the terminating NUL */
  if (need <= b->cap) return EE_OK;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char *p = realloc(b->data, cap);
  if (!p)
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory growing a buffer to %zu bytes",
                         cap);
  b->data = p;
  b->cap = cap;
  return EE_OK;
}

ee_code ee_buf_append(ee_buf *b, const void *data, size_t n, ee_status *st) {
  ee_code rc = ee_buf_reserve(b, n, st);
  if (rc != EE_OK) return rc;
  if (n) memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
  return EE_OK;
}

ee_code ee_buf_append_str(ee_buf *b, const char *s, ee_status *st) {
  return ee_buf_append(b, s, strlen(s), st);
}

ee_code ee_buf_printf(ee_buf *b, ee_status *st, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  ee_code rc = EE_OK;
  if (n < 0) {
    rc = ee_status_set(st, EE_INTERNAL, "bad format string");
    goto done;
  }
  rc = ee_buf_reserve(b, (size_t)n, st);
  if (rc != EE_OK) goto done;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
  b->len += (size_t)n;
done:
  va_end(ap2);
  return rc;
}

char *ee_buf_take(ee_buf *b, size_t *len_out, ee_status *st) {
  if (!b->data && ee_buf_reserve(b, 0, st) != EE_OK) return NULL;
  b->data[b->len] = '\0';
  char *p = b->data;
  if (len_out) *len_out = b->len;
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  return p;
}
