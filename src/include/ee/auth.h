/* eeclient: credentials. Where the client's access tokens come from.
 *
 * An ee_token_source yields OAuth 2 access tokens, as Google's own client libraries get
 * them: a fixed token, EE_ACCESS_TOKEN, a service-account JSON key (an RS256 JWT
 * exchanged at the key's token_uri), authorized-user credentials (the refresh-token
 * grant; what `gcloud auth application-default login` writes), the GCE metadata server,
 * and Application Default Credentials, which pick one of these in Google's order:
 *
 *   1. the key file named by GOOGLE_APPLICATION_CREDENTIALS (when set, it must load: a
 *      bad file is an error, not a reason to look further);
 *   2. $HOME/.config/gcloud/application_default_credentials.json, when it exists;
 *   3. the metadata server (http://$GCE_METADATA_HOST, default metadata.google.internal).
 *
 * Caching: a token is kept and reused until shortly before it expires (60 s, or a
 * quarter of its lifetime when that is shorter), then refreshed. Single flight: however
 * many threads ask at once, one fetch runs and the others wait for it (or, while the old
 * token is still valid, keep using it). A forced refresh (after the service answered
 * UNAUTHENTICATED) replaces the cached token once: requests that saw the same rejected
 * token share one new fetch.
 *
 * Fetches are blocking HTTP exchanges (libcurl easy), run on the thread that needs the
 * token; their connect and total timeouts are 10 s and 30 s, and an answer larger than
 * 64 KiB is refused.
 *
 * Secrets (private keys, client secrets, refresh tokens, access tokens) never appear in
 * an ee_status message, a log line or a dry run. ee_token_source_free wipes them.
 *
 * Errors: a key file that is missing, unreadable, too large (> 64 KiB), not JSON,
 * truncated, of an unknown `type`, lacking a field, or holding a private key OpenSSL
 * refuses is EE_INVALID_ARGUMENT naming the file and the problem. A token endpoint that
 * answers an OAuth error ({"error":"invalid_grant","error_description":"…"}) is
 * EE_UNAUTHENTICATED carrying the error and its description; a token endpoint that cannot
 * be reached or answers 5xx is EE_UNAVAILABLE.
 *
 * Threads and ownership: a source is safe to use from many threads at once. Sources are
 * reference counted: ee_client_new takes its own reference, so the caller may free its
 * reference any time after ee_client_new returned. */
#ifndef EE_AUTH_H
#define EE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ee/buf.h"
#include "ee/export.h"
#include "ee/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ee_token_source ee_token_source;

/* Largest key file read, and largest token endpoint answer accepted. */
#define EE_AUTH_MAX_FILE_BYTES ((size_t)64 << 10)
/* Google's default token endpoint (authorized-user files usually name none). */
#define EE_GOOGLE_TOKEN_URI "https://oauth2.googleapis.com/token"
/* Where ADC looks after GOOGLE_APPLICATION_CREDENTIALS, relative to $HOME. */
#define EE_ADC_WELL_KNOWN_FILE ".config/gcloud/application_default_credentials.json"

/* In every constructor, scopes is a space-separated list of OAuth scopes; NULL or ""
 * means EE_DEFAULT_SCOPE (ee/client.h: https://www.googleapis.com/auth/earthengine). On
 * failure *out is NULL. */

/* A fixed token, used as is (it cannot be refreshed: a forced refresh returns it
 * again). The text is copied. */
EE_API ee_code ee_token_source_fixed(const char *token, ee_token_source **out, ee_status *st);

/* EE_ACCESS_TOKEN, read now (a fixed token). EE_FAILED_PRECONDITION when unset. */
EE_API ee_code ee_token_source_from_env(ee_token_source **out, ee_status *st);

/* A JSON key file: "type":"service_account" (client_email, private_key, optional
 * private_key_id and token_uri) or "type":"authorized_user" (client_id, client_secret,
 * refresh_token, optional token_uri defaulting to EE_GOOGLE_TOKEN_URI). The file is read
 * and the private key parsed now; tokens are fetched when first asked for. */
EE_API ee_code ee_token_source_from_file(const char *path, const char *scopes,
                                         ee_token_source **out, ee_status *st);

/* The same from JSON text in memory; name is what error messages call it. */
EE_API ee_code ee_token_source_from_json(const char *json, size_t len, const char *name,
                                         const char *scopes, ee_token_source **out, ee_status *st);

/* The metadata server: GET http://HOST/computeMetadata/v1/instance/service-accounts/
 * default/token?scopes=… with Metadata-Flavor: Google, HOST = $GCE_METADATA_HOST (read
 * now) or metadata.google.internal. Nothing is fetched yet. */
EE_API ee_code ee_token_source_metadata(const char *scopes, ee_token_source **out, ee_status *st);

/* Application Default Credentials, in the order above. */
EE_API ee_code ee_token_source_adc(const char *scopes, ee_token_source **out, ee_status *st);

/* Whether ADC has a source other than a guess at the metadata server: true when
 * GOOGLE_APPLICATION_CREDENTIALS is set, the well-known file exists, or GCE_METADATA_HOST
 * is set. (ee_client_options_from_env uses this so that programs with no credentials at
 * all, such as tests against ee-emulator, do not try a metadata server.) */
EE_API bool ee_adc_available(void);

/* Appends a valid access token (no "Bearer " prefix) to *token, fetching one when none
 * is cached or the cached one is about to expire. force_refresh: the service rejected
 * the cached token; fetch a new one unless another thread already replaced it while this
 * one was waiting. Thread-safe. */
EE_API ee_code ee_token_source_token(ee_token_source *s, bool force_refresh, ee_buf *token,
                                     ee_status *st);

/* The same, with the ee_token_fn signature (ee/client.h), user = the source. */
EE_API ee_code ee_token_source_fn(void *user, bool force_refresh, ee_buf *token, ee_status *st);

/* The key file's quota_project_id, or NULL. Valid while the source lives. */
EE_API const char *ee_token_source_quota_project(const ee_token_source *s);

/* What kind of source this is: "fixed", "service_account", "authorized_user" or
 * "metadata". Static storage. */
EE_API const char *ee_token_source_kind(const ee_token_source *s);

/* Tokens fetched from an endpoint so far (not counting cache hits). */
EE_API uint64_t ee_token_source_fetches(const ee_token_source *s);

/* Takes one more reference; returns s. */
EE_API ee_token_source *ee_token_source_ref(ee_token_source *s);

/* Drops a reference; the last one wipes every secret and frees. Accepts NULL. */
EE_API void ee_token_source_free(ee_token_source *s);

#ifdef __cplusplus
}
#endif
#endif
