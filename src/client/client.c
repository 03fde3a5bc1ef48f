/* The client object: options, endpoint, transport, timer thread, per-attempt headers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "client_internal.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_ATTEMPT_TIMEOUT_MS 60000
#define DEFAULT_CALL_TIMEOUT_MS 300000
#define DEFAULT_MAX_RESPONSE ((size_t)32 << 20)
#define DEFAULT_MAX_DEPTH 100
#define MAX_OPTION_STRING 8192 /* bytes of any one option string */

void eei_client_cancel_all(ee_client *c);

void ee_client_options_init(ee_client_options *o) {
  memset(o, 0, sizeof *o);
}

int ee_transport_from_name(const char *name, ee_transport_kind *out) {
  if (name && strcmp(name, "rest") == 0) return *out = EE_TRANSPORT_REST, 0;
  if (name && strcmp(name, "grpc") == 0) return *out = EE_TRANSPORT_GRPC, 0;
  return -1;
}

const char *ee_transport_name(ee_transport_kind t) {
  return t == EE_TRANSPORT_GRPC ? "grpc" : "rest";
}

static const char *env_nonempty(const char *name) {
  const char *v = getenv(name);
  return v && v[0] ? v : NULL;
}

ee_code ee_client_options_from_env(ee_client_options *o, ee_status *st) {
  const char *transport = env_nonempty("EE_TRANSPORT");
  ee_transport_kind kind = o->transport;
  if (transport && ee_transport_from_name(transport, &kind) != 0)
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "EE_TRANSPORT: \"%.64s\" is not a transport (rest or grpc)", transport);
  const char *creds = env_nonempty("EE_CREDENTIALS");
  if (creds && strcmp(creds, "adc") != 0 && strcmp(creds, "none") != 0)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "EE_CREDENTIALS: \"%.64s\" is not adc or none",
                         creds);
  o->transport = kind;
  if (env_nonempty("EE_ENDPOINT")) o->endpoint = env_nonempty("EE_ENDPOINT");
  if (env_nonempty("EE_PROJECT")) o->project = env_nonempty("EE_PROJECT");
  bool own = o->access_token || o->credentials || o->token_fn;
  if (env_nonempty("EE_ACCESS_TOKEN"))
    o->access_token = env_nonempty("EE_ACCESS_TOKEN");
  else if (creds && strcmp(creds, "none") == 0)
    o->adc = false;
  else if (!own && ((creds && strcmp(creds, "adc") == 0) || ee_adc_available()))
    o->adc = true;
  ee_status_clear(st);
  return EE_OK;
}

/* ---- copying and checking options ---- */

typedef struct strpool {
  char *data;
  size_t len, cap;
} strpool;

/* Reserves room for a string; offsets, not pointers, until the pool is final. */
static ee_code pool_add(strpool *p, const char *s, size_t n, size_t *off, ee_status *st) {
  if (p->len + n + 1 > p->cap) {
    size_t cap = (p->cap ? p->cap * 2 : 256) + n + 1;
    char *d = realloc(p->data, cap);
    if (!d) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
    p->data = d;
    p->cap = cap;
  }
  memcpy(p->data + p->len, s, n);
  p->data[p->len + n] = '\0';
  *off = p->len;
  p->len += n + 1;
  return EE_OK;
}

static bool has_control_chars(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
  return false;
}

/* A string option: bounded, printable (it may end up in a header). */
static ee_code check_string(const char *name, const char *v, ee_status *st) {
  if (!v) return EE_OK;
  if (strnlen(v, MAX_OPTION_STRING + 1) > MAX_OPTION_STRING)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: longer than %d bytes", name,
                         MAX_OPTION_STRING);
  if (has_control_chars(v))
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: contains a control character", name);
  return EE_OK;
}

typedef struct endpoint_parts {
  bool tls;
  const char *host;
  size_t host_len;
  int port;
} endpoint_parts;

/* "http(s)://host[:port][/]" with host a name, IPv4 or [IPv6]. */
static ee_code parse_endpoint(const char *url, endpoint_parts *e, ee_status *st) {
  const char *p;
  if (strncmp(url, "https://", 8) == 0)
    e->tls = true, p = url + 8;
  else if (strncmp(url, "http://", 7) == 0)
    e->tls = false, p = url + 7;
  else
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "endpoint \"%.200s\": must start with https:// or http://", url);
  const char *host_end;
  if (*p == '[') {
    host_end = strchr(p, ']');
    if (!host_end)
      return ee_status_set(st, EE_INVALID_ARGUMENT, "endpoint \"%.200s\": unclosed [", url);
    e->host = p + 1;
    e->host_len = (size_t)(host_end - p - 1);
    host_end++;
  } else {
    host_end = p + strcspn(p, ":/?#");
    e->host = p;
    e->host_len = (size_t)(host_end - p);
  }
  if (e->host_len == 0)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "endpoint \"%.200s\": no host", url);
  e->port = e->tls ? 443 : 80;
  p = host_end;
  if (*p == ':') {
    long port = 0;
    int digits = 0;
    for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++) port = port * 10 + (*p - '0');
    if (!digits || port < 1 || port > 65535)
      return ee_status_set(st, EE_INVALID_ARGUMENT, "endpoint \"%.200s\": bad port", url);
    e->port = (int)port;
  }
  if (*p == '/') p++;
  if (*p)
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "endpoint \"%.200s\": only scheme, host and port are allowed", url);
  return EE_OK;
}

#define MAX_COMPLETION_THREADS 64

void ee_client_grpc_event(void *tag, int success) {
  eei_grpc_event(tag, success);
}

static void apply_defaults(ee_client_options *o) {
  if (o->completion_threads == 0) o->completion_threads = 1;
  if (!o->endpoint) o->endpoint = EE_DEFAULT_ENDPOINT;
  if (o->connect_timeout_ms <= 0) o->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
  if (o->attempt_timeout_ms <= 0) o->attempt_timeout_ms = DEFAULT_ATTEMPT_TIMEOUT_MS;
  if (o->call_timeout_ms <= 0) o->call_timeout_ms = DEFAULT_CALL_TIMEOUT_MS;
  if (o->retry.max_attempts <= 0) o->retry.max_attempts = 6;
  if (o->retry.initial_backoff_ms <= 0) o->retry.initial_backoff_ms = 250;
  if (o->retry.max_backoff_ms <= 0) o->retry.max_backoff_ms = 32000;
  if (!(o->retry.multiplier >= 1.0)) o->retry.multiplier = 2.0;
  if (!o->max_response_bytes) o->max_response_bytes = DEFAULT_MAX_RESPONSE;
  if (o->max_depth <= 0) o->max_depth = DEFAULT_MAX_DEPTH;
}

/* Copies every string option into one pool so the client owns what it keeps. The
 * project is stored as "projects/ID". */
static ee_code copy_strings(ee_client *c, const endpoint_parts *ep, ee_status *st) {
  ee_client_options *o = &c->opts;
  strpool pool = {0};
  size_t off[8] = {0};
  const char *src[7] = {o->endpoint,   o->project, o->quota_project, o->access_token, o->ca_file,
                        o->user_agent, NULL};
  ee_code rc = EE_OK;
  for (int i = 0; i < 6 && rc == EE_OK; i++) {
    off[i] = SIZE_MAX;
    if (!src[i]) continue;
    if (i == 1 && strncmp(src[i], "projects/", 9) != 0) {
      char buf[MAX_OPTION_STRING + 16];
      snprintf(buf, sizeof buf, "projects/%s", src[i]);
      rc = pool_add(&pool, buf, strlen(buf), &off[i], st);
    } else {
      rc = pool_add(&pool, src[i], strlen(src[i]), &off[i], st);
    }
  }
  if (rc == EE_OK) rc = pool_add(&pool, ep->host, ep->host_len, &off[6], st);
  if (rc == EE_OK) {
    char ua[MAX_OPTION_STRING + 64];
    snprintf(ua, sizeof ua, "%s%see-c/%s", o->user_agent ? o->user_agent : "",
             o->user_agent ? " " : "", ee_version());
    rc = pool_add(&pool, ua, strlen(ua), &off[7], st);
  }
  if (rc != EE_OK) {
    free(pool.data);
    return rc;
  }
  c->strings = pool.data;
  const char **dst[6] = {&o->endpoint,     &o->project, &o->quota_project,
                         &o->access_token, &o->ca_file, &o->user_agent};
  for (int i = 0; i < 6; i++) *dst[i] = off[i] == SIZE_MAX ? NULL : pool.data + off[i];
  c->tcfg.host = pool.data + off[6];
  c->user_agent = pool.data + off[7];
  return EE_OK;
}

static ee_code check_options(const ee_client_options *o, ee_status *st) {
  const char *names[6] = {"endpoint",     "project", "quota_project",
                          "access_token", "ca_file", "user_agent"};
  const char *vals[6] = {o->endpoint,     o->project, o->quota_project,
                         o->access_token, o->ca_file, o->user_agent};
  if (o->transport != EE_TRANSPORT_REST && o->transport != EE_TRANSPORT_GRPC)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "transport: %d is not rest or grpc",
                         (int)o->transport);
  for (int i = 0; i < 6; i++)
    if (check_string(names[i], vals[i], st) != EE_OK) return st ? st->code : EE_INVALID_ARGUMENT;
  const char *id = !o->project                                ? ""
                   : strncmp(o->project, "projects/", 9) == 0 ? o->project + 9
                                                              : o->project;
  if (o->project && (!id[0] || strchr(id, '/')))
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "project \"%.200s\": expected \"projects/ID\" or \"ID\"", o->project);
  if (o->completion_threads < 0 || o->completion_threads > MAX_COMPLETION_THREADS)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "completion_threads: %d is not in 0..%d",
                         o->completion_threads, MAX_COMPLETION_THREADS);
  if ((o->grpc_channel || o->grpc_cq) && o->transport != EE_TRANSPORT_GRPC)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: only for the grpc transport",
                         o->grpc_channel ? "grpc_channel" : "grpc_cq");
  return EE_OK;
}

/* Where tokens come from when no fixed token is given: the caller's source (the client
 * keeps a reference), or ADC built now so that a bad key file fails here, naming it. The
 * credentials' quota_project_id is the default quota project. */
static ee_code setup_credentials(ee_client *c, ee_status *st) {
  ee_client_options *o = &c->opts;
  if (o->access_token) return EE_OK;
  if (o->credentials)
    c->creds = ee_token_source_ref(o->credentials);
  else if (!o->token_fn && o->adc) {
    ee_code rc = ee_token_source_adc(NULL, &c->creds, st);
    if (rc != EE_OK) return rc;
  }
  o->credentials = c->creds;
  const char *q = c->creds && !o->quota_project ? ee_token_source_quota_project(c->creds) : NULL;
  if (q && check_string("quota_project_id of the credentials", q, st) != EE_OK)
    return EE_INVALID_ARGUMENT;
  if (q) o->quota_project = q; /* lives as long as the client's reference */
  return EE_OK;
}

ee_code ee_client_new(const ee_client_options *opts, ee_client **out, ee_status *st) {
  return eei_client_new_with_ops(opts, NULL, out, st);
}

ee_code eei_client_new_with_ops(const ee_client_options *opts, const eei_transport_ops *ops,
                                ee_client **out, ee_status *st) {
  ee_client *c = NULL;
  endpoint_parts ep;
  ee_code rc;
  *out = NULL;
  c = calloc(1, sizeof *c);
  if (!c) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  if (opts) c->opts = *opts;
  apply_defaults(&c->opts);
  rc = check_options(&c->opts, st);
  if (rc == EE_OK) rc = parse_endpoint(c->opts.endpoint, &ep, st);
  if (rc == EE_OK) rc = copy_strings(c, &ep, st);
  if (rc == EE_OK) rc = setup_credentials(c, st);
  if (rc != EE_OK) {
    ee_token_source_free(c->creds);
    free(c->strings);
    free(c);
    return rc;
  }
  c->ops = ops                                      ? ops
           : c->opts.transport == EE_TRANSPORT_GRPC ? &eei_grpc_transport
                                                    : &eei_rest_transport;
  c->tcfg.endpoint = c->opts.endpoint;
  c->tcfg.tls = ep.tls;
  c->tcfg.port = ep.port;
  c->tcfg.ca_file = c->opts.ca_file;
  c->tcfg.connect_timeout_ms = c->opts.connect_timeout_ms;
  c->tcfg.max_response_bytes = c->opts.max_response_bytes;
  c->tcfg.max_depth = c->opts.max_depth;
  c->tcfg.completion_threads = c->opts.completion_threads;
  c->tcfg.channel = c->opts.grpc_channel;
  c->tcfg.cq = c->opts.grpc_cq;
  snprintf(c->api_client, sizeof c->api_client, "ee-c/%s", ee_version());
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->idle, NULL);
  rc = eei_timers_new(&c->timers, st);
  if (rc == EE_OK) rc = c->ops->create(&c->tcfg, &c->transport, st);
  if (rc != EE_OK) {
    eei_timers_free(c->timers);
    pthread_cond_destroy(&c->idle);
    pthread_mutex_destroy(&c->mu);
    free(c->strings);
    free(c);
    return rc;
  }
  *out = c;
  return EE_OK;
}

void ee_client_free(ee_client *c) {
  if (!c) return;
  eei_client_cancel_all(c);
  c->ops->destroy(c->transport);
  eei_timers_free(c->timers);
  pthread_cond_destroy(&c->idle);
  pthread_mutex_destroy(&c->mu);
  if (c->opts.access_token) memset((char *)c->opts.access_token, 0, strlen(c->opts.access_token));
  ee_token_source_free(c->creds);
  free(c->strings);
  free(c);
}

/* ---- headers of one attempt ---- */

ee_token_source *ee_client_credentials(const ee_client *c) {
  return c ? c->creds : NULL;
}

bool eei_client_refreshes_tokens(const ee_client *c) {
  return !c->opts.access_token && (c->creds || c->opts.token_fn);
}

ee_code eei_attempt_headers(ee_client *c, bool force_refresh, bool for_dry_run, uint64_t *token_gen,
                            ee_buf *token, eei_header headers[6], size_t *n, ee_status *st) {
  size_t k = 0;
  ee_code rc = EE_OK;
  if (c->opts.access_token || c->creds || c->opts.token_fn) {
    rc = ee_buf_append_str(token, "Bearer ", st);
    if (rc == EE_OK && for_dry_run)
      rc = ee_buf_append_str(token, "REDACTED", st);
    else if (rc == EE_OK && c->opts.access_token)
      rc = ee_buf_append_str(token, c->opts.access_token, st);
    else if (rc == EE_OK) {
      rc = c->creds ? eei_token_source_get(c->creds, force_refresh, token_gen, token, st)
                    : c->opts.token_fn(c->opts.token_user, force_refresh, token, st);
      if (rc != EE_OK)
        ee_status_prefix(st, "getting an access token");
      else if (token->len <= 7 || has_control_chars(token->data))
        rc = ee_status_set(st, EE_UNAUTHENTICATED, "the token source gave an unusable token");
    }
    if (rc != EE_OK) return rc;
    headers[k++] = (eei_header){"authorization", token->data, true};
  }
  headers[k++] = (eei_header){"x-goog-api-client", c->api_client, false};
  if (c->opts.quota_project)
    headers[k++] = (eei_header){"x-goog-user-project", c->opts.quota_project, false};
  headers[k++] = (eei_header){"user-agent", c->user_agent, false};
  *n = k;
  return EE_OK;
}

void eei_set_header(eei_header *headers, size_t *n, const char *name, const char *value) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp(headers[i].name, name) == 0) {
      headers[i].value = value;
      return;
    }
  headers[(*n)++] = (eei_header){name, value, false};
}

/* ---- routes ---- */

ee_code eei_client_route(const char *rpc, const ee_route **out, ee_status *st) {
  *out = rpc ? ee_route_find(ee_route_table_default(), rpc) : NULL;
  if (!*out)
    return ee_status_set(st, EE_UNIMPLEMENTED,
                         "no such RPC \"%.200s\" (expected e.g. "
                         "\"/google.longrunning.Operations/GetOperation\")",
                         rpc ? rpc : "(null)");
  return EE_OK;
}
