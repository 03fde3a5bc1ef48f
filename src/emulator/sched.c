/* ee-emulator: the scheduler thread. It sleeps until the next due event (a task's end,
 * a cancellation's end) or until a request rings the doorbell, then moves operations on:
 * finishes what is due, and starts queued tasks (highest priority, then oldest) while
 * fewer than --max-running run. Every change is journaled under the store's lock, so no
 * reader ever sees a state that a restart would lose. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

/* Applies a terminal or running state to op (already decided) and journals it. */
static void transition(emu_store *s, emu_op *op, int state, int64_t now) {
  ee_status st;
  ee_status_clear(&st);
  if (state == ST_RUNNING) {
    op->start_ns = now;
    op->attempt = 1;
    s->running++;
  }
  if (op->state == ST_RUNNING || (op->state == ST_CANCELLING && op->cancel_from_running))
    if (state != ST_RUNNING) s->running--;
  op->state = state;
  op->update_ns = now;
  if (emu_op_done(op)) {
    op->end_ns = now;
    emu_store_remove_active(s, op);
  }
  bool was_broken = s->journal_broken;
  if (emu_store_journal_op(s, op, &st) != EE_OK && !was_broken) /* say it once */
    fprintf(stderr, "ee-emulator: error: %s\n", st.message);
  pthread_cond_broadcast(&s->changed);
}

static void fail_op(emu_store *s, emu_op *op, int code, const char *msg, int64_t now) {
  char *m = strdup(msg);
  if (m) {
    free(op->error_message);
    op->error_message = m;
  }
  op->error_code = code;
  transition(s, op, ST_FAILED, now);
}

static bool asset_blocked(const emu_store *s, const emu_op *op) {
  return op->asset_name[0] && !op->overwrite && emu_strmap_get(&s->assets, op->asset_name);
}

static void fail_asset_exists(emu_store *s, emu_op *op, int64_t now) {
  char msg[EMU_MAX_NAME + 64];
  snprintf(msg, sizeof msg, "Cannot overwrite asset '%s'.", op->asset_name);
  fail_op(s, op, EE_ALREADY_EXISTS, msg, now);
}

/* Records the asset a successful asset export wrote (journaled before the operation). */
static void record_asset(emu_store *s, emu_op *op, int64_t now) {
  ee_status st;
  ee_status_clear(&st);
  emu_asset *a = calloc(1, sizeof *a);
  if (!a || !(a->name = strdup(op->asset_name)) || !(a->operation = strdup(op->name)) ||
      (op->request_len && !(a->request = malloc(op->request_len)))) {
    emu_asset_free(a);
    fprintf(stderr, "ee-emulator: error: out of memory recording asset %s\n", op->asset_name);
    return;
  }
  if (op->request_len) memcpy(a->request, op->request, op->request_len);
  a->request_len = op->request_len;
  a->update_ns = now;
  if (s->journal && !s->journal_broken) {
    ee_buf rec;
    ee_buf_init(&rec, 0);
    if (emu_record_asset(a, &rec, &st) != EE_OK ||
        emu_journal_append(s->journal, (uint8_t *)rec.data, rec.len, &st) != EE_OK) {
      s->journal_broken = true;
      fprintf(stderr, "ee-emulator: error: %s\n", st.message);
    }
    ee_buf_free(&rec);
  }
  emu_asset *old = emu_strmap_get(&s->assets, a->name);
  if (emu_strmap_put(&s->assets, a->name, a, &st) != EE_OK) {
    emu_asset_free(a);
    return;
  }
  emu_asset_free(old);
}

static void finish(emu_store *s, emu_op *op, int64_t now) {
  if (asset_blocked(s, op)) { /* another task wrote it while this one ran */
    fail_asset_exists(s, op, now);
    return;
  }
  if (op->asset_name[0]) record_asset(s, op, now);
  transition(s, op, ST_SUCCEEDED, now);
}

static void start(emu_store *s, emu_op *op, int64_t now) {
  char msg[256];
  if (op->pixels > op->max_pixels) {
    snprintf(msg, sizeof msg,
             "Export too large: specified %lld pixels (max: %lld). Specify higher maxPixels value "
             "if you intend to export a large area.",
             (long long)op->pixels, (long long)op->max_pixels);
    op->start_ns = now;
    op->attempt = 1;
    fail_op(s, op, EE_INVALID_ARGUMENT, msg, now);
  } else if (asset_blocked(s, op)) {
    op->start_ns = now;
    op->attempt = 1;
    fail_asset_exists(s, op, now);
  } else {
    transition(s, op, ST_RUNNING, now);
  }
}

/* Finishes what is due; returns the time of the next due event (INT64_MAX: none). */
static int64_t finish_due(emu_store *s, int64_t now) {
  int64_t next = INT64_MAX;
  for (size_t i = 0; i < s->n_active;) {
    emu_op *op = s->active[i];
    int64_t due = op->state == ST_RUNNING      ? op->start_ns + s->task_ns
                  : op->state == ST_CANCELLING ? op->cancel_ns + s->cancel_ns
                                               : INT64_MAX;
    if (due > now) {
      if (due < next) next = due;
      i++;
      continue;
    }
    if (op->state == ST_RUNNING) {
      finish(s, op, now);
    } else {
      char *m = strdup("Cancelled.");
      if (m) {
        free(op->error_message);
        op->error_message = m;
      }
      op->error_code = EE_CANCELLED;
      transition(s, op, ST_CANCELLED, now);
    }
    /* op left the active list (swap-removed): look at index i again */
  }
  return next;
}

static emu_op *best_pending(const emu_store *s) {
  emu_op *best = NULL;
  for (size_t i = 0; i < s->n_active; i++) {
    emu_op *op = s->active[i];
    if (op->state != ST_PENDING) continue;
    if (!best || op->priority > best->priority ||
        (op->priority == best->priority && op->seq < best->seq))
      best = op;
  }
  return best;
}

static int64_t advance(emu_store *s, int64_t now) {
  int64_t next = finish_due(s, now);
  emu_op *op;
  while (s->running < s->max_running && (op = best_pending(s))) {
    start(s, op, now);
    if (op->state == ST_RUNNING && op->start_ns + s->task_ns < next)
      next = op->start_ns + s->task_ns;
  }
  return next;
}

void *emu_sched_main(void *arg) {
  emu_store *s = arg;
  pthread_mutex_lock(&s->mu);
  while (!s->stopping) {
    int64_t next = advance(s, emu_now_ns());
    if (s->stopping) break;
    if (next == INT64_MAX) {
      pthread_cond_wait(&s->wake, &s->mu);
    } else if (next > emu_now_ns()) {
      struct timespec ts = {next / 1000000000LL, next % 1000000000LL};
      pthread_cond_timedwait(&s->wake, &s->mu, &ts);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}
