/* ee-emulator: a local stand-in for Earth Engine's image export service, over REST and
 * gRPC at once, from one store. Flags and behaviour: README.md in this directory. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "frontends.h"
#include "tls.h"
#include "tokens.h"

static const char usage[] =
    "usage: ee-emulator [--host 127.0.0.1] [--rest-port N] [--grpc-port N] [options]\n"
    "  --task-seconds S          simulated run time of one export (default 3)\n"
    "  --max-running N           tasks running at once (default 4)\n"
    "  --max-queued N            PENDING tasks per project (default 3000)\n"
    "  --token TOKEN             require Authorization: Bearer TOKEN\n"
    "  --state FILE              keep operations and assets in a journal\n"
    "  --fail-rate P             answer UNAVAILABLE before handling, with probability P\n"
    "  --fail-after-commit-rate P  handle, then answer UNAVAILABLE, with probability P\n"
    "  --latency-ms N            delay every call by N ms\n"
    "  --seed N                  seed for fault injection and operation ids\n"
    "  --max-request-bytes N     largest request body or message (default 4194304)\n"
    "  --max-depth N             deepest JSON / message nesting (default 64)\n"
    "  --grpc-threads N          gRPC calls that may block (Wait, --latency-ms) handled at\n"
    "                            once (default 16)\n"
    "  --max-connections N       REST connections at once (default 1024)\n"
    "  --tls-cert FILE           serve both ports over TLS with this PEM certificate chain\n"
    "  --tls-key FILE            and this PEM private key (both flags, or neither)\n"
    "  --trust-key FILE          serve POST /token: RS256 JWTs signed by this PEM public key\n"
    "                            (or certificate) get access tokens; only those are accepted\n"
    "  --trust-refresh-token T   POST /token also honours the refresh_token grant for T\n"
    "  --token-ttl S             lifetime of an issued access token (default 3600)\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "error: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  return 2;
}

static bool parse_long(const char *s, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) return false;
  *out = v;
  return true;
}

static bool parse_double(const char *s, double min, double max, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= min && v <= max)) return false;
  *out = v;
  return true;
}

typedef struct int_flag {
  const char *name;
  long min, max;
  size_t offset; /* of an int in emu_config */
} int_flag;

static const int_flag int_flags[] = {
    {"--rest-port", 0, 65535, offsetof(emu_config, rest_port)},
    {"--grpc-port", 0, 65535, offsetof(emu_config, grpc_port)},
    {"--max-running", 1, 100000, offsetof(emu_config, max_running)},
    {"--max-queued", 1, 1000000, offsetof(emu_config, max_queued)},
    {"--latency-ms", 0, 60000, offsetof(emu_config, latency_ms)},
    {"--max-depth", 2, 1000, offsetof(emu_config, max_depth)},
    {"--grpc-threads", 1, 256, offsetof(emu_config, grpc_threads)},
    {"--max-connections", 1, 10000, offsetof(emu_config, max_connections)},
    {"--token-ttl", 1, 86400, offsetof(emu_config, token_ttl)},
};

static bool known_flag(const char *flag) {
  static const char *const others[] = {"--task-seconds",
                                       "--fail-rate",
                                       "--fail-after-commit-rate",
                                       "--max-request-bytes",
                                       "--seed",
                                       "--host",
                                       "--token",
                                       "--state",
                                       "--tls-cert",
                                       "--tls-key",
                                       "--trust-key",
                                       "--trust-refresh-token"};
  for (size_t i = 0; i < sizeof int_flags / sizeof *int_flags; i++)
    if (strcmp(flag, int_flags[i].name) == 0) return true;
  for (size_t i = 0; i < sizeof others / sizeof *others; i++)
    if (strcmp(flag, others[i]) == 0) return true;
  return false;
}

/* Applies one flag with its value; returns 0, or 2 after printing the error. */
static int apply_flag(emu_config *c, const char *flag, const char *v) {
  long n;
  for (size_t i = 0; i < sizeof int_flags / sizeof *int_flags; i++) {
    if (strcmp(flag, int_flags[i].name) != 0) continue;
    if (!parse_long(v, int_flags[i].min, int_flags[i].max, &n))
      return usage_error("%s: bad value \"%s\"", flag, v);
    *(int *)((char *)c + int_flags[i].offset) = (int)n;
    return 0;
  }
  double *d = strcmp(flag, "--task-seconds") == 0             ? &c->task_seconds
              : strcmp(flag, "--fail-rate") == 0              ? &c->fail_rate
              : strcmp(flag, "--fail-after-commit-rate") == 0 ? &c->fail_after_commit_rate
                                                              : NULL;
  if (d) {
    double max = d == &c->task_seconds ? 86400.0 : 1.0;
    return parse_double(v, 0.0, max, d) ? 0 : usage_error("%s: bad value \"%s\"", flag, v);
  }
  if (strcmp(flag, "--max-request-bytes") == 0) {
    if (!parse_long(v, 1024, 16L << 20, &n)) return usage_error("%s: bad value \"%s\"", flag, v);
    c->max_request_bytes = (size_t)n;
  } else if (strcmp(flag, "--seed") == 0) {
    char *end = NULL;
    errno = 0;
    c->seed = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-')
      return usage_error("%s: bad value \"%s\"", flag, v);
    c->seed_set = true;
  } else if (strcmp(flag, "--host") == 0) {
    if (!v[0] || strlen(v) > 255) return usage_error("%s: bad value \"%s\"", flag, v);
    c->host = v;
  } else if (strcmp(flag, "--token") == 0) {
    for (const char *p = v; *p; p++)
      if (*p <= ' ' || *p > '~') return usage_error("%s: must be printable ASCII", flag);
    if (!v[0] || strlen(v) > 512) return usage_error("%s: must be 1..512 characters", flag);
    c->token = v;
  } else if (strcmp(flag, "--state") == 0) {
    if (!v[0]) return usage_error("%s: needs a file name", flag);
    c->state_path = v;
  } else if (strcmp(flag, "--trust-key") == 0) {
    if (!v[0]) return usage_error("%s: needs a file name", flag);
    c->trust_key_file = v;
  } else if (strcmp(flag, "--trust-refresh-token") == 0) {
    for (const char *p = v; *p; p++)
      if (*p <= ' ' || *p > '~') return usage_error("%s: must be printable ASCII", flag);
    if (!v[0] || strlen(v) > 512) return usage_error("%s: must be 1..512 characters", flag);
    c->trust_refresh_token = v;
  } else if (strcmp(flag, "--tls-cert") == 0 || strcmp(flag, "--tls-key") == 0) {
    if (!v[0]) return usage_error("%s: needs a file name", flag);
    *(strcmp(flag, "--tls-cert") == 0 ? &c->tls_cert_file : &c->tls_key_file) = v;
  } else {
    return usage_error("unknown flag %s (see --help)", flag);
  }
  return 0;
}

static int parse_args(int argc, char **argv, emu_config *c) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      exit(0);
    }
    if (strcmp(a, "--version") == 0) {
      printf("ee-emulator %s\n", ee_version());
      exit(0);
    }
    if (strncmp(a, "--", 2) != 0) return usage_error("unexpected argument \"%s\"", a);
    char flag[64];
    const char *eq = strchr(a, '='), *v;
    size_t flen = eq ? (size_t)(eq - a) : strlen(a);
    snprintf(flag, sizeof flag, "%.*s", (int)(flen < 63 ? flen : 63), a);
    if (!known_flag(flag)) return usage_error("unknown flag %s (see --help)", flag);
    if (eq) {
      v = eq + 1;
    } else {
      if (i + 1 >= argc) return usage_error("%s needs a value", flag);
      v = argv[++i];
    }
    int rc = apply_flag(c, flag, v);
    if (rc) return rc;
  }
  return 0;
}

static void defaults(emu_config *c) {
  memset(c, 0, sizeof *c);
  c->host = "127.0.0.1";
  c->task_seconds = EMU_DEFAULT_TASK_SECONDS;
  c->max_running = EMU_DEFAULT_MAX_RUNNING;
  c->max_queued = EMU_DEFAULT_MAX_QUEUED;
  c->max_request_bytes = EMU_DEFAULT_MAX_REQUEST_BYTES;
  c->max_depth = EMU_DEFAULT_MAX_DEPTH;
  c->grpc_threads = EMU_DEFAULT_GRPC_THREADS;
  c->max_connections = EMU_MAX_CONNECTIONS;
  c->token_ttl = 3600;
}

/* Blocks the shutdown signals in every thread (threads inherit the mask), so that only
 * sigwait in main sees them. */
static void block_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

typedef struct emulator {
  emu_config cfg;
  emu_store *store;
  emu_service svc;
  emu_grpc *grpc;
  emu_rest *rest;
} emulator;

static ee_code start(emulator *e, ee_status *st) {
  int rest_port = 0, grpc_port = 0;
  emu_store_options so = {e->cfg.task_seconds, e->cfg.max_running, e->cfg.max_queued,
                          e->cfg.state_path};
  if (emu_methods_check(ee_route_table_default(), st) != EE_OK) return st->code;
  if (emu_store_open(&so, &e->store, st) != EE_OK) return st->code;
  e->svc.cfg = &e->cfg;
  e->svc.store = e->store;
  if (emu_grpc_start(&e->svc, &e->grpc, &grpc_port, st) != EE_OK) return st->code;
  if (emu_rest_start(&e->svc, &e->rest, &rest_port, st) != EE_OK) return st->code;
  const char *h = e->cfg.host, *scheme = e->cfg.tls_cert_pem ? "https" : "http";
  bool v6 = strchr(h, ':') != NULL;
  printf(v6 ? "ee-emulator listening rest=%s://[%s]:%d grpc=[%s]:%d\n"
            : "ee-emulator listening rest=%s://%s:%d grpc=%s:%d\n",
         scheme, h, rest_port, h, grpc_port);
  fflush(stdout);
  return EE_OK;
}

/* Stops in dependency order: wake waiters, stop both front ends (finishing calls in
 * flight), then close the store and its journal. */
static void stop(emulator *e) {
  emu_store_stop(e->store);
  emu_rest_stop(e->rest);
  emu_grpc_stop(e->grpc);
  emu_store_free(e->store);
}

int main(int argc, char **argv) {
  static emulator e;
  sigset_t set;
  ee_status st;
  ee_status_clear(&st);
  defaults(&e.cfg);
  int rc = parse_args(argc, argv, &e.cfg);
  if (rc) return rc;
  if (emu_tls_load(&e.cfg, &st) != EE_OK) return usage_error("%s", st.message);
  if (emu_tokens_new(&e.cfg, &e.cfg.tokens, &st) != EE_OK) {
    emu_tls_free(&e.cfg);
    return usage_error("%s", st.message);
  }
  emu_rng_seed(e.cfg.seed_set
                   ? e.cfg.seed
                   : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)clock());
  block_signals(&set);
  grpc_init();
  if (start(&e, &st) != EE_OK) {
    fprintf(stderr, "error: %s\n", st.message);
    stop(&e);
    grpc_shutdown();
    emu_tls_free(&e.cfg);
    emu_tokens_free(e.cfg.tokens);
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr, "ee-emulator: %s received, shutting down\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  stop(&e);
  grpc_shutdown();
  emu_tls_free(&e.cfg);
  emu_tokens_free(e.cfg.tokens);
  return 0;
}
