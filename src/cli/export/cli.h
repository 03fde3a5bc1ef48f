/* ee-export: the command-line tool (DESIGN.md "ee-export"). Shared pieces of its
 * subcommands. Links only the public API. */
#ifndef EE_CLI_H
#define EE_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <ee/client.h>
#include <ee/json.h>

/* Exit codes (DESIGN.md). */
enum {
  EXIT_OK = 0,
  EXIT_SERVICE = 1,   /* the service answered with an error */
  EXIT_USAGE = 2,     /* bad usage or invalid input; nothing was sent */
  EXIT_OP_FAILED = 3, /* --wait saw the operation end FAILED or CANCELLED */
  EXIT_TRANSPORT = 4  /* no answer after retries (connection, UNAVAILABLE, deadline) */
};

#define CLI_MAX_INPUT ((size_t)16 << 20) /* bytes of one request file or stdin */

typedef struct cli {
  ee_client_options opts;
  bool json_output;  /* --output json */
  bool verbose;      /* -v: log each exchange on stderr */
  bool project_flag; /* --project given: it overrides a request's own project */
  const char *project;
  char project_buf[512];
  ee_client *client; /* created on first use */
} cli;

/* One line on stderr: "error: <CODE_NAME>: <message>"; returns the exit code given. */
int cli_error(int exit_code, ee_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A usage error (exit 2): "error: INVALID_ARGUMENT: <message>". */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The exit code and error line for a failed call: 4 for failures of the transport
 * (UNAVAILABLE, DEADLINE_EXCEEDED after retries), 1 for the service's answers. */
int cli_call_failed(const ee_status *st);

/* The shared client (created from c->opts on first use). NULL after printing the error. */
ee_client *cli_client(cli *c, int *exit_code);

/* Reads a whole file ("-" = stdin), at most CLI_MAX_INPUT bytes. Returns 0 or prints the
 * error and returns EXIT_USAGE. *out is malloc'ed and NUL-terminated. */
int cli_read_file(const char *path, const char *flag, char **out, size_t *len);

/* Prints a message as proto3 JSON on stdout (one line). */
void cli_print_json(const ProtobufCMessage *m);

/* Text summary of an operation: "NAME STATE [progress%] [description]". */
void cli_print_operation(const Google__Longrunning__Operation *op);

/* Follows an operation to its end with progress on stderr (a live line on a terminal,
 * else one line per change). Returns the exit code, having printed the result. */
int cli_wait(cli *c, const char *name, int timeout_ms);

/* The state name of an operation ("RUNNING"; "DONE" when it has no metadata). */
const char *cli_op_state(const Google__Longrunning__Operation *op, char *buf, size_t cap);

/* Whether flag argv[i] lacks its value (the end of the line, or another "--flag"); if
 * so, prints the usage error. */
bool cli_missing_value(int argc, char **argv, int i);

/* Checks of an ExportImageRequest the client does not make (the asset name pattern).
 * Returns 0, or prints one error line (prefixed "source: " when given) and returns 2. */
int cli_check_request(const ProtobufCMessage *req, const char *source);

/* Merges src into dst the protobuf way (MergeFrom); both are unpacked messages of one
 * type, dst is changed and src only read. Returns 0, or prints the error and returns 2. */
int cli_merge(ProtobufCMessage *dst, const ProtobufCMessage *src);

int cli_image(cli *c, int argc, char **argv);
int cli_operations(cli *c, int argc, char **argv);
int cli_batch(cli *c, int argc, char **argv);

#endif
