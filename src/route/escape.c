/* Percent-encoding (RFC 3986, TRANSCODING.md's expansion rules). UTF-8 validity is the
 * codec's rule (eei_utf8_valid, json_rules.h). */
#include <string.h>

#include "route_internal.h"

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool eei_route_pct_valid(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') continue;
    if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) return false;
    i += 2;
  }
  return true;
}

int eei_route_pct_decode_ex(const char *s, size_t n, bool keep_slash, bool plus_is_space, char *out,
                            size_t cap, size_t *out_len) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) return -1;
      c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      if (keep_slash && c == '/') {
        if (o + 3 >= cap) return -1;
        memcpy(out + o, "%2F", 3);
        o += 3;
        i += 2;
        continue;
      }
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (o + 1 >= cap) return -1;
    out[o++] = c;
  }
  if (o >= cap) return -1;
  out[o] = '\0';
  *out_len = o;
  return 0;
}

int eei_route_pct_decode(const char *s, size_t n, bool keep_slash, char *out, size_t cap,
                         size_t *out_len) {
  return eei_route_pct_decode_ex(s, n, keep_slash, false, out, cap, out_len);
}

static bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

ee_code eei_route_pct_encode(ee_buf *b, const char *s, size_t n, bool keep_slash, ee_status *st) {
  static const char hex[] = "0123456789ABCDEF";
  size_t start = b->len;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    ee_code rc;
    if (unreserved(c) || (keep_slash && c == '/')) {
      rc = ee_buf_append(b, &s[i], 1, st);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = ee_buf_append(b, e, 3, st);
    }
    if (rc != EE_OK) {
      b->len = start;
      if (b->data) b->data[start] = '\0';
      return rc;
    }
  }
  return EE_OK;
}
