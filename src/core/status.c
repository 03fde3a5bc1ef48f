/* ee_status: codes, names and the HTTP mapping of TRANSCODING.md. */
#include <stdio.h>
#include <string.h>

#include "ee/status.h"

static const char *const code_names[EE_CODE_COUNT] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

/* 499 is the de-facto "client closed request" status Google uses for CANCELLED. */
static const int code_http[EE_CODE_COUNT] = {
    200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401,
};

void ee_status_clear(ee_status *st) {
  if (!st) return;
  st->code = EE_OK;
  st->http_status = 0;
  st->message[0] = '\0';
  st->reason[0] = '\0';
  st->domain[0] = '\0';
  st->retry_delay_ms = 0;
  st->metadata_len = 0;
}

int ee_status_add_metadata(ee_status *st, const char *key, const char *value) {
  if (!st || !key || !value) return -1;
  size_t kl = strlen(key) + 1, vl = strlen(value) + 1;
  if (st->metadata_len > sizeof st->metadata || kl + vl > sizeof st->metadata - st->metadata_len)
    return -1;
  memcpy(st->metadata + st->metadata_len, key, kl);
  memcpy(st->metadata + st->metadata_len + kl, value, vl);
  st->metadata_len += kl + vl;
  return 0;
}

int ee_status_metadata_next(const ee_status *st, size_t *pos, const char **key,
                            const char **value) {
  if (!st || !pos || *pos >= st->metadata_len || st->metadata_len > sizeof st->metadata) return 0;
  *key = st->metadata + *pos;
  *pos += strlen(*key) + 1;
  *value = st->metadata + *pos;
  *pos += strlen(*value) + 1;
  return 1;
}

const char *ee_status_metadata(const ee_status *st, const char *key) {
  size_t pos = 0;
  const char *k, *v;
  while (ee_status_metadata_next(st, &pos, &k, &v))
    if (strcmp(k, key) == 0) return v;
  return NULL;
}

ee_code ee_status_vset(ee_status *st, ee_code code, const char *fmt, va_list ap) {
  if (!st) return code;
  ee_status_clear(st);
  st->code = code;
  vsnprintf(st->message, sizeof st->message, fmt, ap);
  return code;
}

ee_code ee_status_set(ee_status *st, ee_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ee_status_vset(st, code, fmt, ap);
  va_end(ap);
  return code;
}

ee_code ee_status_prefix(ee_status *st, const char *fmt, ...) {
  char old[EE_STATUS_MESSAGE_MAX];
  va_list ap;
  if (!st) return EE_OK;
  memcpy(old, st->message, sizeof old);
  va_start(ap, fmt);
  int n = vsnprintf(st->message, sizeof st->message, fmt, ap);
  va_end(ap);
  /* Truncation is fine here: messages are bounded by design. */
  size_t used = n < 0 ? 0 : (size_t)n;
  if (used < sizeof st->message) {
    size_t room = sizeof st->message - used;
    size_t old_len = strnlen(old, sizeof old - 1);
    if (room > 2) {
      memcpy(st->message + used, ": ", 2);
      used += 2;
      room -= 2;
      size_t take = old_len < room - 1 ? old_len : room - 1;
      memcpy(st->message + used, old, take);
      used += take;
    }
    st->message[used] = '\0';
  }
  return st->code;
}

const char *ee_code_name(ee_code code) {
  if ((int)code < 0 || (int)code >= EE_CODE_COUNT) return "UNKNOWN";
  return code_names[code];
}

int ee_code_from_name(const char *name, ee_code *out) {
  for (int i = 0; name && i < EE_CODE_COUNT; i++) {
    if (strcmp(name, code_names[i]) == 0) {
      *out = (ee_code)i;
      return 0;
    }
  }
  return -1;
}

int ee_code_to_http(ee_code code) {
  if ((int)code < 0 || (int)code >= EE_CODE_COUNT) return 500;
  return code_http[code];
}

/* The inverse mapping Google's clients use when an error has no body to say better. */
ee_code ee_code_from_http(int http_status) {
  switch (http_status) {
    case 200: return EE_OK;
    case 400: return EE_INVALID_ARGUMENT;
    case 401: return EE_UNAUTHENTICATED;
    case 403: return EE_PERMISSION_DENIED;
    case 404: return EE_NOT_FOUND;
    case 409: return EE_ABORTED;
    case 412: return EE_FAILED_PRECONDITION;
    case 416: return EE_OUT_OF_RANGE;
    case 429: return EE_RESOURCE_EXHAUSTED;
    case 499: return EE_CANCELLED;
    case 501: return EE_UNIMPLEMENTED;
    case 502:
    case 503: return EE_UNAVAILABLE;
    case 504: return EE_DEADLINE_EXCEEDED;
    default: break;
  }
  if (http_status >= 200 && http_status < 300) return EE_OK;
  if (http_status >= 400 && http_status < 500) return EE_FAILED_PRECONDITION;
  if (http_status >= 500 && http_status < 600) return EE_INTERNAL;
  return EE_UNKNOWN;
}

const char *ee_version(void) {
  return EE_VERSION_STRING;
}
