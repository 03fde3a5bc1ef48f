/* Placeholder: the rest transport is being written. */
#include "transport.h"

const eei_transport_ops eei_rest_transport = {"rest", 0, 0, 0, 0, 0, 0, 0, 0, 0};
