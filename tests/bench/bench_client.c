/* bench_client: ExportImage throughput, latency and client CPU of eeclient over one
 * transport, many threads sharing one ee_client (the issue 10 benchmark; scripts/bench
 * client runs it next to Python grpcio, Python http.client, wrk and h2load).
 *
 *   bench_client --transport rest|grpc --endpoint URL [--calls N] [--concurrency C]
 *                [--warmup W] [--project projects/ID] [--label NAME]
 *                [--mode blocking|async]
 *   bench_client --write-request DIR [--project projects/ID]
 *
 * The first form makes W warm-up calls, then N blocking ee_client_export_image calls
 * from C threads sharing one client (each call a small valid request, the client filling a
 * UUIDv4 requestId), and prints one line. --mode async instead starts C calls with
 * ee_client_export_image_async from the main thread and starts the next one from each
 * completion callback (what a service on an event loop does: no thread per call, no
 * handoff back to a waiting thread):
 *
 *   <label> calls=N concurrency=C seconds=S calls_per_s=R cpu_us_per_call=U p50_ms=A
 *           p99_ms=B peak_rss_kib=K errors=E [first_error="..."]
 *
 * cpu_us_per_call is getrusage(RUSAGE_SELF) user+system time over the measured calls
 * divided by N: this process only (the emulator is another process). Latency is per call,
 * CLOCK_MONOTONIC around the blocking call. peak_rss_kib is ru_maxrss. Retries are off
 * (max_attempts 1), so every failed exchange shows as an error; the exit status is 1
 * when any call failed.
 *
 * --write-request writes the same request, without requestId, for the other contenders:
 * DIR/request.json (proto3 JSON, eeclient's encoder) and DIR/request.grpc (a gRPC
 * length-prefixed message: flag byte 0, 4-byte big-endian length, the binary message). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <protobuf-c/protobuf-c.h>

#include "bench_common.h"
#include "ee/buf.h"
#include "ee/client.h"
#include "ee/json.h"
#include "ee/status.h"

#define MAX_THREADS 256

/* The request tests/emulator/emu_support.py small_request() builds: an Image.constant
 * invocation exported as a GeoTIFF to Drive. Read-only once built, so shared by every
 * thread (the client only reads a request). */
typedef struct export_req {
  Google__Earthengine__V1__ExportImageRequest req;
  Google__Earthengine__V1__Expression expr;
  Google__Earthengine__V1__Expression__ValuesEntry entry, *entries[1];
  Google__Earthengine__V1__ValueNode node, arg;
  Google__Earthengine__V1__FunctionInvocation call;
  Google__Earthengine__V1__FunctionInvocation__ArgumentsEntry arg_entry, *args[1];
  Google__Protobuf__Value constant;
  Google__Earthengine__V1__ImageFileExportOptions file;
  Google__Earthengine__V1__DriveDestination drive;
} export_req;

static void export_init(export_req *e, const char *project) {
  google__earthengine__v1__export_image_request__init(&e->req);
  google__earthengine__v1__expression__init(&e->expr);
  google__earthengine__v1__expression__values_entry__init(&e->entry);
  google__earthengine__v1__value_node__init(&e->node);
  google__earthengine__v1__value_node__init(&e->arg);
  google__earthengine__v1__function_invocation__init(&e->call);
  google__earthengine__v1__function_invocation__arguments_entry__init(&e->arg_entry);
  google__protobuf__value__init(&e->constant);
  google__earthengine__v1__image_file_export_options__init(&e->file);
  google__earthengine__v1__drive_destination__init(&e->drive);
  e->constant.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
  e->constant.number_value = 5;
  e->arg.kind_case = GOOGLE__EARTHENGINE__V1__VALUE_NODE__KIND_CONSTANT_VALUE;
  e->arg.constant_value = &e->constant;
  e->arg_entry.key = "value";
  e->arg_entry.value = &e->arg;
  e->args[0] = &e->arg_entry;
  e->call.function_case = GOOGLE__EARTHENGINE__V1__FUNCTION_INVOCATION__FUNCTION_FUNCTION_NAME;
  e->call.function_name = "Image.constant";
  e->call.n_arguments = 1;
  e->call.arguments = e->args;
  e->node.kind_case = GOOGLE__EARTHENGINE__V1__VALUE_NODE__KIND_FUNCTION_INVOCATION_VALUE;
  e->node.function_invocation_value = &e->call;
  e->entry.key = "0";
  e->entry.value = &e->node;
  e->entries[0] = &e->entry;
  e->expr.n_values = 1;
  e->expr.values = e->entries;
  e->expr.result = "0";
  e->drive.folder = "out";
  e->drive.filename_prefix = "img";
  e->file.file_format = GOOGLE__EARTHENGINE__V1__IMAGE_FILE_FORMAT__GEO_TIFF;
  e->file.destination_case =
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION_DRIVE_DESTINATION;
  e->file.drive_destination = &e->drive;
  e->req.project = (char *)project;
  e->req.description = "test export";
  e->req.expression = &e->expr;
  e->req.export_options_case =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_FILE_EXPORT_OPTIONS;
  e->req.file_export_options = &e->file;
}

typedef struct args {
  const char *transport, *endpoint, *project, *label, *write_dir;
  long calls, concurrency, warmup;
  bool async;
} args;

static int usage(const char *why) {
  if (why) fprintf(stderr, "bench_client: %s\n", why);
  fprintf(stderr,
          "usage: bench_client --transport rest|grpc --endpoint URL [--calls N] "
          "[--concurrency C] [--warmup W] [--project projects/ID] [--label NAME] "
          "[--mode blocking|async]\n"
          "       bench_client --write-request DIR [--project projects/ID]\n");
  return 2;
}

/* Returns 0, or the exit status (2) after printing what is wrong. */
static int parse_args(int argc, char **argv, args *a) {
  *a = (args){.project = "projects/bench", .calls = 20000, .concurrency = 16, .warmup = 500};
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char why[160];
    snprintf(why, sizeof why, "%s: bad or missing value", f);
    if (strcmp(f, "-h") == 0 || strcmp(f, "--help") == 0) return usage(NULL);
    if (!v) return usage(why);
    i++;
    if (strcmp(f, "--transport") == 0)
      a->transport = v;
    else if (strcmp(f, "--endpoint") == 0)
      a->endpoint = v;
    else if (strcmp(f, "--project") == 0)
      a->project = v;
    else if (strcmp(f, "--label") == 0)
      a->label = v;
    else if (strcmp(f, "--mode") == 0) {
      if (strcmp(v, "async") && strcmp(v, "blocking")) return usage(why);
      a->async = strcmp(v, "async") == 0;
    } else if (strcmp(f, "--write-request") == 0)
      a->write_dir = v;
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
  if (a->write_dir) return 0;
  if (!a->transport || !a->endpoint) return usage("--transport and --endpoint are required");
  return 0;
}

/* ---- --write-request ---- */

static int write_file(const char *dir, const char *name, const void *data, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "bench_client: %s: %s\n", path, strerror(errno));
    if (f) fclose(f);
    return 1;
  }
  return 0;
}

static int write_request(const args *a) {
  export_req e;
  ee_buf json;
  ee_status st;
  export_init(&e, a->project);
  ee_buf_init(&json, 0);
  if (ee_json_encode(&e.req.base, NULL, &json, &st) != EE_OK) {
    fprintf(stderr, "bench_client: encoding the request: %s\n", st.message);
    ee_buf_free(&json);
    return 1;
  }
  size_t n = protobuf_c_message_get_packed_size(&e.req.base);
  unsigned char *frame = malloc(5 + n);
  if (!frame) return 1;
  frame[0] = 0; /* not compressed */
  frame[1] = (unsigned char)(n >> 24);
  frame[2] = (unsigned char)(n >> 16);
  frame[3] = (unsigned char)(n >> 8);
  frame[4] = (unsigned char)n;
  protobuf_c_message_pack(&e.req.base, frame + 5);
  int rc = write_file(a->write_dir, "request.json", json.data, json.len) ||
           write_file(a->write_dir, "request.grpc", frame, 5 + n);
  free(frame);
  ee_buf_free(&json);
  return rc;
}

/* ---- the measured run ---- */

typedef struct run {
  ee_client *client;
  const Google__Earthengine__V1__ExportImageRequest *req;
  bool async;
  atomic_long next;
  long total;
  double *latency_ms; /* [total], or NULL during the warm-up */
  atomic_long errors;
  pthread_mutex_t mu;
  char first_error[EE_STATUS_MESSAGE_MAX + 32];
  /* async mode */
  atomic_long finished;
  pthread_cond_t all_done;
} run;

static void note_error(run *r, const ee_status *st) {
  atomic_fetch_add(&r->errors, 1);
  pthread_mutex_lock(&r->mu);
  if (!r->first_error[0])
    snprintf(r->first_error, sizeof r->first_error, "%s: %s", ee_code_name(st->code), st->message);
  pthread_mutex_unlock(&r->mu);
}

static void *worker(void *arg) {
  run *r = arg;
  ee_status st;
  for (long i; (i = atomic_fetch_add(&r->next, 1)) < r->total;) {
    Google__Longrunning__Operation *op = NULL;
    double t0 = bench_now_s();
    ee_code rc = ee_client_export_image(r->client, r->req, NULL, &op, &st);
    double t1 = bench_now_s();
    if (r->latency_ms) r->latency_ms[i] = (t1 - t0) * 1e3;
    if (rc != EE_OK || !op || !op->name[0]) note_error(r, &st);
    ee_message_free(op);
  }
  return NULL;
}

/* ---- async mode: each completion starts the next call ---- */

typedef struct slot {
  run *r;
  long i; /* index of the call in flight */
  double t0;
} slot;

static void start_next(slot *s);

static void count_finished(run *r) {
  if (atomic_fetch_add(&r->finished, 1) + 1 == r->total) {
    pthread_mutex_lock(&r->mu);
    pthread_cond_signal(&r->all_done);
    pthread_mutex_unlock(&r->mu);
  }
}

static void on_async_done(void *user, Google__Longrunning__Operation *op, const ee_status *st) {
  slot *s = user;
  run *r = s->r;
  if (r->latency_ms) r->latency_ms[s->i] = (bench_now_s() - s->t0) * 1e3;
  if (st->code != EE_OK || !op || !op->name[0]) note_error(r, st);
  ee_message_free(op);
  count_finished(r);
  start_next(s);
}

static void start_next(slot *s) {
  run *r = s->r;
  ee_status st;
  s->i = atomic_fetch_add(&r->next, 1);
  if (s->i >= r->total) return;
  s->t0 = bench_now_s();
  if (ee_client_export_image_async(r->client, r->req, NULL, on_async_done, s, NULL, &st) != EE_OK) {
    note_error(r, &st);
    count_finished(r);
  }
}

static bool run_async(run *r, long concurrency) {
  slot slots[MAX_THREADS];
  atomic_store(&r->finished, 0);
  for (long i = 0; i < concurrency; i++) {
    slots[i].r = r;
    start_next(&slots[i]);
  }
  pthread_mutex_lock(&r->mu);
  while (atomic_load(&r->finished) < r->total) pthread_cond_wait(&r->all_done, &r->mu);
  pthread_mutex_unlock(&r->mu);
  return true;
}

/* Runs r->total calls on `threads` threads; returns false when a thread did not start. */
static bool run_calls(run *r, long threads) {
  pthread_t t[MAX_THREADS];
  long started = 0;
  if (r->async) return run_async(r, threads);
  bool ok = true;
  for (; started < threads; started++) {
    if (pthread_create(&t[started], NULL, worker, r) != 0) {
      fprintf(stderr, "bench_client: pthread_create failed\n");
      atomic_store(&r->next, r->total); /* the started ones stop soon */
      ok = false;
      break;
    }
  }
  for (long i = 0; i < started; i++) pthread_join(t[i], NULL);
  return ok;
}

static ee_client *make_client(const args *a) {
  ee_client_options o;
  ee_client *c = NULL;
  ee_status st;
  ee_transport_kind t;
  if (ee_transport_from_name(a->transport, &t) != 0) {
    fprintf(stderr, "bench_client: --transport: \"%s\" is not rest or grpc\n", a->transport);
    return NULL;
  }
  ee_client_options_init(&o);
  o.transport = t;
  o.endpoint = a->endpoint;
  o.project = a->project;
  o.retry.max_attempts = 1; /* every failed exchange counts as an error */
  if (ee_client_new(&o, &c, &st) != EE_OK)
    fprintf(stderr, "bench_client: ee_client_new: %s\n", st.message);
  return c;
}

static void print_result(const args *a, run *r, double seconds, double cpu) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  qsort(r->latency_ms, (size_t)r->total, sizeof *r->latency_ms, bench_cmp_double);
  char label[64];
  snprintf(label, sizeof label, "%s", a->label ? a->label : "");
  if (!label[0]) snprintf(label, sizeof label, "ours-%s%s", a->transport, a->async ? "-async" : "");
  long errors = atomic_load(&r->errors);
  printf(
      "%s calls=%ld concurrency=%ld seconds=%.3f calls_per_s=%.1f cpu_us_per_call=%.2f "
      "p50_ms=%.3f p99_ms=%.3f peak_rss_kib=%ld errors=%ld",
      label, r->total, a->concurrency, seconds, (double)r->total / seconds,
      cpu * 1e6 / (double)r->total, bench_percentile(r->latency_ms, r->total, 50),
      bench_percentile(r->latency_ms, r->total, 99), u.ru_maxrss, errors);
  if (errors) {
    /* The message goes last and quoted, without quotes inside, so the line still parses. */
    for (char *p = r->first_error; *p; p++)
      if (*p == '"' || *p == '\n') *p = '\'';
    printf(" first_error=\"%s\"", r->first_error);
  }
  printf("\n");
  fflush(stdout);
}

static int bench(const args *a) {
  export_req e;
  export_init(&e, a->project);
  ee_client *c = make_client(a);
  if (!c) return 1;
  run r = {.client = c, .req = &e.req, .total = a->warmup, .async = a->async};
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.all_done, NULL);
  int rc = 1;
  if (!run_calls(&r, a->concurrency)) goto done;
  if (atomic_load(&r.errors)) {
    fprintf(stderr, "bench_client: %ld of %ld warm-up calls failed; first: %s\n",
            atomic_load(&r.errors), r.total, r.first_error);
    atomic_store(&r.errors, 0);
    r.first_error[0] = '\0';
  }
  r.latency_ms = calloc((size_t)a->calls, sizeof *r.latency_ms);
  if (!r.latency_ms) goto done;
  r.total = a->calls;
  atomic_store(&r.next, 0);
  struct rusage u0, u1;
  getrusage(RUSAGE_SELF, &u0);
  double t0 = bench_now_s();
  if (!run_calls(&r, a->concurrency)) goto done;
  double t1 = bench_now_s();
  getrusage(RUSAGE_SELF, &u1);
  print_result(a, &r, t1 - t0, bench_cpu_s(&u1) - bench_cpu_s(&u0));
  rc = atomic_load(&r.errors) ? 1 : 0;
done:
  free(r.latency_ms);
  ee_client_free(c); /* before the run's lock goes: the last callback may still hold it */
  pthread_mutex_destroy(&r.mu);
  pthread_cond_destroy(&r.all_done);
  return rc;
}

int main(int argc, char **argv) {
  args a;
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc;
  return a.write_dir ? write_request(&a) : bench(&a);
}
