/* Deterministic JSON inputs for bench_json and its C++ peer (bench_json_peer.cc).
 *
 * bench_json generates them (bench_inputs.c) and writes them with --write-inputs DIR;
 * the peer reads that directory, so both programs measure byte-identical text. */
#ifndef EE_BENCH_INPUTS_H
#define EE_BENCH_INPUTS_H

#include "ee/buf.h"
#include "ee/status.h"

#define BENCH_CASES 3

typedef struct bench_case {
  const char *name;      /* "expression_10k", also the file name without ".json" */
  const char *type_name; /* full message name */
} bench_case;

extern const bench_case bench_cases[BENCH_CASES];

/* Appends the JSON text of case i to out. Same bytes on every call and platform. */
ee_code bench_make_input(int i, ee_buf *out, ee_status *st);

#endif
