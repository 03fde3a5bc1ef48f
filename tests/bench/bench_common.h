/* What bench_client and bench_sync_peer share: flag values, the clock, CPU time and the
 * latency percentiles of their one-line reports. Header-only (static functions). */
#ifndef EE_BENCH_COMMON_H
#define EE_BENCH_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* A whole number in [min, max] from a flag's value (NULL: missing). */
static inline bool bench_parse_count(const char *v, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long n = v ? strtol(v, &end, 10) : 0;
  if (!v || errno || end == v || *end || n < min || n > max) return false;
  *out = n;
  return true;
}

/* Seconds on CLOCK_MONOTONIC. */
static inline double bench_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* User + system seconds of a getrusage result. */
static inline double bench_cpu_s(const struct rusage *u) {
  return (double)u->ru_utime.tv_sec + (double)u->ru_utime.tv_usec * 1e-6 +
         (double)u->ru_stime.tv_sec + (double)u->ru_stime.tv_usec * 1e-6;
}

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The nearest-rank percentile p (0..100) of n sorted values. */
static inline double bench_percentile(const double *v, long n, double p) {
  long k = (long)(p / 100.0 * (double)n + 0.999999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1];
}

#endif
