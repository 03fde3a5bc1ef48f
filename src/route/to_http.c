/* Client direction: request message -> HTTP method, path + query, JSON body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route_internal.h"

#define MAX_QUERY_PARAMS                                                   \
  1024 /* our own requests; a bound so a huge repeated field fails clearly \
        */

/* The field a variable names, and the message holding it; NULL when an intermediate
 * message is unset (the variable is then unset too). */
static const ProtobufCFieldDescriptor *resolve(const ProtobufCMessage *req,
                                               const ee_route_variable *v,
                                               const ProtobufCMessage **holder) {
  const ProtobufCMessage *m = req;
  for (size_t i = 0; m && i < v->n_field_names; i++) {
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, v->field_names[i]);
    if (!f) return NULL;
    if (i + 1 == v->n_field_names) {
      *holder = m;
      return f;
    }
    if (f->type != PROTOBUF_C_TYPE_MESSAGE || !eei_route_field_is_set(m, f)) return NULL;
    m = *(ProtobufCMessage *const *)EEI_FIELD_PTR(m, f);
  }
  return NULL;
}

/* Writes the variable's sub-pattern ("projects/ *") into out, for messages. */
static void pattern_text(const ee_route_template *t, const ee_route_variable *v, char *out,
                         size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  for (size_t i = v->seg_begin; i < v->seg_end && n < cap; i++) {
    const ee_route_segment *s = &t->segments[i];
    const char *txt = s->kind == EE_ROUTE_SEG_LITERAL ? s->literal
                      : s->kind == EE_ROUTE_SEG_STAR  ? "*"
                                                      : "**";
    int w = snprintf(out + n, cap - n, "%s%s", i > v->seg_begin ? "/" : "", txt);
    if (w < 0) break;
    n += (size_t)w;
  }
}

static bool is_dot_segment(const char *s, size_t n) {
  return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

static bool seg_ok(const ee_route_segment *ts, const char *s, size_t n) {
  if (n == 0 || is_dot_segment(s, n)) return false;
  return ts->kind != EE_ROUTE_SEG_LITERAL ||
         (strlen(ts->literal) == n && !memcmp(ts->literal, s, n));
}

/* Does value fit the variable's segments? A single-segment variable takes the value as
 * one segment (its '/' will be escaped); a multi-segment one splits it on '/'. */
static bool value_matches(const ee_route_template *t, const ee_route_variable *v, const char *val) {
  size_t nseg = v->seg_end - v->seg_begin, len = strlen(val);
  const ee_route_segment *ts = &t->segments[v->seg_begin];
  bool ds = ts[nseg - 1].kind == EE_ROUTE_SEG_DOUBLE_STAR;
  if (nseg == 1 && !ds) return seg_ok(ts, val, len);
  size_t k = 0;
  const char *p = val, *end = val + len;
  if (ds && nseg == 1 && len == 0) return true; /* {x=**} may be empty */
  for (;;) {
    const char *slash = memchr(p, '/', (size_t)(end - p));
    size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);
    if (ds && k >= nseg - 1) {
      if (n == 0 || is_dot_segment(p, n)) return false; /* inside the ** tail */
    } else if (k >= nseg || !seg_ok(&ts[k], p, n)) {
      return false;
    }
    k++;
    if (!slash) break;
    p = slash + 1;
  }
  return ds ? k >= nseg - 1 : k == nseg;
}

/* The text of a variable's field (a primitive, or a scalar-form WKT). */
static ee_code var_text(const ProtobufCMessage *holder, const ProtobufCFieldDescriptor *f,
                        ee_buf *out, ee_status *st) {
  if (f->type == PROTOBUF_C_TYPE_MESSAGE)
    return eei_route_wkt_text(*(ProtobufCMessage *const *)EEI_FIELD_PTR(holder, f), out, st);
  return eei_route_value_text(holder, f, 0, out, st);
}

/* Checks every variable of b against req; fills vals[i] (owned) on success. */
static ee_code check_binding(const ee_http_binding *b, const ProtobufCMessage *req, ee_buf *vals,
                             ee_status *st) {
  for (size_t i = 0; i < b->path.n_variables; i++) {
    const ee_route_variable *v = &b->path.variables[i];
    const ProtobufCMessage *holder = NULL;
    const ProtobufCFieldDescriptor *f = resolve(req, v, &holder);
    char pat[256];
    pattern_text(&b->path, v, pat, sizeof pat);
    if (!f || !eei_route_field_is_set(holder, f))
      return ee_status_set(
          st, EE_INVALID_ARGUMENT,
          "field '%s' is required by the path \"%s\" (pattern \"%s\") but is not set",
          v->field_path, b->path.text, pat);
    ee_code rc = var_text(holder, f, &vals[i], st);
    if (rc != EE_OK) return rc;
    if (!value_matches(&b->path, v, vals[i].data ? vals[i].data : ""))
      return ee_status_set(
          st, EE_INVALID_ARGUMENT,
          "field '%s' value \"%.300s\" does not match the pattern \"%s\" of the path "
          "\"%s\"",
          v->field_path, vals[i].data ? vals[i].data : "", pat, b->path.text);
  }
  return EE_OK;
}

static void free_vals(ee_buf *vals, size_t n) {
  for (size_t i = 0; i < n; i++) ee_buf_free(&vals[i]);
}

/* The first binding whose variables are all set and match; the primary binding's error
 * otherwise (it is the one the caller most likely meant). */
static ee_code choose_binding(const ee_route *route, const ProtobufCMessage *req,
                              const ee_http_binding **out, ee_buf *vals, ee_status *st) {
  ee_status first;
  ee_status_clear(&first);
  for (size_t b = 0; b < route->n_bindings; b++) {
    ee_status this_st;
    ee_code rc = check_binding(&route->bindings[b], req, vals, &this_st);
    if (rc == EE_OK) {
      *out = &route->bindings[b];
      return EE_OK;
    }
    free_vals(vals, EE_ROUTE_MAX_VARIABLES);
    if (b == 0) first = this_st;
    if (rc != EE_INVALID_ARGUMENT) {
      if (st) *st = this_st;
      return rc;
    }
  }
  if (st) *st = first;
  return first.code;
}

static ee_code expand_path(const ee_http_binding *b, ee_buf *vals, ee_buf *out, ee_status *st) {
  const ee_route_template *t = &b->path;
  ee_code rc = EE_OK;
  size_t i = 0;
  while (i < t->n_segments && rc == EE_OK) {
    const ee_route_variable *var = NULL;
    size_t vi = 0;
    for (; vi < t->n_variables; vi++)
      if (t->variables[vi].seg_begin == i) {
        var = &t->variables[vi];
        break;
      }
    if (var && var->seg_end == var->seg_begin + 1 &&
        t->segments[i].kind == EE_ROUTE_SEG_DOUBLE_STAR && vals[vi].len == 0) {
      i = var->seg_end; /* an empty {x=**} contributes no segment */
      continue;
    }
    rc = ee_buf_append_str(out, "/", st);
    if (rc != EE_OK) break;
    if (var) {
      bool single =
          var->seg_end - var->seg_begin == 1 && t->segments[i].kind != EE_ROUTE_SEG_DOUBLE_STAR;
      rc = eei_route_pct_encode(out, vals[vi].data ? vals[vi].data : "", vals[vi].len, !single, st);
      i = var->seg_end;
    } else if (t->segments[i].kind == EE_ROUTE_SEG_LITERAL) {
      rc = ee_buf_append_str(out, t->segments[i].literal, st);
      i++;
    } else {
      return ee_status_set(st, EE_INVALID_ARGUMENT,
                           "path \"%s\" has a wildcard outside a variable; a client cannot fill it",
                           t->text);
    }
  }
  if (rc == EE_OK && t->verb) rc = ee_buf_printf(out, st, ":%s", t->verb);
  return rc;
}

/* ------------------------------------------------------------------------------------
 * Query string
 * ---------------------------------------------------------------------------------- */

typedef struct qparam {
  char *name, *value;
  size_t order;
} qparam;

typedef struct qctx {
  const ee_route *route;
  const ee_http_binding *b;
  qparam *params;
  size_t n, cap;
  ee_status *st;
} qctx;

/* "prefix.name" (or "name" at the top) into out, truncated like snprintf. Field paths
 * are joined once per field per call, so this is on the hot path of every REST call
 * (snprintf cost more than the JSON encoding of a whole ExportImage request). */
static void join_field_path(char *out, size_t cap, const char *prefix, const char *name) {
  size_t pl = strlen(prefix), nl = strlen(name), n = 0;
  size_t take = pl < cap - 1 ? pl : cap - 1;
  memcpy(out, prefix, take);
  n = take;
  if (pl && n < cap - 1) out[n++] = '.';
  take = nl < cap - 1 - n ? nl : cap - 1 - n;
  memcpy(out + n, name, take);
  out[n + take] = '\0';
}

static bool bound_by_path(const ee_http_binding *b, const char *proto_path) {
  for (size_t i = 0; i < b->path.n_variables; i++)
    if (strcmp(b->path.variables[i].field_path, proto_path) == 0) return true;
  return false;
}

/* True when some variable lies inside proto_path (so the message must be walked, not
 * skipped or sent whole). */
static bool has_bound_inside(const ee_http_binding *b, const char *proto_path) {
  size_t n = strlen(proto_path);
  for (size_t i = 0; i < b->path.n_variables; i++) {
    const char *fp = b->path.variables[i].field_path;
    if (strncmp(fp, proto_path, n) == 0 && fp[n] == '.') return true;
  }
  return false;
}

static ee_code add_param(qctx *q, const char *name, ee_buf *value) {
  if (q->n >= MAX_QUERY_PARAMS)
    return ee_status_set(q->st, EE_INVALID_ARGUMENT, "more than %d query parameters (at '%s')",
                         MAX_QUERY_PARAMS, name);
  if (q->n == q->cap) {
    size_t cap = q->cap ? 2 * q->cap : 16;
    qparam *p = realloc(q->params, cap * sizeof *p);
    if (!p) return ee_status_set(q->st, EE_RESOURCE_EXHAUSTED, "out of memory");
    q->params = p;
    q->cap = cap;
  }
  char *nm = strdup(name), *val = ee_buf_take(value, NULL, q->st);
  if (!nm || !val) {
    free(nm);
    free(val);
    return ee_status_set(q->st, EE_RESOURCE_EXHAUSTED, "out of memory");
  }
  q->params[q->n] = (qparam){nm, val, q->n};
  q->n++;
  return EE_OK;
}

static ee_code walk_message(qctx *q, const ProtobufCMessage *m, const char *proto_prefix,
                            const char *json_prefix, int depth);

static ee_code query_field(qctx *q, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                           const char *proto_path, const char *json_path, int depth) {
  ee_buf v = EE_BUF_INIT;
  ee_code rc = EE_OK;
  if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
    const ProtobufCMessageDescriptor *d = f->descriptor;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
      return ee_status_set(q->st, EE_INVALID_ARGUMENT,
                           "field '%s' is a %s and cannot be a query parameter of %s %s; only a "
                           "binding with a body can carry it",
                           proto_path, strstr(d->name, "Entry") ? "map" : "repeated message",
                           q->b->method, q->b->path.text);
    if (!eei_route_is_scalar_wkt(d)) {
      /* Any, Struct, Value and ListValue have no flat form; Empty has nothing to send. */
      if (strncmp(d->name, "google.protobuf.", 16) == 0 && strcmp(d->name, "google.protobuf.Empty"))
        return ee_status_set(q->st, EE_INVALID_ARGUMENT,
                             "field '%s' (%s) cannot be a query parameter of %s %s", proto_path,
                             d->name, q->b->method, q->b->path.text);
      return walk_message(q, *(ProtobufCMessage *const *)EEI_FIELD_PTR(m, f), proto_path, json_path,
                          depth + 1);
    }
    rc = eei_route_wkt_text(*(ProtobufCMessage *const *)EEI_FIELD_PTR(m, f), &v, q->st);
    if (rc == EE_OK) rc = add_param(q, json_path, &v);
    ee_buf_free(&v);
    return rc;
  }
  size_t n = f->label == PROTOBUF_C_LABEL_REPEATED ? *(const size_t *)EEI_QUANT_PTR(m, f) : 1;
  for (size_t i = 0; i < n && rc == EE_OK; i++) {
    rc = eei_route_value_text(m, f, i, &v, q->st);
    if (rc == EE_OK) rc = add_param(q, json_path, &v);
    ee_buf_free(&v);
  }
  return rc;
}

static ee_code walk_message(qctx *q, const ProtobufCMessage *m, const char *proto_prefix,
                            const char *json_prefix, int depth) {
  if (depth > EE_ROUTE_MAX_FIELD_DEPTH)
    return ee_status_set(q->st, EE_INVALID_ARGUMENT, "field '%s' nests too deep for a query",
                         proto_prefix);
  for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
    char pp[512], jp[512], jn[128];
    if (!eei_route_field_is_set(m, f)) continue;
    ee_route_json_name(q->route->table, m->descriptor, f, jn, sizeof jn);
    join_field_path(pp, sizeof pp, proto_prefix, f->name);
    join_field_path(jp, sizeof jp, json_prefix, jn);
    if (bound_by_path(q->b, pp)) continue;
    if (depth == 0 && q->b->body && strcmp(q->b->body, f->name) == 0) continue;
    ee_code rc = query_field(q, m, f, pp, jp, depth);
    if (rc != EE_OK) return rc;
  }
  return EE_OK;
}

static int cmp_param(const void *a, const void *b) {
  const qparam *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->order > y->order) - (x->order < y->order);
}

static ee_code build_query(const ee_route *route, const ee_http_binding *b,
                           const ProtobufCMessage *req, ee_buf *out, ee_status *st) {
  qctx q = {route, b, NULL, 0, 0, st};
  ee_code rc = EE_OK;
  if (b->body && strcmp(b->body, "*") == 0) return EE_OK; /* everything else is in the body */
  rc = walk_message(&q, req, "", "", 0);
  if (rc == EE_OK && q.n > 1) qsort(q.params, q.n, sizeof *q.params, cmp_param);
  for (size_t i = 0; i < q.n && rc == EE_OK; i++) {
    rc = ee_buf_append_str(out, i ? "&" : "?", st);
    if (rc == EE_OK)
      rc = eei_route_pct_encode(out, q.params[i].name, strlen(q.params[i].name), false, st);
    if (rc == EE_OK) rc = ee_buf_append_str(out, "=", st);
    if (rc == EE_OK)
      rc = eei_route_pct_encode(out, q.params[i].value, strlen(q.params[i].value), false, st);
  }
  for (size_t i = 0; i < q.n; i++) {
    free(q.params[i].name);
    free(q.params[i].value);
  }
  free(q.params);
  return rc;
}

/* ------------------------------------------------------------------------------------
 * Body
 * ---------------------------------------------------------------------------------- */

/* A shallow copy of src without the fields bound by the path (recursing into messages
 * that hold a bound field). The copy borrows src's values: release it with
 * shallow_free, never protobuf_c_message_free_unpacked. */
static ProtobufCMessage *shallow_without_path(const ProtobufCMessage *src, const ee_http_binding *b,
                                              const char *prefix) {
  const ProtobufCMessageDescriptor *d = src->descriptor;
  ProtobufCMessage *dst = eei_route_new_message(d, NULL);
  if (!dst) return NULL;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    char pp[512];
    if (!eei_route_field_is_set(src, f)) continue;
    join_field_path(pp, sizeof pp, prefix, f->name);
    if (bound_by_path(b, pp)) continue;
    if (f->quantifier_offset)
      memcpy(EEI_QUANT_PTR(dst, f), EEI_QUANT_PTR(src, f), eei_quantifier_size(f));
    memcpy(EEI_FIELD_PTR(dst, f), EEI_FIELD_PTR(src, f), eei_field_storage_size(f));
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED &&
        has_bound_inside(b, pp)) {
      ProtobufCMessage *sub =
          shallow_without_path(*(ProtobufCMessage *const *)EEI_FIELD_PTR(src, f), b, pp);
      *(ProtobufCMessage **)EEI_FIELD_PTR(dst, f) = sub; /* NULL on OOM: encodes as unset */
    }
  }
  /* The unknown fields are borrowed too: the JSON encoder ignores them. */
  return dst;
}

static void shallow_free(ProtobufCMessage *m, const ee_http_binding *b, const char *prefix) {
  if (!m) return;
  for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
    if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED) continue;
    char pp[512];
    join_field_path(pp, sizeof pp, prefix, f->name);
    if (has_bound_inside(b, pp) && eei_route_field_is_set(m, f))
      shallow_free(*(ProtobufCMessage **)EEI_FIELD_PTR(m, f), b, pp);
  }
  free(m);
}

/* The JSON text protobuf would give field f's default value (the encoder omits it). */
static const char *default_json(const ProtobufCFieldDescriptor *f) {
  if (f->label == PROTOBUF_C_LABEL_REPEATED) return "[]";
  switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES: return "\"\"";
    case PROTOBUF_C_TYPE_BOOL: return "false";
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return "\"0\"";
    case PROTOBUF_C_TYPE_MESSAGE: return "{}";
    case PROTOBUF_C_TYPE_ENUM: return NULL; /* the name of value 0, see below */
    default: return "0";
  }
}

ee_code eei_route_encode_field(const ee_route_table *table, const ProtobufCMessage *m,
                               const ProtobufCFieldDescriptor *f,
                               const ee_json_encode_options *json_opts, ee_buf *out,
                               ee_status *st) {
  ee_json_encode_options o =
      json_opts ? *json_opts : (ee_json_encode_options)EE_JSON_ENCODE_OPTIONS_INIT;
  ee_buf tmp = EE_BUF_INIT;
  char key[160];
  ee_code rc = EE_OK;
  if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED &&
      eei_route_field_is_set(m, f))
    return ee_json_encode(*(ProtobufCMessage *const *)EEI_FIELD_PTR(m, f), json_opts, out, st);
  /* Any other field: encode a message holding only f (borrowed), and cut out its value. */
  ProtobufCMessage *only = eei_route_new_message(m->descriptor, NULL);
  if (!only) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  if (eei_route_field_is_set(m, f)) {
    if (f->quantifier_offset)
      memcpy(EEI_QUANT_PTR(only, f), EEI_QUANT_PTR(m, f), eei_quantifier_size(f));
    memcpy(EEI_FIELD_PTR(only, f), EEI_FIELD_PTR(m, f), eei_field_storage_size(f));
  }
  o.emit_defaults = false;
  o.indent = 0;
  rc = ee_json_encode(only, &o, &tmp, st);
  free(only);
  if (rc != EE_OK) goto done;
  if (o.use_proto_names)
    snprintf(key, sizeof key, "{\"%s\":", f->name);
  else {
    char jn[128];
    ee_route_json_name(table, m->descriptor, f, jn, sizeof jn);
    snprintf(key, sizeof key, "{\"%s\":", jn);
  }
  size_t kl = strlen(key);
  if (tmp.len > kl && strncmp(tmp.data, key, kl) == 0 && tmp.data[tmp.len - 1] == '}') {
    rc = ee_buf_append(out, tmp.data + kl, tmp.len - kl - 1, st);
  } else if (tmp.len == 2) {
    const char *def = default_json(f);
    if (def)
      rc = ee_buf_append_str(out, def, st);
    else {
      const ProtobufCEnumDescriptor *ed = f->descriptor;
      const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, 0);
      rc = ev ? ee_buf_printf(out, st, "\"%s\"", ev->name) : ee_buf_append_str(out, "0", st);
    }
  } else {
    rc = ee_status_set(st, EE_INTERNAL, "unexpected JSON for field '%s'", f->name);
  }
done:
  ee_buf_free(&tmp);
  return rc;
}

static ee_code build_body(const ee_route *route, const ee_http_binding *b,
                          const ProtobufCMessage *req, const ee_json_encode_options *json_opts,
                          ee_buf *out, ee_status *st) {
  if (strcmp(b->body, "*") == 0) {
    ProtobufCMessage *copy = shallow_without_path(req, b, "");
    if (!copy) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
    ee_code rc = ee_json_encode(copy, json_opts, out, st);
    shallow_free(copy, b, "");
    return rc;
  }
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(req->descriptor, b->body);
  if (!f)
    return ee_status_set(st, EE_INTERNAL, "%s: body field '%s' not in %s", route->grpc_path,
                         b->body, req->descriptor->name);
  return eei_route_encode_field(route->table, req, f, json_opts, out, st);
}

/* ------------------------------------------------------------------------------------
 * Public entry points
 * ---------------------------------------------------------------------------------- */

void ee_http_request_init(ee_http_request *r) {
  memset(r, 0, sizeof *r);
  ee_buf_init(&r->target, 0);
  ee_buf_init(&r->body, 0);
}

void ee_http_request_free(ee_http_request *r) {
  if (!r) return;
  ee_buf_free(&r->target);
  ee_buf_free(&r->body);
  r->method = NULL;
  r->binding = NULL;
  r->path_len = 0;
  r->has_body = false;
}

static ee_code check_type(const ee_route *route, const ProtobufCMessage *req, ee_status *st) {
  if (!route || !req)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "route and request are required");
  if (req->descriptor != route->request)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s takes %s, not %s", route->grpc_path,
                         route->request->name, req->descriptor->name);
  return EE_OK;
}

ee_code ee_route_to_http(const ee_route *route, const ProtobufCMessage *req,
                         const ee_json_encode_options *json_opts, ee_http_request *out,
                         ee_status *st) {
  ee_buf vals[EE_ROUTE_MAX_VARIABLES];
  const ee_http_binding *b = NULL;
  for (size_t i = 0; i < EE_ROUTE_MAX_VARIABLES; i++) ee_buf_init(&vals[i], 0);
  ee_buf_reset(&out->target);
  ee_buf_reset(&out->body);
  out->has_body = false;
  out->method = NULL;
  out->binding = NULL;
  ee_code rc = check_type(route, req, st);
  if (rc == EE_OK) rc = choose_binding(route, req, &b, vals, st);
  if (rc == EE_OK) rc = expand_path(b, vals, &out->target, st);
  if (rc != EE_OK) goto done;
  out->path_len = out->target.len;
  rc = build_query(route, b, req, &out->target, st);
  if (rc == EE_OK && b->body) {
    rc = build_body(route, b, req, json_opts, &out->body, st);
    out->has_body = true;
  }
  if (rc != EE_OK) goto done;
  out->method = b->method;
  out->binding = b;
done:
  free_vals(vals, EE_ROUTE_MAX_VARIABLES);
  if (rc != EE_OK) {
    ee_buf_reset(&out->target);
    ee_buf_reset(&out->body);
    out->has_body = false;
    out->path_len = 0;
  }
  return rc;
}

ee_code ee_route_request_params(const ee_route *route, const ProtobufCMessage *req, ee_buf *out,
                                ee_status *st) {
  ee_buf vals[EE_ROUTE_MAX_VARIABLES];
  const ee_http_binding *b = NULL;
  size_t start = out->len;
  for (size_t i = 0; i < EE_ROUTE_MAX_VARIABLES; i++) ee_buf_init(&vals[i], 0);
  ee_code rc = check_type(route, req, st);
  if (rc == EE_OK) rc = choose_binding(route, req, &b, vals, st);
  for (size_t i = 0; rc == EE_OK && i < b->path.n_variables; i++) {
    const char *fp = b->path.variables[i].field_path;
    rc = ee_buf_printf(out, st, "%s%s=", i ? "&" : "", fp);
    if (rc == EE_OK)
      rc = eei_route_pct_encode(out, vals[i].data ? vals[i].data : "", vals[i].len, false, st);
  }
  free_vals(vals, EE_ROUTE_MAX_VARIABLES);
  if (rc != EE_OK) {
    out->len = start;
    if (out->data) out->data[start] = '\0';
  }
  return rc;
}
