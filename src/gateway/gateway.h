/* ee-gateway: a gRPC service (grpc core) that forwards ExportImage and the Operations
 * methods through the client's asynchronous calls to one upstream. */
#ifndef EE_GATEWAY_H
#define EE_GATEWAY_H

#include <stdbool.h>

#include "ee/client.h"

#define GW_DEFAULT_MAX_IN_FLIGHT 1024
#define GW_DEFAULT_GRACE_MS 5000
#define GW_DEFAULT_THREADS 2

typedef struct gw_config {
  const char *host;
  int grpc_port;        /* 0 = any free port */
  const char *upstream; /* the client's endpoint URL */
  ee_transport_kind transport;
  int max_in_flight; /* upstream calls at once; beyond: RESOURCE_EXHAUSTED */
  int grace_ms;      /* how long shutdown lets calls in flight finish */
  int threads;       /* threads polling the server's completion queue */
  int max_attempts;  /* upstream attempts per call; 0 = the client's policy */
} gw_config;

typedef struct gateway gateway;

/* Starts the server on cfg->host:cfg->grpc_port and its polling threads. Takes ownership
 * of client (freed by gw_stop, or here on failure). *port is the bound port. */
ee_code gw_start(const gw_config *cfg, ee_client *client, gateway **out, int *port, ee_status *st);

/* Stops accepting, lets calls in flight finish for cfg->grace_ms, cancels the rest (both
 * sides), frees the client, destroys the server and joins the threads. Accepts NULL. */
void gw_stop(gateway *g);

#endif
