/* Runs every file of a libFuzzer corpus through LLVMFuzzerTestOneInput, without libFuzzer,
 * so the committed corpus (and every crash reproducer added to it) is a normal test.
 * Usage: replay FILE|DIR...   Exits non-zero if there was nothing to run; a failing input
 * aborts inside the target, after this program names it on stderr. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    return -1;
  }
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  size_t n;
  while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      uint8_t *bigger = realloc(buf, cap * 2);
      if (bigger == NULL) free(buf);
      buf = bigger;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf == NULL) return -1;
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
  /* An exact-size copy so that ASan builds catch reads past the end. */
  uint8_t *exact = malloc(len ? len : 1);
  if (exact == NULL) {
    free(buf);
    return -1;
  }
  memcpy(exact, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the files of a directory in name order (reproducible output). */
static int run_dir(const char *dir, long *count) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    perror(dir);
    return -1;
  }
  char **names = NULL;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char **more = realloc(names, (n + 1) * sizeof *names);
    if (more == NULL) break;
    names = more;
    size_t sz = strlen(dir) + strlen(e->d_name) + 2;
    names[n] = malloc(sz);
    if (names[n] == NULL) break;
    snprintf(names[n], sz, "%s/%s", dir, e->d_name);
    n++;
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_names);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    struct stat sb;
    if (stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode)) {
      if (run_file(names[i]) != 0) rc = -1;
      (*count)++;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  long count = 0;
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    struct stat sb;
    if (stat(argv[i], &sb) != 0) {
      perror(argv[i]);
      return 1;
    }
    if (S_ISDIR(sb.st_mode)) {
      if (run_dir(argv[i], &count) != 0) rc = 1;
    } else {
      if (run_file(argv[i]) != 0) rc = 1;
      count++;
    }
  }
  printf("replay: %ld inputs\n", count);
  return (rc != 0 || count == 0) ? 1 : 0;
}
