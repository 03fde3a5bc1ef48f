/* ee-emulator: ListOperations filter parsing and matching (grammar in filter.h). */
#include <stdio.h>
#include <string.h>

#include "emu.h"
#include "filter.h"

static const char *const state_names[] = {"STATE_UNSPECIFIED", "PENDING",   "RUNNING", "CANCELLING",
                                          "SUCCEEDED",         "CANCELLED", "FAILED"};

const char *emu_state_name(int state) {
  return state >= 0 && state < 7 ? state_names[state] : NULL;
}

typedef struct lexer {
  const char *p;
  char tok[128];
} lexer;

static void skip_space(lexer *lx) {
  while (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r') lx->p++;
}

static bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

static ee_code bad(ee_status *st, const char *why, const lexer *lx) {
  return emu_fail(st, EE_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                  "filter: %s at \"%.40s\" (supported: metadata.state=STATE, done=true|false, "
                  "joined by OR and AND)",
                  why, lx->p);
}

/* Reads a word or a quoted string into lx->tok. */
static ee_code next_value(lexer *lx, ee_status *st) {
  size_t n = 0;
  skip_space(lx);
  bool quoted = *lx->p == '"';
  if (quoted) lx->p++;
  while (*lx->p && (quoted ? *lx->p != '"' : word_char(*lx->p))) {
    if (n + 1 >= sizeof lx->tok) return bad(st, "value too long", lx);
    lx->tok[n++] = *lx->p++;
  }
  if (quoted && *lx->p++ != '"') return bad(st, "unterminated string", lx);
  lx->tok[n] = '\0';
  return n ? EE_OK : bad(st, "expected a value", lx);
}

static ee_code parse_value(emu_filter_term *t, const char *v, const lexer *lx, ee_status *st) {
  if (t->field == 1) {
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
      t->value = v[0] == 't';
      return EE_OK;
    }
    return bad(st, "done takes true or false", lx);
  }
  for (int i = 1; i < 7; i++) {
    if (strcmp(v, state_names[i]) == 0) {
      t->value = i;
      return EE_OK;
    }
  }
  return bad(st, "unknown state", lx);
}

static ee_code parse_term(lexer *lx, emu_filter_term *t, ee_status *st) {
  if (next_value(lx, st) != EE_OK) return st->code;
  if (strcmp(lx->tok, "metadata.state") == 0 || strcmp(lx->tok, "state") == 0)
    t->field = 0;
  else if (strcmp(lx->tok, "done") == 0)
    t->field = 1;
  else
    return bad(st, "unsupported field", lx);
  skip_space(lx);
  if (lx->p[0] == '!' && lx->p[1] == '=') {
    t->negate = true;
    lx->p += 2;
  } else if (lx->p[0] == '=' || lx->p[0] == ':') {
    t->negate = false;
    lx->p += 1;
  } else {
    return bad(st, "expected = or !=", lx);
  }
  if (next_value(lx, st) != EE_OK) return st->code;
  return parse_value(t, lx->tok, lx, st);
}

/* Consumes keyword kw (AND/OR) if it is next, as a whole word. */
static bool take_keyword(lexer *lx, const char *kw) {
  skip_space(lx);
  size_t n = strlen(kw);
  if (strncmp(lx->p, kw, n) != 0 || word_char(lx->p[n]) || lx->p[n] == '"') return false;
  lx->p += n;
  return true;
}

ee_code emu_filter_parse(const char *text, emu_filter *f, ee_status *st) {
  lexer lx = {text, {0}};
  memset(f, 0, sizeof *f);
  if (strlen(text) > EMU_MAX_FILTER)
    return emu_fail(st, EE_INVALID_ARGUMENT, "INVALID_ARGUMENT", "filter: longer than %d bytes",
                    EMU_MAX_FILTER);
  skip_space(&lx);
  if (*lx.p == '\0') return EE_OK;
  do {
    if (f->n_clauses == EMU_FILTER_MAX_CLAUSES) return bad(st, "too many AND clauses", &lx);
    int c = f->n_clauses++;
    do {
      if (f->clauses[c].n_terms == EMU_FILTER_MAX_TERMS) return bad(st, "too many OR terms", &lx);
      if (parse_term(&lx, &f->clauses[c].terms[f->clauses[c].n_terms++], st) != EE_OK)
        return st->code;
    } while (take_keyword(&lx, "OR"));
  } while (take_keyword(&lx, "AND"));
  skip_space(&lx);
  return *lx.p ? bad(st, "unexpected text", &lx) : EE_OK;
}

static bool term_match(const emu_filter_term *t, int state, bool done) {
  bool eq = t->field == 0 ? state == t->value : (int)done == t->value;
  return eq != t->negate;
}

bool emu_filter_match(const emu_filter *f, int state, bool done) {
  for (int c = 0; c < f->n_clauses; c++) {
    bool any = false;
    for (int i = 0; i < f->clauses[c].n_terms && !any; i++)
      any = term_match(&f->clauses[c].terms[i], state, done);
    if (!any) return false;
  }
  return true;
}
