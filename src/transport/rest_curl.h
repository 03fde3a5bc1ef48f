/* REST transport internals that tests and benchmarks may read. */
#ifndef EE_REST_CURL_H
#define EE_REST_CURL_H

#include <stdint.h>

#include "transport.h"

/* Counters of one REST transport, summed on its event thread. */
typedef struct eei_rest_stats {
  uint64_t transfers; /* attempts that reached curl and ended (any outcome) */
  uint64_t connects;  /* new connections curl opened for them (CURLINFO_NUM_CONNECTS) */
  uint64_t handles;   /* curl easy handles created (the rest were reused from the pool) */
} eei_rest_stats;

/* Copies the counters of t (made by eei_rest_transport.create). Any thread. */
void eei_rest_get_stats(const eei_transport *t, eei_rest_stats *out);

#endif
