/* ExportImage from nanopb bytes through the gRPC transport to ee-emulator gives the same
 * operation as the same request from protobuf-c structs. The emulator answers a repeated
 * requestId with the operation it first started, so two calls with one requestId, one
 * per binding (in both orders), must find one operation whose metadata describes the
 * request both sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ee/nanopb.h"
#include "emu_proc.h"
#include "export_fixture.h"

ee_code export_with_nanopb(ee_client *c, const char *project, const char *request_id,
                           google_longrunning_Operation *op, ee_status *st);

static google_longrunning_Operation nop;
static google_earthengine_v1_OperationMetadata nmd;

static void compare(ee_client *c, const char *rid, bool nanopb_first) {
  ee_status st;
  export_fixture fx;
  export_fixture_init(&fx, "projects/nanopb-test", "exports");
  fx.req.request_id = (char *)rid;
  fx.req.description = "nanopb export";
  Google__Longrunning__Operation *pop = NULL;
  ee_code rc;
  if (!nanopb_first) {
    rc = ee_client_export_image(c, &fx.req, NULL, &pop, &st);
    CHECK(rc == EE_OK, "protobuf-c export: %s", st.message);
  }
  rc = export_with_nanopb(c, "projects/nanopb-test", rid, &nop, &st);
  CHECK(rc == EE_OK, "nanopb export: %s", st.message);
  if (nanopb_first) {
    rc = ee_client_export_image(c, &fx.req, NULL, &pop, &st);
    CHECK(rc == EE_OK, "protobuf-c export: %s", st.message);
  }
  if (!pop || rc != EE_OK) return;
  CHECK(strncmp(nop.name, "projects/nanopb-test/operations/", 32) == 0, "name %s", nop.name);
  CHECK(strcmp(nop.name, pop->name) == 0, "nanopb %s, protobuf-c %s", nop.name, pop->name);
  rc = ee_nanopb_operation_metadata(&nop, &nmd, &st);
  CHECK(rc == EE_OK, "%s", st.message);
  Google__Earthengine__V1__OperationMetadata *pmd = ee_operation_metadata(pop);
  CHECK(pmd != NULL, "protobuf-c metadata");
  if (pmd) {
    CHECK(strcmp(nmd.description, pmd->description) == 0 &&
              strcmp(nmd.description, "nanopb export") == 0,
          "description %s / %s", nmd.description, pmd->description);
    CHECK(strcmp(nmd.type, pmd->type) == 0, "type %s / %s", nmd.type, pmd->type);
    /* (state moves on between the two calls: not compared) */
    CHECK(nmd.destination_uris_count == pmd->n_destination_uris, "destination count");
    for (pb_size_t i = 0; i < nmd.destination_uris_count && i < pmd->n_destination_uris; i++)
      CHECK(strcmp(nmd.destination_uris[i], pmd->destination_uris[i]) == 0, "uri %s / %s",
            nmd.destination_uris[i], pmd->destination_uris[i]);
    ee_message_free(pmd);
  }
  ee_message_free(pop);
}

int main(void) {
  emu_proc emu;
  if (emu_start(&emu, emu_path(), NULL) != 0) return 1;
  ee_client_options o;
  ee_client_options_init(&o);
  o.transport = EE_TRANSPORT_GRPC;
  char endpoint[200];
  snprintf(endpoint, sizeof endpoint, "%s", emu.grpc_url);
  o.endpoint = endpoint;
  ee_client *c = NULL;
  ee_status st;
  if (ee_client_new(&o, &c, &st) != EE_OK) {
    fprintf(stderr, "client: %s\n", st.message);
    emu_stop(&emu);
    return 1;
  }
  char rid[64];
  snprintf(rid, sizeof rid, "nanopb-a-%d", (int)getpid());
  compare(c, rid, true);
  snprintf(rid, sizeof rid, "nanopb-b-%d", (int)getpid());
  compare(c, rid, false);
  ee_client_free(c);
  emu_stop(&emu);
  return check_report("test_nanopb_emu");
}
