/* bench_sync_peer: the floor of a blocking client on this machine, for scripts/bench client.
 * The same ExportImage calls as bench_client's blocking mode (C threads, each making one
 * call at a time), made with the bare libraries the way their own synchronous APIs do:
 *
 *   curl-easy       each thread has one curl easy handle (its own kept-alive connection)
 *                   and calls curl_easy_perform; the body is posted as it is.
 *   grpc-core-sync  each thread has a completion queue of its own and polls it for its
 *                   call, as grpc's C++ synchronous stubs do; one channel for all.
 *
 * Neither validates, encodes nor decodes anything: the request bytes are the files
 * bench_client --write-request made, and the response is checked only for success. So the
 * difference between these and eeclient's blocking calls is what eeclient adds on top of
 * the library, and these are what the library costs by itself in blocking use.
 *
 *   bench_sync_peer --peer curl-easy --endpoint http://HOST:PORT --request DIR [--calls N]
 *                   [--concurrency C] [--warmup W] [--project projects/ID]
 *   bench_sync_peer --peer grpc-core-sync --target HOST:PORT --request DIR ...
 *
 * Prints one line as bench_client does:
 *   <peer> calls=N concurrency=C seconds=S calls_per_s=R cpu_us_per_call=U p50_ms=A
 *          p99_ms=B peak_rss_kib=K errors=E
 * cpu_us_per_call is getrusage(RUSAGE_SELF) user+system time over the measured calls / N. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "bench_common.h"

#define MAX_THREADS 256
#define MAX_REQUEST 65536

typedef struct args {
  const char *peer, *endpoint, *target, *request_dir, *project;
  long calls, concurrency, warmup;
} args;

typedef struct run {
  const args *a;
  char url[512];
  char body[MAX_REQUEST];
  grpc_channel *channel;
  grpc_slice message; /* the binary request, without gRPC framing */
  atomic_long next;
  long total;
  double *latency_ms;
  atomic_long errors;
} run;

static double now_ms(void) {
  return bench_now_s() * 1e3;
}

/* ---- curl-easy ---- */

static size_t discard(char *data, size_t size, size_t n, void *user) {
  (void)data;
  (void)user;
  return size * n;
}

static bool curl_one(CURL *e) {
  long code = 0;
  return curl_easy_perform(e) == CURLE_OK &&
         curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200;
}

static void *curl_worker(void *arg) {
  run *r = arg;
  CURL *e = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  if (!e || !h) {
    atomic_fetch_add(&r->errors, 1);
    return NULL;
  }
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  for (long i; (i = atomic_fetch_add(&r->next, 1)) < r->total;) {
    double t0 = now_ms();
    if (!curl_one(e)) atomic_fetch_add(&r->errors, 1);
    if (r->latency_ms) r->latency_ms[i] = now_ms() - t0;
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  return NULL;
}

/* ---- grpc-core-sync ---- */

static bool grpc_one(run *r, grpc_completion_queue *cq) {
  grpc_call *call = grpc_channel_create_call(
      r->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
      grpc_slice_from_static_string("/google.earthengine.v1.EarthEngine/ExportImage"), NULL,
      gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&r->message, 1), *recv = NULL;
  grpc_metadata_array initial, trailing;
  grpc_metadata_array_init(&initial);
  grpc_metadata_array_init(&trailing);
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  grpc_slice details = grpc_empty_slice();
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.status = &status;
  ops[5].data.recv_status_on_client.status_details = &details;
  ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
  bool ok = grpc_call_start_batch(call, ops, 6, call, NULL) == GRPC_CALL_OK;
  if (ok) {
    grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    ok = ev.type == GRPC_OP_COMPLETE && ev.success && status == GRPC_STATUS_OK && recv;
  }
  grpc_byte_buffer_destroy(send);
  if (recv) grpc_byte_buffer_destroy(recv);
  grpc_metadata_array_destroy(&initial);
  grpc_metadata_array_destroy(&trailing);
  grpc_slice_unref(details);
  grpc_call_unref(call);
  return ok;
}

static void *grpc_worker(void *arg) {
  run *r = arg;
  grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
  for (long i; (i = atomic_fetch_add(&r->next, 1)) < r->total;) {
    double t0 = now_ms();
    if (!grpc_one(r, cq)) atomic_fetch_add(&r->errors, 1);
    if (r->latency_ms) r->latency_ms[i] = now_ms() - t0;
  }
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  return NULL;
}

/* ---- driver ---- */

static int usage(const char *why) {
  if (why) fprintf(stderr, "bench_sync_peer: %s\n", why);
  fprintf(stderr,
          "usage: bench_sync_peer --peer curl-easy --endpoint URL --request DIR [--calls N]\n"
          "                       [--concurrency C] [--warmup W] [--project projects/ID]\n"
          "       bench_sync_peer --peer grpc-core-sync --target HOST:PORT --request DIR ...\n");
  return 2;
}

static int parse_args(int argc, char **argv, args *a) {
  *a = (args){.project = "projects/bench", .calls = 20000, .concurrency = 16, .warmup = 500};
  for (int i = 1; i < argc; i += 2) {
    const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char why[160];
    snprintf(why, sizeof why, "%s: bad or missing value", f);
    if (!v) return usage(why);
    if (strcmp(f, "--peer") == 0)
      a->peer = v;
    else if (strcmp(f, "--endpoint") == 0)
      a->endpoint = v;
    else if (strcmp(f, "--target") == 0)
      a->target = v;
    else if (strcmp(f, "--request") == 0)
      a->request_dir = v;
    else if (strcmp(f, "--project") == 0)
      a->project = v;
    else if (strcmp(f, "--calls") == 0) {
      if (!bench_parse_count(v, 1, 100000000, &a->calls)) return usage(why);
    } else if (strcmp(f, "--concurrency") == 0) {
      if (!bench_parse_count(v, 1, MAX_THREADS, &a->concurrency)) return usage(why);
    } else if (strcmp(f, "--warmup") == 0) {
      if (!bench_parse_count(v, 0, 100000000, &a->warmup)) return usage(why);
    } else {
      snprintf(why, sizeof why, "unknown flag %s", f);
      return usage(why);
    }
  }
  bool curl = a->peer && strcmp(a->peer, "curl-easy") == 0;
  bool grpc = a->peer && strcmp(a->peer, "grpc-core-sync") == 0;
  if (!curl && !grpc) return usage("--peer: curl-easy or grpc-core-sync");
  if (curl && !a->endpoint) return usage("--peer curl-easy needs --endpoint");
  if (grpc && !a->target) return usage("--peer grpc-core-sync needs --target");
  if (!a->request_dir) return usage("--request DIR (bench_client --write-request DIR)");
  return 0;
}

/* Reads DIR/name whole; returns its length or -1. */
static long read_file(const char *dir, const char *name, char *buf, size_t cap) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "bench_sync_peer: %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  if (n == cap) {
    fprintf(stderr, "bench_sync_peer: %s: larger than %zu bytes\n", path, cap - 1);
    return -1;
  }
  return (long)n;
}

/* The request of this peer from bench_client's files; 0 or -1. */
static int load_request(run *r) {
  const args *a = r->a;
  if (a->endpoint) {
    long n = read_file(a->request_dir, "request.json", r->body, sizeof r->body);
    if (n < 0) return -1;
    r->body[n] = '\0';
    snprintf(r->url, sizeof r->url, "%s/v1/%s/image:export", a->endpoint, a->project);
    return 0;
  }
  char framed[MAX_REQUEST];
  long n = read_file(a->request_dir, "request.grpc", framed, sizeof framed);
  if (n < 5) return n < 0 ? -1 : (fprintf(stderr, "bench_sync_peer: request.grpc: short\n"), -1);
  r->message = grpc_slice_from_copied_buffer(framed + 5, (size_t)n - 5); /* past the framing */
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  r->channel = grpc_channel_create(a->target, creds, NULL);
  grpc_channel_credentials_release(creds);
  return r->channel ? 0 : -1;
}

static void run_threads(run *r, long calls) {
  pthread_t t[MAX_THREADS];
  long n = r->a->concurrency;
  atomic_store(&r->next, 0);
  r->total = calls;
  void *(*fn)(void *) = r->a->endpoint ? curl_worker : grpc_worker;
  for (long i = 0; i < n; i++)
    if (pthread_create(&t[i], NULL, fn, r) != 0) {
      fprintf(stderr, "bench_sync_peer: pthread_create failed\n");
      exit(1);
    }
  for (long i = 0; i < n; i++) pthread_join(t[i], NULL);
}

int main(int argc, char **argv) {
  args a;
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc;
  static run r;
  r.a = &a;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  grpc_init();
  if (load_request(&r) != 0) return 1;
  if (a.warmup) run_threads(&r, a.warmup);
  atomic_store(&r.errors, 0);
  r.latency_ms = calloc((size_t)a.calls, sizeof *r.latency_ms);
  if (!r.latency_ms) return 1;
  struct rusage u0, u1;
  getrusage(RUSAGE_SELF, &u0);
  double t0 = now_ms();
  run_threads(&r, a.calls);
  double seconds = (now_ms() - t0) / 1e3;
  getrusage(RUSAGE_SELF, &u1);
  double cpu = bench_cpu_s(&u1) - bench_cpu_s(&u0);
  qsort(r.latency_ms, (size_t)a.calls, sizeof *r.latency_ms, bench_cmp_double);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf(
      "%s calls=%ld concurrency=%ld seconds=%.3f calls_per_s=%.1f cpu_us_per_call=%.2f "
      "p50_ms=%.3f p99_ms=%.3f peak_rss_kib=%ld errors=%ld\n",
      a.peer, a.calls, a.concurrency, seconds, (double)a.calls / seconds,
      cpu * 1e6 / (double)a.calls, bench_percentile(r.latency_ms, a.calls, 50),
      bench_percentile(r.latency_ms, a.calls, 99), ru.ru_maxrss, atomic_load(&r.errors));
  free(r.latency_ms);
  if (r.channel) grpc_channel_destroy(r.channel);
  grpc_slice_unref(r.message);
  grpc_shutdown();
  curl_global_cleanup();
  return atomic_load(&r.errors) ? 1 : 0;
}
