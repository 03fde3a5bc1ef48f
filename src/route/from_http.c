/* Server direction (the emulator): HTTP verb, path, query, body -> route + request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route_internal.h"

/* Google's front end accepts these on every method; they are not request fields. */
static const char *const system_params[] = {
    "alt",      "prettyPrint",     "$.xgafv",      "key",
    "fields",   "quotaUser",       "access_token", "oauth_token",
    "callback", "upload_protocol", "uploadType",   NULL};

static bool is_system_param(const char *name) {
  for (const char *const *p = system_params; *p; p++)
    if (strcmp(*p, name) == 0) return true;
  return false;
}

static ee_code limit_fail(ee_status *st, int http, const char *what, size_t limit) {
  ee_status_set(st, EE_INVALID_ARGUMENT, "%s %zu", what, limit);
  if (st) st->http_status = http;
  return EE_INVALID_ARGUMENT;
}

/* ------------------------------------------------------------------------------------
 * Route selection
 * ---------------------------------------------------------------------------------- */

static int literal_count(const ee_route_template *t) {
  int n = 0;
  for (size_t i = 0; i < t->n_segments; i++) n += t->segments[i].kind == EE_ROUTE_SEG_LITERAL;
  return n;
}

/* A ":verb" match beats a ** that would swallow it; then more literal segments win; then
 * a template without a double star (ListOperations' ".../operations" over GetOperation's
 * ".../operations/{double star}" matching zero segments). */
static int specificity(const ee_route_template *t) {
  bool ds = t->n_segments && t->segments[t->n_segments - 1].kind == EE_ROUTE_SEG_DOUBLE_STAR;
  return (t->verb ? 1 << 16 : 0) + (literal_count(t) << 1) + (ds ? 0 : 1);
}

typedef struct pick {
  const ee_route *route;
  const ee_http_binding *binding;
  int score;
} pick;

static ee_code find_route(const ee_route_table *table, const char *verb, const char *path,
                          size_t path_len, pick *best, ee_status *st) {
  bool path_seen = false;
  ee_status bad;
  ee_status_clear(&bad);
  best->route = NULL;
  for (size_t r = 0; r < table->n_routes; r++) {
    const ee_route *route = &table->routes[r];
    for (size_t b = 0; b < route->n_bindings; b++) {
      const ee_http_binding *bd = &route->bindings[b];
      ee_route_captures caps = {0};
      ee_status mst;
      ee_code rc = ee_route_template_match(&bd->path, path, path_len, &caps, &mst);
      ee_route_captures_free(&caps);
      if (rc == EE_INVALID_ARGUMENT && bad.code == EE_OK) bad = mst;
      if (rc != EE_OK) continue;
      path_seen = true;
      int score = specificity(&bd->path);
      if (strcmp(bd->method, verb) == 0 && (!best->route || score > best->score))
        *best = (pick){route, bd, score};
    }
  }
  if (best->route) return EE_OK;
  if (bad.code != EE_OK) {
    if (st) *st = bad;
    return bad.code;
  }
  if (path_seen) {
    ee_status_set(st, EE_NOT_FOUND, "method %s is not allowed on %.*s", verb, (int)path_len, path);
    if (st) {
      st->http_status = EE_ROUTE_HTTP_METHOD_NOT_ALLOWED;
      snprintf(st->reason, sizeof st->reason, "METHOD_NOT_ALLOWED");
    }
    return EE_NOT_FOUND;
  }
  ee_status_set(st, EE_NOT_FOUND, "no route for %s %.*s", verb, (int)path_len, path);
  if (st) {
    st->http_status = 404;
    snprintf(st->reason, sizeof st->reason, "NOT_FOUND");
  }
  return EE_NOT_FOUND;
}

/* ------------------------------------------------------------------------------------
 * Body and path variables
 * ---------------------------------------------------------------------------------- */

static ee_code decode_body(const ee_route *route, const ee_http_binding *b, const char *body,
                           size_t body_len, const ee_json_decode_options *jo,
                           ProtobufCMessage **msg, ee_status *st) {
  const ProtobufCMessageDescriptor *d = route->request;
  if (!b->body || body_len == 0) {
    *msg = eei_route_new_message(d, jo->allocator);
    return *msg ? EE_OK : ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (strcmp(b->body, "*") == 0) return ee_json_decode(d, body, body_len, jo, msg, st);
  /* body "f": the body is f's value; decode it as {"f": <body>} into the request. */
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, b->body);
  ee_buf wrap = EE_BUF_INIT;
  char jn[160];
  ee_route_json_name(route->table, d, f, jn, sizeof jn);
  ee_code rc = ee_buf_printf(&wrap, st, "{\"%s\":", jn);
  if (rc == EE_OK) rc = ee_buf_append(&wrap, body, body_len, st);
  if (rc == EE_OK) rc = ee_buf_append_str(&wrap, "}", st);
  if (rc == EE_OK) rc = ee_json_decode(d, wrap.data, wrap.len, jo, msg, st);
  ee_buf_free(&wrap);
  return rc;
}

/* The field a dotted proto path names, creating the messages on the way. */
static ProtobufCMessage *walk_create(ProtobufCMessage *m, const char *const *names, size_t n,
                                     ProtobufCAllocator *a, const ProtobufCFieldDescriptor **leaf) {
  for (size_t i = 0; m && i < n; i++) {
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, names[i]);
    if (!f) return NULL;
    if (i + 1 == n) {
      *leaf = f;
      return m;
    }
    m = eei_route_mutable_message(m, f, a);
  }
  return NULL;
}

static ee_code set_variable(ProtobufCMessage *req, const ee_route_variable *v, const char *value,
                            const ee_json_decode_options *jo, ee_status *st) {
  const ProtobufCFieldDescriptor *f = NULL;
  ProtobufCMessage *holder = walk_create(req, v->field_names, v->n_field_names, jo->allocator, &f);
  char name[300];
  snprintf(name, sizeof name, "path variable '%s'", v->field_path);
  if (!holder || !f)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "%s: cannot be set (a oneof sibling is set)",
                         name);
  if (eei_route_field_is_set(holder, f)) {
    /* The body named the same field: fine when it agrees, a conflict otherwise. */
    ee_buf cur = EE_BUF_INIT;
    ee_code rc = f->type == PROTOBUF_C_TYPE_MESSAGE
                     ? eei_route_wkt_text(*(ProtobufCMessage **)EEI_FIELD_PTR(holder, f), &cur, st)
                     : eei_route_value_text(holder, f, 0, &cur, st);
    bool same = rc == EE_OK && strcmp(cur.data ? cur.data : "", value) == 0;
    ee_buf_free(&cur);
    if (rc != EE_OK) return rc;
    if (same) return EE_OK;
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "field '%s' is \"%.200s\" in the path but differs in the body",
                         v->field_path, value);
  }
  if (f->type == PROTOBUF_C_TYPE_MESSAGE)
    return eei_route_set_wkt_text(holder, f, value, name, jo, st);
  return eei_route_set_text(holder, f, value, name, jo->allocator, st);
}

/* ------------------------------------------------------------------------------------
 * Query
 * ---------------------------------------------------------------------------------- */

typedef struct qstate {
  const ee_route *route;
  const ee_http_binding *b;
  const ee_route_decode_options *o;
  ProtobufCMessage *req;
  char **seen; /* proto paths of singular fields already set by the query */
  size_t n_seen;
  ee_status *st;
} qstate;

static bool var_bound(const ee_http_binding *b, const char *proto_path) {
  for (size_t i = 0; i < b->path.n_variables; i++)
    if (strcmp(b->path.variables[i].field_path, proto_path) == 0) return true;
  return false;
}

static ee_code unknown_param(qstate *q, const char *name, const char *why) {
  if (q->o->ignore_unknown_query) return EE_OK;
  return ee_status_set(q->st, EE_INVALID_ARGUMENT, "unknown query parameter '%.200s': %s (%s %s)",
                       name, why, q->b->method, q->b->path.text);
}

static ee_code mark_seen(qstate *q, const char *proto_path, const char *name) {
  for (size_t i = 0; i < q->n_seen; i++)
    if (strcmp(q->seen[i], proto_path) == 0)
      return ee_status_set(q->st, EE_INVALID_ARGUMENT,
                           "query parameter '%.200s' repeats a singular field", name);
  char *s = strdup(proto_path);
  if (!s) return ee_status_set(q->st, EE_RESOURCE_EXHAUSTED, "out of memory");
  q->seen[q->n_seen++] = s;
  return EE_OK;
}

/* Resolves a dotted name (json or proto names per component) to its leaf field,
 * creating intermediate messages. */
static ee_code resolve_param(qstate *q, const char *name, ProtobufCMessage **holder,
                             const ProtobufCFieldDescriptor **leaf, char *proto_path, size_t cap) {
  ProtobufCMessage *m = q->req;
  const char *p = name;
  size_t used = 0;
  for (int depth = 0;; depth++) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    const ProtobufCFieldDescriptor *f = NULL;
    if (depth < EE_ROUTE_MAX_FIELD_DEPTH)
      f = eei_route_field_lookup(q->route->table, m->descriptor, p, n);
    if (!f) return unknown_param(q, name, "no such field");
    int w = snprintf(proto_path + used, cap - used, "%s%s", used ? "." : "", f->name);
    used += w > 0 ? (size_t)w : 0;
    if (used >= cap) return unknown_param(q, name, "name too long");
    if (depth == 0 && q->b->body && strcmp(q->b->body, f->name) == 0)
      return ee_status_set(q->st, EE_INVALID_ARGUMENT,
                           "query parameter '%.200s' names a field of the body '%s'", name,
                           f->name);
    if (var_bound(q->b, proto_path))
      return ee_status_set(q->st, EE_INVALID_ARGUMENT,
                           "query parameter '%.200s' names a field bound by the path %s", name,
                           q->b->path.text);
    bool container = f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED &&
                     !eei_route_is_scalar_wkt(f->descriptor);
    if (!dot) {
      if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
          (f->label == PROTOBUF_C_LABEL_REPEATED || !eei_route_is_scalar_wkt(f->descriptor)))
        return ee_status_set(q->st, EE_INVALID_ARGUMENT,
                             "query parameter '%.200s' names a message, map or repeated message "
                             "field, which cannot be a query parameter",
                             name);
      *holder = m;
      *leaf = f;
      return EE_OK;
    }
    if (!container)
      return ee_status_set(q->st, EE_INVALID_ARGUMENT,
                           "query parameter '%.200s': '%.*s' is not a message field", name, (int)n,
                           p);
    m = eei_route_mutable_message(m, f, q->o->json.allocator);
    if (!m)
      return ee_status_set(q->st, EE_INVALID_ARGUMENT,
                           "query parameter '%.200s': another member of its oneof is set", name);
    p = dot + 1;
  }
}

static ee_code apply_param(qstate *q, const char *name, const char *value) {
  ProtobufCMessage *holder = NULL;
  const ProtobufCFieldDescriptor *leaf = NULL;
  char proto_path[512], label[300];
  if (is_system_param(name)) return EE_OK;
  if (q->b->body && strcmp(q->b->body, "*") == 0)
    return unknown_param(q, name, "body \"*\" carries every field that is not in the path");
  ee_code rc = resolve_param(q, name, &holder, &leaf, proto_path, sizeof proto_path);
  if (rc != EE_OK || !leaf) return rc;
  snprintf(label, sizeof label, "query parameter '%.200s'", name);
  if (leaf->label != PROTOBUF_C_LABEL_REPEATED && (rc = mark_seen(q, proto_path, name)) != EE_OK)
    return rc;
  if (leaf->type == PROTOBUF_C_TYPE_MESSAGE)
    return eei_route_set_wkt_text(holder, leaf, value, label, &q->o->json, q->st);
  return eei_route_set_text(holder, leaf, value, label, q->o->json.allocator, q->st);
}

/* Decodes one "name=value" piece ('+' is a space, as in HTML forms) and applies it. */
static ee_code apply_piece(qstate *q, const char *piece, size_t n) {
  const char *eq = memchr(piece, '=', n);
  size_t nl = eq ? (size_t)(eq - piece) : n, vl = eq ? n - nl - 1 : 0;
  char *name = malloc(nl + 1), *value = malloc(vl + 1);
  size_t dn = 0, dv = 0;
  ee_code rc = EE_OK;
  if (!name || !value) {
    rc = ee_status_set(q->st, EE_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  if (eei_route_pct_decode_ex(piece, nl, false, true, name, nl + 1, &dn) != 0 ||
      (eq && eei_route_pct_decode_ex(eq + 1, vl, false, true, value, vl + 1, &dv) != 0)) {
    rc = ee_status_set(q->st, EE_INVALID_ARGUMENT,
                       "query parameter \"%.*s\" has a malformed percent-escape",
                       (int)(n > 200 ? 200 : n), piece);
    goto done;
  }
  if (!eq) value[0] = '\0';
  if (memchr(name, '\0', dn) || memchr(value, '\0', dv) || dn == 0) {
    rc = ee_status_set(q->st, EE_INVALID_ARGUMENT,
                       "query parameter \"%.*s\" has an empty name or a NUL",
                       (int)(n > 200 ? 200 : n), piece);
    goto done;
  }
  rc = apply_param(q, name, value);
done:
  free(name);
  free(value);
  return rc;
}

static ee_code apply_query(qstate *q, const char *query, size_t len, size_t max_params) {
  size_t count = 0, start = 0;
  ee_code rc = EE_OK;
  for (size_t i = 0; i <= len && rc == EE_OK; i++) {
    if (i < len && query[i] != '&') continue;
    if (i > start) {
      if (++count > max_params)
        return limit_fail(q->st, 400, "query parameters: more than", max_params);
      rc = apply_piece(q, query + start, i - start);
    }
    start = i + 1;
  }
  return rc;
}

/* ------------------------------------------------------------------------------------
 * Entry point
 * ---------------------------------------------------------------------------------- */

static ee_code check_limits(const ee_route_decode_options *o, size_t path_len, size_t query_len,
                            ee_status *st) {
  size_t max_path = o->max_path ? o->max_path : EE_ROUTE_MAX_PATH;
  size_t max_query = o->max_query ? o->max_query : EE_ROUTE_MAX_QUERY;
  if (path_len > max_path) return limit_fail(st, 414, "request path: bytes more than", max_path);
  if (query_len > max_query) return limit_fail(st, 414, "query string: bytes more than", max_query);
  return EE_OK;
}

static ee_code fill_request(const ee_route *route, const ee_http_binding *b, const char *path,
                            size_t path_len, const char *query, size_t query_len,
                            const ee_route_decode_options *o, ProtobufCMessage *req,
                            ee_status *st) {
  ee_route_captures caps = {0};
  size_t max_params = o->max_params ? o->max_params : EE_ROUTE_MAX_PARAMS;
  qstate q = {route, b, o, req, calloc(max_params + 1, sizeof(char *)), 0, st};
  ee_code rc = q.seen ? EE_OK : ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  if (rc == EE_OK) rc = ee_route_template_match(&b->path, path, path_len, &caps, st);
  for (size_t i = 0; rc == EE_OK && i < caps.n; i++)
    rc = set_variable(req, &b->path.variables[i], caps.values[i], &o->json, st);
  if (rc == EE_OK && query) rc = apply_query(&q, query, query_len, max_params);
  ee_route_captures_free(&caps);
  for (size_t i = 0; i < q.n_seen; i++) free(q.seen[i]);
  free(q.seen);
  return rc;
}

ee_code ee_route_from_http(const ee_route_table *table, const char *verb, const char *path,
                           size_t path_len, const char *query, size_t query_len, const char *body,
                           size_t body_len, const ee_route_decode_options *opts,
                           ee_route_match *out, ee_status *st) {
  static const ee_route_decode_options defaults = EE_ROUTE_DECODE_OPTIONS_INIT;
  const ee_route_decode_options *o = opts ? opts : &defaults;
  pick best = {0};
  ProtobufCMessage *req = NULL;
  memset(out, 0, sizeof *out);
  if (!table || !verb || !path)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "table, verb and path are required");
  ee_code rc = check_limits(o, path_len, query ? query_len : 0, st);
  if (rc == EE_OK && !eei_route_pct_valid(path, path_len))
    rc = ee_status_set(st, EE_INVALID_ARGUMENT,
                       "request path \"%.*s\" has a malformed percent-escape",
                       (int)(path_len > 300 ? 300 : path_len), path);
  if (rc == EE_OK) rc = find_route(table, verb, path, path_len, &best, st);
  if (rc != EE_OK) {
    if (st && st->http_status == 0) st->http_status = ee_code_to_http(rc);
    return rc;
  }
  out->route = best.route;
  out->binding = best.binding;
  rc = decode_body(best.route, best.binding, body, body_len, &o->json, &req, st);
  if (rc == EE_OK)
    rc = fill_request(best.route, best.binding, path, path_len, query, query_len, o, req, st);
  if (rc == EE_OK) {
    out->request = req;
    return EE_OK;
  }
  if (req) protobuf_c_message_free_unpacked(req, o->json.allocator);
  if (st && st->http_status == 0) st->http_status = 400;
  return rc;
}

/* ------------------------------------------------------------------------------------
 * Responses
 * ---------------------------------------------------------------------------------- */

ee_code ee_route_encode_response(const ee_route *route, const ee_http_binding *binding,
                                 const ProtobufCMessage *resp,
                                 const ee_json_encode_options *json_opts, ee_buf *out,
                                 ee_status *st) {
  if (!binding || !binding->response_body) return ee_json_encode(resp, json_opts, out, st);
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, binding->response_body);
  if (!f)
    return ee_status_set(st, EE_INTERNAL, "response_body field '%s' is not in %s",
                         binding->response_body, resp->descriptor->name);
  return eei_route_encode_field(route->table, resp, f, json_opts, out, st);
}

ee_code ee_route_decode_response(const ee_route *route, const ee_http_binding *binding,
                                 const char *json, size_t len, const ee_json_decode_options *opts,
                                 ProtobufCMessage **out, ee_status *st) {
  *out = NULL;
  if (!binding || !binding->response_body)
    return ee_json_decode(route->response, json, len, opts, out, st);
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(route->response, binding->response_body);
  ee_buf wrap = EE_BUF_INIT;
  char jn[160];
  if (!f)
    return ee_status_set(st, EE_INTERNAL, "response_body field '%s' is not in %s",
                         binding->response_body, route->response->name);
  ee_route_json_name(route->table, route->response, f, jn, sizeof jn);
  ee_code rc = ee_buf_printf(&wrap, st, "{\"%s\":", jn);
  if (rc == EE_OK) rc = ee_buf_append(&wrap, json, len, st);
  if (rc == EE_OK) rc = ee_buf_append_str(&wrap, "}", st);
  if (rc == EE_OK) rc = ee_json_decode(route->response, wrap.data, wrap.len, opts, out, st);
  ee_buf_free(&wrap);
  return rc;
}
