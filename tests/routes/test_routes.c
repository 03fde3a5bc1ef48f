/* Table-driven tests of the route layer: the template grammar, matching, both
 * directions of transcoding (the http.proto documentation examples included), the
 * request params, errors on the wire, and the cases of issue 4's "Done when".
 *   test_routes grammar|match|to_http|from_http|done_when|errors|params|json */
#include <stdlib.h>
#include <string.h>

#include "google/longrunning/operations.pb-c.h"
#include "google/earthengine/v1/earthengine.pb-c.h"
#include "test_support.h"

/* ------------------------------------------------------------------------------------
 * Grammar: template -> canonical dump, or the error it must give
 * ---------------------------------------------------------------------------------- */

typedef struct grammar_case {
  const char *text;
  const char *dump; /* NULL: must fail */
  const char *err;  /* substring of the error when it fails */
} grammar_case;

static const grammar_case grammar_cases[] = {
    /* http.proto documentation and the APIs in proto/ */
    {"/v1/{name=messages/*}", "v1/messages/* {name:1-3}", NULL},
    {"/v1/messages/{message_id}", "v1/messages/* {message_id:2-3}", NULL},
    {"/v1/users/{user_id}/messages/{message_id}",
     "v1/users/*/messages/* {user_id:2-3} {message_id:4-5}", NULL},
    {"/v1/{name=shelves/*/books/*}", "v1/shelves/*/books/* {name:1-5}", NULL},
    {"/v1/{name=operations/**}:cancel", "v1/operations/** {name:1-3} :cancel", NULL},
    {"/v1/{project=projects/*}/image:export", "v1/projects/*/image {project:1-3} :export", NULL},
    {"/v1/{name=projects/*/operations/**}", "v1/projects/*/operations/** {name:1-5}", NULL},
    {"/v1/{sub.subfield}/x", "v1/*/x {sub.subfield:1-2}", NULL},
    {"/v1/files/{path=**}", "v1/files/** {path:2-3}", NULL},
    {"/v1/**", "v1/**", NULL},
    {"/*/b", "*/b", NULL},
    {"/v1/a-b.c~d_e", "v1/a-b.c~d_e", NULL},
    {"/v1:verb", "v1 :verb", NULL},
    {"/{a}/{b}/{c.d.e}", "*/*/* {a:0-1} {b:1-2} {c.d.e:2-3}", NULL},
    /* invalid */
    {"", NULL, "must start with '/'"},
    {"v1/x", NULL, "must start with '/'"},
    {"/", NULL, "empty segment"},
    {"/v1//x", NULL, "empty segment"},
    {"/v1/", NULL, "empty segment"},
    {"/v1/**/x", NULL, "'**' must be the last segment"},
    {"/{a=**}/x", NULL, "'**' must be the last segment"},
    {"/v1/{name=a/{b}}", NULL, "nested variable"},
    {"/v1/{name", NULL, "expected '}'"},
    {"/v1/{}", NULL, "expected a field name"},
    {"/v1/{1abc}", NULL, "expected a field name"},
    {"/v1/{a.}", NULL, "expected a field name"},
    {"/v1/{a}/{a}", NULL, "variable bound twice"},
    {"/v1/x:", NULL, "empty verb"},
    {"/v1/x:a:b", NULL, "unexpected character"},
    {"/v1/x?y", NULL, "unexpected character"},
    {"/v1/%41", NULL, "unexpected character"},
    {"/v1/{a=}", NULL, "empty segment"},
    {"/v1/***", NULL, "unexpected character"},
};

static void dump_template(const ee_route_template *t, char *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < t->n_segments; i++) {
    const ee_route_segment *s = &t->segments[i];
    n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "/" : "",
                          s->kind == EE_ROUTE_SEG_LITERAL ? s->literal
                          : s->kind == EE_ROUTE_SEG_STAR  ? "*"
                                                          : "**");
  }
  for (size_t i = 0; i < t->n_variables; i++)
    n += (size_t)snprintf(out + n, cap - n, " {%s:%zu-%zu}", t->variables[i].field_path,
                          t->variables[i].seg_begin, t->variables[i].seg_end);
  if (t->verb) snprintf(out + n, cap - n, " :%s", t->verb);
}

static void test_grammar(void) {
  for (size_t i = 0; i < sizeof grammar_cases / sizeof grammar_cases[0]; i++) {
    const grammar_case *c = &grammar_cases[i];
    ee_route_template *t = NULL;
    ee_status st;
    ee_code rc = ee_route_template_parse(c->text, &t, &st);
    if (c->dump) {
      char d[512] = "";
      CHECK(rc == EE_OK, "%s: %s", c->text, st.message);
      if (t) dump_template(t, d, sizeof d);
      CHECK(!t || strcmp(d, c->dump) == 0, "%s: got \"%s\" want \"%s\"", c->text, d, c->dump);
    } else {
      CHECK(rc == EE_INVALID_ARGUMENT && !t, "%s: parsed but should fail", c->text);
      CHECK(strstr(st.message, c->err) && strstr(st.message, c->text), "%s: message \"%s\"",
            c->text, st.message);
    }
    ee_route_template_free(t);
  }
  /* Every generated binding re-parses to the same structure (plugin and runtime agree). */
  const ee_route_table *tables[] = {ee_route_table_default(), rt_test_table()};
  for (size_t k = 0; k < 2; k++)
    for (size_t r = 0; r < tables[k]->n_routes; r++)
      for (size_t b = 0; b < tables[k]->routes[r].n_bindings; b++) {
        const ee_route_template *gen = &tables[k]->routes[r].bindings[b].path;
        ee_route_template *t = NULL;
        char d1[512] = "", d2[512] = "";
        CHECK(ee_route_template_parse(gen->text, &t, NULL) == EE_OK, "%s", gen->text);
        if (!t) continue;
        dump_template(gen, d1, sizeof d1);
        dump_template(t, d2, sizeof d2);
        CHECK(strcmp(d1, d2) == 0, "%s: generated \"%s\" parsed \"%s\"", gen->text, d1, d2);
        ee_route_template_free(t);
      }
}

/* ------------------------------------------------------------------------------------
 * Matching: template + path -> captures
 * ---------------------------------------------------------------------------------- */

typedef struct match_case {
  const char *tmpl, *path;
  ee_code code;
  const char *caps; /* values joined by '|' */
} match_case;

static const match_case match_cases[] = {
    {"/v1/{name=messages/*}", "/v1/messages/123456", EE_OK, "messages/123456"},
    {"/v1/{name=messages/*}", "/v1/messages/123456/x", EE_NOT_FOUND, NULL},
    {"/v1/{name=messages/*}", "/v1/messages", EE_NOT_FOUND, NULL},
    {"/v1/{name=messages/*}", "/v1/messages/", EE_NOT_FOUND, NULL},
    {"/v1/{name=messages/*}", "/v1//messages/1", EE_NOT_FOUND, NULL},
    {"/v1/{name=messages/*}", "v1/messages/1", EE_NOT_FOUND, NULL},
    {"/v1/{name=messages/*}", "/v1/messages/a%20b", EE_OK, "messages/a b"},
    /* multi-segment variables keep %2F (and normalise its case); others decode it */
    {"/v1/{name=messages/*}", "/v1/messages/a%2fb", EE_OK, "messages/a%2Fb"},
    {"/v1/messages/{id}", "/v1/messages/a%2Fb", EE_OK, "a/b"},
    {"/v1/messages/{id}", "/v1/m%65ssages/x", EE_OK, "x"},
    {"/v1/messages/{id}", "/v1/messages/%zz", EE_INVALID_ARGUMENT, NULL},
    {"/v1/messages/{id}", "/v1/messages/%2", EE_INVALID_ARGUMENT, NULL},
    {"/v1/messages/{id}", "/v1/messages/a%00b", EE_INVALID_ARGUMENT, NULL},
    {"/v1/messages/{id}", "/v1/messages/%FF", EE_INVALID_ARGUMENT, NULL},
    {"/v1/messages/{id}", "/v1/messages/%C3%A9", EE_OK, "\xC3\xA9"},
    {"/v1/{name=operations/**}:cancel", "/v1/operations/a/b/c:cancel", EE_OK, "operations/a/b/c"},
    {"/v1/{name=operations/**}:cancel", "/v1/operations:cancel", EE_OK, "operations"},
    {"/v1/{name=operations/**}:cancel", "/v1/operations/a/b", EE_NOT_FOUND, NULL},
    {"/v1/{name=operations/**}:cancel", "/v1/operations/a:b:cancel", EE_OK, "operations/a:b"},
    {"/v1/{name=projects/*/operations/**}", "/v1/projects/p/operations/x:cancel", EE_OK,
     "projects/p/operations/x:cancel"},
    {"/v1/files/{path=**}", "/v1/files", EE_OK, ""},
    {"/v1/files/{path=**}", "/v1/files/a/b%2Fc/d", EE_OK, "a/b%2Fc/d"},
    {"/v1/{project=projects/*}/image:export", "/v1/projects/my-proj/image:export", EE_OK,
     "projects/my-proj"},
    {"/v1/{project=projects/*}/image:export", "/v1/projects/my-proj/image", EE_NOT_FOUND, NULL},
    {"/v1/{project=projects/*}/image:export", "/v1/projects/my-proj/image:exportx", EE_NOT_FOUND,
     NULL},
    {"/v1/users/{user_id}/messages/{message_id}", "/v1/users/me/messages/7", EE_OK, "me|7"},
    {"/v1/**", "/v1", EE_OK, ""},
    {"/v1/**", "/v1/a/b/c", EE_OK, ""},
};

static void test_match(void) {
  for (size_t i = 0; i < sizeof match_cases / sizeof match_cases[0]; i++) {
    const match_case *c = &match_cases[i];
    ee_route_template *t = NULL;
    ee_route_captures caps = {0};
    ee_status st;
    if (ee_route_template_parse(c->tmpl, &t, &st) != EE_OK) {
      CHECK(false, "%s: %s", c->tmpl, st.message);
      continue;
    }
    ee_code rc = ee_route_template_match(t, c->path, strlen(c->path), &caps, &st);
    CHECK(rc == c->code, "%s ~ %s: got %s want %s (%s)", c->tmpl, c->path, ee_code_name(rc),
          ee_code_name(c->code), st.message);
    if (rc == EE_OK && c->caps) {
      char got[512] = "";
      size_t n = 0;
      for (size_t k = 0; k < caps.n; k++)
        n += (size_t)snprintf(got + n, sizeof got - n, "%s%s", k ? "|" : "", caps.values[k]);
      CHECK(strcmp(got, c->caps) == 0, "%s ~ %s: captured \"%s\" want \"%s\"", c->tmpl, c->path,
            got, c->caps);
    }
    ee_route_captures_free(&caps);
    ee_route_template_free(t);
  }
  /* Over-long paths are refused before any work. */
  ee_route_template *t = NULL;
  ee_route_template_parse("/v1/{a=**}", &t, NULL);
  size_t n = EE_ROUTE_MAX_PATH + 10;
  char *longp = malloc(n + 1);
  memset(longp, 'a', n);
  longp[0] = '/';
  longp[n] = '\0';
  ee_route_captures caps = {0};
  CHECK(ee_route_template_match(t, longp, n, &caps, NULL) == EE_INVALID_ARGUMENT, "long path");
  free(longp);
  ee_route_template_free(t);
}

/* ------------------------------------------------------------------------------------
 * Request -> HTTP (no body: no JSON needed)
 * ---------------------------------------------------------------------------------- */

typedef struct to_http_case {
  const char *grpc, *fields;
  ee_code code;
  const char *method, *target; /* on EE_OK */
  const char *err[3];          /* substrings of the error otherwise */
} to_http_case;

#define SVC "/eetest.http.Messaging/"
static const to_http_case to_http_cases[] = {
    /* the http.proto documentation examples */
    {SVC "GetMessage", "name=messages/123456", EE_OK, "GET", "/v1beta/messages/123456", {0}},
    {SVC "GetMessageQuery",
     "message_id=123456|revision=2|sub.subfield=foo",
     EE_OK,
     "GET",
     "/v1/messages/123456?revision=2&sub.subfield=foo",
     {0}},
    {SVC "GetUserMessage", "message_id=123456", EE_OK, "GET", "/v3/messages/123456", {0}},
    /* the first binding whose variables are set wins; the rest goes to the query */
    {SVC "GetUserMessage",
     "message_id=123456|user_id=me",
     EE_OK,
     "GET",
     "/v3/messages/123456?userId=me",
     {0}},
    /* syntax: multi-segment, **, verbs, nested variables, custom kinds */
    {SVC "GetBook",
     "name=shelves/s 1/books/b&c",
     EE_OK,
     "GET",
     "/v1/shelves/s%201/books/b%26c",
     {0}},
    {SVC "CancelOperation", "name=operations/a/b", EE_OK, "POST", "/v1/operations/a/b:cancel", {0}},
    {SVC "GetFile",
     "path=a/b c/d.txt|follow=true",
     EE_OK,
     "GET",
     "/v1/files/a/b%20c/d.txt?follow=true",
     {0}},
    {SVC "GetNested",
     "message_id=1|sub.subfield=x/y|sub.count=3|revision=-4",
     EE_OK,
     "GET",
     "/v1/nested/x%2Fy/1?revision=-4&sub.count=3",
     {0}},
    {SVC "HeadMessage", "name=a/b?c#d", EE_OK, "HEAD", "/v1/heads/a%2Fb%3Fc%23d", {0}},
    {SVC "HeadMessage", "name=\xC3\xA9~._-", EE_OK, "HEAD", "/v1/heads/%C3%A9~._-", {0}},
    /* every query kind; names sorted; repeated keys; enums by name; bytes in base64 */
    {SVC "Search",
     "id=q|page_size=10|big=-9007199254740993|small_unsigned=4294967295|big_unsigned="
     "18446744073709551615"
     "|s32=-5|sf64=7|exact=true|score=0.1|ratio=1.5|page_token=a b&c=d+e|cursor=+/8=|color=BLUE"
     "|tags=x|tags=y|years=2020|years=-1|colors=RED|colors=GREEN|sub.subfield=s|sub.count=2"
     "|max_items=0|strict=false|label=hi|scope_id=9",
     EE_OK,
     "GET",
     "/v1/search/q?big=-9007199254740993&bigUnsigned=18446744073709551615&color=BLUE&colors=RED&"
     "colors=GREEN&cursor=%2B%2F8%3D&exact=true&label=hi&maxItems=0&pageSize=10&pageToken=a%20b%"
     "26c%"
     "3Dd%2Be&ratio=1.5&s32=-5&scopeId=9&score=0.1&sf64=7&smallUnsigned=4294967295&strict=false&"
     "sub."
     "count=2&sub.subfield=s&tags=x&tags=y&years=2020&years=-1",
     {0}},
    /* doubles as the JSON body prints them (100.0, 1e+21); custom json_name options */
    {SVC "Search",
     "id=q|score=100|ratio=100|min_score=1e21|sub.note_text=n",
     EE_OK,
     "GET",
     "/v1/search/q?ratio=100.0&score=100.0&scoreAtLeast=1e%2B21&sub.memo=n",
     {0}},
    {SVC "Search",
     "id=q|score=NaN|ratio=-Infinity",
     EE_OK,
     "GET",
     "/v1/search/q?ratio=-Infinity&score=NaN",
     {0}},
    {SVC "Search",
     "id=q|color=COLOR_UNSPECIFIED|page_size=0|exact=false",
     EE_OK,
     "GET",
     "/v1/search/q",
     {0}},
    /* refused locally, naming field, value and pattern */
    {SVC "GetMessage",
     "name=msgs/1",
     EE_INVALID_ARGUMENT,
     NULL,
     NULL,
     {"'name'", "\"msgs/1\"", "messages/*"}},
    {SVC "GetMessage",
     "name=messages/1/2",
     EE_INVALID_ARGUMENT,
     NULL,
     NULL,
     {"'name'", "messages/1/2", "messages/*"}},
    {SVC "GetMessage",
     "name=messages/..",
     EE_INVALID_ARGUMENT,
     NULL,
     NULL,
     {"'name'", "messages/..", "messages/*"}},
    {SVC "GetMessage", "", EE_INVALID_ARGUMENT, NULL, NULL, {"'name'", "not set", "messages/*"}},
    {SVC "GetMessageQuery",
     "message_id=..",
     EE_INVALID_ARGUMENT,
     NULL,
     NULL,
     {"'message_id'", "\"..\"", "\"*\""}},
    {SVC "GetMessageQuery",
     "message_id=.",
     EE_INVALID_ARGUMENT,
     NULL,
     NULL,
     {"'message_id'", "\".\""}},
    {SVC "GetFile", "path=a/../b", EE_INVALID_ARGUMENT, NULL, NULL, {"'path'", "a/../b", "**"}},
    {SVC "GetFile", "path=a//b", EE_INVALID_ARGUMENT, NULL, NULL, {"'path'", "a//b"}},
    {SVC "GetNested",
     "message_id=1",
     EE_INVALID_ARGUMENT,
     NULL,
     NULL,
     {"'sub.subfield'", "not set"}},
    {SVC "GetBook", "name=shelves/1/books", EE_INVALID_ARGUMENT, NULL, NULL, {"shelves/*/books/*"}},
    {SVC "Search",
     "id=q|subs.subfield=x",
     EE_INVALID_ARGUMENT,
     NULL,
     NULL,
     {"'subs'", "repeated message"}},
    {SVC "Search", "id=q|attrs.key=k", EE_INVALID_ARGUMENT, NULL, NULL, {"'attrs'", "map"}},
};

static const ee_route *find(const char *grpc) {
  const ee_route *r = ee_route_find(rt_test_table(), grpc);
  if (!r) r = ee_route_find(ee_route_table_default(), grpc);
  return r;
}

static void test_to_http(void) {
  for (size_t i = 0; i < sizeof to_http_cases / sizeof to_http_cases[0]; i++) {
    const to_http_case *c = &to_http_cases[i];
    const ee_route *r = find(c->grpc);
    CHECK(r != NULL, "route %s", c->grpc);
    if (!r) continue;
    ProtobufCMessage *m = rt_make(r->request, c->fields);
    CHECK(m != NULL, "%s: fields %s", c->grpc, c->fields);
    if (!m) continue;
    ee_http_request h;
    ee_status st;
    ee_http_request_init(&h);
    ee_code rc = ee_route_to_http(r, m, NULL, &h, &st);
    CHECK(rc == c->code, "%s {%s}: got %s (%s)", c->grpc, c->fields, ee_code_name(rc), st.message);
    if (rc == EE_OK && c->code == EE_OK) {
      CHECK(strcmp(h.method, c->method) == 0, "%s: method %s", c->grpc, h.method);
      CHECK(strcmp(h.target.data, c->target) == 0, "%s {%s}:\n got  %s\n want %s", c->grpc,
            c->fields, h.target.data, c->target);
      CHECK(!h.has_body || h.binding->body, "%s: unexpected body", c->grpc);
    }
    for (int k = 0; rc != EE_OK && k < 3 && c->err[k]; k++)
      CHECK(strstr(st.message, c->err[k]) != NULL, "%s: message \"%s\" lacks \"%s\"", c->grpc,
            st.message, c->err[k]);
    ee_http_request_free(&h);
    protobuf_c_message_free_unpacked(m, NULL);
  }
}

/* ------------------------------------------------------------------------------------
 * HTTP -> request
 * ---------------------------------------------------------------------------------- */

typedef struct from_http_case {
  const char *verb, *path, *query;
  ee_code code;
  int http;           /* expected st.http_status on failure (0: don't care) */
  const char *grpc;   /* expected route on EE_OK */
  const char *fields; /* expected request */
  const char *err;
  bool ignore_unknown;
} from_http_case;

static const from_http_case from_http_cases[] = {
    {"GET", "/v1beta/messages/123456", NULL, EE_OK, 0, SVC "GetMessage", "name=messages/123456",
     NULL, false},
    {"GET", "/v1/messages/123456", NULL, EE_OK, 0, SVC "GetMessageQuery", "message_id=123456", NULL,
     false},
    {"GET", "/v1/messages/123456", "revision=2&sub.subfield=foo", EE_OK, 0, SVC "GetMessageQuery",
     "message_id=123456|revision=2|sub.subfield=foo", NULL, false},
    /* proto names too; '+' is a space in a query; empty pieces are skipped */
    {"GET", "/v1/search/q", "page_size=3&&pageToken=a+b%2Bc&tags=1&tags=2&colors=RED&colors=3",
     EE_OK, 0, SVC "Search",
     "id=q|page_size=3|page_token=a b+c|tags=1|tags=2|colors=RED|colors=BLUE", NULL, false},
    {"GET", "/v1/search/q", "cursor=-_8&maxItems=5&strict=true&label=&exact=false", EE_OK, 0,
     SVC "Search", "id=q|cursor=+/8=|max_items=5|strict=true|label=|exact=false", NULL, false},
    {"GET", "/v1/search/q", "alt=json&prettyPrint=false&%24.xgafv=2&key=k", EE_OK, 0, SVC "Search",
     "id=q", NULL, false},
    {"GET", "/v1/search/q", "score=-Infinity&ratio=2.5e-3&big=-12&bigUnsigned=18446744073709551615",
     EE_OK, 0, SVC "Search",
     "id=q|score=-Infinity|ratio=0.0025|big=-12|big_unsigned=18446744073709551615", NULL, false},
    /* custom json_name options: the option's name and the proto name, not the derived one */
    {"GET", "/v1/search/q", "scoreAtLeast=1.5&sub.memo=m", EE_OK, 0, SVC "Search",
     "id=q|min_score=1.5|sub.note_text=m", NULL, false},
    {"GET", "/v1/search/q", "min_score=100.0&sub.note_text=m", EE_OK, 0, SVC "Search",
     "id=q|min_score=100|sub.note_text=m", NULL, false},
    {"GET", "/v1/search/q", "minScore=1", EE_INVALID_ARGUMENT, 400, NULL, NULL, "minScore", false},
    /* the number grammar is JSON's in every locale: no decimal comma, no ".5" */
    {"GET", "/v1/search/q", "score=1,5", EE_INVALID_ARGUMENT, 400, NULL, NULL, "1,5", false},
    {"GET", "/v1/search/q", "score=.5", EE_INVALID_ARGUMENT, 400, NULL, NULL, ".5", false},
    {"GET", "/v3/users/me/messages/123456", NULL, EE_OK, 0, SVC "GetUserMessage",
     "user_id=me|message_id=123456", NULL, false},
    {"GET", "/v3/messages/123456", "userId=me", EE_OK, 0, SVC "GetUserMessage",
     "message_id=123456|user_id=me", NULL, false},
    {"POST", "/v1/operations/a/b:cancel", NULL, EE_OK, 0, SVC "CancelOperation",
     "name=operations/a/b", NULL, false},
    {"GET", "/v1/files/a%2Fb/c", NULL, EE_OK, 0, SVC "GetFile", "path=a%2Fb/c", NULL, false},
    {"GET", "/v1/files", NULL, EE_OK, 0, SVC "GetFile", "", NULL, false},
    {"HEAD", "/v1/heads/a%2Fb", NULL, EE_OK, 0, SVC "HeadMessage", "name=a/b", NULL, false},
    {"GET", "/v1/nested/foo/1", "sub.count=4", EE_OK, 0, SVC "GetNested",
     "sub.subfield=foo|message_id=1|sub.count=4", NULL, false},
    {"GET", "/v1/shelves/s%201/books/b", NULL, EE_OK, 0, SVC "GetBook", "name=shelves/s 1/books/b",
     NULL, false},
    {"GET", "/v1/messages/1", "bogus=1", EE_OK, 0, SVC "GetMessageQuery", "message_id=1", NULL,
     true},
    /* failures */
    {"DELETE", "/v1/messages/1", NULL, EE_NOT_FOUND, 405, NULL, NULL, "not allowed", false},
    {"GET", "/v9/messages/1", NULL, EE_NOT_FOUND, 404, NULL, NULL, "no route", false},
    {"GET", "/v1/messages/%zz", NULL, EE_INVALID_ARGUMENT, 400, NULL, NULL, "percent-escape",
     false},
    {"GET", "/v1/messages/1", "revision=%g0", EE_INVALID_ARGUMENT, 0, NULL, NULL, "percent-escape",
     false},
    {"GET", "/v1/messages/1", "bogus=1", EE_INVALID_ARGUMENT, 400, NULL, NULL, "'bogus'", false},
    {"GET", "/v1/messages/1", "revision=abc", EE_INVALID_ARGUMENT, 400, NULL, NULL, "'revision'",
     false},
    {"GET", "/v1/messages/1", "revision=1&revision=2", EE_INVALID_ARGUMENT, 400, NULL, NULL,
     "repeats", false},
    {"GET", "/v1/messages/1", "messageId=2", EE_INVALID_ARGUMENT, 400, NULL, NULL,
     "bound by the path", false},
    {"GET", "/v1/messages/1", "sub=x", EE_INVALID_ARGUMENT, 400, NULL, NULL, "'sub'", false},
    {"GET", "/v1/messages/1", "sub.nope=x", EE_INVALID_ARGUMENT, 400, NULL, NULL, "'sub.nope'",
     false},
    {"GET", "/v1/messages/1", "revision.x=1", EE_INVALID_ARGUMENT, 400, NULL, NULL, "not a message",
     false},
    {"GET", "/v1/search/q", "color=PURPLE", EE_INVALID_ARGUMENT, 400, NULL, NULL, "PURPLE", false},
    {"GET", "/v1/search/q", "pageSize=2147483648", EE_INVALID_ARGUMENT, 400, NULL, NULL,
     "out of range", false},
    {"GET", "/v1/search/q", "smallUnsigned=-1", EE_INVALID_ARGUMENT, 400, NULL, NULL,
     "smallUnsigned", false},
    {"GET", "/v1/search/q", "exact=yes", EE_INVALID_ARGUMENT, 400, NULL, NULL, "true or false",
     false},
    {"GET", "/v1/search/q", "score=0x10", EE_INVALID_ARGUMENT, 400, NULL, NULL, "not a number",
     false},
    {"GET", "/v1/search/q", "ratio=1e39", EE_INVALID_ARGUMENT, 400, NULL, NULL, "out of range",
     false},
    {"GET", "/v1/search/q", "cursor=a*b", EE_INVALID_ARGUMENT, 400, NULL, NULL, "base64", false},
    {"GET", "/v1/search/q", "label=%FF", EE_INVALID_ARGUMENT, 400, NULL, NULL, "UTF-8", false},
    {"GET", "/v1/search/q", "label=a%00b", EE_INVALID_ARGUMENT, 400, NULL, NULL, "NUL", false},
    {"GET", "/v1/search/q", "scopeName=x&scopeId=1", EE_INVALID_ARGUMENT, 400, NULL, NULL, "oneof",
     false},
    {"GET", "/v1/search/q", "subs.subfield=x", EE_INVALID_ARGUMENT, 400, NULL, NULL,
     "'subs.subfield'", false},
    {"GET", "/v1/search/q", "attrs=x", EE_INVALID_ARGUMENT, 400, NULL, NULL, "'attrs'", false},
    {"POST", "/v1/operations/a:cancel", "reason=x", EE_INVALID_ARGUMENT, 400, NULL, NULL,
     "body \"*\"", false},
    {"PUT", "/v1/labels/x", "labels=a", EE_INVALID_ARGUMENT, 400, NULL, NULL, "body", false},
    {"GET", "/v1/messages/a%00", NULL, EE_INVALID_ARGUMENT, 0, NULL, NULL, "UTF-8", false},
    /* the real routes */
    {"GET", "/v1/projects/p/operations", "filter=done&pageSize=5&pageToken=t", EE_OK, 0,
     "/google.longrunning.Operations/ListOperations",
     "name=projects/p|filter=done|page_size=5|page_token=t", NULL, false},
    {"GET", "/v1/projects/p/operations/abc", NULL, EE_OK, 0,
     "/google.longrunning.Operations/GetOperation", "name=projects/p/operations/abc", NULL, false},
    {"DELETE", "/v1/projects/p/operations/abc", NULL, EE_OK, 0,
     "/google.longrunning.Operations/DeleteOperation", "name=projects/p/operations/abc", NULL,
     false},
    {"POST", "/v1/projects/p/operations/abc:cancel", NULL, EE_OK, 0,
     "/google.longrunning.Operations/CancelOperation", "name=projects/p/operations/abc", NULL,
     false},
    {"POST", "/v1/projects/p/operations/abc", NULL, EE_NOT_FOUND, 405, NULL, NULL, "not allowed",
     false},
    {"PUT", "/v1/projects/p/image:export", NULL, EE_NOT_FOUND, 405, NULL, NULL, "not allowed",
     false},
    {"POST", "/v1/projects/p/image:export", NULL, EE_OK, 0,
     "/google.earthengine.v1.EarthEngine/ExportImage", "project=projects/p", NULL, false},
    {"POST", "/v1/projects/p/images:export", NULL, EE_NOT_FOUND, 404, NULL, NULL, "no route",
     false},
};

static const ee_route_table *table_for(const char *path) {
  return strncmp(path, "/v1/projects", 12) == 0 ? ee_route_table_default() : rt_test_table();
}

static void test_from_http(void) {
  for (size_t i = 0; i < sizeof from_http_cases / sizeof from_http_cases[0]; i++) {
    const from_http_case *c = &from_http_cases[i];
    ee_route_decode_options o = EE_ROUTE_DECODE_OPTIONS_INIT;
    ee_route_match mt;
    ee_status st;
    o.ignore_unknown_query = c->ignore_unknown;
    ee_status_clear(&st);
    ee_code rc = ee_route_from_http(table_for(c->path), c->verb, c->path, strlen(c->path), c->query,
                                    c->query ? strlen(c->query) : 0, NULL, 0, &o, &mt, &st);
    CHECK(rc == c->code, "%s %s?%s: got %s want %s (%s)", c->verb, c->path,
          c->query ? c->query : "", ee_code_name(rc), ee_code_name(c->code), st.message);
    if (rc == EE_OK && c->code == EE_OK) {
      CHECK(strcmp(mt.route->grpc_path, c->grpc) == 0, "%s %s: route %s", c->verb, c->path,
            mt.route->grpc_path);
      ProtobufCMessage *want = rt_make(mt.route->request, c->fields);
      CHECK(want && rt_equal(want, mt.request, c->path), "%s %s?%s: request differs", c->verb,
            c->path, c->query ? c->query : "");
      if (want) protobuf_c_message_free_unpacked(want, NULL);
    }
    if (rc != EE_OK) {
      CHECK(!mt.request, "request left on failure");
      if (c->err)
        CHECK(strstr(st.message, c->err) != NULL, "%s %s: message \"%s\" lacks \"%s\"", c->verb,
              c->path, st.message, c->err);
      if (c->http)
        CHECK(st.http_status == c->http, "%s %s: http %d want %d", c->verb, c->path, st.http_status,
              c->http);
    }
    if (mt.request) protobuf_c_message_free_unpacked(mt.request, NULL);
  }
  /* limits */
  ee_route_decode_options o = EE_ROUTE_DECODE_OPTIONS_INIT;
  ee_route_match mt;
  ee_status st;
  o.max_params = 3;
  CHECK(
      ee_route_from_http(rt_test_table(), "GET", "/v1/search/q", 12, "tags=a&tags=b&tags=c&tags=d",
                         27, NULL, 0, &o, &mt, &st) == EE_INVALID_ARGUMENT &&
          strstr(st.message, "query parameters"),
      "max_params: %s", st.message);
  o.max_params = 0;
  o.max_query = 8;
  CHECK(ee_route_from_http(rt_test_table(), "GET", "/v1/search/q", 12, "tags=abcdef", 11, NULL, 0,
                           &o, &mt, &st) == EE_INVALID_ARGUMENT &&
            st.http_status == 414,
        "max_query: %s", st.message);
}

/* ------------------------------------------------------------------------------------
 * Issue 4's "Done when" (the parts without a JSON body)
 * ---------------------------------------------------------------------------------- */

static void test_done_when(void) {
  const ee_route_table *t = ee_route_table_default();
  const ee_route *list = ee_route_find(t, "/google.longrunning.Operations/ListOperations");
  const ee_route *exp = ee_route_find(t, "/google.earthengine.v1.EarthEngine/ExportImage");
  CHECK(list && exp, "routes present");
  if (!list || !exp) return;
  ee_http_request h;
  ee_status st;
  ee_http_request_init(&h);
  Google__Longrunning__ListOperationsRequest lr =
      GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
  lr.name = "projects/p";
  lr.filter = "metadata.state=RUNNING";
  lr.page_size = 50;
  lr.page_token = "tok/1";
  CHECK(ee_route_to_http(list, &lr.base, NULL, &h, &st) == EE_OK, "%s", st.message);
  CHECK(strcmp(h.method, "GET") == 0, "%s", h.method);
  CHECK(strcmp(h.target.data,
               "/v1/projects/p/"
               "operations?filter=metadata.state%3DRUNNING&pageSize=50&pageToken=tok%2F1") == 0,
        "%s", h.target.data);
  CHECK(h.path_len == strlen("/v1/projects/p/operations") && !h.has_body, "path_len %zu",
        h.path_len);

  Google__Earthengine__V1__ExportImageRequest er =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__INIT;
  er.project = "my-proj";
  CHECK(ee_route_to_http(exp, &er.base, NULL, &h, &st) == EE_INVALID_ARGUMENT,
        "bad project accepted");
  CHECK(strstr(st.message, "'project'") && strstr(st.message, "\"my-proj\"") &&
            strstr(st.message, "projects/*"),
        "message: %s", st.message);
  CHECK(h.target.len == 0 && !h.method, "nothing produced on failure");
  ee_buf params = EE_BUF_INIT;
  CHECK(ee_route_request_params(exp, &er.base, &params, &st) == EE_INVALID_ARGUMENT,
        "params bad project");
  er.project = "projects/my-proj";
  CHECK(ee_route_request_params(exp, &er.base, &params, &st) == EE_OK, "%s", st.message);
  CHECK(strcmp(params.data, "project=projects%2Fmy-proj") == 0, "%s", params.data);
  ee_buf_reset(&params);
  CHECK(ee_route_request_params(list, &lr.base, &params, &st) == EE_OK &&
            strcmp(params.data, "name=projects%2Fp") == 0,
        "%s", params.data);
  ee_buf_free(&params);
  ee_http_request_free(&h);
}

/* ------------------------------------------------------------------------------------
 * Errors on the wire
 * ---------------------------------------------------------------------------------- */

static void test_errors(void) {
  ee_status err, got, st;
  ee_buf b = EE_BUF_INIT;
  ee_status_set(&err, EE_INVALID_ARGUMENT, "field 'x': \"bad\"\n\xff");
  snprintf(err.reason, sizeof err.reason, "BAD_X");
  snprintf(err.domain, sizeof err.domain, "earthengine.googleapis.com");
  ee_route_error_kv md[] = {{"field", "x"}, {"quote", "a\"b"}};
  CHECK(ee_route_error_encode(&err, md, 2, &b, &st) == EE_OK, "%s", st.message);
  const char *want =
      "{\"error\":{\"code\":400,\"message\":\"field 'x': \\\"bad\\\"\\n\xEF\xBF\xBD\",\"status\":"
      "\"INVALID_ARGUMENT\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\","
      "\"reason\":\"BAD_X\",\"domain\":\"earthengine.googleapis.com\",\"metadata\":{\"field\":"
      "\"x\","
      "\"quote\":\"a\\\"b\"}}]}}";
  CHECK(strcmp(b.data, want) == 0, "envelope:\n got  %s\n want %s", b.data, want);
  CHECK(ee_route_error_decode(400, b.data, b.len, &got) == EE_INVALID_ARGUMENT, "decode");
  CHECK(strcmp(got.reason, "BAD_X") == 0 && strcmp(got.domain, "earthengine.googleapis.com") == 0 &&
            strncmp(got.message, "field 'x': \"bad\"\n", 17) == 0 && got.http_status == 400,
        "decoded %s / %s / %s", got.message, got.reason, got.domain);
  ee_buf_reset(&b);
  ee_status_set(&err, EE_NOT_FOUND, "gone");
  CHECK(ee_route_error_encode(&err, NULL, 0, &b, &st) == EE_OK &&
            strcmp(b.data,
                   "{\"error\":{\"code\":404,\"message\":\"gone\",\"status\":\"NOT_FOUND\"}}") == 0,
        "%s", b.data);

  typedef struct {
    int http;
    const char *body;
    ee_code code;
    const char *msg, *reason;
  } dcase;
  static const dcase dcases[] = {
      /* error.status wins over error.code and the HTTP status */
      {400, "{\"error\":{\"code\":400,\"message\":\"m\",\"status\":\"FAILED_PRECONDITION\"}}",
       EE_FAILED_PRECONDITION, "m", ""},
      {500, "{\"error\":{\"code\":429,\"message\":\"slow down\"}}", EE_RESOURCE_EXHAUSTED,
       "slow down", ""},
      {503, "{\"error\":{\"message\":\"x\",\"status\":\"NOT_A_CODE\"}}", EE_UNAVAILABLE, "x", ""},
      {400,
       " { \"other\": [1, {\"a\": null}], \"error\" : { \"details\": [ {\"@type\": "
       "\"type.googleapis.com/"
       "google.rpc.BadRequest\", \"reason\": \"no\"}, "
       "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\","
       "\"reason\":\"R\\u00e9\",\"metadata\":{\"k\":\"v\"}} ], \"status\": \"ABORTED\", "
       "\"message\": "
       "\"\\ud83d\\ude00\" } } ",
       EE_ABORTED, "\xF0\x9F\x98\x80", "R\xC3\xA9"},
      {502, "<html><body><h1>502 Bad Gateway</h1></body></html>", EE_UNAVAILABLE, "HTTP 502", ""},
      {504, "", EE_DEADLINE_EXCEEDED, "HTTP 504", ""},
      {404, "{\"error\":", EE_NOT_FOUND, "HTTP 404", ""},
      {401, "{\"error\":\"invalid_token\"}", EE_UNAUTHENTICATED, "HTTP 401", ""},
      {403,
       "{\"error\":{\"code\":403,\"message\":\"no\",\"status\":\"PERMISSION_DENIED\"}} trailing",
       EE_PERMISSION_DENIED, "no", ""},
      {200, "{}", EE_UNKNOWN, "HTTP 200", ""},
  };
  for (size_t i = 0; i < sizeof dcases / sizeof dcases[0]; i++) {
    const dcase *c = &dcases[i];
    ee_code rc = ee_route_error_decode(c->http, c->body, strlen(c->body), &got);
    CHECK(rc == c->code && got.code == c->code, "case %zu: %s", i, ee_code_name(rc));
    CHECK(strstr(got.message, c->msg) != NULL, "case %zu: message \"%s\"", i, got.message);
    CHECK(strcmp(got.reason, c->reason) == 0, "case %zu: reason \"%s\"", i, got.reason);
    CHECK(got.http_status == c->http, "case %zu: http %d", i, got.http_status);
  }
  /* a nesting bomb and garbage are bounded and map by HTTP status */
  size_t n = 200000;
  char *bomb = malloc(n + 64);
  strcpy(bomb, "{\"error\":{\"details\":");
  memset(bomb + strlen(bomb), '[', n);
  bomb[n + 20] = '\0';
  CHECK(ee_route_error_decode(500, bomb, strlen(bomb), &got) == EE_INTERNAL, "bomb");
  free(bomb);

  /* google.rpc.Status both ways */
  ee_buf_reset(&b);
  ee_status_set(&err, EE_RESOURCE_EXHAUSTED, "quota");
  snprintf(err.reason, sizeof err.reason, "RATE_LIMIT_EXCEEDED");
  snprintf(err.domain, sizeof err.domain, "googleapis.com");
  CHECK(ee_route_status_to_rpc(&err, md, 2, &b, &st) == EE_OK, "%s", st.message);
  CHECK(ee_route_status_from_rpc((const uint8_t *)b.data, b.len, EE_UNKNOWN, &got) ==
            EE_RESOURCE_EXHAUSTED,
        "rpc code");
  CHECK(strcmp(got.message, "quota") == 0 && strcmp(got.reason, "RATE_LIMIT_EXCEEDED") == 0 &&
            strcmp(got.domain, "googleapis.com") == 0,
        "rpc %s %s", got.message, got.reason);
  CHECK(ee_route_status_from_rpc((const uint8_t *)"\xff\xff\xff", 3, EE_UNAVAILABLE, &got) ==
                EE_UNAVAILABLE &&
            strstr(got.message, "unreadable"),
        "rpc garbage: %s", got.message);
  ee_buf_free(&b);
}

int main(int argc, char **argv) {
  rt_test_table(); /* the test protos' JSON names, before any encode or decode */
  static const struct {
    const char *name;
    void (*fn)(void);
  } groups[] = {{"grammar", test_grammar},     {"match", test_match},
                {"to_http", test_to_http},     {"from_http", test_from_http},
                {"done_when", test_done_when}, {"errors", test_errors}};
  int ran = 0;
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
    if (argc < 2 || strcmp(argv[1], groups[i].name) == 0) {
      groups[i].fn();
      ran++;
    }
  if (!ran) {
    fprintf(stderr, "usage: test_routes [grammar|match|to_http|from_http|done_when|errors]\n");
    return 2;
  }
  return check_report("test_routes");
}
