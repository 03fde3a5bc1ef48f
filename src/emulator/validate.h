/* ee-emulator: ExportImageRequest validation, as the service does it before it queues
 * a task. Every failure is INVALID_ARGUMENT with a message that starts with the JSON path
 * of the offending field (e.g. `expression.values["0"].valueReference: ...`). */
#ifndef EMU_VALIDATE_H
#define EMU_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include "google/earthengine/v1/earthengine.pb-c.h"

#include "emu.h"

#define EMU_MAX_REQUEST_ID 60
#define EMU_MAX_NODE_DEPTH 128 /* ValueNode nesting inside one graph node */

/* What the store needs from a valid request, derived once here. */
typedef struct emu_export_plan {
  int32_t priority;
  int64_t max_pixels;
  int64_t pixels; /* width * height of the grid; -1 when the grid gives none */
  char dest_uri[2 * EMU_MAX_NAME];
  const char *asset_name; /* borrowed from the request; NULL for file exports */
  bool overwrite;
} emu_export_plan;

/* Checks req; on success fills *plan. */
ee_code emu_validate_export(const Google__Earthengine__V1__ExportImageRequest *req,
                            emu_export_plan *plan, ee_status *st);

/* True when name is projects/{id} with a well-formed id. */
bool emu_valid_project(const char *name);

/* True when name is projects/{id}/operations/{op-id}. */
bool emu_valid_operation_name(const char *name);

#endif
