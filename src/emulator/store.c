/* ee-emulator: the store's request-side operations (scheduler in sched.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define ID_LEN 24 /* the service's operation ids are 24 upper-case base32 characters */

void emu_op_free(emu_op *op) {
  if (!op) return;
  char *strs[] = {op->name,        op->project,  op->caller,     op->request_id,
                  op->description, op->dest_uri, op->asset_name, op->error_message};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) free(strs[i]);
  free(op->request);
  free(op);
}

void emu_asset_free(emu_asset *a) {
  if (!a) return;
  free(a->name);
  free(a->operation);
  free(a->request);
  free(a);
}

static ee_code lock_failed(ee_status *st) {
  return emu_fail(st, EE_UNAVAILABLE, "JOURNAL_UNAVAILABLE",
                  "the emulator's --state journal failed earlier; restart the emulator");
}

ee_code emu_rid_key(const emu_op *op, char **out, ee_status *st) {
  *out = NULL;
  if (!op->request_id[0]) return EE_OK;
  size_t n = strlen(op->caller) + strlen(op->project) + strlen(op->request_id) + 3;
  if (!(*out = malloc(n))) return ee_status_set(st, EE_INTERNAL, "out of memory");
  snprintf(*out, n, "%s\x1f%s\x1f%s", op->caller, op->project, op->request_id);
  return EE_OK;
}

static ee_code grow_array(emu_op ***arr, size_t *cap, size_t need, ee_status *st) {
  if (need <= *cap) return EE_OK;
  size_t ncap = *cap ? *cap * 2 : 256;
  emu_op **n = realloc(*arr, ncap * sizeof *n);
  if (!n) return ee_status_set(st, EE_INTERNAL, "out of memory");
  *arr = n;
  *cap = ncap;
  return EE_OK;
}

ee_code emu_store_add_active(emu_store *s, emu_op *op, ee_status *st) {
  if (grow_array(&s->active, &s->cap_active, s->n_active + 1, st) != EE_OK) return st->code;
  s->active[s->n_active++] = op;
  return EE_OK;
}

void emu_store_remove_active(emu_store *s, emu_op *op) {
  for (size_t i = 0; i < s->n_active; i++) {
    if (s->active[i] == op) {
      s->active[i] = s->active[--s->n_active];
      return;
    }
  }
}

/* Takes ownership of op: lists it and makes it findable by name and requestId. */
ee_code emu_store_index_op(emu_store *s, emu_op *op, ee_status *st) {
  char *key = NULL;
  if (grow_array(&s->ops, &s->cap_ops, s->n_ops + 1, st) != EE_OK) {
    emu_op_free(op);
    return st->code;
  }
  s->ops[s->n_ops++] = op;
  if (op->deleted) return EE_OK;
  if (emu_strmap_put(&s->by_name, op->name, op, st) != EE_OK) return st->code;
  if (emu_rid_key(op, &key, st) != EE_OK) return st->code;
  ee_code rc = key ? emu_strmap_put(&s->by_rid, key, op, st) : EE_OK;
  free(key);
  return rc;
}

ee_code emu_store_journal_op(emu_store *s, const emu_op *op, ee_status *st) {
  if (!s->journal) return EE_OK;
  if (s->journal_broken) return lock_failed(st);
  ee_buf rec;
  ee_buf_init(&rec, 0);
  ee_code rc = emu_record_op(op, &rec, st);
  if (rc == EE_OK) rc = emu_journal_append(s->journal, (uint8_t *)rec.data, rec.len, st);
  if (rc != EE_OK) s->journal_broken = true;
  ee_buf_free(&rec);
  return rc;
}

/* ---- opening and closing ---- */

static ee_code replay_record(void *ctx, const uint8_t *rec, size_t len, ee_status *st) {
  return emu_record_apply(ctx, rec, len, st);
}

/* After replay: the scheduler's working set, and a compacted journal (live records only). */
static ee_code rebuild(emu_store *s, ee_status *st) {
  ee_buf framed, rec;
  ee_buf_init(&framed, 0);
  ee_buf_init(&rec, 0);
  ee_code rc = EE_OK;
  for (size_t i = 0; i < s->n_ops && rc == EE_OK; i++) {
    emu_op *op = s->ops[i];
    if (!emu_op_done(op)) rc = emu_store_add_active(s, op, st);
    if (op->state == ST_RUNNING || (op->state == ST_CANCELLING && op->cancel_from_running))
      s->running++;
    if (rc != EE_OK || (op->deleted && emu_op_done(op))) continue;
    ee_buf_reset(&rec);
    rc = emu_record_op(op, &rec, st);
    if (rc == EE_OK) rc = emu_journal_frame(&framed, (uint8_t *)rec.data, rec.len, st);
  }
  for (size_t i = 0; i < s->assets.cap && rc == EE_OK; i++) {
    emu_strmap_slot *slot = &s->assets.slots[i];
    if (!slot->value) continue;
    ee_buf_reset(&rec);
    rc = emu_record_asset(slot->value, &rec, st);
    if (rc == EE_OK) rc = emu_journal_frame(&framed, (uint8_t *)rec.data, rec.len, st);
  }
  if (rc == EE_OK) rc = emu_journal_replace(s->journal, &framed, st);
  ee_buf_free(&framed);
  ee_buf_free(&rec);
  return rc;
}

ee_code emu_store_open(const emu_store_options *o, emu_store **out, ee_status *st) {
  emu_store *s = calloc(1, sizeof *s);
  *out = NULL;
  if (!s) return ee_status_set(st, EE_INTERNAL, "out of memory");
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->changed, NULL);
  pthread_cond_init(&s->wake, NULL);
  s->task_ns = (int64_t)(o->task_seconds * 1e9);
  /* CANCELLING lasts a fifth of a task, at most a second: long enough to be seen. */
  s->cancel_ns = s->task_ns / 5 < 1000000000LL ? s->task_ns / 5 : 1000000000LL;
  s->max_running = o->max_running;
  s->max_queued = o->max_queued;
  s->next_seq = 1;
  emu_strmap_init(&s->by_name);
  emu_strmap_init(&s->by_rid);
  emu_strmap_init(&s->assets);
  if (o->state_path) {
    if (emu_journal_open(o->state_path, replay_record, s, &s->journal, st) != EE_OK) goto fail;
    if (rebuild(s, st) != EE_OK) goto fail;
  }
  if (pthread_create(&s->sched, NULL, emu_sched_main, s) != 0) {
    ee_status_set(st, EE_INTERNAL, "cannot start the scheduler thread");
    goto fail;
  }
  s->sched_started = true;
  *out = s;
  return EE_OK;
fail:
  emu_store_free(s);
  return st->code;
}

void emu_store_stop(emu_store *s) {
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  s->stopping = true;
  pthread_cond_broadcast(&s->wake);
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
  if (s->sched_started) pthread_join(s->sched, NULL);
  s->sched_started = false;
}

void emu_store_free(emu_store *s) {
  if (!s) return;
  emu_store_stop(s);
  for (size_t i = 0; i < s->n_ops; i++) emu_op_free(s->ops[i]);
  for (size_t i = 0; i < s->assets.cap; i++) {
    if (s->assets.slots[i].value) emu_asset_free(s->assets.slots[i].value);
  }
  free(s->ops);
  free(s->active);
  emu_strmap_free(&s->by_name);
  emu_strmap_free(&s->by_rid);
  emu_strmap_free(&s->assets);
  emu_journal_close(s->journal);
  pthread_cond_destroy(&s->changed);
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* ---- ExportImage ---- */

static ee_code check_queue(const emu_store *s, const char *project, ee_status *st) {
  /* A project cannot have more PENDING tasks than the store has active ones: while that
   * bound passes, skip the count, a scan of every active task under the store lock that
   * made each export O(active) (scripts/bench client: 1,400 -> 100 exports/s over 100,000). */
  if (s->n_active < (size_t)s->max_queued) return EE_OK;
  int pending = 0;
  for (size_t i = 0; i < s->n_active; i++)
    pending += s->active[i]->state == ST_PENDING && strcmp(s->active[i]->project, project) == 0;
  if (pending < s->max_queued) return EE_OK;
  return emu_fail(st, EE_RESOURCE_EXHAUSTED, "QUEUE_FULL",
                  "Too many tasks already in the queue (%d). Please wait for some of them to "
                  "complete.",
                  s->max_queued);
}

/* A fresh operation name in project, unique in this store. */
static ee_code new_name(const emu_store *s, const char *project, char **out, ee_status *st) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  size_t n = strlen(project) + strlen("/operations/") + ID_LEN + 1;
  if (!(*out = malloc(n))) return ee_status_set(st, EE_INTERNAL, "out of memory");
  do {
    char id[ID_LEN + 1];
    for (int i = 0; i < ID_LEN; i++) id[i] = alphabet[emu_rng_next() % 32];
    id[ID_LEN] = '\0';
    snprintf(*out, n, "%s/operations/%s", project, id);
  } while (emu_strmap_get(&s->by_name, *out));
  return EE_OK;
}

static emu_op *new_op(const emu_store *s, const emu_export_input *in, ee_status *st) {
  emu_op *op = calloc(1, sizeof *op);
  if (!op) {
    ee_status_set(st, EE_INTERNAL, "out of memory");
    return NULL;
  }
  if (new_name(s, in->project, &op->name, st) != EE_OK) goto fail;
  char **strs[] = {&op->project,  &op->caller,     &op->request_id,   &op->description,
                   &op->dest_uri, &op->asset_name, &op->error_message};
  const char *vals[] = {
      in->project,          in->caller, in->request_id, in->description, in->plan->dest_uri,
      in->plan->asset_name, ""};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
    if (!(*strs[i] = emu_strdup(vals[i], st))) goto fail;
  if (in->request_len && !(op->request = malloc(in->request_len))) {
    ee_status_set(st, EE_INTERNAL, "out of memory");
    goto fail;
  }
  if (in->request_len) memcpy(op->request, in->request, in->request_len);
  op->request_len = in->request_len;
  op->seq = s->next_seq;
  op->state = ST_PENDING;
  op->priority = in->plan->priority;
  op->pixels = in->plan->pixels;
  op->max_pixels = in->plan->max_pixels;
  op->overwrite = in->plan->overwrite;
  op->create_ns = op->update_ns = emu_now_ns();
  return op;
fail:
  emu_op_free(op);
  return NULL;
}

/* The operation an earlier request with the same caller, project and requestId started. */
static emu_op *find_by_rid(emu_store *s, const emu_export_input *in, ee_status *st) {
  emu_op probe = {0};
  char *key = NULL;
  probe.caller = (char *)in->caller;
  probe.project = (char *)in->project;
  probe.request_id = (char *)in->request_id;
  if (emu_rid_key(&probe, &key, st) != EE_OK || !key) return NULL;
  emu_op *op = emu_strmap_get(&s->by_rid, key);
  free(key);
  return op;
}

ee_code emu_store_export(emu_store *s, const emu_export_input *in, ee_buf *out, ee_status *st) {
  ee_code rc = EE_OK;
  pthread_mutex_lock(&s->mu);
  emu_op *op = find_by_rid(s, in, st);
  if (op) {
    rc = emu_op_pack(s, op, emu_now_ns(), out, st);
    goto done;
  }
  if ((rc = check_queue(s, in->project, st)) != EE_OK) goto done;
  if (!(op = new_op(s, in, st))) {
    rc = st->code;
    goto done;
  }
  if ((rc = emu_store_journal_op(s, op, st)) != EE_OK) {
    emu_op_free(op);
    goto done;
  }
  s->next_seq++;
  if ((rc = emu_store_index_op(s, op, st)) != EE_OK) goto done;
  if ((rc = emu_store_add_active(s, op, st)) != EE_OK) goto done;
  /* With every run slot taken the new task cannot start before a running one ends, and
   * the scheduler already sleeps until then: waking it would only rescan every active
   * task (O(active) per export under the lock). */
  if (s->running < s->max_running) pthread_cond_signal(&s->wake);
  rc = emu_op_pack(s, op, op->create_ns, out, st);
done:
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* ---- reads ---- */

static emu_op *find(emu_store *s, const char *name, ee_status *st) {
  emu_op *op = emu_strmap_get(&s->by_name, name);
  if (!op) emu_fail(st, EE_NOT_FOUND, "NOT_FOUND", "Operation %.200s not found.", name);
  return op;
}

ee_code emu_store_get(emu_store *s, const char *name, ee_buf *out, ee_status *st) {
  pthread_mutex_lock(&s->mu);
  emu_op *op = find(s, name, st);
  ee_code rc = op ? emu_op_pack(s, op, emu_now_ns(), out, st) : st->code;
  pthread_mutex_unlock(&s->mu);
  return rc;
}

static ee_code append_field(ee_buf *out, int field, const void *data, size_t len, ee_status *st) {
  uint8_t hdr[11];
  size_t n = 0;
  hdr[n++] = (uint8_t)(field << 3 | 2); /* length-delimited */
  for (size_t v = len;; v >>= 7) {
    hdr[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    if (v <= 0x7f) break;
  }
  if (ee_buf_append(out, hdr, n, st) != EE_OK) return st->code;
  return len ? ee_buf_append(out, data, len, st) : EE_OK;
}

static ee_code parse_token(const char *token, uint64_t *below, ee_status *st) {
  *below = UINT64_MAX;
  if (!token[0]) return EE_OK;
  char *end = NULL;
  if (token[0] == 't' && token[1] >= '0' && token[1] <= '9') *below = strtoull(token + 1, &end, 10);
  if (!end || *end)
    return emu_fail(st, EE_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                    "pageToken: not a token this service issued");
  return EE_OK;
}

/* A ListOperationsResponse written field by field, so each operation is packed once. */
ee_code emu_store_list(emu_store *s, const char *project, const emu_filter *f, int page_size,
                       const char *page_token, ee_buf *out, ee_status *st) {
  uint64_t below;
  if (parse_token(page_token, &below, st) != EE_OK) return st->code;
  size_t plen = strlen(project);
  ee_buf one;
  ee_buf_init(&one, 0);
  ee_code rc = EE_OK;
  int taken = 0;
  pthread_mutex_lock(&s->mu);
  int64_t now = emu_now_ns();
  for (size_t i = s->n_ops; i-- > 0 && rc == EE_OK;) {
    emu_op *op = s->ops[i];
    if (op->deleted || op->seq >= below || strncmp(op->name, project, plen) != 0 ||
        op->name[plen] != '/' || !emu_filter_match(f, op->state, emu_op_done(op)))
      continue;
    if (taken == page_size) { /* one more match exists: hand out a token */
      char token[32];
      snprintf(token, sizeof token, "t%llu", (unsigned long long)op->seq + 1);
      rc = append_field(out, 2, token, strlen(token), st);
      break;
    }
    ee_buf_reset(&one);
    rc = emu_op_pack(s, op, now, &one, st);
    if (rc == EE_OK) rc = append_field(out, 1, one.data, one.len, st);
    taken++;
  }
  pthread_mutex_unlock(&s->mu);
  ee_buf_free(&one);
  return rc;
}

ee_code emu_store_wait(emu_store *s, const char *name, int64_t timeout_ns, ee_buf *out,
                       ee_status *st) {
  int64_t deadline = emu_now_ns() + timeout_ns;
  pthread_mutex_lock(&s->mu);
  emu_op *op = find(s, name, st);
  while (op && !emu_op_done(op) && !s->stopping && !op->deleted) {
    int64_t now = emu_now_ns();
    if (now >= deadline) break;
    struct timespec ts = {deadline / 1000000000LL, deadline % 1000000000LL};
    pthread_cond_timedwait(&s->changed, &s->mu, &ts);
  }
  ee_code rc = !op ? st->code
               : op->deleted
                   ? emu_fail(st, EE_NOT_FOUND, "NOT_FOUND", "Operation %.200s not found.", name)
                   : emu_op_pack(s, op, emu_now_ns(), out, st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* ---- changes ---- */

ee_code emu_store_cancel(emu_store *s, const char *name, ee_status *st) {
  pthread_mutex_lock(&s->mu);
  emu_op *op = find(s, name, st);
  ee_code rc = op ? EE_OK : st->code;
  if (op && emu_op_done(op))
    rc = emu_fail(st, EE_FAILED_PRECONDITION, "FAILED_PRECONDITION",
                  "Operation %.200s has already finished.", name);
  if (rc == EE_OK && op->state != ST_CANCELLING) {
    emu_op next = *op; /* journal first: memory changes only once the record is safe */
    next.cancel_from_running = op->state == ST_RUNNING;
    next.state = ST_CANCELLING;
    next.cancel_ns = next.update_ns = emu_now_ns();
    if ((rc = emu_store_journal_op(s, &next, st)) == EE_OK) {
      *op = next;
      pthread_cond_broadcast(&s->changed);
      pthread_cond_signal(&s->wake);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

ee_code emu_store_delete(emu_store *s, const char *name, ee_status *st) {
  pthread_mutex_lock(&s->mu);
  emu_op *op = find(s, name, st);
  ee_code rc = op ? EE_OK : st->code;
  if (rc == EE_OK) {
    emu_op next = *op;
    next.deleted = true;
    rc = emu_store_journal_op(s, &next, st);
  }
  char *key = NULL;
  if (rc == EE_OK) rc = emu_rid_key(op, &key, st);
  if (rc == EE_OK) {
    op->deleted = true;
    emu_strmap_remove(&s->by_name, op->name);
    if (key && emu_strmap_get(&s->by_rid, key) == op) emu_strmap_remove(&s->by_rid, key);
    pthread_cond_broadcast(&s->changed);
  }
  free(key);
  pthread_mutex_unlock(&s->mu);
  return rc;
}
