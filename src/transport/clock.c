/* The transports' and the client's one clock. */
#include <time.h>

#include "transport.h"

int64_t eei_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
