/* A strict reader for the flat JSON objects of credentials: key files, token endpoint
 * and metadata server answers. It is separate from the proto3 JSON codec because every
 * byte it copies may be a secret: values live only in buffers this file allocates, and
 * eei_jobject_free wipes them. Error descriptions give byte offsets, never input text. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"

typedef struct reader {
  const char *p, *start, *end;
  char *why;
  size_t why_size;
} reader;

static bool fail(reader *r, const char *what) {
  if (r->p >= r->end)
    snprintf(r->why, r->why_size, "truncated JSON: %s at the end of the input (byte %zu)", what,
             (size_t)(r->end - r->start));
  else
    snprintf(r->why, r->why_size, "malformed JSON: %s at byte %zu", what,
             (size_t)(r->p - r->start));
  return false;
}

static void skip_ws(reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool read_hex4(reader *r, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int h = r->p < r->end ? hexval(*r->p) : -1;
    if (h < 0) return fail(r, "bad \\u escape");
    v = v * 16 + (unsigned)h;
    r->p++;
  }
  *out = v;
  return true;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12);
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18);
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static bool read_escape(reader *r, char *o, size_t *n) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  if (r->p >= r->end) return fail(r, "unfinished escape");
  const char *e = strchr(from, *r->p);
  if (*r->p && e) {
    o[(*n)++] = to[e - from];
    r->p++;
    return true;
  }
  if (*r->p != 'u') return fail(r, "bad escape");
  r->p++;
  unsigned cp, lo;
  if (!read_hex4(r, &cp)) return false;
  if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair */
    if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u') return fail(r, "lone surrogate");
    r->p += 2;
    if (!read_hex4(r, &lo)) return false;
    if (lo < 0xDC00 || lo > 0xDFFF) return fail(r, "lone surrogate");
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  } else if (cp >= 0xDC00 && cp < 0xE000) {
    return fail(r, "lone surrogate");
  }
  *n += put_utf8(o + *n, cp);
  return true;
}

/* A string at r->p (the opening quote). With out != NULL, the decoded text is stored in
 * a new allocation (never larger than the escaped form). */
static bool read_string(reader *r, char **out, size_t *out_len) {
  r->p++;
  const char *s = r->p;
  while (r->p < r->end && *r->p != '"') r->p += *r->p == '\\' ? 2 : 1;
  if (r->p >= r->end) return fail(r, "unterminated string");
  size_t raw = (size_t)(r->p - s);
  char *o = out ? malloc(raw + 1) : NULL;
  if (out && !o) return fail(r, "out of memory");
  size_t n = 0;
  r->p = s;
  while (*r->p != '"') {
    unsigned char c = (unsigned char)*r->p;
    if (c < 0x20) {
      if (o) OPENSSL_cleanse(o, raw + 1), free(o);
      return fail(r, "control character in a string");
    }
    if (c == '\\') {
      char tmp[4];
      size_t k = 0;
      r->p++;
      if (!read_escape(r, tmp, &k)) {
        if (o) OPENSSL_cleanse(o, raw + 1), free(o);
        return false;
      }
      if (o) memcpy(o + n, tmp, k);
      n += k;
      OPENSSL_cleanse(tmp, sizeof tmp);
      continue;
    }
    if (o) o[n] = (char)c;
    n++;
    r->p++;
  }
  r->p++; /* the closing quote */
  if (o) {
    o[n] = '\0';
    *out = o;
    *out_len = n;
  }
  return true;
}

static bool read_number(reader *r) {
  const char *s = r->p;
  if (r->p < r->end && *r->p == '-') r->p++;
  if (r->p >= r->end || *r->p < '0' || *r->p > '9') return fail(r, "bad number");
  if (*r->p == '0')
    r->p++;
  else
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  if (r->p < r->end && *r->p == '.') {
    r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return fail(r, "bad number");
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    r->p++;
    if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return fail(r, "bad number");
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  }
  return r->p > s;
}

static bool skip_value(reader *r, int depth);

/* An array or object, checked and dropped. */
static bool skip_container(reader *r, int depth) {
  char close = *r->p == '[' ? ']' : '}';
  bool object = close == '}';
  if (depth > EEI_JSON_MAX_DEPTH) return fail(r, "nested too deeply");
  r->p++;
  skip_ws(r);
  if (r->p < r->end && *r->p == close) return r->p++, true;
  for (;;) {
    skip_ws(r);
    if (object) {
      if (r->p >= r->end || *r->p != '"') return fail(r, "expected a member name");
      if (!read_string(r, NULL, NULL)) return false;
      skip_ws(r);
      if (r->p >= r->end || *r->p != ':') return fail(r, "expected ':'");
      r->p++;
      skip_ws(r);
    }
    if (!skip_value(r, depth + 1)) return false;
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') {
      r->p++;
      continue;
    }
    if (r->p < r->end && *r->p == close) return r->p++, true;
    return fail(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static bool skip_literal(reader *r, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0) return fail(r, "unexpected value");
  r->p += n;
  return true;
}

static bool skip_value(reader *r, int depth) {
  if (r->p >= r->end) return fail(r, "expected a value");
  switch (*r->p) {
    case '"': return read_string(r, NULL, NULL);
    case '{':
    case '[': return skip_container(r, depth);
    case 't': return skip_literal(r, "true");
    case 'f': return skip_literal(r, "false");
    case 'n': return skip_literal(r, "null");
    default: return read_number(r);
  }
}

/* One member's value: strings and numbers are kept, the rest checked and dropped. */
static bool read_member_value(reader *r, eei_jmember *m) {
  if (r->p < r->end && *r->p == '"') {
    m->kind = EEI_J_STRING;
    return read_string(r, &m->value, &m->value_len);
  }
  if (r->p < r->end && (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))) {
    const char *s = r->p;
    if (!read_number(r)) return false;
    m->kind = EEI_J_NUMBER;
    m->value_len = (size_t)(r->p - s);
    if (!(m->value = malloc(m->value_len + 1))) return fail(r, "out of memory");
    memcpy(m->value, s, m->value_len);
    m->value[m->value_len] = '\0';
    return true;
  }
  m->kind = EEI_J_OTHER;
  return skip_value(r, 1);
}

static bool read_members(reader *r, eei_jobject *o) {
  skip_ws(r);
  if (r->p >= r->end || *r->p != '{') return fail(r, "expected a JSON object");
  r->p++;
  skip_ws(r);
  if (r->p < r->end && *r->p == '}') return r->p++, true;
  for (;;) {
    skip_ws(r);
    if (r->p >= r->end || *r->p != '"') return fail(r, "expected a member name");
    if (o->n == EEI_JSON_MAX_MEMBERS) return fail(r, "too many members");
    eei_jmember *m = &o->m[o->n];
    memset(m, 0, sizeof *m);
    size_t klen;
    if (!read_string(r, &m->key, &klen)) return false;
    o->n++;
    for (size_t i = 0; i + 1 < o->n; i++)
      if (strcmp(o->m[i].key, m->key) == 0) return fail(r, "duplicate member name");
    skip_ws(r);
    if (r->p >= r->end || *r->p != ':') return fail(r, "expected ':'");
    r->p++;
    skip_ws(r);
    if (!read_member_value(r, m)) return false;
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') {
      r->p++;
      continue;
    }
    if (r->p < r->end && *r->p == '}') return r->p++, true;
    return fail(r, "expected ',' or '}'");
  }
}

bool eei_jobject_parse(const char *text, size_t len, eei_jobject *o, char *why, size_t why_size) {
  reader r = {text, text, text + len, why, why_size};
  memset(o, 0, sizeof *o);
  if (!read_members(&r, o)) {
    eei_jobject_free(o);
    return false;
  }
  skip_ws(&r);
  if (r.p != r.end) {
    eei_jobject_free(o);
    return fail(&r, "text after the object");
  }
  return true;
}

static const eei_jmember *find(const eei_jobject *o, const char *key) {
  for (size_t i = 0; i < o->n; i++)
    if (strcmp(o->m[i].key, key) == 0) return &o->m[i];
  return NULL;
}

const char *eei_jobject_str(const eei_jobject *o, const char *key) {
  const eei_jmember *m = find(o, key);
  return m && m->kind == EEI_J_STRING ? m->value : NULL;
}

int eei_jobject_kind(const eei_jobject *o, const char *key) {
  const eei_jmember *m = find(o, key);
  return m ? (int)m->kind : -1;
}

bool eei_jobject_num(const eei_jobject *o, const char *key, double *out) {
  const eei_jmember *m = find(o, key);
  if (!m || m->kind != EEI_J_NUMBER) return false;
  *out = strtod(m->value, NULL);
  return true;
}

void eei_jobject_free(eei_jobject *o) {
  for (size_t i = 0; i < o->n; i++) {
    eei_free_secret(o->m[i].key);
    if (o->m[i].value) OPENSSL_cleanse(o->m[i].value, o->m[i].value_len);
    free(o->m[i].value);
  }
  memset(o, 0, sizeof *o);
}

ee_code eei_json_quote(ee_buf *b, const char *s, ee_status *st) {
  ee_code rc = ee_buf_append(b, "\"", 1, st);
  if (rc != EE_OK) return rc;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      rc = ee_buf_printf(b, st, "\\%c", c);
    else if (c < 0x20)
      rc = ee_buf_printf(b, st, "\\u%04x", c);
    else
      rc = ee_buf_append(b, s, 1, st);
    if (rc != EE_OK) return rc;
  }
  return ee_buf_append(b, "\"", 1, st);
}

void eei_free_secret(char *s) {
  if (!s) return;
  OPENSSL_cleanse(s, strlen(s));
  free(s);
}

void eei_buf_wipe(ee_buf *b) {
  if (b->data) OPENSSL_cleanse(b->data, b->cap);
  ee_buf_free(b);
}
