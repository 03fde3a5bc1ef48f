/* The client tests' ExportImageRequest (see export_fixture.h). */
#include "export_fixture.h"

void export_fixture_init(export_fixture *e, const char *project, const char *folder) {
  google__earthengine__v1__export_image_request__init(&e->req);
  google__earthengine__v1__expression__init(&e->expr);
  google__earthengine__v1__expression__values_entry__init(&e->entry);
  google__earthengine__v1__value_node__init(&e->node);
  google__protobuf__value__init(&e->constant);
  google__earthengine__v1__image_file_export_options__init(&e->file);
  google__earthengine__v1__drive_destination__init(&e->drive);
  e->constant.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
  e->constant.number_value = 5;
  e->node.kind_case = GOOGLE__EARTHENGINE__V1__VALUE_NODE__KIND_CONSTANT_VALUE;
  e->node.constant_value = &e->constant;
  e->entry.key = "0";
  e->entry.value = &e->node;
  e->entries[0] = &e->entry;
  e->expr.n_values = 1;
  e->expr.values = e->entries;
  e->expr.result = "0";
  e->drive.folder = (char *)folder;
  e->file.file_format = GOOGLE__EARTHENGINE__V1__IMAGE_FILE_FORMAT__GEO_TIFF;
  e->file.destination_case =
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION_DRIVE_DESTINATION;
  e->file.drive_destination = &e->drive;
  e->req.project = (char *)project;
  e->req.expression = &e->expr;
  e->req.export_options_case =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_FILE_EXPORT_OPTIONS;
  e->req.file_export_options = &e->file;
}
