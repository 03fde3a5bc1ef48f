/* Round trips request -> HTTP -> request for random requests of every routed method:
 *   test_routes_roundtrip query N   methods whose binding has no body (no JSON needed),
 *                                   and query parameters only for the rest
 *   test_routes_roundtrip all N     every method of gen/routes and gen/test/routes
 * The random requests hold only what the binding can carry: path values that fit their
 * patterns, and (outside a body) no maps or repeated messages. */
#include <stdlib.h>
#include <string.h>

#include "randmsg.h"
#include "route_internal.h"
#include "test_support.h"

static bool g_json; /* body methods and Duration/Timestamp/FieldMask need the JSON codec */

static unsigned pick(ee_test_rng *r, unsigned n) {
  return (unsigned)(ee_test_rng_next(r) % n);
}

static const char *const string_pieces[] = {"a",
                                            "Z",
                                            "0",
                                            " ",
                                            "&",
                                            "=",
                                            "+",
                                            "%",
                                            "?",
                                            "#",
                                            ":",
                                            "\xC3\xA9",
                                            "\xE5\xAD\x97",
                                            "\xF0\x9F\x98\x80",
                                            "-",
                                            "_",
                                            ".",
                                            "~",
                                            "%2F",
                                            "\"",
                                            "\\",
                                            "'",
                                            "!",
                                            ";",
                                            ",",
                                            "@"};

static void random_string(ee_test_rng *r, char *out, size_t cap, bool allow_slash) {
  size_t n = 0, len = pick(r, 9);
  out[0] = '\0';
  for (size_t i = 0; i < len; i++) {
    const char *p = allow_slash && pick(r, 6) == 0
                        ? "/"
                        : string_pieces[pick(r, sizeof string_pieces / sizeof *string_pieces)];
    if (n + strlen(p) + 1 >= cap) break;
    strcpy(out + n, p);
    n += strlen(p);
  }
}

static void random_text(ee_test_rng *r, const ProtobufCFieldDescriptor *f, char *out, size_t cap) {
  static const char *const ints[] = {"0", "1", "-1", "2147483647", "-2147483648", "42", "-7"};
  static const char *const i64[] = {"9223372036854775807", "-9223372036854775808",
                                    "9007199254740993"};
  static const char *const uints[] = {"0", "1", "4294967295", "7"};
  static const char *const u64[] = {"18446744073709551615", "9007199254740993"};
  static const char *const reals[] = {"0.1",      "1.5",       "-2.25", "1e+20",         "NaN",
                                      "Infinity", "-Infinity", "-0",    "3.4028235e+38", "1e-07"};
  static const char *const b64[] = {"", "AA==", "+/8=", "aGVsbG8gd29ybGQ=", "/w=="};
#define ONE_OF(a) snprintf(out, cap, "%s", a[pick(r, sizeof a / sizeof *a)])
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: ONE_OF(ints); break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      if (pick(r, 2))
        ONE_OF(ints);
      else
        ONE_OF(i64);
      break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: ONE_OF(uints); break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      if (pick(r, 2))
        ONE_OF(uints);
      else
        ONE_OF(u64);
      break;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: ONE_OF(reals); break;
    case PROTOBUF_C_TYPE_BOOL: snprintf(out, cap, "%s", pick(r, 2) ? "true" : "false"); break;
    case PROTOBUF_C_TYPE_ENUM: {
      const ProtobufCEnumDescriptor *e = f->descriptor;
      snprintf(out, cap, "%s", e->values[pick(r, e->n_values)].name);
      break;
    }
    case PROTOBUF_C_TYPE_BYTES: ONE_OF(b64); break;
    default: random_string(r, out, cap, true); break;
  }
#undef ONE_OF
}

static void fill(ProtobufCMessage *m, ee_test_rng *r, int depth, bool body);

/* Appends a new element to a repeated message field (maps: keys stay unique). */
static void add_element(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, ee_test_rng *r,
                        int depth) {
  size_t *n = EEI_QUANT_PTR(m, f);
  ProtobufCMessage ***arr = EEI_FIELD_PTR(m, f);
  ProtobufCMessage **grown = realloc(*arr, (*n + 1) * sizeof *grown);
  if (!grown) return;
  *arr = grown;
  ProtobufCMessage *e = eei_route_new_message(f->descriptor, NULL);
  grown[(*n)++] = e;
  if (ee_test_is_map_entry(f->descriptor)) {
    const ProtobufCFieldDescriptor *k = &e->descriptor->fields[0];
    char key[32];
    if (k->type == PROTOBUF_C_TYPE_STRING)
      snprintf(key, sizeof key, "k%zu", *n);
    else if (k->type == PROTOBUF_C_TYPE_BOOL)
      snprintf(key, sizeof key, "%s", *n == 1 ? "true" : "false");
    else
      snprintf(key, sizeof key, "%zu", *n);
    eei_route_set_text(e, k, key, "key", NULL, NULL);
    const ProtobufCFieldDescriptor *v = &e->descriptor->fields[1];
    if (v->type == PROTOBUF_C_TYPE_MESSAGE) {
      ProtobufCMessage *sub = eei_route_mutable_message(e, v, NULL);
      if (sub) fill(sub, r, depth + 1, true);
    } else {
      char t[128];
      random_text(r, v, t, sizeof t);
      eei_route_set_text(e, v, t, "value", NULL, NULL);
    }
    return;
  }
  fill(e, r, depth + 1, true);
}

static bool fillable_message(const ProtobufCMessageDescriptor *d) {
  if (strncmp(d->name, "google.protobuf.", 16) != 0) return true;
  if (eei_route_is_wrapper(d)) return true;
  return g_json && eei_route_is_scalar_wkt(d);
}

static void fill_wkt(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, ee_test_rng *r) {
  static const char *const durations[] = {"1.5s", "-3s", "0.000000001s", "315576000000s", "0s"};
  static const char *const stamps[] = {"2024-01-02T03:04:05Z", "1970-01-01T00:00:00.123Z",
                                       "9999-12-31T23:59:59.999999999Z"};
  static const char *const masks[] = {"a", "fooBar.baz", "a,bC.dE"};
  const ProtobufCMessageDescriptor *d = f->descriptor;
  char text[128];
  if (eei_route_is_wrapper(d))
    random_text(r, &d->fields[0], text, sizeof text);
  else if (strstr(d->name, "Duration"))
    snprintf(text, sizeof text, "%s", durations[pick(r, 5)]);
  else if (strstr(d->name, "Timestamp"))
    snprintf(text, sizeof text, "%s", stamps[pick(r, 3)]);
  else
    snprintf(text, sizeof text, "%s", masks[pick(r, 3)]);
  ee_json_decode_options o = EE_JSON_DECODE_OPTIONS_INIT;
  eei_route_set_wkt_text(m, f, text, f->name, &o, NULL); /* a oneof clash just skips it */
}

static void fill(ProtobufCMessage *m, ee_test_rng *r, int depth, bool body) {
  for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
    if (pick(r, 3) == 0) continue;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
      if (!fillable_message(f->descriptor) || depth >= 3) continue;
      if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!body || !g_json) continue;
        for (unsigned k = 1 + pick(r, 2); k > 0; k--) add_element(m, f, r, depth);
      } else if (eei_route_is_scalar_wkt(f->descriptor)) {
        fill_wkt(m, f, r);
      } else {
        ProtobufCMessage *sub = eei_route_mutable_message(m, f, NULL);
        if (sub) fill(sub, r, depth + 1, body);
        /* A query cannot say "present but empty": drop such messages outside a body. */
        if (sub && !body && protobuf_c_message_get_packed_size(sub) == 0) {
          protobuf_c_message_free_unpacked(sub, NULL);
          *(ProtobufCMessage **)EEI_FIELD_PTR(m, f) = NULL;
          if (eei_route_is_oneof(f)) *(uint32_t *)EEI_QUANT_PTR(m, f) = 0;
        }
      }
      continue;
    }
    for (unsigned k = f->label == PROTOBUF_C_LABEL_REPEATED ? 1 + pick(r, 3) : 1; k > 0; k--) {
      char t[128];
      random_text(r, f, t, sizeof t);
      eei_route_set_text(m, f, t, f->name, NULL, NULL); /* a oneof clash just skips it */
    }
  }
}

/* A value that fits the variable's segments. */
static void path_value(ee_test_rng *r, const ee_route_template *t, const ee_route_variable *v,
                       char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  bool single =
      v->seg_end - v->seg_begin == 1 && t->segments[v->seg_begin].kind == EE_ROUTE_SEG_STAR;
  for (size_t i = v->seg_begin; i < v->seg_end; i++) {
    const ee_route_segment *s = &t->segments[i];
    /* ** takes 1-3 segments: with none, GetOperation's "projects/p/operations" is
     * ListOperations' path (the API is ambiguous there; tests/routes/test_routes.c
     * covers zero-segment matches on their own). */
    unsigned reps = s->kind == EE_ROUTE_SEG_DOUBLE_STAR ? 1 + pick(r, 3) : 1;
    for (unsigned k = 0; k < reps; k++) {
      char seg[96];
      if (s->kind == EE_ROUTE_SEG_LITERAL)
        snprintf(seg, sizeof seg, "%s", s->literal);
      else {
        do random_string(r, seg, sizeof seg, single);
        while (!seg[0] || !strcmp(seg, ".") || !strcmp(seg, ".."));
      }
      n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "/" : "", seg);
    }
  }
}

static ProtobufCMessage *random_request(const ee_route *route, const ee_http_binding *b,
                                        ee_test_rng *r) {
  ProtobufCMessage *m = eei_route_new_message(route->request, NULL);
  fill(m, r, 0, b->body != NULL);
  for (size_t i = 0; i < b->path.n_variables; i++) {
    const ee_route_variable *v = &b->path.variables[i];
    ProtobufCMessage *holder = m;
    for (size_t k = 0; k + 1 < v->n_field_names && holder; k++)
      holder = eei_route_mutable_message(
          holder,
          protobuf_c_message_descriptor_get_field_by_name(holder->descriptor, v->field_names[k]),
          NULL);
    const ProtobufCFieldDescriptor *f =
        holder ? protobuf_c_message_descriptor_get_field_by_name(
                     holder->descriptor, v->field_names[v->n_field_names - 1])
               : NULL;
    char val[512];
    path_value(r, &b->path, v, val, sizeof val);
    if (!f || eei_route_set_text(holder, f, val, v->field_path, NULL, NULL) != EE_OK) {
      protobuf_c_message_free_unpacked(m, NULL);
      return NULL;
    }
  }
  return m;
}

static void roundtrip(const ee_route_table *t, const ee_route *route, ee_test_rng *r, int iters) {
  const ee_http_binding *b = &route->bindings[0];
  if (b->body && !g_json) return;
  for (int i = 0; i < iters; i++) {
    ProtobufCMessage *m = random_request(route, b, r);
    ee_http_request h;
    ee_route_match mt = {0};
    ee_status st;
    ee_http_request_init(&h);
    CHECK(m != NULL, "%s: random request", route->grpc_path);
    if (!m) continue;
    ee_code rc = ee_route_to_http(route, m, NULL, &h, &st);
    CHECK(rc == EE_OK, "%s: to_http: %s", route->grpc_path, st.message);
    if (rc == EE_OK) {
      const char *q = memchr(h.target.data, '?', h.target.len);
      rc = ee_route_from_http(t, h.method, h.target.data, h.path_len, q ? q + 1 : NULL,
                              q ? h.target.len - h.path_len - 1 : 0,
                              h.has_body ? h.body.data : NULL, h.body.len, NULL, &mt, &st);
      CHECK(rc == EE_OK, "%s: from_http %s %s: %s", route->grpc_path, h.method, h.target.data,
            st.message);
    }
    if (rc == EE_OK && b->body && strcmp(b->body, "*") != 0) {
      /* An unset body message travels as {} and arrives as an empty message (route.h). */
      const ProtobufCFieldDescriptor *f =
          protobuf_c_message_descriptor_get_field_by_name(m->descriptor, b->body);
      if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED)
        eei_route_mutable_message(m, f, NULL);
    }
    if (rc == EE_OK) {
      CHECK(mt.route == route, "%s: routed to %s (%s)", route->grpc_path, mt.route->grpc_path,
            h.target.data);
      CHECK(rt_equal(m, mt.request, route->grpc_path), "%s: %s %s body %s", route->grpc_path,
            h.method, h.target.data, h.has_body ? h.body.data : "-");
    }
    if (mt.request) protobuf_c_message_free_unpacked(mt.request, NULL);
    ee_http_request_free(&h);
    protobuf_c_message_free_unpacked(m, NULL);
  }
}

int main(int argc, char **argv) {
  rt_test_table(); /* the test protos' JSON names, before any encode or decode */
  if (argc < 3) {
    fprintf(stderr, "usage: test_routes_roundtrip query|all ITERATIONS\n");
    return 2;
  }
  g_json = strcmp(argv[1], "all") == 0;
  int iters = atoi(argv[2]);
  ee_test_rng rng = {0x9E3779B97F4A7C15ull};
  const ee_route_table *tables[] = {ee_route_table_default(), rt_test_table()};
  size_t methods = 0;
  for (size_t k = 0; k < 2; k++)
    for (size_t i = 0; i < tables[k]->n_routes; i++) {
      const ee_route *route = &tables[k]->routes[i];
      if (route->bindings[0].body && !g_json) continue;
      roundtrip(tables[k], route, &rng, iters);
      methods++;
    }
  printf("%zu methods x %d requests\n", methods, iters);
  return check_report("test_roundtrip");
}
