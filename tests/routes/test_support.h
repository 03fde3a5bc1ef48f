/* Shared helpers of the route tests: message builders (checks: tests/support/check.h). */
#ifndef EE_ROUTES_TEST_SUPPORT_H
#define EE_ROUTES_TEST_SUPPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "check.h"
#include "ee/route.h"

/* A new message of type d with fields set from "a.b=v|c=w" (proto names; repeated fields
 * take one value per mention; scalar-form WKTs take their JSON text). NULL on error
 * (printed). Free with protobuf_c_message_free_unpacked(m, NULL). */
ProtobufCMessage *rt_make(const ProtobufCMessageDescriptor *d, const char *fields);

/* Packed-bytes equality; prints both dumps when different. */
bool rt_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *label);

const ee_route_table *rt_test_table(void);

#endif
