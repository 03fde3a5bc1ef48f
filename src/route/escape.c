/* Percent-encoding and UTF-8 checks (RFC 3986, TRANSCODING.md's expansion rules).
 * Standalone (core + libc) so that protoc-gen-ee-routes can compile the template code. */
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

bool eei_route_utf8_valid(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t need;
    unsigned cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      need = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i <= need) return false;
    for (size_t k = 1; k <= need; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += need + 1;
  }
  return true;
}
