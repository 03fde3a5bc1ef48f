/* Driver for the binary-parsing differential test (wire_differential.py).
 *
 * Reads records, one per line, tab-separated:
 *   TYPE <TAB> OPTS <TAB> MAX_DEPTH <TAB> hex(binary)
 * and writes one line per record:
 *   SCAN <TAB> UNPACK_CODE <TAB> hex(PACKED) <TAB> ENC_CODE <TAB> hex(JSON)
 * SCAN is 1 when eei_wire_scan sends the bytes through the rewrite, 0 when protobuf-c gets
 * them untouched, and the error code negated when the scan refuses them. UNPACK_CODE is
 * ee_wire_unpack's code; PACKED is protobuf_c_message_pack of what it unpacked (the C
 * struct, for python to compare field by field), or the error message. ENC_CODE / JSON
 * are ee_json_encode of the unpacked message (OPTS bits: 1 use_proto_names,
 * 2 enums_as_ints, 4 emit_defaults), or the error message. The output is flushed after
 * every record so that a crash points at the record that caused it.
 *
 * All judging happens in Python against python3-protobuf; this program only runs our code. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/buf.h"
#include "ee/json.h"
#include "ee/status.h"
#include "ee/wire.h"
#include "eei_test_message_descriptors.h"
#include "eei_test_routes.h"
#include "wire_internal.h"

static void hex_write(FILE *out, const void *data, size_t n) {
  const uint8_t *p = data;
  for (size_t i = 0; i < n; i++) fprintf(out, "%02x", p[i]);
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Decodes lowercase hex in place; returns the byte count or -1. */
static long hex_decode_inplace(char *s) {
  size_t n = strlen(s);
  if (n % 2) return -1;
  for (size_t i = 0; i < n; i += 2) {
    int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
    if (hi < 0 || lo < 0) return -1;
    s[i / 2] = (char)(hi << 4 | lo);
  }
  return (long)(n / 2);
}

static void write_error(FILE *out, const ee_status *st) {
  fprintf(out, "%d\t", st->code == EE_OK ? (int)EE_UNKNOWN : (int)st->code);
  hex_write(out, st->message, strlen(st->message));
}

static void run_record(FILE *out, const ProtobufCMessageDescriptor *desc, const uint8_t *bin,
                       size_t len, int max_depth, const ee_json_encode_options *eopts) {
  ee_status st;
  ee_status_clear(&st);
  bool rewrite = false;
  if (eei_wire_scan(desc, bin, len, max_depth, &rewrite, &st) != EE_OK)
    fprintf(out, "%d\t", -(int)st.code);
  else
    fprintf(out, "%d\t", rewrite ? 1 : 0);
  ProtobufCMessage *msg = NULL;
  if (ee_wire_unpack(desc, bin, len, max_depth, NULL, &msg, &st) != EE_OK) {
    write_error(out, &st);
    fputs("\t0\t", out);
    return;
  }
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *packed = malloc(n ? n : 1);
  if (packed == NULL) abort();
  protobuf_c_message_pack(msg, packed);
  fputs("0\t", out);
  hex_write(out, packed, n);
  free(packed);
  fputc('\t', out);
  ee_buf buf = EE_BUF_INIT;
  if (ee_json_encode(msg, eopts, &buf, &st) != EE_OK) {
    write_error(out, &st);
  } else {
    fputs("0\t", out);
    hex_write(out, buf.data ? buf.data : "", buf.len);
  }
  ee_buf_free(&buf);
  protobuf_c_message_free_unpacked(msg, NULL);
}

static int split_tabs(char *line, char **fields, int max) {
  int n = 0;
  fields[n++] = line;
  for (char *p = line; *p && n < max; p++) {
    if (*p == '\t') {
      *p = '\0';
      fields[n++] = p + 1;
    }
  }
  return n;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s RECORDS_IN RESULTS_OUT\n", argv[0]);
    return 2;
  }
  FILE *in = fopen(argv[1], "r");
  FILE *out = fopen(argv[2], "w");
  if (in == NULL || out == NULL) {
    perror("wire_diff_driver: open");
    return 2;
  }
  ee_status st;
  ee_status_clear(&st);
  /* Custom json_name options of the test protos: from their generated route table. */
  if (ee_json_add_names(&eei_test_routes, &st) != EE_OK) {
    fprintf(stderr, "wire_diff_driver: json names: %s\n", st.message);
    return 2;
  }
  ee_json_registry *reg = ee_json_registry_new();
  if (reg == NULL) {
    fprintf(stderr, "wire_diff_driver: out of memory\n");
    return 2;
  }
  for (size_t i = 0; i < eei_test_message_descriptors_count; i++) {
    if (ee_json_registry_add(reg, eei_test_message_descriptors[i], &st) != EE_OK) {
      fprintf(stderr, "wire_diff_driver: registry: %s\n", st.message);
      return 2;
    }
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  long lineno = 0;
  int rc = 0;
  while ((got = getline(&line, &cap, in)) > 0) {
    lineno++;
    if (line[got - 1] == '\n') line[--got] = '\0';
    char *f[4];
    if (split_tabs(line, f, 4) != 4) {
      fprintf(stderr, "wire_diff_driver: line %ld: expected 4 fields\n", lineno);
      rc = 2;
      break;
    }
    const ProtobufCMessageDescriptor *desc = ee_json_registry_find(reg, f[0]);
    long len = hex_decode_inplace(f[3]);
    if (desc == NULL || len < 0) {
      fprintf(stderr, "wire_diff_driver: line %ld: bad record (type %s)\n", lineno, f[0]);
      rc = 2;
      break;
    }
    /* An exact-size copy, so that ASan sees any read past the end. */
    uint8_t *bin = malloc(len ? (size_t)len : 1);
    if (bin == NULL) abort();
    memcpy(bin, f[3], (size_t)len);
    int opts = atoi(f[1]);
    ee_json_encode_options eopts = EE_JSON_ENCODE_OPTIONS_INIT;
    eopts.use_proto_names = (opts & 1) != 0;
    eopts.enums_as_ints = (opts & 2) != 0;
    eopts.emit_defaults = (opts & 4) != 0;
    eopts.registry = reg;
    run_record(out, desc, bin, (size_t)len, atoi(f[2]), &eopts);
    free(bin);
    fputc('\n', out);
    fflush(out);
  }
  free(line);
  ee_json_registry_free(reg);
  fclose(in);
  if (fclose(out) != 0) rc = 2;
  return rc;
}
