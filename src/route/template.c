/* Path templates: the grammar of TRANSCODING.md, parsing and matching.
 *
 * This file depends only on ee_status (src/core) and libc, because protoc-gen-ee-routes
 * compiles it too: the plugin validates and emits exactly what the runtime would parse. */
#include <stdlib.h>
#include <string.h>

#include "ee/route.h"
#include "route_internal.h"

/* One allocation holds the template, its arrays and all its strings, so freeing is one
 * free() and a half-built template never leaks. */
typedef struct owned_template {
  ee_route_template t; /* first, so an ee_route_template * is the allocation */
  ee_route_segment segs[EE_ROUTE_MAX_SEGMENTS];
  ee_route_variable vars[EE_ROUTE_MAX_VARIABLES];
  const char *names[EE_ROUTE_MAX_VARIABLES][EE_ROUTE_MAX_FIELD_DEPTH];
  char *strings; /* bump allocator inside the same block */
  size_t strings_left;
} owned_template;

typedef struct parser {
  const char *text;
  size_t pos, len;
  owned_template *o;
  bool in_variable;
  ee_status *st;
} parser;

static bool is_literal_char(char c) {
  /* RFC 3986 pchar without ':' (it starts the verb), '%' (no escapes in templates) and
   * the template's own metacharacters. */
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != '\0' && strchr("-._~!$&'()+,;@", c) != NULL;
}

static bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

static ee_code fail(parser *p, const char *what) {
  return ee_status_set(p->st, EE_INVALID_ARGUMENT, "path template \"%s\": %s at offset %zu",
                       p->text, what, p->pos);
}

static char *save(parser *p, const char *s, size_t n) {
  if (n + 1 > p->o->strings_left) return NULL; /* cannot happen: sized from the text */
  char *d = p->o->strings;
  memcpy(d, s, n);
  d[n] = '\0';
  p->o->strings += n + 1;
  p->o->strings_left -= n + 1;
  return d;
}

static char peek(const parser *p) {
  return p->pos < p->len ? p->text[p->pos] : '\0';
}

static ee_code add_segment(parser *p, ee_route_seg_kind kind, const char *lit, size_t n) {
  ee_route_template *t = &p->o->t;
  if (t->n_segments >= EE_ROUTE_MAX_SEGMENTS) return fail(p, "too many segments");
  if (t->n_segments > 0 && p->o->segs[t->n_segments - 1].kind == EE_ROUTE_SEG_DOUBLE_STAR)
    return fail(p, "'**' must be the last segment");
  ee_route_segment *s = &p->o->segs[t->n_segments++];
  s->kind = kind;
  s->literal = kind == EE_ROUTE_SEG_LITERAL ? save(p, lit, n) : NULL;
  return EE_OK;
}

static ee_code parse_variable(parser *p);

static ee_code parse_segment(parser *p) {
  size_t start = p->pos;
  char c = peek(p);
  if (c == '*') {
    p->pos++;
    if (peek(p) == '*') {
      p->pos++;
      return add_segment(p, EE_ROUTE_SEG_DOUBLE_STAR, NULL, 0);
    }
    return add_segment(p, EE_ROUTE_SEG_STAR, NULL, 0);
  }
  if (c == '{') {
    if (p->in_variable) return fail(p, "nested variable");
    return parse_variable(p);
  }
  while (is_literal_char(peek(p))) p->pos++;
  if (p->pos == start) {
    return fail(p, c == '\0' || c == '/' || c == '}' ? "empty segment" : "unexpected character");
  }
  return add_segment(p, EE_ROUTE_SEG_LITERAL, p->text + start, p->pos - start);
}

static ee_code parse_segments(parser *p) {
  ee_code rc = parse_segment(p);
  while (rc == EE_OK && peek(p) == '/') {
    p->pos++;
    rc = parse_segment(p);
  }
  return rc;
}

/* FieldPath = IDENT {"." IDENT}; splits into the variable's field_names. */
static ee_code parse_field_path(parser *p, ee_route_variable *v,
                                const char *(*names)[EE_ROUTE_MAX_FIELD_DEPTH]) {
  size_t start = p->pos;
  v->n_field_names = 0;
  for (;;) {
    size_t id = p->pos;
    if (!is_ident_start(peek(p))) return fail(p, "expected a field name");
    while (is_ident_char(peek(p))) p->pos++;
    if (v->n_field_names >= EE_ROUTE_MAX_FIELD_DEPTH) return fail(p, "field path too deep");
    (*names)[v->n_field_names++] = save(p, p->text + id, p->pos - id);
    if (peek(p) != '.') break;
    p->pos++;
  }
  v->field_path = save(p, p->text + start, p->pos - start);
  v->field_names = *names;
  return EE_OK;
}

static ee_code parse_variable(parser *p) {
  ee_route_template *t = &p->o->t;
  if (t->n_variables >= EE_ROUTE_MAX_VARIABLES) return fail(p, "too many variables");
  size_t idx = t->n_variables;
  ee_route_variable *v = &p->o->vars[idx];
  p->pos++; /* '{' */
  ee_code rc = parse_field_path(p, v, &p->o->names[idx]);
  if (rc != EE_OK) return rc;
  for (size_t i = 0; i < idx; i++) {
    if (strcmp(p->o->vars[i].field_path, v->field_path) == 0)
      return fail(p, "variable bound twice");
  }
  v->seg_begin = t->n_segments;
  if (peek(p) == '=') {
    p->pos++;
    p->in_variable = true;
    rc = parse_segments(p);
    p->in_variable = false;
    if (rc != EE_OK) return rc;
  } else {
    rc = add_segment(p, EE_ROUTE_SEG_STAR, NULL, 0);
    if (rc != EE_OK) return rc;
  }
  if (peek(p) != '}') return fail(p, "expected '}'");
  p->pos++;
  v->seg_end = t->n_segments;
  t->n_variables++;
  return EE_OK;
}

static ee_code parse_verb(parser *p) {
  size_t start = ++p->pos; /* ':' */
  while (is_literal_char(peek(p))) p->pos++;
  if (p->pos == start) return fail(p, "empty verb");
  p->o->t.verb = save(p, p->text + start, p->pos - start);
  return EE_OK;
}

static ee_code parse_template(parser *p) {
  if (peek(p) != '/') return fail(p, "must start with '/'");
  p->pos++;
  ee_code rc = parse_segments(p);
  if (rc == EE_OK && peek(p) == ':') rc = parse_verb(p);
  if (rc == EE_OK && p->pos != p->len) rc = fail(p, "unexpected character");
  return rc;
}

ee_code ee_route_template_parse(const char *text, ee_route_template **out, ee_status *st) {
  ee_code rc = EE_OK;
  *out = NULL;
  if (!text) return ee_status_set(st, EE_INVALID_ARGUMENT, "path template is NULL");
  size_t len = strnlen(text, EE_ROUTE_MAX_PATH + 1);
  if (len > EE_ROUTE_MAX_PATH)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "path template longer than %d bytes",
                         EE_ROUTE_MAX_PATH);
  /* Every saved string is a piece of the text plus a NUL; the path and its names are
   * saved twice at most, so 3 * (len + segments) bounds it. */
  size_t pool = 3 * (len + 1) + 2 * EE_ROUTE_MAX_SEGMENTS + 2 * EE_ROUTE_MAX_VARIABLES;
  owned_template *o = calloc(1, sizeof *o + pool);
  if (!o) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory parsing a path template");
  o->strings = (char *)(o + 1);
  o->strings_left = pool;
  parser p = {text, 0, len, o, false, st};
  o->t.text = save(&p, text, len);
  rc = parse_template(&p);
  if (rc != EE_OK) goto done;
  o->t.segments = o->segs;
  o->t.variables = o->vars;
  *out = &o->t;
done:
  if (rc != EE_OK) free(o);
  return rc;
}

void ee_route_template_free(ee_route_template *t) {
  free(t); /* t is the first member of its owned_template */
}

/* ------------------------------------------------------------------------------------
 * Matching
 * ---------------------------------------------------------------------------------- */

void ee_route_captures_free(ee_route_captures *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) free(c->values[i]);
  c->n = 0;
}

typedef struct span {
  const char *p;
  size_t n;
} span;

/* Splits the path (after the leading '/') into segments; false when an empty segment
 * appears or there are too many. */
static bool split_path(const char *path, size_t len, span *segs, size_t *n_out) {
  size_t n = 0, start = 1;
  if (len == 0 || path[0] != '/') return false;
  for (size_t i = 1; i <= len; i++) {
    if (i < len && path[i] != '/') continue;
    if (i == start || n >= EE_ROUTE_MAX_SEGMENTS) return false;
    segs[n].p = path + start;
    segs[n].n = i - start;
    n++;
    start = i + 1;
  }
  *n_out = n;
  return true;
}

static bool segment_matches(const ee_route_segment *ts, span s) {
  if (ts->kind != EE_ROUTE_SEG_LITERAL) return s.n > 0;
  char buf[EE_ROUTE_MAX_PATH + 1];
  size_t n = 0;
  /* Compare decoded: "v%31" is the literal "v1". Escapes were validated by the caller. */
  if (eei_route_pct_decode(s.p, s.n, false, buf, sizeof buf, &n) != 0) return false;
  return n == strlen(ts->literal) && memcmp(buf, ts->literal, n) == 0;
}

/* Strips ":verb" from the last segment when the template has one. */
static bool strip_verb(const ee_route_template *t, const char *path, size_t *len) {
  if (!t->verb) return true;
  size_t vl = strlen(t->verb);
  if (*len < vl + 1) return false;
  const char *colon = path + *len - vl - 1;
  if (*colon != ':' || memcmp(colon + 1, t->verb, vl) != 0) return false;
  *len -= vl + 1;
  return true;
}

static ee_code capture(const ee_route_template *t, const ee_route_variable *v, const span *segs,
                       size_t n_path, ee_route_captures *caps, ee_status *st) {
  size_t b = v->seg_begin, e = v->seg_end;
  bool ds = e > 0 && t->segments[e - 1].kind == EE_ROUTE_SEG_DOUBLE_STAR;
  size_t pe = ds ? n_path : e;
  bool multi = ds || e - b != 1;
  const char *from = segs[b < n_path ? b : n_path - 1].p;
  size_t raw_len = 0;
  if (pe > b)
    raw_len = (size_t)(segs[pe - 1].p + segs[pe - 1].n - segs[b].p);
  else
    from = "";
  char *val = malloc(raw_len + 1);
  size_t n = 0;
  if (!val) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory matching a path");
  if (eei_route_pct_decode(from, raw_len, multi, val, raw_len + 1, &n) != 0 ||
      memchr(val, '\0', n) || !eei_utf8_valid(val, n)) {
    free(val);
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "path variable '%s': value is not valid percent-encoded UTF-8",
                         v->field_path);
  }
  caps->values[caps->n++] = val;
  return EE_OK;
}

ee_code ee_route_template_match(const ee_route_template *t, const char *path, size_t path_len,
                                ee_route_captures *caps, ee_status *st) {
  span segs[EE_ROUTE_MAX_SEGMENTS];
  size_t n_path = 0, n = t->n_segments;
  caps->n = 0;
  if (path_len > EE_ROUTE_MAX_PATH)
    return ee_status_set(st, EE_INVALID_ARGUMENT, "request path longer than %d bytes",
                         EE_ROUTE_MAX_PATH);
  if (!eei_route_pct_valid(path, path_len))
    return ee_status_set(st, EE_INVALID_ARGUMENT, "request path has a malformed percent-escape");
  bool ds = n > 0 && t->segments[n - 1].kind == EE_ROUTE_SEG_DOUBLE_STAR;
  if (!strip_verb(t, path, &path_len) || !split_path(path, path_len, segs, &n_path) ||
      (ds ? n_path < n - 1 : n_path != n))
    return ee_status_set(st, EE_NOT_FOUND, "path does not match \"%s\"", t->text);
  for (size_t i = 0; i < (ds ? n - 1 : n); i++) {
    if (!segment_matches(&t->segments[i], segs[i]))
      return ee_status_set(st, EE_NOT_FOUND, "path does not match \"%s\"", t->text);
  }
  for (size_t i = 0; i < t->n_variables; i++) {
    ee_code rc = capture(t, &t->variables[i], segs, n_path, caps, st);
    if (rc != EE_OK) {
      ee_route_captures_free(caps);
      return rc;
    }
  }
  return EE_OK;
}
