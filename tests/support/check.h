/* The one check framework of the C tests: CHECK(cond) or CHECK(cond, "printf format", ...)
 * (the format a string literal) counts the check and, when cond is false, prints the
 * file, line, condition and message to stderr
 * without stopping the test; check_report() prints the totals and gives main's exit
 * status. Each test executable counts on its own (the counters are per file). */
#ifndef EE_TESTS_CHECK_H
#define EE_TESTS_CHECK_H

#include <stdarg.h>
#include <stdio.h>

__attribute__((unused)) static int check_count, check_failures;

__attribute__((format(printf, 4, 5), unused)) static void check_failed(const char *file, int line,
                                                                       const char *cond,
                                                                       const char *fmt, ...) {
  va_list ap;
  check_failures++;
  fprintf(stderr, "FAIL %s:%d: %s", file, line, cond);
  if (fmt[1]) { /* fmt is "|" followed by the caller's format, if any */
    fputs(": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt + 1, ap);
    va_end(ap);
  }
  fputc('\n', stderr);
}

#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    check_count++;                                                         \
    if (!(cond)) check_failed(__FILE__, __LINE__, #cond, "|" __VA_ARGS__); \
  } while (0)

/* Prints "<name>: N checks, M failures" and returns main's exit status (1 on failures). */
__attribute__((unused)) static int check_report(const char *name) {
  printf("%s: %d checks, %d failures\n", name, check_count, check_failures);
  return check_failures ? 1 : 0;
}

#endif
