/* ee-emulator: a token endpoint, as Google's (oauth2.googleapis.com/token), for testing
 * credentials offline. With --trust-key FILE it verifies RS256 JWTs of the jwt-bearer
 * grant against that public key; with --trust-refresh-token T it honours the
 * refresh_token grant for T. Either way it issues short-lived random access tokens
 * (--token-ttl) and from then on the service accepts only those (README.md). */
#ifndef EMU_TOKENS_H
#define EMU_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#include "ee/buf.h"
#include "emu.h"

#define EMU_MAX_LIVE_TOKENS 10000 /* issued and not yet expired, at once */
#define EMU_MAX_ASSERTION 16384   /* bytes of one JWT */

typedef struct emu_tokens emu_tokens;

/* Loads --trust-key (a PEM public key or certificate holding an RSA key). Nothing to do
 * (and *out NULL) when neither --trust-key nor --trust-refresh-token is given. A bad file
 * is EE_INVALID_ARGUMENT naming it. */
ee_code emu_tokens_new(const emu_config *cfg, emu_tokens **out, ee_status *st);
void emu_tokens_free(emu_tokens *t);

/* Serves POST /token and POST /revoke (form-encoded bodies). Returns false, touching
 * nothing, for any other method or path; else fills *http and the JSON answer. */
bool emu_tokens_serve(emu_tokens *t, const char *method, const char *url, const char *body,
                      size_t len, int *http, ee_buf *json);

typedef enum emu_token_check { EMU_TOKEN_OK, EMU_TOKEN_UNKNOWN, EMU_TOKEN_EXPIRED } emu_token_check;

/* Whether token is one this endpoint issued and has not expired or been revoked. */
emu_token_check emu_tokens_check(emu_tokens *t, const char *token);

#endif
