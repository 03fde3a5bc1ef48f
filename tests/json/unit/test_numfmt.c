/* json_numfmt: the shortest-digits fast path (exact arithmetic and a skip test that
 * avoids most divisions) against the slow path, whose digits come from libc's printf
 * and strtod (correctly rounded: the oracle), on millions of doubles and floats of every
 * shape: raw bit patterns, short decimals, scaled integers, tiny and huge values.
 * numfmt.c is included so its internal functions can be called. */
#include "numfmt.c"

static uint64_t g_state = 88172645463325252u;

static uint64_t next_random(void) { /* xorshift64 */
  g_state ^= g_state << 13;
  g_state ^= g_state >> 7;
  g_state ^= g_state << 17;
  return g_state;
}

static double random_double(long i) {
  uint64_t r = next_random();
  double v;
  switch (i % 5) {
    case 0: memcpy(&v, &r, 8); return fabs(v);                          /* any bits */
    case 1: return (double)(r % 100000000) / k_pow10[(r >> 60) & 15];   /* short decimals */
    case 2: return (double)(r % 1000) / k_pow10[(r >> 50) % 9];         /* very short */
    case 3: return ldexp((double)(r >> 11), (int)(r % 80) - 70);        /* binary fractions */
    default: return (double)(r % 1000000000000000u) * k_pow10[r >> 61]; /* big integers */
  }
}

static bool same(const digits *a, const digits *b) {
  return a->n == b->n && a->decpt == b->decpt && memcmp(a->d, b->d, (size_t)a->n) == 0;
}

int main(void) {
  long checked = 0, fast = 0, bad = 0;
  for (long i = 0; i < 600000; i++) {
    double v = random_double(i);
    for (int f = 0; f < 2; f++) {
      bool as_float = f == 1;
      double w = as_float ? (double)(float)v : v;
      if (!isfinite(w) || w <= 0) continue;
      digits a, b;
      checked++;
      shortest_slow(w, as_float, &b);
      if (!shortest_fast(w, as_float ? 1e6 : 1e15, as_float, &a)) continue;
      fast++;
      if (!same(&a, &b) && bad++ < 10)
        printf("FAIL %.17g (%s): fast %.*s e%d, printf %.*s e%d\n", w,
               as_float ? "float" : "double", a.n, a.d, a.decpt, b.n, b.d, b.decpt);
    }
  }
  printf("json_numfmt: %ld values, %ld on the fast path, %ld differ from printf\n", checked, fast,
         bad);
  return bad || fast < checked / 4 ? 1 : 0;
}
