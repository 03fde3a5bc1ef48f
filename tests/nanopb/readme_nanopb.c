#include <string.h>

#include <pb_encode.h>

#include "ee/nanopb.h"

/* The expression graph is written by callbacks: Image.constant(5) as node "0". */
static bool write_str(pb_ostream_t *s, const pb_field_t *f, void *const *arg) {
  const char *str = *arg;
  return pb_encode_tag_for_field(s, f) && pb_encode_string(s, (const pb_byte_t *)str, strlen(str));
}

static bool write_args(pb_ostream_t *s, const pb_field_t *f, void *const *arg) {
  (void)arg;
  google_earthengine_v1_FunctionInvocation_ArgumentsEntry e =
      google_earthengine_v1_FunctionInvocation_ArgumentsEntry_init_zero;
  e.key.funcs.encode = write_str;
  e.key.arg = "value";
  e.has_value = true;
  e.value.which_kind = google_earthengine_v1_ValueNode_constant_value_tag;
  e.value.kind.constant_value.which_kind = google_protobuf_Value_number_value_tag;
  e.value.kind.constant_value.kind.number_value = 5;
  return pb_encode_tag_for_field(s, f) &&
         pb_encode_submessage(s, google_earthengine_v1_FunctionInvocation_ArgumentsEntry_fields,
                              &e);
}

static bool write_values(pb_ostream_t *s, const pb_field_t *f, void *const *arg) {
  (void)arg;
  google_earthengine_v1_Expression_ValuesEntry e =
      google_earthengine_v1_Expression_ValuesEntry_init_zero;
  e.key.funcs.encode = write_str;
  e.key.arg = "0";
  e.has_value = true;
  e.value.which_kind = google_earthengine_v1_ValueNode_function_invocation_value_tag;
  google_earthengine_v1_FunctionInvocation *call = &e.value.kind.function_invocation_value;
  call->which_function = google_earthengine_v1_FunctionInvocation_function_name_tag;
  strcpy(call->function.function_name, "Image.constant");
  call->arguments.funcs.encode = write_args;
  return pb_encode_tag_for_field(s, f) &&
         pb_encode_submessage(s, google_earthengine_v1_Expression_ValuesEntry_fields, &e);
}

/* Exports to Drive over the client's gRPC transport; every struct is in static memory. */
ee_code export_with_nanopb(ee_client *c, const char *project, const char *request_id,
                           google_longrunning_Operation *op, ee_status *st);
ee_code export_with_nanopb(ee_client *c, const char *project, const char *request_id,
                           google_longrunning_Operation *op, ee_status *st) {
  static google_earthengine_v1_ExportImageRequest req;
  static uint8_t wire[2048];
  ee_buf reply = EE_BUF_INIT; /* the reply's bytes, reused across calls */
  memset(&req, 0, sizeof req);
  strcpy(req.project, project); /* "projects/ID": the raw path fills no default */
  strcpy(req.request_id, request_id);
  strcpy(req.description, "nanopb export");
  req.has_expression = true;
  req.expression.values.funcs.encode = write_values;
  strcpy(req.expression.result, "0");
  req.which_export_options = google_earthengine_v1_ExportImageRequest_file_export_options_tag;
  google_earthengine_v1_ImageFileExportOptions *file = &req.export_options.file_export_options;
  file->file_format = google_earthengine_v1_ImageFileFormat_GEO_TIFF;
  file->which_destination = google_earthengine_v1_ImageFileExportOptions_drive_destination_tag;
  strcpy(file->destination.drive_destination.folder, "exports");
  ee_code rc = ee_nanopb_export_image(c, &req, wire, sizeof wire, NULL, &reply, op, st);
  ee_buf_free(&reply);
  return rc;
}
