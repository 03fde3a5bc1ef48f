/* Getting a token from an endpoint: the RS256 JWT of the jwt-bearer grant, one blocking
 * HTTP exchange with libcurl's easy interface, and reading the answer. Blocking is right
 * here: a fetch runs on the one client thread that needs the token while the others wait
 * for it (single flight, auth.c). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "auth_internal.h"

#define CONNECT_TIMEOUT_MS 10000L
#define TOTAL_TIMEOUT_MS 30000L
#define MAX_TOKEN_BYTES 8192      /* of one access token */
#define MAX_DESCRIPTION_BYTES 300 /* of an OAuth error_description kept in a message */

/* ---- JWT ---- */

ee_code eei_base64url(const unsigned char *data, size_t len, ee_buf *out, ee_status *st) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  ee_code rc = ee_buf_reserve(out, len / 3 * 4 + 4, st);
  for (size_t i = 0; rc == EE_OK && i < len; i += 3) {
    unsigned v = (unsigned)data[i] << 16;
    size_t n = len - i >= 3 ? 3 : len - i;
    if (n > 1) v |= (unsigned)data[i + 1] << 8;
    if (n > 2) v |= data[i + 2];
    char q[4] = {a[v >> 18 & 63], a[v >> 12 & 63], a[v >> 6 & 63], a[v & 63]};
    rc = ee_buf_append(out, q, n + 1, st);
  }
  return rc;
}

static ee_code sign_rs256(EVP_PKEY *key, const char *input, size_t len, ee_buf *out,
                          ee_status *st) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char *sig = NULL;
  size_t sig_len = 0;
  ee_code rc = EE_OK;
  if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
      EVP_DigestSign(ctx, NULL, &sig_len, (const unsigned char *)input, len) != 1 ||
      !(sig = malloc(sig_len)) ||
      EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, len) != 1) {
    char why[128];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    rc = ee_status_set(st, EE_INTERNAL, "signing the JWT failed: %s", e ? why : "out of memory");
  }
  if (rc == EE_OK) rc = eei_base64url(sig, sig_len, out, st);
  free(sig);
  EVP_MD_CTX_free(ctx);
  return rc;
}

ee_code eei_jwt_sign(EVP_PKEY *key, const char *kid, const char *iss, const char *scope,
                     const char *aud, int64_t iat, int64_t exp, ee_buf *out, ee_status *st) {
  ee_buf json;
  ee_buf_init(&json, 0);
  ee_code rc = ee_buf_append_str(&json, "{\"alg\":\"RS256\",\"typ\":\"JWT\"", st);
  if (rc == EE_OK && kid && kid[0]) rc = ee_buf_append_str(&json, ",\"kid\":", st);
  if (rc == EE_OK && kid && kid[0]) rc = eei_json_quote(&json, kid, st);
  if (rc == EE_OK) rc = ee_buf_append_str(&json, "}", st);
  if (rc == EE_OK) rc = eei_base64url((const unsigned char *)json.data, json.len, out, st);
  ee_buf_reset(&json);
  if (rc == EE_OK) rc = ee_buf_append_str(&json, "{\"iss\":", st);
  if (rc == EE_OK) rc = eei_json_quote(&json, iss, st);
  if (rc == EE_OK) rc = ee_buf_append_str(&json, ",\"scope\":", st);
  if (rc == EE_OK) rc = eei_json_quote(&json, scope, st);
  if (rc == EE_OK) rc = ee_buf_append_str(&json, ",\"aud\":", st);
  if (rc == EE_OK) rc = eei_json_quote(&json, aud, st);
  if (rc == EE_OK)
    rc = ee_buf_printf(&json, st, ",\"iat\":%lld,\"exp\":%lld}", (long long)iat, (long long)exp);
  if (rc == EE_OK) rc = ee_buf_append(out, ".", 1, st);
  if (rc == EE_OK) rc = eei_base64url((const unsigned char *)json.data, json.len, out, st);
  ee_buf_reset(&json);
  if (rc == EE_OK) rc = sign_rs256(key, out->data, out->len, &json, st);
  if (rc == EE_OK) rc = ee_buf_append(out, ".", 1, st);
  if (rc == EE_OK) rc = ee_buf_append(out, json.data, json.len, st);
  ee_buf_free(&json);
  return rc;
}

/* ---- HTTP ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct sink {
  ee_buf *buf;
  bool too_large;
} sink;

static size_t on_data(char *data, size_t size, size_t n, void *user) {
  sink *s = user;
  ee_status st;
  if (ee_buf_append(s->buf, data, size * n, &st) != EE_OK) {
    s->too_large = true;
    return 0; /* curl stops with CURLE_WRITE_ERROR */
  }
  return size * n;
}

ee_code eei_http_exchange(const eei_http_request *req, long *http_status, ee_buf *resp,
                          ee_status *st) {
  pthread_once(&curl_once, curl_init_once);
  CURL *h = curl_easy_init();
  if (!h) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "%s: cannot start curl", req->what);
  struct curl_slist *headers = NULL;
  sink s = {resp, false};
  char err[CURL_ERROR_SIZE] = "";
  resp->limit = EE_AUTH_MAX_FILE_BYTES;
  curl_easy_setopt(h, CURLOPT_URL, req->url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "ee-c-auth");
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  if (req->extra_header) headers = curl_slist_append(headers, req->extra_header);
  if (req->body) {
    headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  CURLcode cc = curl_easy_perform(h);
  ee_code rc = EE_OK;
  *http_status = 0;
  if (s.too_large)
    rc = ee_status_set(st, EE_UNAVAILABLE, "%s: answer larger than %zu bytes", req->what,
                       (size_t)EE_AUTH_MAX_FILE_BYTES);
  else if (cc != CURLE_OK)
    rc = ee_status_set(st, EE_UNAVAILABLE, "%s: %s", req->what,
                       err[0] ? err : curl_easy_strerror(cc));
  else
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, http_status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  return rc;
}

ee_code eei_form_add(ee_buf *b, const char *key, const char *value, ee_status *st) {
  static const char hex[] = "0123456789ABCDEF";
  ee_code rc = b->len ? ee_buf_append(b, "&", 1, st) : EE_OK;
  if (rc == EE_OK) rc = ee_buf_printf(b, st, "%s=", key);
  for (const unsigned char *p = (const unsigned char *)value; rc == EE_OK && *p; p++) {
    if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
      rc = ee_buf_append(b, p, 1, st);
    } else {
      char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      rc = ee_buf_append(b, e, 3, st);
    }
  }
  return rc;
}

/* ---- the answer ---- */

/* Copies an endpoint-given text for a message: bounded, control characters replaced. */
static void clean_text(const char *in, char *out, size_t size) {
  size_t n = 0;
  for (; in && *in && n + 1 < size && n < MAX_DESCRIPTION_BYTES; in++)
    out[n++] = (unsigned char)*in < 0x20 || *in == 0x7f ? ' ' : *in;
  out[n] = '\0';
}

static ee_code oauth_error(const char *what, long http, const eei_jobject *o, ee_status *st) {
  char err[64], desc[MAX_DESCRIPTION_BYTES + 1];
  clean_text(eei_jobject_str(o, "error"), err, sizeof err);
  clean_text(eei_jobject_str(o, "error_description"), desc, sizeof desc);
  ee_code code = http >= 500 ? EE_UNAVAILABLE : EE_UNAUTHENTICATED;
  ee_status_set(st, code, "%s: %s%s%s (HTTP %ld)", what, err, desc[0] ? ": " : "", desc, http);
  st->http_status = (int)http;
  snprintf(st->reason, sizeof st->reason, "%s", err);
  return code;
}

static bool usable_token(const char *t) {
  size_t n = strlen(t);
  if (n == 0 || n > MAX_TOKEN_BYTES) return false;
  for (; *t; t++)
    if (*t <= ' ' || *t > '~') return false;
  return true;
}

ee_code eei_token_answer(const char *what, long http, const ee_buf *resp, ee_buf *token,
                         int64_t *expires_in_s, ee_status *st) {
  eei_jobject o;
  char why[160];
  bool parsed = eei_jobject_parse(resp->data ? resp->data : "", resp->len, &o, why, sizeof why);
  ee_code rc;
  if (http != 200) {
    if (parsed && eei_jobject_str(&o, "error")) {
      rc = oauth_error(what, http, &o, st);
    } else {
      rc = ee_status_set(st, http >= 500 || http == 429 ? EE_UNAVAILABLE : EE_UNAUTHENTICATED,
                         "%s: HTTP %ld", what, http);
      st->http_status = (int)http;
    }
  } else if (!parsed) {
    rc = ee_status_set(st, EE_UNAVAILABLE, "%s: unreadable answer (%s)", what, why);
  } else {
    const char *t = eei_jobject_str(&o, "access_token");
    const char *type = eei_jobject_str(&o, "token_type");
    double exp = 3600;
    if (!t || !usable_token(t))
      rc = ee_status_set(st, EE_UNAVAILABLE, "%s: the answer has no usable access_token", what);
    else if (type && strcasecmp(type, "Bearer") != 0)
      rc = ee_status_set(st, EE_UNAVAILABLE, "%s: token_type is not Bearer", what);
    else if (eei_jobject_kind(&o, "expires_in") >= 0 &&
             (!eei_jobject_num(&o, "expires_in", &exp) || !(exp >= 0 && exp < 1e9)))
      rc = ee_status_set(st, EE_UNAVAILABLE, "%s: expires_in is not a number of seconds", what);
    else
      rc = ee_buf_append_str(token, t, st);
    *expires_in_s = (int64_t)exp;
  }
  if (parsed) eei_jobject_free(&o);
  return rc;
}
