/* ee-gateway: serves ExportImage and the Operations methods over gRPC and forwards each
 * call through the client's asynchronous API to one upstream (REST or gRPC), with the
 * credentials of the client's chain. Flags: usage below; behaviour: gateway.h, server.c. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>

#include "gateway.h"

static const char usage[] =
    "usage: ee-gateway [--host 127.0.0.1] [--grpc-port N] --upstream URL [options]\n"
    "  --host H                  address to listen on (default 127.0.0.1)\n"
    "  --grpc-port N             port to listen on; 0 = any free port (default 0)\n"
    "  --upstream URL            the service to forward to: https://host[:port], or\n"
    "                            http://host:port for a plaintext one (ee-emulator)\n"
    "  --upstream-transport T    rest or grpc (default rest)\n"
    "  --max-in-flight N         upstream calls at once; beyond: RESOURCE_EXHAUSTED\n"
    "                            (default 1024)\n"
    "  --grace-ms N              on SIGTERM/SIGINT, how long calls in flight may finish\n"
    "                            before they are cancelled (default 5000)\n"
    "  --threads N               threads serving the gRPC completion queue (default 2)\n"
    "  --max-attempts N          upstream attempts per call, retries included\n"
    "                            (default: the client's retry policy)\n"
    "Credentials for the upstream come from the environment as for every client\n"
    "(EE_ACCESS_TOKEN, GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server).\n"
    "One line per call on stderr: method, code, duration.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "error: INVALID_ARGUMENT: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  return 2;
}

static bool parse_int(const char *s, long min, long max, int *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) return false;
  *out = (int)v;
  return true;
}

typedef struct int_flag {
  const char *name;
  long min, max;
} int_flag;

static const int_flag int_flags[] = {
    {"--grpc-port", 0, 65535}, {"--max-in-flight", 1, 1000000}, {"--grace-ms", 0, 600000},
    {"--threads", 1, 64},      {"--max-attempts", 1, 100},
};

static int *int_field(gw_config *c, const char *flag) {
  if (strcmp(flag, "--grpc-port") == 0) return &c->grpc_port;
  if (strcmp(flag, "--max-in-flight") == 0) return &c->max_in_flight;
  if (strcmp(flag, "--grace-ms") == 0) return &c->grace_ms;
  if (strcmp(flag, "--threads") == 0) return &c->threads;
  if (strcmp(flag, "--max-attempts") == 0) return &c->max_attempts;
  return NULL;
}

/* Applies one flag with its value; returns 0, or 2 after printing the error. */
static int apply_flag(gw_config *c, const char *flag, const char *v) {
  for (size_t i = 0; i < sizeof int_flags / sizeof *int_flags; i++) {
    if (strcmp(flag, int_flags[i].name) != 0) continue;
    if (!parse_int(v, int_flags[i].min, int_flags[i].max, int_field(c, flag)))
      return usage_error("%s: bad value \"%s\" (want %ld..%ld)", flag, v, int_flags[i].min,
                         int_flags[i].max);
    return 0;
  }
  if (strcmp(flag, "--host") == 0) {
    if (!v[0] || strlen(v) > 255) return usage_error("%s: bad value \"%s\"", flag, v);
    c->host = v;
  } else if (strcmp(flag, "--upstream") == 0) {
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
      return usage_error("%s: want an http:// or https:// URL, not \"%s\"", flag, v);
    c->upstream = v;
  } else if (strcmp(flag, "--upstream-transport") == 0) {
    if (ee_transport_from_name(v, &c->transport) != 0)
      return usage_error("%s: want rest or grpc, not \"%s\"", flag, v);
  } else {
    return usage_error("unknown flag %s (see --help)", flag);
  }
  return 0;
}

/* Every flag takes a value; an unknown one is named as such, not as missing its value. */
static bool known_flag(const char *flag) {
  static const char *const flags[] = {
      "--host",          "--grpc-port", "--upstream", "--upstream-transport",
      "--max-in-flight", "--grace-ms",  "--threads",  "--max-attempts"};
  for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
    if (strcmp(flag, flags[i]) == 0) return true;
  return false;
}

static int parse_args(int argc, char **argv, gw_config *c) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      exit(0);
    }
    if (strcmp(a, "--version") == 0) {
      printf("ee-gateway %s\n", ee_version());
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
  if (!c->upstream) return usage_error("--upstream URL is required (see --help)");
  return 0;
}

static void defaults(gw_config *c) {
  memset(c, 0, sizeof *c);
  c->host = "127.0.0.1";
  c->transport = EE_TRANSPORT_REST;
  c->max_in_flight = GW_DEFAULT_MAX_IN_FLIGHT;
  c->grace_ms = GW_DEFAULT_GRACE_MS;
  c->threads = GW_DEFAULT_THREADS;
}

/* The upstream client: the environment's credentials (and project), then the flags. */
static ee_code new_client(const gw_config *cfg, ee_client **out, ee_status *st) {
  ee_client_options o;
  ee_client_options_init(&o);
  if (ee_client_options_from_env(&o, st) != EE_OK) return st->code;
  o.endpoint = cfg->upstream;
  o.transport = cfg->transport;
  if (ee_client_new(&o, out, st) != EE_OK) return ee_status_prefix(st, "--upstream");
  return EE_OK;
}

/* Blocks the shutdown signals in every thread (threads inherit the mask, so this comes
 * before any thread starts): only sigwait in main sees them, with no handler to keep
 * async-signal-safe. */
static void block_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv) {
  gw_config cfg;
  sigset_t set;
  ee_status st;
  ee_client *client = NULL;
  gateway *g = NULL;
  int port = 0, rc = 0;
  ee_status_clear(&st);
  defaults(&cfg);
  rc = parse_args(argc, argv, &cfg);
  if (rc) return rc;
  block_signals(&set);
  grpc_init();
  if (new_client(&cfg, &client, &st) != EE_OK) {
    fprintf(stderr, "error: %s: %s\n", ee_code_name(st.code), st.message);
    rc = st.code == EE_INVALID_ARGUMENT ? 2 : 1;
    goto done;
  }
  if (gw_start(&cfg, client, &g, &port, &st) != EE_OK) { /* it freed the client */
    fprintf(stderr, "error: %s: %s\n", ee_code_name(st.code), st.message);
    rc = 1;
    goto done;
  }
  printf(strchr(cfg.host, ':') ? "ee-gateway listening grpc=[%s]:%d\n"
                               : "ee-gateway listening grpc=%s:%d\n",
         cfg.host, port);
  fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr, "ee-gateway: %s received, shutting down (grace %d ms)\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM", cfg.grace_ms);
  gw_stop(g);
done:
  grpc_shutdown();
  return rc;
}
