/* eeclient: safe entry to protobuf-c's binary decoder.
 *
 * protobuf_c_message_unpack recurses once per nested message with no limit and returns
 * NULL with no reason. Bytes from outside (the network, a user's file) go through
 * ee_wire_unpack instead: a non-recursive-beyond-the-limit walk of the wire format checks
 * the framing and the nesting depth of message fields first, and a refusal from
 * protobuf-c becomes an INVALID_ARGUMENT with a message. */
#ifndef EE_WIRE_H
#define EE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/export.h"
#include "ee/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EE_WIRE_DEFAULT_MAX_DEPTH 100 /* nested messages, the root counting as 1 */

/* Checks that len bytes are well-framed protobuf wire data for desc whose message fields
 * nest no deeper than max_depth (0 = EE_WIRE_DEFAULT_MAX_DEPTH). Unknown fields are
 * framed-checked and skipped; groups are refused (protobuf-c cannot read them). Returns
 * EE_OK or EE_INVALID_ARGUMENT with "<reason> (byte N)". Reads only. */
EE_API ee_code ee_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                             size_t len, int max_depth, ee_status *st);

/* ee_wire_check, then protobuf_c_message_unpack. On success *out is a new message the
 * caller owns (protobuf_c_message_free_unpacked(*out, allocator)); on failure *out is
 * NULL and st says why. allocator may be NULL (malloc). */
EE_API ee_code ee_wire_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                              size_t len, int max_depth, ProtobufCAllocator *allocator,
                              ProtobufCMessage **out, ee_status *st);

#ifdef __cplusplus
}
#endif
#endif
