/* The request as it will be sent: the client's defaults filled in (project, requestId)
 * and local checks done, so a bad request fails here, naming its field, with nothing
 * sent. Route patterns are checked when the transport prepares the call. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "client_internal.h"

typedef Google__Earthengine__V1__ExportImageRequest ExportReq;

/* Random bytes for request ids from a per-thread buffer: one getrandom call per 16 ids,
 * not one per call (a syscall costs more than the rest of the id on a VM). */
static void random_bytes(unsigned char *out, size_t n) {
  static _Thread_local unsigned char pool[256];
  static _Thread_local size_t left;
  while (n) {
    if (!left) {
      size_t got = 0;
      while (got < sizeof pool) {
        ssize_t k = getrandom(pool + got, sizeof pool - got, 0);
        if (k <= 0) break;
        got += (size_t)k;
      }
      for (; got < sizeof pool; got += 8) { /* getrandom does not fail on Linux >= 3.17 */
        uint64_t r = eei_random64();
        memcpy(pool + got, &r, sizeof pool - got < 8 ? sizeof pool - got : 8);
      }
      left = sizeof pool;
    }
    size_t take = n < left ? n : left;
    memcpy(out, pool + sizeof pool - left, take);
    memset(pool + sizeof pool - left, 0, take); /* used bytes do not stay behind */
    left -= take;
    out += take;
    n -= take;
  }
}

void ee_uuid4(char out[37]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char b[16];
  random_bytes(b, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  size_t o = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = hex[b[i] >> 4];
    out[o++] = hex[b[i] & 15];
  }
  out[o] = '\0';
}

static bool empty(const char *s) {
  return !s || !s[0];
}

static ee_code check_request_id(const char *id, ee_status *st) {
  size_t n = strlen(id);
  if (n > EE_REQUEST_ID_MAX)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "requestId: %zu characters, at most %d allowed",
                         n, EE_REQUEST_ID_MAX);
  for (size_t i = 0; i < n; i++) {
    char ch = id[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-';
    if (!ok)
      return ee_status_set(st, EE_INVALID_ARGUMENT,
                           "requestId: character %zu (0x%02x) is not one of [A-Za-z0-9-]", i,
                           (unsigned char)ch);
  }
  return EE_OK;
}

static ee_code check_file_options(const Google__Earthengine__V1__ImageFileExportOptions *f,
                                  ee_status *st) {
  if (f->destination_case ==
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION__NOT_SET)
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "fileExportOptions: a destination is required (driveDestination or "
                         "cloudStorageDestination)");
  if (f->destination_case ==
          GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION_CLOUD_STORAGE_DESTINATION &&
      empty(f->cloud_storage_destination->bucket))
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "fileExportOptions.cloudStorageDestination.bucket: required");
  return EE_OK;
}

static ee_code check_asset_options(const Google__Earthengine__V1__ImageAssetExportOptions *a,
                                   ee_status *st) {
  if (a->destination_case !=
          GOOGLE__EARTHENGINE__V1__IMAGE_ASSET_EXPORT_OPTIONS__DESTINATION_EARTH_ENGINE_DESTINATION ||
      empty(a->earth_engine_destination->name))
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "assetExportOptions.earthEngineDestination.name: required");
  return EE_OK;
}

ee_code eei_validate_export(const ExportReq *r, ee_status *st) {
  if (empty(r->project))
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "project: required (\"projects/ID\"; or set the client's project)");
  if (!r->expression) return ee_status_set(st, EE_INVALID_ARGUMENT, "expression: required");
  if (!empty(r->request_id) && check_request_id(r->request_id, st) != EE_OK)
    return EE_INVALID_ARGUMENT; /* st may be NULL */
  if (r->priority && (r->priority->value < 0 || r->priority->value > 9999))
    return ee_status_set(st, EE_INVALID_ARGUMENT, "priority: %d is outside 0..9999",
                         (int)r->priority->value);
  if (r->max_pixels && r->max_pixels->value <= 0)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "maxPixels: %lld is not positive",
                         (long long)r->max_pixels->value);
  switch (r->export_options_case) {
    case GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_FILE_EXPORT_OPTIONS:
      return check_file_options(r->file_export_options, st);
    case GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_ASSET_EXPORT_OPTIONS:
      return check_asset_options(r->asset_export_options, st);
    default:
      return ee_status_set(st, EE_INVALID_ARGUMENT,
                           "exactly one destination is required: fileExportOptions or "
                           "assetExportOptions");
  }
}

static void *shallow_copy(const ProtobufCMessage *m, ee_status *st) {
  void *copy = malloc(m->descriptor->sizeof_message);
  if (!copy)
    ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  else
    memcpy(copy, m, m->descriptor->sizeof_message);
  return copy;
}

static ee_code effective_export(ee_client *c, const ExportReq *r, const ProtobufCMessage **eff,
                                void **owned, char *request_id, ee_status *st) {
  bool fill_project = empty(r->project) && c->opts.project;
  bool fill_id = empty(r->request_id) && !c->opts.no_auto_request_id;
  const ExportReq *use = r;
  if (fill_project || fill_id) {
    ExportReq *copy = shallow_copy(&r->base, st);
    if (!copy) return EE_RESOURCE_EXHAUSTED;
    if (fill_project) copy->project = (char *)c->opts.project;
    if (fill_id) {
      ee_uuid4(request_id);
      copy->request_id = request_id;
    }
    *owned = copy;
    use = copy;
  }
  *eff = &use->base;
  return eei_validate_export(use, st);
}

static ee_code effective_list(ee_client *c, const Google__Longrunning__ListOperationsRequest *r,
                              const ProtobufCMessage **eff, void **owned, ee_status *st) {
  if (!empty(r->name) || !c->opts.project) return EE_OK;
  Google__Longrunning__ListOperationsRequest *copy = shallow_copy(&r->base, st);
  if (!copy) return EE_RESOURCE_EXHAUSTED;
  copy->name = (char *)c->opts.project;
  *owned = copy;
  *eff = &copy->base;
  return EE_OK;
}

ee_code eei_request_effective(ee_client *c, const ee_route *route, const ProtobufCMessage *req,
                              const ProtobufCMessage **effective, void **owned,
                              char request_id[EE_REQUEST_ID_MAX + 1], ee_status *st) {
  ee_code rc = EE_OK;
  *effective = req;
  *owned = NULL;
  if (!req || req->descriptor != route->request)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s takes a %s", route->grpc_path,
                         route->request->name);
  if (req->descriptor == &google__earthengine__v1__export_image_request__descriptor)
    rc = effective_export(c, (const ExportReq *)req, effective, owned, request_id, st);
  else if (req->descriptor == &google__longrunning__list_operations_request__descriptor)
    rc = effective_list(c, (const void *)req, effective, owned, st);
  if (rc != EE_OK) {
    free(*owned);
    *owned = NULL;
  }
  return rc;
}
