/* A user program built against an installed eeclient (tests/gen/check_install.sh). */
#include <stdio.h>
#include <string.h>

#include <ee/status.h>
#include <google/earthengine/v1/earthengine.pb-c.h>

int main(void) {
  Google__Earthengine__V1__ExportImageRequest req =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__INIT;
  req.project = "projects/p";
  size_t n = protobuf_c_message_get_packed_size(&req.base);
  if (n == 0 || strcmp(ee_code_name(EE_NOT_FOUND), "NOT_FOUND") != 0) return 1;
  printf("eeclient ok %s (%zu bytes)\n", ee_version(), n);
  return 0;
}
