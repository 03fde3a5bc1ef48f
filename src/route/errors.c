/* Errors on the wire: the Google JSON error envelope and google.rpc.Status, both ways.
 * Neither needs the JSON codec: the envelope has a fixed shape, and reading it must
 * work on any body a server or proxy sends, so a small bounded reader does it here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "route_internal.h"

#define ENVELOPE_MAX_DEPTH 32

/* ------------------------------------------------------------------------------------
 * Encode
 * ---------------------------------------------------------------------------------- */

/* A JSON string; bytes that are not UTF-8 become U+FFFD so the output always parses. */
static ee_code json_string(ee_buf *b, const char *s, ee_status *st) {
  ee_code rc = ee_buf_append_str(b, "\"", st);
  size_t n = strlen(s);
  for (size_t i = 0; i < n && rc == EE_OK; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      rc = ee_buf_printf(b, st, "\\%c", c);
    else if (c == '\n')
      rc = ee_buf_append_str(b, "\\n", st);
    else if (c < 0x20)
      rc = ee_buf_printf(b, st, "\\u%04x", c);
    else if (c < 0x80)
      rc = ee_buf_append(b, &s[i], 1, st);
    else {
      size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      if (i + k <= n && eei_utf8_valid(s + i, k)) {
        rc = ee_buf_append(b, s + i, k, st);
        i += k - 1;
      } else {
        rc = ee_buf_append_str(b, "\xEF\xBF\xBD", st);
      }
    }
  }
  return rc == EE_OK ? ee_buf_append_str(b, "\"", st) : rc;
}

static ee_code encode_error_info(const ee_status *err, const ee_route_error_kv *md, size_t n_md,
                                 ee_buf *out, ee_status *st) {
  ee_code rc = ee_buf_append_str(out, "{\"@type\":\"" EE_ROUTE_ERROR_INFO_TYPE "\"", st);
  if (rc == EE_OK && err->reason[0]) rc = ee_buf_append_str(out, ",\"reason\":", st);
  if (rc == EE_OK && err->reason[0]) rc = json_string(out, err->reason, st);
  if (rc == EE_OK && err->domain[0]) rc = ee_buf_append_str(out, ",\"domain\":", st);
  if (rc == EE_OK && err->domain[0]) rc = json_string(out, err->domain, st);
  if (rc == EE_OK && n_md) rc = ee_buf_append_str(out, ",\"metadata\":{", st);
  for (size_t i = 0; i < n_md && rc == EE_OK; i++) {
    if (i) rc = ee_buf_append_str(out, ",", st);
    if (rc == EE_OK) rc = json_string(out, md[i].key ? md[i].key : "", st);
    if (rc == EE_OK) rc = ee_buf_append_str(out, ":", st);
    if (rc == EE_OK) rc = json_string(out, md[i].value ? md[i].value : "", st);
  }
  if (rc == EE_OK && n_md) rc = ee_buf_append_str(out, "}", st);
  return rc == EE_OK ? ee_buf_append_str(out, "}", st) : rc;
}

static bool has_error_info(const ee_status *err, size_t n_md) {
  return err->reason[0] || err->domain[0] || n_md;
}

/* The details array: an ErrorInfo when there is one, a RetryInfo when a delay is set. */
static ee_code encode_details(const ee_status *err, const ee_route_error_kv *md, size_t n_md,
                              ee_buf *out, ee_status *st) {
  ee_code rc = ee_buf_append_str(out, ",\"details\":[", st);
  if (rc == EE_OK && has_error_info(err, n_md)) rc = encode_error_info(err, md, n_md, out, st);
  if (rc == EE_OK && err->retry_delay_ms > 0)
    rc = ee_buf_printf(
        out, st, "%s{\"@type\":\"" EE_ROUTE_RETRY_INFO_TYPE "\",\"retryDelay\":\"%lld.%03llds\"}",
        has_error_info(err, n_md) ? "," : "", (long long)(err->retry_delay_ms / 1000),
        (long long)(err->retry_delay_ms % 1000));
  return rc == EE_OK ? ee_buf_append_str(out, "]", st) : rc;
}

ee_code ee_route_error_encode(const ee_status *err, const ee_route_error_kv *metadata,
                              size_t n_metadata, ee_buf *out, ee_status *st) {
  size_t start = out->len;
  int http = err->http_status ? err->http_status : ee_code_to_http(err->code);
  ee_code rc = ee_buf_printf(out, st, "{\"error\":{\"code\":%d,\"message\":", http);
  if (rc == EE_OK) rc = json_string(out, err->message, st);
  if (rc == EE_OK) rc = ee_buf_printf(out, st, ",\"status\":\"%s\"", ee_code_name(err->code));
  if (rc == EE_OK && (has_error_info(err, n_metadata) || err->retry_delay_ms > 0))
    rc = encode_details(err, metadata, n_metadata, out, st);
  if (rc == EE_OK) rc = ee_buf_append_str(out, "}}", st);
  if (rc != EE_OK) {
    out->len = start;
    if (out->data) out->data[start] = '\0';
  }
  return rc;
}

/* ------------------------------------------------------------------------------------
 * Decode: a bounded JSON reader for the envelope's shape
 * ---------------------------------------------------------------------------------- */

typedef struct reader {
  const char *s;
  size_t i, n;
  int depth;
} reader;

static void ws(reader *r) {
  while (r->i < r->n && strchr(" \t\r\n", r->s[r->i]) && r->s[r->i]) r->i++;
}

static bool eat(reader *r, char c) {
  ws(r);
  if (r->i < r->n && r->s[r->i] == c) {
    r->i++;
    return true;
  }
  return false;
}

static int hex4(const char *p) {
  int v = 0;
  for (int k = 0; k < 4; k++) {
    char c = p[k];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

static void put(char *out, size_t cap, size_t *o, const char *b, size_t n) {
  for (size_t k = 0; k < n; k++)
    if (*o + 1 < cap) out[(*o)++] = b[k];
}

static void put_cp(char *out, size_t cap, size_t *o, unsigned cp) {
  char b[4];
  size_t n;
  if (cp < 0x80)
    b[0] = (char)cp, n = 1;
  else if (cp < 0x800)
    b[0] = (char)(0xC0 | cp >> 6), b[1] = (char)(0x80 | (cp & 63)), n = 2;
  else if (cp < 0x10000)
    b[0] = (char)(0xE0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 63)),
    b[2] = (char)(0x80 | (cp & 63)), n = 3;
  else
    b[0] = (char)(0xF0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 63)),
    b[2] = (char)(0x80 | ((cp >> 6) & 63)), b[3] = (char)(0x80 | (cp & 63)), n = 4;
  /* Never cut a character in half when truncating. */
  if (*o + n < cap) put(out, cap, o, b, n);
}

static int escape(reader *r, char *out, size_t cap, size_t *o) {
  char e = r->s[r->i++];
  const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
  for (const char *m = map; *m; m += 2)
    if (*m == e) {
      put(out, cap, o, m + 1, 1);
      return 0;
    }
  if (e != 'u' || r->i + 4 > r->n) return -1;
  int cp = hex4(r->s + r->i);
  r->i += 4;
  if (cp < 0) return -1;
  if (cp >= 0xD800 && cp <= 0xDBFF && r->i + 6 <= r->n && r->s[r->i] == '\\' &&
      r->s[r->i + 1] == 'u') {
    int lo = hex4(r->s + r->i + 2);
    if (lo >= 0xDC00 && lo <= 0xDFFF) {
      r->i += 6;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
  }
  if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; /* a lone surrogate */
  put_cp(out, cap, o, (unsigned)cp);
  return 0;
}

/* Reads a string into out (truncated to cap); out may be NULL to skip. */
static bool str(reader *r, char *out, size_t cap) {
  char dummy[1];
  size_t o = 0;
  if (!out) out = dummy, cap = 1;
  if (!eat(r, '"')) return false;
  while (r->i < r->n) {
    char c = r->s[r->i++];
    if (c == '"') {
      out[o] = '\0';
      return true;
    }
    if ((unsigned char)c < 0x20) return false;
    if (c == '\\') {
      if (r->i >= r->n || escape(r, out, cap, &o) != 0) return false;
    } else {
      put(out, cap, &o, &c, 1);
    }
  }
  return false;
}

static bool skip_value(reader *r);

static bool skip_container(reader *r, char close, bool object) {
  if (++r->depth > ENVELOPE_MAX_DEPTH) return false;
  if (eat(r, close)) {
    r->depth--;
    return true;
  }
  do {
    if (object && (!str(r, NULL, 0) || !eat(r, ':'))) return false;
    if (!skip_value(r)) return false;
  } while (eat(r, ','));
  r->depth--;
  return eat(r, close);
}

static bool skip_value(reader *r) {
  ws(r);
  if (r->i >= r->n) return false;
  char c = r->s[r->i];
  if (c == '"') return str(r, NULL, 0);
  if (c == '{') return r->i++, skip_container(r, '}', true);
  if (c == '[') return r->i++, skip_container(r, ']', false);
  size_t start = r->i;
  while (r->i < r->n && strchr("+-.0123456789eEtruefalsn", r->s[r->i]) && r->s[r->i]) r->i++;
  return r->i > start;
}

static bool number(reader *r, long *out) {
  ws(r);
  size_t start = r->i;
  long v = 0;
  bool neg = r->i < r->n && r->s[r->i] == '-';
  if (neg) r->i++;
  while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9' && r->i - start < 9)
    v = v * 10 + (r->s[r->i++] - '0');
  if (r->i == start + neg) return false;
  *out = neg ? -v : v;
  r->i = start;
  return skip_value(r);
}

typedef struct envelope {
  bool have_error, have_code, have_status;
  long code;
  char status[64];
  char message[EE_STATUS_MESSAGE_MAX];
  char reason[EE_STATUS_REASON_MAX], domain[EE_STATUS_REASON_MAX];
  bool have_info;
  ee_status md;           /* ErrorInfo.metadata collects here (only its metadata fields) */
  int64_t retry_delay_ms; /* RetryInfo.retryDelay, 0 when absent */
} envelope;

/* A proto3 JSON Duration ("1.5s") in whole milliseconds, rounded up so a client never
 * comes back early; false when it is not one. */
static bool duration_ms(const char *text, int64_t *out) {
  int64_t sec = 0, ms = 0;
  size_t i = 0, digits = 0;
  for (; text[i] >= '0' && text[i] <= '9' && digits < 12; i++, digits++)
    sec = sec * 10 + (text[i] - '0');
  if (!digits) return false;
  if (text[i] == '.') {
    int scale = 100;
    bool rest = false;
    for (i++; text[i] >= '0' && text[i] <= '9'; i++, scale /= 10) {
      if (scale)
        ms += (text[i] - '0') * scale;
      else if (text[i] != '0')
        rest = true;
    }
    if (rest) ms++;
  }
  if (text[i] != 's' || text[i + 1]) return false;
  *out = sec * 1000 + ms;
  return true;
}

/* ErrorInfo.metadata: a JSON object of strings, kept as far as it fits. */
static bool read_metadata(reader *r, ee_status *md) {
  char key[EE_STATUS_REASON_MAX], value[EE_STATUS_REASON_MAX * 2];
  if (!eat(r, '{')) return skip_value(r);
  if (eat(r, '}')) return true;
  do {
    if (!str(r, key, sizeof key) || !eat(r, ':') || !str(r, value, sizeof value)) return false;
    ee_status_add_metadata(md, key, value);
  } while (eat(r, ','));
  return eat(r, '}');
}

static bool read_detail(reader *r, envelope *e) {
  char key[64], type[128] = "", reason[EE_STATUS_REASON_MAX] = "",
                domain[EE_STATUS_REASON_MAX] = "", delay[64] = "";
  ee_status md;
  md.metadata_len = 0;
  if (!eat(r, '{')) return skip_value(r);
  if (!eat(r, '}')) {
    do {
      if (!str(r, key, sizeof key) || !eat(r, ':')) return false;
      bool ok = strcmp(key, "@type") == 0        ? str(r, type, sizeof type)
                : strcmp(key, "reason") == 0     ? str(r, reason, sizeof reason)
                : strcmp(key, "domain") == 0     ? str(r, domain, sizeof domain)
                : strcmp(key, "metadata") == 0   ? read_metadata(r, &md)
                : strcmp(key, "retryDelay") == 0 ? str(r, delay, sizeof delay)
                                                 : skip_value(r);
      if (!ok) return false;
    } while (eat(r, ','));
    if (!eat(r, '}')) return false;
  }
  if (!e->have_info && strcmp(type, EE_ROUTE_ERROR_INFO_TYPE) == 0) {
    e->have_info = true;
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    snprintf(e->domain, sizeof e->domain, "%s", domain);
    memcpy(e->md.metadata, md.metadata, md.metadata_len);
    e->md.metadata_len = md.metadata_len;
  }
  if (!e->retry_delay_ms && strcmp(type, EE_ROUTE_RETRY_INFO_TYPE) == 0)
    duration_ms(delay, &e->retry_delay_ms);
  return true;
}

static bool read_details(reader *r, envelope *e) {
  if (!eat(r, '[')) return skip_value(r);
  if (eat(r, ']')) return true;
  do {
    if (!read_detail(r, e)) return false;
  } while (eat(r, ','));
  return eat(r, ']');
}

static bool read_error(reader *r, envelope *e) {
  char key[64];
  if (!eat(r, '{')) return false;
  e->have_error = true;
  if (eat(r, '}')) return true;
  do {
    if (!str(r, key, sizeof key) || !eat(r, ':')) return false;
    bool ok;
    if (strcmp(key, "code") == 0)
      ok = e->have_code = number(r, &e->code);
    else if (strcmp(key, "message") == 0)
      ok = str(r, e->message, sizeof e->message);
    else if (strcmp(key, "status") == 0)
      ok = e->have_status = str(r, e->status, sizeof e->status);
    else if (strcmp(key, "details") == 0)
      ok = read_details(r, e);
    else
      ok = skip_value(r);
    if (!ok) return false;
  } while (eat(r, ','));
  return eat(r, '}');
}

static bool read_envelope(reader *r, envelope *e) {
  char key[64];
  if (!eat(r, '{')) return false;
  if (eat(r, '}')) return false;
  do {
    if (!str(r, key, sizeof key) || !eat(r, ':')) return false;
    bool ok = strcmp(key, "error") == 0 && !e->have_error ? read_error(r, e) : skip_value(r);
    if (!ok) return false;
  } while (eat(r, ','));
  return eat(r, '}') && e->have_error;
}

/* A short printable excerpt of a non-envelope body, for the message. */
static void excerpt(const char *body, size_t len, char *out, size_t cap) {
  size_t o = 0;
  bool space = false;
  for (size_t i = 0; i < len && o + 1 < cap && o < 160; i++) {
    unsigned char c = (unsigned char)body[i];
    if (c <= ' ' || c >= 0x7f) {
      space = o > 0;
      continue;
    }
    if (space && o + 2 < cap) out[o++] = ' ';
    space = false;
    out[o++] = (char)c;
  }
  out[o] = '\0';
}

ee_code ee_route_error_decode(int http_status, const char *body, size_t len, ee_status *out) {
  envelope e;
  memset(&e, 0, sizeof e);
  if (!body) len = 0;
  if (len > EE_ROUTE_MAX_ERROR_BODY) len = EE_ROUTE_MAX_ERROR_BODY;
  reader r = {body, 0, len, 0};
  bool ok = len > 0 && read_envelope(&r, &e);
  ee_code code = ee_code_from_http(http_status);
  ee_code named;
  if (ok && e.have_status && ee_code_from_name(e.status, &named) == 0)
    code = named;
  else if (ok && e.have_code && e.code > 0)
    code = ee_code_from_http((int)e.code);
  if (code == EE_OK) code = EE_UNKNOWN; /* an error reply never means success */
  if (ok) {
    ee_status_set(out, code, "%s", e.message[0] ? e.message : "(no message)");
    if (out) {
      snprintf(out->reason, sizeof out->reason, "%s", e.reason);
      snprintf(out->domain, sizeof out->domain, "%s", e.domain);
      memcpy(out->metadata, e.md.metadata, e.md.metadata_len);
      out->metadata_len = e.md.metadata_len;
      out->retry_delay_ms = e.retry_delay_ms;
    }
  } else {
    char ex[200];
    excerpt(body ? body : "", len, ex, sizeof ex);
    ee_status_set(out, code, "HTTP %d with no error envelope%s%s", http_status, ex[0] ? ": " : "",
                  ex);
  }
  if (out) out->http_status = http_status;
  return code;
}

/* ------------------------------------------------------------------------------------
 * google.rpc.Status (grpc-status-details-bin)
 * ---------------------------------------------------------------------------------- */

ee_code ee_route_status_to_rpc(const ee_status *err, const ee_route_error_kv *metadata,
                               size_t n_metadata, ee_buf *out, ee_status *st) {
  Google__Rpc__Status s = GOOGLE__RPC__STATUS__INIT;
  Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT, retry_any = GOOGLE__PROTOBUF__ANY__INIT,
                        *anys[2] = {&any, &retry_any};
  Google__Rpc__RetryInfo retry = GOOGLE__RPC__RETRY_INFO__INIT;
  Google__Protobuf__Duration delay = GOOGLE__PROTOBUF__DURATION__INIT;
  uint8_t retry_bytes[32];
  Google__Rpc__ErrorInfo__MetadataEntry *entries = NULL, **entry_ptrs = NULL;
  uint8_t *info_bytes = NULL, *bytes = NULL;
  ee_code rc = EE_OK;
  s.code = (int32_t)err->code;
  s.message = (char *)err->message;
  if (err->reason[0] || err->domain[0] || n_metadata) {
    entries = calloc(n_metadata + 1, sizeof *entries);
    entry_ptrs = calloc(n_metadata + 1, sizeof *entry_ptrs);
    if (!entries || !entry_ptrs) {
      rc = ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
      goto done;
    }
    for (size_t i = 0; i < n_metadata; i++) {
      google__rpc__error_info__metadata_entry__init(&entries[i]);
      entries[i].key = (char *)(metadata[i].key ? metadata[i].key : "");
      entries[i].value = (char *)(metadata[i].value ? metadata[i].value : "");
      entry_ptrs[i] = &entries[i];
    }
    info.reason = (char *)err->reason;
    info.domain = (char *)err->domain;
    info.n_metadata = n_metadata;
    info.metadata = entry_ptrs;
    size_t n = google__rpc__error_info__get_packed_size(&info);
    info_bytes = malloc(n ? n : 1);
    if (!info_bytes) {
      rc = ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
      goto done;
    }
    any.type_url = (char *)EE_ROUTE_ERROR_INFO_TYPE;
    any.value.len = google__rpc__error_info__pack(&info, info_bytes);
    any.value.data = info_bytes;
    s.n_details = 1;
  }
  if (err->retry_delay_ms > 0) {
    /* Packed into a fixed buffer: a Duration of two varints fits in well under 32. */
    delay.seconds = err->retry_delay_ms / 1000;
    delay.nanos = (int32_t)(err->retry_delay_ms % 1000) * 1000000;
    retry.retry_delay = &delay;
    retry_any.type_url = (char *)EE_ROUTE_RETRY_INFO_TYPE;
    retry_any.value.len = google__rpc__retry_info__pack(&retry, retry_bytes);
    retry_any.value.data = retry_bytes;
    anys[s.n_details++] = &retry_any;
  }
  s.details = anys;
  size_t n = google__rpc__status__get_packed_size(&s);
  bytes = malloc(n ? n : 1);
  if (!bytes) {
    rc = ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  google__rpc__status__pack(&s, bytes);
  rc = ee_buf_append(out, bytes, n, st);
done:
  free(entries);
  free(entry_ptrs);
  free(info_bytes);
  free(bytes);
  return rc;
}

static bool read_rpc_error_info(const Google__Protobuf__Any *a, ee_status *out) {
  Google__Rpc__ErrorInfo *info = google__rpc__error_info__unpack(NULL, a->value.len, a->value.data);
  if (!info) return false;
  snprintf(out->reason, sizeof out->reason, "%s", info->reason ? info->reason : "");
  snprintf(out->domain, sizeof out->domain, "%s", info->domain ? info->domain : "");
  for (size_t i = 0; i < info->n_metadata; i++)
    if (info->metadata[i]->key && info->metadata[i]->value)
      ee_status_add_metadata(out, info->metadata[i]->key, info->metadata[i]->value);
  google__rpc__error_info__free_unpacked(info, NULL);
  return true;
}

static void read_rpc_retry_info(const Google__Protobuf__Any *a, ee_status *out) {
  Google__Rpc__RetryInfo *info = google__rpc__retry_info__unpack(NULL, a->value.len, a->value.data);
  if (!info) return;
  const Google__Protobuf__Duration *d = info->retry_delay;
  if (d && d->seconds >= 0 && d->seconds < 1000000000 && d->nanos >= 0)
    out->retry_delay_ms = d->seconds * 1000 + (d->nanos + 999999) / 1000000;
  google__rpc__retry_info__free_unpacked(info, NULL);
}

ee_code ee_route_status_from_rpc(const uint8_t *data, size_t len, ee_code fallback_code,
                                 ee_status *out) {
  Google__Rpc__Status *s =
      len <= EE_ROUTE_MAX_ERROR_BODY ? google__rpc__status__unpack(NULL, len, data) : NULL;
  if (!s || s->code < 0 || s->code >= EE_CODE_COUNT) {
    ee_status_set(out, fallback_code, "%s: grpc-status-details-bin is unreadable (%zu bytes)",
                  ee_code_name(fallback_code), len);
    if (s) google__rpc__status__free_unpacked(s, NULL);
    return fallback_code;
  }
  ee_code code = (ee_code)s->code;
  ee_status_set(out, code, "%s", s->message ? s->message : "");
  bool have_info = false;
  for (size_t i = 0; out && i < s->n_details; i++) {
    const Google__Protobuf__Any *a = s->details[i];
    if (!a->type_url) continue;
    if (!have_info && strcmp(a->type_url, EE_ROUTE_ERROR_INFO_TYPE) == 0)
      have_info = read_rpc_error_info(a, out);
    else if (strcmp(a->type_url, EE_ROUTE_RETRY_INFO_TYPE) == 0)
      read_rpc_retry_info(a, out);
  }
  google__rpc__status__free_unpacked(s, NULL);
  return code;
}
