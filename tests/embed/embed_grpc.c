/* A grpc-core service that calls ExportImage asynchronously on its own completion queue
 * and its own channel. One thread polls one queue for everything: the service's calls,
 * a test client's call to the service, and the eeclient calls. Usage:
 *   embed_grpc EMULATOR_GRPC_ADDRESS      (e.g. 127.0.0.1:8081, plaintext)
 * It serves /demo.Exporter/Export (request: a description; reply: the operation name),
 * calls it once, prints the operation name and exits 0. */
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "ee/client.h"

/* Our own tags are pointers to these (aligned: their lowest bit is clear). */
typedef struct handler {
  grpc_call *call; /* the incoming call */
  grpc_call_details details;
  grpc_metadata_array md;
  grpc_byte_buffer *request, *reply;
  int cancelled;
  char op_name[256];
  ee_status st;
} handler;
typedef struct tag {
  void (*fn)(struct tag *, int ok);
} tag;

static grpc_completion_queue *cq;
static ee_client *client;
static handler h;
static int finished;

static void on_sent(tag *t, int ok) {
  (void)t;
  (void)ok;
  finished++;
}
static tag sent_tag = {on_sent};

/* The eeclient callback: on this same polling thread. Replies to the service's caller. */
static void on_export(void *user, Google__Longrunning__Operation *op, const ee_status *st) {
  handler *hd = user;
  hd->st = *st;
  if (op) snprintf(hd->op_name, sizeof hd->op_name, "%s", op->name);
  ee_message_free(op);
  grpc_slice s = grpc_slice_from_copied_string(hd->op_name);
  hd->reply = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = hd->reply;
  ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[2].data.send_status_from_server.status = (grpc_status_code)st->code;
  grpc_slice details = grpc_slice_from_copied_string(st->message);
  ops[2].data.send_status_from_server.status_details = &details;
  grpc_call_start_batch(hd->call, ops, 3, &sent_tag, NULL);
  grpc_slice_unref(details);
}

/* The request arrived: start ExportImage on the client, which uses our queue. */
static void on_request_read(tag *t, int ok) {
  (void)t;
  if (!ok || !h.request) return;
  Google__Earthengine__V1__ExportImageRequest req =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__INIT;
  Google__Earthengine__V1__Expression expr = GOOGLE__EARTHENGINE__V1__EXPRESSION__INIT;
  Google__Earthengine__V1__Expression__ValuesEntry entry =
      GOOGLE__EARTHENGINE__V1__EXPRESSION__VALUES_ENTRY__INIT;
  Google__Earthengine__V1__Expression__ValuesEntry *entries[1] = {&entry};
  Google__Earthengine__V1__ValueNode node = GOOGLE__EARTHENGINE__V1__VALUE_NODE__INIT;
  Google__Earthengine__V1__ImageFileExportOptions file =
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__INIT;
  Google__Earthengine__V1__DriveDestination drive =
      GOOGLE__EARTHENGINE__V1__DRIVE_DESTINATION__INIT;
  grpc_byte_buffer_reader r;
  grpc_byte_buffer_reader_init(&r, h.request);
  grpc_slice all = grpc_byte_buffer_reader_readall(&r);
  grpc_byte_buffer_reader_destroy(&r);
  char description[128];
  snprintf(description, sizeof description, "%.*s", (int)GRPC_SLICE_LENGTH(all),
           (const char *)GRPC_SLICE_START_PTR(all));
  grpc_slice_unref(all);
  node.kind_case = GOOGLE__EARTHENGINE__V1__VALUE_NODE__KIND_CONSTANT_VALUE;
  Google__Protobuf__Value five = GOOGLE__PROTOBUF__VALUE__INIT;
  five.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
  five.number_value = 5;
  node.constant_value = &five;
  entry.key = "0";
  entry.value = &node;
  expr.n_values = 1;
  expr.values = entries;
  expr.result = "0";
  drive.folder = "embed";
  drive.filename_prefix = "img";
  file.file_format = GOOGLE__EARTHENGINE__V1__IMAGE_FILE_FORMAT__GEO_TIFF;
  file.destination_case =
      GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION_DRIVE_DESTINATION;
  file.drive_destination = &drive;
  req.expression = &expr;
  req.description = description;
  req.export_options_case =
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_FILE_EXPORT_OPTIONS;
  req.file_export_options = &file;
  if (ee_client_export_image_async(client, &req, NULL, on_export, &h, NULL, &h.st) != EE_OK)
    on_export(&h, NULL, &h.st); /* refused before sending: answer with the error */
}
static tag read_tag = {on_request_read};

/* A call to the service arrived: read its request; learn when it closes (that batch
 * completes only once the call is over, so it is a batch of its own). */
static void on_new_call(tag *t, int ok) {
  (void)t;
  if (!ok) return;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &h.request;
  grpc_call_start_batch(h.call, &op, 1, &read_tag, NULL);
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &h.cancelled;
  grpc_call_start_batch(h.call, &op, 1, &sent_tag, NULL);
}
static tag new_call_tag = {on_new_call};

/* ---- a test client of the service, on the same queue ---- */
static grpc_byte_buffer *client_reply;
static grpc_status_code client_status;
static grpc_slice client_details;
static grpc_metadata_array client_initial, client_trailing;
static void on_client_done(tag *t, int ok) {
  (void)t;
  (void)ok;
  finished++;
}
static tag client_tag = {on_client_done};

static grpc_call *call_service(grpc_channel *ch, grpc_byte_buffer *request) {
  grpc_call *c = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                          grpc_slice_from_static_string("/demo.Exporter/Export"),
                                          NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = request;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &client_initial;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &client_reply;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &client_trailing;
  ops[5].data.recv_status_on_client.status = &client_status;
  ops[5].data.recv_status_on_client.status_details = &client_details;
  grpc_call_start_batch(c, ops, 6, &client_tag, NULL);
  return c;
}

/* The one polling loop: the client's events go back to it, ours to their handlers. */
static void poll_until(int *counter, int target) {
  while (*counter < target) {
    grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE) break;
    if (ee_client_owns_tag(ev.tag))
      ee_client_grpc_event(ev.tag, ev.success);
    else
      ((tag *)ev.tag)->fn(ev.tag, ev.success);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: embed_grpc EMULATOR_GRPC_ADDRESS\n");
    return 2;
  }
  grpc_init();
  cq = grpc_completion_queue_create_for_next(NULL);

  /* Our service, on a free port. */
  grpc_server *server = grpc_server_create(NULL, NULL);
  grpc_server_register_completion_queue(server, cq, NULL);
  grpc_server_credentials *sc = grpc_insecure_server_credentials_create();
  int port = grpc_server_add_http2_port(server, "127.0.0.1:0", sc);
  grpc_server_credentials_release(sc);
  grpc_server_start(server);
  grpc_call_details_init(&h.details);
  grpc_metadata_array_init(&h.md);
  grpc_server_request_call(server, &h.call, &h.details, &h.md, cq, cq, &new_call_tag);

  /* Our channel to Earth Engine (here the emulator), lent to the client with our queue. */
  grpc_channel_credentials *cc = grpc_insecure_credentials_create();
  grpc_channel *upstream = grpc_channel_create(argv[1], cc, NULL);
  ee_client_options o;
  ee_status st;
  ee_client_options_init(&o);
  o.transport = EE_TRANSPORT_GRPC;
  o.endpoint = "http://earthengine.example"; /* names the service in logs only */
  o.project = "projects/embed";
  o.grpc_channel = upstream;
  o.grpc_cq = cq;
  if (ee_client_new(&o, &client, &st) != EE_OK) {
    fprintf(stderr, "error: %s: %s\n", ee_code_name(st.code), st.message);
    return 1;
  }

  /* A caller of our service, on the same queue. */
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  grpc_channel *self = grpc_channel_create(target, cc, NULL);
  grpc_slice s = grpc_slice_from_static_string("exported from a grpc handler");
  grpc_byte_buffer *request = grpc_raw_byte_buffer_create(&s, 1);
  grpc_metadata_array_init(&client_initial);
  grpc_metadata_array_init(&client_trailing);
  grpc_call *c = call_service(self, request);
  poll_until(&finished, 3); /* our reply sent, the call closed, and the caller has it */

  int rc = h.st.code == EE_OK && client_status == GRPC_STATUS_OK ? 0 : 1;
  if (rc == 0)
    printf("operation %s\n", h.op_name);
  else
    fprintf(stderr, "error: %s: %s\n", ee_code_name(h.st.code), h.st.message);

  ee_client_free(client); /* no call in flight: returns at once */
  grpc_call_unref(c);
  grpc_call_unref(h.call);
  grpc_byte_buffer_destroy(request);
  grpc_byte_buffer_destroy(h.request);
  grpc_byte_buffer_destroy(h.reply);
  if (client_reply) grpc_byte_buffer_destroy(client_reply);
  grpc_slice_unref(client_details);
  grpc_metadata_array_destroy(&client_initial);
  grpc_metadata_array_destroy(&client_trailing);
  grpc_metadata_array_destroy(&h.md);
  grpc_call_details_destroy(&h.details);
  static tag shut = {on_sent};
  grpc_server_shutdown_and_notify(server, cq, &shut);
  poll_until(&finished, 4);
  grpc_server_destroy(server);
  grpc_channel_destroy(self);
  grpc_channel_destroy(upstream);
  grpc_channel_credentials_release(cc);
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  grpc_shutdown();
  return rc;
}
