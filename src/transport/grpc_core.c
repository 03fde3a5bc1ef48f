/* Placeholder: the grpc transport is being written. */
#include "transport.h"

const eei_transport_ops eei_grpc_transport = {"grpc", 0, 0, 0, 0, 0, 0, 0, 0, 0};
