/* ee-protojson: convert one message between proto3 JSON and binary protobuf.
 *
 *   ee-protojson --type FULL.MESSAGE.NAME --from json|binary --to json|binary
 *                [--ignore-unknown] [--indent N] [--emit-defaults] [--proto-names]
 *                [--enums-as-ints] [--accept-wrapper-objects] [--max-depth N]
 *
 * Reads stdin, writes stdout. Exit 0 on success; 2 with one line "error: ..." on bad
 * input or bad flags; 1 when stdout cannot be written. Uses only the public API. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ee/buf.h"
#include "ee/json.h"
#include "ee/wire.h"

#define EXIT_BAD_INPUT 2

typedef struct args {
  const char *type;
  bool from_json, to_json;
  bool have_from, have_to;
  ee_json_decode_options dopts;
  ee_json_encode_options eopts;
} args;

__attribute__((format(printf, 1, 2))) static int die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return EXIT_BAD_INPUT;
}

static void usage(FILE *f) {
  fputs(
      "usage: ee-protojson --type FULL.MESSAGE.NAME --from json|binary --to json|binary\n"
      "                    [--ignore-unknown] [--indent N] [--emit-defaults] [--proto-names]\n"
      "                    [--enums-as-ints] [--accept-wrapper-objects] [--max-depth N]\n"
      "Reads one message from stdin and writes it to stdout.\n",
      f);
}

static int parse_format(const char *v, bool *is_json) {
  if (v && strcmp(v, "json") == 0) {
    *is_json = true;
    return 0;
  }
  if (v && strcmp(v, "binary") == 0) {
    *is_json = false;
    return 0;
  }
  return -1;
}

static int parse_int_flag(const char *v, int lo, int hi, int *out) {
  char *end;
  if (!v || !*v) return -1;
  long n = strtol(v, &end, 10);
  if (*end || n < lo || n > hi) return -1;
  *out = (int)n;
  return 0;
}

/* Returns -1 to continue, else an exit code. */
static int parse_args(int argc, char **argv, args *a) {
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(f, "--type") == 0 && v) {
      a->type = v, i++;
    } else if (strcmp(f, "--from") == 0) {
      if (parse_format(v, &a->from_json) != 0) return die("--from needs json or binary");
      a->have_from = true, i++;
    } else if (strcmp(f, "--to") == 0) {
      if (parse_format(v, &a->to_json) != 0) return die("--to needs json or binary");
      a->have_to = true, i++;
    } else if (strcmp(f, "--ignore-unknown") == 0) {
      a->dopts.ignore_unknown_fields = true;
    } else if (strcmp(f, "--accept-wrapper-objects") == 0) {
      a->dopts.accept_wrapper_objects = true;
    } else if (strcmp(f, "--emit-defaults") == 0) {
      a->eopts.emit_defaults = true;
    } else if (strcmp(f, "--proto-names") == 0) {
      a->eopts.use_proto_names = true;
    } else if (strcmp(f, "--enums-as-ints") == 0) {
      a->eopts.enums_as_ints = true;
    } else if (strcmp(f, "--indent") == 0) {
      if (parse_int_flag(v, 0, 16, &a->eopts.indent) != 0)
        return die("--indent needs a number from 0 to 16");
      i++;
    } else if (strcmp(f, "--max-depth") == 0) {
      if (parse_int_flag(v, 1, 10000, &a->dopts.max_depth) != 0)
        return die("--max-depth needs a number from 1 to 10000");
      i++;
    } else {
      return die("unknown or incomplete flag %s (see --help)", f);
    }
  }
  if (!a->type || !a->have_from || !a->have_to)
    return die("--type, --from and --to are required (see --help)");
  return -1;
}

/* Reads all of stdin, refusing more than limit bytes. */
static int read_stdin(ee_buf *in, size_t limit, ee_status *st) {
  char chunk[65536];
  size_t n;
  ee_buf_init(in, limit);
  while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
    if (ee_buf_append(in, chunk, n, st) != EE_OK) return -1;
  }
  if (ferror(stdin)) {
    ee_status_set(st, EE_INVALID_ARGUMENT, "cannot read stdin");
    return -1;
  }
  return 0;
}

static ee_code decode_input(const args *a, const ProtobufCMessageDescriptor *desc, const ee_buf *in,
                            ProtobufCMessage **msg, ee_status *st) {
  if (a->from_json) return ee_json_decode(desc, in->data, in->len, &a->dopts, msg, st);
  return ee_wire_unpack(desc, (const uint8_t *)in->data, in->len, a->dopts.max_depth, NULL, msg,
                        st);
}

static ee_code encode_output(const args *a, const ProtobufCMessage *msg, ee_buf *out,
                             ee_status *st) {
  if (a->to_json) {
    ee_code rc = ee_json_encode(msg, &a->eopts, out, st);
    return rc == EE_OK ? ee_buf_append(out, "\n", 1, st) : rc;
  }
  size_t n = protobuf_c_message_get_packed_size(msg);
  ee_code rc = ee_buf_reserve(out, n, st);
  if (rc != EE_OK) return rc;
  out->len += protobuf_c_message_pack(msg, (uint8_t *)out->data);
  return EE_OK;
}

int main(int argc, char **argv) {
  args a;
  memset(&a, 0, sizeof a);
  int rc = parse_args(argc, argv, &a);
  if (rc >= 0) return rc;
  const ProtobufCMessageDescriptor *desc =
      ee_json_registry_find(ee_json_default_registry(), a.type);
  if (!desc) return die("unknown message type \"%s\"", a.type);

  ee_status st;
  ee_buf in, out = EE_BUF_INIT;
  ProtobufCMessage *msg = NULL;
  rc = EXIT_BAD_INPUT;
  if (read_stdin(&in, EE_JSON_DEFAULT_MAX_INPUT, &st) != 0 ||
      decode_input(&a, desc, &in, &msg, &st) != EE_OK ||
      encode_output(&a, msg, &out, &st) != EE_OK) {
    fprintf(stderr, "error: %s\n", st.message);
    goto done;
  }
  if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
    fputs("error: cannot write stdout\n", stderr);
    rc = 1;
    goto done;
  }
  rc = 0;
done:
  protobuf_c_message_free_unpacked(msg, NULL);
  ee_buf_free(&in);
  ee_buf_free(&out);
  return rc;
}
