/* The client under faults and load, against ee-emulator:
 *
 *   test_client_load retries rest|grpc    --fail-after-commit-rate 0.3: 1,000 exports with
 *                                         retries create exactly 1,000 operations
 *   test_client_load unavailable rest|grpc --fail-rate 1.0: calls end UNAVAILABLE after the
 *                                         configured attempts, each attempt logged
 *   test_client_load threads rest|grpc    16 threads share one client for 10,000 calls:
 *                                         no errors, RSS flat after warm-up
 *   test_client_load manythreads rest|grpc 96 threads (more than the 64 loops a REST client
 *                                         lends to blocking callers; the rest wait on the
 *                                         event thread) make 960 exports: all OK, 960
 *                                         distinct operations
 *   test_client_load offthread rest|grpc  a blocking call whose retry cannot start (the
 *                                         token hook fails on the second attempt) ends on
 *                                         the timer thread: the caller gets that error, 200
 *                                         times from 8 threads, and never hangs (a REST
 *                                         caller runs its own loop while it waits) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "emu_proc.h"
#include "export_fixture.h"
#include "ee/client.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static ee_client *make_client(ee_transport_kind t, const emu_proc *e, int attempts, ee_log_fn log,
                              void *log_user) {
  ee_client_options o;
  ee_client *c = NULL;
  ee_status st;
  ee_client_options_init(&o);
  o.transport = t;
  o.endpoint = t == EE_TRANSPORT_REST ? e->rest_url : e->grpc_url;
  o.retry.max_attempts = attempts;
  o.retry.initial_backoff_ms = 5;
  o.retry.max_backoff_ms = 50;
  o.log_fn = log;
  o.log_user = log_user;
  if (ee_client_new(&o, &c, &st) != EE_OK) fprintf(stderr, "ee_client_new: %s\n", st.message);
  return c;
}

/* ---- a pool of threads running one function N times in all ---- */

typedef struct work {
  ee_client *client;
  const char *project;
  atomic_int next, ok, failed;
  int total;
  ee_code (*one)(struct work *w, int i, ee_status *st);
  char first_error[EE_STATUS_MESSAGE_MAX + 64];
  pthread_mutex_t mu;
} work;

static void *worker(void *arg) {
  work *w = arg;
  ee_status st;
  for (int i; (i = atomic_fetch_add(&w->next, 1)) < w->total;) {
    if (w->one(w, i, &st) == EE_OK) {
      atomic_fetch_add(&w->ok, 1);
      continue;
    }
    atomic_fetch_add(&w->failed, 1);
    pthread_mutex_lock(&w->mu);
    if (!w->first_error[0])
      snprintf(w->first_error, sizeof w->first_error, "%s: %s", ee_code_name(st.code), st.message);
    pthread_mutex_unlock(&w->mu);
  }
  return NULL;
}

static void run_pool(work *w, int threads) {
  pthread_t t[128];
  pthread_mutex_init(&w->mu, NULL);
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, w);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  pthread_mutex_destroy(&w->mu);
}

static ee_code one_export(work *w, int i, ee_status *st) {
  export_fixture e;
  Google__Longrunning__Operation *op = NULL;
  (void)i;
  export_fixture_init(&e, w->project, "load");
  ee_code rc = ee_client_export_image(w->client, &e.req, NULL, &op, st);
  ee_message_free(op);
  return rc;
}

static size_t count_operations(ee_client *c, const char *project, size_t *distinct) {
  Google__Longrunning__ListOperationsRequest req =
      GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
  ee_operation_iter *it = NULL;
  ee_status st;
  const Google__Longrunning__Operation *op;
  size_t n = 0, cap = 4096;
  char **names = calloc(cap, sizeof *names);
  req.name = (char *)project;
  req.page_size = 500;
  if (ee_client_list_all(c, &req, NULL, &it, &st) != EE_OK) return 0;
  while (ee_operation_iter_next(it, &op, &st) == EE_OK && op) {
    if (n < cap) names[n] = strdup(op->name);
    n++;
  }
  CHECK(st.code == EE_OK, "list: %s", st.message);
  ee_operation_iter_free(it);
  *distinct = 0;
  for (size_t i = 0; i < n && i < cap; i++) {
    bool dup = false;
    for (size_t j = 0; j < i && !dup; j++) dup = strcmp(names[i], names[j]) == 0;
    if (!dup) (*distinct)++;
  }
  for (size_t i = 0; i < n && i < cap; i++) free(names[i]);
  free(names);
  return n;
}

static int test_retries(ee_transport_kind t) {
  emu_proc e;
  const char *args[] = {
      "--fail-after-commit-rate", "0.3", "--task-seconds", "3600", "--seed", "7", NULL};
  if (emu_start(&e, emu_path(), args) != 0) return 1;
  /* 0.3^14 per call: no call runs out of attempts in any run we will ever see. */
  ee_client *c = make_client(t, &e, 14, NULL, NULL);
  work w = {.client = c, .project = "projects/retries", .total = 1000, .one = one_export};
  run_pool(&w, 16);
  size_t distinct = 0, n = count_operations(c, "projects/retries", &distinct);
  printf("%s: %d exports OK, %d failed; %zu operations (%zu distinct)\n", ee_transport_name(t),
         atomic_load(&w.ok), atomic_load(&w.failed), n, distinct);
  CHECK(atomic_load(&w.ok) == 1000, "first error: %s", w.first_error);
  CHECK(n == 1000 && distinct == 1000, "operations: %zu (%zu distinct), want 1000", n, distinct);
  ee_client_free(c);
  emu_stop(&e);
  return check_failures != 0;
}

static void count_log(void *user, const ee_call_log *entry) {
  atomic_int *n = user;
  (void)entry;
  atomic_fetch_add(n, 1);
}

static int test_unavailable(ee_transport_kind t) {
  emu_proc e;
  const char *args[] = {"--fail-rate", "1.0", NULL};
  atomic_int attempts = 0;
  if (emu_start(&e, emu_path(), args) != 0) return 1;
  ee_client *c = make_client(t, &e, 4, count_log, &attempts);
  Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  Google__Longrunning__Operation *op = NULL;
  ee_status st;
  req.name = "projects/p/operations/x";
  ee_code rc = ee_client_get_operation(c, &req, NULL, &op, &st);
  printf("%s: %s after %d attempts: %s\n", ee_transport_name(t), ee_code_name(rc),
         atomic_load(&attempts), st.message);
  CHECK(rc == EE_UNAVAILABLE, "%s", ee_code_name(rc));
  CHECK(atomic_load(&attempts) == 4, "attempts: %d, want 4", atomic_load(&attempts));
  CHECK(strstr(st.message, "after 4 attempts") != NULL, "message: %s", st.message);
  ee_client_free(c);
  emu_stop(&e);
  return check_failures != 0;
}

static long rss_kib(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static char known_op[256];

static ee_code one_mixed(work *w, int i, ee_status *st) {
  if (i % 4 == 0) return one_export(w, i, st);
  Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  Google__Longrunning__Operation *op = NULL;
  req.name = known_op;
  ee_code rc = ee_client_get_operation(w->client, &req, NULL, &op, st);
  ee_message_free(op);
  return rc;
}

static int test_threads(ee_transport_kind t) {
  emu_proc e;
  const char *args[] = {"--task-seconds", "3600", "--max-queued", "100000", NULL};
  if (emu_start(&e, emu_path(), args) != 0) return 1;
  ee_client *c = make_client(t, &e, 6, NULL, NULL);
  export_fixture x;
  Google__Longrunning__Operation *op = NULL;
  ee_status st;
  export_fixture_init(&x, "projects/threads", "load");
  if (ee_client_export_image(c, &x.req, NULL, &op, &st) != EE_OK) {
    fprintf(stderr, "first export: %s\n", st.message);
    return 1;
  }
  snprintf(known_op, sizeof known_op, "%s", op->name);
  ee_message_free(op);
  work warm = {.client = c, .project = "projects/threads", .total = 2000, .one = one_mixed};
  run_pool(&warm, 16);
  long rss_warm = rss_kib();
  work w = {.client = c, .project = "projects/threads", .total = 10000, .one = one_mixed};
  run_pool(&w, 16);
  long rss_end = rss_kib();
  printf(
      "%s: 10000 calls on 16 threads: %d OK, %d failed; RSS %ld KiB after warm-up, %ld KiB "
      "at the end\n",
      ee_transport_name(t), atomic_load(&w.ok), atomic_load(&w.failed), rss_warm, rss_end);
  CHECK(atomic_load(&w.ok) == 10000 && atomic_load(&warm.ok) == 2000, "first error: %s",
        w.first_error[0] ? w.first_error : warm.first_error);
#ifndef UNDER_ASAN
  /* The emulator's store grows, not ours: 10,000 more calls may not grow us by 16 MiB. */
  CHECK(rss_end - rss_warm < 16 * 1024, "RSS grew by %ld KiB", rss_end - rss_warm);
#endif
  ee_client_free(c);
  emu_stop(&e);
  return check_failures != 0;
}

/* Open file descriptors of this process. */
static int open_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n - 3; /* ".", ".." and the directory's own descriptor */
}

static int test_manythreads(ee_transport_kind t) {
  emu_proc e;
  /* 50 ms a call, so that all 96 callers are in a call at once. */
  const char *args[] = {"--task-seconds", "3600",         "--max-queued",
                        "100000",         "--latency-ms", "50",
                        "--grpc-threads", "96",           NULL};
  if (emu_start(&e, emu_path(), args) != 0) return 1;
  int fds0 = open_fds();
  ee_client *c = make_client(t, &e, 1, NULL, NULL);
  work w = {.client = c, .project = "projects/many", .total = 960, .one = one_export};
  run_pool(&w, 96);
  int fds = open_fds() - fds0;
  size_t distinct = 0, n = count_operations(c, "projects/many", &distinct);
  printf(
      "%s: 96 threads: %d exports OK, %d failed; %zu operations (%zu distinct); %d more "
      "open files\n",
      ee_transport_name(t), atomic_load(&w.ok), atomic_load(&w.failed), n, distinct, fds);
  /* REST: at most 64 loops lent to callers, of 5 files each (epoll, eventfd, curl's
   * wake-up socket pair, the connection), plus the event thread's loop and the connections
   * it keeps (curl's cache holds up to 64); a loop per caller would be 96 x 5 = 480. */
  CHECK(fds <= 65 * 5 + 64 + 8, "%d more open files with 96 threads", fds);
  CHECK(atomic_load(&w.ok) == 960, "first error: %s", w.first_error);
  CHECK(n == 960 && distinct == 960, "operations: %zu (%zu distinct), want 960", n, distinct);
  ee_client_free(c);
  emu_stop(&e);
  return check_failures != 0;
}

/* Hands out a token on the caller's threads and fails elsewhere. A call's first attempt
 * starts on its caller's thread; the emulator's --fail-rate 1.0 makes it UNAVAILABLE,
 * and the retry, started on the client's timer thread, gets no token. */
typedef struct flaky_tokens {
  pthread_mutex_t mu;
  int calls; /* token requests so far */
} flaky_tokens;

static _Thread_local bool on_caller_thread;

static ee_code flaky_token(void *user, bool force_refresh, ee_buf *token, ee_status *st) {
  flaky_tokens *f = user;
  (void)force_refresh;
  pthread_mutex_lock(&f->mu);
  f->calls++;
  pthread_mutex_unlock(&f->mu);
  if (on_caller_thread) return ee_buf_append_str(token, "t0k3n", st);
  return ee_status_set(st, EE_PERMISSION_DENIED, "flaky token source: no token for a retry");
}

static ee_code one_get_reset(work *w, int i, ee_status *st) {
  (void)i;
  Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  Google__Longrunning__Operation *op = NULL;
  req.name = "projects/p/operations/x";
  on_caller_thread = true;
  ee_code rc = ee_client_get_operation(w->client, &req, NULL, &op, st);
  ee_message_free(op ? &op->base : NULL);
  if (rc == EE_PERMISSION_DENIED && strstr(st->message, "no token for a retry")) return EE_OK;
  if (rc == EE_OK) return ee_status_set(st, EE_INTERNAL, "succeeded against --fail-rate 1.0");
  return rc;
}

static int test_offthread(ee_transport_kind t) {
  emu_proc e;
  const char *args[] = {"--fail-rate", "1.0", NULL};
  if (emu_start(&e, emu_path(), args) != 0) return 1;
  flaky_tokens f = {.calls = 0};
  pthread_mutex_init(&f.mu, NULL);
  ee_client_options o;
  ee_client *c = NULL;
  ee_status st;
  ee_client_options_init(&o);
  o.transport = t;
  o.endpoint = t == EE_TRANSPORT_REST ? e.rest_url : e.grpc_url;
  o.retry.max_attempts = 3;
  o.retry.initial_backoff_ms = 2;
  o.retry.max_backoff_ms = 5;
  o.token_fn = flaky_token;
  o.token_user = &f;
  CHECK(ee_client_new(&o, &c, &st) == EE_OK, "ee_client_new: %s", st.message);
  if (c) {
    work w = {.client = c, .total = 200, .one = one_get_reset};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_pool(&w, 8);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* A caller not woken when its call ends elsewhere would sit out its loop's 1 s poll
     * each time: 25 rounds of 8 calls, 25 s at least. */
    CHECK(s < 10.0, "200 calls took %.1f s: callers were not woken", s);
    printf(
        "%s: %d calls ended with the retry's token error, %d otherwise (%s); %d token "
        "requests\n",
        ee_transport_name(t), atomic_load(&w.ok), atomic_load(&w.failed), w.first_error, f.calls);
    CHECK(atomic_load(&w.ok) == 200, "%d of 200 (first other: %s)", atomic_load(&w.ok),
          w.first_error);
    CHECK(f.calls == 400, "token requests: %d, want 2 per call", f.calls);
    ee_client_free(c);
  }
  emu_stop(&e);
  return check_failures != 0;
}

int main(int argc, char **argv) {
  ee_transport_kind t;
  if (argc != 3 || ee_transport_from_name(argv[2], &t) != 0) {
    fprintf(
        stderr,
        "usage: test_client_load retries|unavailable|threads|offthread|manythreads rest|grpc\n");
    return 2;
  }
  if (strcmp(argv[1], "retries") == 0) return test_retries(t);
  if (strcmp(argv[1], "unavailable") == 0) return test_unavailable(t);
  if (strcmp(argv[1], "threads") == 0) return test_threads(t);
  if (strcmp(argv[1], "offthread") == 0) return test_offthread(t);
  if (strcmp(argv[1], "manythreads") == 0) return test_manythreads(t);
  fprintf(stderr, "unknown test %s\n", argv[1]);
  return 2;
}
