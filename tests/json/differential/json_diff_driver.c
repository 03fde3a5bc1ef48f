/* Driver for the JSON differential test (json_differential.py).
 *
 * Reads a batch file of tab-separated records, one per line:
 *   R <TAB> TYPE <TAB> OPTS <TAB> base64(binary) <TAB> base64(json)   round-trip record
 *   X <TAB> TYPE <TAB> 0    <TAB>                <TAB> base64(json)   must-reject record
 * and writes one line per record to the output file:
 *   DEC_CODE <TAB> base64(DEC) <TAB> ENC_CODE <TAB> base64(ENC)
 * where DEC is our decode of the JSON packed to binary (or the error message when
 * DEC_CODE is not 0) and ENC is our JSON encoding of the unpacked binary (or the error
 * message). For X records the ENC pair is "0" and empty. OPTS bits select encode options:
 * 1 use_proto_names, 2 enums_as_ints, 4 emit_defaults. The output is flushed after every
 * record so that a crash points at the record that caused it.
 *
 * All judging happens in Python against json_format; this program only runs our codec. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/buf.h"
#include "ee/json.h"
#include "ee/status.h"
#include "eei_test_message_descriptors.h"
#include "eei_test_routes.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_write(FILE *out, const uint8_t *p, size_t n) {
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    fputc(b64_alphabet[v >> 18], out);
    fputc(b64_alphabet[(v >> 12) & 63], out);
    fputc(b64_alphabet[(v >> 6) & 63], out);
    fputc(b64_alphabet[v & 63], out);
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    fputc(b64_alphabet[v >> 18], out);
    fputc(b64_alphabet[(v >> 12) & 63], out);
    fputs("==", out);
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    fputc(b64_alphabet[v >> 18], out);
    fputc(b64_alphabet[(v >> 12) & 63], out);
    fputc(b64_alphabet[(v >> 6) & 63], out);
    fputc('=', out);
  }
}

static int b64_value(char c) {
  const char *p = strchr(b64_alphabet, c);
  return (c != '\0' && p) ? (int)(p - b64_alphabet) : -1;
}

/* Decodes standard padded base64 in place; returns the decoded length or -1. */
static long b64_decode_inplace(char *s) {
  size_t n = strlen(s), o = 0;
  if (n % 4 != 0) return -1;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; k++) {
      if (s[i + k] == '=' && i + 4 == n && k >= 2) {
        v[k] = 0;
        pad++;
      } else if ((v[k] = b64_value(s[i + k])) < 0 || pad) {
        return -1;
      }
    }
    uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    s[o++] = (char)(x >> 16);
    if (pad < 2) s[o++] = (char)(x >> 8);
    if (pad < 1) s[o++] = (char)x;
  }
  return (long)o;
}

static void write_status(FILE *out, const ee_status *st) {
  fprintf(out, "%d\t", (int)st->code);
  b64_write(out, (const uint8_t *)st->message, strlen(st->message));
}

/* Our decode of the JSON, packed to binary with protobuf-c. */
static void run_decode(FILE *out, const ProtobufCMessageDescriptor *desc, const char *json,
                       size_t len, const ee_json_decode_options *dopts) {
  ee_status st;
  ee_status_clear(&st);
  ProtobufCMessage *msg = NULL;
  if (ee_json_decode(desc, json, len, dopts, &msg, &st) != EE_OK) {
    if (st.code == EE_OK) st.code = EE_UNKNOWN; /* a failure must never look like success */
    write_status(out, &st);
    return;
  }
  if (msg == NULL) {
    ee_status_set(&st, EE_INTERNAL, "driver: ee_json_decode returned OK and no message");
    write_status(out, &st);
    return;
  }
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *bin = malloc(n ? n : 1);
  if (bin == NULL) abort();
  protobuf_c_message_pack(msg, bin);
  fputs("0\t", out);
  b64_write(out, bin, n);
  free(bin);
  protobuf_c_message_free_unpacked(msg, NULL);
}

/* Our encode of the binary message (unpacked with protobuf-c). */
static void run_encode(FILE *out, const ProtobufCMessageDescriptor *desc, const uint8_t *bin,
                       size_t len, const ee_json_encode_options *eopts) {
  ee_status st;
  ee_status_clear(&st);
  ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, len, bin);
  if (msg == NULL) {
    ee_status_set(&st, EE_INTERNAL, "driver: protobuf_c_message_unpack failed");
    write_status(out, &st);
    return;
  }
  ee_buf buf = EE_BUF_INIT;
  if (ee_json_encode(msg, eopts, &buf, &st) != EE_OK) {
    if (st.code == EE_OK) st.code = EE_UNKNOWN;
    write_status(out, &st);
  } else {
    fputs("0\t", out);
    b64_write(out, (const uint8_t *)(buf.data ? buf.data : ""), buf.len);
  }
  ee_buf_free(&buf);
  protobuf_c_message_free_unpacked(msg, NULL);
}

/* Splits line at tabs into at most max fields; returns the count. */
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
    fprintf(stderr, "usage: %s BATCH_IN RESULTS_OUT\n", argv[0]);
    return 2;
  }
  FILE *in = fopen(argv[1], "r");
  FILE *out = fopen(argv[2], "w");
  if (in == NULL || out == NULL) {
    perror("json_diff_driver: open");
    return 2;
  }
  /* The default registry knows proto/; the differential also packs eetest types in Any. */
  ee_status st;
  ee_status_clear(&st);
  /* Custom json_name options of the test protos: from their generated route table. */
  if (ee_json_add_names(&eei_test_routes, &st) != EE_OK) {
    fprintf(stderr, "json_diff_driver: names: %s\n", st.message);
    return 2;
  }
  ee_json_registry *reg = ee_json_registry_new();
  if (reg == NULL) {
    fprintf(stderr, "json_diff_driver: out of memory\n");
    return 2;
  }
  for (size_t i = 0; i < eei_test_message_descriptors_count; i++) {
    if (ee_json_registry_add(reg, eei_test_message_descriptors[i], &st) != EE_OK) {
      fprintf(stderr, "json_diff_driver: registry: %s\n", st.message);
      return 2;
    }
  }
  ee_json_decode_options dopts = EE_JSON_DECODE_OPTIONS_INIT;
  dopts.registry = reg;

  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  long lineno = 0;
  int rc = 0;
  while ((got = getline(&line, &cap, in)) > 0) {
    lineno++;
    if (line[got - 1] == '\n') line[--got] = '\0';
    char *f[5];
    if (split_tabs(line, f, 5) != 5) {
      fprintf(stderr, "json_diff_driver: line %ld: expected 5 fields\n", lineno);
      rc = 2;
      break;
    }
    const ProtobufCMessageDescriptor *desc = ee_json_registry_find(reg, f[1]);
    long bin_len = b64_decode_inplace(f[3]);
    long json_len = b64_decode_inplace(f[4]);
    if (desc == NULL || bin_len < 0 || json_len < 0) {
      fprintf(stderr, "json_diff_driver: line %ld: bad record (type %s)\n", lineno, f[1]);
      rc = 2;
      break;
    }
    /* Copy the JSON into an exact-size buffer so ASan sees any read past its end. */
    char *json = malloc(json_len ? (size_t)json_len : 1);
    if (json == NULL) abort();
    memcpy(json, f[4], (size_t)json_len);
    run_decode(out, desc, json, (size_t)json_len, &dopts);
    free(json);
    fputc('\t', out);
    if (f[0][0] == 'R') {
      int opts = atoi(f[2]);
      ee_json_encode_options eopts = EE_JSON_ENCODE_OPTIONS_INIT;
      eopts.use_proto_names = (opts & 1) != 0;
      eopts.enums_as_ints = (opts & 2) != 0;
      eopts.emit_defaults = (opts & 4) != 0;
      eopts.registry = reg;
      run_encode(out, desc, (const uint8_t *)f[3], (size_t)bin_len, &eopts);
    } else {
      fputs("0\t", out);
    }
    fputc('\n', out);
    fflush(out);
  }
  free(line);
  ee_json_registry_free(reg);
  fclose(in);
  if (fclose(out) != 0) rc = 2;
  return rc;
}
