/* Servers as child processes for C tests (see emu_proc.h). */
#include "emu_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_ARGS 32

/* Byte by byte up to the first newline, so nothing after it is read (and lost) here. */
static size_t read_line(int fd, char *line, size_t size) {
  size_t n = 0;
  for (;;) {
    char ch;
    ssize_t r = read(fd, &ch, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || ch == '\n' || n + 1 >= size) break;
    line[n++] = ch;
  }
  line[n] = '\0';
  return n;
}

int child_start(child_proc *c, const char *const argv[]) {
  memset(c, 0, sizeof *c);
  int fds[2];
  if (pipe(fds) != 0) {
    perror("pipe");
    return -1;
  }
  fcntl(fds[0], F_SETFD, FD_CLOEXEC); /* other children must not hold these */
  fcntl(fds[1], F_SETFD, FD_CLOEXEC); /* (dup2 onto fd 1 clears it for this child) */
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  int err = posix_spawnp(&c->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (err) {
    fprintf(stderr, "cannot start %s: %s\n", argv[0], strerror(err));
    close(fds[0]);
    c->pid = 0;
    return -1;
  }
  c->out_fd = fds[0];
  if (read_line(c->out_fd, c->line, sizeof c->line) == 0) {
    fprintf(stderr, "%s printed no first line\n", argv[0]);
    child_stop(c);
    return -1;
  }
  return 0;
}

int child_stop(child_proc *c) {
  if (c->pid <= 0) return 0;
  kill(c->pid, SIGTERM);
  int status = 0;
  pid_t r;
  while ((r = waitpid(c->pid, &status, 0)) < 0 && errno == EINTR) {
  }
  c->pid = 0;
  close(c->out_fd);
  c->out_fd = -1;
  return r > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* "SCHEME://HOST:PORT" into host and port; false when it is not that. */
static bool split_url(const char *url, char *host, size_t host_size, int *port) {
  const char *h = strstr(url, "://");
  if (!h) return false;
  h += 3;
  const char *colon = strrchr(h, ':');
  if (!colon || (size_t)(colon - h) >= host_size) return false;
  memcpy(host, h, (size_t)(colon - h));
  host[colon - h] = '\0';
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || p <= 0 || p > 65535) return false;
  *port = (int)p;
  return true;
}

/* "ee-emulator listening rest=URL grpc=HOST:PORT" */
static bool parse_listening(emu_proc *e, const char *line) {
  const char *rest = strstr(line, " rest=");
  const char *grpc = strstr(line, " grpc=");
  if (strncmp(line, "ee-emulator listening", 21) != 0 || !rest || !grpc || grpc < rest)
    return false;
  size_t rn = (size_t)(grpc - (rest + 6));
  if (rn >= sizeof e->rest_url) return false;
  memcpy(e->rest_url, rest + 6, rn);
  e->rest_url[rn] = '\0';
  if (!split_url(e->rest_url, e->rest_host, sizeof e->rest_host, &e->rest_port)) return false;
  bool tls = strncmp(e->rest_url, "https://", 8) == 0;
  snprintf(e->grpc_url, sizeof e->grpc_url, "%s://%.*s", tls ? "https" : "http",
           (int)strcspn(grpc + 6, " \r\n"), grpc + 6);
  return split_url(e->grpc_url, e->grpc_host, sizeof e->grpc_host, &e->grpc_port);
}

int emu_start(emu_proc *e, const char *path, const char *const *args) {
  const char *argv[MAX_ARGS + 6] = {path, "--rest-port", "0", "--grpc-port", "0"};
  size_t n = 5;
  memset(e, 0, sizeof *e);
  for (size_t i = 0; args && args[i]; i++) {
    if (n >= MAX_ARGS + 5) {
      fprintf(stderr, "emu_start: more than %d arguments\n", MAX_ARGS);
      return -1;
    }
    argv[n++] = args[i];
  }
  argv[n] = NULL;
  if (child_start(&e->child, argv) != 0) return -1;
  if (!parse_listening(e, e->child.line)) {
    fprintf(stderr, "emu_start: %s: bad listening line \"%s\"\n", path, e->child.line);
    emu_stop(e);
    return -1;
  }
  return 0;
}

int emu_stop(emu_proc *e) {
  return child_stop(&e->child);
}

const char *emu_path(void) {
  const char *p = getenv("EE_EMULATOR");
  return p && p[0] ? p : "ee-emulator";
}
