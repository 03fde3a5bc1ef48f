/* Child processes for the transport tests (see rest_proc.h). */
#include "rest_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int rest_proc_start(rest_proc *p, char *const argv[]) {
  memset(p, 0, sizeof *p);
  int fds[2];
  if (pipe(fds) != 0) {
    perror("pipe");
    return -1;
  }
  fcntl(fds[0], F_SETFD, FD_CLOEXEC); /* other children must not hold these */
  fcntl(fds[1], F_SETFD, FD_CLOEXEC); /* (dup2 onto fd 1 clears it for this child) */
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  int err = posix_spawn(&p->pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (err) {
    fprintf(stderr, "cannot start %s: %s\n", argv[0], strerror(err));
    close(fds[0]);
    p->pid = 0;
    return -1;
  }
  /* Byte by byte, up to the first newline. The pipe stays open until stop so later
   * writes of the child neither fail nor raise SIGPIPE (a pipe buffer of output fits). */
  p->out_fd = fds[0];
  size_t n = 0;
  for (;;) {
    char c;
    ssize_t r = read(fds[0], &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || c == '\n' || n + 1 >= sizeof p->line) break;
    p->line[n++] = c;
  }
  p->line[n] = '\0';
  if (n == 0) {
    fprintf(stderr, "%s printed no first line\n", argv[0]);
    rest_proc_stop(p);
    return -1;
  }
  return 0;
}

int rest_proc_stop(rest_proc *p) {
  if (p->pid <= 0) return -1;
  kill(p->pid, SIGTERM);
  int status = 0;
  while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
  }
  p->pid = 0;
  close(p->out_fd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
