/* ee-export: start Earth Engine image exports and follow their operations, over REST or
 * gRPC. Global flags, dispatch, errors and exit codes; the subcommands live beside. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char usage_text[] =
    "usage: ee-export [global flags] COMMAND [flags]\n"
    "\n"
    "Commands:\n"
    "  image        start an image export (ee-export image --help)\n"
    "  operations   get, list, cancel, delete or wait for operations\n"
    "  batch        submit many exports from a directory or a JSON Lines file\n"
    "\n"
    "Global flags (anywhere on the line):\n"
    "  --transport rest|grpc   wire to use (env EE_TRANSPORT; default rest)\n"
    "  --endpoint URL          service URL (env EE_ENDPOINT; default\n"
    "                          https://earthengine.googleapis.com; http:// = plaintext)\n"
    "  --project projects/ID   project (env EE_PROJECT)\n"
    "  --output text|json      result format on stdout (default text)\n"
    "  -v, --verbose           log each HTTP exchange or gRPC call on stderr\n"
    "  --version               print the version and exit\n"
    "  -h, --help              this help\n"
    "\n"
    "Credentials: EE_ACCESS_TOKEN (a bearer token), else Application Default Credentials:\n"
    "  GOOGLE_APPLICATION_CREDENTIALS (a key file), gcloud's application default\n"
    "  credentials, or the GCE metadata server. EE_CREDENTIALS=adc|none forces the choice.\n"
    "Output: results on stdout; progress, logs and errors on stderr. An error is one line,\n"
    "  error: <CODE_NAME>: <message>\n"
    "Exit codes: 0 success, 1 the service answered an error, 2 bad usage or input (nothing\n"
    "sent), 3 --wait saw the operation end FAILED or CANCELLED, 4 no answer after retries,\n"
    "130 a batch interrupted by Ctrl-C.\n"
    "\n"
    "Examples:\n"
    "  ee-export --endpoint http://127.0.0.1:8080 --project projects/demo \\\n"
    "      image --request req.json --wait\n"
    "  ee-export operations list --state RUNNING --output json\n"
    "  ee-export help image          (the same as ee-export image --help)\n";

int cli_error(int exit_code, ee_code code, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "error: %s: ", ee_code_name(code));
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return exit_code;
}

int cli_usage(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "error: INVALID_ARGUMENT: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return EXIT_USAGE;
}

int cli_call_failed(const ee_status *st) {
  /* UNAVAILABLE and DEADLINE_EXCEEDED mean no usable answer came back in time, whoever
   * said it (the connection, a proxy, or an overloaded front end): retrying later may
   * work. Everything else is the service's verdict on the request. */
  bool transport = st->code == EE_UNAVAILABLE || st->code == EE_DEADLINE_EXCEEDED;
  return cli_error(transport ? EXIT_TRANSPORT : EXIT_SERVICE, st->code, "%s", st->message);
}

bool cli_missing_value(int argc, char **argv, int i) {
  /* A value that is itself a flag ("--description --wait") is a forgotten value. */
  if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) return false;
  if (i + 1 < argc)
    cli_usage("%s needs a value (got the flag %s)", argv[i], argv[i + 1]);
  else
    cli_usage("%s needs a value", argv[i]);
  return true;
}

/* -v: one line per attempt, e.g.
 *   rest GET http://host/v1/projects/p/operations/X (GetOperation) attempt 1: OK HTTP 200 3 ms
 *   grpc host:port/google.longrunning.Operations/GetOperation attempt 2: UNAVAILABLE 1 ms, ...
 * The client's log entries never hold a token; URLs and messages carry none. */
static void log_line(void *user, const ee_call_log *e) {
  (void)user;
  char line[2048];
  size_t n = 0;
  const char *target = e->target, *rpc = strrchr(e->rpc, '/');
  size_t mlen = strlen(e->method);
  /* Some transports spell the target "METHOD URL": print the method once. */
  if (strncmp(target, e->method, mlen) == 0 && target[mlen] == ' ') target += mlen + 1;
#define ADD(...) \
  (n += (size_t)snprintf(line + n, n < sizeof line ? sizeof line - n : 0, __VA_ARGS__))
  if (strcmp(e->transport, "rest") == 0)
    ADD("rest %s %s (%s)", e->method, target, rpc ? rpc + 1 : e->rpc);
  else
    ADD("%s %s", e->transport, target);
  ADD(" attempt %d: %s", e->attempt, ee_code_name(e->code));
  if (e->http_status) ADD(" HTTP %d", e->http_status);
  ADD(" %.0f ms", e->duration_ms);
  if (e->retry_delay_ms >= 0) ADD(", retrying in %lld ms", (long long)e->retry_delay_ms);
  if (e->message[0]) ADD(": %s", e->message);
#undef ADD
  /* One write per line: batch logs from several threads at once. */
  fprintf(stderr, "%.*s\n", (int)(n < sizeof line ? n : sizeof line - 1), line);
}

ee_client *cli_client(cli *c, int *exit_code) {
  ee_status st;
  if (c->client) return c->client;
  if (c->verbose) c->opts.log_fn = log_line;
  if (ee_client_new(&c->opts, &c->client, &st) != EE_OK) {
    *exit_code = cli_error(EXIT_USAGE, st.code, "%s", st.message);
    return NULL;
  }
  return c->client;
}

int cli_read_file(const char *path, const char *flag, char **out, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  struct stat sb;
  *out = NULL;
  if (!f) return cli_usage("%s %s: %s", flag, path, strerror(errno));
  if (f != stdin && fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
    fclose(f);
    return cli_usage("%s %s: is a directory", flag, path);
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    if (n + 1 >= cap) {
      if (cap > CLI_MAX_INPUT) break;
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    if (got == 0) break;
    n += got;
  }
  bool err = ferror(f) != 0;
  if (f != stdin) fclose(f);
  if (!buf) return cli_error(EXIT_USAGE, EE_RESOURCE_EXHAUSTED, "%s %s: out of memory", flag, path);
  if (n > CLI_MAX_INPUT) {
    free(buf);
    return cli_usage("%s %s: larger than %zu bytes", flag, path, CLI_MAX_INPUT);
  }
  if (err) {
    free(buf);
    return cli_usage("%s %s: read error", flag, path);
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

void cli_print_json(const ProtobufCMessage *m) {
  ee_buf b = EE_BUF_INIT;
  ee_status st;
  if (ee_json_encode(m, NULL, &b, &st) == EE_OK)
    printf("%s\n", b.data ? b.data : "{}");
  else
    cli_error(EXIT_SERVICE, st.code, "printing the answer: %s", st.message);
  ee_buf_free(&b);
}

const char *cli_op_state(const Google__Longrunning__Operation *op, char *buf, size_t cap) {
  Google__Earthengine__V1__OperationMetadata *md = ee_operation_metadata(op);
  const char *name = NULL;
  if (md) {
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &google__earthengine__v1__operation_metadata__state__descriptor, (int)md->state);
    name = v ? v->name : NULL;
  }
  snprintf(buf, cap, "%s", name ? name : op->done ? "DONE" : "UNKNOWN");
  ee_message_free(md);
  return buf;
}

void cli_print_operation(const Google__Longrunning__Operation *op) {
  char state[32];
  Google__Earthengine__V1__OperationMetadata *md = ee_operation_metadata(op);
  printf("%s %s", op->name, cli_op_state(op, state, sizeof state));
  if (md && md->progress > 0) printf(" %.0f%%", md->progress * 100);
  if (md && md->description && md->description[0]) printf(" \"%s\"", md->description);
  if (op->result_case == GOOGLE__LONGRUNNING__OPERATION__RESULT_ERROR && op->error)
    printf(" error %d: %s", op->error->code, op->error->message ? op->error->message : "");
  printf("\n");
  ee_message_free(md);
}

/* "ID" or "projects/ID"; requests carry the full form. */
static int set_project(cli *c, const char *what, const char *v) {
  const char *id = strncmp(v, "projects/", 9) == 0 ? v + 9 : v;
  if (!id[0] || strchr(id, '/') || strlen(id) > 400)
    return cli_usage("%s: \"%.400s\" is not projects/ID", what, v);
  snprintf(c->project_buf, sizeof c->project_buf, "projects/%s", id);
  c->opts.project = c->project = c->project_buf;
  return 0;
}

/* Takes the global flags out of argv (they may appear anywhere); the rest stays in order.
 * Returns -1 to go on, else an exit code. */
static int parse_globals(cli *c, int *argc, char **argv) {
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    const char *a = argv[i];
    bool takes_value = strcmp(a, "--transport") == 0 || strcmp(a, "--endpoint") == 0 ||
                       strcmp(a, "--project") == 0 || strcmp(a, "--output") == 0;
    if (takes_value && cli_missing_value(*argc, argv, i)) return EXIT_USAGE;
    if (strcmp(a, "--transport") == 0) {
      if (ee_transport_from_name(argv[++i], &c->opts.transport) != 0)
        return cli_usage("--transport: \"%s\" is not rest or grpc", argv[i]);
    } else if (strcmp(a, "--endpoint") == 0) {
      c->opts.endpoint = argv[++i];
    } else if (strcmp(a, "--project") == 0) {
      if (set_project(c, "--project", argv[++i])) return EXIT_USAGE;
      c->project_flag = true;
    } else if (strcmp(a, "--output") == 0) {
      const char *v = argv[++i];
      if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
        return cli_usage("--output: \"%s\" is not text or json", v);
      c->json_output = strcmp(v, "json") == 0;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      c->verbose = true;
    } else if (strcmp(a, "--version") == 0) {
      printf("ee-export %s\n", ee_version());
      return EXIT_OK;
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  argv[out] = NULL;
  return -1;
}

/* "ee-export help [COMMAND]": the same text as COMMAND --help. */
static int help_for(const char *cmd) {
  static char flag[] = "--help";
  char *args[] = {(char *)cmd, flag, NULL};
  if (!cmd) {
    fputs(usage_text, stdout);
    return EXIT_OK;
  }
  if (strcmp(cmd, "image") == 0) return cli_image(NULL, 2, args);
  if (strcmp(cmd, "operations") == 0) return cli_operations(NULL, 2, args);
  if (strcmp(cmd, "batch") == 0) return cli_batch(NULL, 2, args);
  return cli_usage("help: unknown command \"%s\" (image, operations or batch)", cmd);
}

int main(int argc, char **argv) {
  cli c;
  ee_status st;
  memset(&c, 0, sizeof c);
  ee_client_options_init(&c.opts);
  if (ee_client_options_from_env(&c.opts, &st) != EE_OK) return cli_usage("%s", st.message);
  if (c.opts.project && set_project(&c, "EE_PROJECT", c.opts.project)) return EXIT_USAGE;
  int rc = parse_globals(&c, &argc, argv);
  if (rc >= 0) return rc;
  if (argc < 2) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
    fputs(usage_text, stdout);
    return EXIT_OK;
  }
  if (strcmp(cmd, "help") == 0) return help_for(argc > 2 ? argv[2] : NULL);
  if (strcmp(cmd, "image") == 0)
    rc = cli_image(&c, argc - 1, argv + 1);
  else if (strcmp(cmd, "operations") == 0)
    rc = cli_operations(&c, argc - 1, argv + 1);
  else if (strcmp(cmd, "batch") == 0)
    rc = cli_batch(&c, argc - 1, argv + 1);
  else if (cmd[0] == '-')
    rc = cli_usage("unknown flag %s (see ee-export --help)", cmd);
  else
    rc = cli_usage("unknown command \"%s\" (image, operations or batch)", cmd);
  ee_client_free(c.client);
  return rc;
}
