/* ee-emulator: loading and checking the --tls-cert / --tls-key pair.
 *
 * Both front ends get the PEM text in memory (libmicrohttpd's GnuTLS and grpc's OpenSSL
 * each parse it again). They would refuse a bad pair only with a vague error at start-up
 * or, for grpc, at the first handshake; so the pair is checked here first with libcrypto,
 * and every refusal names the file and what is wrong with it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls.h"

/* Reads a whole PEM file, bounded by EMU_MAX_PEM_BYTES; the text is NUL-terminated. */
static ee_code read_pem(const char *flag, const char *path, char **out, ee_status *st) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return ee_status_set(st, EE_INVALID_ARGUMENT, "%s %s: %s", flag, path, strerror(errno));
  char *text = malloc(EMU_MAX_PEM_BYTES + 1);
  size_t n = text ? fread(text, 1, EMU_MAX_PEM_BYTES + 1, f) : 0;
  bool failed = ferror(f) != 0;
  int err = errno;
  fclose(f);
  if (!text) return ee_status_set(st, EE_INTERNAL, "out of memory");
  if (failed || n > EMU_MAX_PEM_BYTES || n == 0 || memchr(text, '\0', n)) {
    free(text);
    if (failed)
      return ee_status_set(st, EE_INVALID_ARGUMENT, "%s %s: %s", flag, path, strerror(err));
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s %s: %s", flag, path,
                         n == 0                  ? "empty file"
                         : n > EMU_MAX_PEM_BYTES ? "larger than 1 MiB, not a PEM file"
                                                 : "binary data, not a PEM file");
  }
  text[n] = '\0';
  *out = text;
  return EE_OK;
}

/* The innermost OpenSSL error's reason, for the message (the queue is then cleared). */
static const char *crypto_reason(char *buf, size_t size) {
  unsigned long e = ERR_peek_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  snprintf(buf, size, "%s", r ? r : "no PEM data found");
  ERR_clear_error();
  return buf;
}

/* Never prompts for a pass phrase: an encrypted key is refused (the emulator runs
 * unattended, and neither front end is given a password). */
static int no_password(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  *(bool *)u = true;
  return -1;
}

static ee_code check_pair(const emu_config *c, ee_status *st) {
  char why[256];
  bool asked = false;
  ee_code rc = EE_OK;
  X509 *cert = NULL;
  EVP_PKEY *key = NULL;
  BIO *cb = BIO_new_mem_buf(c->tls_cert_pem, -1), *kb = BIO_new_mem_buf(c->tls_key_pem, -1);
  if (!strstr(c->tls_cert_pem, "-----BEGIN CERTIFICATE-----")) {
    rc = ee_status_set(st, EE_INVALID_ARGUMENT,
                       "--tls-cert %s: no \"-----BEGIN CERTIFICATE-----\" block (PEM expected)",
                       c->tls_cert_file);
    goto done;
  }
  if (!strstr(c->tls_key_pem, "PRIVATE KEY-----")) {
    rc = ee_status_set(st, EE_INVALID_ARGUMENT,
                       "--tls-key %s: no \"-----BEGIN ... PRIVATE KEY-----\" block (PEM expected)",
                       c->tls_key_file);
    goto done;
  }
  cert = cb ? PEM_read_bio_X509(cb, NULL, no_password, &asked) : NULL;
  if (!cert) {
    rc = ee_status_set(st, EE_INVALID_ARGUMENT,
                       "--tls-cert %s: malformed PEM certificate (openssl: %s)", c->tls_cert_file,
                       crypto_reason(why, sizeof why));
    goto done;
  }
  key = kb ? PEM_read_bio_PrivateKey(kb, NULL, no_password, &asked) : NULL;
  if (!key) {
    if (asked)
      rc = ee_status_set(st, EE_INVALID_ARGUMENT,
                         "--tls-key %s: encrypted private keys are not supported", c->tls_key_file);
    else
      rc = ee_status_set(st, EE_INVALID_ARGUMENT,
                         "--tls-key %s: malformed PEM private key (openssl: %s)", c->tls_key_file,
                         crypto_reason(why, sizeof why));
    goto done;
  }
  if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    rc = ee_status_set(st, EE_INVALID_ARGUMENT,
                       "--tls-key %s: does not match the certificate in --tls-cert %s",
                       c->tls_key_file, c->tls_cert_file);
  }
done:
  EVP_PKEY_free(key);
  X509_free(cert);
  BIO_free(cb);
  BIO_free(kb);
  ERR_clear_error();
  return rc;
}

ee_code emu_tls_load(emu_config *c, ee_status *st) {
  if (!c->tls_cert_file && !c->tls_key_file) return EE_OK;
  if (!c->tls_cert_file || !c->tls_key_file)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s needs %s too (TLS takes both)",
                         c->tls_cert_file ? "--tls-cert" : "--tls-key",
                         c->tls_cert_file ? "--tls-key" : "--tls-cert");
  if (read_pem("--tls-cert", c->tls_cert_file, &c->tls_cert_pem, st) != EE_OK ||
      read_pem("--tls-key", c->tls_key_file, &c->tls_key_pem, st) != EE_OK ||
      check_pair(c, st) != EE_OK) {
    emu_tls_free(c);
    return st->code;
  }
  return EE_OK;
}

void emu_tls_free(emu_config *c) {
  if (c->tls_key_pem) OPENSSL_cleanse(c->tls_key_pem, strlen(c->tls_key_pem));
  free(c->tls_cert_pem);
  free(c->tls_key_pem);
  c->tls_cert_pem = c->tls_key_pem = NULL;
}
