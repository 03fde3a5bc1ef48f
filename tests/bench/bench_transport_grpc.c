/* The gRPC transport alone: N ExportImage attempts at concurrency C against ee-emulator,
 * through eei_grpc_transport's ops table (no client core: no retries, tokens or
 * validation). Each of C threads runs blocking calls (start, then wait for done), the way
 * the client's blocking calls will. Prints calls/s, the process's CPU time per call
 * (getrusage: every thread, grpc's included; the emulator is another process) and
 * latency percentiles.
 *
 *   bench_transport_grpc --emulator PATH [-n N] [-c C] [--warmup W]
 *   bench_transport_grpc --target HOST:PORT [-n N] [-c C] [--warmup W]
 *
 * Not a test: scripts/bench runs it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ee/json.h"
#include "emu_spawn.h"
#include "transport.h"

static const eei_transport_ops *T = &eei_grpc_transport;

static const char request_json[] =
    "{\"project\":\"projects/bench\",\"description\":\"bench export\",\"requestId\":"
    "\"7f9c2a4e-1b3d-4e5f-8a9b-0c1d2e3f4a5b\",\"expression\":{\"values\":{\"0\":{"
    "\"functionInvocationValue\":{\"functionName\":\"Image.constant\",\"arguments\":{"
    "\"value\":{\"constantValue\":5}}}}},\"result\":\"0\"},\"fileExportOptions\":{"
    "\"fileFormat\":\"GEO_TIFF\",\"driveDestination\":{\"folder\":\"out\",\"filenamePrefix\":"
    "\"img\"}}}";

static const eei_header headers[] = {
    {"authorization", "Bearer ya29.bench-token-of-a-realistic-length-0123456789abcdef", true},
    {"x-goog-api-client", "gl-c/11 ee-c/0.1.0", false},
    {"x-goog-user-project", "bench-quota", false},
    {"user-agent", "bench ee-c/0.1.0", false},
};

typedef struct slot {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
  ee_code code;
  char message[256];
} slot;

typedef struct worker {
  pthread_t thread;
  eei_transport *t;
  const ee_route *route;
  const ProtobufCMessage *req;
  int calls;
  int errors;
  double *lat_ms; /* calls entries */
} worker;

static void on_done(void *user, eei_attempt_result *res) {
  slot *s = user;
  pthread_mutex_lock(&s->mu);
  s->done = true;
  s->code = res->status.code;
  if (res->status.code != EE_OK)
    snprintf(s->message, sizeof s->message, "%.200s", res->status.message);
  pthread_mutex_unlock(&s->mu);
  /* After the unlock: a waiter woken under the lock would at once block on it again (one
   * more futex round trip per call). The slot outlives every call of its worker. */
  pthread_cond_signal(&s->cv);
}

static void *run_worker(void *arg) {
  worker *w = arg;
  slot s;
  pthread_mutex_init(&s.mu, NULL);
  pthread_cond_init(&s.cv, NULL);
  ee_status st;
  eei_prepared *p = NULL;
  for (int i = 0; i < w->calls; i++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    /* Prepare per call, as the client does (one prepared call per RPC). */
    if (T->prepare(w->t, w->route, w->req, &p, &st) != EE_OK) {
      w->errors++;
      continue;
    }
    s.done = false;
    if (T->start(w->t, p, headers, sizeof headers / sizeof *headers, eei_now_ms() + 60000, on_done,
                 &s, NULL, &st) != EE_OK) {
      w->errors++;
      T->prepared_free(p);
      continue;
    }
    pthread_mutex_lock(&s.mu);
    while (!s.done) pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    T->prepared_free(p);
    clock_gettime(CLOCK_MONOTONIC, &b);
    w->lat_ms[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    if (s.code != EE_OK && w->errors++ == 0)
      fprintf(stderr, "error: %s: %s\n", ee_code_name(s.code), s.message);
  }
  pthread_mutex_destroy(&s.mu);
  pthread_cond_destroy(&s.cv);
  return NULL;
}

typedef struct usage {
  double user, sys; /* seconds */
  long switches;    /* voluntary + involuntary context switches */
} usage;

static usage usage_now(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  usage u = {(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
             ru.ru_nvcsw + ru.ru_nivcsw};
  return u;
}

static double wall_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Runs n calls over c threads; returns the number of errors. */
static int round_of(eei_transport *t, const ee_route *route, const ProtobufCMessage *req, int n,
                    int c, bool print) {
  worker *ws = calloc((size_t)c, sizeof *ws);
  double *lat = calloc((size_t)n, sizeof *lat);
  usage u0 = usage_now();
  double wall0 = wall_seconds();
  int given = 0;
  for (int i = 0; i < c; i++) {
    ws[i].t = t;
    ws[i].route = route;
    ws[i].req = req;
    ws[i].calls = n / c + (i < n % c);
    ws[i].lat_ms = lat + given;
    given += ws[i].calls;
    pthread_create(&ws[i].thread, NULL, run_worker, &ws[i]);
  }
  int errors = 0;
  for (int i = 0; i < c; i++) {
    pthread_join(ws[i].thread, NULL);
    errors += ws[i].errors;
  }
  usage u1 = usage_now();
  double wall = wall_seconds() - wall0;
  double user = u1.user - u0.user, sys = u1.sys - u0.sys;
  if (print) {
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    printf(
        "grpc transport: %d ExportImage calls, concurrency %d: %.0f calls/s, "
        "client CPU %.1f us/call (user %.1f, sys %.1f), %.2f context switches/call, "
        "p50 %.3f ms, p99 %.3f ms, errors %d\n",
        n, c, n / wall, (user + sys) / n * 1e6, user / n * 1e6, sys / n * 1e6,
        (double)(u1.switches - u0.switches) / n, lat[n / 2], lat[(size_t)(n * 0.99)], errors);
  }
  free(lat);
  free(ws);
  return errors;
}

int main(int argc, char **argv) {
  const char *emulator = NULL, *target = NULL;
  int n = 20000, c = 16, warmup = 2000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) goto usage;
    if (strcmp(a, "--emulator") == 0)
      emulator = v;
    else if (strcmp(a, "--target") == 0)
      target = v;
    else if (strcmp(a, "-n") == 0)
      n = atoi(v);
    else if (strcmp(a, "-c") == 0)
      c = atoi(v);
    else if (strcmp(a, "--warmup") == 0)
      warmup = atoi(v);
    else
      goto usage;
    i++;
  }
  if ((!emulator) == (!target) || n <= 0 || c <= 0 || warmup < 0) goto usage;

  emu_proc emu = {0};
  char host[128];
  int port = 0;
  if (emulator) {
    const char *args[] = {"--max-queued", "1000000", "--grpc-threads", "32", NULL};
    if (emu_start(emulator, args, &emu) != 0) return 1;
    snprintf(host, sizeof host, "%s", emu.grpc_host);
    port = emu.grpc_port;
  } else if (sscanf(target, "%127[^:]:%d", host, &port) != 2) {
    goto usage;
  }
  eei_transport_config cfg = {0};
  cfg.endpoint = "http://bench";
  cfg.host = host;
  cfg.port = port;
  cfg.max_response_bytes = (size_t)32 << 20;
  cfg.max_depth = 100;
  eei_transport *t = NULL;
  ee_status st;
  const ee_route *route =
      ee_route_find(ee_route_table_default(), "/google.earthengine.v1.EarthEngine/ExportImage");
  ProtobufCMessage *req = NULL;
  if (ee_json_decode(route->request, request_json, strlen(request_json), NULL, &req, &st) !=
          EE_OK ||
      T->create(&cfg, &t, &st) != EE_OK) {
    fprintf(stderr, "error: %s\n", st.message);
    emu_stop(&emu);
    return 1;
  }
  int errors = 0;
  if (warmup) errors += round_of(t, route, req, warmup, c, false);
  errors += round_of(t, route, req, n, c, true);
  T->destroy(t);
  protobuf_c_message_free_unpacked(req, NULL);
  emu_stop(&emu);
  return errors ? 1 : 0;
usage:
  fprintf(stderr, "usage: %s (--emulator PATH | --target HOST:PORT) [-n N] [-c C] [--warmup W]\n",
          argv[0]);
  return 2;
}
