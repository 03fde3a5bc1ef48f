/* ee-emulator: the token endpoint (tokens.h). Issued tokens are kept in memory only
 * (never in the --state journal), with their expiry; the log line of each issue carries
 * a sequence number, never the token. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ee/json.h"
#include "google/protobuf/struct.pb-c.h"
#include "tokens.h"

#define TOKEN_PREFIX "ya29.emu-"
#define TOKEN_CHARS (sizeof TOKEN_PREFIX - 1 + 64)
#define MAX_JWT_LIFETIME_S 3600
#define CLOCK_SKEW_S 300

typedef struct issued {
  char token[TOKEN_CHARS + 1];
  int64_t expires_ns;
} issued;

struct emu_tokens {
  EVP_PKEY *key;             /* --trust-key, or NULL */
  const char *refresh_token; /* --trust-refresh-token, or NULL */
  bool refresh_revoked;
  int ttl_s;
  pthread_mutex_t mu;
  issued *live;
  size_t n_live, cap;
  uint64_t n_issued;
};

/* ---- loading the trusted key ---- */

static EVP_PKEY *read_public_key(const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  if (k) return k;
  ERR_clear_error();
  bio = BIO_new_mem_buf(pem, -1);
  X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  k = cert ? X509_get_pubkey(cert) : NULL;
  X509_free(cert);
  ERR_clear_error();
  return k;
}

static ee_code load_key(const char *path, EVP_PKEY **out, ee_status *st) {
  FILE *f = fopen(path, "rb");
  if (!f) return ee_status_set(st, EE_INVALID_ARGUMENT, "--trust-key %s: cannot open", path);
  char *text = malloc(65537);
  size_t n = text ? fread(text, 1, 65536, f) : 0;
  fclose(f);
  if (!text) return ee_status_set(st, EE_INTERNAL, "out of memory");
  text[n] = '\0';
  *out = n ? read_public_key(text) : NULL;
  free(text);
  if (!*out)
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "--trust-key %s: not a PEM public key or certificate", path);
  if (EVP_PKEY_base_id(*out) != EVP_PKEY_RSA) {
    EVP_PKEY_free(*out);
    *out = NULL;
    return ee_status_set(st, EE_INVALID_ARGUMENT, "--trust-key %s: not an RSA key", path);
  }
  return EE_OK;
}

ee_code emu_tokens_new(const emu_config *cfg, emu_tokens **out, ee_status *st) {
  *out = NULL;
  if (!cfg->trust_key_file && !cfg->trust_refresh_token) return EE_OK;
  emu_tokens *t = calloc(1, sizeof *t);
  if (!t) return ee_status_set(st, EE_INTERNAL, "out of memory");
  if (cfg->trust_key_file && load_key(cfg->trust_key_file, &t->key, st) != EE_OK) {
    free(t);
    return st->code;
  }
  t->refresh_token = cfg->trust_refresh_token;
  t->ttl_s = cfg->token_ttl > 0 ? cfg->token_ttl : 3600;
  pthread_mutex_init(&t->mu, NULL);
  *out = t;
  return EE_OK;
}

void emu_tokens_free(emu_tokens *t) {
  if (!t) return;
  EVP_PKEY_free(t->key);
  if (t->live) OPENSSL_cleanse(t->live, t->cap * sizeof *t->live);
  free(t->live);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

/* ---- the issued tokens ---- */

static int64_t now_ns(void) {
  return emu_now_ns();
}

/* Drops expired entries. Under t->mu. */
static void prune(emu_tokens *t, int64_t now) {
  size_t k = 0;
  for (size_t i = 0; i < t->n_live; i++)
    if (t->live[i].expires_ns > now) t->live[k++] = t->live[i];
  if (k < t->n_live) /* never arithmetic on the NULL of an empty table (UBSan) */
    OPENSSL_cleanse(t->live + k, (t->n_live - k) * sizeof *t->live);
  t->n_live = k;
}

/* A new token, remembered until it expires. Returns false when too many are live. */
static bool issue(emu_tokens *t, char out[TOKEN_CHARS + 1], const char *grant, const char *who) {
  unsigned char rnd[32];
  static const char hex[] = "0123456789abcdef";
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) return false;
  char *p = out + sizeof TOKEN_PREFIX - 1;
  memcpy(out, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1);
  for (size_t i = 0; i < sizeof rnd; i++) *p++ = hex[rnd[i] >> 4], *p++ = hex[rnd[i] & 15];
  *p = '\0';
  OPENSSL_cleanse(rnd, sizeof rnd);
  int64_t now = now_ns();
  pthread_mutex_lock(&t->mu);
  prune(t, now);
  bool ok = t->n_live < EMU_MAX_LIVE_TOKENS;
  if (ok && t->n_live == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    issued *d = realloc(t->live, cap * sizeof *d);
    if (d) t->live = d, t->cap = cap;
    ok = d != NULL;
  }
  uint64_t seq = 0;
  if (ok) {
    memcpy(t->live[t->n_live].token, out, TOKEN_CHARS + 1);
    t->live[t->n_live++].expires_ns = now + (int64_t)t->ttl_s * 1000000000;
    seq = ++t->n_issued;
  }
  pthread_mutex_unlock(&t->mu);
  if (ok)
    fprintf(stderr, "ee-emulator: token #%llu issued (grant %s, %s, ttl %d s)\n",
            (unsigned long long)seq, grant, who, t->ttl_s);
  return ok;
}

emu_token_check emu_tokens_check(emu_tokens *t, const char *token) {
  emu_token_check r = EMU_TOKEN_UNKNOWN;
  if (strlen(token) != TOKEN_CHARS) return r;
  int64_t now = now_ns();
  pthread_mutex_lock(&t->mu);
  for (size_t i = 0; i < t->n_live; i++)
    if (CRYPTO_memcmp(t->live[i].token, token, TOKEN_CHARS) == 0) {
      r = t->live[i].expires_ns > now ? EMU_TOKEN_OK : EMU_TOKEN_EXPIRED;
      break;
    }
  pthread_mutex_unlock(&t->mu);
  return r;
}

/* Forgets an access token; true when it was live. */
static bool revoke(emu_tokens *t, const char *token) {
  bool found = false;
  pthread_mutex_lock(&t->mu);
  for (size_t i = 0; i < t->n_live && strlen(token) == TOKEN_CHARS; i++)
    if (CRYPTO_memcmp(t->live[i].token, token, TOKEN_CHARS) == 0) {
      t->live[i] = t->live[--t->n_live];
      OPENSSL_cleanse(&t->live[t->n_live], sizeof *t->live);
      found = true;
      break;
    }
  if (!found && t->refresh_token && strcmp(token, t->refresh_token) == 0)
    found = t->refresh_revoked = true;
  pthread_mutex_unlock(&t->mu);
  return found;
}

/* ---- form bodies and base64url ---- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The decoded value of `key` in an x-www-form-urlencoded body, in a new allocation, or
 * NULL when absent, malformed or longer than max. */
static char *form_get(const char *body, size_t len, const char *key, size_t max) {
  size_t klen = strlen(key);
  const char *p = body, *end = body + len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *field_end = amp ? amp : end;
    if ((size_t)(field_end - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
      const char *v = p + klen + 1;
      size_t vlen = (size_t)(field_end - v);
      if (vlen > max * 3) return NULL;
      char *out = malloc(vlen + 1), *o = out;
      if (!out) return NULL;
      for (const char *q = v; q < field_end; q++) {
        if (*q == '+') {
          *o++ = ' ';
        } else if (*q == '%' && field_end - q >= 3 && hexval(q[1]) >= 0 && hexval(q[2]) >= 0) {
          *o++ = (char)(hexval(q[1]) * 16 + hexval(q[2]));
          q += 2;
        } else if (*q == '%') {
          free(out);
          return NULL;
        } else {
          *o++ = *q;
        }
      }
      *o = '\0';
      if ((size_t)(o - out) > max || memchr(out, '\0', (size_t)(o - out))) {
        free(out);
        return NULL;
      }
      return out;
    }
    p = field_end + 1;
  }
  return NULL;
}

/* Decodes base64url (no padding) into a new buffer; NULL when malformed. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len) {
  unsigned char *out = malloc(n * 3 / 4 + 3);
  size_t k = 0;
  unsigned acc = 0;
  int bits = 0;
  if (!out || n % 4 == 1) return free(out), NULL;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '-'             ? 62
            : c == '_'             ? 63
                                   : -1;
    if (v < 0) return free(out), NULL;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[k++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  *out_len = k;
  return out;
}

/* A base64url JSON segment of the JWT, as a Struct. */
static Google__Protobuf__Struct *segment_json(const char *s, size_t n) {
  size_t len;
  unsigned char *raw = b64url_decode(s, n, &len);
  if (!raw) return NULL;
  ProtobufCMessage *m = NULL;
  ee_status st;
  ee_json_decode_options o = EE_JSON_DECODE_OPTIONS_INIT;
  if (ee_json_decode(&google__protobuf__struct__descriptor, (const char *)raw, len, &o, &m, &st) !=
      EE_OK)
    m = NULL;
  free(raw);
  return (Google__Protobuf__Struct *)m;
}

static const Google__Protobuf__Value *claim(const Google__Protobuf__Struct *s, const char *k) {
  for (size_t i = 0; i < s->n_fields; i++)
    if (strcmp(s->fields[i]->key, k) == 0) return s->fields[i]->value;
  return NULL;
}

static const char *claim_str(const Google__Protobuf__Struct *s, const char *k) {
  const Google__Protobuf__Value *v = claim(s, k);
  return v && v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE ? v->string_value : NULL;
}

static bool claim_num(const Google__Protobuf__Struct *s, const char *k, double *out) {
  const Google__Protobuf__Value *v = claim(s, k);
  if (!v || v->kind_case != GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE) return false;
  *out = v->number_value;
  return true;
}

/* ---- the grants ---- */

typedef struct refusal {
  int http;
  const char *error, *description; /* Google's texts where it has them */
} refusal;

static const refusal BAD_SIGNATURE = {400, "invalid_grant", "Invalid JWT Signature."};
static const refusal BAD_TIME = {400, "invalid_grant",
                                 "Invalid JWT: Token must be a short-lived token (60 minutes) "
                                 "and in a reasonable timeframe. Check your iat and exp values "
                                 "in the JWT claim."};
static const refusal BAD_AUD = {400, "invalid_grant", "Invalid JWT: Failed audience check."};
static const refusal BAD_SCOPE = {400, "invalid_scope",
                                  "Invalid OAuth scope or ID token audience provided."};
static const refusal BAD_JWT = {400, "invalid_grant", "Invalid JWT: malformed assertion."};

static bool verify_signature(EVP_PKEY *key, const char *jwt, size_t signed_len, const char *sig64,
                             size_t sig64_len) {
  size_t sig_len;
  unsigned char *sig = b64url_decode(sig64, sig64_len, &sig_len);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = sig && ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
            EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)jwt, signed_len) == 1;
  ERR_clear_error();
  EVP_MD_CTX_free(ctx);
  free(sig);
  return ok;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Checks the claims; on success copies iss (for the log line) into who. */
static const refusal *check_claims(const Google__Protobuf__Struct *c, char *who, size_t size) {
  const char *iss = claim_str(c, "iss"), *aud = claim_str(c, "aud"), *scope = claim_str(c, "scope");
  double iat, exp, now = (double)time(NULL);
  if (!iss || !iss[0]) return &BAD_JWT;
  if (!aud || !ends_with(aud, "/token")) return &BAD_AUD;
  if (!claim_num(c, "iat", &iat) || !claim_num(c, "exp", &exp)) return &BAD_TIME;
  if (!(exp > now) || !(exp - iat <= MAX_JWT_LIFETIME_S) || !(iat <= now + CLOCK_SKEW_S) ||
      !(exp > iat))
    return &BAD_TIME;
  if (!scope || !scope[0]) return &BAD_SCOPE;
  snprintf(who, size, "iss %.200s", iss);
  return NULL;
}

static const refusal *jwt_grant(emu_tokens *t, const char *jwt, char *who, size_t size) {
  const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  if (!t->key || !dot2 || strchr(dot2 + 1, '.')) return &BAD_JWT;
  Google__Protobuf__Struct *header = segment_json(jwt, (size_t)(dot1 - jwt));
  const char *alg = header ? claim_str(header, "alg") : NULL;
  bool rs256 = alg && strcmp(alg, "RS256") == 0;
  if (header) protobuf_c_message_free_unpacked(&header->base, NULL);
  if (!rs256) return &BAD_JWT;
  if (!verify_signature(t->key, jwt, (size_t)(dot2 - jwt), dot2 + 1, strlen(dot2 + 1)))
    return &BAD_SIGNATURE;
  Google__Protobuf__Struct *claims = segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
  if (!claims) return &BAD_JWT;
  const refusal *r = check_claims(claims, who, size);
  protobuf_c_message_free_unpacked(&claims->base, NULL);
  return r;
}

static const refusal *refresh_grant(emu_tokens *t, const char *body, size_t len, char *who,
                                    size_t size) {
  static const refusal revoked = {400, "invalid_grant", "Token has been expired or revoked."};
  static const refusal no_client = {401, "invalid_client", "The OAuth client was not found."};
  static const refusal unsupported = {400, "unsupported_grant_type",
                                      "Invalid grant_type: "
                                      "refresh_token"};
  if (!t->refresh_token) return &unsupported;
  char *id = form_get(body, len, "client_id", 1024);
  char *secret = form_get(body, len, "client_secret", 1024);
  char *rt = form_get(body, len, "refresh_token", 4096);
  const refusal *r = NULL;
  if (!id || !id[0] || !secret || !secret[0])
    r = &no_client;
  else if (!rt || strlen(rt) != strlen(t->refresh_token) ||
           CRYPTO_memcmp(rt, t->refresh_token, strlen(rt)) != 0)
    r = &revoked;
  pthread_mutex_lock(&t->mu);
  if (!r && t->refresh_revoked) r = &revoked;
  pthread_mutex_unlock(&t->mu);
  if (!r) snprintf(who, size, "client_id %.200s", id);
  free(id);
  if (secret) OPENSSL_cleanse(secret, strlen(secret));
  if (rt) OPENSSL_cleanse(rt, strlen(rt));
  free(secret);
  free(rt);
  return r;
}

static void answer_refusal(const refusal *r, int *http, ee_buf *json) {
  ee_status st;
  *http = r->http;
  ee_buf_printf(json, &st, "{\"error\":\"%s\",\"error_description\":\"%s\"}", r->error,
                r->description);
  fprintf(stderr, "ee-emulator: token request refused (%s: %s)\n", r->error, r->description);
}

static void serve_token(emu_tokens *t, const char *body, size_t len, int *http, ee_buf *json) {
  static const refusal bad_grant = {400, "unsupported_grant_type", "Invalid grant_type."};
  static const refusal full = {503, "temporarily_unavailable", "Too many live tokens."};
  char *grant = form_get(body, len, "grant_type", 256);
  char who[256] = "";
  const refusal *r = NULL;
  const char *grant_name = "";
  if (grant && strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer") == 0) {
    char *jwt = form_get(body, len, "assertion", EMU_MAX_ASSERTION);
    r = jwt ? jwt_grant(t, jwt, who, sizeof who) : &BAD_JWT;
    grant_name = "jwt-bearer";
    if (jwt) OPENSSL_cleanse(jwt, strlen(jwt));
    free(jwt);
  } else if (grant && strcmp(grant, "refresh_token") == 0) {
    r = refresh_grant(t, body, len, who, sizeof who);
    grant_name = "refresh_token";
  } else {
    r = &bad_grant;
  }
  free(grant);
  char token[TOKEN_CHARS + 1];
  if (!r && !issue(t, token, grant_name, who)) r = &full;
  if (r) return answer_refusal(r, http, json);
  ee_status st;
  *http = 200;
  ee_buf_printf(json, &st, "{\"access_token\":\"%s\",\"expires_in\":%d,\"token_type\":\"Bearer\"}",
                token, t->ttl_s);
  OPENSSL_cleanse(token, sizeof token);
}

bool emu_tokens_serve(emu_tokens *t, const char *method, const char *url, const char *body,
                      size_t len, int *http, ee_buf *json) {
  ee_status st;
  bool is_token = strcmp(url, "/token") == 0, is_revoke = strcmp(url, "/revoke") == 0;
  if (!t || (!is_token && !is_revoke) || strcmp(method, "POST") != 0) return false;
  if (!body) body = "", len = 0;
  if (is_token) {
    serve_token(t, body, len, http, json);
    return true;
  }
  char *token = form_get(body, len, "token", 4096);
  bool found = token && revoke(t, token);
  if (token) OPENSSL_cleanse(token, strlen(token));
  free(token);
  *http = found ? 200 : 400;
  ee_buf_append_str(json, found ? "{}" : "{\"error\":\"invalid_token\"}", &st);
  fprintf(stderr, "ee-emulator: revoke: %s\n", found ? "token revoked" : "unknown token");
  return true;
}
