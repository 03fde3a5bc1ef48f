/* ee-emulator: clock, sleep, the shared random source and error helpers. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu.h"

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

int64_t emu_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void emu_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void emu_rng_seed(uint64_t seed) {
  pthread_mutex_lock(&rng_lock);
  rng_state = seed;
  pthread_mutex_unlock(&rng_lock);
}

/* splitmix64: tiny, fast, and good enough for fault dice and ids (not for secrets). */
uint64_t emu_rng_next(void) {
  pthread_mutex_lock(&rng_lock);
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  pthread_mutex_unlock(&rng_lock);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double emu_rng_unit(void) {
  return (double)(emu_rng_next() >> 11) / 9007199254740992.0;
}

char *emu_strdup(const char *s, ee_status *st) {
  char *p = strdup(s ? s : "");
  if (!p) ee_status_set(st, EE_INTERNAL, "out of memory");
  return p;
}

ee_code emu_fail(ee_status *st, ee_code code, const char *reason, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ee_status_vset(st, code, fmt, ap);
  va_end(ap);
  if (st && reason) {
    snprintf(st->reason, sizeof st->reason, "%s", reason);
    snprintf(st->domain, sizeof st->domain, "%s", EMU_ERROR_DOMAIN);
  }
  return code;
}
