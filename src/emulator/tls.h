/* ee-emulator: the --tls-cert / --tls-key pair, read and checked before either front end
 * starts, so a bad file is a usage error naming the file (exit 2), never a failed
 * handshake later. */
#ifndef EMU_TLS_H
#define EMU_TLS_H

#include "emu.h"

/* Largest certificate chain or key file read (a chain of a few certificates is ~10 KiB). */
#define EMU_MAX_PEM_BYTES ((size_t)1 << 20)

/* When either file is named: both must be, and they must hold a PEM certificate (chain)
 * and the unencrypted PEM private key that matches it. Fills c->tls_cert_pem and
 * c->tls_key_pem (owned by c, freed by emu_tls_free). Neither named: nothing to do, EE_OK. */
ee_code emu_tls_load(emu_config *c, ee_status *st);

/* Frees (and wipes the key of) what emu_tls_load filled; safe to call twice. */
void emu_tls_free(emu_config *c);

#endif
