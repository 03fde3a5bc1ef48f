/* eeclient: nanopb bindings (built with -DEE_NANOPB=ON; link eeclient::ee_nanopb).
 *
 * For callers that must not allocate on the request path (devices, real-time services):
 * the messages are nanopb's generated structs (gen/nanopb/, bounded by the .options files
 * beside the protos) in the caller's memory; encoding and decoding write only into the
 * caller's structs and buffers and never call malloc. The encoded request goes to the
 * client with ee_client_call_raw (ee/client.h), which sends the bytes as they are over
 * gRPC: the same wire as the protobuf-c structs.
 *
 * Bounds: a string, bytes or repeated field longer than its bound fails to decode with
 * EE_OUT_OF_RANGE naming the field ("metadata.value: ..."); malformed bytes and a
 * callback that fails are EE_INVALID_ARGUMENT naming the field where decoding stopped.
 * Nothing is written past a bound.
 *
 * ee_nanopb is a static library only (not part of libeeclient.so, hence no EE_API) and is
 * not installed yet: build against the source tree. */
#ifndef EE_NANOPB_H
#define EE_NANOPB_H

#include <stddef.h>
#include <stdint.h>

#include <pb.h>

#include "ee/client.h"
#include "ee/export.h"
#include "ee/status.h"
#include "google/earthengine/v1/earthengine.pb.h"
#include "google/earthengine/v1/operation_metadata.pb.h"
#include "google/longrunning/operations.pb.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EE_RPC_EXPORT_IMAGE "/google.earthengine.v1.EarthEngine/ExportImage"
#define EE_NANOPB_REQUEST_PARAMS_MAX 512 /* "project=" + an escaped 127-byte project */

/* Encodes msg (of nanopb type `type`, e.g. &google_earthengine_v1_ExportImageRequest_msg)
 * into buf[0..cap); *len gets the bytes written. EE_OUT_OF_RANGE when buf is too small,
 * EE_INVALID_ARGUMENT when a callback fails (nanopb's reason in the message). The caller
 * owns everything; nothing is allocated. */
ee_code ee_nanopb_encode(const pb_msgdesc_t *type, const void *msg, uint8_t *buf, size_t cap,
                         size_t *len, ee_status *st);

/* Decodes buf[0..len) into *msg (of nanopb type `type`), which it first resets to the
 * defaults except for callback fields (set your pb_callback_t before the call). Errors as
 * described above, naming the field; *msg is then unspecified but nothing outside it was
 * written. Nothing is allocated. */
ee_code ee_nanopb_decode(const pb_msgdesc_t *type, const uint8_t *buf, size_t len, void *msg,
                         ee_status *st);

/* The x-goog-request-params value of an ExportImage ("project=projects%2Fmy-proj") into
 * out[0..cap), as the protobuf-c path computes it from the route. The project must be
 * "projects/ID" (EE_INVALID_ARGUMENT otherwise: the raw path fills no defaults). */
ee_code ee_nanopb_request_params(const google_earthengine_v1_ExportImageRequest *req, char *out,
                                 size_t cap, ee_status *st);

/* Decodes op->metadata into *md when it is an OperationMetadata (EE_NOT_FOUND when the
 * operation has no metadata or another type). */
ee_code ee_nanopb_operation_metadata(const google_longrunning_Operation *op,
                                     google_earthengine_v1_OperationMetadata *md, ee_status *st);

/* ExportImage from nanopb structs: encodes req into scratch[0..scratch_cap), computes
 * the request params, calls ee_client_call_raw and decodes the reply into *op. *response
 * (the caller's buffer, reset first) holds the reply's bytes afterwards. The encode and
 * decode steps allocate nothing; the client's call itself (gRPC, retries) does. */
ee_code ee_nanopb_export_image(ee_client *c, const google_earthengine_v1_ExportImageRequest *req,
                               uint8_t *scratch, size_t scratch_cap, const ee_call_options *co,
                               ee_buf *response, google_longrunning_Operation *op, ee_status *st);

#ifdef __cplusplus
}
#endif
#endif
