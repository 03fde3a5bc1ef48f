/* ee-export operations get|list|cancel|delete|wait, and following an operation with a
 * progress line. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char operations_help[] =
    "usage: ee-export operations get|cancel|delete|wait NAME\n"
    "       ee-export operations list [--state STATE] [--filter EXPR] [--page-size N]\n"
    "\n"
    "NAME is projects/P/operations/ID. list reads every page of the --project's\n"
    "operations, newest first; --state keeps one state (PENDING, RUNNING, CANCELLING,\n"
    "SUCCEEDED, CANCELLED, FAILED); --filter passes a filter expression to the service;\n"
    "--page-size sets how many operations each request asks for (default 500). wait follows the "
    "operation to its end (exit 3 when it\n"
    "ends FAILED or CANCELLED), with progress on stderr.\n"
    "\n"
    "Examples:\n"
    "  ee-export operations get projects/demo/operations/ABC123\n"
    "  ee-export --project projects/demo operations list --state RUNNING --output json\n"
    "  ee-export operations wait projects/demo/operations/ABC123\n";

/* ---- progress while waiting ---- */

typedef struct progress {
  bool tty;
  int64_t start_ms;
  bool drew; /* a live line is on screen */
} progress;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The current stage: the first one not complete, or the last. */
static const char *stage_name(const Google__Earthengine__V1__OperationMetadata *md) {
  const char *name = "";
  for (size_t i = 0; i < md->n_stages; i++) {
    const Google__Earthengine__V1__OperationStage *s = md->stages[i];
    name = s->display_name ? s->display_name : "";
    if (s->total_work_units == 0 || s->complete_work_units < s->total_work_units) break;
  }
  return name;
}

static void on_progress(void *user, const Google__Longrunning__Operation *op,
                        const Google__Earthengine__V1__OperationMetadata *md) {
  progress *p = user;
  char state[32];
  double elapsed = (double)(now_ms() - p->start_ms) / 1000.0;
  cli_op_state(op, state, sizeof state);
  const char *stage = md ? stage_name(md) : "";
  double pct = md ? md->progress * 100 : 0;
  if (p->tty) {
    /* One line, redrawn in place: return to column 0 and clear to the end. */
    fprintf(stderr, "\r\033[K%s  %-10s %-12s %5.1f%%  %6.1fs", op->name, state, stage, pct,
            elapsed);
    p->drew = true;
  } else {
    fprintf(stderr, "%s %s stage=%s progress=%.1f%% elapsed=%.1fs\n", op->name, state,
            stage[0] ? stage : "-", pct, elapsed);
  }
  fflush(stderr);
}

/* Exit 0 for an operation that succeeded; 3, with the error line on stderr, for one that
 * ended FAILED or CANCELLED (the operation itself was printed on stdout). */
static int op_outcome(const Google__Longrunning__Operation *op) {
  if (op->result_case != GOOGLE__LONGRUNNING__OPERATION__RESULT_ERROR || !op->error) return EXIT_OK;
  char state[32];
  ee_code code =
      op->error->code > 0 && op->error->code <= 16 ? (ee_code)op->error->code : EE_UNKNOWN;
  return cli_error(EXIT_OP_FAILED, code, "%s ended %s: %s", op->name,
                   cli_op_state(op, state, sizeof state),
                   op->error->message && op->error->message[0] ? op->error->message : "no message");
}

int cli_wait(cli *c, const char *name, int timeout_ms) {
  int rc = 0;
  ee_client *client = cli_client(c, &rc);
  if (!client) return rc;
  progress p = {isatty(2) == 1, now_ms(), false};
  Google__Longrunning__Operation *op = NULL;
  ee_status st;
  ee_code code = ee_client_wait_done(client, name, timeout_ms, on_progress, &p, &op, &st);
  if (p.drew) fputc('\n', stderr);
  if (code != EE_OK) {
    rc = cli_call_failed(&st);
  } else {
    if (c->json_output)
      cli_print_json(&op->base);
    else
      cli_print_operation(op);
    rc = op_outcome(op);
  }
  ee_message_free(op);
  return rc;
}

/* ---- the RPCs ---- */

/* Checks the request as the call would (pattern of NAME), exit 2 when refused. */
static int check_locally(ee_client *client, const char *rpc, const ProtobufCMessage *req) {
  ee_buf b = EE_BUF_INIT;
  ee_status st;
  int rc = ee_client_prepare(client, rpc, req, &b, &st) == EE_OK
               ? 0
               : cli_error(EXIT_USAGE, st.code, "%s", st.message);
  ee_buf_free(&b);
  return rc;
}

static int op_get(cli *c, ee_client *client, const char *name) {
  Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
  Google__Longrunning__Operation *op = NULL;
  ee_status st;
  req.name = (char *)name;
  int rc = check_locally(client, "/google.longrunning.Operations/GetOperation", &req.base);
  if (rc) return rc;
  if (ee_client_get_operation(client, &req, NULL, &op, &st) != EE_OK) return cli_call_failed(&st);
  if (c->json_output)
    cli_print_json(&op->base);
  else
    cli_print_operation(op);
  ee_message_free(op);
  return 0;
}

static int op_cancel_or_delete(cli *c, ee_client *client, const char *name, bool cancel) {
  ee_status st;
  ee_code code;
  int rc;
  if (cancel) {
    Google__Longrunning__CancelOperationRequest r =
        GOOGLE__LONGRUNNING__CANCEL_OPERATION_REQUEST__INIT;
    r.name = (char *)name;
    rc = check_locally(client, "/google.longrunning.Operations/CancelOperation", &r.base);
    if (rc) return rc;
    code = ee_client_cancel_operation(client, &r, NULL, &st);
  } else {
    Google__Longrunning__DeleteOperationRequest r =
        GOOGLE__LONGRUNNING__DELETE_OPERATION_REQUEST__INIT;
    r.name = (char *)name;
    rc = check_locally(client, "/google.longrunning.Operations/DeleteOperation", &r.base);
    if (rc) return rc;
    code = ee_client_delete_operation(client, &r, NULL, &st);
  }
  if (code != EE_OK) return cli_call_failed(&st);
  if (c->json_output)
    printf("{}\n");
  else
    printf("%s %s\n", cancel ? "cancelled" : "deleted", name);
  return 0;
}

static const char *const states[] = {"PENDING",   "RUNNING", "CANCELLING", "SUCCEEDED",
                                     "CANCELLED", "FAILED",  NULL};

typedef struct list_flags {
  const char *state, *filter;
  int page_size;
} list_flags;

static int op_list(cli *c, ee_client *client, const list_flags *lf) {
  const char *state = lf->state, *filter = lf->filter;
  Google__Longrunning__ListOperationsRequest req =
      GOOGLE__LONGRUNNING__LIST_OPERATIONS_REQUEST__INIT;
  char expr[1024];
  ee_operation_iter *it = NULL;
  ee_status st;
  if (!c->project) return cli_usage("operations list needs --project (or EE_PROJECT)");
  if (state) {
    int k = 0;
    while (states[k] && strcmp(states[k], state) != 0) k++;
    if (!states[k])
      return cli_usage(
          "--state: \"%s\" is not one of PENDING, RUNNING, CANCELLING, SUCCEEDED, "
          "CANCELLED, FAILED",
          state);
    snprintf(expr, sizeof expr, "metadata.state = %s%s%.900s", state, filter ? " AND " : "",
             filter ? filter : "");
    req.filter = expr;
  } else if (filter) {
    req.filter = (char *)filter;
  }
  req.page_size = lf->page_size;
  int rc = check_locally(client, "/google.longrunning.Operations/ListOperations", &req.base);
  if (rc) return rc;
  if (ee_client_list_all(client, &req, NULL, &it, &st) != EE_OK) return cli_call_failed(&st);
  const Google__Longrunning__Operation *op;
  bool first = true;
  if (c->json_output) printf("{\"operations\":[");
  while (ee_operation_iter_next(it, &op, &st) == EE_OK && op) {
    if (!c->json_output) {
      cli_print_operation(op);
      continue;
    }
    ee_buf b = EE_BUF_INIT;
    ee_status est;
    if (ee_json_encode(&op->base, NULL, &b, &est) == EE_OK)
      printf("%s%s", first ? "" : ",", b.data);
    first = false;
    ee_buf_free(&b);
  }
  if (c->json_output) printf("]}\n");
  rc = st.code == EE_OK ? 0 : cli_call_failed(&st);
  ee_operation_iter_free(it);
  return rc;
}

static int parse_page_size(const char *v, int *out) {
  char *end = NULL;
  long n = strtol(v, &end, 10);
  if (end == v || *end || n < 1 || n > 1000)
    return cli_usage("--page-size: \"%s\" is not an integer in 1..1000", v);
  *out = (int)n;
  return 0;
}

int cli_operations(cli *c, int argc, char **argv) {
  const char *verb = argc > 1 ? argv[1] : NULL, *name = NULL;
  list_flags lf = {NULL, NULL, 500};
  if (!verb || strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0 ||
      strcmp(verb, "help") == 0) {
    fputs(operations_help, verb ? stdout : stderr);
    return verb ? EXIT_OK : EXIT_USAGE;
  }
  bool is_list = strcmp(verb, "list") == 0;
  bool known = is_list || strcmp(verb, "get") == 0 || strcmp(verb, "cancel") == 0 ||
               strcmp(verb, "delete") == 0 || strcmp(verb, "wait") == 0;
  if (!known)
    return cli_usage("operations: unknown subcommand \"%s\" (get, list, cancel, delete, wait)",
                     verb);
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(operations_help, stdout);
      return EXIT_OK;
    }
    if (is_list && (strcmp(a, "--state") == 0 || strcmp(a, "--filter") == 0 ||
                    strcmp(a, "--page-size") == 0)) {
      if (cli_missing_value(argc, argv, i)) return EXIT_USAGE;
      const char *v = argv[++i];
      if (strcmp(a, "--page-size") == 0) {
        if (parse_page_size(v, &lf.page_size)) return EXIT_USAGE;
      } else {
        *(strcmp(a, "--state") == 0 ? &lf.state : &lf.filter) = v;
      }
    } else if (a[0] == '-' && a[1]) {
      return cli_usage("operations %s: unknown flag %s", verb, a);
    } else if (!is_list && !name) {
      name = a;
    } else {
      return cli_usage("operations %s: unexpected argument \"%s\"", verb, a);
    }
  }
  if (!is_list && !name)
    return cli_usage("operations %s needs NAME (projects/P/operations/ID)", verb);
  int rc = 0;
  ee_client *client = cli_client(c, &rc);
  if (!client) return rc;
  if (is_list) return op_list(c, client, &lf);
  if (strcmp(verb, "get") == 0) return op_get(c, client, name);
  if (strcmp(verb, "wait") == 0) {
    Google__Longrunning__GetOperationRequest req = GOOGLE__LONGRUNNING__GET_OPERATION_REQUEST__INIT;
    req.name = (char *)name;
    rc = check_locally(client, "/google.longrunning.Operations/GetOperation", &req.base);
    return rc ? rc : cli_wait(c, name, 0);
  }
  return op_cancel_or_delete(c, client, name, strcmp(verb, "cancel") == 0);
}
