/* REST transport cost per call: N ExportImage calls at concurrency C against one
 * ee-emulator, each call prepared (JSON encode), started, waited for and its Operation
 * decoded, as the client will do. Prints calls/s, the client process's CPU per call
 * (getrusage: user + system of this process only; the emulator is another process) and
 * latency percentiles. Not a test: scripts/bench runs it.
 *
 *   bench_transport_rest EMULATOR [-n CALLS] [-c CONCURRENCY] [--blocking|--async]
 *
 * Two ways to keep C calls in flight, both printed unless one is chosen:
 *   blocking  C threads, each making one blocking call after another (prepare, start,
 *             wait on a condition variable): what ee_client's blocking calls will do;
 *   async     C calls in flight, each done callback preparing and starting the next one
 *             on the transport's event thread: what an embedding service does. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ee/json.h"
#include "ee/route.h"
#include "google/earthengine/v1/earthengine.pb-c.h"
#include "rest_curl.h"
#include "rest_proc.h"
#include "transport.h"

static const char EXPORT_JSON[] =
    "{\"project\":\"projects/bench\",\"description\":\"bench export\",\"expression\":{\"values\":"
    "{\"0\":{\"functionInvocationValue\":{\"functionName\":\"Image.constant\",\"arguments\":"
    "{\"value\":{\"constantValue\":5}}}}},\"result\":\"0\"},\"fileExportOptions\":{"
    "\"fileFormat\":\"GEO_TIFF\",\"driveDestination\":{\"folder\":\"out\",\"filenamePrefix\":"
    "\"img\"}}}";

static const eei_header HEADERS[] = {
    {"authorization", "Bearer bench-token", true},
    {"x-goog-api-client", "gl-c/11 ee-c/0.1.0", false},
    {"user-agent", "bench ee-c/0.1.0", false},
};

typedef struct worker {
  eei_transport *t;
  const ee_route *route;
  const ProtobufCMessage *req;
  int calls;
  int errors;
  double *lat_ms; /* one per call */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
  ee_code code;
  char message[EE_STATUS_MESSAGE_MAX];
} worker;

static void on_done(void *user, eei_attempt_result *res) {
  worker *w = user;
  pthread_mutex_lock(&w->mu);
  w->code = res->status.code;
  if (res->status.code != EE_OK) snprintf(w->message, sizeof w->message, "%s", res->status.message);
  w->done = true;
  pthread_mutex_unlock(&w->mu);
  pthread_cond_signal(&w->cv); /* after unlock: the waiter does not wake into a held lock */
  /* the transport frees res->response after this returns, as the client would */
}

static void *run(void *arg) {
  worker *w = arg;
  const eei_transport_ops *R = &eei_rest_transport;
  ee_status st;
  for (int i = 0; i < w->calls; i++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    eei_prepared *p = NULL;
    if (R->prepare(w->t, w->route, w->req, &p, &st) != EE_OK) {
      w->errors++;
      continue;
    }
    w->done = false;
    if (R->start(w->t, p, HEADERS, 3, eei_now_ms() + 60000, on_done, w, NULL, &st) != EE_OK) {
      w->errors++;
      R->prepared_free(p);
      continue;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    if (w->code != EE_OK && w->errors++ < 3) fprintf(stderr, "error: %s\n", w->message);
    R->prepared_free(p);
    clock_gettime(CLOCK_MONOTONIC, &b);
    w->lat_ms[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  }
  return NULL;
}

typedef struct cpu_use {
  double user, sys; /* seconds */
  long switches;    /* voluntary + involuntary context switches */
  long faults;      /* minor page faults */
} cpu_use;

static cpu_use cpu_now(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  cpu_use c = {(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
               ru.ru_nvcsw + ru.ru_nivcsw, ru.ru_minflt};
  return c;
}

/* --- async: C attempts in flight, each done starting the next on the event thread (what an
 *     embedding service does; no thread hand-off per call). --- */
typedef struct async_run {
  eei_transport *t;
  const ee_route *route;
  const ProtobufCMessage *req;
  int total, started, finished, errors;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} async_run;

typedef struct async_call {
  async_run *run;
  eei_prepared *p;
} async_call;

static void async_done(void *user, eei_attempt_result *res);

/* Prepares and starts the next call in slot c; false when all are started. */
static bool async_next(async_call *c) {
  async_run *r = c->run;
  pthread_mutex_lock(&r->mu);
  bool more = r->started < r->total;
  r->started += more;
  pthread_mutex_unlock(&r->mu);
  if (!more) return false;
  ee_status st;
  if (eei_rest_transport.prepare(r->t, r->route, r->req, &c->p, &st) != EE_OK ||
      eei_rest_transport.start(r->t, c->p, HEADERS, 3, eei_now_ms() + 60000, async_done, c, NULL,
                               &st) != EE_OK) {
    fprintf(stderr, "async start: %s\n", st.message);
    exit(1);
  }
  return true;
}

static void async_done(void *user, eei_attempt_result *res) {
  async_call *c = user;
  async_run *r = c->run;
  if (res->status.code != EE_OK && r->errors++ < 3)
    fprintf(stderr, "error: %s\n", res->status.message);
  eei_rest_transport.prepared_free(c->p);
  c->p = NULL;
  if (async_next(c)) return;
  pthread_mutex_lock(&r->mu);
  r->finished++;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

/* n calls, c in flight; returns the errors. */
static int async_round(eei_transport *t, const ee_route *route, const ProtobufCMessage *req, int n,
                       int c) {
  async_run r = {.t = t, .route = route, .req = req, .total = n};
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.cv, NULL);
  async_call *calls = calloc((size_t)c, sizeof *calls);
  int slots = 0;
  for (int i = 0; i < c; i++) {
    calls[i].run = &r;
    if (!async_next(&calls[i])) break;
    slots++;
  }
  pthread_mutex_lock(&r.mu);
  while (r.finished < slots) pthread_cond_wait(&r.cv, &r.mu);
  pthread_mutex_unlock(&r.mu);
  free(calls);
  return r.errors;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Runs n calls over c threads; returns the latencies (sorted) in *lat. */
static void round_of(eei_transport *t, const ee_route *route, const ProtobufCMessage *req, int n,
                     int c, double *lat, int *errors) {
  worker *w = calloc((size_t)c, sizeof *w);
  pthread_t *th = calloc((size_t)c, sizeof *th);
  int given = 0;
  for (int i = 0; i < c; i++) {
    w[i].t = t;
    w[i].route = route;
    w[i].req = req;
    w[i].calls = n / c + (i < n % c);
    w[i].lat_ms = lat + given;
    given += w[i].calls;
    pthread_mutex_init(&w[i].mu, NULL);
    pthread_cond_init(&w[i].cv, NULL);
    pthread_create(&th[i], NULL, run, &w[i]);
  }
  *errors = 0;
  for (int i = 0; i < c; i++) {
    pthread_join(th[i], NULL);
    *errors += w[i].errors;
  }
  qsort(lat, (size_t)n, sizeof *lat, cmp_double);
  free(w);
  free(th);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(
        stderr,
        "usage: bench_transport_rest EMULATOR [-n CALLS] [-c CONCURRENCY] [--blocking|--async]\n");
    return 2;
  }
  int n = 20000, c = 16, modes = 3; /* bit 0: blocking threads, bit 1: async */
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
      n = atoi(argv[++i]);
    else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
      c = atoi(argv[++i]);
    else if (strcmp(argv[i], "--blocking") == 0)
      modes = 1;
    else if (strcmp(argv[i], "--async") == 0)
      modes = 2;
  }
  if (n < 1 || c < 1) return 2;
  char *eargv[] = {argv[1],   "--rest-port",
                   "0",       "--grpc-port",
                   "0",       "--max-queued",
                   "1000000", "--task-seconds",
                   "0.001",   "--max-running",
                   "100000",  "--seed",
                   "1",       NULL};
  rest_proc emu;
  if (rest_proc_start(&emu, eargv) != 0) return 1;
  char host[64], endpoint[128];
  int port = 0;
  if (sscanf(emu.line, "ee-emulator listening rest=http://%63[^:]:%d", host, &port) != 2) {
    fprintf(stderr, "bad emulator line: %s\n", emu.line);
    rest_proc_stop(&emu);
    return 1;
  }
  snprintf(endpoint, sizeof endpoint, "http://%s:%d", host, port);

  eei_transport_config cfg = {0};
  cfg.endpoint = endpoint;
  cfg.host = host;
  cfg.port = port;
  cfg.connect_timeout_ms = 10000;
  cfg.max_response_bytes = (size_t)32 << 20;
  cfg.max_depth = 100;
  eei_transport *t = NULL;
  ee_status st;
  if (eei_rest_transport.create(&cfg, &t, &st) != EE_OK) {
    fprintf(stderr, "create: %s\n", st.message);
    return 1;
  }
  const ee_route *route =
      ee_route_find(ee_route_table_default(), "/google.earthengine.v1.EarthEngine/ExportImage");
  ProtobufCMessage *req = NULL;
  if (ee_json_decode(&google__earthengine__v1__export_image_request__descriptor, EXPORT_JSON,
                     strlen(EXPORT_JSON), NULL, &req, &st) != EE_OK)
    return 1;
  double *lat = calloc((size_t)(n > 1000 ? n : 1000), sizeof *lat);
  int errors = 0;
  round_of(t, route, req, 1000 < n ? 1000 : n, c, lat, &errors); /* warm-up */
  printf(
      "rest ExportImage: %d calls, concurrency %d (client CPU = this process: "
      "user + system, per call)\n",
      n, c);
  int all_errors = errors;
  for (int mode = 0; mode < 2; mode++) {
    if (!(modes & (1 << mode))) continue;
    eei_rest_stats s0, s1;
    eei_rest_get_stats(t, &s0);
    cpu_use c0 = cpu_now();
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (mode == 0)
      round_of(t, route, req, n, c, lat, &errors);
    else
      errors = async_round(t, route, req, n, c);
    clock_gettime(CLOCK_MONOTONIC, &b);
    cpu_use c1 = cpu_now();
    eei_rest_get_stats(t, &s1);
    all_errors += errors;
    double wall = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    double user = (c1.user - c0.user) * 1e6 / n, sys = (c1.sys - c0.sys) * 1e6 / n;
    printf(
        "  %-22s %7.0f calls/s  CPU %6.1f us/call (user %5.1f, sys %5.1f)  %4.2f ctx "
        "switches/call  %.2f faults/call  %llu new connections  %d errors",
        mode == 0 ? "blocking threads:" : "async (done->start):", n / wall, user + sys, user, sys,
        (double)(c1.switches - c0.switches) / n, (double)(c1.faults - c0.faults) / n,
        (unsigned long long)(s1.connects - s0.connects), errors);
    if (mode == 0) printf("  p50 %.3f ms  p99 %.3f ms", lat[n / 2], lat[(int)(n * 0.99)]);
    printf("\n");
    fflush(stdout);
  }
  errors = all_errors;
  eei_rest_transport.destroy(t);
  protobuf_c_message_free_unpacked(req, NULL);
  free(lat);
  rest_proc_stop(&emu);
  return errors ? 1 : 0;
}
