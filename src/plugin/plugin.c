/* protoc-gen-ee-routes: emits the route table of every google.api.http-annotated method,
 * and protoc's json_name of every field, as C source for the route layer.
 *
 *   protoc --plugin=protoc-gen-ee-routes=PATH --ee-routes_out=[table=SYMBOL:]DIR FILES...
 *
 * writes DIR/SYMBOL.h and DIR/SYMBOL.c (SYMBOL defaults to eei_routes) defining
 * `const ee_route_table SYMBOL`. protobuf-c keeps no options in its descriptors, so this
 * is where the HttpRule (an unknown field of MethodOptions) and json_name reach C.
 * Output depends only on the input: routes sorted by gRPC path, messages by full name. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ee/buf.h"
#include "ee/route.h"
#include "ee/status.h"
#include "google/api/http.pb-c.h"
#include "google/protobuf/compiler/plugin.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"

#define HTTP_OPTION_FIELD 72295728u
#define MAX_REQUEST_BYTES ((size_t)256 << 20)

typedef Google__Protobuf__Compiler__CodeGeneratorRequest CodeGenRequest;
typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__DescriptorProto MsgProto;
typedef Google__Protobuf__FieldDescriptorProto FieldProto;
typedef Google__Protobuf__MethodDescriptorProto MethodProto;
typedef Google__Api__HttpRule HttpRule;

/* Every message of every file protoc handed us, by full name ("pkg.Outer.Inner"). */
typedef struct msg_entry {
  char *full_name;
  const MsgProto *msg;
  const FileProto *file;
  bool generate; /* defined in a file_to_generate: gets a JSON name table */
} msg_entry;

typedef struct binding_out {
  const char *method;
  const char *body;
  const char *response_body;
  ee_route_template *tmpl;
} binding_out;

typedef struct route_out {
  char *grpc_path, *service, *method;
  const msg_entry *req, *resp;
  binding_out *bindings;
  size_t n_bindings;
  HttpRule *rule; /* owns the strings the bindings point to */
} route_out;

typedef struct model {
  msg_entry *msgs;
  size_t n_msgs, cap_msgs;
  route_out *routes;
  size_t n_routes, cap_routes;
  char table[128];
} model;

/* ------------------------------------------------------------------------------------
 * Input
 * ---------------------------------------------------------------------------------- */

static ee_code read_all(FILE *f, ee_buf *b, ee_status *st) {
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    ee_code rc = ee_buf_append(b, chunk, n, st);
    if (rc != EE_OK) return rc;
  }
  if (ferror(f)) return ee_status_set(st, EE_INTERNAL, "reading the CodeGeneratorRequest failed");
  return EE_OK;
}

static char *join_name(const char *prefix, const char *name) {
  size_t a = strlen(prefix), b = strlen(name);
  char *s = malloc(a + b + 2);
  if (!s) return NULL;
  if (a) {
    memcpy(s, prefix, a);
    s[a++] = '.';
  }
  memcpy(s + a, name, b + 1);
  return s;
}

static ee_code add_msg(model *m, char *full, const MsgProto *msg, const FileProto *f, bool gen,
                       ee_status *st) {
  if (!full) return ee_status_set(st, EE_INTERNAL, "out of memory");
  if (m->n_msgs == m->cap_msgs) {
    size_t cap = m->cap_msgs ? 2 * m->cap_msgs : 64;
    msg_entry *n = realloc(m->msgs, cap * sizeof *n);
    if (!n) {
      free(full);
      return ee_status_set(st, EE_INTERNAL, "out of memory");
    }
    m->msgs = n;
    m->cap_msgs = cap;
  }
  m->msgs[m->n_msgs++] = (msg_entry){full, msg, f, gen};
  return EE_OK;
}

static ee_code index_msgs(model *m, const char *prefix, MsgProto **msgs, size_t n,
                          const FileProto *f, bool gen, ee_status *st) {
  for (size_t i = 0; i < n; i++) {
    char *full = join_name(prefix, msgs[i]->name);
    ee_code rc = add_msg(m, full, msgs[i], f, gen, st);
    if (rc == EE_OK)
      rc = index_msgs(m, full, msgs[i]->nested_type, msgs[i]->n_nested_type, f, gen, st);
    if (rc != EE_OK) return rc;
  }
  return EE_OK;
}

static bool is_generated(const CodeGenRequest *req, const char *file) {
  for (size_t i = 0; i < req->n_file_to_generate; i++)
    if (strcmp(req->file_to_generate[i], file) == 0) return true;
  return false;
}

/* type_name is ".pkg.Msg" (protoc always hands plugins fully-qualified names). */
static const msg_entry *find_msg(const model *m, const char *type_name) {
  if (!type_name) return NULL;
  if (type_name[0] == '.') type_name++;
  for (size_t i = 0; i < m->n_msgs; i++)
    if (strcmp(m->msgs[i].full_name, type_name) == 0) return &m->msgs[i];
  return NULL;
}

static const FieldProto *find_field(const MsgProto *msg, const char *name) {
  for (size_t i = 0; i < msg->n_field; i++)
    if (strcmp(msg->field[i]->name, name) == 0) return msg->field[i];
  return NULL;
}

/* ------------------------------------------------------------------------------------
 * HttpRule: extraction and validation
 * ---------------------------------------------------------------------------------- */

/* The option is an unknown field of MethodOptions to protobuf-c; NULL when absent. */
static HttpRule *http_rule_of(const MethodProto *method, bool *bad) {
  *bad = false;
  if (!method->options) return NULL;
  const ProtobufCMessage *base = &method->options->base;
  const ProtobufCMessageUnknownField *found = NULL;
  for (size_t i = 0; i < base->n_unknown_fields; i++) {
    const ProtobufCMessageUnknownField *u = &base->unknown_fields[i];
    if (u->tag == HTTP_OPTION_FIELD && u->wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
      found = u; /* protoc writes it once; the last one would win on a merge anyway */
  }
  if (!found) return NULL;
  /* protobuf-c keeps a length-delimited unknown field's length prefix in data. */
  size_t len = 0, i = 0;
  unsigned shift = 0;
  while (i < found->len && i < 10) {
    uint8_t byte = found->data[i++];
    len |= (size_t)(byte & 0x7f) << shift;
    shift += 7;
    if (!(byte & 0x80)) break;
  }
  if (len != found->len - i) {
    *bad = true;
    return NULL;
  }
  HttpRule *r = google__api__http_rule__unpack(NULL, len, found->data + i);
  *bad = r == NULL;
  return r;
}

static void rule_pattern(const HttpRule *r, const char **verb, const char **path) {
  *verb = NULL;
  *path = NULL;
  switch (r->pattern_case) {
    case GOOGLE__API__HTTP_RULE__PATTERN_GET: *verb = "GET", *path = r->get; break;
    case GOOGLE__API__HTTP_RULE__PATTERN_PUT: *verb = "PUT", *path = r->put; break;
    case GOOGLE__API__HTTP_RULE__PATTERN_POST: *verb = "POST", *path = r->post; break;
    case GOOGLE__API__HTTP_RULE__PATTERN_DELETE: *verb = "DELETE", *path = r->delete_; break;
    case GOOGLE__API__HTTP_RULE__PATTERN_PATCH: *verb = "PATCH", *path = r->patch; break;
    case GOOGLE__API__HTTP_RULE__PATTERN_CUSTOM:
      if (r->custom) *verb = r->custom->kind, *path = r->custom->path;
      break;
    default: break;
  }
}

static bool is_http_token(const char *s) {
  if (!s || !*s) return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+.^_`|~-", *s)) return false;
  return true;
}

typedef struct rule_ctx {
  const model *m;
  const char *method_name; /* "pkg.Service.Method" */
  const char *verb, *path; /* of the binding being checked, for messages */
  ee_status *st;
} rule_ctx;

__attribute__((format(printf, 2, 3))) static ee_code rule_fail(const rule_ctx *c, const char *fmt,
                                                               ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return ee_status_set(c->st, EE_INVALID_ARGUMENT, "%s: google.api.http rule %s \"%s\": %s",
                       c->method_name, c->verb ? c->verb : "?", c->path ? c->path : "", what);
}

/* A path variable names a singular primitive field, reached through singular messages. */
static ee_code check_variable(const rule_ctx *c, const msg_entry *req, const ee_route_variable *v) {
  const msg_entry *cur = req;
  for (size_t i = 0; i < v->n_field_names; i++) {
    const FieldProto *f = find_field(cur->msg, v->field_names[i]);
    if (!f)
      return rule_fail(c, "variable '%s' names no field of %s", v->field_path, cur->full_name);
    if (f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED)
      return rule_fail(c, "variable '%s' names a repeated field", v->field_path);
    bool is_msg = f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE ||
                  f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP;
    if (i + 1 == v->n_field_names) {
      if (is_msg) return rule_fail(c, "variable '%s' names a message field", v->field_path);
      return EE_OK;
    }
    if (!is_msg)
      return rule_fail(c, "variable '%s': '%s' is not a message field", v->field_path,
                       v->field_names[i]);
    cur = find_msg(c->m, f->type_name);
    if (!cur) return rule_fail(c, "variable '%s': unknown type %s", v->field_path, f->type_name);
  }
  return EE_OK;
}

static ee_code check_top_field(const rule_ctx *c, const msg_entry *msg, const char *what,
                               const char *name) {
  if (!find_field(msg->msg, name)) {
    char buf[300];
    snprintf(buf, sizeof buf, "%s field '%s'", what, name);
    return rule_fail(c, "%s names no field of %s", buf, msg->full_name);
  }
  return EE_OK;
}

static ee_code check_binding(rule_ctx *c, const HttpRule *r, const route_out *ro, binding_out *b,
                             bool nested) {
  ee_status pst;
  rule_pattern(r, &c->verb, &c->path);
  if (!c->verb || !c->path)
    return rule_fail(c, "no HTTP pattern (get/put/post/delete/patch/custom)");
  if (!is_http_token(c->verb))
    return rule_fail(c, "custom kind '%s' is not an HTTP method token", c->verb);
  if (nested && r->n_additional_bindings) return rule_fail(c, "additional_bindings may not nest");
  if (ee_route_template_parse(c->path, &b->tmpl, &pst) != EE_OK)
    return rule_fail(c, "%s", pst.message);
  for (size_t i = 0; i < b->tmpl->n_variables; i++) {
    ee_code rc = check_variable(c, ro->req, &b->tmpl->variables[i]);
    if (rc != EE_OK) return rc;
  }
  b->method = c->verb;
  b->body = r->body && *r->body ? r->body : NULL;
  b->response_body = r->response_body && *r->response_body ? r->response_body : NULL;
  if (b->body && strcmp(b->body, "*") != 0) {
    ee_code rc = check_top_field(c, ro->req, "body", b->body);
    if (rc != EE_OK) return rc;
  }
  if (b->response_body) return check_top_field(c, ro->resp, "response_body", b->response_body);
  return EE_OK;
}

static ee_code build_route(model *m, const FileProto *f, const char *service,
                           const MethodProto *meth, HttpRule *rule, ee_status *st) {
  route_out ro = {0};
  char full[512];
  ee_code rc = EE_OK;
  snprintf(full, sizeof full, "%s.%s", service, meth->name);
  rule_ctx c = {m, full, NULL, NULL, st};
  ro.rule = rule;
  ro.req = find_msg(m, meth->input_type);
  ro.resp = find_msg(m, meth->output_type);
  if (!ro.req || !ro.resp) {
    rc = ee_status_set(st, EE_INVALID_ARGUMENT, "%s: unknown request or response type", full);
    goto done;
  }
  ro.n_bindings = 1 + rule->n_additional_bindings;
  ro.bindings = calloc(ro.n_bindings, sizeof *ro.bindings);
  if (!ro.bindings) {
    rc = ee_status_set(st, EE_INTERNAL, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < ro.n_bindings && rc == EE_OK; i++)
    rc =
        check_binding(&c, i ? rule->additional_bindings[i - 1] : rule, &ro, &ro.bindings[i], i > 0);
  if (rc != EE_OK) goto done;
  ro.grpc_path = malloc(strlen(full) + 2);
  ro.service = strdup(service);
  ro.method = strdup(meth->name);
  if (!ro.grpc_path || !ro.service || !ro.method) {
    rc = ee_status_set(st, EE_INTERNAL, "out of memory");
    goto done;
  }
  snprintf(ro.grpc_path, strlen(full) + 2, "/%s/%s", service, meth->name);
  if (m->n_routes == m->cap_routes) {
    size_t cap = m->cap_routes ? 2 * m->cap_routes : 16;
    route_out *n = realloc(m->routes, cap * sizeof *n);
    if (!n) {
      rc = ee_status_set(st, EE_INTERNAL, "out of memory");
      goto done;
    }
    m->routes = n;
    m->cap_routes = cap;
  }
  m->routes[m->n_routes++] = ro;
  return EE_OK;
done:
  (void)f;
  for (size_t i = 0; ro.bindings && i < ro.n_bindings; i++)
    ee_route_template_free(ro.bindings[i].tmpl);
  free(ro.bindings);
  free(ro.grpc_path);
  free(ro.service);
  free(ro.method);
  google__api__http_rule__free_unpacked(rule, NULL);
  return rc;
}

static ee_code collect_routes(model *m, const FileProto *f, ee_status *st) {
  for (size_t s = 0; s < f->n_service; s++) {
    const Google__Protobuf__ServiceDescriptorProto *svc = f->service[s];
    char *service = join_name(f->package ? f->package : "", svc->name);
    if (!service) return ee_status_set(st, EE_INTERNAL, "out of memory");
    for (size_t i = 0; i < svc->n_method; i++) {
      bool bad;
      HttpRule *rule = http_rule_of(svc->method[i], &bad);
      ee_code rc = EE_OK;
      if (bad)
        rc = ee_status_set(st, EE_INVALID_ARGUMENT, "%s.%s: google.api.http option does not parse",
                           service, svc->method[i]->name);
      else if (rule)
        rc = build_route(m, f, service, svc->method[i], rule, st);
      if (rc != EE_OK) {
        free(service);
        return rc;
      }
    }
    free(service);
  }
  return EE_OK;
}

/* ------------------------------------------------------------------------------------
 * Output
 * ---------------------------------------------------------------------------------- */

/* protoc-c's symbol for a message: FullNameToLower ("a.b.FooBar" -> "a__b__foo_bar"); an
 * upper-case letter gets a '_' only after a non-upper one ("UInt32Value" -> "uint32_value"). */
static ee_code put_c_name(ee_buf *b, const char *full, ee_status *st) {
  ee_code rc = EE_OK;
  bool was_upper = true;
  for (const char *p = full; *p && rc == EE_OK; p++) {
    if (*p == '.') {
      rc = ee_buf_append_str(b, "__", st);
      was_upper = true;
      continue;
    }
    bool upper = isupper((unsigned char)*p) != 0;
    if (upper && !was_upper) rc = ee_buf_append_str(b, "_", st);
    char lc = (char)tolower((unsigned char)*p);
    if (rc == EE_OK) rc = ee_buf_append(b, &lc, 1, st);
    was_upper = upper;
  }
  return rc;
}

static ee_code put_c_string(ee_buf *b, const char *s, ee_status *st) {
  if (!s) return ee_buf_append_str(b, "NULL", st);
  ee_code rc = ee_buf_append_str(b, "\"", st);
  for (; *s && rc == EE_OK; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      rc = ee_buf_printf(b, st, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f || c == '?')
      rc = ee_buf_printf(b, st, "\\%03o", c);
    else
      rc = ee_buf_append(b, s, 1, st);
  }
  return rc == EE_OK ? ee_buf_append_str(b, "\"", st) : rc;
}

static int cmp_route(const void *a, const void *b) {
  return strcmp(((const route_out *)a)->grpc_path, ((const route_out *)b)->grpc_path);
}

static int cmp_msg(const void *a, const void *b) {
  return strcmp(((const msg_entry *)a)->full_name, ((const msg_entry *)b)->full_name);
}

static int cmp_field(const void *a, const void *b) {
  int x = (*(FieldProto *const *)a)->number, y = (*(FieldProto *const *)b)->number;
  return (x > y) - (x < y);
}

static ee_code emit_includes(const model *m, ee_buf *b, ee_status *st) {
  /* The header of every file that defines a message we reference, each once, sorted. */
  const char **files = calloc(m->n_msgs + 1, sizeof *files);
  size_t n = 0;
  ee_code rc = EE_OK;
  if (!files) return ee_status_set(st, EE_INTERNAL, "out of memory");
  for (size_t i = 0; i < m->n_msgs; i++) {
    bool used = m->msgs[i].generate;
    for (size_t r = 0; r < m->n_routes && !used; r++)
      used = m->routes[r].req == &m->msgs[i] || m->routes[r].resp == &m->msgs[i];
    if (!used) continue;
    const char *name = m->msgs[i].file->name;
    bool seen = false;
    for (size_t k = 0; k < n && !seen; k++) seen = strcmp(files[k], name) == 0;
    if (!seen) files[n++] = name;
  }
  for (size_t i = 1; i < n; i++) /* insertion sort: a handful of files */
    for (size_t k = i; k > 0 && strcmp(files[k - 1], files[k]) > 0; k--) {
      const char *t = files[k];
      files[k] = files[k - 1];
      files[k - 1] = t;
    }
  for (size_t i = 0; i < n && rc == EE_OK; i++) {
    size_t l = strlen(files[i]);
    size_t stem = l > 6 && strcmp(files[i] + l - 6, ".proto") == 0 ? l - 6 : l;
    rc = ee_buf_printf(b, st, "#include \"%.*s.pb-c.h\"\n", (int)stem, files[i]);
  }
  free(files);
  return rc;
}

static ee_code emit_template(ee_buf *b, const char *id, const ee_route_template *t, ee_status *st) {
  ee_code rc = ee_buf_printf(b, st, "static const ee_route_segment %s_seg[] = {\n", id);
  static const char *const kinds[] = {"EE_ROUTE_SEG_LITERAL", "EE_ROUTE_SEG_STAR",
                                      "EE_ROUTE_SEG_DOUBLE_STAR"};
  for (size_t i = 0; i < t->n_segments && rc == EE_OK; i++) {
    rc = ee_buf_printf(b, st, "    {%s, ", kinds[t->segments[i].kind]);
    if (rc == EE_OK) rc = put_c_string(b, t->segments[i].literal, st);
    if (rc == EE_OK) rc = ee_buf_append_str(b, "},\n", st);
  }
  if (rc == EE_OK) rc = ee_buf_append_str(b, "};\n", st);
  for (size_t v = 0; v < t->n_variables && rc == EE_OK; v++) {
    const ee_route_variable *var = &t->variables[v];
    rc = ee_buf_printf(b, st, "static const char *const %s_v%zu_names[] = {", id, v);
    for (size_t k = 0; k < var->n_field_names && rc == EE_OK; k++) {
      rc = put_c_string(b, var->field_names[k], st);
      if (rc == EE_OK) rc = ee_buf_append_str(b, k + 1 < var->n_field_names ? ", " : "", st);
    }
    if (rc == EE_OK) rc = ee_buf_append_str(b, "};\n", st);
  }
  if (rc == EE_OK && t->n_variables)
    rc = ee_buf_printf(b, st, "static const ee_route_variable %s_var[] = {\n", id);
  for (size_t v = 0; v < t->n_variables && rc == EE_OK; v++) {
    const ee_route_variable *var = &t->variables[v];
    rc = ee_buf_append_str(b, "    {", st);
    if (rc == EE_OK) rc = put_c_string(b, var->field_path, st);
    if (rc == EE_OK)
      rc = ee_buf_printf(b, st, ", %s_v%zu_names, %zu, %zu, %zu},\n", id, v, var->n_field_names,
                         var->seg_begin, var->seg_end);
  }
  if (rc == EE_OK && t->n_variables) rc = ee_buf_append_str(b, "};\n", st);
  return rc;
}

static ee_code emit_binding_value(ee_buf *b, const char *id, const binding_out *bo, ee_status *st) {
  const ee_route_template *t = bo->tmpl;
  ee_code rc = ee_buf_append_str(b, "    {", st);
  if (rc == EE_OK) rc = put_c_string(b, bo->method, st);
  if (rc == EE_OK) rc = ee_buf_append_str(b, ", {", st);
  if (rc == EE_OK) rc = put_c_string(b, t->text, st);
  if (rc == EE_OK) rc = ee_buf_printf(b, st, ", %s_seg, %zu, ", id, t->n_segments);
  if (rc == EE_OK && t->n_variables) rc = ee_buf_printf(b, st, "%s_var, %zu, ", id, t->n_variables);
  if (rc == EE_OK && !t->n_variables) rc = ee_buf_append_str(b, "NULL, 0, ", st);
  if (rc == EE_OK) rc = put_c_string(b, t->verb, st);
  if (rc == EE_OK) rc = ee_buf_append_str(b, "}, ", st);
  if (rc == EE_OK) rc = put_c_string(b, bo->body, st);
  if (rc == EE_OK) rc = ee_buf_append_str(b, ", ", st);
  if (rc == EE_OK) rc = put_c_string(b, bo->response_body, st);
  if (rc == EE_OK) rc = ee_buf_append_str(b, "},\n", st);
  return rc;
}

static ee_code emit_route_bindings(ee_buf *b, size_t r, const route_out *ro, ee_status *st) {
  char id[64];
  ee_code rc = EE_OK;
  for (size_t i = 0; i < ro->n_bindings && rc == EE_OK; i++) {
    snprintf(id, sizeof id, "r%zu_b%zu", r, i);
    rc = emit_template(b, id, ro->bindings[i].tmpl, st);
  }
  if (rc == EE_OK)
    rc = ee_buf_printf(b, st, "static const ee_http_binding r%zu_bindings[] = {\n", r);
  for (size_t i = 0; i < ro->n_bindings && rc == EE_OK; i++) {
    snprintf(id, sizeof id, "r%zu_b%zu", r, i);
    rc = emit_binding_value(b, id, &ro->bindings[i], st);
  }
  return rc == EE_OK ? ee_buf_append_str(b, "};\n\n", st) : rc;
}

static ee_code emit_route_value(ee_buf *b, const model *m, size_t r, ee_status *st) {
  const route_out *ro = &m->routes[r];
  ee_code rc = ee_buf_append_str(b, "    {", st);
  if (rc == EE_OK) rc = put_c_string(b, ro->grpc_path, st);
  if (rc == EE_OK) rc = ee_buf_append_str(b, ", ", st);
  if (rc == EE_OK) rc = put_c_string(b, ro->service, st);
  if (rc == EE_OK) rc = ee_buf_append_str(b, ", ", st);
  if (rc == EE_OK) rc = put_c_string(b, ro->method, st);
  if (rc == EE_OK) rc = ee_buf_append_str(b, ",\n     &", st);
  if (rc == EE_OK) rc = put_c_name(b, ro->req->full_name, st);
  if (rc == EE_OK) rc = ee_buf_append_str(b, "__descriptor, &", st);
  if (rc == EE_OK) rc = put_c_name(b, ro->resp->full_name, st);
  if (rc == EE_OK)
    rc = ee_buf_printf(b, st, "__descriptor,\n     r%zu_bindings, %zu, &%s},\n", r, ro->n_bindings,
                       m->table);
  return rc;
}

static ee_code emit_json_names(ee_buf *b, const model *m, size_t *n_out, ee_status *st) {
  ee_code rc = EE_OK;
  size_t n = 0;
  for (size_t i = 0; i < m->n_msgs && rc == EE_OK; i++) {
    const msg_entry *e = &m->msgs[i];
    if (!e->generate || e->msg->n_field == 0) continue;
    FieldProto **fs = malloc(e->msg->n_field * sizeof *fs);
    if (!fs) return ee_status_set(st, EE_INTERNAL, "out of memory");
    memcpy(fs, e->msg->field, e->msg->n_field * sizeof *fs);
    qsort(fs, e->msg->n_field, sizeof *fs, cmp_field);
    rc = ee_buf_printf(b, st, "static const ee_route_json_field m%zu_fields[] = {\n", i);
    for (size_t k = 0; k < e->msg->n_field && rc == EE_OK; k++) {
      rc = ee_buf_printf(b, st, "    {%d, ", fs[k]->number);
      if (rc == EE_OK) rc = put_c_string(b, fs[k]->name, st);
      if (rc == EE_OK) rc = ee_buf_append_str(b, ", ", st);
      if (rc == EE_OK) rc = put_c_string(b, fs[k]->json_name ? fs[k]->json_name : fs[k]->name, st);
      if (rc == EE_OK) rc = ee_buf_append_str(b, "},\n", st);
    }
    free(fs);
    if (rc == EE_OK) rc = ee_buf_append_str(b, "};\n", st);
    n++;
  }
  if (rc == EE_OK && n)
    rc = ee_buf_append_str(b, "\nstatic const ee_route_json_message messages[] = {\n", st);
  for (size_t i = 0; i < m->n_msgs && rc == EE_OK; i++) {
    const msg_entry *e = &m->msgs[i];
    if (!e->generate || e->msg->n_field == 0) continue;
    rc = ee_buf_append_str(b, "    {", st);
    if (rc == EE_OK) rc = put_c_string(b, e->full_name, st);
    if (rc == EE_OK) rc = ee_buf_append_str(b, ", &", st);
    if (rc == EE_OK) rc = put_c_name(b, e->full_name, st);
    if (rc == EE_OK)
      rc = ee_buf_printf(b, st, "__descriptor, m%zu_fields, %zu},\n", i, e->msg->n_field);
  }
  if (rc == EE_OK && n) rc = ee_buf_append_str(b, "};\n\n", st);
  *n_out = n;
  return rc;
}

static ee_code emit_source(const model *m, ee_buf *b, ee_status *st) {
  size_t n_json = 0;
  ee_code rc = ee_buf_printf(b, st,
                             "/* Generated by protoc-gen-ee-routes. DO NOT EDIT. */\n"
                             "#include \"%s.h\"\n\n",
                             m->table);
  if (rc == EE_OK) rc = emit_includes(m, b, st);
  if (rc == EE_OK) rc = ee_buf_append_str(b, "\n", st);
  for (size_t r = 0; r < m->n_routes && rc == EE_OK; r++)
    rc = emit_route_bindings(b, r, &m->routes[r], st);
  if (rc == EE_OK && m->n_routes)
    rc = ee_buf_append_str(b, "static const ee_route routes[] = {\n", st);
  for (size_t r = 0; r < m->n_routes && rc == EE_OK; r++) rc = emit_route_value(b, m, r, st);
  if (rc == EE_OK && m->n_routes) rc = ee_buf_append_str(b, "};\n\n", st);
  if (rc == EE_OK) rc = emit_json_names(b, m, &n_json, st);
  if (rc == EE_OK)
    rc = ee_buf_printf(b, st, "const ee_route_table %s = {%s, %zu, %s, %zu};\n", m->table,
                       m->n_routes ? "routes" : "NULL", m->n_routes, n_json ? "messages" : "NULL",
                       n_json);
  return rc;
}

static ee_code emit_header(const model *m, ee_buf *b, ee_status *st) {
  return ee_buf_printf(b, st,
                       "/* Generated by protoc-gen-ee-routes. DO NOT EDIT. */\n"
                       "#ifndef %s_H\n#define %s_H\n#include \"ee/route.h\"\n"
                       "extern const ee_route_table %s;\n#endif\n",
                       m->table, m->table, m->table);
}

/* ------------------------------------------------------------------------------------
 * Driver
 * ---------------------------------------------------------------------------------- */

static ee_code parse_parameter(model *m, const char *param, ee_status *st) {
  snprintf(m->table, sizeof m->table, "eei_routes");
  if (!param || !*param) return EE_OK;
  if (strncmp(param, "table=", 6) != 0 || !param[6] || strlen(param + 6) >= sizeof m->table)
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "unknown parameter \"%s\" (expected table=SYMBOL)", param);
  for (const char *p = param + 6; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '_')
      return ee_status_set(st, EE_INVALID_ARGUMENT, "table=%s is not a C identifier", param + 6);
  snprintf(m->table, sizeof m->table, "%s", param + 6);
  return EE_OK;
}

static ee_code build_model(model *m, const CodeGenRequest *req, ee_status *st) {
  ee_code rc = parse_parameter(m, req->parameter, st);
  for (size_t i = 0; i < req->n_proto_file && rc == EE_OK; i++) {
    const FileProto *f = req->proto_file[i];
    rc = index_msgs(m, f->package ? f->package : "", f->message_type, f->n_message_type, f,
                    is_generated(req, f->name), st);
  }
  for (size_t i = 0; i < req->n_proto_file && rc == EE_OK; i++)
    if (is_generated(req, req->proto_file[i]->name)) rc = collect_routes(m, req->proto_file[i], st);
  if (rc != EE_OK) return rc;
  if (m->n_routes > 1) qsort(m->routes, m->n_routes, sizeof *m->routes, cmp_route);
  /* Sorting msgs would invalidate route pointers into it, so routes are fixed up by name. */
  for (size_t r = 1; r < m->n_routes; r++)
    if (strcmp(m->routes[r - 1].grpc_path, m->routes[r].grpc_path) == 0)
      return ee_status_set(st, EE_INVALID_ARGUMENT, "method %s defined twice",
                           m->routes[r].grpc_path);
  return EE_OK;
}

static void free_model(model *m) {
  for (size_t r = 0; r < m->n_routes; r++) {
    route_out *ro = &m->routes[r];
    for (size_t i = 0; i < ro->n_bindings; i++) ee_route_template_free(ro->bindings[i].tmpl);
    free(ro->bindings);
    free(ro->grpc_path);
    free(ro->service);
    free(ro->method);
    google__api__http_rule__free_unpacked(ro->rule, NULL);
  }
  free(m->routes);
  for (size_t i = 0; i < m->n_msgs; i++) free(m->msgs[i].full_name);
  free(m->msgs);
}

/* Resolves route message pointers by name after the message index is sorted. */
static void sort_msgs(model *m) {
  char **req = calloc(m->n_routes + 1, sizeof *req), **resp = calloc(m->n_routes + 1, sizeof *resp);
  if (!req || !resp) goto done; /* unsorted output is still correct, only less tidy */
  for (size_t r = 0; r < m->n_routes; r++) {
    req[r] = m->routes[r].req->full_name;
    resp[r] = m->routes[r].resp->full_name;
  }
  if (m->n_msgs > 1) qsort(m->msgs, m->n_msgs, sizeof *m->msgs, cmp_msg);
  for (size_t r = 0; r < m->n_routes; r++) {
    m->routes[r].req = find_msg(m, req[r]);
    m->routes[r].resp = find_msg(m, resp[r]);
  }
done:
  free(req);
  free(resp);
}

static ee_code add_file(Google__Protobuf__Compiler__CodeGeneratorResponse *resp,
                        Google__Protobuf__Compiler__CodeGeneratorResponse__File *files, size_t i,
                        const char *table, const char *ext, ee_buf *content, ee_status *st) {
  google__protobuf__compiler__code_generator_response__file__init(&files[i]);
  char *name = malloc(strlen(table) + 8);
  if (!name) return ee_status_set(st, EE_INTERNAL, "out of memory");
  sprintf(name, "%s%s", table, ext);
  files[i].name = name;
  files[i].content = ee_buf_take(content, NULL, st);
  resp->file[i] = &files[i];
  if (files[i].content) return EE_OK;
  free(name);
  return EE_INTERNAL;
}

static int write_response(Google__Protobuf__Compiler__CodeGeneratorResponse *resp) {
  size_t n = google__protobuf__compiler__code_generator_response__get_packed_size(resp);
  uint8_t *out = malloc(n ? n : 1);
  if (!out) return 1;
  google__protobuf__compiler__code_generator_response__pack(resp, out);
  int ok = fwrite(out, 1, n, stdout) == n && fflush(stdout) == 0;
  free(out);
  return ok ? 0 : 1;
}

int main(void) {
  ee_status st;
  ee_buf in, src = EE_BUF_INIT, hdr = EE_BUF_INIT;
  model m = {0};
  Google__Protobuf__Compiler__CodeGeneratorResponse resp =
      GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
  Google__Protobuf__Compiler__CodeGeneratorResponse__File files[2];
  Google__Protobuf__Compiler__CodeGeneratorResponse__File *file_ptrs[2];
  CodeGenRequest *req = NULL;
  ee_status_clear(&st);
  ee_buf_init(&in, MAX_REQUEST_BYTES);
  ee_code rc = read_all(stdin, &in, &st);
  if (rc == EE_OK) {
    req = google__protobuf__compiler__code_generator_request__unpack(NULL, in.len,
                                                                     (uint8_t *)in.data);
    if (!req) rc = ee_status_set(&st, EE_INVALID_ARGUMENT, "stdin is not a CodeGeneratorRequest");
  }
  if (rc == EE_OK) rc = build_model(&m, req, &st);
  if (rc == EE_OK) {
    sort_msgs(&m);
    rc = emit_source(&m, &src, &st);
  }
  if (rc == EE_OK) rc = emit_header(&m, &hdr, &st);
  resp.file = file_ptrs;
  size_t added = 0;
  if (rc == EE_OK && (rc = add_file(&resp, files, 0, m.table, ".h", &hdr, &st)) == EE_OK) added++;
  if (rc == EE_OK && (rc = add_file(&resp, files, 1, m.table, ".c", &src, &st)) == EE_OK) added++;
  if (rc == EE_OK)
    resp.n_file = added;
  else
    resp.error = st.message; /* protoc prints it and fails the generation */
  int exit_code = write_response(&resp);
  for (size_t i = 0; i < added; i++) {
    free(files[i].name);
    free(files[i].content);
  }
  free_model(&m);
  if (req) google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
  ee_buf_free(&in);
  ee_buf_free(&src);
  ee_buf_free(&hdr);
  return exit_code;
}
