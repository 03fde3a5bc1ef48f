/* The auth tests' client: builds a token source, makes ListOperations calls through one
 * client from several threads, and prints what happened, never a secret:
 *   auth_call --transport rest|grpc --endpoint URL --source SRC [options]
 *     SRC: env | file:PATH | metadata | adc | from-env (ee_client_options_from_env)
 *     --check             only build the source: print "kind=K quota=Q" or the error
 *     --threads N         threads sharing the client (default 1), started together
 *     --calls N           calls per thread (default 1)
 *     --interval-ms N     pause between one thread's calls
 *     --revoke-url URL    after the first call, POST the source's current token there
 *     --dry-run           print ee_client_prepare's output for one call
 *     --log               print each ee_call_log line
 * Prints one "error CODE message" line per failed call, then
 *   "ok=N errors=N fetches=N kind=K quota=Q"; exits 0 when every call succeeded. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ee/auth.h"
#include "ee/client.h"

typedef struct run {
  ee_client *client;
  ee_token_source *src;
  int calls, interval_ms;
  const char *revoke_url;
  pthread_barrier_t start;
  pthread_mutex_t mu;
  int ok, errors;
} run;

static void on_log(void *user, const ee_call_log *e) {
  (void)user;
  printf("log %s %s attempt=%d code=%s http=%d message=%s\n", e->transport, e->rpc, e->attempt,
         ee_code_name(e->code), e->http_status, e->message);
  fflush(stdout);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Revokes the source's current token at the emulator's /revoke, as a user revoking a
 * leaked token would (the token never leaves this process otherwise). */
static void revoke_current(run *r) {
  ee_buf tok;
  ee_status st;
  ee_buf_init(&tok, 0);
  if (ee_token_source_token(r->src, false, &tok, &st) != EE_OK) {
    printf("revoke: cannot get the token: %s\n", st.message);
    return;
  }
  CURL *h = curl_easy_init();
  char *esc = curl_easy_escape(h, tok.data, (int)tok.len);
  size_t n = strlen(esc) + 8;
  char *body = malloc(n);
  snprintf(body, n, "token=%s", esc);
  curl_easy_setopt(h, CURLOPT_URL, r->revoke_url);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, NULL);
  FILE *devnull = fopen("/dev/null", "w");
  curl_easy_setopt(h, CURLOPT_WRITEDATA, devnull);
  CURLcode cc = curl_easy_perform(h);
  long http = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
  printf("revoke: http=%ld%s\n", http, cc == CURLE_OK ? "" : " (curl failed)");
  fclose(devnull);
  memset(body, 0, n);
  memset(esc, 0, strlen(esc));
  free(body);
  curl_free(esc);
  curl_easy_cleanup(h);
  memset(tok.data, 0, tok.len);
  ee_buf_free(&tok);
}

static void *worker(void *arg) {
  run *r = arg;
  Google__Longrunning__ListOperationsRequest req =
      GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
  req.name = "projects/auth-test";
  pthread_barrier_wait(&r->start);
  for (int i = 0; i < r->calls; i++) {
    Google__Longrunning__ListOperationsResponse *resp = NULL;
    ee_status st;
    ee_code rc = ee_client_list_operations(r->client, &req, NULL, &resp, &st);
    pthread_mutex_lock(&r->mu);
    if (rc == EE_OK)
      r->ok++;
    else
      r->errors++, printf("error %s %s\n", ee_code_name(st.code), st.message);
    pthread_mutex_unlock(&r->mu);
    ee_message_free(resp);
    if (i == 0 && r->revoke_url) revoke_current(r);
    if (r->interval_ms) sleep_ms(r->interval_ms);
  }
  return NULL;
}

static int make_source(const char *src, ee_client_options *o, ee_token_source **out,
                       ee_status *st) {
  ee_code rc;
  *out = NULL;
  if (strcmp(src, "env") == 0)
    rc = ee_token_source_from_env(out, st);
  else if (strncmp(src, "file:", 5) == 0)
    rc = ee_token_source_from_file(src + 5, NULL, out, st);
  else if (strcmp(src, "metadata") == 0)
    rc = ee_token_source_metadata(NULL, out, st);
  else if (strcmp(src, "adc") == 0)
    rc = ee_token_source_adc(NULL, out, st);
  else if (strcmp(src, "from-env") == 0)
    rc = ee_client_options_from_env(o, st);
  else
    return fprintf(stderr, "unknown --source %s\n", src), 2;
  return rc == EE_OK ? 0 : 1;
}

int main(int argc, char **argv) {
  ee_client_options o;
  run r;
  const char *src = NULL;
  int threads = 1;
  bool check = false, dry_run = false;
  ee_client_options_init(&o);
  memset(&r, 0, sizeof r);
  r.calls = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(a, "--check") == 0)
      check = true;
    else if (strcmp(a, "--dry-run") == 0)
      dry_run = true;
    else if (strcmp(a, "--log") == 0)
      o.log_fn = on_log;
    else if (strcmp(a, "--transport") == 0 && ++i)
      ee_transport_from_name(v, &o.transport);
    else if (strcmp(a, "--endpoint") == 0 && ++i)
      o.endpoint = v;
    else if (strcmp(a, "--source") == 0 && ++i)
      src = v;
    else if (strcmp(a, "--threads") == 0 && ++i)
      threads = atoi(v);
    else if (strcmp(a, "--calls") == 0 && ++i)
      r.calls = atoi(v);
    else if (strcmp(a, "--interval-ms") == 0 && ++i)
      r.interval_ms = atoi(v);
    else if (strcmp(a, "--revoke-url") == 0 && ++i)
      r.revoke_url = v;
    else
      return fprintf(stderr, "bad argument %s\n", a), 2;
  }
  if (!src || threads < 1 || threads > 64) return fprintf(stderr, "usage: see the source\n"), 2;
  ee_status st;
  int rc = make_source(src, &o, &r.src, &st);
  if (rc) {
    if (rc == 1) printf("error %s %s\n", ee_code_name(st.code), st.message);
    return rc;
  }
  o.credentials = r.src;
  o.retry.initial_backoff_ms = 20;
  if (check) {
    printf(
        "kind=%s quota=%s adc=%d\n", r.src ? ee_token_source_kind(r.src) : "none",
        r.src && ee_token_source_quota_project(r.src) ? ee_token_source_quota_project(r.src) : "-",
        (int)o.adc);
    ee_token_source_free(r.src);
    return 0;
  }
  if (ee_client_new(&o, &r.client, &st) != EE_OK) {
    printf("error %s %s\n", ee_code_name(st.code), st.message);
    ee_token_source_free(r.src);
    return 1;
  }
  if (!r.src) r.src = ee_token_source_ref(ee_client_credentials(r.client));
  if (dry_run) {
    ee_buf out;
    Google__Longrunning__ListOperationsRequest req =
        GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
    req.name = "projects/auth-test";
    ee_buf_init(&out, 0);
    if (ee_client_prepare(r.client, "/google.longrunning.Operations/ListOperations", &req.base,
                          &out, &st) == EE_OK)
      printf("%s\n", out.data);
    ee_buf_free(&out);
  }
  pthread_t tid[64];
  pthread_barrier_init(&r.start, NULL, (unsigned)threads);
  pthread_mutex_init(&r.mu, NULL);
  for (int i = 0; i < threads; i++) pthread_create(&tid[i], NULL, worker, &r);
  for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
  printf(
      "ok=%d errors=%d fetches=%llu kind=%s quota=%s\n", r.ok, r.errors,
      r.src ? (unsigned long long)ee_token_source_fetches(r.src) : 0ULL,
      r.src ? ee_token_source_kind(r.src) : "none",
      r.src && ee_token_source_quota_project(r.src) ? ee_token_source_quota_project(r.src) : "-");
  ee_client_free(r.client);
  ee_token_source_free(r.src);
  return r.errors ? 1 : 0;
}
