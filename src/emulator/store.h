/* ee-emulator: the one store of operations and assets behind both front ends.
 *
 * Thread-safe: every call takes the store's lock. A scheduler thread moves operations
 * through PENDING -> RUNNING -> SUCCEEDED/FAILED on the wall clock (a task "runs" for
 * --task-seconds), CANCELLING -> CANCELLED after a short delay. With a journal, every
 * change is appended and synced before the call that made it returns (journal.h).
 * Operations are answered as packed google.longrunning.Operation bytes, so callers never
 * see the store's internals. */
#ifndef EMU_STORE_H
#define EMU_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ee/buf.h"
#include "filter.h"
#include "validate.h"

typedef struct emu_store emu_store;

typedef struct emu_store_options {
  double task_seconds;
  int max_running;
  int max_queued;
  const char *state_path; /* NULL: memory only */
} emu_store_options;

/* Opens the store (replaying and compacting the journal) and starts the scheduler. */
ee_code emu_store_open(const emu_store_options *o, emu_store **out, ee_status *st);

/* Stops the scheduler and wakes every WaitOperation; later calls still work. */
void emu_store_stop(emu_store *s);

/* Stops, closes the journal and frees everything. Accepts NULL. */
void emu_store_free(emu_store *s);

typedef struct emu_export_input {
  const char *caller;     /* who asked: scopes requestId */
  const char *project;    /* projects/P */
  const char *request_id; /* "" for none */
  const char *description;
  const emu_export_plan *plan;
  const uint8_t *request; /* the packed ExportImageRequest (recorded with an asset) */
  size_t request_len;
} emu_export_input;

/* Starts a task (or, for a repeated requestId, finds the one it started); appends the
 * packed Operation to out. RESOURCE_EXHAUSTED when the project's queue is full. */
ee_code emu_store_export(emu_store *s, const emu_export_input *in, ee_buf *out, ee_status *st);

ee_code emu_store_get(emu_store *s, const char *name, ee_buf *out, ee_status *st);

/* Appends a packed ListOperationsResponse (newest first) to out. */
ee_code emu_store_list(emu_store *s, const char *project, const emu_filter *f, int page_size,
                       const char *page_token, ee_buf *out, ee_status *st);

ee_code emu_store_cancel(emu_store *s, const char *name, ee_status *st);
ee_code emu_store_delete(emu_store *s, const char *name, ee_status *st);

/* Waits until the operation is done, timeout_ns passes or the store stops. */
ee_code emu_store_wait(emu_store *s, const char *name, int64_t timeout_ns, ee_buf *out,
                       ee_status *st);

#endif
