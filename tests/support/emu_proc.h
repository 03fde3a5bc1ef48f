/* Servers as child processes for C tests and benchmarks: ee-emulator on free ports, or any
 * server that announces itself on its first stdout line (tests/transport/rest_canned.py). */
#ifndef EE_TEST_EMU_PROC_H
#define EE_TEST_EMU_PROC_H

#include <sys/types.h>

/* Any child whose first stdout line says where it listens. */
typedef struct child_proc {
  pid_t pid;      /* 0: not running */
  int out_fd;     /* read end of its stdout, kept open until stop so it never gets SIGPIPE */
  char line[512]; /* its first stdout line, without the newline */
} child_proc;

/* Starts argv[0] (looked up on PATH when it has no '/') with argv (NULL-terminated), its
 * stdout to a pipe, and reads the first line. Returns 0, or -1 (with a message on stderr)
 * when it cannot start or exits before printing a line. */
int child_start(child_proc *c, const char *const argv[]);

/* SIGTERM, then waits. Returns the exit status, -1 when it did not exit normally, 0 when
 * it is not running (never started or already stopped). */
int child_stop(child_proc *c);

/* ee-emulator and the addresses from its "ee-emulator listening rest=URL grpc=HOST:PORT"
 * line (URL "http://..." or "https://..." when started with --tls-cert). */
typedef struct emu_proc {
  child_proc child;
  char rest_url[128]; /* "http://127.0.0.1:PORT" or "https://..." */
  char rest_host[64];
  int rest_port;
  char grpc_url[160]; /* the gRPC port, with the REST URL's scheme */
  char grpc_host[64];
  int grpc_port;
} emu_proc;

/* Runs `path --rest-port 0 --grpc-port 0 args...` (args NULL-terminated, may be NULL) and
 * parses its listening line. Returns 0, or -1 (with a message on stderr) when it does not
 * start. */
int emu_start(emu_proc *e, const char *path, const char *const *args);

/* child_stop of the emulator. */
int emu_stop(emu_proc *e);

/* The emulator binary: $EE_EMULATOR, else "ee-emulator" on PATH. */
const char *emu_path(void);

#endif
