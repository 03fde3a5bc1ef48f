/* ee-emulator: the store's journal records.
 *
 * A payload starts with a kind byte: 'O' an operation's full current state (an upsert,
 * written on every change), 'A' an asset. Fields follow in a fixed order: strings and
 * byte strings as u32 length + bytes, integers as little-endian u64. Replay applies
 * records in order, so the last record of an operation is its state. */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define REC_OP 'O'
#define REC_ASSET 'A'

static ee_code put_u64(ee_buf *b, uint64_t v, ee_status *st) {
  uint8_t x[8];
  for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
  return ee_buf_append(b, x, 8, st);
}

static ee_code put_bytes(ee_buf *b, const void *p, size_t n, ee_status *st) {
  uint8_t x[4];
  for (int i = 0; i < 4; i++) x[i] = (uint8_t)(n >> (8 * i));
  if (ee_buf_append(b, x, 4, st) != EE_OK) return st->code;
  return n ? ee_buf_append(b, p, n, st) : EE_OK;
}

static ee_code put_str(ee_buf *b, const char *s, ee_status *st) {
  return put_bytes(b, s, strlen(s), st);
}

ee_code emu_record_op(const emu_op *op, ee_buf *b, ee_status *st) {
  const char *strs[] = {op->name,        op->project,  op->caller,     op->request_id,
                        op->description, op->dest_uri, op->asset_name, op->error_message};
  const int64_t nums[] = {(int64_t)op->seq, op->overwrite, op->deleted,   op->cancel_from_running,
                          op->priority,     op->state,     op->attempt,   op->error_code,
                          op->create_ns,    op->update_ns, op->start_ns,  op->end_ns,
                          op->cancel_ns,    op->pixels,    op->max_pixels};
  if (ee_buf_append(b, "O", 1, st) != EE_OK) return st->code;
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
    if (put_str(b, strs[i], st) != EE_OK) return st->code;
  for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
    if (put_u64(b, (uint64_t)nums[i], st) != EE_OK) return st->code;
  return put_bytes(b, op->request, op->request_len, st);
}

ee_code emu_record_asset(const emu_asset *a, ee_buf *b, ee_status *st) {
  if (ee_buf_append(b, "A", 1, st) != EE_OK || put_str(b, a->name, st) != EE_OK ||
      put_str(b, a->operation, st) != EE_OK || put_u64(b, (uint64_t)a->update_ns, st) != EE_OK)
    return st->code;
  return put_bytes(b, a->request, a->request_len, st);
}

/* A bounds-checked reader over one payload. */
typedef struct reader {
  const uint8_t *p, *end;
  bool bad;
} reader;

static uint64_t get_u64(reader *r) {
  uint64_t v = 0;
  if (r->end - r->p < 8) {
    r->bad = true;
    return 0;
  }
  for (int i = 0; i < 8; i++) v |= (uint64_t)r->p[i] << (8 * i);
  r->p += 8;
  return v;
}

/* A malloc'ed copy of the next byte string, NUL-terminated; NULL when malformed. */
static uint8_t *get_bytes(reader *r, size_t *len) {
  if (r->bad || r->end - r->p < 4) {
    r->bad = true;
    return NULL;
  }
  size_t n = (size_t)r->p[0] | (size_t)r->p[1] << 8 | (size_t)r->p[2] << 16 | (size_t)r->p[3] << 24;
  r->p += 4;
  uint8_t *out = (size_t)(r->end - r->p) >= n ? malloc(n + 1) : NULL;
  if (!out) {
    r->bad = true;
    return NULL;
  }
  memcpy(out, r->p, n);
  out[n] = 0;
  r->p += n;
  if (len) *len = n;
  return out;
}

static char *get_str(reader *r) {
  return (char *)get_bytes(r, NULL);
}

static emu_op *read_op(reader *r) {
  emu_op *op = calloc(1, sizeof *op);
  if (!op) return NULL;
  char **strs[] = {&op->name,        &op->project,  &op->caller,     &op->request_id,
                   &op->description, &op->dest_uri, &op->asset_name, &op->error_message};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) *strs[i] = get_str(r);
  op->seq = get_u64(r);
  op->overwrite = get_u64(r) != 0;
  op->deleted = get_u64(r) != 0;
  op->cancel_from_running = get_u64(r) != 0;
  op->priority = (int32_t)get_u64(r);
  op->state = (int32_t)get_u64(r);
  op->attempt = (int32_t)get_u64(r);
  op->error_code = (int32_t)get_u64(r);
  int64_t *times[] = {&op->create_ns, &op->update_ns, &op->start_ns,  &op->end_ns,
                      &op->cancel_ns, &op->pixels,    &op->max_pixels};
  for (size_t i = 0; i < sizeof times / sizeof *times; i++) *times[i] = (int64_t)get_u64(r);
  op->request = get_bytes(r, &op->request_len);
  if (r->bad || r->p != r->end || op->state < ST_PENDING || op->state > ST_FAILED) {
    emu_op_free(op);
    return NULL;
  }
  return op;
}

/* Replaces existing's contents with op's, keeping existing's address (others point to it). */
static void adopt(emu_op *existing, emu_op *op) {
  emu_op tmp = *existing;
  *existing = *op;
  *op = tmp;
  emu_op_free(op);
}

static ee_code apply_op(emu_store *s, emu_op *op, ee_status *st) {
  emu_op *existing = NULL;
  for (size_t i = s->n_ops; i-- > 0;) { /* recent operations change most */
    if (s->ops[i]->seq == op->seq) {
      existing = s->ops[i];
      break;
    }
  }
  if (!existing) {
    if (s->next_seq <= op->seq) s->next_seq = op->seq + 1;
    return emu_store_index_op(s, op, st);
  }
  if (strcmp(existing->name, op->name) != 0) {
    emu_op_free(op);
    return ee_status_set(st, EE_DATA_LOSS, "operation record changes the name of %s",
                         existing->name);
  }
  adopt(existing, op);
  if (existing->deleted) {
    emu_strmap_remove(&s->by_name, existing->name);
    char *key = NULL;
    if (emu_rid_key(existing, &key, st) != EE_OK) return st->code;
    if (key && emu_strmap_get(&s->by_rid, key) == existing) emu_strmap_remove(&s->by_rid, key);
    free(key);
  }
  return EE_OK;
}

static ee_code apply_asset(emu_store *s, reader *r, ee_status *st) {
  emu_asset *a = calloc(1, sizeof *a);
  if (!a) return ee_status_set(st, EE_INTERNAL, "out of memory");
  a->name = get_str(r);
  a->operation = get_str(r);
  a->update_ns = (int64_t)get_u64(r);
  a->request = get_bytes(r, &a->request_len);
  if (r->bad || r->p != r->end) {
    emu_asset_free(a);
    return ee_status_set(st, EE_DATA_LOSS, "malformed asset record");
  }
  emu_asset *old = emu_strmap_get(&s->assets, a->name);
  if (emu_strmap_put(&s->assets, a->name, a, st) != EE_OK) {
    emu_asset_free(a);
    return st->code;
  }
  emu_asset_free(old);
  return EE_OK;
}

ee_code emu_record_apply(emu_store *s, const uint8_t *rec, size_t len, ee_status *st) {
  reader r = {rec + 1, rec + len, false};
  if (rec[0] == REC_ASSET) return apply_asset(s, &r, st);
  if (rec[0] != REC_OP) return ee_status_set(st, EE_DATA_LOSS, "unknown record kind %d", rec[0]);
  emu_op *op = read_op(&r);
  if (!op) return ee_status_set(st, EE_DATA_LOSS, "malformed operation record");
  return apply_op(s, op, st);
}
