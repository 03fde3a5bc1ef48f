/* ee-export batch: many exports from a directory of JSON files or a JSON Lines file.
 *
 * Every request is read and checked before the first is sent (bad input: exit 2, nothing
 * sent). A request without a requestId gets one derived from its content and project, so
 * running the same batch again after a crash or Ctrl-C finds the operations the first
 * run started instead of starting new ones. RESOURCE_EXHAUSTED (the project's queue is
 * full) waits and tries again; other errors are counted as failures with their reason. */
#include <dirent.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char batch_help[] =
    "usage: ee-export batch DIR|FILE.jsonl [--max-in-flight N] [--report FILE]\n"
    "\n"
    "Submits every request in DIR (each *.json file, in name order) or FILE.jsonl (one\n"
    "request per line). A request without a requestId gets one derived from its content\n"
    "and project: running the same batch again (after a crash or Ctrl-C) starts no\n"
    "duplicate task and reports those as already existing. A full queue\n"
    "(RESOURCE_EXHAUSTED) makes it wait and retry. Ends with a summary on stdout.\n"
    "\n"
    "  --max-in-flight N   requests in flight at once (default 8, at most 256)\n"
    "  --report FILE       one JSON Lines record per request: source, requestId, status\n"
    "                      (submitted, existing, failed), operation or code and message\n"
    "\n"
    "Example:\n"
    "  ee-export --project projects/demo batch exports/ --report report.jsonl\n";

#define MAX_ITEMS 100000
#define MAX_IN_FLIGHT 256

typedef enum item_status { ITEM_PENDING, ITEM_SUBMITTED, ITEM_EXISTING, ITEM_FAILED } item_status;

typedef struct item {
  char source[512]; /* "dir/a.json" or "file.jsonl:12" */
  ProtobufCMessage *req;
  char *orig_project, *orig_request_id; /* as decoded: put back before the message is freed */
  bool duplicate;                       /* an earlier item of this batch has the same requestId */
  char request_id[EE_REQUEST_ID_MAX + 1];
  item_status status;
  ee_status error; /* when failed */
  char operation[256];
} item;

typedef struct batch {
  cli *cli;
  ee_client *client;
  item *items;
  size_t n, cap;
  atomic_size_t next, done, submitted, existing, failed;
  struct timespec started; /* wall clock: compared with operations' createTime */
  FILE *report;
  pthread_mutex_t mu; /* report file and progress line */
  bool tty;
} batch;

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

/* ---- reading ---- */

static int add_item(batch *b, const char *source, const char *text, size_t len) {
  if (b->n == MAX_ITEMS) return cli_usage("batch: more than %d requests", MAX_ITEMS);
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    item *bigger = realloc(b->items, cap * sizeof *bigger);
    if (!bigger) return cli_error(EXIT_USAGE, EE_RESOURCE_EXHAUSTED, "out of memory");
    b->items = bigger;
    b->cap = cap;
  }
  item *it = &b->items[b->n];
  memset(it, 0, sizeof *it);
  snprintf(it->source, sizeof it->source, "%s", source);
  ee_json_decode_options o = EE_JSON_DECODE_OPTIONS_INIT;
  ee_status st;
  o.accept_wrapper_objects = true;
  if (ee_json_decode(&google__earthengine__v1__export_image_request__descriptor, text, len, &o,
                     &it->req, &st) != EE_OK)
    return cli_usage("%s: %s", source, st.message);
  Google__Earthengine__V1__ExportImageRequest *r = (void *)it->req;
  it->orig_project = r->project;
  it->orig_request_id = r->request_id;
  b->n++;
  return 0;
}

static int read_jsonl(batch *b, const char *path) {
  char *text;
  size_t len;
  int rc = cli_read_file(path, "batch", &text, &len);
  if (rc) return rc;
  size_t line = 0;
  for (char *p = text, *end; !rc && p < text + len; p = end + 1) {
    end = memchr(p, '\n', (size_t)(text + len - p));
    if (!end) end = text + len;
    line++;
    size_t n = (size_t)(end - p);
    bool blank = true;
    for (size_t i = 0; i < n && blank; i++) blank = p[i] == ' ' || p[i] == '\t' || p[i] == '\r';
    if (blank) continue;
    char source[512];
    snprintf(source, sizeof source, "%.400s:%zu", path, line);
    rc = add_item(b, source, p, n);
  }
  free(text);
  return rc;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_dir(batch *b, const char *path) {
  DIR *d = opendir(path);
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  if (!d) return cli_usage("batch %s: cannot open", path);
  for (struct dirent *e; (e = readdir(d)) != NULL && !rc;) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0 || e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **bigger = realloc(names, cap * sizeof *bigger);
      if (!bigger)
        rc = cli_error(EXIT_USAGE, EE_RESOURCE_EXHAUSTED, "out of memory");
      else
        names = bigger;
    }
    if (!rc) names[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (!rc && n == 0) rc = cli_usage("batch %s: no *.json files", path);
  if (!rc) qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0; i < n; i++) {
    if (!rc) {
      char file[4096], *text;
      size_t len;
      snprintf(file, sizeof file, "%s/%s", path, names[i]);
      rc = cli_read_file(file, "batch", &text, &len);
      if (!rc) rc = add_item(b, file, text, len);
      if (!rc) free(text);
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

/* ---- ids ---- */

/* "b-" + 40 hex digits of SHA-256 over the project and the request's canonical JSON
 * (without requestId): the same request in the same project always gets the same id. */
static int derive_request_id(item *it, const char *project) {
  Google__Earthengine__V1__ExportImageRequest *r = (void *)it->req;
  ee_buf json = EE_BUF_INIT;
  ee_status st;
  unsigned char md[32];
  unsigned int md_len = 0;
  if (ee_json_encode(it->req, NULL, &json, &st) != EE_OK)
    return cli_usage("%s: %s", it->source, st.message);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
            EVP_DigestUpdate(ctx, project, strlen(project) + 1) &&
            EVP_DigestUpdate(ctx, json.data, json.len) && EVP_DigestFinal_ex(ctx, md, &md_len);
  EVP_MD_CTX_free(ctx);
  ee_buf_free(&json);
  if (!ok) return cli_error(EXIT_USAGE, EE_INTERNAL, "SHA-256 failed");
  strcpy(it->request_id, "b-");
  for (int i = 0; i < 20; i++) sprintf(it->request_id + 2 + 2 * i, "%02x", md[i]);
  r->request_id = it->request_id;
  return 0;
}

static int by_request_id(const void *a, const void *b) {
  const item *x = *(item *const *)a, *y = *(item *const *)b;
  int d = strcmp(x->request_id, y->request_id);
  return d ? d : (x < y ? -1 : x > y);
}

/* Items whose requestId an earlier item has: one operation serves both, and the later
 * one is reported as existing. */
static int mark_duplicates(batch *b) {
  item **order = malloc(b->n * sizeof *order);
  if (!order) return cli_error(EXIT_USAGE, EE_RESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; i < b->n; i++) order[i] = &b->items[i];
  qsort(order, b->n, sizeof *order, by_request_id);
  for (size_t i = 1; i < b->n; i++)
    order[i]->duplicate = strcmp(order[i]->request_id, order[i - 1]->request_id) == 0;
  free(order);
  return 0;
}

/* Project and requestId for every item, and the local checks, before anything is sent. */
static int prepare_items(batch *b) {
  ee_buf scratch = EE_BUF_INIT;
  for (size_t i = 0; i < b->n; i++) {
    item *it = &b->items[i];
    Google__Earthengine__V1__ExportImageRequest *r = (void *)it->req;
    int rc = cli_check_request(it->req, it->source);
    if (rc) return rc;
    if (b->cli->project_flag || !r->project || !r->project[0]) {
      if (!b->cli->project)
        return cli_usage("%s: project: none in the request and no --project", it->source);
      r->project = (char *)b->cli->project;
    }
    if (!r->request_id || !r->request_id[0]) {
      rc = derive_request_id(it, r->project);
      if (rc) return rc;
    } else {
      snprintf(it->request_id, sizeof it->request_id, "%s", r->request_id);
    }
    ee_status st;
    scratch.len = 0;
    if (ee_client_prepare(b->client, "/google.earthengine.v1.EarthEngine/ExportImage", it->req,
                          &scratch, &st) != EE_OK) {
      ee_buf_free(&scratch);
      return cli_error(EXIT_USAGE, st.code, "%s: %s", it->source, st.message);
    }
  }
  ee_buf_free(&scratch);
  return b->n ? mark_duplicates(b) : 0;
}

/* ---- progress and report ---- */

static void draw_progress(batch *b, bool final) {
  size_t done = atomic_load(&b->done);
  if (!b->tty && !final && done % 50 != 0) return;
  int width = 30, filled = b->n ? (int)(done * (size_t)width / b->n) : width;
  char bar[64];
  for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
  bar[width] = '\0';
  fprintf(stderr, "%s[%s] %zu/%zu  submitted %zu  existing %zu  failed %zu%s",
          b->tty ? "\r\033[K" : "", bar, done, b->n, atomic_load(&b->submitted),
          atomic_load(&b->existing), atomic_load(&b->failed), b->tty && !final ? "" : "\n");
  fflush(stderr);
}

static void json_escaped(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

static const char *status_name(item_status s) {
  return s == ITEM_SUBMITTED  ? "submitted"
         : s == ITEM_EXISTING ? "existing"
         : s == ITEM_FAILED   ? "failed"
                              : "not sent";
}

static void report_item(batch *b, const item *it) {
  if (!b->report) return;
  fprintf(b->report, "{\"source\":");
  json_escaped(b->report, it->source);
  fprintf(b->report, ",\"requestId\":");
  json_escaped(b->report, it->request_id);
  fprintf(b->report, ",\"status\":\"%s\"", status_name(it->status));
  if (it->status == ITEM_FAILED) {
    fprintf(b->report, ",\"code\":\"%s\",\"message\":", ee_code_name(it->error.code));
    json_escaped(b->report, it->error.message);
  } else {
    fprintf(b->report, ",\"operation\":");
    json_escaped(b->report, it->operation);
  }
  fprintf(b->report, "}\n");
  fflush(b->report);
}

/* ---- submitting ---- */

/* Created before this run started: a previous run (or another client) submitted it. */
static bool existed_before(const Google__Longrunning__Operation *op,
                           const struct timespec *started) {
  Google__Earthengine__V1__OperationMetadata *md = ee_operation_metadata(op);
  const Google__Protobuf__Timestamp *t = md ? md->create_time : NULL;
  bool before = t && (t->seconds < (int64_t)started->tv_sec ||
                      (t->seconds == (int64_t)started->tv_sec && t->nanos < started->tv_nsec));
  ee_message_free(md);
  return before;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void submit(batch *b, item *it) {
  long backoff = 1000;
  for (;;) {
    Google__Longrunning__Operation *op = NULL;
    ee_code rc = ee_client_export_image(b->client, (void *)it->req, NULL, &op, &it->error);
    if (rc == EE_OK) {
      snprintf(it->operation, sizeof it->operation, "%s", op->name);
      it->status =
          it->duplicate || existed_before(op, &b->started) ? ITEM_EXISTING : ITEM_SUBMITTED;
      ee_message_free(op);
      return;
    }
    /* A full queue is not a failure of this request: wait for room (the client already
     * retried a few times). Ctrl-C ends the wait. */
    if (rc != EE_RESOURCE_EXHAUSTED || interrupted) {
      it->status = ITEM_FAILED;
      return;
    }
    sleep_ms(backoff);
    backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
  }
}

static void *worker(void *arg) {
  batch *b = arg;
  for (size_t i; !interrupted && (i = atomic_fetch_add(&b->next, 1)) < b->n;) {
    item *it = &b->items[i];
    submit(b, it);
    atomic_fetch_add(it->status == ITEM_SUBMITTED  ? &b->submitted
                     : it->status == ITEM_EXISTING ? &b->existing
                                                   : &b->failed,
                     1);
    atomic_fetch_add(&b->done, 1);
    pthread_mutex_lock(&b->mu);
    report_item(b, it);
    draw_progress(b, false);
    pthread_mutex_unlock(&b->mu);
  }
  return NULL;
}

static int summary(batch *b) {
  size_t failed = atomic_load(&b->failed), not_sent = b->n - atomic_load(&b->done);
  bool transport_only = failed > 0;
  if (b->cli->json_output) {
    printf(
        "{\"total\":%zu,\"submitted\":%zu,\"existing\":%zu,\"failed\":%zu,\"notSent\":%zu,"
        "\"failures\":[",
        b->n, atomic_load(&b->submitted), atomic_load(&b->existing), failed, not_sent);
  } else {
    printf("%zu requests: %zu submitted, %zu already existing, %zu failed", b->n,
           atomic_load(&b->submitted), atomic_load(&b->existing), failed);
    if (not_sent) printf(", %zu not sent (interrupted)", not_sent);
    printf("\n");
  }
  bool first = true;
  for (size_t i = 0; i < b->n; i++) {
    item *it = &b->items[i];
    if (it->status != ITEM_FAILED) continue;
    if (it->error.code != EE_UNAVAILABLE && it->error.code != EE_DEADLINE_EXCEEDED)
      transport_only = false;
    if (b->cli->json_output) {
      printf("%s{\"source\":", first ? "" : ",");
      json_escaped(stdout, it->source);
      printf(",\"code\":\"%s\",\"message\":", ee_code_name(it->error.code));
      json_escaped(stdout, it->error.message);
      printf("}");
    } else {
      printf("  failed %s: %s: %s\n", it->source, ee_code_name(it->error.code), it->error.message);
    }
    first = false;
  }
  if (b->cli->json_output) printf("]}\n");
  if (failed) return transport_only ? EXIT_TRANSPORT : EXIT_SERVICE;
  return not_sent ? 130 : EXIT_OK;
}

static int parse_batch_flags(int argc, char **argv, const char **input, int *in_flight,
                             const char **report) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(batch_help, stdout);
      return EXIT_OK;
    }
    if (strcmp(a, "--max-in-flight") == 0 || strcmp(a, "--report") == 0) {
      if (cli_missing_value(argc, argv, i)) return EXIT_USAGE;
      const char *v = argv[++i];
      if (a[2] == 'r') {
        *report = v;
        continue;
      }
      char *end = NULL;
      long n = strtol(v, &end, 10);
      if (end == v || *end || n < 1 || n > MAX_IN_FLIGHT)
        return cli_usage("--max-in-flight: \"%s\" is not 1..%d", v, MAX_IN_FLIGHT);
      *in_flight = (int)n;
    } else if (a[0] == '-' && a[1]) {
      return cli_usage("batch: unknown flag %s (see ee-export batch --help)", a);
    } else if (!*input) {
      *input = a;
    } else {
      return cli_usage("batch: unexpected argument \"%s\"", a);
    }
  }
  if (!*input) return cli_usage("batch needs DIR or FILE.jsonl");
  return -1;
}

int cli_batch(cli *c, int argc, char **argv) {
  const char *input = NULL, *report = NULL;
  int in_flight = 8;
  int rc = parse_batch_flags(argc, argv, &input, &in_flight, &report);
  if (rc >= 0) return rc;
  batch b;
  memset(&b, 0, sizeof b);
  b.cli = c;
  DIR *probe = opendir(input);
  if (probe) closedir(probe);
  rc = probe ? read_dir(&b, input) : read_jsonl(&b, input);
  if (!rc) b.client = cli_client(c, &rc);
  if (!rc) rc = prepare_items(&b);
  if (!rc && report && !(b.report = fopen(report, "w")))
    rc = cli_usage("--report %s: cannot write", report);
  if (!rc) {
    clock_gettime(CLOCK_REALTIME, &b.started);
    b.tty = isatty(2) == 1;
    pthread_mutex_init(&b.mu, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = (int)SA_RESETHAND; /* a second Ctrl-C ends the program at once */
    sigaction(SIGINT, &sa, NULL);
    int threads = in_flight < (int)b.n ? in_flight : (int)b.n;
    pthread_t t[MAX_IN_FLIGHT];
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, &b);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    draw_progress(&b, true);
    rc = summary(&b);
    pthread_mutex_destroy(&b.mu);
  }
  if (b.report) fclose(b.report);
  for (size_t i = 0; i < b.n; i++) {
    Google__Earthengine__V1__ExportImageRequest *r = (void *)b.items[i].req;
    if (r) r->project = b.items[i].orig_project, r->request_id = b.items[i].orig_request_id;
    ee_message_free(r);
  }
  free(b.items);
  return rc;
}
