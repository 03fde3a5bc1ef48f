/* bench_json: proto3 JSON encode/decode throughput of eeclient's codec.
 *
 *   bench_json [--inputs DIR] [--runs N] [--min-time SEC] [--quick] [--case NAME]
 *              [--only decode|decode-arena|encode]
 *   bench_json --write-inputs DIR
 *
 * Cases (bench_inputs.c): an Earth Engine expression graph of ~10,000 nodes, a
 * ListOperationsResponse of 500 operations with OperationMetadata in Any, a small
 * ExportImageRequest. Without --inputs the inputs are generated in memory; --write-inputs
 * writes them as DIR/<case>.json so bench_json_peer (C++ protobuf) measures the same bytes.
 *
 * Output, one line per measure (scripts/bench reads it):
 *   <case> <decode|encode> <MB/s> <input bytes> <iterations of the best run>
 * MB/s is bytes of the case's input JSON text per second (1 MB = 1e6 bytes), for both
 * directions, so the rate compares the same work across programs; the best of N runs. A
 * run repeats the operation until it has taken at least --min-time seconds.
 * decode = ee_json_decode into a new message + protobuf_c_message_free_unpacked;
 * decode-arena = ee_json_decode with an ee_arena allocator, reset after each message;
 * encode = ee_json_encode of a once-decoded message into a reused ee_buf (measured first,
 * on a fresh heap).
 * Binary measures (ours only; MB/s of the case's binary encoding, not of its JSON text):
 * wire-unpack = ee_wire_unpack (framing, depth and canonical-form check, then protobuf-c)
 * + free_unpacked; wire-pbc = protobuf_c_message_unpack alone + free_unpacked, the floor
 * wire-unpack's checks add to. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <protobuf-c/protobuf-c.h>

#include "bench_inputs.h"
#include "ee/arena.h"
#include "ee/buf.h"
#include "ee/json.h"
#include "ee/status.h"
#include "ee/wire.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(const char *what, const ee_status *st) {
  fprintf(stderr, "bench_json: %s: %s\n", what, st ? st->message : strerror(errno));
  return 1;
}

static int read_file(const char *path, ee_buf *out, ee_status *st) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return fail(path, NULL);
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (ee_buf_append(out, chunk, n, st) != EE_OK) {
      fclose(f);
      return fail(path, st);
    }
  }
  fclose(f);
  return 0;
}

static int write_inputs(const char *dir) {
  ee_status st;
  ee_status_clear(&st);
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) return fail(dir, NULL);
  for (int i = 0; i < BENCH_CASES; i++) {
    ee_buf b = EE_BUF_INIT;
    if (bench_make_input(i, &b, &st) != EE_OK) return fail(bench_cases[i].name, &st);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.json", dir, bench_cases[i].name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
      return fail(path, NULL);
    }
    ee_buf_free(&b);
  }
  return 0;
}

typedef struct timing {
  double best; /* seconds per operation */
  long iters;  /* iterations of the best run */
} timing;

/* --only: measure one of decode, decode-arena, encode, wire-unpack, wire-pbc (for
 * profiling); NULL measures all. */
static const char *only_measure = NULL;

static bool measuring(const char *what) {
  return only_measure == NULL || strcmp(only_measure, what) == 0;
}

/* The binary measures: msg packed once, then unpacked with and without our wire layer. */
static int bench_wire(const char *name, const ProtobufCMessage *msg, int runs, double min_time) {
  ee_status st;
  ee_status_clear(&st);
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *bin = malloc(len ? len : 1);
  if (bin == NULL) return fail("wire", NULL);
  protobuf_c_message_pack(msg, bin);
  static const char *const which[2] = {"wire-unpack", "wire-pbc"};
  for (int k = 0; k < 2; k++) {
    if (!measuring(which[k])) continue;
    timing best = {1e30, 0};
    for (int r = 0; r < runs; r++) {
      long n = 0;
      double t0 = now(), t;
      do {
        ProtobufCMessage *m = NULL;
        if (k == 0) {
          if (ee_wire_unpack(msg->descriptor, bin, len, 0, NULL, &m, &st) != EE_OK) {
            free(bin);
            return fail("wire-unpack", &st);
          }
        } else if ((m = protobuf_c_message_unpack(msg->descriptor, NULL, len, bin)) == NULL) {
          free(bin);
          return fail("wire-pbc", NULL);
        }
        protobuf_c_message_free_unpacked(m, NULL);
        n++;
      } while ((t = now() - t0) < min_time);
      if (t / (double)n < best.best) best = (timing){t / (double)n, n};
    }
    printf("%s %s %.2f %zu %ld\n", name, which[k], (double)len / 1e6 / best.best, len, best.iters);
  }
  free(bin);
  return 0;
}

static int bench_case_run(int i, const char *dir, int runs, double min_time) {
  ee_status st;
  ee_status_clear(&st);
  ee_buf text = EE_BUF_INIT;
  if (dir != NULL) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.json", dir, bench_cases[i].name);
    if (read_file(path, &text, &st) != 0) return 1;
  } else if (bench_make_input(i, &text, &st) != EE_OK) {
    return fail(bench_cases[i].name, &st);
  }
  const ProtobufCMessageDescriptor *desc =
      ee_json_registry_find(ee_json_default_registry(), bench_cases[i].type_name);
  if (desc == NULL) {
    ee_status_set(&st, EE_NOT_FOUND, "%s not in the default registry", bench_cases[i].type_name);
    return fail(bench_cases[i].name, &st);
  }

  /* Encode first, from a message decoded on a fresh heap: a program encodes what it
   * just built, not a tree scattered by thousands of earlier decodes and frees. */
  ProtobufCMessage *msg = NULL;
  if (ee_json_decode(desc, text.data, text.len, NULL, &msg, &st) != EE_OK) {
    return fail("decode", &st);
  }
  ee_buf out = EE_BUF_INIT;
  timing enc = {1e30, 0};
  for (int r = 0; r < runs && measuring("encode"); r++) {
    long n = 0;
    double t0 = now(), t;
    do {
      ee_buf_reset(&out);
      if (ee_json_encode(msg, NULL, &out, &st) != EE_OK) return fail("encode", &st);
      n++;
    } while ((t = now() - t0) < min_time);
    if (t / (double)n < enc.best) enc = (timing){t / (double)n, n};
  }

  /* Decode with protobuf-c's default allocator: malloc per node, then free_unpacked. */
  timing dec = {1e30, 0};
  for (int r = 0; r < runs && measuring("decode"); r++) {
    long n = 0;
    double t0 = now(), t;
    do {
      ProtobufCMessage *m = NULL;
      if (ee_json_decode(desc, text.data, text.len, NULL, &m, &st) != EE_OK) {
        return fail("decode", &st);
      }
      protobuf_c_message_free_unpacked(m, NULL);
      n++;
    } while ((t = now() - t0) < min_time);
    if (t / (double)n < dec.best) dec = (timing){t / (double)n, n};
  }

  /* Decode into an ee_arena that is reset after each message (the peer's counterpart
   * is a google::protobuf::Arena reset after each message). */
  ee_arena *arena = ee_arena_new(0);
  if (arena == NULL) return fail("arena", NULL);
  ee_json_decode_options aopts = EE_JSON_DECODE_OPTIONS_INIT;
  aopts.allocator = ee_arena_allocator(arena);
  timing deca = {1e30, 0};
  for (int r = 0; r < runs && measuring("decode-arena"); r++) {
    long n = 0;
    double t0 = now(), t;
    do {
      ProtobufCMessage *m = NULL;
      if (ee_json_decode(desc, text.data, text.len, &aopts, &m, &st) != EE_OK) {
        return fail("decode", &st);
      }
      ee_arena_reset(arena);
      n++;
    } while ((t = now() - t0) < min_time);
    if (t / (double)n < deca.best) deca = (timing){t / (double)n, n};
  }
  ee_arena_free(arena);
  const double mb = (double)text.len / 1e6;
  if (measuring("decode")) {
    printf("%s decode %.2f %zu %ld\n", bench_cases[i].name, mb / dec.best, text.len, dec.iters);
  }
  if (measuring("decode-arena")) {
    printf("%s decode-arena %.2f %zu %ld\n", bench_cases[i].name, mb / deca.best, text.len,
           deca.iters);
  }
  if (measuring("encode")) {
    printf("%s encode %.2f %zu %ld\n", bench_cases[i].name, mb / enc.best, text.len, enc.iters);
  }
  if (bench_wire(bench_cases[i].name, msg, runs, min_time) != 0) return 1;
  fflush(stdout);
  protobuf_c_message_free_unpacked(msg, NULL);
  ee_buf_free(&out);
  ee_buf_free(&text);
  return 0;
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  const char *only = NULL; /* --case: one case only (for profiling) */
  int runs = 5;
  double min_time = 0.2;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--write-inputs") == 0 && i + 1 < argc) {
      return write_inputs(argv[i + 1]);
    } else if (strcmp(argv[i], "--inputs") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) {
      min_time = atof(argv[++i]);
    } else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only_measure = argv[++i];
    } else if (strcmp(argv[i], "--quick") == 0) {
      runs = 1;
      min_time = 0;
    } else {
      fprintf(stderr,
              "usage: bench_json [--inputs DIR] [--runs N] [--min-time SEC] [--quick] "
              "[--case NAME] [--only decode|decode-arena|encode|wire-unpack|wire-pbc]\n"
              "       bench_json --write-inputs DIR\n");
      return 2;
    }
  }
  if (runs < 1) runs = 1;
  int ran = 0;
  for (int i = 0; i < BENCH_CASES; i++) {
    if (only && strcmp(only, bench_cases[i].name) != 0) continue;
    if (bench_case_run(i, dir, runs, min_time) != 0) return 1;
    ran++;
  }
  if (ran == 0) {
    fprintf(stderr, "bench_json: no case named %s\n", only ? only : "");
    return 2;
  }
  return 0;
}
