/* Table-driven unit tests of the proto3 JSON codec (label json).
 *
 * The cases live in cases.txt (one per line, see the header of that file); every expected
 * output there was written by hand from the proto3 JSON mapping and json_format's
 * documented choices, never copied from this codec's output. On top of what a line says,
 * every decode runs through a counting allocator and must free exactly what it allocated
 * (success or error), and every "ok" output must decode and re-encode to itself.
 *
 * The API tests below cover what a line cannot: limits, NULL arguments, the registry,
 * buffer restoration on failure, allocation failure at every point, the wire-format
 * depth check and concurrent first use of the per-descriptor tables. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ee/json.h"
#include "ee/wire.h"
#include "check.h"
#include "eei_test_message_descriptors.h"
#include "eei_test_routes.h"
#include "eetest/all_types.pb-c.h"
#include "google/protobuf/struct.pb-c.h"

static ee_json_registry *g_reg;

/* ------------------------------------------------------------------ counting allocator */

typedef struct counter {
  long live;
  long calls;
  long fail_at; /* fail the Nth allocation (1-based); 0 = never */
} counter;

static void *count_alloc(void *data, size_t n) {
  counter *c = data;
  if (c->fail_at && ++c->calls == c->fail_at) return NULL;
  void *p = malloc(n);
  if (p) c->live++;
  return p;
}

static void count_free(void *data, void *p) {
  counter *c = data;
  if (p) c->live--;
  free(p);
}

/* ------------------------------------------------------------------ helpers */

static const ProtobufCMessageDescriptor *find_type(const char *name) {
  return ee_json_registry_find(g_reg, name);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Replaces \xNN with the byte NN (for inputs that must hold invalid UTF-8 or NUL). */
static size_t unescape_hex(char *s) {
  size_t o = 0;
  for (size_t i = 0; s[i];) {
    if (s[i] == '\\' && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0) {
      s[o++] = (char)(hexval(s[i + 2]) * 16 + hexval(s[i + 3]));
      i += 4;
    } else {
      s[o++] = s[i++];
    }
  }
  s[o] = '\0';
  return o;
}

static size_t from_hex(const char *s, uint8_t *out) {
  size_t n = 0;
  for (; hexval(s[0]) >= 0 && hexval(s[1]) >= 0; s += 2)
    out[n++] = (uint8_t)(hexval(s[0]) * 16 + hexval(s[1]));
  return n;
}

/* "\n" in expected pretty output stands for a newline. */
static void unescape_newlines(char *s) {
  size_t o = 0;
  for (size_t i = 0; s[i];) {
    if (s[i] == '\\' && s[i + 1] == 'n') {
      s[o++] = '\n';
      i += 2;
    } else {
      s[o++] = s[i++];
    }
  }
  s[o] = '\0';
}

typedef struct ctx {
  const char *file;
  int line;
  const ProtobufCMessageDescriptor *type;
  ee_json_decode_options d;
  ee_json_encode_options e;
} ctx;

static ee_code decode_counted(ctx *c, const char *in, size_t len, ProtobufCMessage **out,
                              ee_status *st, counter *cnt) {
  ProtobufCAllocator a = {count_alloc, count_free, cnt};
  ee_json_decode_options o = c->d;
  o.allocator = &a;
  ee_code rc = ee_json_decode(c->type, in, len, &o, out, st);
  if (rc == EE_OK) {
    protobuf_c_message_free_unpacked(*out, &a);
    *out = NULL;
  }
  return rc;
}

static int encode_to(ctx *c, const ProtobufCMessage *m, ee_buf *b, ee_status *st) {
  ee_buf_reset(b);
  return ee_json_encode(m, &c->e, b, st) == EE_OK;
}

/* An output buffer limited to exactly the text's length holds it; one byte less fails
 * with RESOURCE_EXHAUSTED and leaves the buffer as it was. */
static void check_exact_limit(ctx *c, const ProtobufCMessage *m, size_t len) {
  ee_status st;
  ee_buf b;
  ee_buf_init(&b, len);
  ee_code rc = ee_json_encode(m, &c->e, &b, &st);
  CHECK(rc == EE_OK && b.len == len, "%s:%d: limit of exactly %zu bytes: %s", c->file, c->line, len,
        rc == EE_OK ? "wrong length" : st.message);
  ee_buf_free(&b);
  if (len == 0) return;
  ee_buf_init(&b, len - 1);
  rc = ee_json_encode(m, &c->e, &b, &st);
  CHECK(rc == EE_RESOURCE_EXHAUSTED && b.len == 0, "%s:%d: limit of %zu bytes: %s", c->file,
        c->line, len - 1, rc == EE_OK ? "accepted" : st.message);
  ee_buf_free(&b);
}

/* ------------------------------------------------------------------ line kinds */

static void case_ok(ctx *c, const char *in, size_t len, char *want) {
  ee_status st;
  ProtobufCMessage *m = NULL;
  ee_buf b = EE_BUF_INIT;
  counter cnt = {0, 0, 0};
  if (c->e.indent) unescape_newlines(want);
  if (decode_counted(c, in, len, &m, &st, &cnt) != EE_OK) {
    CHECK(0, "%s:%d: decode failed: %s", c->file, c->line, st.message);
    return;
  }
  CHECK(cnt.live == 0, "%s:%d: %ld allocations not freed", c->file, c->line, cnt.live);
  if (ee_json_decode(c->type, in, len, &c->d, &m, &st) != EE_OK || !encode_to(c, m, &b, &st)) {
    CHECK(0, "%s:%d: %s", c->file, c->line, st.message);
    goto done;
  }
  CHECK(strcmp(b.data, want) == 0, "%s:%d: output\n  got:  %s\n  want: %s", c->file, c->line,
        b.data, want);
  /* Our own output must read back to the same text. */
  protobuf_c_message_free_unpacked(m, NULL);
  m = NULL;
  ee_json_decode_options plain = c->d;
  plain.ignore_unknown_fields = false;
  if (ee_json_decode(c->type, want, strlen(want), &plain, &m, &st) != EE_OK) {
    CHECK(0, "%s:%d: expected output does not decode: %s", c->file, c->line, st.message);
    goto done;
  }
  CHECK(encode_to(c, m, &b, &st) && strcmp(b.data, want) == 0,
        "%s:%d: round trip of the output gives %s", c->file, c->line, b.data ? b.data : "");
  check_exact_limit(c, m, strlen(want));
done:
  protobuf_c_message_free_unpacked(m, NULL);
  ee_buf_free(&b);
}

/* Expected: "[!CODE_NAME ]substring". */
static void case_err(ctx *c, const char *in, size_t len, const char *want) {
  ee_code code = EE_INVALID_ARGUMENT;
  if (want[0] == '!') {
    char name[64];
    size_t n = strcspn(want + 1, " ");
    snprintf(name, sizeof name, "%.*s", (int)n, want + 1);
    if (ee_code_from_name(name, &code) != 0) CHECK(0, "%s:%d: bad code %s", c->file, c->line, name);
    want += 1 + n + (want[1 + n] == ' ');
  }
  ee_status st;
  ProtobufCMessage *m = (ProtobufCMessage *)1;
  counter cnt = {0, 0, 0};
  ee_code rc = decode_counted(c, in, len, &m, &st, &cnt);
  CHECK(rc == code && m == NULL, "%s:%d: want %s, got %s (%s)", c->file, c->line,
        ee_code_name(code), ee_code_name(rc), rc ? st.message : "accepted");
  if (rc != EE_OK)
    CHECK(strstr(st.message, want) != NULL, "%s:%d: error\n  got:  %s\n  want: ...%s...", c->file,
          c->line, st.message, want);
  CHECK(cnt.live == 0, "%s:%d: %ld allocations leaked on error", c->file, c->line, cnt.live);
}

static void case_bin(ctx *c, const char *hex, const char *want, bool want_error) {
  uint8_t data[1024];
  size_t n = from_hex(hex, data);
  ee_status st;
  ProtobufCMessage *m = NULL;
  ee_buf b = EE_BUF_INIT;
  if (ee_wire_unpack(c->type, data, n, 0, NULL, &m, &st) != EE_OK) {
    CHECK(0, "%s:%d: unpack: %s", c->file, c->line, st.message);
    return;
  }
  ee_buf_append_str(&b, "prefix", &st);
  ee_code rc = ee_json_encode(m, &c->e, &b, &st);
  if (want_error) {
    CHECK(rc != EE_OK && strstr(st.message, want) != NULL,
          "%s:%d: encode error\n  got:  %s\n  want: ...%s...", c->file, c->line,
          rc ? st.message : b.data, want);
    CHECK(b.len == 6 && strcmp(b.data, "prefix") == 0, "%s:%d: buffer not restored", c->file,
          c->line);
  } else {
    CHECK(rc == EE_OK && strcmp(b.data + 6, want) == 0, "%s:%d: output\n  got:  %s\n  want: %s",
          c->file, c->line, rc ? st.message : b.data + 6, want);
  }
  protobuf_c_message_free_unpacked(m, NULL);
  ee_buf_free(&b);
}

static void case_wire(ctx *c, const char *hex, const char *want) {
  static uint8_t data[1 << 16];
  size_t n = from_hex(hex, data);
  ee_status st;
  ee_code rc = ee_wire_check(c->type, data, n, c->d.max_depth, &st);
  if (strcmp(want, "ok") == 0)
    CHECK(rc == EE_OK, "%s:%d: wire check failed: %s", c->file, c->line, st.message);
  else
    CHECK(rc == EE_INVALID_ARGUMENT && strstr(st.message, want),
          "%s:%d: wire check\n  got:  %s\n  want: ...%s...", c->file, c->line,
          rc ? st.message : "OK", want);
}

static void set_opts(ctx *c, char *args) {
  memset(&c->d, 0, sizeof c->d);
  memset(&c->e, 0, sizeof c->e);
  c->d.registry = g_reg;
  c->e.registry = g_reg;
  for (char *t = strtok(args, " "); t; t = strtok(NULL, " ")) {
    if (strcmp(t, "ignore_unknown") == 0)
      c->d.ignore_unknown_fields = true;
    else if (strcmp(t, "accept_wrappers") == 0)
      c->d.accept_wrapper_objects = true;
    else if (strncmp(t, "max_depth=", 10) == 0)
      c->d.max_depth = atoi(t + 10);
    else if (strncmp(t, "max_input=", 10) == 0)
      c->d.max_input = (size_t)atol(t + 10);
    else if (strcmp(t, "emit_defaults") == 0)
      c->e.emit_defaults = true;
    else if (strcmp(t, "proto_names") == 0)
      c->e.use_proto_names = true;
    else if (strcmp(t, "enums_as_ints") == 0)
      c->e.enums_as_ints = true;
    else if (strncmp(t, "indent=", 7) == 0)
      c->e.indent = atoi(t + 7);
    else
      CHECK(0, "%s:%d: unknown option %s", c->file, c->line, t);
  }
}

static void run_line(ctx *c, char *line) {
  char *sp = strchr(line, ' ');
  if (!sp) {
    if (strcmp(line, "opts") == 0)
      set_opts(c, line + 4);
    else
      CHECK(0, "%s:%d: bad line", c->file, c->line);
    return;
  }
  *sp = '\0';
  char *kind = line, *rest = sp + 1;
  if (strcmp(kind, "type") == 0) {
    c->type = find_type(rest);
    CHECK(c->type != NULL, "%s:%d: unknown type %s", c->file, c->line, rest);
    return;
  }
  if (strcmp(kind, "opts") == 0) {
    set_opts(c, rest);
    return;
  }
  char *arrow = strstr(rest, " => ");
  if (!arrow || !c->type) {
    CHECK(0, "%s:%d: need 'INPUT => EXPECTED' and a type", c->file, c->line);
    return;
  }
  *arrow = '\0';
  char *want = arrow + 4;
  size_t len = strlen(rest);
  bool raw = kind[strlen(kind) - 1] == 'b';
  if (raw) len = unescape_hex(rest);
  if (strcmp(kind, "ok") == 0 || strcmp(kind, "okb") == 0)
    case_ok(c, rest, len, want);
  else if (strcmp(kind, "err") == 0 || strcmp(kind, "errb") == 0)
    case_err(c, rest, len, want);
  else if (strcmp(kind, "bin") == 0)
    case_bin(c, rest, want, false);
  else if (strcmp(kind, "encerr") == 0)
    case_bin(c, rest, want, true);
  else if (strcmp(kind, "wire") == 0)
    case_wire(c, rest, want);
  else
    CHECK(0, "%s:%d: unknown kind %s", c->file, c->line, kind);
}

static void run_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    CHECK(0, "cannot open %s", path);
    return;
  }
  ctx c;
  memset(&c, 0, sizeof c);
  c.file = path;
  set_opts(&c, (char[]){""});
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) >= 0) {
    c.line++;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n == 0 || line[0] == '#') continue;
    run_line(&c, line);
  }
  free(line);
  fclose(f);
}

/* ------------------------------------------------------------------ API tests */

static void test_json_name(void) {
  static const char *const cases[][2] = {
      {"foo_bar", "fooBar"},
      {"_foo", "Foo"},
      {"foo__bar_", "fooBar"},
      {"foo_1_bar", "foo1Bar"},
      {"fooBar", "fooBar"},
      {"a_b_c", "aBC"},
      {"field_0_name6", "field0Name6"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[64];
    size_t n = ee_json_name(cases[i][0], out, sizeof out);
    CHECK(strcmp(out, cases[i][1]) == 0 && n == strlen(cases[i][1]), "ee_json_name(%s) = %s",
          cases[i][0], out);
  }
  char small[4];
  size_t n = ee_json_name("foo_bar", small, sizeof small);
  CHECK(n == 6 && strcmp(small, "foo") == 0, "ee_json_name truncation: %zu %s", n, small);
}

static void test_registry(void) {
  const ee_json_registry *def = ee_json_default_registry();
  ee_status st;
  CHECK(ee_json_registry_find(def, "google.rpc.Status") != NULL, "default has google.rpc.Status");
  CHECK(ee_json_registry_find(def, "type.googleapis.com/google.protobuf.Duration") ==
            &google__protobuf__duration__descriptor,
        "find by type URL");
  CHECK(ee_json_registry_find(def, "google.earthengine.v1.ExportImageRequest") != NULL,
        "default has ExportImageRequest");
  CHECK(ee_json_registry_find(def, "eetest.TestAllTypes") == NULL, "default lacks test types");
  CHECK(ee_json_registry_find(def, "google.rpc") == NULL, "prefix is not a match");
  CHECK(ee_json_registry_find(def, NULL) == NULL, "NULL name");
  CHECK(ee_json_registry_add((ee_json_registry *)def, &eetest__foreign_message__descriptor, &st) ==
            EE_FAILED_PRECONDITION,
        "default registry refuses additions");
  ee_json_registry *r = ee_json_registry_new();
  CHECK(r && ee_json_registry_find(r, "google.rpc.Status") != NULL, "new copies the default");
  CHECK(ee_json_registry_add(r, &eetest__foreign_message__descriptor, &st) == EE_OK, "add");
  CHECK(ee_json_registry_add(r, &eetest__foreign_message__descriptor, &st) == EE_OK, "add twice");
  CHECK(ee_json_registry_find(r, "x/eetest.ForeignMessage") == &eetest__foreign_message__descriptor,
        "find added");
  CHECK(ee_json_registry_add(r, NULL, &st) == EE_INVALID_ARGUMENT, "add NULL");
  /* Growth past the initial table. */
  for (size_t i = 0; i < eei_test_message_descriptors_count; i++)
    ee_json_registry_add(r, eei_test_message_descriptors[i], &st);
  for (size_t i = 0; i < eei_test_message_descriptors_count; i++)
    CHECK(ee_json_registry_find(r, eei_test_message_descriptors[i]->name) ==
              eei_test_message_descriptors[i],
          "find %s", eei_test_message_descriptors[i]->name);
  ee_json_registry_free(r);
  ee_json_registry_free(NULL);
}

static void test_bad_arguments(void) {
  ee_status st;
  ProtobufCMessage *m = (ProtobufCMessage *)1;
  CHECK(ee_json_decode(NULL, "{}", 2, NULL, &m, &st) == EE_INVALID_ARGUMENT && m == NULL,
        "decode NULL descriptor");
  CHECK(ee_json_decode(&eetest__foreign_message__descriptor, NULL, 0, NULL, &m, &st) ==
                EE_INVALID_ARGUMENT &&
            strstr(st.message, "unexpected end of input, expected '{' (byte 0)") != NULL,
        "decode empty input: %s", st.message);
  CHECK(ee_json_decode(&eetest__foreign_message__descriptor, "  ", 2, NULL, &m, &st) ==
                EE_INVALID_ARGUMENT &&
            strstr(st.message, "(byte 2)") != NULL,
        "decode whitespace only: %s", st.message);
  CHECK(ee_json_decode(&eetest__foreign_message__descriptor, "{}", 2, NULL, NULL, &st) ==
            EE_INVALID_ARGUMENT,
        "decode NULL out");
  ee_buf b = EE_BUF_INIT;
  CHECK(ee_json_encode(NULL, NULL, &b, &st) == EE_INVALID_ARGUMENT, "encode NULL message");
  /* Input that is not NUL-terminated: the decoder must stop at len. */
  const char text[] = "{\"c\":12}xyz";
  CHECK(ee_json_decode(&eetest__foreign_message__descriptor, text, 8, NULL, &m, &st) == EE_OK,
        "decode honours len: %s", st.message);
  CHECK(m && ((Eetest__ForeignMessage *)m)->c == 12, "value read");
  protobuf_c_message_free_unpacked(m, NULL);
  /* Defaults when opts is NULL: strict about unknown fields. */
  CHECK(ee_json_decode(&eetest__foreign_message__descriptor, "{\"d\":1}", 7, NULL, &m, &st) ==
            EE_INVALID_ARGUMENT,
        "NULL opts are strict");
}

static void test_limits(void) {
  ee_status st;
  ProtobufCMessage *m = NULL;
  ee_json_decode_options o = EE_JSON_DECODE_OPTIONS_INIT;
  o.max_input = 10;
  CHECK(ee_json_decode(&eetest__foreign_message__descriptor, "{\"c\": 123456}", 13, &o, &m, &st) ==
                EE_RESOURCE_EXHAUSTED &&
            strstr(st.message, "more than the limit of 10") != NULL,
        "max_input: %s", st.message);
  /* Default depth 100: 100 nested arrays pass as a ListValue, 101 do not. */
  char text[512];
  for (int depth = 100; depth <= 101; depth++) {
    size_t n = 0;
    for (int i = 0; i < depth; i++) text[n++] = '[';
    for (int i = 0; i < depth; i++) text[n++] = ']';
    ee_code rc = ee_json_decode(&google__protobuf__list_value__descriptor, text, n, NULL, &m, &st);
    if (depth == 100) {
      CHECK(rc == EE_OK, "depth 100 accepted: %s", st.message);
      ee_buf b = EE_BUF_INIT;
      CHECK(ee_json_encode(m, NULL, &b, &st) == EE_OK && b.len == n, "depth 100 encodes");
      ee_buf_free(&b);
      protobuf_c_message_free_unpacked(m, NULL);
    } else {
      CHECK(rc == EE_INVALID_ARGUMENT && strstr(st.message, "limit of 100 (byte 100)"),
            "depth 101 refused: %s", st.message);
    }
  }
  /* The encoder refuses to nest deeper than the default limit. */
  o.max_input = 0;
  o.max_depth = 200;
  size_t n = 0;
  for (int i = 0; i < 101; i++) text[n++] = '[';
  for (int i = 0; i < 101; i++) text[n++] = ']';
  CHECK(ee_json_decode(&google__protobuf__list_value__descriptor, text, n, &o, &m, &st) == EE_OK,
        "max_depth 200 accepts 101");
  ee_buf b = EE_BUF_INIT;
  CHECK(ee_json_encode(m, NULL, &b, &st) == EE_INVALID_ARGUMENT &&
            strstr(st.message, "deeper than the limit of 100"),
        "encode depth: %s", st.message);
  protobuf_c_message_free_unpacked(m, NULL);
  /* A full output buffer fails cleanly and restores the buffer. */
  const char *js = "{\"optionalString\":\"a long enough string\"}";
  CHECK(ee_json_decode(&eetest__test_all_types__descriptor, js, strlen(js), NULL, &m, &st) == EE_OK,
        "decode for limit test");
  ee_buf small;
  ee_buf_init(&small, 16);
  ee_buf_append_str(&small, "keep", &st);
  CHECK(ee_json_encode(m, NULL, &small, &st) == EE_RESOURCE_EXHAUSTED && small.len == 4 &&
            strcmp(small.data, "keep") == 0,
        "output limit: %s", st.message);
  ee_buf_free(&small);
  ee_buf_free(&b);
  protobuf_c_message_free_unpacked(m, NULL);
}

/* Every allocation of a rich decode fails in turn: each must give RESOURCE_EXHAUSTED
 * and free everything allocated before it. */
static void test_allocation_failures(void) {
  const char *js =
      "{\"optionalString\":\"s\",\"optionalBytes\":\"AQID\",\"repeatedString\":[\"a\",\"b\",\"c\","
      "\"d\",\"e\"],\"mapStringNestedMessage\":{\"k\":{\"a\":1,\"corecursive\":{\"oneofString\":"
      "\"x\"}}},\"optionalStruct\":{\"a\":[1,{\"b\":null}]},\"optionalAny\":{\"@type\":"
      "\"type.googleapis.com/eetest.ForeignMessage\",\"c\":3},\"optionalFieldMask\":\"a.bC,d\","
      "\"repeatedValue\":[\"x\",true]}";
  ee_json_decode_options o = EE_JSON_DECODE_OPTIONS_INIT;
  o.registry = g_reg;
  long total = 0;
  for (long k = 1;; k++) {
    counter cnt = {0, 0, k};
    ProtobufCAllocator a = {count_alloc, count_free, &cnt};
    o.allocator = &a;
    ProtobufCMessage *m = NULL;
    ee_status st;
    ee_code rc = ee_json_decode(&eetest__test_all_types__descriptor, js, strlen(js), &o, &m, &st);
    if (rc == EE_OK) {
      protobuf_c_message_free_unpacked(m, &a);
      CHECK(cnt.live == 0, "alloc failure run leaked");
      total = k - 1;
      break;
    }
    CHECK(rc == EE_RESOURCE_EXHAUSTED && m == NULL && cnt.live == 0,
          "allocation %ld failing: rc %d, %ld live, %s", k, rc, cnt.live, st.message);
    if (k > 1000) break;
  }
  CHECK(total > 20, "allocation failure test covered %ld allocations", total);
  /* Truncating the same text at every byte must fail without leaks. */
  for (size_t n = 0; n < strlen(js); n++) {
    counter cnt = {0, 0, 0};
    ProtobufCAllocator a = {count_alloc, count_free, &cnt};
    o.allocator = &a;
    ProtobufCMessage *m = NULL;
    ee_status st;
    ee_code rc = ee_json_decode(&eetest__test_all_types__descriptor, js, n, &o, &m, &st);
    CHECK(rc == EE_INVALID_ARGUMENT && cnt.live == 0 && strstr(st.message, "(byte "),
          "truncated at %zu: %s", n, st.message);
  }
}

/* Binary nested n levels through recursive_message (field 500). */
static size_t nested_binary(int levels, uint8_t *out, size_t cap) {
  size_t len = 0, start = cap;
  for (int i = 1; i < levels; i++) {
    /* prepend tag 500/LEN (a2 1f) and the varint length of what follows */
    uint8_t hdr[8];
    size_t h = 0;
    hdr[h++] = 0xa2;
    hdr[h++] = 0x1f;
    size_t v = len;
    do {
      hdr[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      v >>= 7;
    } while (v);
    start -= h;
    memcpy(out + start, hdr, h);
    len += h;
  }
  memmove(out, out + start, len);
  return len;
}

static void test_wire_depth(void) {
  static uint8_t buf[4096];
  ee_status st;
  size_t n = nested_binary(100, buf, sizeof buf);
  CHECK(ee_wire_check(&eetest__test_all_types__descriptor, buf, n, 0, &st) == EE_OK,
        "100 levels pass: %s", st.message);
  ProtobufCMessage *m = NULL;
  CHECK(ee_wire_unpack(&eetest__test_all_types__descriptor, buf, n, 0, NULL, &m, &st) == EE_OK && m,
        "unpack 100 levels");
  protobuf_c_message_free_unpacked(m, NULL);
  n = nested_binary(101, buf, sizeof buf);
  CHECK(ee_wire_unpack(&eetest__test_all_types__descriptor, buf, n, 0, NULL, &m, &st) ==
                EE_INVALID_ARGUMENT &&
            m == NULL && strstr(st.message, "deeper than the limit of 100"),
        "101 levels refused: %s", st.message);
  /* Well framed but not a valid value for protobuf-c: an int32 field sent as fixed64. */
  const uint8_t bad[] = {0x09, 1, 2, 3, 4, 5, 6, 7, 8};
  CHECK(ee_wire_unpack(&eetest__test_all_types__descriptor, bad, sizeof bad, 0, NULL, &m, &st) ==
                EE_INVALID_ARGUMENT &&
            strstr(st.message, "does not parse as eetest.TestAllTypes"),
        "unpack NULL becomes INVALID_ARGUMENT: %s", st.message);
}

/* Any holding a message nested past the limit is refused by the encoder, not unpacked. */
static void test_any_depth(void) {
  static uint8_t inner[4096];
  size_t n = nested_binary(150, inner, sizeof inner);
  Eetest__TestAllTypes m = EETEST__TEST_ALL_TYPES__INIT;
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = "type.googleapis.com/eetest.TestAllTypes";
  any.value.data = inner;
  any.value.len = n;
  m.optional_any = &any;
  ee_buf b = EE_BUF_INIT;
  ee_status st;
  ee_json_encode_options o = EE_JSON_ENCODE_OPTIONS_INIT;
  o.registry = g_reg;
  CHECK(ee_json_encode(&m.base, &o, &b, &st) == EE_INVALID_ARGUMENT &&
            strstr(st.message, "optionalAny: Any value of type eetest.TestAllTypes"),
        "deep Any refused: %s", st.message);
  ee_buf_free(&b);
}

static void *decode_thread(void *arg) {
  const char *js = arg;
  ee_json_decode_options o = EE_JSON_DECODE_OPTIONS_INIT;
  o.registry = g_reg;
  long bad = 0;
  for (int i = 0; i < 200; i++) {
    ProtobufCMessage *m = NULL;
    ee_status st;
    if (ee_json_decode(&eetest__test_all_types__descriptor, js, strlen(js), &o, &m, &st) != EE_OK)
      bad++;
    protobuf_c_message_free_unpacked(m, NULL);
  }
  return (void *)bad;
}

/* First use of the descriptor tables from several threads at once. */
static void test_threads(void) {
  const char *js =
      "{\"optionalNestedMessage\":{\"corecursive\":{\"mapStringValue\":{\"a\":{\"b\":[1]}}}},"
      "\"repeatedDuration\":[\"1s\"],\"optionalAny\":{\"@type\":\"type.googleapis.com/"
      "google.rpc.Status\",\"code\":3}}";
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, decode_thread, (void *)js);
  for (int i = 0; i < 4; i++) {
    void *bad;
    pthread_join(t[i], &bad);
    CHECK(bad == NULL, "thread %d: %ld failures", i, (long)bad);
  }
}

/* A thread whose first decode fails inside an array or a map, before its scratch stack
 * exists (UBSan once caught pointer arithmetic on the missing stack here). */
static void *fresh_thread(void *arg) {
  (void)arg;
  static const char *const inputs[] = {"{\"repeatedInt32\":[x]}", "{\"mapStringString\":{1}}",
                                       "{\"repeatedNestedMessage\":[{\"a\":\"b\"}]}"};
  long bad = 0;
  for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
    ProtobufCMessage *m = NULL;
    ee_status st;
    if (ee_json_decode(&eetest__test_all_types__descriptor, inputs[i], strlen(inputs[i]), NULL, &m,
                       &st) != EE_INVALID_ARGUMENT)
      bad++;
  }
  return (void *)bad;
}

static void test_fresh_thread(void) {
  pthread_t t;
  void *bad;
  pthread_create(&t, NULL, fresh_thread, NULL);
  pthread_join(t, &bad);
  CHECK(bad == NULL, "fresh thread: %ld unexpected results", (long)bad);
}

/* A large map exercises the hashed duplicate-key check. */
static void test_big_map(void) {
  ee_buf b = EE_BUF_INIT;
  ee_status st;
  ee_buf_append_str(&b, "{\"mapInt32Int32\":{", &st);
  for (int i = 0; i < 500; i++) ee_buf_printf(&b, &st, "%s\"%d\":%d", i ? "," : "", i * 7, i);
  size_t body = b.len;
  ee_buf_append_str(&b, "}}", &st);
  ProtobufCMessage *m = NULL;
  CHECK(ee_json_decode(&eetest__test_all_types__descriptor, b.data, b.len, NULL, &m, &st) == EE_OK,
        "500-entry map: %s", st.message);
  CHECK(m && ((Eetest__TestAllTypes *)m)->n_map_int32_int32 == 500, "500 entries");
  protobuf_c_message_free_unpacked(m, NULL);
  b.len = body;
  ee_buf_append_str(&b, ",\"1043\":1}}", &st); /* 149 * 7 */
  CHECK(ee_json_decode(&eetest__test_all_types__descriptor, b.data, b.len, NULL, &m, &st) ==
                EE_INVALID_ARGUMENT &&
            strstr(st.message, "mapInt32Int32[\"1043\"]: duplicate map key \"1043\""),
        "duplicate in a big map: %s", st.message);
  ee_buf_free(&b);
}

/* ------------------------------------------------------------------ string sweep */

/* The reference escaper: json.dumps(ensure_ascii=False) rules, one byte at a time. */
static void ref_escape(const char *s, size_t n, ee_buf *out) {
  ee_status st;
  ee_buf_append(out, "\"", 1, &st);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = c == '"'    ? "\\\""
                      : c == '\\' ? "\\\\"
                      : c == '\b' ? "\\b"
                      : c == '\f' ? "\\f"
                      : c == '\n' ? "\\n"
                      : c == '\r' ? "\\r"
                      : c == '\t' ? "\\t"
                                  : NULL;
    if (esc)
      ee_buf_append_str(out, esc, &st);
    else if (c < 0x20)
      ee_buf_printf(out, &st, "\\u%04x", c);
    else
      ee_buf_append(out, &c, 1, &st);
  }
  ee_buf_append(out, "\"", 1, &st);
}

/* One string as a field of a message (the general path) and inside an Any (the wire
 * streaming path), against the reference; then with the output limit at exactly the
 * text's length (must fit) and one byte less (must fail and leave the buffer alone). */
static void sweep_one(const char *s, size_t n) {
  ee_status st;
  Eetest__TestAllTypes inner = EETEST__TEST_ALL_TYPES__INIT;
  char *copy = strndup(s, n);
  inner.optional_string = copy;
  uint8_t packed[256];
  size_t plen = protobuf_c_message_pack(&inner.base, packed);
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = "type.googleapis.com/eetest.TestAllTypes";
  any.value.data = packed;
  any.value.len = plen;
  Eetest__TestAllTypes outer = EETEST__TEST_ALL_TYPES__INIT;
  outer.optional_any = &any;
  ee_buf want = EE_BUF_INIT, want_any = EE_BUF_INIT, got = EE_BUF_INIT;
  size_t kept = strlen(copy); /* protobuf-c strings end at a NUL */
  ee_buf_append_str(&want, "{\"optionalString\":", &st);
  ref_escape(s, kept, &want);
  ee_buf_append_str(&want, "}", &st);
  ee_buf_append_str(&want_any,
                    "{\"optionalAny\":{\"@type\":\"type.googleapis.com/eetest.TestAllTypes\","
                    "\"optionalString\":",
                    &st);
  ref_escape(s, kept, &want_any);
  ee_buf_append_str(&want_any, "}}", &st);
  ee_json_encode_options opts = EE_JSON_ENCODE_OPTIONS_INIT;
  opts.registry = g_reg;
  const ProtobufCMessage *msgs[2] = {&inner.base, &outer.base};
  const ee_buf *wants[2] = {&want, &want_any};
  for (int k = 0; k < 2; k++) {
    const char *what = k ? "in Any" : "field";
    if (kept == 0) { /* an empty proto3 string is not printed */
      ee_buf_reset(&got);
      const char *empty =
          k ? "{\"optionalAny\":{\"@type\":\"type.googleapis.com/eetest.TestAllTypes\"}}" : "{}";
      CHECK(ee_json_encode(msgs[k], &opts, &got, &st) == EE_OK && strcmp(got.data, empty) == 0,
            "sweep: empty string %s: %s", what, got.data ? got.data : st.message);
      continue;
    }
    ee_buf_reset(&got);
    ee_code rc = ee_json_encode(msgs[k], &opts, &got, &st);
    CHECK(rc == EE_OK && got.len == wants[k]->len && memcmp(got.data, wants[k]->data, got.len) == 0,
          "sweep %s (len %zu): got %s want %s", what, n, rc == EE_OK ? got.data : st.message,
          wants[k]->data);
    size_t len = wants[k]->len;
    ee_buf exact;
    ee_buf_init(&exact, len);
    rc = ee_json_encode(msgs[k], &opts, &exact, &st);
    CHECK(rc == EE_OK && exact.len == len, "sweep %s (len %zu) at an exact limit: %s", what, n,
          rc == EE_OK ? "ok" : st.message);
    ee_buf_free(&exact);
    ee_buf tight;
    ee_buf_init(&tight, len - 1);
    rc = ee_json_encode(msgs[k], &opts, &tight, &st);
    CHECK(rc == EE_RESOURCE_EXHAUSTED && tight.len == 0, "sweep %s (len %zu) one byte short: %s",
          what, n, rc == EE_OK ? "accepted" : st.message);
    ee_buf_free(&tight);
  }
  ee_buf_free(&want);
  ee_buf_free(&want_any);
  ee_buf_free(&got);
  free(copy);
}

/* Every length up to 70 with each kind of byte that needs attention at every position:
 * the encoder copies strings in 16- and 8-byte blocks, so block edges are what matters. */
static void test_string_sweep(void) {
  static const char *const specials[] = {
      "\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", ""};
  char s[96];
  for (size_t len = 0; len <= 70; len++) {
    for (size_t i = 0; i < len; i++) s[i] = (char)('a' + i % 26);
    sweep_one(s, len);
    for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
      size_t sl = strlen(specials[k]);
      if (sl == 0) sl = 1; /* "" stands for a NUL byte */
      for (size_t at = 0; at + sl <= len; at++) {
        for (size_t i = 0; i < len; i++) s[i] = (char)('a' + i % 26);
        memcpy(s + at, specials[k], sl);
        sweep_one(s, len);
      }
    }
  }
}

int main(int argc, char **argv) {
  ee_status st;
  /* The test protos' custom json_name options, before any type is used. */
  if (ee_json_add_names(&eei_test_routes, &st) != EE_OK) {
    fprintf(stderr, "json_unit: %s\n", st.message);
    return 1;
  }
  g_reg = ee_json_registry_new();
  for (size_t i = 0; g_reg && i < eei_test_message_descriptors_count; i++)
    ee_json_registry_add(g_reg, eei_test_message_descriptors[i], &st);
  if (!g_reg) return 1;
  for (int i = 1; i < argc; i++) run_file(argv[i]);
  test_json_name();
  test_registry();
  test_bad_arguments();
  test_limits();
  test_allocation_failures();
  test_wire_depth();
  test_any_depth();
  test_threads();
  test_fresh_thread();
  test_big_map();
  test_string_sweep();
  ee_json_registry_free(g_reg);
  return check_report("json_unit");
}
