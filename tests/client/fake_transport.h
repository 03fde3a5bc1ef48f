/* A scripted transport for the client's unit tests (label client).
 *
 * It implements src/transport/transport.h the way a real transport must: its own event
 * thread completes each attempt after a scripted delay with a scripted result, calls done
 * on that thread exactly once per attempt and frees the attempt only after done returned;
 * cancel ends an attempt early with CANCELLED, an attempt deadline ends it with
 * DEADLINE_EXCEEDED. It records what the client asked of it (each start with its headers,
 * its request and its deadline; each cancel) and counts every breach of the contract it
 * can see (done twice, cancel of an unknown attempt, prepared calls outliving the
 * transport, attempts left at destroy) in fake_violations(). */
#ifndef EE_TEST_FAKE_TRANSPORT_H
#define EE_TEST_FAKE_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "transport.h"

#define FAKE_MAX_HEADERS 8

/* One start as the transport saw it. Strings and the request are owned by the record. */
typedef struct fake_start {
  const char *rpc;  /* route grpc_path (static) */
  int call_attempt; /* 1 for the first attempt on this prepared call */
  int64_t at_ms;    /* eei_now_ms() when start ran */
  int64_t deadline_ms;
  size_t n_headers;
  char *header_names[FAKE_MAX_HEADERS];
  char *header_values[FAKE_MAX_HEADERS];
  ProtobufCMessage *request; /* the prepared request, unpacked again from its bytes */
} fake_start;

/* What one attempt answers. Zero-initialised = OK after 0 ms with an empty response. */
typedef struct fake_reply {
  int delay_ms;
  bool hang; /* never completes on its own (only cancel or deadline) */
  ee_code code;
  int http_status;
  int64_t retry_delay_ms; /* RetryInfo */
  int64_t retry_after_ms; /* Retry-After; 0 here means none (sent as -1) */
  bool not_sent;          /* sent = false */
  const char *message;
  ProtobufCMessage *response; /* for OK: a heap message of the route's response type
                                 (fake_dup); NULL = an empty one */
} fake_reply;

/* Decides the reply of one attempt. Runs inside start, under the fake's lock (so
 * responders need no lock of their own). */
typedef void (*fake_responder)(void *user, const fake_start *s, fake_reply *r);

extern const eei_transport_ops fake_transport_ops;

/* Resets the records and sets the responder for the next client(s). */
void fake_reset(fake_responder fn, void *user);

/* Copies of the records so far (the caller frees with fake_starts_free). */
size_t fake_starts(fake_start **out);
void fake_starts_free(fake_start *s, size_t n);
size_t fake_n_starts(void);
size_t fake_n_cancels(void);
size_t fake_n_prepares(void);
size_t fake_n_dones(void);
/* Attempts started but whose done has not returned yet. */
size_t fake_n_live_attempts(void);
/* Contract breaches seen so far (each also printed). */
size_t fake_violations(void);

/* A header value of a record, or NULL. */
const char *fake_header(const fake_start *s, const char *name);

/* A heap copy of m (pack + unpack), for fake_reply.response. */
ProtobufCMessage *fake_dup(const ProtobufCMessage *m);

#endif
