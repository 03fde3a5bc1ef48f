/* Starts ee-emulator for a C test or benchmark and stops it again.
 *
 * The emulator is started with --rest-port 0 --grpc-port 0 plus the caller's flags; its
 * first stdout line ("ee-emulator listening rest=http://HOST:PORT grpc=HOST:PORT") gives
 * the ports it bound. */
#ifndef EE_TEST_EMU_SPAWN_H
#define EE_TEST_EMU_SPAWN_H

#include <sys/types.h>

typedef struct emu_proc {
  pid_t pid;
  char rest_host[64];
  int rest_port;
  char grpc_host[64];
  int grpc_port;
} emu_proc;

/* Runs `path --rest-port 0 --grpc-port 0 args...` (args NULL-terminated, may be NULL)
 * and waits for its startup line. Returns 0, or -1 with a message on stderr. */
int emu_start(const char *path, const char *const *args, emu_proc *out);

/* SIGTERM, then waits for the exit. Returns the exit status (0 on a clean stop), -1 when
 * it did not exit normally. Accepts a zeroed emu_proc (pid 0): returns 0. */
int emu_stop(emu_proc *e);

#endif
