/* ee-emulator: the store's internals, shared by store.c, sched.c, record.c and opview.c. */
#ifndef EMU_STORE_INT_H
#define EMU_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "journal.h"
#include "store.h"
#include "strmap.h"

/* google.earthengine.v1.OperationMetadata.State numbers. */
enum { ST_PENDING = 1, ST_RUNNING, ST_CANCELLING, ST_SUCCEEDED, ST_CANCELLED, ST_FAILED };

typedef struct emu_op {
  uint64_t seq; /* creation order, unique */
  char *name;   /* projects/P/operations/ID */
  char *project;
  char *caller;
  char *request_id;
  char *description;
  char *dest_uri;
  char *asset_name; /* "" for file exports */
  char *error_message;
  bool overwrite;
  bool deleted; /* DeleteOperation: invisible, but the task still runs to its end */
  bool cancel_from_running;
  int32_t priority, state, attempt, error_code;
  int64_t create_ns, update_ns, start_ns, end_ns, cancel_ns;
  int64_t pixels, max_pixels;
  uint8_t *request;
  size_t request_len;
} emu_op;

typedef struct emu_asset {
  char *name;
  char *operation;
  int64_t update_ns;
  uint8_t *request;
  size_t request_len;
} emu_asset;

struct emu_store {
  pthread_mutex_t mu;
  pthread_cond_t changed; /* broadcast on every state change (WaitOperation) */
  pthread_cond_t wake;    /* the scheduler's doorbell */
  pthread_t sched;
  bool sched_started, stopping;
  int64_t task_ns, cancel_ns;
  int max_running, max_queued, running;
  emu_op **ops; /* every operation, in creation order (never freed before the store) */
  size_t n_ops, cap_ops;
  emu_op **active; /* PENDING, RUNNING and CANCELLING operations, any order */
  size_t n_active, cap_active;
  uint64_t next_seq;
  emu_strmap by_name; /* visible operations */
  emu_strmap by_rid;  /* caller \x1f project \x1f requestId -> operation */
  emu_strmap assets;  /* asset name -> emu_asset */
  emu_journal *journal;
  bool journal_broken; /* a write failed: refuse further changes rather than lie */
};

static inline bool emu_op_done(const emu_op *op) {
  return op->state >= ST_SUCCEEDED;
}

/* record.c: journal records. */
ee_code emu_record_op(const emu_op *op, ee_buf *out, ee_status *st);
ee_code emu_record_asset(const emu_asset *a, ee_buf *out, ee_status *st);
ee_code emu_record_apply(emu_store *s, const uint8_t *rec, size_t len, ee_status *st);

/* store.c: helpers used by the scheduler and replay. */
ee_code emu_store_journal_op(emu_store *s, const emu_op *op, ee_status *st);
ee_code emu_store_add_active(emu_store *s, emu_op *op, ee_status *st);
void emu_store_remove_active(emu_store *s, emu_op *op);
ee_code emu_store_index_op(emu_store *s, emu_op *op, ee_status *st);
void emu_op_free(emu_op *op);
void emu_asset_free(emu_asset *a);
ee_code emu_rid_key(const emu_op *op, char **out, ee_status *st);

/* sched.c */
void *emu_sched_main(void *arg);

/* opview.c: the packed google.longrunning.Operation for op as of now. */
ee_code emu_op_pack(const emu_store *s, const emu_op *op, int64_t now, ee_buf *out, ee_status *st);

#endif
