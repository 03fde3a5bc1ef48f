/* REST transport cost per call: N ExportImage calls at concurrency C against one
 * ee-emulator, each call prepared (JSON encode), started, waited for and its Operation
 * decoded, as the client will do. Prints calls/s, the client process's CPU per call
 * (getrusage: user + system of this process only; the emulator is another process) and
 * latency percentiles. Not a test: scripts/bench runs it.
 *
 *   bench_transport_rest EMULATOR [-n CALLS] [-c CONCURRENCY] */
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
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
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

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
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
    fprintf(stderr, "usage: bench_transport_rest EMULATOR [-n CALLS] [-c CONCURRENCY]\n");
    return 2;
  }
  int n = 20000, c = 16;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
      n = atoi(argv[++i]);
    else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
      c = atoi(argv[++i]);
  }
  if (n < 1 || c < 1) return 2;
  char *eargv[] = {argv[1], "--rest-port", "0", "--grpc-port", "0", "--max-queued", "1000000",
                   "--task-seconds", "3600", "--seed", "1", NULL};
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
  double cpu0 = cpu_seconds();
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  round_of(t, route, req, n, c, lat, &errors);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double cpu = cpu_seconds() - cpu0;
  double wall = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  eei_rest_stats rs;
  eei_rest_get_stats(t, &rs);
  printf("rest ExportImage: %d calls, concurrency %d, %d errors\n", n, c, errors);
  printf("  %.0f calls/s, client CPU %.1f us/call, p50 %.3f ms, p99 %.3f ms, %llu connections\n",
         n / wall, cpu * 1e6 / n, lat[n / 2], lat[(int)(n * 0.99)],
         (unsigned long long)rs.connects);
  eei_rest_transport.destroy(t);
  protobuf_c_message_free_unpacked(req, NULL);
  free(lat);
  rest_proc_stop(&emu);
  return errors ? 1 : 0;
}
