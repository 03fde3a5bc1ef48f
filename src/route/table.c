/* Route table lookups: by gRPC path, and protoc's json_name of a field. */
#include <stdio.h>
#include <string.h>

#include "eei_routes.h"
#include "route_internal.h"

const ee_route_table *ee_route_table_default(void) {
  return &eei_routes;
}

const ee_route *ee_route_find(const ee_route_table *table, const char *grpc_path) {
  size_t lo = 0, hi = table && grpc_path ? table->n_routes : 0;
  while (lo < hi) { /* routes are sorted by grpc_path (the plugin sorts them) */
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(grpc_path, table->routes[mid].grpc_path);
    if (c == 0) return &table->routes[mid];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

static const ee_route_json_message *find_message(const ee_route_table *t,
                                                 const ProtobufCMessageDescriptor *desc) {
  size_t lo = 0, hi = t ? t->n_messages : 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(desc->name, t->messages[mid].full_name);
    if (c == 0) return &t->messages[mid];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

const char *eei_route_json_name_ptr(const ee_route_table *table,
                                    const ProtobufCMessageDescriptor *desc,
                                    const ProtobufCFieldDescriptor *field) {
  const ee_route_json_message *m = find_message(table, desc);
  if (!m && table != &eei_routes) m = find_message(&eei_routes, desc); /* WKTs, API types */
  for (size_t i = 0; m && i < m->n_fields; i++)
    if (m->fields[i].number == field->id) return m->fields[i].json_name;
  return NULL;
}

size_t ee_route_json_name(const ee_route_table *table, const ProtobufCMessageDescriptor *desc,
                          const ProtobufCFieldDescriptor *field, char *out, size_t out_size) {
  const char *j = eei_route_json_name_ptr(table, desc, field);
  if (!j) return ee_json_name(field->name, out, out_size); /* protoc's rule */
  if (out_size) snprintf(out, out_size, "%s", j);
  return strlen(j);
}

const ProtobufCFieldDescriptor *eei_route_field_lookup(const ee_route_table *table,
                                                       const ProtobufCMessageDescriptor *desc,
                                                       const char *name, size_t n) {
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    char jn[256];
    size_t jl = ee_route_json_name(table, desc, f, jn, sizeof jn);
    if ((strlen(f->name) == n && memcmp(f->name, name, n) == 0) ||
        (jl == n && memcmp(jn, name, n) == 0))
      return f;
  }
  return NULL;
}
