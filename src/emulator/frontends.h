/* ee-emulator: the two front ends. Each binds host:port (0 = any free port), reports the
 * port it got, serves until stopped, and calls only emu_service_call for the work. */
#ifndef EMU_FRONTENDS_H
#define EMU_FRONTENDS_H

#include "service.h"

typedef struct emu_grpc emu_grpc;
typedef struct emu_rest emu_rest;

ee_code emu_grpc_start(const emu_service *svc, emu_grpc **out, int *bound_port, ee_status *st);
/* Stops accepting, cancels calls in flight, joins its threads and frees. Accepts NULL. */
void emu_grpc_stop(emu_grpc *g);

ee_code emu_rest_start(const emu_service *svc, emu_rest **out, int *bound_port, ee_status *st);
void emu_rest_stop(emu_rest *r);

#endif
