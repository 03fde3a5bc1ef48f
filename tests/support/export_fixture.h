/* The ExportImageRequest the client tests send: Image.constant(5) to Drive as GeoTIFF,
 * every part in caller storage (nothing to free). */
#ifndef EE_TEST_EXPORT_FIXTURE_H
#define EE_TEST_EXPORT_FIXTURE_H

#include "google/earthengine/v1/earthengine.pb-c.h"

typedef struct export_fixture {
  Google__Earthengine__V1__ExportImageRequest req;
  Google__Earthengine__V1__Expression expr;
  Google__Earthengine__V1__Expression__ValuesEntry entry, *entries[1];
  Google__Earthengine__V1__ValueNode node;
  Google__Protobuf__Value constant;
  Google__Earthengine__V1__ImageFileExportOptions file;
  Google__Earthengine__V1__DriveDestination drive;
} export_fixture;

/* Fills e for project and the Drive folder (both kept by pointer, not copied). Callers
 * change what their test needs afterwards (e->req.request_id, e->expr.result, ...). */
void export_fixture_init(export_fixture *e, const char *project, const char *folder);

#endif
