/* ee-emulator as a child process for C tests. */
#define _GNU_SOURCE
#include "emu_proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *emu_path(void) {
  const char *p = getenv("EE_EMULATOR");
  return p && p[0] ? p : "ee-emulator";
}

static bool parse_line(emu_proc *e, const char *line) {
  const char *rest = strstr(line, " rest=");
  const char *grpc = strstr(line, " grpc=");
  if (!rest || !grpc || grpc < rest) return false;
  size_t rn = (size_t)(grpc - (rest + 6));
  if (rn >= sizeof e->rest_url) return false;
  memcpy(e->rest_url, rest + 6, rn);
  e->rest_url[rn] = '\0';
  snprintf(e->grpc_target, sizeof e->grpc_target, "%.*s", (int)strcspn(grpc + 6, " \r\n"),
           grpc + 6);
  bool tls = strncmp(e->rest_url, "https://", 8) == 0;
  snprintf(e->grpc_url, sizeof e->grpc_url, "%s://%s", tls ? "https" : "http", e->grpc_target);
  return true;
}

bool emu_start(emu_proc *e, const char *path, const char *const *args) {
  int fds[2];
  const char *argv[64];
  int n = 0;
  memset(e, 0, sizeof *e);
  argv[n++] = path;
  argv[n++] = "--rest-port";
  argv[n++] = "0";
  argv[n++] = "--grpc-port";
  argv[n++] = "0";
  for (int i = 0; args && args[i] && n < 62; i++) argv[n++] = args[i];
  argv[n] = NULL;
  if (pipe(fds) != 0) return false;
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execvp(path, (char *const *)argv);
    fprintf(stderr, "cannot run %s\n", path);
    _exit(127);
  }
  close(fds[1]);
  e->pid = pid;
  FILE *f = fdopen(fds[0], "r");
  char line[512];
  bool ok = f && fgets(line, sizeof line, f) && parse_line(e, line);
  e->out = f;
  if (!ok) {
    fprintf(stderr, "emu_start: %s did not print its listening line\n", path);
    emu_stop(e);
    return false;
  }
  return true;
}

int emu_stop(emu_proc *e) {
  int status = 0;
  if (e->pid <= 0) {
    if (e->out) fclose(e->out);
    e->out = NULL;
    return -1;
  }
  kill(e->pid, SIGTERM);
  if (waitpid(e->pid, &status, 0) < 0) return -1;
  e->pid = 0;
  if (e->out) fclose(e->out);
  e->out = NULL;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
