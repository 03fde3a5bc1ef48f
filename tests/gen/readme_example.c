/* The library example of README.md, compiled against an install by check_install.sh. */
#include <stdio.h>
#include <string.h>

#include <ee/json.h>
#include <ee/route.h>
#include <google/earthengine/v1/earthengine.pb-c.h>

int main(void) {
  const char *json =
      "{\"project\":\"projects/my-proj\",\"description\":\"demo\","
      "\"expression\":{\"values\":{\"0\":{\"constantValue\":5}},\"result\":\"0\"},"
      "\"maxPixels\":{\"value\":\"1000000\"}}";
  ee_status st;
  ee_json_decode_options opts = EE_JSON_DECODE_OPTIONS_INIT;
  opts.accept_wrapper_objects = true; /* the {"value": x} form Earth Engine clients send */
  ProtobufCMessage *req = NULL;
  if (ee_json_decode(&google__earthengine__v1__export_image_request__descriptor, json, strlen(json),
                     &opts, &req, &st) != EE_OK) {
    fprintf(stderr, "error: %s: %s\n", ee_code_name(st.code), st.message);
    return 2;
  }
  /* The REST form of the call, from the route generated out of google.api.http. */
  const ee_route *route =
      ee_route_find(ee_route_table_default(), "/google.earthengine.v1.EarthEngine/ExportImage");
  ee_http_request http;
  ee_http_request_init(&http);
  if (ee_route_to_http(route, req, NULL, &http, &st) == EE_OK)
    printf("%s %s\n%s\n", http.method, http.target.data, http.body.data);
  ee_http_request_free(&http);
  protobuf_c_message_free_unpacked(req, NULL);
  return st.code == EE_OK ? 0 : 1;
}
