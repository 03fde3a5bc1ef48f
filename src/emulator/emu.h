/* ee-emulator: configuration and small utilities shared by every part of the emulator.
 *
 * The emulator is one process with one store (store.h) and two front ends (grpc_server.c,
 * rest_server.c) that both call the transport-neutral handlers in service.h. */
#ifndef EMU_H
#define EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ee/status.h"

/* Named limits on untrusted input and defaults (README.md lists them). */
#define EMU_DEFAULT_MAX_REQUEST_BYTES ((size_t)4 << 20) /* one request body or message */
#define EMU_DEFAULT_MAX_DEPTH 64     /* JSON nesting and protobuf message nesting */
#define EMU_DEFAULT_MAX_QUEUED 3000  /* PENDING tasks per project (the service's cap) */
#define EMU_DEFAULT_MAX_RUNNING 4    /* RUNNING tasks at once ("a few") */
#define EMU_DEFAULT_TASK_SECONDS 3.0 /* simulated run time of one export */
#define EMU_DEFAULT_MAX_PIXELS 100000000LL
#define EMU_DEFAULT_PRIORITY 100
#define EMU_MAX_WAIT_SECONDS 60.0     /* WaitOperation never blocks longer than this */
#define EMU_DEFAULT_WAIT_SECONDS 10.0 /* WaitOperation without a timeout */
#define EMU_MAX_CONNECTIONS 1024      /* REST connections at once */
#define EMU_DEFAULT_GRPC_THREADS 16   /* gRPC calls handled at once */
#define EMU_MAX_PAGE_SIZE 1000
#define EMU_DEFAULT_PAGE_SIZE 100
#define EMU_MAX_NAME 1024   /* project, operation and asset names */
#define EMU_MAX_FILTER 1024 /* ListOperations filter text */
#define EMU_ERROR_DOMAIN "earthengine.googleapis.com"

typedef struct emu_config {
  const char *host;
  int rest_port; /* 0 = pick a free port */
  int grpc_port;
  double task_seconds;
  int max_running;
  int max_queued;
  const char *token;      /* NULL: no authentication */
  const char *state_path; /* NULL: in memory only */
  double fail_rate;
  double fail_after_commit_rate;
  int latency_ms;
  uint64_t seed;
  bool seed_set;
  size_t max_request_bytes;
  int max_depth;
  int grpc_threads;
  int max_connections;
  const char *tls_cert_file; /* --tls-cert: NULL = plaintext on both ports */
  const char *tls_key_file;
  char *tls_cert_pem; /* their contents, loaded and checked by emu_tls_load (tls.h) */
  char *tls_key_pem;
  const char *trust_key_file;      /* --trust-key: serve POST /token for RS256 JWTs */
  const char *trust_refresh_token; /* --trust-refresh-token: and the refresh_token grant */
  int token_ttl;                   /* --token-ttl: seconds an issued token lives */
  struct emu_tokens *tokens;       /* the token endpoint (tokens.h), or NULL */
} emu_config;

/* Wall-clock nanoseconds since the Unix epoch (operation timestamps). */
int64_t emu_now_ns(void);

/* Sleeps for ms milliseconds (restarting after signals). */
void emu_sleep_ms(int ms);

/* The process-wide random source: seeded once (--seed, or from the clock and pid),
 * then shared by fault injection and operation ids under a lock. */
void emu_rng_seed(uint64_t seed);
uint64_t emu_rng_next(void);
double emu_rng_unit(void); /* uniform in [0, 1) */

/* strdup that reports failure through st (EE_INTERNAL) instead of returning a bare NULL. */
char *emu_strdup(const char *s, ee_status *st);

/* Sets *st to code with an ErrorInfo reason in the emulator's error domain. */
ee_code emu_fail(ee_status *st, ee_code code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
