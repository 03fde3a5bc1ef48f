/* Starts ee-emulator (or any server that prints the same kind of first line) as a child
 * process on free ports, for C tests. */
#ifndef EE_TEST_EMU_PROC_H
#define EE_TEST_EMU_PROC_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct emu_proc {
  pid_t pid;
  void *out; /* FILE * of the child's stdout, kept open so later writes cannot SIGPIPE it */
  char rest_url[128];    /* "http://127.0.0.1:PORT" or "https://..." */
  char grpc_target[128]; /* "127.0.0.1:PORT" */
  char grpc_url[160];    /* "http://127.0.0.1:PORT" or "https://..." (the gRPC port) */
} emu_proc;

/* Runs `path args... --rest-port 0 --grpc-port 0` and waits for its
 * "ee-emulator listening rest=URL grpc=HOST:PORT" line. args ends with NULL. Returns
 * false (with a message on stderr) when it does not start. */
bool emu_start(emu_proc *e, const char *path, const char *const *args);

/* SIGTERM, then waits. Returns the exit status (or -1). */
int emu_stop(emu_proc *e);

/* The emulator binary: $EE_EMULATOR, else "ee-emulator" next to the test binary's bin/. */
const char *emu_path(void);

#endif
