/* proto3 JSON -> protobuf-c message: a recursive-descent parser with its own lexer that
 * writes straight into the message (no DOM).
 *
 * Invariant that makes every error path leak-free: the message tree is always in a state
 * protobuf_c_message_free_unpacked can free. Anything allocated is linked into the tree
 * at once (a sub-message pointer, a repeated array with its count, a oneof case before
 * its pointer member), and a value is only counted once it is complete. On error the
 * decoder frees the root and nothing else.
 *
 * Error paths cost nothing on success: each level prepends its own segment (field key,
 * [index], ["map key"]) to the path while the error unwinds. */
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/struct.pb-c.h"
#include "json_internal.h"

/* Buffers reused across calls on one thread (decoded string text, the element stack of
 * arrays being parsed, the duplicate-key tables of big maps), so that a steady stream of
 * decodes allocates nothing but the message itself. Released at thread exit, and after a
 * call that grew them past EEI_SCRATCH_KEEP. */
typedef struct scratch {
  char *str;
  size_t str_cap;
  char *stk;
  size_t stk_len, stk_cap;
  uint32_t *ks;
  size_t ks_len, ks_cap;
  struct arena_chunk *arena_first, *arena_cur; /* for messages inside Any, see parse_any */
} scratch;

/* A bump allocator over reusable chunks. The message an Any holds is built only to be
 * packed into bytes and dropped, so it comes from here: no malloc per node, and no
 * free_unpacked walk afterwards, just a reset to the mark taken before. */
typedef struct arena_chunk {
  struct arena_chunk *next;
  size_t size, used;
  max_align_t data[];
} arena_chunk;

typedef struct arena_mark {
  arena_chunk *chunk;
  size_t used;
} arena_mark;

static void *arena_alloc(void *data, size_t n) {
  scratch *s = data;
  n = (n + 15) & ~(size_t)15;
  arena_chunk *c = s->arena_cur;
  while (c && c->used + n > c->size) {
    c = c->next;
    if (c) c->used = 0;
  }
  if (!c) {
    size_t size = n > ((size_t)64 << 10) ? n : (size_t)64 << 10;
    c = malloc(sizeof *c + size);
    if (!c) return NULL;
    c->size = size;
    c->used = 0;
    /* link after the current chunk so later chunks stay reusable */
    if (s->arena_cur) {
      c->next = s->arena_cur->next;
      s->arena_cur->next = c;
    } else {
      c->next = s->arena_first;
      s->arena_first = c;
    }
  }
  s->arena_cur = c;
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

static void arena_free(void *data, void *p) {
  (void)data, (void)p; /* everything goes at once, by arena_reset */
}

static arena_mark arena_get_mark(scratch *s) {
  if (!s->arena_first) { /* so that a mark always names a chunk */
    arena_chunk *c = malloc(sizeof *c + ((size_t)64 << 10));
    if (c) {
      c->next = NULL;
      c->size = (size_t)64 << 10;
      c->used = 0;
      s->arena_first = s->arena_cur = c;
    }
  }
  arena_mark m = {s->arena_cur, s->arena_cur ? s->arena_cur->used : 0};
  return m;
}

static void arena_reset(scratch *s, arena_mark m) {
  s->arena_cur = m.chunk;
  if (m.chunk) m.chunk->used = m.used;
}

static void arena_release(scratch *s) {
  for (arena_chunk *c = s->arena_first, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  s->arena_first = s->arena_cur = NULL;
}

#define EEI_SCRATCH_KEEP ((size_t)1 << 20)

static _Thread_local scratch t_scratch;
static _Thread_local bool t_registered;
static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;

static void scratch_release(void *p) {
  scratch *s = p;
  arena_release(s);
  free(s->str);
  free(s->stk);
  free(s->ks);
  memset(s, 0, sizeof *s);
}

static void scratch_key_init(void) {
  pthread_key_create(&g_scratch_key, scratch_release);
}

static scratch *scratch_get(void) {
  if (!t_registered) {
    pthread_once(&g_scratch_once, scratch_key_init);
    pthread_setspecific(g_scratch_key, &t_scratch);
    t_registered = true;
  }
  return &t_scratch;
}

static void scratch_trim(scratch *s) {
  s->stk_len = s->ks_len = 0;
  size_t arena_bytes = 0;
  for (arena_chunk *c = s->arena_first; c; c = c->next) arena_bytes += c->size;
  if (arena_bytes > EEI_SCRATCH_KEEP) arena_release(s);
  s->arena_cur = s->arena_first;
  if (s->arena_cur) s->arena_cur->used = 0;
  if (s->str_cap > EEI_SCRATCH_KEEP) {
    free(s->str);
    s->str = NULL;
    s->str_cap = 0;
  }
  if (s->stk_cap > EEI_SCRATCH_KEEP) {
    free(s->stk);
    s->stk = NULL;
    s->stk_cap = 0;
  }
  if (s->ks_cap * sizeof *s->ks > EEI_SCRATCH_KEEP) {
    free(s->ks);
    s->ks = NULL;
    s->ks_cap = 0;
  }
}

typedef struct dec {
  const char *base, *p, *end;
  ProtobufCAllocator *alloc; /* NULL: malloc/free, which is protobuf-c's default */
  const ee_json_registry *reg;
  bool ignore_unknown;
  bool accept_wrappers;
  int depth, max_depth;
  struct scratch *s; /* the thread's reusable buffers */
  /* first error */
  bool failed;
  ee_code code;
  size_t err_off;
  char reason[384];
  char path[512];
  size_t path_start; /* the path is path[path_start..] (built right to left) */
  bool path_cut;
} dec;

/* A lexed string: raw is the text between the quotes in the input (used for error
 * paths), s/n the decoded text (points into the input when there were no escapes). */
typedef struct str_tok {
  const char *raw;
  size_t raw_n;
  const char *s;
  size_t n;
  bool has_nul;
} str_tok;

/* A lexed number: value = mant * 10^exp10 while !inexact. */
typedef struct num_tok {
  const char *s;
  size_t len;
  bool neg;
  bool is_int; /* no fraction, no exponent */
  uint64_t mant;
  int32_t exp10;
  bool lost_int;  /* a non-zero integer digit did not fit in mant */
  bool lost_frac; /* a non-zero fraction digit did not fit in mant */
} num_tok;

static const double k_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* ------------------------------------------------------------------ errors */

__attribute__((format(printf, 4, 5))) static int fail_code(dec *d, ee_code code, const char *at,
                                                           const char *fmt, ...) {
  if (d->failed) return -1;
  d->failed = true;
  d->code = code;
  d->err_off = (size_t)((at ? at : d->p) - d->base);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->reason, sizeof d->reason, fmt, ap);
  va_end(ap);
  return -1;
}

#define fail(d, at, ...) fail_code((d), EE_INVALID_ARGUMENT, (at), __VA_ARGS__)

static void path_prepend(dec *d, const char *s, size_t n) {
  if (n > d->path_start - 1) { /* keep room for the NUL at the end */
    d->path_cut = true;
    return;
  }
  d->path_start -= n;
  memcpy(d->path + d->path_start, s, n);
}

/* Copies raw key text, replacing bytes that would make the message unreadable. */
static void path_prepend_text(dec *d, const char *s, size_t n) {
  char tmp[128];
  if (n > sizeof tmp) {
    path_prepend(d, "...", 3);
    s += n - sizeof tmp;
    n = sizeof tmp;
  }
  for (size_t i = 0; i < n; i++) tmp[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
  path_prepend(d, tmp, n);
}

static void path_field(dec *d, const char *key, size_t n) {
  path_prepend_text(d, key, n);
  path_prepend(d, ".", 1);
}

static void path_index(dec *d, size_t i) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "[%zu]", i);
  path_prepend(d, tmp, (size_t)n);
}

static void path_map_key(dec *d, const char *raw, size_t n) {
  path_prepend(d, "\"]", 2);
  path_prepend_text(d, raw, n);
  path_prepend(d, "[\"", 2);
}

static ee_code report(dec *d, ee_status *st) {
  if (!d->failed) fail_code(d, EE_INTERNAL, NULL, "internal error without a reason");
  const char *path = d->path + d->path_start;
  if (*path == '.') path++;
  if (*path)
    return ee_status_set(st, d->code, "%s%s: %s (byte %zu)", d->path_cut ? "..." : "", path,
                         d->reason, d->err_off);
  return ee_status_set(st, d->code, "%s (byte %zu)", d->reason, d->err_off);
}

/* ------------------------------------------------------------------ memory */

static void *d_alloc(dec *d, size_t n) {
  void *p = d->alloc ? d->alloc->alloc(d->alloc->allocator_data, n) : malloc(n);
  if (!p) fail_code(d, EE_RESOURCE_EXHAUSTED, NULL, "out of memory (%zu bytes)", n);
  return p;
}

static void d_free(dec *d, void *p) {
  if (!p) return;
  if (d->alloc)
    d->alloc->free(d->alloc->allocator_data, p);
  else
    free(p);
}

static ProtobufCMessage *new_message(dec *d, const ProtobufCMessageDescriptor *desc) {
  ProtobufCMessage *m = d_alloc(d, desc->sizeof_message);
  if (m) protobuf_c_message_init(desc, m);
  return m;
}

static char *dup_text(dec *d, const char *s, size_t n) {
  char *c = d_alloc(d, n + 1);
  if (!c) return NULL;
  memcpy(c, s, n);
  c[n] = '\0';
  return c;
}

static int scratch_reserve(dec *d, size_t need) {
  scratch *sc = d->s;
  if (need <= sc->str_cap) return 0;
  size_t cap = sc->str_cap ? sc->str_cap : 256;
  while (cap < need) cap *= 2;
  char *s = realloc(sc->str, cap);
  if (!s) return fail_code(d, EE_RESOURCE_EXHAUSTED, NULL, "out of memory (%zu bytes)", cap);
  sc->str = s;
  sc->str_cap = cap;
  return 0;
}

/* ------------------------------------------------------------------ lexer */

static inline void skip_ws(dec *d) {
  const char *p = d->p, *end = d->end;
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  d->p = p;
}

/* Next significant byte, or 0 at the end of input. */
static inline char peek(dec *d) {
  if (d->p < d->end && (unsigned char)*d->p > ' ') return *d->p; /* compact JSON */
  skip_ws(d);
  return d->p < d->end ? *d->p : 0;
}

static int unexpected(dec *d, const char *want) {
  if (d->p >= d->end) return fail(d, d->p, "unexpected end of input, expected %s", want);
  unsigned char c = (unsigned char)*d->p;
  if (c >= 0x20 && c < 0x7f) return fail(d, d->p, "expected %s, found '%c'", want, c);
  return fail(d, d->p, "expected %s, found byte 0x%02x", want, c);
}

static inline int expect(dec *d, char c, const char *want) {
  if (peek(d) != c) return unexpected(d, want);
  d->p++;
  return 0;
}

/* Called just after an opening bracket; the error points at the bracket. */
static int depth_enter(dec *d) {
  if (++d->depth > d->max_depth)
    return fail(d, d->p - 1, "nesting deeper than the limit of %d", d->max_depth);
  return 0;
}

/* 1 for bytes a string can hold verbatim: printable ASCII except '"' and '\\'. */
static const unsigned char k_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static int hex4(const char *p, const char *end, unsigned *out) {
  if (end - p < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    unsigned h;
    if (c >= '0' && c <= '9')
      h = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      h = (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      h = (unsigned)(c - 'A' + 10);
    else
      return -1;
    v = v << 4 | h;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12);
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18);
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* One escape sequence at p (just after the backslash); appends its UTF-8 to the scratch
 * at *o. Returns the input bytes consumed, or 0 on error. */
static size_t unescape(dec *d, const char *p, size_t *o, bool *has_nul) {
  static const char simple[256] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                   ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};
  if (p >= d->end) return fail(d, p - 1, "unterminated string"), 0;
  char c = simple[(unsigned char)*p];
  if (c) {
    d->s->str[(*o)++] = c;
    return 1;
  }
  if (*p != 'u') return fail(d, p - 1, "invalid escape sequence in string"), 0;
  unsigned cp, lo;
  if (hex4(p + 1, d->end, &cp) != 0) return fail(d, p - 1, "invalid \\u escape in string"), 0;
  size_t used = 5;
  if (cp >= 0xDC00 && cp <= 0xDFFF)
    return fail(d, p - 1, "lone low surrogate \\u%04X in string", cp), 0;
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (d->end - p < 11 || p[5] != '\\' || p[6] != 'u' || hex4(p + 7, d->end, &lo) != 0 ||
        lo < 0xDC00 || lo > 0xDFFF)
      return fail(d, p - 1, "lone high surrogate \\u%04X in string", cp), 0;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    used = 11;
  }
  if (cp == 0) *has_nul = true;
  *o += put_utf8(d->s->str + *o, cp);
  return used;
}

/* Decodes the rest of a string that has escapes into the scratch buffer; start is the
 * first byte after the opening quote, d->p the first backslash. */
static int lex_string_slow(dec *d, const char *start, str_tok *t) {
  const char *p = d->p, *end = d->end;
  size_t o = (size_t)(p - start);
  /* Escapes never grow the text, so the raw length bounds the decoded one. */
  const char *q = p;
  while (q < end && *q != '"') q += *q == '\\' ? 2 : 1;
  if (scratch_reserve(d, (size_t)(q - start) + 8) != 0) return -1;
  memcpy(d->s->str, start, o);
  for (;;) {
    if (p >= end) return fail(d, start - 1, "unterminated string");
    unsigned char c = (unsigned char)*p;
    if (k_plain[c]) {
      d->s->str[o++] = (char)c;
      p++;
    } else if (c == '"') {
      break;
    } else if (c == '\\') {
      size_t used = unescape(d, p + 1, &o, &t->has_nul);
      if (!used) return -1;
      p += 1 + used;
    } else if (c >= 0x80) {
      size_t n = eei_utf8_seq((const unsigned char *)p, (const unsigned char *)end);
      if (!n) return fail(d, p, "invalid UTF-8 in string");
      memcpy(d->s->str + o, p, n);
      o += n;
      p += n;
    } else {
      return fail(d, p, "unescaped control character 0x%02x in string", c);
    }
  }
  t->raw = start;
  t->raw_n = (size_t)(p - start);
  t->s = d->s->str;
  t->n = o;
  d->p = p + 1;
  return 0;
}

/* At a '"' (after whitespace). Validates UTF-8 and escapes. */
static int lex_string(dec *d, str_tok *t) {
  const char *start = ++d->p, *p = start, *end = d->end;
  t->has_nul = false;
  for (;;) {
#if EEI_USE_SSE2
    /* 16 bytes at a time: stop at '"', '\\', a control byte or a non-ASCII byte (all
     * of which are negative or below 0x20 as signed bytes, or equal to the two). */
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  ctl = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
      __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
      __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                               _mm_cmplt_epi8(v, ctl));
      int bits = _mm_movemask_epi8(m);
      if (bits) {
        p += __builtin_ctz((unsigned)bits);
        break;
      }
      p += 16;
    }
#endif
    while (p < end && k_plain[(unsigned char)*p]) p++;
    if (p >= end) return fail(d, start - 1, "unterminated string");
    unsigned char c = (unsigned char)*p;
    if (c == '"') break;
    if (c == '\\') {
      d->p = p;
      return lex_string_slow(d, start, t);
    }
    if (c < 0x80) return fail(d, p, "unescaped control character 0x%02x in string", c);
    size_t n = eei_utf8_seq((const unsigned char *)p, (const unsigned char *)end);
    if (!n) return fail(d, p, "invalid UTF-8 in string");
    p += n;
  }
  t->raw = t->s = start;
  t->raw_n = t->n = (size_t)(p - start);
  d->p = p + 1;
  return 0;
}

static int expect_string(dec *d, str_tok *t, const char *want) {
  if (peek(d) != '"') return unexpected(d, want);
  return lex_string(d, t);
}

/* JSON number grammar over [p, end); returns the end of the number or NULL. */
static const char *scan_number(const char *p, const char *end, num_tok *n) {
  const uint64_t cut = 1844674407370955161ULL; /* UINT64_MAX / 10 */
  memset(n, 0, sizeof *n);
  n->s = p;
  n->is_int = true;
  if (p < end && *p == '-') {
    n->neg = true;
    p++;
  }
  if (p >= end || *p < '0' || *p > '9') return NULL;
  if (*p == '0') {
    p++;
  } else {
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
      unsigned dg = (unsigned)(*p - '0');
      if (n->mant < cut || (n->mant == cut && dg <= 5)) {
        n->mant = n->mant * 10 + dg;
      } else {
        n->exp10++;
        if (dg) n->lost_int = true;
      }
    }
  }
  if (p < end && *p == '.') {
    n->is_int = false;
    p++;
    if (p >= end || *p < '0' || *p > '9') return NULL;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
      unsigned dg = (unsigned)(*p - '0');
      if (n->mant == 0 && dg == 0) {
        n->exp10--;
      } else if (n->mant < cut || (n->mant == cut && dg <= 5)) {
        n->mant = n->mant * 10 + dg;
        n->exp10--;
      } else if (dg) {
        n->lost_frac = true;
      }
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    n->is_int = false;
    p++;
    bool eneg = false;
    if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    if (p >= end || *p < '0' || *p > '9') return NULL;
    int32_t e = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
      if (e < 100000) e = e * 10 + (*p - '0');
    }
    n->exp10 += eneg ? -e : e;
  }
  n->len = (size_t)(p - n->s);
  return p;
}

static int lex_number(dec *d, num_tok *n) {
  const char *e = scan_number(d->p, d->end, n);
  if (!e) return fail(d, d->p, "invalid number");
  d->p = e;
  return 0;
}

/* Exact integer magnitude of a number; NULL or the reason it is not one. */
static const char *num_magnitude(const num_tok *n, uint64_t *out) {
  uint64_t m = n->mant;
  int32_t e = n->exp10;
  if (n->lost_frac) return "is not an integer";
  if (n->lost_int) return "is out of range";
  if (m == 0) {
    *out = 0;
    return NULL;
  }
  for (; e < 0; e++) {
    if (m % 10) return "is not an integer";
    m /= 10;
  }
  for (; e > 0; e--) {
    if (m > UINT64_MAX / 10) return "is out of range";
    m *= 10;
  }
  *out = m;
  return NULL;
}

static int num_double(const num_tok *n, double *out) {
  if (n->mant == 0) {
    *out = n->neg ? -0.0 : 0.0;
    return 0;
  }
  if (!n->lost_int && !n->lost_frac && n->mant < (1ULL << 53) && n->exp10 >= -22 &&
      n->exp10 <= 22) {
    double v = (double)n->mant;
    v = n->exp10 < 0 ? v / k_pow10[-n->exp10] : v * k_pow10[n->exp10];
    *out = n->neg ? -v : v;
    return 0;
  }
  return eei_strtod(n->s, n->len, out);
}

static int lex_literal(dec *d, const char *word, size_t n) {
  if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
    return unexpected(d, "a JSON value");
  d->p += n;
  return 0;
}

/* Validates and skips one value of any kind (unknown fields, Any pre-scan). */
static int skip_value(dec *d) {
  str_tok t;
  num_tok n;
  switch (peek(d)) {
    case '"': return lex_string(d, &t);
    case 't': return lex_literal(d, "true", 4);
    case 'f': return lex_literal(d, "false", 5);
    case 'n': return lex_literal(d, "null", 4);
    case '{':
    case '[': break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9': return lex_number(d, &n);
    default: return unexpected(d, "a JSON value");
  }
  char close = *d->p == '{' ? '}' : ']';
  d->p++;
  if (depth_enter(d) != 0) return -1;
  if (peek(d) == close) {
    d->p++;
    d->depth--;
    return 0;
  }
  for (;;) {
    if (close == '}') {
      if (expect_string(d, &t, "a string key") != 0 || expect(d, ':', "':'") != 0) return -1;
    }
    if (skip_value(d) != 0) return -1;
    char c = peek(d);
    d->p++;
    if (c == close) break;
    if (c != ',') {
      d->p--;
      return unexpected(d, close == '}' ? "',' or '}'" : "',' or ']'");
    }
  }
  d->depth--;
  return 0;
}

/* ------------------------------------------------------------------ scalars */

typedef enum int_kind { K_I32, K_U32, K_I64, K_U64 } int_kind;

static const char *const k_int_names[] = {"int32", "uint32", "int64", "uint64"};

/* A number, or a string holding one (int64 is usually quoted). */
static int read_num_token(dec *d, num_tok *n, const char *what) {
  char c = peek(d);
  if (c == '"') {
    str_tok t;
    const char *at = d->p;
    if (lex_string(d, &t) != 0) return -1;
    const char *e = scan_number(t.s, t.s + t.n, n);
    if (!e || e != t.s + t.n) return fail(d, at, "invalid %s \"%.*s\"", what, (int)t.raw_n, t.raw);
    return 0;
  }
  if (c == '-' || (c >= '0' && c <= '9')) return lex_number(d, n);
  return unexpected(d, what);
}

/* The value of a number as an integer of kind k; NULL or why it is not one. */
static const char *num_to_int(const num_tok *n, int_kind k, void *dst) {
  static const uint64_t pos_max[] = {INT32_MAX, UINT32_MAX, INT64_MAX, UINT64_MAX};
  static const uint64_t neg_max[] = {(uint64_t)INT32_MAX + 1, 0, (uint64_t)INT64_MAX + 1, 0};
  uint64_t m;
  const char *why = num_magnitude(n, &m);
  if (why) return why;
  if (m > (n->neg ? neg_max[k] : pos_max[k])) return "is out of range";
  switch (k) {
    case K_I32: *(int32_t *)dst = n->neg ? (int32_t)(0 - m) : (int32_t)m; break;
    case K_U32: *(uint32_t *)dst = (uint32_t)m; break;
    case K_I64: *(int64_t *)dst = n->neg ? (int64_t)(0 - m) : (int64_t)m; break;
    case K_U64: *(uint64_t *)dst = m; break;
  }
  return NULL;
}

static int read_int(dec *d, int_kind k, void *dst) {
  num_tok n;
  const char *at = (peek(d), d->p);
  if (read_num_token(d, &n, k_int_names[k]) != 0) return -1;
  const char *why = num_to_int(&n, k, dst);
  if (why) return fail(d, at, "%s value %.*s %s", k_int_names[k], (int)n.len, n.s, why);
  return 0;
}

static int read_real(dec *d, bool is_float, void *dst) {
  const char *what = is_float ? "float" : "double";
  const char *at = (peek(d), d->p);
  double v;
  num_tok n;
  if (d->p < d->end && *d->p == '"') {
    str_tok t;
    if (lex_string(d, &t) != 0) return -1;
    if (t.n == 3 && memcmp(t.s, "NaN", 3) == 0) {
      v = NAN;
    } else if (t.n == 8 && memcmp(t.s, "Infinity", 8) == 0) {
      v = INFINITY;
    } else if (t.n == 9 && memcmp(t.s, "-Infinity", 9) == 0) {
      v = -INFINITY;
    } else {
      const char *e = scan_number(t.s, t.s + t.n, &n);
      if (!e || e != t.s + t.n)
        return fail(d, at, "invalid %s \"%.*s\"", what, (int)t.raw_n, t.raw);
      if (num_double(&n, &v) != 0) return fail(d, at, "%s value is out of range", what);
    }
  } else {
    if (read_num_token(d, &n, what) != 0) return -1;
    if (num_double(&n, &v) != 0)
      return fail(d, at, "%s value %.*s is out of range", what, (int)n.len, n.s);
  }
  if (is_float) {
    float f = (float)v;
    /* A finite double that rounds to infinity as a float is out of float range. */
    if (isinf(f) && !isinf(v)) return fail(d, at, "float value is out of range");
    *(float *)dst = f;
  } else {
    *(double *)dst = v;
  }
  return 0;
}

static int read_bool(dec *d, protobuf_c_boolean *dst) {
  char c = peek(d);
  if (c == 't' && d->end - d->p >= 4 && memcmp(d->p, "true", 4) == 0) {
    d->p += 4;
    *dst = 1;
    return 0;
  }
  if (c == 'f' && d->end - d->p >= 5 && memcmp(d->p, "false", 5) == 0) {
    d->p += 5;
    *dst = 0;
    return 0;
  }
  return unexpected(d, "true or false");
}

static int read_string(dec *d, char **dst) {
  str_tok t;
  const char *at = (peek(d), d->p);
  if (expect_string(d, &t, "a string") != 0) return -1;
  if (t.has_nul) return fail(d, at, "string contains \\u0000, which protobuf-c cannot hold");
  char *s = dup_text(d, t.s, t.n);
  if (!s) return -1;
  *dst = s;
  return 0;
}

static int read_bytes(dec *d, ProtobufCBinaryData *dst) {
  str_tok t;
  const char *at = (peek(d), d->p);
  if (expect_string(d, &t, "a base64 string") != 0) return -1;
  if (t.n == 0) {
    dst->len = 0;
    dst->data = NULL;
    return 0;
  }
  uint8_t *b = d_alloc(d, t.n / 4 * 3 + 3);
  if (!b) return -1;
  size_t n = eei_base64_decode(t.s, t.n, b);
  if (n == (size_t)-1) {
    d_free(d, b);
    return fail(d, at, "invalid base64 data");
  }
  dst->len = n;
  dst->data = b;
  return 0;
}

static const ProtobufCEnumValue *enum_by_name(const ProtobufCEnumDescriptor *e, const char *s,
                                              size_t n) {
  unsigned lo = 0, hi = e->n_value_names;
  while (lo < hi) {
    unsigned mid = (lo + hi) / 2;
    const char *name = e->values_by_name[mid].name;
    int c = strncmp(name, s, n);
    if (c == 0 && name[n] != '\0') c = 1;
    if (c == 0) return &e->values[e->values_by_name[mid].index];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static bool is_null_enum(const ProtobufCEnumDescriptor *e) {
  return e == &google__protobuf__null_value__descriptor ||
         strcmp(e->name, "google.protobuf.NullValue") == 0;
}

/* Returns 1 when the name is unknown and ignored (the value is then left alone). */
static int read_enum(dec *d, const ProtobufCEnumDescriptor *e, int *dst) {
  char c = peek(d);
  const char *at = d->p;
  if (c == 'n' && is_null_enum(e)) {
    *dst = 0;
    return lex_literal(d, "null", 4);
  }
  if (c != '"') {
    int32_t v;
    if (c != '-' && (c < '0' || c > '9')) return unexpected(d, "an enum name or number");
    if (read_int(d, K_I32, &v) != 0) return -1;
    *dst = v;
    return 0;
  }
  str_tok t;
  if (lex_string(d, &t) != 0) return -1;
  const ProtobufCEnumValue *v = enum_by_name(e, t.s, t.n);
  if (v) {
    *dst = v->value;
    return 0;
  }
  num_tok n;
  uint64_t m;
  const char *ne = scan_number(t.s, t.s + t.n, &n);
  if (ne && ne == t.s + t.n && !num_magnitude(&n, &m) &&
      m <= (n.neg ? (uint64_t)INT32_MAX + 1 : INT32_MAX)) {
    *dst = n.neg ? (int)(0 - m) : (int)m;
    return 0;
  }
  if (d->ignore_unknown) return 1;
  return fail(d, at, "unknown enum value \"%.*s\" for %s", (int)t.raw_n, t.raw, e->name);
}

/* Any non-message value into its storage. 1: ignored unknown enum name. */
static int read_scalar(dec *d, const ProtobufCFieldDescriptor *fd, void *dst) {
  switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return read_int(d, K_I32, dst);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return read_int(d, K_U32, dst);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return read_int(d, K_I64, dst);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return read_int(d, K_U64, dst);
    case PROTOBUF_C_TYPE_FLOAT: return read_real(d, true, dst);
    case PROTOBUF_C_TYPE_DOUBLE: return read_real(d, false, dst);
    case PROTOBUF_C_TYPE_BOOL: return read_bool(d, dst);
    case PROTOBUF_C_TYPE_ENUM: return read_enum(d, fd->descriptor, dst);
    case PROTOBUF_C_TYPE_STRING: return read_string(d, dst);
    case PROTOBUF_C_TYPE_BYTES: return read_bytes(d, dst);
    case PROTOBUF_C_TYPE_MESSAGE: break;
  }
  return fail_code(d, EE_INTERNAL, NULL, "field %s: not a scalar", fd->name);
}

/* ------------------------------------------------------------------ messages */

static int parse_body(dec *d, const eei_msg_info *mi, ProtobufCMessage *msg);

static int parse_message_into(dec *d, const eei_msg_info *mi, ProtobufCMessage **slot) {
  if (!mi) return fail_code(d, EE_RESOURCE_EXHAUSTED, NULL, "out of memory");
  ProtobufCMessage *m = new_message(d, mi->desc);
  if (!m) return -1;
  *slot = m;
  return parse_body(d, mi, m);
}

/* Elements of an array being parsed wait on the thread's scratch stack until the closing
 * bracket and then move into one exactly sized allocation: no regrowth copies and no
 * large short-lived blocks (which make glibc consolidate its free lists). The stack may
 * move while a nested value is parsed, so frames hold offsets, never pointers. */
static int stk_reserve(dec *d, size_t n) {
  scratch *s = d->s;
  if (s->stk_len + n <= s->stk_cap) return 0;
  size_t cap = s->stk_cap ? s->stk_cap : 4096;
  while (cap < s->stk_len + n) cap *= 2;
  char *p = realloc(s->stk, cap);
  if (!p) return fail_code(d, EE_RESOURCE_EXHAUSTED, NULL, "out of memory (%zu bytes)", cap);
  s->stk = p;
  s->stk_cap = cap;
  return 0;
}

/* Starts a frame: returns its (aligned) base offset; the caller restores stk_len. */
static int frame_open(dec *d, size_t *base) {
  size_t b = (d->s->stk_len + 15) & ~(size_t)15;
  if (stk_reserve(d, b - d->s->stk_len) != 0) return -1;
  d->s->stk_len = b;
  *base = b;
  return 0;
}

/* Frees elements that never reached the message (error paths). */
static void frame_free(dec *d, ProtobufCType type, size_t base, size_t n) {
  if (n == 0) return; /* the stack may not even exist yet */
  char *p = d->s->stk + base;
  for (size_t i = 0; i < n; i++) {
    switch (type) {
      case PROTOBUF_C_TYPE_MESSAGE:
        protobuf_c_message_free_unpacked(((ProtobufCMessage **)p)[i], d->alloc);
        break;
      case PROTOBUF_C_TYPE_STRING: d_free(d, ((char **)p)[i]); break;
      case PROTOBUF_C_TYPE_BYTES: d_free(d, ((ProtobufCBinaryData *)p)[i].data); break;
      default: return;
    }
  }
}

/* Moves the frame's n elements into the field's array. */
static int frame_commit(dec *d, size_t base, size_t n, size_t elem, size_t *np, void **arr) {
  if (n == 0) return 0;
  void *a = d_alloc(d, n * elem);
  if (!a) return -1;
  memcpy(a, d->s->stk + base, n * elem);
  *arr = a;
  *np = n;
  return 0;
}

static bool null_allowed(const eei_field *f, const ProtobufCFieldDescriptor *vfd) {
  if (vfd->type == PROTOBUF_C_TYPE_ENUM) return is_null_enum(vfd->descriptor);
  if (vfd->type != PROTOBUF_C_TYPE_MESSAGE) return false;
  const eei_msg_info *c = eei_field_child(f);
  return c && c->wkt == EEI_WKT_VALUE;
}

/* One element onto the frame (index i in the JSON array). 1: ignored (unknown enum). */
static int parse_element(dec *d, const eei_field *f, const eei_msg_info *child, size_t base,
                         size_t *n, size_t elem) {
  const ProtobufCFieldDescriptor *fd = f->fd;
  if (stk_reserve(d, elem) != 0) return -1;
  char *slot = d->s->stk + base + *n * elem;
  if (peek(d) == 'n' && !null_allowed(f, fd))
    return fail(d, d->p, "null is not allowed in a repeated field");
  if (!child) {
    int rc = read_scalar(d, fd, slot);
    if (rc == 0) {
      (*n)++;
      d->s->stk_len += elem;
    }
    return rc;
  }
  ProtobufCMessage *m = new_message(d, child->desc);
  if (!m) return -1;
  *(ProtobufCMessage **)slot = m;
  (*n)++;
  d->s->stk_len += elem;
  return parse_body(d, child, m);
}

static int parse_repeated(dec *d, const eei_field *f, ProtobufCMessage *msg) {
  const ProtobufCFieldDescriptor *fd = f->fd;
  size_t elem = eei_storage_size(fd->type), saved = d->s->stk_len, base, n = 0;
  const eei_msg_info *child = NULL;
  int rc = -1;
  if (expect(d, '[', "'[' for a repeated field") != 0 || depth_enter(d) != 0) return -1;
  if (fd->type == PROTOBUF_C_TYPE_MESSAGE && !(child = eei_field_child(f)))
    return fail_code(d, EE_RESOURCE_EXHAUSTED, NULL, "out of memory");
  if (peek(d) == ']') {
    d->p++;
    d->depth--;
    return 0;
  }
  if (frame_open(d, &base) != 0) return -1;
  for (size_t i = 0;; i++) {
    if (parse_element(d, f, child, base, &n, elem) < 0) {
      path_index(d, i);
      goto done;
    }
    char c = peek(d);
    d->p++;
    if (c == ']') break;
    if (c != ',') {
      d->p--;
      unexpected(d, "',' or ']'");
      goto done;
    }
  }
  d->depth--;
  rc = frame_commit(d, base, n, elem, &EEI_MEMBER(size_t, msg, fd->quantifier_offset),
                    &EEI_MEMBER(void *, msg, fd->offset));
done:
  if (rc != 0) frame_free(d, fd->type, base, n);
  d->s->stk_len = saved;
  return rc;
}

/* --- maps --- */

/* A map key as comparable bytes: string keys by content, others by value. */
typedef struct map_key {
  const char *s;
  size_t n;
  uint64_t v;
} map_key;

static map_key entry_key(const ProtobufCMessage *entry, const ProtobufCFieldDescriptor *kfd) {
  map_key k = {NULL, 0, 0};
  const char *m = (const char *)entry + kfd->offset;
  if (kfd->type == PROTOBUF_C_TYPE_STRING) {
    k.s = *(char *const *)m;
    k.n = strlen(k.s);
  } else if (eei_storage_size(kfd->type) == 8) {
    memcpy(&k.v, m, 8);
  } else {
    uint32_t v;
    memcpy(&v, m, 4);
    k.v = v;
  }
  return k;
}

static uint32_t key_hash(map_key k) {
  uint64_t h = 1469598103934665603ULL ^ k.v;
  for (size_t i = 0; i < k.n; i++) h = (h ^ (unsigned char)k.s[i]) * 1099511628211ULL;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  return (uint32_t)(h ^ (h >> 32));
}

static bool key_eq(map_key a, map_key b) {
  return a.v == b.v && a.n == b.n && (a.n == 0 || memcmp(a.s, b.s, a.n) == 0);
}

/* Duplicate detection for one JSON object that is a map: linear for small maps, then an
 * open-addressing table of entry indexes (+1) in the thread's scratch, rebuilt as it
 * fills. Tables nest like the maps do, so they are stacked by offset. */
typedef struct key_set {
  size_t off; /* table start in scratch->ks (uint32_t units) */
  size_t mask;
  bool built;
} key_set;

static int key_set_rebuild(dec *d, key_set *ks, ProtobufCMessage **ents, size_t n,
                           const ProtobufCFieldDescriptor *kfd) {
  scratch *s = d->s;
  size_t size = 64;
  while (size < n * 4) size *= 2;
  if (ks->off + size > s->ks_cap) {
    size_t cap = s->ks_cap ? s->ks_cap : 1024;
    while (cap < ks->off + size) cap *= 2;
    uint32_t *t = realloc(s->ks, cap * sizeof *t);
    if (!t) return fail_code(d, EE_RESOURCE_EXHAUSTED, NULL, "out of memory");
    s->ks = t;
    s->ks_cap = cap;
  }
  s->ks_len = ks->off + size;
  uint32_t *slots = s->ks + ks->off;
  memset(slots, 0, size * sizeof *slots);
  ks->mask = size - 1;
  ks->built = true;
  for (size_t i = 0; i < n; i++) {
    size_t j = key_hash(entry_key(ents[i], kfd)) & ks->mask;
    while (slots[j]) j = (j + 1) & ks->mask;
    slots[j] = (uint32_t)i + 1;
  }
  return 0;
}

/* Is the key of ents[n] already among ents[0..n)? -1 on out of memory. */
static int key_set_dup(dec *d, key_set *ks, ProtobufCMessage **ents, size_t n,
                       const ProtobufCFieldDescriptor *kfd) {
  if (n < 16 && kfd->type == PROTOBUF_C_TYPE_STRING) {
    /* Small string-keyed maps (most of them): string keys hold no NUL (refused), so
     * strcmp decides, and the first byte mostly decides without a call. */
    const char *k = EEI_MEMBER(const char *, ents[n], kfd->offset);
    for (size_t i = 0; i < n; i++) {
      const char *o = EEI_MEMBER(const char *, ents[i], kfd->offset);
      if (o[0] == k[0] && strcmp(o, k) == 0) return 1;
    }
    return 0;
  }
  map_key k = entry_key(ents[n], kfd);
  if (n < 16) {
    for (size_t i = 0; i < n; i++) {
      if (key_eq(entry_key(ents[i], kfd), k)) return 1;
    }
    return 0;
  }
  if ((!ks->built || n * 2 > ks->mask) && key_set_rebuild(d, ks, ents, n, kfd) != 0) return -1;
  uint32_t *slots = d->s->ks + ks->off;
  size_t j = key_hash(k) & ks->mask;
  for (; slots[j]; j = (j + 1) & ks->mask) {
    if (key_eq(entry_key(ents[slots[j] - 1], kfd), k)) return 1;
  }
  slots[j] = (uint32_t)n + 1;
  return 0;
}

/* The text of a map key into the entry's key field. */
static int read_map_key(dec *d, const ProtobufCFieldDescriptor *kfd, const str_tok *t,
                        const char *at, void *dst) {
  if (kfd->type == PROTOBUF_C_TYPE_STRING) {
    if (t->has_nul) return fail(d, at, "map key contains \\u0000, which protobuf-c cannot hold");
    char *s = dup_text(d, t->s, t->n);
    if (!s) return -1;
    *(char **)dst = s;
    return 0;
  }
  if (kfd->type == PROTOBUF_C_TYPE_BOOL) {
    if (t->n == 4 && memcmp(t->s, "true", 4) == 0) {
      *(protobuf_c_boolean *)dst = 1;
      return 0;
    }
    if (t->n == 5 && memcmp(t->s, "false", 5) == 0) {
      *(protobuf_c_boolean *)dst = 0;
      return 0;
    }
    return fail(d, at, "map key \"%.*s\" is not true or false", (int)t->raw_n, t->raw);
  }
  /* Integer keys: the key text follows the rules of a quoted integer. */
  int_kind k;
  switch (kfd->type) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: k = K_U32; break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: k = K_I64; break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: k = K_U64; break;
    default: k = K_I32; break;
  }
  num_tok n;
  const char *e = scan_number(t->s, t->s + t->n, &n);
  const char *why = !e || e != t->s + t->n ? "is not a number" : num_to_int(&n, k, dst);
  if (why)
    return fail(d, at, "map key \"%.*s\" %s for a %s key", (int)t->raw_n, t->raw, why,
                k_int_names[k]);
  return 0;
}

/* One "key": value pair of a map onto the frame. */
static int parse_map_entry(dec *d, const eei_field *f, const eei_msg_info *child, size_t base,
                           size_t *n, key_set *ks, const str_tok *key, const char *key_at) {
  const ProtobufCFieldDescriptor *kfd = f->map_key, *vfd = f->map_value;
  const size_t elem = sizeof(ProtobufCMessage *);
  if (stk_reserve(d, elem) != 0) return -1;
  ProtobufCMessage *e = new_message(d, f->fd->descriptor);
  if (!e) return -1;
  ProtobufCMessage **ents = (ProtobufCMessage **)(d->s->stk + base);
  ents[(*n)++] = e;
  d->s->stk_len += elem;
  if (read_map_key(d, kfd, key, key_at, (char *)e + kfd->offset) != 0) return -1;
  int dup = key_set_dup(d, ks, ents, *n - 1, kfd);
  if (dup < 0) return -1;
  if (dup) return fail(d, key_at, "duplicate map key \"%.*s\"", (int)key->raw_n, key->raw);
  if (expect(d, ':', "':'") != 0) return -1;
  if (peek(d) == 'n' && !null_allowed(f, vfd))
    return fail(d, d->p, "null is not allowed as a map value");
  if (vfd->type == PROTOBUF_C_TYPE_MESSAGE)
    return parse_message_into(d, child, &EEI_MEMBER(ProtobufCMessage *, e, vfd->offset));
  int rc = read_scalar(d, vfd, (char *)e + vfd->offset);
  if (rc == 1) { /* ignored unknown enum name: drop the entry */
    protobuf_c_message_free_unpacked(e, d->alloc);
    (*n)--;
    d->s->stk_len -= elem;
    rc = 0;
  }
  return rc;
}

static int parse_map(dec *d, const eei_field *f, ProtobufCMessage *msg) {
  const ProtobufCFieldDescriptor *fd = f->fd;
  size_t saved = d->s->stk_len, saved_ks = d->s->ks_len, base, n = 0;
  key_set ks = {d->s->ks_len, 0, false};
  const eei_msg_info *child = NULL;
  int rc = -1;
  if (expect(d, '{', "'{' for a map field") != 0 || depth_enter(d) != 0) return -1;
  if (f->map_value->type == PROTOBUF_C_TYPE_MESSAGE && !(child = eei_field_child(f)))
    return fail_code(d, EE_RESOURCE_EXHAUSTED, NULL, "out of memory");
  if (peek(d) == '}') {
    d->p++;
    d->depth--;
    return 0;
  }
  if (frame_open(d, &base) != 0) return -1;
  for (;;) {
    str_tok key;
    const char *key_at = (peek(d), d->p);
    if (expect_string(d, &key, "a string key") != 0) goto done;
    if (parse_map_entry(d, f, child, base, &n, &ks, &key, key_at) != 0) {
      path_map_key(d, key.raw, key.raw_n);
      goto done;
    }
    char c = peek(d);
    d->p++;
    if (c == '}') break;
    if (c != ',') {
      d->p--;
      unexpected(d, "',' or '}'");
      goto done;
    }
  }
  d->depth--;
  rc = frame_commit(d, base, n, sizeof(ProtobufCMessage *),
                    &EEI_MEMBER(size_t, msg, fd->quantifier_offset),
                    &EEI_MEMBER(void *, msg, fd->offset));
done:
  if (rc != 0) frame_free(d, PROTOBUF_C_TYPE_MESSAGE, base, n);
  d->s->stk_len = saved;
  d->s->ks_len = saved_ks;
  return rc;
}

/* --- fields of an ordinary message --- */

static int oneof_claim(dec *d, const eei_msg_info *mi, const eei_field *f, ProtobufCMessage *msg,
                       const char *at) {
  uint32_t *cs = &EEI_MEMBER(uint32_t, msg, f->fd->quantifier_offset);
  if (*cs != 0 && *cs != f->fd->id) {
    const ProtobufCFieldDescriptor *other = eei_field_by_id(mi->desc, *cs);
    return fail(d, at, "fields \"%s\" and \"%s\" belong to the same oneof",
                other ? other->name : "?", f->fd->name);
  }
  *cs = f->fd->id;
  /* The union may hold another member's bits; clear it for the pointer members. */
  memset((char *)msg + f->fd->offset, 0, eei_storage_size(f->fd->type));
  return 0;
}

static void set_has(const ProtobufCFieldDescriptor *fd, ProtobufCMessage *msg) {
  if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && !(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
      fd->type != PROTOBUF_C_TYPE_MESSAGE && fd->type != PROTOBUF_C_TYPE_STRING)
    EEI_MEMBER(protobuf_c_boolean, msg, fd->quantifier_offset) = 1;
}

static int parse_field(dec *d, const eei_msg_info *mi, const eei_field *f, ProtobufCMessage *msg) {
  const ProtobufCFieldDescriptor *fd = f->fd;
  const char *at = (peek(d), d->p);
  bool repeated = fd->label == PROTOBUF_C_LABEL_REPEATED;
  if (at < d->end && *at == 'n') {
    /* null means "default" except where null is the value itself (Value, NullValue). */
    if (repeated || !null_allowed(f, fd)) return lex_literal(d, "null", 4);
  }
  if (f->is_map) return parse_map(d, f, msg);
  if (repeated) return parse_repeated(d, f, msg);
  if (f->is_oneof && oneof_claim(d, mi, f, msg, at) != 0) return -1;
  void *dst = (char *)msg + fd->offset;
  if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
    const eei_msg_info *child = eei_field_child(f);
    return parse_message_into(d, child, dst);
  }
  if (fd->type == PROTOBUF_C_TYPE_STRING && !f->is_oneof) {
    /* Replace the default pointer only once the new string exists. */
    char *s;
    if (read_string(d, &s) != 0) return -1;
    *(char **)dst = s;
    return 0;
  }
  int rc = read_scalar(d, fd, dst);
  if (rc == 1) {
    if (f->is_oneof) EEI_MEMBER(uint32_t, msg, fd->quantifier_offset) = 0;
    return 0;
  }
  if (rc == 0) set_has(fd, msg);
  return rc;
}

static bool seen_test_set(uint64_t *seen, unsigned i) {
  uint64_t bit = 1ULL << (i & 63);
  bool was = (seen[i >> 6] & bit) != 0;
  seen[i >> 6] |= bit;
  return was;
}

/* The members of one JSON object. In an Any (any != NULL) the "@type" key is skipped. */
static int parse_object(dec *d, const eei_msg_info *mi, ProtobufCMessage *msg, bool in_any) {
  uint64_t seen_small[8];
  uint64_t *seen = seen_small;
  /* only the words this message's fields can use */
  memset(seen_small, 0, ((mi->n_fields + 63) / 64 < 8 ? (mi->n_fields + 63) / 64 : 8) * 8);
  bool type_seen = false;
  unsigned hint = 0;
  int rc = -1;
  if (expect(d, '{', "'{'") != 0 || depth_enter(d) != 0) return -1;
  if (mi->n_fields > 512 && !(seen = calloc((mi->n_fields + 63) / 64, sizeof *seen)))
    return fail_code(d, EE_RESOURCE_EXHAUSTED, NULL, "out of memory");
  if (peek(d) == '}') {
    d->p++;
    goto ok;
  }
  for (;;) {
    str_tok key;
    const char *key_at = (peek(d), d->p);
    if (expect_string(d, &key, "a string key") != 0 || expect(d, ':', "':'") != 0) goto done;
    /* Keys usually come in field order: try the field after the last one first. */
    int idx;
    const eei_field *hf = hint < mi->n_fields ? &mi->fields[hint] : NULL;
    if (hf && hf->json_len == key.n && memcmp(hf->json_name, key.s, key.n) == 0)
      idx = (int)hint;
    else
      idx = eei_msg_info_find(mi, key.s, key.n);
    hint = (unsigned)idx + 1;
    if (idx < 0) {
      bool is_type = in_any && key.n == 5 && memcmp(key.s, "@type", 5) == 0;
      if (is_type && type_seen) {
        fail(d, key_at, "duplicate field \"@type\"");
        goto done;
      }
      type_seen |= is_type;
      if (!is_type && !d->ignore_unknown) {
        fail(d, key_at, "unknown field \"%.*s\" in %s", (int)key.raw_n, key.raw, mi->desc->name);
        goto done;
      }
      if (skip_value(d) != 0) goto done;
    } else if (seen_test_set(seen, (unsigned)idx)) {
      fail(d, key_at, "duplicate field \"%.*s\"", (int)key.raw_n, key.raw);
      goto done;
    } else if (parse_field(d, mi, &mi->fields[idx], msg) != 0) {
      path_field(d, key.raw, key.raw_n);
      goto done;
    }
    char c = peek(d);
    d->p++;
    if (c == '}') break;
    if (c != ',') {
      d->p--;
      unexpected(d, "',' or '}'");
      goto done;
    }
  }
ok:
  d->depth--;
  rc = 0;
done:
  if (seen != seen_small) free(seen);
  return rc;
}

/* ------------------------------------------------------------------ well-known types */

static int wkt_string(dec *d, str_tok *t, const char *what) {
  if (peek(d) != '"') return unexpected(d, what);
  return lex_string(d, t);
}

static int parse_time(dec *d, const eei_msg_info *mi, ProtobufCMessage *msg, bool duration) {
  str_tok t;
  const char *at = (peek(d), d->p);
  if (wkt_string(d, &t, duration ? "a duration string" : "a timestamp string") != 0) return -1;
  int64_t sec = 0;
  int32_t nanos = 0;
  const char *why = duration ? eei_parse_duration(t.s, t.n, &sec, &nanos)
                             : eei_parse_timestamp(t.s, t.n, &sec, &nanos);
  if (why) return fail(d, at, "%s: \"%.*s\"", why, (int)t.raw_n, t.raw);
  const eei_field *fs = eei_msg_field_by_number(mi, 1), *fn = eei_msg_field_by_number(mi, 2);
  EEI_MEMBER(int64_t, msg, fs->fd->offset) = sec;
  EEI_MEMBER(int32_t, msg, fn->fd->offset) = nanos;
  return 0;
}

/* "fooBar.baz" -> "foo_bar.baz"; json_format refuses '_' in the JSON form. */
static int field_mask_path(dec *d, const char *s, size_t n, const char *at, char **out) {
  size_t extra = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '_') return fail(d, at, "FieldMask path \"%.*s\" must not contain '_'", (int)n, s);
    if (s[i] >= 'A' && s[i] <= 'Z') extra++;
  }
  char *p = d_alloc(d, n + extra + 1);
  if (!p) return -1;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] >= 'A' && s[i] <= 'Z') {
      p[o++] = '_';
      p[o++] = (char)(s[i] - 'A' + 'a');
    } else {
      p[o++] = s[i];
    }
  }
  p[o] = '\0';
  *out = p;
  return 0;
}

static int parse_field_mask(dec *d, const eei_msg_info *mi, ProtobufCMessage *msg) {
  str_tok t;
  const char *at = (peek(d), d->p);
  if (wkt_string(d, &t, "a FieldMask string") != 0) return -1;
  if (t.has_nul) return fail(d, at, "FieldMask contains \\u0000");
  const ProtobufCFieldDescriptor *fd = eei_msg_field_by_number(mi, 1)->fd;
  size_t *np = &EEI_MEMBER(size_t, msg, fd->quantifier_offset);
  char ***arr = &EEI_MEMBER(char **, msg, fd->offset);
  if (t.n == 0) return 0;
  size_t count = 1;
  for (size_t i = 0; i < t.n; i++) count += t.s[i] == ',';
  /* t.s may live in the scratch buffer, which nothing below reuses. */
  if (!(*arr = d_alloc(d, count * sizeof(char *)))) return -1;
  const char *s = t.s, *end = t.s + t.n;
  while (*np < count) {
    const char *comma = memchr(s, ',', (size_t)(end - s));
    const char *stop = comma ? comma : end;
    if (field_mask_path(d, s, (size_t)(stop - s), at, &(*arr)[*np]) != 0) return -1;
    (*np)++;
    s = stop + 1;
  }
  return 0;
}

static int parse_value(dec *d, const eei_msg_info *mi, ProtobufCMessage *msg) {
  const eei_field *f;
  uint32_t id;
  const char *at = (peek(d), d->p);
  switch (at < d->end ? *at : 0) {
    case 'n': id = 1; break;
    case 't':
    case 'f': id = 4; break;
    case '"': id = 3; break;
    case '{': id = 5; break;
    case '[': id = 6; break;
    default:
      if (at < d->end && (*at == '-' || (*at >= '0' && *at <= '9'))) {
        id = 2;
        break;
      }
      return unexpected(d, "a JSON value");
  }
  f = eei_msg_field_by_number(mi, id);
  EEI_MEMBER(uint32_t, msg, f->fd->quantifier_offset) = id;
  void *dst = (char *)msg + f->fd->offset;
  switch (id) {
    case 1: *(int *)dst = 0; return lex_literal(d, "null", 4);
    case 2: {
      num_tok n;
      if (lex_number(d, &n) != 0) return -1;
      if (num_double(&n, dst) != 0)
        return fail(d, at, "number %.*s is out of range for a double", (int)n.len, n.s);
      return 0;
    }
    case 3: *(char **)dst = NULL; return read_string(d, dst);
    case 4: return read_bool(d, dst);
    default:
      *(ProtobufCMessage **)dst = NULL;
      return parse_message_into(d, eei_field_child(f), dst);
  }
}

static int parse_wrapper(dec *d, const eei_msg_info *mi, ProtobufCMessage *msg) {
  if (d->accept_wrappers && peek(d) == '{') return parse_object(d, mi, msg, false);
  const eei_field *f = eei_msg_field_by_number(mi, 1);
  if (f->fd->type == PROTOBUF_C_TYPE_STRING) {
    char *s;
    if (read_string(d, &s) != 0) return -1;
    EEI_MEMBER(char *, msg, f->fd->offset) = s;
    return 0;
  }
  return read_scalar(d, f->fd, (char *)msg + f->fd->offset);
}

/* Finds the "@type" member of the object at d->p without consuming anything. Returns 1
 * and the type URL when present, 0 when absent (or the object is empty). */
static int any_find_type(dec *d, str_tok *type, const char **type_at) {
  const char *save = d->p;
  int depth = d->depth, found = 0;
  if (expect(d, '{', "'{' for an Any") != 0 || depth_enter(d) != 0) return -1;
  if (peek(d) != '}') {
    for (;;) {
      str_tok key;
      if (expect_string(d, &key, "a string key") != 0 || expect(d, ':', "':'") != 0) return -1;
      if (key.n == 5 && memcmp(key.s, "@type", 5) == 0) {
        *type_at = (peek(d), d->p);
        if (expect_string(d, type, "a type URL string") != 0) return -1;
        /* The body parse rejects a second "@type"; no need to read further here. */
        found = 1;
        break;
      } else if (skip_value(d) != 0) {
        return -1;
      }
      char c = peek(d);
      d->p++;
      if (c == '}') break;
      if (c != ',') {
        d->p--;
        return unexpected(d, "',' or '}'");
      }
    }
  }
  d->p = save;
  d->depth = depth;
  return found;
}

/* Inside an Any holding a well-known type: {"@type": ..., "value": <special form>}. */
static int parse_any_wkt_object(dec *d, const eei_msg_info *inner_mi, ProtobufCMessage *inner) {
  bool have_value = false, type_seen = false;
  if (expect(d, '{', "'{'") != 0 || depth_enter(d) != 0) return -1;
  for (;;) {
    str_tok key;
    const char *key_at = (peek(d), d->p);
    if (expect_string(d, &key, "a string key") != 0 || expect(d, ':', "':'") != 0) return -1;
    if (key.n == 5 && memcmp(key.s, "value", 5) == 0) {
      if (have_value) return fail(d, key_at, "duplicate field \"value\"");
      have_value = true;
      if (parse_body(d, inner_mi, inner) != 0) {
        path_field(d, "value", 5);
        return -1;
      }
    } else if (key.n == 5 && memcmp(key.s, "@type", 5) == 0) {
      if (type_seen) return fail(d, key_at, "duplicate field \"@type\"");
      type_seen = true;
      if (skip_value(d) != 0) return -1;
    } else if (d->ignore_unknown) {
      if (skip_value(d) != 0) return -1;
    } else {
      return fail(d, key_at, "unknown field \"%.*s\" in an Any holding %s", (int)key.raw_n, key.raw,
                  inner_mi->desc->name);
    }
    char c = peek(d);
    d->p++;
    if (c == '}') break;
    if (c != ',') {
      d->p--;
      return unexpected(d, "',' or '}'");
    }
  }
  d->depth--;
  if (!have_value)
    return fail(d, d->p - 1, "Any holding %s needs a \"value\"", inner_mi->desc->name);
  return 0;
}

static int any_pack(dec *d, const eei_msg_info *mi, ProtobufCMessage *msg, ProtobufCMessage *inner,
                    const str_tok *type) {
  const ProtobufCFieldDescriptor *ft = eei_msg_field_by_number(mi, 1)->fd,
                                 *fv = eei_msg_field_by_number(mi, 2)->fd;
  char *url = dup_text(d, type->s, type->n);
  if (!url) return -1;
  EEI_MEMBER(char *, msg, ft->offset) = url;
  size_t n = protobuf_c_message_get_packed_size(inner);
  uint8_t *b = n ? d_alloc(d, n) : NULL;
  if (n && !b) return -1;
  if (n) protobuf_c_message_pack(inner, b);
  ProtobufCBinaryData *v = &EEI_MEMBER(ProtobufCBinaryData, msg, fv->offset);
  v->len = n;
  v->data = b;
  return 0;
}

static int parse_any(dec *d, const eei_msg_info *mi, ProtobufCMessage *msg) {
  str_tok type;
  const char *type_at = NULL;
  const char *at = (peek(d), d->p);
  int found = any_find_type(d, &type, &type_at);
  if (found < 0) return -1;
  if (!found) {
    /* {} is the empty Any; anything else needs a type. */
    if (expect(d, '{', "'{'") != 0) return -1;
    if (peek(d) == '}') {
      d->p++;
      return 0;
    }
    return fail(d, at, "Any is missing \"@type\"");
  }
  if (type.has_nul) return fail(d, type_at, "invalid type URL in Any");
  const ProtobufCMessageDescriptor *desc = eei_registry_find_span(d->reg, type.s, type.n);
  if (!desc)
    return fail(d, type_at, "unknown type \"%.*s\" in Any (not in the registry)", (int)type.raw_n,
                type.raw);
  /* The type URL may sit in the scratch buffer that parsing the body reuses: copy it. */
  char small[256];
  char *url = type.n < sizeof small ? small : malloc(type.n + 1);
  if (!url) return fail_code(d, EE_RESOURCE_EXHAUSTED, NULL, "out of memory");
  memcpy(url, type.s, type.n);
  type.s = url;
  const eei_msg_info *inner_mi = eei_msg_info_get(desc);
  /* The inner message lives in the arena until it is packed. */
  ProtobufCAllocator arena = {arena_alloc, arena_free, d->s};
  ProtobufCAllocator *outer = d->alloc;
  arena_mark mark = arena_get_mark(d->s);
  d->alloc = &arena;
  ProtobufCMessage *inner = inner_mi ? new_message(d, desc) : NULL;
  int rc = -1;
  if (!inner_mi) fail_code(d, EE_RESOURCE_EXHAUSTED, NULL, "out of memory");
  if (inner)
    rc = inner_mi->wkt != EEI_WKT_NONE ? parse_any_wkt_object(d, inner_mi, inner)
                                       : parse_object(d, inner_mi, inner, true);
  d->alloc = outer;
  if (rc == 0) rc = any_pack(d, mi, msg, inner, &type);
  /* An Any nested in another Any's message packs into the arena too (outer is the arena
   * then): its bytes must live until the outermost Any is packed, which resets for all. */
  if (!outer || outer->alloc != arena_alloc) arena_reset(d->s, mark);
  if (url != small) free(url);
  return rc;
}

static int parse_body(dec *d, const eei_msg_info *mi, ProtobufCMessage *msg) {
  switch (mi->wkt) {
    case EEI_WKT_ANY: return parse_any(d, mi, msg);
    case EEI_WKT_TIMESTAMP: return parse_time(d, mi, msg, false);
    case EEI_WKT_DURATION: return parse_time(d, mi, msg, true);
    case EEI_WKT_FIELD_MASK: return parse_field_mask(d, mi, msg);
    case EEI_WKT_STRUCT: return parse_map(d, &mi->fields[0], msg);
    case EEI_WKT_VALUE: return parse_value(d, mi, msg);
    case EEI_WKT_LIST_VALUE: return parse_repeated(d, &mi->fields[0], msg);
    case EEI_WKT_WRAPPER: return parse_wrapper(d, mi, msg);
    case EEI_WKT_NONE: break;
  }
  return parse_object(d, mi, msg, false);
}

/* ------------------------------------------------------------------ entry point */

ee_code ee_json_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                       const ee_json_decode_options *opts, ProtobufCMessage **out, ee_status *st) {
  static const ee_json_decode_options defaults = EE_JSON_DECODE_OPTIONS_INIT;
  if (!out) return ee_status_set(st, EE_INVALID_ARGUMENT, "ee_json_decode: out is NULL");
  *out = NULL;
  if (!desc || desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC || (!json && len))
    return ee_status_set(st, EE_INVALID_ARGUMENT, "ee_json_decode: need a descriptor and input");
  if (!opts) opts = &defaults;
  size_t max_input = opts->max_input ? opts->max_input : EE_JSON_DEFAULT_MAX_INPUT;
  if (len > max_input)
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED,
                         "JSON input is %zu bytes, more than the limit of %zu (byte %zu)", len,
                         max_input, max_input);
  const eei_msg_info *mi = eei_msg_info_get(desc);
  if (!mi) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  dec d;
  memset(&d, 0, offsetof(dec, reason));
  d.base = d.p = json ? json : "";
  d.end = d.base + len;
  d.alloc = opts->allocator;
  d.s = scratch_get();
  d.reg = opts->registry ? opts->registry : ee_json_default_registry();
  d.ignore_unknown = opts->ignore_unknown_fields;
  d.accept_wrappers = opts->accept_wrapper_objects;
  d.max_depth = opts->max_depth > 0 ? opts->max_depth : EE_JSON_DEFAULT_MAX_DEPTH;
  d.path_start = sizeof d.path - 1;
  d.path[d.path_start] = '\0';
  d.path_cut = false;
  d.reason[0] = '\0';

  ProtobufCMessage *msg = new_message(&d, desc);
  int rc = msg ? 0 : -1;
  if (rc == 0 && peek(&d) == 'n' && mi->wkt != EEI_WKT_VALUE)
    rc = fail(&d, d.p, "expected a JSON object for %s, found null", desc->name);
  if (rc == 0) rc = parse_body(&d, mi, msg);
  if (rc == 0 && (skip_ws(&d), d.p < d.end))
    rc = fail(&d, d.p, "unexpected data after the JSON value");
  scratch_trim(d.s);
  if (rc != 0) {
    protobuf_c_message_free_unpacked(msg, d.alloc);
    return report(&d, st);
  }
  *out = msg;
  ee_status_clear(st);
  return EE_OK;
}
