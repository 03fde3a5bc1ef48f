#include "test_support.h"

#include <stdlib.h>
#include <string.h>

#include "eei_test_routes.h"
#include "randmsg.h"
#include "route_internal.h"

/* The test table, its JSON names (custom json_name options) given to the codec first so
 * that bodies and query parameters use the same names. */
const ee_route_table *rt_test_table(void) {
  static bool named;
  if (!named && ee_json_add_names(&eei_test_routes, NULL) != EE_OK) {
    fprintf(stderr, "rt_test_table: ee_json_add_names failed\n");
    abort();
  }
  named = true;
  return &eei_test_routes;
}

/* A new last element of a repeated message field (or map: an entry). */
static ProtobufCMessage *append_message(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  size_t *n = EEI_QUANT_PTR(m, f);
  ProtobufCMessage ***arr = EEI_FIELD_PTR(m, f);
  ProtobufCMessage **grown = realloc(*arr, (*n + 1) * sizeof *grown);
  if (!grown) return NULL;
  *arr = grown;
  grown[*n] = eei_route_new_message(f->descriptor, NULL);
  return grown[(*n)++];
}

static bool set_one(ProtobufCMessage *m, const char *path, const char *value) {
  char buf[512];
  ee_status st;
  snprintf(buf, sizeof buf, "%s", path);
  char *save = NULL, *part = strtok_r(buf, ".", &save);
  while (part) {
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, part);
    char *next = strtok_r(NULL, ".", &save);
    if (!f) {
      fprintf(stderr, "rt_make: no field '%s' in %s\n", part, m->descriptor->name);
      return false;
    }
    if (!next) {
      ee_code rc = f->type == PROTOBUF_C_TYPE_MESSAGE
                       ? eei_route_set_wkt_text(m, f, value, path, NULL, &st)
                       : eei_route_set_text(m, f, value, path, NULL, &st);
      if (rc != EE_OK) fprintf(stderr, "rt_make: %s\n", st.message);
      return rc == EE_OK;
    }
    m = f->label == PROTOBUF_C_LABEL_REPEATED ? append_message(m, f)
                                              : eei_route_mutable_message(m, f, NULL);
    if (!m) return false;
    part = next;
  }
  return false;
}

ProtobufCMessage *rt_make(const ProtobufCMessageDescriptor *d, const char *fields) {
  ProtobufCMessage *m = eei_route_new_message(d, NULL);
  char *copy = strdup(fields ? fields : "");
  char *save = NULL;
  for (char *item = strtok_r(copy, "|", &save); item && m; item = strtok_r(NULL, "|", &save)) {
    char *eq = strchr(item, '=');
    if (!eq) continue;
    *eq = '\0';
    if (!set_one(m, item, eq + 1)) {
      protobuf_c_message_free_unpacked(m, NULL);
      m = NULL;
    }
  }
  free(copy);
  return m;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *n) {
  *n = protobuf_c_message_get_packed_size(m);
  uint8_t *b = malloc(*n ? *n : 1);
  protobuf_c_message_pack(m, b);
  return b;
}

bool rt_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *label) {
  size_t na, nb;
  uint8_t *pa = pack(a, &na), *pb = pack(b, &nb);
  bool eq = a->descriptor == b->descriptor && na == nb && memcmp(pa, pb, na) == 0;
  if (!eq) {
    fprintf(stderr, "--- %s: expected\n", label);
    ee_test_dump(a, stderr);
    fprintf(stderr, "--- got\n");
    ee_test_dump(b, stderr);
  }
  free(pa);
  free(pb);
  return eq;
}
