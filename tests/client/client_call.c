/* One RPC through the client, for tests written in another language:
 *   client_call --transport rest|grpc --endpoint URL --rpc /pkg.Service/Method
 *               [--request JSON] [--token T] [--quota-project P] [--ca FILE]
 *               [--attempts N] [--timeout-ms N] [--dry-run]
 * Prints the response as proto3 JSON (or the dry-run object), or one line
 *   error CODE_NAME http=N reason=R domain=D retry_delay_ms=N metadata=k=v,... message=M
 * and exits 0 on success, 1 on an error status, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ee/client.h"
#include "ee/json.h"
#include "ee/route.h"

static void print_error(const ee_status *st) {
  size_t pos = 0;
  const char *k, *v;
  printf(
      "error %s http=%d reason=%s domain=%s retry_delay_ms=%lld metadata=", ee_code_name(st->code),
      st->http_status, st->reason, st->domain, (long long)st->retry_delay_ms);
  for (int i = 0; ee_status_metadata_next(st, &pos, &k, &v); i++)
    printf("%s%s=%s", i ? "," : "", k, v);
  printf(" message=%s\n", st->message);
}

int main(int argc, char **argv) {
  ee_client_options o;
  const char *rpc = NULL, *json = "{}";
  bool dry_run = false;
  ee_client_options_init(&o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--dry-run") == 0) {
      dry_run = true;
      continue;
    }
    if (!v) {
      fprintf(stderr, "%s needs a value\n", a);
      return 2;
    }
    i++;
    if (strcmp(a, "--transport") == 0) {
      if (ee_transport_from_name(v, &o.transport) != 0) return 2;
    } else if (strcmp(a, "--endpoint") == 0)
      o.endpoint = v;
    else if (strcmp(a, "--rpc") == 0)
      rpc = v;
    else if (strcmp(a, "--request") == 0)
      json = v;
    else if (strcmp(a, "--token") == 0)
      o.access_token = v;
    else if (strcmp(a, "--quota-project") == 0)
      o.quota_project = v;
    else if (strcmp(a, "--ca") == 0)
      o.ca_file = v;
    else if (strcmp(a, "--attempts") == 0)
      o.retry.max_attempts = atoi(v);
    else if (strcmp(a, "--timeout-ms") == 0)
      o.call_timeout_ms = atoi(v);
    else {
      fprintf(stderr, "unknown flag %s\n", a);
      return 2;
    }
  }
  o.retry.initial_backoff_ms = 20;
  const ee_route *route = rpc ? ee_route_find(ee_route_table_default(), rpc) : NULL;
  if (!route) {
    fprintf(stderr, "unknown --rpc\n");
    return 2;
  }
  ee_status st;
  ProtobufCMessage *req = NULL, *resp = NULL;
  ee_json_decode_options dopts = EE_JSON_DECODE_OPTIONS_INIT;
  if (ee_json_decode(route->request, json, strlen(json), &dopts, &req, &st) != EE_OK) {
    fprintf(stderr, "--request: %s\n", st.message);
    return 2;
  }
  ee_client *c = NULL;
  int rc = 0;
  if (ee_client_new(&o, &c, &st) != EE_OK) {
    print_error(&st);
    rc = 2;
  } else if (dry_run) {
    ee_buf b = EE_BUF_INIT;
    if (ee_client_prepare(c, rpc, req, &b, &st) == EE_OK)
      printf("%s\n", b.data);
    else
      print_error(&st), rc = 1;
    ee_buf_free(&b);
  } else if (ee_client_call(c, rpc, req, NULL, &resp, &st) == EE_OK) {
    ee_buf b = EE_BUF_INIT;
    ee_json_encode(resp, NULL, &b, &st);
    printf("%s\n", b.data ? b.data : "{}");
    ee_buf_free(&b);
  } else {
    print_error(&st);
    rc = 1;
  }
  ee_message_free(resp);
  ee_message_free(req);
  ee_client_free(c);
  return rc;
}
