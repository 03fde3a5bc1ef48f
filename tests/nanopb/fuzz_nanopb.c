/* nanopb decoder fuzz target: any bytes decode as an Operation (and its metadata as an
 * OperationMetadata) or fail with a status; nothing is written past the structs (guard
 * bytes, and ASan on the static storage) and nothing is allocated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ee/nanopb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
  google_longrunning_Operation op;
  google_earthengine_v1_OperationMetadata md;
  google_earthengine_v1_ExportImageRequest req;
  uint8_t guard[64];
} g;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ee_status st;
  memset(g.guard, 0x5a, sizeof g.guard);
  if (ee_nanopb_decode(&google_longrunning_Operation_msg, data, size, &g.op, &st) == EE_OK)
    (void)ee_nanopb_operation_metadata(&g.op, &g.md, &st);
  else if (st.code != EE_INVALID_ARGUMENT && st.code != EE_OUT_OF_RANGE)
    abort();
  (void)ee_nanopb_decode(&google_earthengine_v1_OperationMetadata_msg, data, size, &g.md, &st);
  (void)ee_nanopb_decode(&google_earthengine_v1_ExportImageRequest_msg, data, size, &g.req, &st);
  for (size_t i = 0; i < sizeof g.guard; i++)
    if (g.guard[i] != 0x5a) abort();
  return 0;
}
