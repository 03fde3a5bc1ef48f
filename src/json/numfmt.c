/* Number text for the JSON codec: shortest round-trip doubles and floats in the form
 * Python's json_format prints them (repr style), integers, and locale-independent
 * parsing.
 *
 * Shortest digits: a fast exact path covers values whose shortest form has at most 15
 * (double) or 6 (float) significant digits and a modest exponent; it relies on two facts:
 * m / 10^k with m < 2^53 and k <= 22 is correctly rounded by IEEE division (so it is
 * what strtod returns for "m e-k"), and at most one decimal of DBL_DIG (FLT_DIG) or fewer
 * digits maps to a given double (float), so the first match is the shortest and the
 * same one json_format picks. Everything else goes through printf/strtod the way
 * json_format does it (%.15e..%.17e for doubles, %.6g..%.9g for floats). */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

static const double k_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static const char k_digits2[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static const uint64_t k_pow10_u64[] = {1u,
                                       10u,
                                       100u,
                                       1000u,
                                       10000u,
                                       100000u,
                                       1000000u,
                                       10000000u,
                                       100000000u,
                                       1000000000u,
                                       10000000000u,
                                       100000000000u,
                                       1000000000000u,
                                       10000000000000u,
                                       100000000000000u,
                                       1000000000000000u,
                                       10000000000000000u,
                                       100000000000000000u,
                                       1000000000000000000u,
                                       10000000000000000000u};

/* Written in place from the last digit back, two digits per division. */
size_t eei_format_u64(uint64_t v, char *out) {
  size_t n = 1;
  while (n < 20 && v >= k_pow10_u64[n]) n++;
  char *p = out + n;
  while (v >= 100) {
    unsigned r = (unsigned)(v % 100);
    v /= 100;
    p -= 2;
    memcpy(p, k_digits2 + 2 * r, 2);
  }
  if (v >= 10) {
    memcpy(p - 2, k_digits2 + 2 * v, 2);
  } else {
    p[-1] = (char)('0' + v);
  }
  return n;
}

size_t eei_format_i64(int64_t v, char *out) {
  if (v >= 0) return eei_format_u64((uint64_t)v, out);
  out[0] = '-';
  return 1 + eei_format_u64((uint64_t)0 - (uint64_t)v, out + 1);
}

/* --- C locale for the slow paths (printf and strtod follow LC_NUMERIC) --- */

static locale_t g_c_locale;
static pthread_once_t g_c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void) {
  g_c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static locale_t c_locale_enter(void) {
  pthread_once(&g_c_locale_once, c_locale_init);
  return g_c_locale ? uselocale(g_c_locale) : (locale_t)0;
}

static void c_locale_leave(locale_t old) {
  if (old) uselocale(old);
}

/* --- shortest digits --- */

typedef struct digits {
  char d[24];
  int n;     /* significant digits, no trailing zeros */
  int decpt; /* value = 0.d1d2... * 10^decpt */
} digits;

static void digits_from_u64(uint64_t m, int k, digits *out) {
  out->n = (int)eei_format_u64(m, out->d);
  out->decpt = out->n - k;
  while (out->n > 1 && out->d[out->n - 1] == '0') out->n--;
}

/* Fast exact path; max_m bounds the significant digits (10^15 or 10^6). */
static bool shortest_fast(double v, double max_m, bool as_float, digits *out) {
  for (int k = 0; k <= 22; k++) {
    double m = v * k_pow10[k];
    if (m >= max_m) return false;
    /* m is rounded, so the nearest integer to the exact product may be a neighbour.
     * (Rounding half up here, not to even: at a half both neighbours are tried anyway.) */
    double r0 = (double)(uint64_t)(m + 0.5);
    /* A digit string r that reads back as v lies within 2^-53 * m of v * 10^k, and m
     * within as much of that again, so a product farther than that from every integer
     * has no candidate: skip the division (the costly part). For floats the reading back
     * is to float precision, 2^-24 * m. */
    if (fabs(m - r0) > m * (as_float ? 1.3e-7 : 4.5e-16)) continue;
    /* neighbours matter only when the rounded product sits near a half */
    int tries = fabs(m - r0) > 0.49 ? 3 : 1;
    for (int delta = 0; delta < tries; delta++) {
      double r = r0 + (delta == 0 ? 0 : delta == 1 ? -1 : 1);
      if (r <= 0 || r >= max_m) continue;
      double back = r / k_pow10[k];
      if (as_float ? (float)back == (float)v : back == v) {
        digits_from_u64((uint64_t)r, k, out);
        return true;
      }
    }
  }
  return false;
}

/* Parses printf's "%.*e" output ("d.ddde+XX") into digits. */
static void digits_from_e(const char *s, digits *out) {
  int n = 0;
  for (; *s && *s != 'e'; s++) {
    if (*s >= '0' && *s <= '9') out->d[n++] = *s;
  }
  int e = atoi(s + 1);
  out->decpt = e + 1;
  while (n > 1 && out->d[n - 1] == '0') n--;
  out->n = n;
}

static void shortest_slow(double v, bool as_float, digits *out) {
  char buf[40];
  locale_t old = c_locale_enter();
  /* Below DBL_MIN precision drops, so the 15-digit shortcut no longer holds. */
  int lo = as_float ? 6 : v < 2.2250738585072014e-308 ? 1 : 15, hi = as_float ? 9 : 17;
  for (int p = lo; p <= hi; p++) {
    snprintf(buf, sizeof buf, "%.*e", p - 1, v);
    double back = strtod(buf, NULL);
    if (p == hi || (as_float ? (float)back == (float)v : back == v)) break;
  }
  c_locale_leave(old);
  digits_from_e(buf, out);
}

/* Python repr layout: fixed notation for 1e-4 <= |v| < 1e16, else d.ddde+XX. */
static size_t repr_layout(const digits *g, char *out) {
  char *p = out;
  int n = g->n, decpt = g->decpt;
  if (decpt <= -4 || decpt > 16) {
    *p++ = g->d[0];
    if (n > 1) {
      *p++ = '.';
      memcpy(p, g->d + 1, (size_t)(n - 1));
      p += n - 1;
    }
    int e = decpt - 1;
    *p++ = 'e';
    *p++ = e < 0 ? '-' : '+';
    if (e < 0) e = -e;
    if (e < 10) *p++ = '0';
    p += eei_format_u64((uint64_t)e, p);
  } else if (decpt <= 0) {
    *p++ = '0';
    *p++ = '.';
    memset(p, '0', (size_t)-decpt);
    p += -decpt;
    memcpy(p, g->d, (size_t)n);
    p += n;
  } else if (decpt >= n) {
    memcpy(p, g->d, (size_t)n);
    p += n;
    memset(p, '0', (size_t)(decpt - n));
    p += decpt - n;
    memcpy(p, ".0", 2);
    p += 2;
  } else {
    memcpy(p, g->d, (size_t)decpt);
    p += decpt;
    *p++ = '.';
    memcpy(p, g->d + decpt, (size_t)(n - decpt));
    p += n - decpt;
  }
  return (size_t)(p - out);
}

static size_t format_real(double v, bool as_float, char *out) {
  char *p = out;
  if (signbit(v)) {
    *p++ = '-';
    v = -v;
  }
  if (v == 0) {
    memcpy(p, "0.0", 3);
    return (size_t)(p + 3 - out);
  }
  double max_m = as_float ? 1e6 : 1e15;
  if (v < max_m && v == (double)(uint64_t)v) { /* integral: its digits are the shortest */
    p += eei_format_u64((uint64_t)v, p);
    memcpy(p, ".0", 2);
    return (size_t)(p + 2 - out);
  }
  digits g;
  if (!shortest_fast(v, max_m, as_float, &g)) shortest_slow(v, as_float, &g);
  return (size_t)(p - out) + repr_layout(&g, p);
}

size_t eei_format_double(double v, char *out) {
  return format_real(v, false, out);
}

size_t eei_format_float(float v, char *out) {
  return format_real((double)v, true, out);
}

int eei_strtod(const char *s, size_t len, double *out) {
  char small[64];
  char *buf = len < sizeof small ? small : malloc(len + 1);
  if (!buf) return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  locale_t old = c_locale_enter();
  char *end;
  double v = strtod(buf, &end);
  c_locale_leave(old);
  int rc = (end == buf + len && isfinite(v)) ? 0 : -1;
  if (buf != small) free(buf);
  *out = v;
  return rc;
}
