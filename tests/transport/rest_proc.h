/* Child processes for the transport tests: start a server, read its first stdout line
 * (its "listening" line), stop it. */
#ifndef EE_REST_PROC_H
#define EE_REST_PROC_H

#include <sys/types.h>

typedef struct rest_proc {
  pid_t pid;
  int out_fd;     /* read end of its stdout, kept open until stop (no SIGPIPE) */
  char line[512]; /* the first stdout line, without the newline */
} rest_proc;

/* Starts argv[0] with argv (NULL-terminated), stdout to a pipe, and reads the first line.
 * Returns 0, or -1 (printed) when it cannot start or exits before printing a line. */
int rest_proc_start(rest_proc *p, char *const argv[]);

/* SIGTERM, then waits. Returns the exit status (or -1). Accepts a never-started p. */
int rest_proc_stop(rest_proc *p);

#endif
