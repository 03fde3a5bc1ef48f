/* Text forms the JSON mapping needs besides numbers: base64, RFC 3339 timestamps,
 * durations, and UTF-8 validation. */
#include <string.h>

#include "json_internal.h"

/* --- base64 --- */

static const char k_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t eei_base64_encoded_len(size_t n) {
  return (n + 2) / 3 * 4;
}

void eei_base64_encode(const uint8_t *in, size_t n, char *out) {
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[0] = k_b64[v >> 18];
    out[1] = k_b64[(v >> 12) & 63];
    out[2] = k_b64[(v >> 6) & 63];
    out[3] = k_b64[v & 63];
    out += 4;
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[0] = k_b64[v >> 18];
    out[1] = k_b64[(v >> 12) & 63];
    out[2] = '=';
    out[3] = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[0] = k_b64[v >> 18];
    out[1] = k_b64[(v >> 12) & 63];
    out[2] = k_b64[(v >> 6) & 63];
    out[3] = '=';
  }
}

/* Both alphabets decode: '+' and '-' are 62, '/' and '_' are 63. -1 marks the rest. */
static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

size_t eei_base64_decode(const char *in, size_t len, uint8_t *out) {
  /* Padding is optional, but when present it must complete the last quantum. */
  if (len % 4 == 0 && len >= 2 && in[len - 1] == '=') len -= in[len - 2] == '=' ? 2 : 1;
  if (len % 4 == 1) return (size_t)-1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64_value((unsigned char)in[i]);
    if (v < 0) return (size_t)-1;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  return o;
}

/* --- calendar (proleptic Gregorian, H. Hinnant's algorithms) --- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned k[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : k[m - 1];
}

/* Reads exactly n digits at *p; -1 when any is not a digit. */
static int fixed_digits(const char **p, const char *end, int n) {
  int v = 0;
  if (end - *p < n) return -1;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  *p += n;
  return v;
}

static bool expect_char(const char **p, const char *end, char c) {
  if (*p >= end || **p != c) return false;
  (*p)++;
  return true;
}

/* ".f{1,9}" if present; nanos scaled to 9 digits. */
static const char *fraction(const char **p, const char *end, int32_t *nanos) {
  *nanos = 0;
  if (*p >= end || **p != '.') return NULL;
  (*p)++;
  int n = 0;
  int32_t v = 0;
  while (*p < end && **p >= '0' && **p <= '9') {
    if (++n > 9) return "more than 9 fractional digits";
    v = v * 10 + (**p - '0');
    (*p)++;
  }
  if (n == 0) return "missing fractional digits";
  for (; n < 9; n++) v *= 10;
  *nanos = v;
  return NULL;
}

const char *eei_parse_timestamp(const char *s, size_t len, int64_t *sec, int32_t *nanos) {
  const char *p = s, *end = s + len;
  static const char *bad = "invalid timestamp, want RFC 3339 like 1972-01-01T10:00:20.021Z";
  int y = fixed_digits(&p, end, 4);
  if (y < 0 || !expect_char(&p, end, '-')) return bad;
  int mo = fixed_digits(&p, end, 2);
  if (mo < 1 || mo > 12 || !expect_char(&p, end, '-')) return bad;
  int d = fixed_digits(&p, end, 2);
  if (y < 1 || d < 1 || (unsigned)d > days_in_month(y, (unsigned)mo)) return bad;
  if (!expect_char(&p, end, 'T')) return bad;
  int h = fixed_digits(&p, end, 2);
  if (h < 0 || h > 23 || !expect_char(&p, end, ':')) return bad;
  int mi = fixed_digits(&p, end, 2);
  if (mi < 0 || mi > 59 || !expect_char(&p, end, ':')) return bad;
  int se = fixed_digits(&p, end, 2);
  if (se < 0 || se > 59) return bad;
  const char *why = fraction(&p, end, nanos);
  if (why) return why;
  int64_t offset = 0;
  if (p < end && *p == 'Z') {
    p++;
  } else if (p < end && (*p == '+' || *p == '-')) {
    int sign = *p++ == '-' ? -1 : 1;
    int oh = fixed_digits(&p, end, 2);
    if (oh < 0 || oh > 23 || !expect_char(&p, end, ':')) return bad;
    int om = fixed_digits(&p, end, 2);
    if (om < 0 || om > 59) return bad;
    offset = sign * (int64_t)(oh * 3600 + om * 60);
  } else {
    return "timestamp needs a time zone (Z or +HH:MM)";
  }
  if (p != end) return bad;
  int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
  t -= offset;
  if (t < EEI_TS_MIN_SECONDS || t > EEI_TS_MAX_SECONDS)
    return "timestamp out of range 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999999Z";
  *sec = t;
  return NULL;
}

static const char k_digits2[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* The low n decimal digits of v, zero-padded; two at a time (half the divisions). */
static char *put_digits(char *p, unsigned v, int n) {
  int i = n;
  while (i >= 2) {
    i -= 2;
    memcpy(p + i, k_digits2 + 2 * (v % 100), 2);
    v /= 100;
  }
  if (i) p[0] = (char)('0' + v % 10);
  return p + n;
}

/* 0, 3, 6 or 9 digits, as every proto3 JSON printer does. */
static char *put_nanos(char *p, int32_t nanos) {
  if (nanos == 0) return p;
  *p++ = '.';
  if (nanos % 1000000 == 0) return put_digits(p, (unsigned)nanos / 1000000, 3);
  if (nanos % 1000 == 0) return put_digits(p, (unsigned)nanos / 1000, 6);
  return put_digits(p, (unsigned)nanos, 9);
}

size_t eei_format_timestamp(int64_t sec, int32_t nanos, char *out, eei_date_cache *cache) {
  if (sec < EEI_TS_MIN_SECONDS || sec > EEI_TS_MAX_SECONDS || nanos < 0 || nanos > 999999999)
    return 0;
  int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
  unsigned rem = (unsigned)(sec - days * 86400);
  if (!cache->valid || cache->days != days) {
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char *q = put_digits(cache->text, (unsigned)y, 4);
    *q++ = '-';
    q = put_digits(q, m, 2);
    *q++ = '-';
    put_digits(q, d, 2);
    cache->days = days;
    cache->valid = true;
  }
  char *p = out;
  memcpy(p, cache->text, 10);
  p += 10;
  *p++ = 'T';
  p = put_digits(p, rem / 3600, 2);
  *p++ = ':';
  p = put_digits(p, rem / 60 % 60, 2);
  *p++ = ':';
  p = put_digits(p, rem % 60, 2);
  p = put_nanos(p, nanos);
  *p++ = 'Z';
  return (size_t)(p - out);
}

const char *eei_parse_duration(const char *s, size_t len, int64_t *sec, int32_t *nanos) {
  const char *p = s, *end = s + len;
  static const char *bad = "invalid duration, want seconds with an 's' suffix like \"1.5s\"";
  bool neg = p < end && *p == '-';
  if (neg) p++;
  int64_t v = 0;
  int n = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    if (v > EEI_DURATION_MAX_SECONDS) return "duration out of range +-315576000000s";
    v = v * 10 + (*p++ - '0');
    n++;
  }
  if (n == 0) return bad;
  int32_t ns;
  const char *why = fraction(&p, end, &ns);
  if (why) return why;
  if (p + 1 != end || *p != 's') return bad;
  if (v > EEI_DURATION_MAX_SECONDS) return "duration out of range +-315576000000s";
  *sec = neg ? -v : v;
  *nanos = neg ? -ns : ns;
  return NULL;
}

size_t eei_format_duration(int64_t sec, int32_t nanos, char *out) {
  if (sec < -EEI_DURATION_MAX_SECONDS || sec > EEI_DURATION_MAX_SECONDS || nanos <= -1000000000 ||
      nanos >= 1000000000 || (sec > 0 && nanos < 0) || (sec < 0 && nanos > 0))
    return 0;
  char *p = out;
  if (sec < 0 || nanos < 0) *p++ = '-';
  p += eei_format_u64((uint64_t)(sec < 0 ? -sec : sec), p);
  p = put_nanos(p, nanos < 0 ? -nanos : nanos);
  *p++ = 's';
  return (size_t)(p - out);
}

/* --- UTF-8 --- */

size_t eei_utf8_seq(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  size_t avail = (size_t)(end - p);
  if (c >= 0xC2 && c <= 0xDF) {
    return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0; /* overlong */
    if (c == 0xED && p[1] > 0x9F) return 0; /* UTF-16 surrogate */
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
      return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0; /* overlong */
    if (c == 0xF4 && p[1] > 0x8F) return 0; /* beyond U+10FFFF */
    return 4;
  }
  return 0;
}

bool eei_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    if (*p < 0x80) {
      p++;
      continue;
    }
    size_t k = eei_utf8_seq(p, end);
    if (!k) return false;
    p += k;
  }
  return true;
}
