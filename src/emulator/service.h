/* ee-emulator: the transport-neutral service. Both front ends decode a request into its
 * protobuf-c message and call emu_service_call, which applies the same latency, faults and
 * authentication, runs the handler against the one store and answers with the packed
 * response message, so REST and gRPC behave identically by construction. */
#ifndef EMU_SERVICE_H
#define EMU_SERVICE_H

#include <protobuf-c/protobuf-c.h>

#include "ee/buf.h"
#include "ee/route.h"
#include "emu.h"
#include "store.h"

typedef enum emu_method_id {
  EMU_M_EXPORT_IMAGE,
  EMU_M_GET_OPERATION,
  EMU_M_LIST_OPERATIONS,
  EMU_M_DELETE_OPERATION,
  EMU_M_CANCEL_OPERATION,
  EMU_M_WAIT_OPERATION,
  EMU_M_COUNT
} emu_method_id;

/* Methods are bound to handlers by their request message type, so that every name and
 * path (gRPC method paths, REST bindings) comes from the generated route table. */
typedef struct emu_method {
  const ProtobufCMessageDescriptor *input;
} emu_method;

extern const emu_method emu_methods[EMU_M_COUNT];

/* The handler for a route of the generated table, or -1 when the emulator serves none. */
int emu_method_for_route(const ee_route *route);

/* Checks that the route table routes every method the emulator serves (at startup). */
ee_code emu_methods_check(const ee_route_table *table, ee_status *st);

typedef struct emu_service {
  const emu_config *cfg;
  emu_store *store;
} emu_service;

typedef struct emu_call {
  const char *authorization; /* the Authorization header / metadata value, or NULL */
  int64_t deadline_ns;       /* wall-clock deadline of the call, 0 for none */
} emu_call;

/* Admits a call before its request is even decoded, as the service's front end does:
 * --latency-ms, then --fail-rate (UNAVAILABLE), then --token (UNAUTHENTICATED). */
ee_code emu_service_admit(const emu_service *svc, const emu_call *call, ee_status *st);

/* Runs an admitted call. On success out holds the packed response message; with
 * --fail-after-commit-rate the change is made but the answer becomes UNAVAILABLE. */
ee_code emu_service_call(const emu_service *svc, emu_method_id m, const emu_call *call,
                         const ProtobufCMessage *req, ee_buf *out, ee_status *st);

#endif
