/* ee-emulator: the --state journal, an append-only file of framed records.
 *
 * Layout: the 8-byte magic "EEEMUJ01", then records, each
 *   u32 length (little-endian) | u32 CRC-32 of the payload (little-endian) | payload
 * A record is appended and fdatasync'ed before the request that caused it is answered.
 * Replay stops at the first record that cannot be framed or whose CRC is wrong: such a
 * record at the end of the file is a torn write (never acknowledged), so it is skipped
 * and the file truncated there. A bad CRC with more records after it is corruption in
 * the middle, which replay refuses (DATA_LOSS) rather than silently dropping data. */
#ifndef EMU_JOURNAL_H
#define EMU_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ee/buf.h"
#include "ee/status.h"

#define EMU_JOURNAL_MAX_RECORD ((size_t)64 << 20)

typedef struct emu_journal emu_journal;

/* Called once per intact record, in file order. */
typedef ee_code (*emu_journal_replay_fn)(void *ctx, const uint8_t *rec, size_t len, ee_status *st);

/* Opens (creating if absent) the journal at path and replays it through fn. */
ee_code emu_journal_open(const char *path, emu_journal_replay_fn fn, void *ctx, emu_journal **out,
                         ee_status *st);

/* Appends one record and syncs it to disk. */
ee_code emu_journal_append(emu_journal *j, const uint8_t *rec, size_t len, ee_status *st);

/* Appends the frame of one record to out (for building a compacted journal). */
ee_code emu_journal_frame(ee_buf *out, const uint8_t *rec, size_t len, ee_status *st);

/* Atomically replaces the whole journal with framed records (made by emu_journal_frame):
 * write a temporary file, sync, rename over the old one, sync the directory. */
ee_code emu_journal_replace(emu_journal *j, const ee_buf *framed, ee_status *st);

/* Syncs and closes. Accepts NULL. */
void emu_journal_close(emu_journal *j);

#endif
