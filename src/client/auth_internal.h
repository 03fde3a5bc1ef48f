/* Credentials internals: a small reader for the flat JSON objects of key files and token
 * endpoint answers, the RS256 JWT, the blocking HTTP exchange, and the generation-aware
 * token lookup the client uses. See ee/auth.h for the contract. */
#ifndef EE_AUTH_INTERNAL_H
#define EE_AUTH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "ee/auth.h"

/* ---- flat JSON objects: {"key": "string" | number | true/false/null | nested} ---- */

#define EEI_JSON_MAX_MEMBERS 64
#define EEI_JSON_MAX_DEPTH 32

typedef enum eei_jkind { EEI_J_STRING, EEI_J_NUMBER, EEI_J_OTHER } eei_jkind;

typedef struct eei_jmember {
  char *key;
  char *value; /* decoded string, or the number's text; NULL for EEI_J_OTHER */
  size_t value_len;
  eei_jkind kind;
} eei_jmember;

typedef struct eei_jobject {
  eei_jmember m[EEI_JSON_MAX_MEMBERS];
  size_t n;
} eei_jobject;

/* Parses one JSON object (strict RFC 8259; nested values are checked and skipped). On
 * failure writes why (a description with a byte offset, never the input's text) and
 * returns false; *o is then empty. */
bool eei_jobject_parse(const char *text, size_t len, eei_jobject *o, char *why, size_t why_size);

/* The member's string value, or NULL when absent or not a string. */
const char *eei_jobject_str(const eei_jobject *o, const char *key);

/* The member's kind, or -1 when absent. */
int eei_jobject_kind(const eei_jobject *o, const char *key);

/* The member's number, or false when absent or not a number. */
bool eei_jobject_num(const eei_jobject *o, const char *key, double *out);

/* Wipes every value and key, then frees. */
void eei_jobject_free(eei_jobject *o);

/* Appends s as a JSON string literal (quotes included). */
ee_code eei_json_quote(ee_buf *b, const char *s, ee_status *st);

/* ---- the JWT ---- */

/* A signed RS256 JWT assertion for Google's jwt-bearer grant. */
ee_code eei_jwt_sign(EVP_PKEY *key, const char *kid, const char *iss, const char *scope,
                     const char *aud, int64_t iat, int64_t exp, ee_buf *out, ee_status *st);

/* Base64url without padding. */
ee_code eei_base64url(const unsigned char *data, size_t len, ee_buf *out, ee_status *st);

/* ---- HTTP ---- */

typedef struct eei_http_request {
  const char *method;       /* "GET" or "POST" */
  const char *url;          /* http or https only */
  const char *body;         /* POST: form-encoded; may be a secret */
  const char *extra_header; /* one "Name: value", or NULL */
  const char *what;         /* for messages: "token endpoint https://…" */
} eei_http_request;

/* Runs one blocking exchange; the answer (at most EE_AUTH_MAX_FILE_BYTES) goes to resp.
 * A transport failure is EE_UNAVAILABLE naming `what`. */
ee_code eei_http_exchange(const eei_http_request *req, long *http_status, ee_buf *resp,
                          ee_status *st);

/* Appends "key=value" (value percent-encoded), with a leading '&' unless b is empty. */
ee_code eei_form_add(ee_buf *b, const char *key, const char *value, ee_status *st);

/* Reads a token endpoint's answer: access_token and expires_in on 200, else the OAuth
 * error. The token text is appended to token (wiped by the caller). */
ee_code eei_token_answer(const char *what, long http_status, const ee_buf *resp, ee_buf *token,
                         int64_t *expires_in_s, ee_status *st);

/* ---- wiping ---- */

/* Zeroes and frees a NUL-terminated secret. Accepts NULL. */
void eei_free_secret(char *s);

/* Zeroes a buffer's storage and frees it. */
void eei_buf_wipe(ee_buf *b);

/* ---- the client's view ---- */

/* ee_token_source_token with a generation: *gen (may be NULL) holds on input the
 * generation of the token the service rejected (when force_refresh) and receives the
 * generation of the returned token. A forced refresh fetches only when the cache still
 * holds that generation. */
ee_code eei_token_source_get(ee_token_source *s, bool force_refresh, uint64_t *gen, ee_buf *token,
                             ee_status *st);

#endif
