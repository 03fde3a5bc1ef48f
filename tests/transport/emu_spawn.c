/* ee-emulator as a child process (see emu_spawn.h). */
#include "emu_spawn.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 32

int emu_start(const char *path, const char *const *args, emu_proc *out) {
  const char *argv[MAX_ARGS + 6] = {path, "--rest-port", "0", "--grpc-port", "0"};
  size_t n = 5;
  for (size_t i = 0; args && args[i]; i++) {
    if (n >= MAX_ARGS + 5) return fprintf(stderr, "emu_start: too many arguments\n"), -1;
    argv[n++] = args[i];
  }
  argv[n] = NULL;
  int fds[2];
  if (pipe(fds) != 0) return perror("pipe"), -1;
  memset(out, 0, sizeof *out);
  pid_t pid = fork();
  if (pid < 0) return perror("fork"), -1;
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execv(path, (char *const *)argv);
    _exit(127);
  }
  close(fds[1]);
  FILE *f = fdopen(fds[0], "r");
  char line[512] = "";
  if (!f || !fgets(line, sizeof line, f) ||
      sscanf(line, "ee-emulator listening rest=http://%63[^:]:%d grpc=%63[^:]:%d", out->rest_host,
             &out->rest_port, out->grpc_host, &out->grpc_port) != 4) {
    fprintf(stderr, "emu_start: %s: bad startup line \"%s\"\n", path, line);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (f) fclose(f);
    return -1;
  }
  fclose(f); /* the emulator prints nothing more on stdout that we need */
  out->pid = pid;
  return 0;
}

int emu_stop(emu_proc *e) {
  if (e->pid <= 0) return 0;
  int status = 0;
  kill(e->pid, SIGTERM);
  pid_t r = waitpid(e->pid, &status, 0);
  e->pid = 0;
  return r > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
