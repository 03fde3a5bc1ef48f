/* The README's client example: start an export and follow it to its end, over REST or
 * gRPC as EE_TRANSPORT says (EE_ENDPOINT, EE_PROJECT, EE_ACCESS_TOKEN likewise). */
#include <stdio.h>

#include <ee/client.h>

static void on_progress(void *user, const Google__Longrunning__Operation *op,
                        const Google__Earthengine__V1__OperationMetadata *md) {
  (void)user;
  if (md)
    fprintf(stderr, "%s: state %d, progress %.0f%%\n", op->name, md->state, md->progress * 100);
}

int main(void) {
  ee_status st;
  ee_client_options opts;
  ee_client_options_init(&opts);
  if (ee_client_options_from_env(&opts, &st) != EE_OK) {
    fprintf(stderr, "error: %s: %s\n", ee_code_name(st.code), st.message);
    return 2;
  }
  ee_client *client = NULL;
  if (ee_client_new(&opts, &client, &st) != EE_OK) {
    fprintf(stderr, "error: %s: %s\n", ee_code_name(st.code), st.message);
    return 2;
  }

  /* Image.constant(5), exported to Drive as a GeoTIFF. */
  Google__Protobuf__Value five = GOOGLE__PROTOBUF__VALUE__INIT;
  five.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
  five.number_value = 5;
  Google__Earthengine__V1__ValueNode node = GOOGLE__EARTHENGINE__V1__VALUE_NODE__INIT;
  node.kind_case = GOOGLE__EARTHENGINE__V1__VALUE_NODE__KIND_CONSTANT_VALUE;
  node.constant_value = &five;
  Google__Earthengine__V1__Expression__ValuesEntry entry =
      GOOGLE__EARTHENGINE__V1__EXPRESSION__VALUES_ENTRY__INIT;
  entry.key = "0";
  entry.value = &node;
  Google__Earthengine__V1__Expression__ValuesEntry *entries[] = {&entry};
  Google__Earthengine__V1__Expression expr = GOOGLE__EARTHENGINE__V1__EXPRESSION__INIT;
  expr.n_values = 1;
  expr.values = entries;
  expr.result = "0";
  Google__Earthengine__V1__DriveDestination drive =
      GOOGLE__EARTHENGINE__V1__DRIVE_DESTINATION__INIT;
  drive.folder = "exports";
  drive.filename_prefix = "five";
  Google__Earthengine__V1__ImageFileExportOptions file =
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__INIT;
  file.file_format = GOOGLE__EARTHENGINE__V1__IMAGE_FILE_FORMAT__GEO_TIFF;
  file.destination_case =
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION_DRIVE_DESTINATION;
  file.drive_destination = &drive;
  Google__Earthengine__V1__ExportImageRequest req =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__INIT;
  req.description = "five"; /* project: from EE_PROJECT; requestId: a UUIDv4 the client sets */
  req.expression = &expr;
  req.export_options_case =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_FILE_EXPORT_OPTIONS;
  req.file_export_options = &file;

  Google__Longrunning__Operation *op = NULL, *done = NULL;
  int rc = 0;
  if (ee_client_export_image(client, &req, NULL, &op, &st) != EE_OK ||
      ee_client_wait_done(client, op->name, 60000, on_progress, NULL, &done, &st) != EE_OK) {
    fprintf(stderr, "error: %s: %s\n", ee_code_name(st.code), st.message);
    rc = 1;
  } else {
    printf(
        "%s %s\n", done->name,
        done->result_case == GOOGLE__LONGRUNNING__OPERATION__RESULT_ERROR ? "failed" : "succeeded");
  }
  ee_message_free(op);
  ee_message_free(done);
  ee_client_free(client);
  return rc;
}
