/* Token sources (ee/auth.h): construction from key files, the environment and the
 * metadata server; Application Default Credentials; the cache with single-flight
 * refresh. Fetching itself (JWT, HTTP, the answer) is in auth_fetch.c. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "auth_internal.h"
#include "ee/client.h"

#define REFRESH_AHEAD_MS 60000 /* refresh this long before expiry ... */
#define JWT_LIFETIME_S 3600    /* the most Google accepts */
#define MAX_FIELD_BYTES 16384  /* of any one key file field */
#define METADATA_DEFAULT_HOST "metadata.google.internal"

typedef enum source_kind {
  SRC_FIXED,
  SRC_SERVICE_ACCOUNT,
  SRC_AUTHORIZED_USER,
  SRC_METADATA
} source_kind;

struct ee_token_source {
  atomic_int refs;
  source_kind kind;
  char *name;   /* the file (or "EE_ACCESS_TOKEN", ...), for messages */
  char *scopes; /* space-separated */
  char *quota_project;
  char *token_uri; /* or the metadata server's token URL */
  /* service account */
  EVP_PKEY *key;
  char *client_email, *key_id;
  /* authorized user (secrets) */
  char *client_id, *client_secret, *refresh_token;
  /* the cache */
  pthread_mutex_t mu;
  pthread_cond_t fetched;
  bool fetching;
  uint64_t gen;       /* generation of `token`; 0 = none yet */
  uint64_t fetch_seq; /* fetches finished (ok or not) */
  bool last_ok;
  ee_status last_error;
  char *token;
  int64_t expires_ms, refresh_ms; /* monotonic clock */
  atomic_uint_fast64_t fetches;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ee_code new_source(source_kind kind, const char *name, const char *scopes,
                          ee_token_source **out, ee_status *st) {
  ee_token_source *s = calloc(1, sizeof *s);
  *out = NULL;
  if (!s) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  atomic_init(&s->refs, 1);
  atomic_init(&s->fetches, 0);
  s->kind = kind;
  s->name = strdup(name);
  s->scopes = strdup(scopes && scopes[0] ? scopes : EE_DEFAULT_SCOPE);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->fetched, NULL);
  *out = s;
  if (!s->name || !s->scopes) {
    ee_token_source_free(s);
    *out = NULL;
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  }
  return EE_OK;
}

/* ---- fixed tokens ---- */

ee_code ee_token_source_fixed(const char *token, ee_token_source **out, ee_status *st) {
  *out = NULL;
  if (!token || !token[0]) return ee_status_set(st, EE_INVALID_ARGUMENT, "access token: empty");
  for (const char *p = token; *p; p++)
    if (*p <= ' ' || *p > '~')
      return ee_status_set(st, EE_INVALID_ARGUMENT,
                           "access token: contains a space or a non-printable character");
  ee_code made = new_source(SRC_FIXED, "fixed token", NULL, out, st);
  if (made != EE_OK) return made;
  (*out)->token = strdup(token);
  (*out)->gen = 1;
  (*out)->expires_ms = (*out)->refresh_ms = INT64_MAX;
  if (!(*out)->token) {
    ee_token_source_free(*out);
    *out = NULL;
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  }
  return EE_OK;
}

ee_code ee_token_source_from_env(ee_token_source **out, ee_status *st) {
  const char *t = getenv("EE_ACCESS_TOKEN");
  *out = NULL;
  if (!t || !t[0]) return ee_status_set(st, EE_FAILED_PRECONDITION, "EE_ACCESS_TOKEN is not set");
  ee_code rc = ee_token_source_fixed(t, out, st);
  if (rc != EE_OK) ee_status_prefix(st, "EE_ACCESS_TOKEN");
  return rc;
}

/* ---- key files ---- */

/* Reads a whole key file, at most EE_AUTH_MAX_FILE_BYTES. */
static ee_code read_key_file(const char *path, ee_buf *out, ee_status *st) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && !S_ISREG(sb.st_mode)) {
    fclose(f);
    return ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: not a regular file", path);
  }
  ee_code rc = ee_buf_reserve(out, EE_AUTH_MAX_FILE_BYTES + 1, st);
  size_t n = rc == EE_OK ? fread(out->data, 1, EE_AUTH_MAX_FILE_BYTES + 1, f) : 0;
  int err = errno;
  if (rc == EE_OK && ferror(f))
    rc = ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: %s", path, strerror(err));
  else if (rc == EE_OK && n > EE_AUTH_MAX_FILE_BYTES)
    rc = ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: larger than %zu bytes", path,
                       (size_t)EE_AUTH_MAX_FILE_BYTES);
  else if (rc == EE_OK && n == 0)
    rc = ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: empty", path);
  fclose(f);
  if (rc == EE_OK) {
    out->len = n;
    out->data[n] = '\0';
  }
  return rc;
}

/* A required (or optional) string field, bounded; copied into *dst. */
static ee_code take_field(const eei_jobject *o, const char *name, const char *key, bool required,
                          char **dst, ee_status *st) {
  const char *v = eei_jobject_str(o, key);
  int kind = eei_jobject_kind(o, key);
  *dst = NULL;
  if (kind >= 0 && !v)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: \"%s\" is not a string", name,
                         key);
  if (!v || !v[0])
    return required ? ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: \"%s\" is missing",
                                    name, key)
                    : EE_OK;
  if (strlen(v) > MAX_FIELD_BYTES)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: \"%s\" is too long", name, key);
  if (!(*dst = strdup(v))) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  return EE_OK;
}

static int no_password(char *buf, int size, int rwflag, void *u) {
  (void)buf, (void)size, (void)rwflag, (void)u;
  return -1;
}

/* The PEM private key of a service account: RSA, as RS256 needs. */
static ee_code load_private_key(const char *name, const char *pem, EVP_PKEY **out, ee_status *st) {
  BIO *bio = BIO_new_mem_buf(pem, (int)strlen(pem));
  *out = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
  BIO_free(bio);
  if (!*out) {
    char why[128];
    unsigned long e = ERR_peek_last_error();
    ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    return ee_status_set(
        st, EE_INVALID_ARGUMENT, "key file %.300s: \"private_key\": OpenSSL cannot read it (%s)",
        name,
        e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : why : "no PEM key found");
  }
  if (EVP_PKEY_base_id(*out) != EVP_PKEY_RSA) {
    EVP_PKEY_free(*out);
    *out = NULL;
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "key file %.300s: \"private_key\" is not an RSA key (RS256 needs one)",
                         name);
  }
  return EE_OK;
}

static ee_code load_service_account(ee_token_source *s, const eei_jobject *o, ee_status *st) {
  char *pem = NULL;
  ee_code rc = take_field(o, s->name, "client_email", true, &s->client_email, st);
  if (rc == EE_OK) rc = take_field(o, s->name, "private_key", true, &pem, st);
  if (rc == EE_OK) rc = take_field(o, s->name, "private_key_id", false, &s->key_id, st);
  if (rc == EE_OK) rc = take_field(o, s->name, "token_uri", false, &s->token_uri, st);
  if (rc == EE_OK) rc = load_private_key(s->name, pem, &s->key, st);
  eei_free_secret(pem);
  return rc;
}

static ee_code load_authorized_user(ee_token_source *s, const eei_jobject *o, ee_status *st) {
  ee_code rc = take_field(o, s->name, "client_id", true, &s->client_id, st);
  if (rc == EE_OK) rc = take_field(o, s->name, "client_secret", true, &s->client_secret, st);
  if (rc == EE_OK) rc = take_field(o, s->name, "refresh_token", true, &s->refresh_token, st);
  if (rc == EE_OK) rc = take_field(o, s->name, "token_uri", false, &s->token_uri, st);
  return rc;
}

static ee_code check_token_uri(ee_token_source *s, ee_status *st) {
  if (!s->token_uri && !(s->token_uri = strdup(EE_GOOGLE_TOKEN_URI)))
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  if (strncmp(s->token_uri, "https://", 8) != 0 && strncmp(s->token_uri, "http://", 7) != 0)
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "key file %.300s: \"token_uri\" must be an http(s) URL", s->name);
  for (const char *p = s->token_uri; *p; p++)
    if (*p <= ' ' || *p > '~')
      return ee_status_set(st, EE_INVALID_ARGUMENT,
                           "key file %.300s: \"token_uri\" holds a space or control character",
                           s->name);
  return EE_OK;
}

/* Builds a source from parsed key-file JSON, by its "type". */
static ee_code from_object(const eei_jobject *o, const char *name, const char *scopes,
                           ee_token_source **out, ee_status *st) {
  const char *type = eei_jobject_str(o, "type");
  source_kind kind;
  if (!type)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: no \"type\" string", name);
  if (strcmp(type, "service_account") == 0)
    kind = SRC_SERVICE_ACCOUNT;
  else if (strcmp(type, "authorized_user") == 0)
    kind = SRC_AUTHORIZED_USER;
  else
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "key file %.300s: unknown \"type\" \"%.64s\" (expected service_account "
                         "or authorized_user)",
                         name, type);
  ee_code made = new_source(kind, name, scopes, out, st);
  if (made != EE_OK) return made;
  ee_token_source *s = *out;
  ee_code rc =
      kind == SRC_SERVICE_ACCOUNT ? load_service_account(s, o, st) : load_authorized_user(s, o, st);
  if (rc == EE_OK) rc = take_field(o, name, "quota_project_id", false, &s->quota_project, st);
  if (rc == EE_OK) rc = check_token_uri(s, st);
  if (rc != EE_OK) {
    ee_token_source_free(s);
    *out = NULL;
  }
  return rc;
}

ee_code ee_token_source_from_json(const char *json, size_t len, const char *name,
                                  const char *scopes, ee_token_source **out, ee_status *st) {
  eei_jobject o;
  char why[160];
  *out = NULL;
  if (!name) name = "(in memory)";
  if (len > EE_AUTH_MAX_FILE_BYTES)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: larger than %zu bytes", name,
                         (size_t)EE_AUTH_MAX_FILE_BYTES);
  if (memchr(json, '\0', len))
    return ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: binary data, not JSON", name);
  if (!eei_jobject_parse(json, len, &o, why, sizeof why))
    return ee_status_set(st, EE_INVALID_ARGUMENT, "key file %.300s: %s", name, why);
  ee_code rc = from_object(&o, name, scopes, out, st);
  eei_jobject_free(&o);
  return rc;
}

ee_code ee_token_source_from_file(const char *path, const char *scopes, ee_token_source **out,
                                  ee_status *st) {
  ee_buf text;
  *out = NULL;
  if (!path || !path[0])
    return ee_status_set(st, EE_INVALID_ARGUMENT, "key file: no file name given");
  ee_buf_init(&text, EE_AUTH_MAX_FILE_BYTES + 1);
  ee_code rc = read_key_file(path, &text, st);
  if (rc == EE_OK) rc = ee_token_source_from_json(text.data, text.len, path, scopes, out, st);
  eei_buf_wipe(&text);
  return rc;
}

/* ---- the metadata server ---- */

ee_code ee_token_source_metadata(const char *scopes, ee_token_source **out, ee_status *st) {
  const char *host = getenv("GCE_METADATA_HOST");
  if (!host || !host[0]) host = METADATA_DEFAULT_HOST;
  for (const char *p = host; *p; p++)
    if (*p <= ' ' || *p > '~' || *p == '/' || *p == '?' || *p == '#' || *p == '@')
      return ee_status_set(st, EE_INVALID_ARGUMENT,
                           "GCE_METADATA_HOST: expected host[:port], got \"%.100s\"", host);
  if (strlen(host) > 255)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "GCE_METADATA_HOST: too long");
  char name[300];
  snprintf(name, sizeof name, "metadata server %s", host);
  ee_code made = new_source(SRC_METADATA, name, scopes, out, st);
  if (made != EE_OK) return made;
  ee_token_source *s = *out;
  ee_buf url, query;
  ee_buf_init(&url, 0);
  ee_buf_init(&query, 0);
  /* scopes=a,b as Google's libraries send them */
  char *commas = strdup(s->scopes);
  ee_code rc = commas ? EE_OK : ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  for (char *p = commas; p && *p; p++)
    if (*p == ' ') *p = ',';
  if (rc == EE_OK) rc = eei_form_add(&query, "scopes", commas, st);
  if (rc == EE_OK)
    rc = ee_buf_printf(&url, st,
                       "http://%s/computeMetadata/v1/instance/service-accounts/default/"
                       "token?%s",
                       host, query.data);
  if (rc == EE_OK) s->token_uri = ee_buf_take(&url, NULL, st);
  free(commas);
  ee_buf_free(&url);
  ee_buf_free(&query);
  if (rc != EE_OK || !s->token_uri) {
    ee_token_source_free(s);
    *out = NULL;
    return rc != EE_OK ? rc : ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  }
  return EE_OK;
}

/* ---- Application Default Credentials ---- */

/* $HOME/<well-known file>, into buf; false when HOME is unset or the path too long. */
static bool well_known_path(char *buf, size_t size) {
  const char *home = getenv("HOME");
  if (!home || !home[0]) return false;
  int n = snprintf(buf, size, "%s/%s", home, EE_ADC_WELL_KNOWN_FILE);
  return n > 0 && (size_t)n < size;
}

static bool file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

bool ee_adc_available(void) {
  char path[4096];
  const char *gac = getenv("GOOGLE_APPLICATION_CREDENTIALS");
  const char *md = getenv("GCE_METADATA_HOST");
  return (gac && gac[0]) || (md && md[0]) ||
         (well_known_path(path, sizeof path) && file_exists(path));
}

ee_code ee_token_source_adc(const char *scopes, ee_token_source **out, ee_status *st) {
  char path[4096];
  const char *gac = getenv("GOOGLE_APPLICATION_CREDENTIALS");
  *out = NULL;
  if (gac && gac[0]) {
    ee_code rc = ee_token_source_from_file(gac, scopes, out, st);
    if (rc != EE_OK) ee_status_prefix(st, "GOOGLE_APPLICATION_CREDENTIALS");
    return rc;
  }
  if (well_known_path(path, sizeof path) && file_exists(path)) {
    ee_code rc = ee_token_source_from_file(path, scopes, out, st);
    if (rc != EE_OK) ee_status_prefix(st, "application default credentials");
    return rc;
  }
  return ee_token_source_metadata(scopes, out, st);
}

/* ---- fetching ---- */

static ee_code fetch_service_account(ee_token_source *s, ee_buf *body, ee_status *st) {
  ee_buf jwt;
  ee_buf_init(&jwt, 0);
  int64_t now = (int64_t)time(NULL);
  ee_code rc = eei_jwt_sign(s->key, s->key_id, s->client_email, s->scopes, s->token_uri, now,
                            now + JWT_LIFETIME_S, &jwt, st);
  if (rc == EE_OK)
    rc = eei_form_add(body, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", st);
  if (rc == EE_OK) rc = eei_form_add(body, "assertion", jwt.data, st);
  eei_buf_wipe(&jwt);
  return rc;
}

static ee_code fetch_authorized_user(ee_token_source *s, ee_buf *body, ee_status *st) {
  ee_code rc = eei_form_add(body, "grant_type", "refresh_token", st);
  if (rc == EE_OK) rc = eei_form_add(body, "client_id", s->client_id, st);
  if (rc == EE_OK) rc = eei_form_add(body, "client_secret", s->client_secret, st);
  if (rc == EE_OK) rc = eei_form_add(body, "refresh_token", s->refresh_token, st);
  return rc;
}

/* One fetch from the source's endpoint, outside the cache lock. */
static ee_code fetch(ee_token_source *s, ee_buf *token, int64_t *expires_in_s, ee_status *st) {
  ee_buf body, resp;
  char what[400];
  long http = 0;
  ee_buf_init(&body, 0);
  ee_buf_init(&resp, EE_AUTH_MAX_FILE_BYTES);
  snprintf(what, sizeof what, "%s %.300s",
           s->kind == SRC_METADATA ? "metadata server" : "token endpoint", s->token_uri);
  if (s->kind == SRC_METADATA) {
    char *q = strchr(what, '?'); /* the scopes are noise in a message */
    if (q) *q = '\0';
  }
  ee_code rc = s->kind == SRC_SERVICE_ACCOUNT   ? fetch_service_account(s, &body, st)
               : s->kind == SRC_AUTHORIZED_USER ? fetch_authorized_user(s, &body, st)
                                                : EE_OK;
  eei_http_request req = {s->kind == SRC_METADATA ? "GET" : "POST", s->token_uri,
                          s->kind == SRC_METADATA ? NULL
                          : body.data             ? body.data
                                                  : "",
                          s->kind == SRC_METADATA ? "Metadata-Flavor: Google" : NULL, what};
  if (rc == EE_OK) rc = eei_http_exchange(&req, &http, &resp, st);
  atomic_fetch_add(&s->fetches, 1);
  if (rc == EE_OK) rc = eei_token_answer(what, http, &resp, token, expires_in_s, st);
  eei_buf_wipe(&body);
  eei_buf_wipe(&resp);
  return rc;
}

/* Stores a fetched token as the new generation. Called under s->mu. */
static ee_code store_token(ee_token_source *s, const ee_buf *token, int64_t expires_in_s,
                           ee_status *st) {
  char *copy = strdup(token->data);
  if (!copy) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  eei_free_secret(s->token);
  s->token = copy;
  s->gen++;
  int64_t now = mono_ms(), life = expires_in_s * 1000;
  int64_t ahead = life / 4 < REFRESH_AHEAD_MS ? life / 4 : REFRESH_AHEAD_MS;
  s->expires_ms = now + life;
  s->refresh_ms = now + life - ahead;
  return EE_OK;
}

/* Runs one fetch as the single flight's leader. Called and returns under s->mu. */
static ee_code lead_fetch(ee_token_source *s, ee_buf *out, uint64_t *gen, ee_status *st) {
  ee_buf token;
  int64_t expires_in = 0;
  ee_buf_init(&token, 0);
  s->fetching = true;
  pthread_mutex_unlock(&s->mu);
  ee_code rc = fetch(s, &token, &expires_in, st);
  pthread_mutex_lock(&s->mu);
  s->fetching = false;
  s->fetch_seq++;
  if (rc == EE_OK) rc = store_token(s, &token, expires_in, st);
  s->last_ok = rc == EE_OK;
  if (rc != EE_OK) s->last_error = *st;
  pthread_cond_broadcast(&s->fetched);
  if (rc == EE_OK) rc = ee_buf_append_str(out, s->token, st);
  if (rc == EE_OK && gen) *gen = s->gen;
  eei_buf_wipe(&token);
  return rc;
}

ee_code eei_token_source_get(ee_token_source *s, bool force, uint64_t *gen, ee_buf *out,
                             ee_status *st) {
  ee_code rc = EE_OK;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    int64_t now = mono_ms();
    bool valid = s->token && now < s->expires_ms;
    /* A forced refresh is about the token the caller saw; without a generation, about
     * the cached one. A newer token than the rejected one is simply used. */
    bool rejected = force && s->kind != SRC_FIXED && (!gen || *gen == s->gen);
    if (valid && !rejected && (now < s->refresh_ms || s->fetching)) {
      rc = ee_buf_append_str(out, s->token, st);
      if (gen) *gen = s->gen;
      break;
    }
    if (s->fetching) { /* another thread leads this fetch: wait for its outcome */
      uint64_t seq = s->fetch_seq;
      while (s->fetching) pthread_cond_wait(&s->fetched, &s->mu);
      if (s->fetch_seq != seq && !s->last_ok) {
        if (valid && !rejected && mono_ms() < s->expires_ms) { /* an early refresh failed */
          rc = ee_buf_append_str(out, s->token, st);
          if (gen) *gen = s->gen;
          break;
        }
        if (st) *st = s->last_error;
        rc = s->last_error.code;
        break;
      }
      force = false; /* the fetch we waited for replaced the token */
      continue;
    }
    rc = lead_fetch(s, out, gen, st);
    if (rc != EE_OK && valid && !rejected) { /* an early refresh failed: the old one still works */
      rc = ee_buf_append_str(out, s->token, st);
      if (gen) *gen = s->gen;
    }
    break;
  }
  pthread_mutex_unlock(&s->mu);
  if (rc == EE_OK) ee_status_clear(st);
  return rc;
}

ee_code ee_token_source_token(ee_token_source *s, bool force_refresh, ee_buf *token,
                              ee_status *st) {
  return eei_token_source_get(s, force_refresh, NULL, token, st);
}

ee_code ee_token_source_fn(void *user, bool force_refresh, ee_buf *token, ee_status *st) {
  return eei_token_source_get(user, force_refresh, NULL, token, st);
}

const char *ee_token_source_quota_project(const ee_token_source *s) {
  return s ? s->quota_project : NULL;
}

const char *ee_token_source_kind(const ee_token_source *s) {
  static const char *const names[] = {"fixed", "service_account", "authorized_user", "metadata"};
  return names[s->kind];
}

uint64_t ee_token_source_fetches(const ee_token_source *s) {
  return atomic_load(&((ee_token_source *)s)->fetches);
}

ee_token_source *ee_token_source_ref(ee_token_source *s) {
  if (s) atomic_fetch_add(&s->refs, 1);
  return s;
}

void ee_token_source_free(ee_token_source *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  EVP_PKEY_free(s->key); /* OpenSSL clears the private key's numbers as it frees them */
  char *secrets[] = {s->client_secret, s->refresh_token, s->token, s->client_id};
  for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) eei_free_secret(secrets[i]);
  char *plain[] = {s->name, s->scopes, s->quota_project, s->token_uri, s->client_email, s->key_id};
  for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) free(plain[i]);
  pthread_cond_destroy(&s->fetched);
  pthread_mutex_destroy(&s->mu);
  OPENSSL_cleanse(s, sizeof *s);
  free(s);
}
