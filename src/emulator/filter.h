/* ee-emulator: the ListOperations filter language (a small AIP-160 subset).
 *
 *   filter  = clause { "AND" clause }
 *   clause  = term { "OR" term }              (OR binds tighter, as in AIP-160)
 *   term    = field ("=" | "!=" | ":") value
 *   field   = "metadata.state" | "state" | "done"
 *   value   = a State name (PENDING, RUNNING, CANCELLING, SUCCEEDED, CANCELLED, FAILED)
 *             for state, true|false for done; optionally in double quotes.
 * Anything else is INVALID_ARGUMENT naming the `filter` and the offending text. */
#ifndef EMU_FILTER_H
#define EMU_FILTER_H

#include <stdbool.h>

#include "ee/status.h"

#define EMU_FILTER_MAX_CLAUSES 8
#define EMU_FILTER_MAX_TERMS 8

typedef struct emu_filter_term {
  int field; /* 0: state, 1: done */
  bool negate;
  int value; /* State number, or 0/1 for done */
} emu_filter_term;

typedef struct emu_filter {
  int n_clauses; /* 0: matches everything */
  struct {
    int n_terms;
    emu_filter_term terms[EMU_FILTER_MAX_TERMS];
  } clauses[EMU_FILTER_MAX_CLAUSES];
} emu_filter;

ee_code emu_filter_parse(const char *text, emu_filter *f, ee_status *st);
bool emu_filter_match(const emu_filter *f, int state, bool done);

/* The State enum's name for a number ("RUNNING"), or NULL. */
const char *emu_state_name(int state);

#endif
