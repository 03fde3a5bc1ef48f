/* Binary round trips of every generated message through protobuf-c.
 *
 *   gen_roundtrip selftest            every message type: random fill, pack, unpack, and
 *                                     check the dump and the repacked bytes are unchanged
 *   gen_roundtrip emit DIR SEEDS      write DIR/<type>.<seed>.bin and .dump for Python
 *   gen_roundtrip dump LIST           for each "TYPE PATH" line: unpack PATH, print its dump
 *                                     between "== PATH" lines
 * check_python.py drives emit and dump against Python's protobuf. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eei_message_descriptors.h"
#include "eei_test_message_descriptors.h"
#include "randmsg.h"

#define MAX_DEPTH 4

static const ProtobufCMessageDescriptor *find_type(const char *name) {
  for (size_t i = 0; i < eei_message_descriptors_count; i++)
    if (strcmp(eei_message_descriptors[i]->name, name) == 0) return eei_message_descriptors[i];
  for (size_t i = 0; i < eei_test_message_descriptors_count; i++)
    if (strcmp(eei_test_message_descriptors[i]->name, name) == 0)
      return eei_test_message_descriptors[i];
  return NULL;
}

static char *dump_to_string(const ProtobufCMessage *m) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ee_test_dump(m, f);
  fclose(f);
  return text;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(*len ? *len : 1);
  if (!buf || protobuf_c_message_pack(m, buf) != *len) abort();
  return buf;
}

/* Returns the number of failures for one type and seed. */
static int roundtrip_one(const ProtobufCMessageDescriptor *d, uint64_t seed) {
  ee_test_rng rng = {seed};
  ProtobufCMessage *m = ee_test_new_random(d, &rng, MAX_DEPTH);
  size_t len, len2;
  uint8_t *bytes = pack(m, &len);
  ProtobufCMessage *back = protobuf_c_message_unpack(d, NULL, len, bytes);
  int failures = 0;
  if (!back) {
    fprintf(stderr, "FAIL %s seed %llu: unpack of %zu packed bytes failed\n", d->name,
            (unsigned long long)seed, len);
    failures = 1;
    goto done;
  }
  char *a = dump_to_string(m), *b = dump_to_string(back);
  uint8_t *bytes2 = pack(back, &len2);
  if (strcmp(a, b) != 0) {
    fprintf(stderr, "FAIL %s seed %llu: contents changed\n--- before\n%s--- after\n%s", d->name,
            (unsigned long long)seed, a, b);
    failures++;
  }
  if (len != len2 || memcmp(bytes, bytes2, len) != 0) {
    fprintf(stderr, "FAIL %s seed %llu: repacked bytes differ\n", d->name,
            (unsigned long long)seed);
    failures++;
  }
  free(a);
  free(b);
  free(bytes2);
  protobuf_c_message_free_unpacked(back, NULL);
done:
  free(bytes);
  protobuf_c_message_free_unpacked(m, NULL);
  return failures;
}

static int selftest_list(const ProtobufCMessageDescriptor *const *list, size_t n, int *types) {
  int failures = 0;
  for (size_t i = 0; i < n; i++) {
    for (uint64_t seed = 1; seed <= 25; seed++) failures += roundtrip_one(list[i], seed);
    (*types)++;
  }
  return failures;
}

static int selftest(void) {
  int types = 0;
  int failures = selftest_list(eei_message_descriptors, eei_message_descriptors_count, &types);
  failures +=
      selftest_list(eei_test_message_descriptors, eei_test_message_descriptors_count, &types);
  printf("%d types x 25 seeds: %d failures\n", types, failures);
  return failures ? 1 : 0;
}

static int write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(data, 1, len, f);
  return (fclose(f) == 0 && w == len) ? 0 : -1;
}

static int emit(const char *dir, int seeds) {
  const ProtobufCMessageDescriptor *const *lists[2] = {eei_message_descriptors,
                                                       eei_test_message_descriptors};
  size_t counts[2] = {eei_message_descriptors_count, eei_test_message_descriptors_count};
  for (int l = 0; l < 2; l++) {
    for (size_t i = 0; i < counts[l]; i++) {
      const ProtobufCMessageDescriptor *d = lists[l][i];
      if (ee_test_is_map_entry(d)) continue; /* not a message type of its own */
      for (int seed = 1; seed <= seeds; seed++) {
        ee_test_rng rng = {(uint64_t)seed * 7919u + i};
        ProtobufCMessage *m = ee_test_new_random(d, &rng, MAX_DEPTH);
        size_t len;
        uint8_t *bytes = pack(m, &len);
        char *text = dump_to_string(m);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.%d.bin", dir, d->name, seed);
        int rc = write_file(path, bytes, len);
        snprintf(path, sizeof path, "%s/%s.%d.dump", dir, d->name, seed);
        rc |= write_file(path, text, strlen(text));
        free(text);
        free(bytes);
        protobuf_c_message_free_unpacked(m, NULL);
        if (rc) {
          perror(path);
          return 1;
        }
      }
    }
  }
  return 0;
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = NULL;
  size_t cap = 0;
  *len = 0;
  for (;;) {
    if (*len == cap) {
      cap = cap ? cap * 2 : 4096;
      uint8_t *p = realloc(buf, cap);
      if (!p) abort();
      buf = p;
    }
    size_t r = fread(buf + *len, 1, cap - *len, f);
    if (r == 0) break;
    *len += r;
  }
  fclose(f);
  return buf;
}

static int dump_list(const char *list_path) {
  FILE *list = fopen(list_path, "r");
  if (!list) {
    perror(list_path);
    return 1;
  }
  char type[512], path[4096];
  int rc = 0;
  while (fscanf(list, "%511s %4095s", type, path) == 2) {
    const ProtobufCMessageDescriptor *d = find_type(type);
    size_t len;
    uint8_t *bytes = read_file(path, &len);
    ProtobufCMessage *m = (d && bytes) ? protobuf_c_message_unpack(d, NULL, len, bytes) : NULL;
    printf("== %s\n", path);
    if (m)
      ee_test_dump(m, stdout);
    else {
      printf("!! cannot read %s as %s\n", path, type);
      rc = 1;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    free(bytes);
  }
  fclose(list);
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "selftest") == 0) return selftest();
  if (argc == 4 && strcmp(argv[1], "emit") == 0) return emit(argv[2], atoi(argv[3]));
  if (argc == 3 && strcmp(argv[1], "dump") == 0) return dump_list(argv[2]);
  fprintf(stderr, "usage: gen_roundtrip selftest | emit DIR SEEDS | dump LIST\n");
  return 2;
}
