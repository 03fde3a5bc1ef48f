/* ee-emulator: the --state journal (format in journal.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

#define MAGIC "EEEMUJ01"
#define MAGIC_LEN 8

struct emu_journal {
  char *path;
  int fd;
};

static uint32_t crc_table[256];

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static ee_code io_error(ee_status *st, const char *what, const char *path) {
  return ee_status_set(st, EE_INTERNAL, "--state %s: %s: %s", path, what, strerror(errno));
}

static ee_code write_all(int fd, const void *data, size_t len, const char *path, ee_status *st) {
  const uint8_t *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(st, "write", path);
    p += n;
    len -= (size_t)n;
  }
  return EE_OK;
}

/* Reads exactly len bytes or up to EOF; returns how many were read. */
static size_t read_full(int fd, void *data, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, (uint8_t *)data + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  return got;
}

/* Replays the records after the magic; *good_end is the offset after the last intact one. */
static ee_code replay(emu_journal *j, off_t size, emu_journal_replay_fn fn, void *ctx,
                      off_t *good_end, ee_status *st) {
  off_t pos = MAGIC_LEN;
  uint8_t *rec = NULL;
  ee_code rc = EE_OK;
  for (;;) {
    uint8_t hdr[8];
    *good_end = pos;
    size_t got = read_full(j->fd, hdr, sizeof hdr);
    if (got == 0) break;
    uint32_t len = get_le32(hdr), crc = get_le32(hdr + 4);
    if (got < sizeof hdr || len == 0 || len > EMU_JOURNAL_MAX_RECORD || (off_t)len > size - pos - 8)
      break; /* cannot be framed: a torn tail */
    uint8_t *grown = realloc(rec, len);
    if (!grown) {
      rc = ee_status_set(st, EE_INTERNAL, "out of memory");
      break;
    }
    rec = grown;
    if (read_full(j->fd, rec, len) < len) break;
    if (crc32_of(rec, len) != crc) {
      if (pos + 8 + (off_t)len == size) break; /* the last record: torn */
      rc = ee_status_set(st, EE_DATA_LOSS,
                         "--state %s: record at byte %lld fails its checksum and is not the "
                         "last one; refusing to start on a corrupt journal",
                         j->path, (long long)pos);
      break;
    }
    if ((rc = fn(ctx, rec, len, st)) != EE_OK) {
      ee_status_prefix(st, "--state %s: record at byte %lld", j->path, (long long)pos);
      break;
    }
    pos += 8 + (off_t)len;
  }
  free(rec);
  return rc;
}

static ee_code open_existing(emu_journal *j, emu_journal_replay_fn fn, void *ctx, ee_status *st) {
  struct stat sb;
  char magic[MAGIC_LEN];
  if (fstat(j->fd, &sb) != 0) return io_error(st, "stat", j->path);
  if (sb.st_size < MAGIC_LEN) { /* new, or its creation was torn: nothing was committed */
    if (ftruncate(j->fd, 0) != 0) return io_error(st, "truncate", j->path);
    if (write_all(j->fd, MAGIC, MAGIC_LEN, j->path, st) != EE_OK) return st->code;
    return fdatasync(j->fd) == 0 ? EE_OK : io_error(st, "fdatasync", j->path);
  }
  if (read_full(j->fd, magic, MAGIC_LEN) != MAGIC_LEN || memcmp(magic, MAGIC, MAGIC_LEN) != 0)
    return ee_status_set(st, EE_FAILED_PRECONDITION, "--state %s: not an ee-emulator journal",
                         j->path);
  off_t good_end = MAGIC_LEN;
  if (replay(j, sb.st_size, fn, ctx, &good_end, st) != EE_OK) return st->code;
  if (good_end < sb.st_size) {
    fprintf(stderr,
            "ee-emulator: warning: --state %s: skipped a torn record at byte %lld (%lld bytes)\n",
            j->path, (long long)good_end, (long long)(sb.st_size - good_end));
    if (ftruncate(j->fd, good_end) != 0 || fdatasync(j->fd) != 0)
      return io_error(st, "truncate", j->path);
  }
  return lseek(j->fd, 0, SEEK_END) >= 0 ? EE_OK : io_error(st, "seek", j->path);
}

ee_code emu_journal_open(const char *path, emu_journal_replay_fn fn, void *ctx, emu_journal **out,
                         ee_status *st) {
  static int crc_ready;
  if (!crc_ready) { /* called once, from main, before any thread starts */
    crc_init();
    crc_ready = 1;
  }
  *out = NULL;
  emu_journal *j = calloc(1, sizeof *j);
  if (!j || !(j->path = strdup(path))) {
    free(j);
    return ee_status_set(st, EE_INTERNAL, "out of memory");
  }
  j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (j->fd < 0) {
    io_error(st, "open", path);
    goto fail;
  }
  if (open_existing(j, fn, ctx, st) != EE_OK) goto fail;
  *out = j;
  return EE_OK;
fail:
  emu_journal_close(j);
  return st->code;
}

ee_code emu_journal_frame(ee_buf *out, const uint8_t *rec, size_t len, ee_status *st) {
  uint8_t hdr[8];
  if (len == 0 || len > EMU_JOURNAL_MAX_RECORD)
    return ee_status_set(st, EE_INTERNAL, "journal record of %zu bytes", len);
  put_le32(hdr, (uint32_t)len);
  put_le32(hdr + 4, crc32_of(rec, len));
  if (ee_buf_append(out, hdr, sizeof hdr, st) != EE_OK) return st->code;
  return ee_buf_append(out, rec, len, st);
}

ee_code emu_journal_append(emu_journal *j, const uint8_t *rec, size_t len, ee_status *st) {
  ee_buf frame;
  ee_buf_init(&frame, 0);
  ee_code rc = emu_journal_frame(&frame, rec, len, st);
  if (rc == EE_OK) rc = write_all(j->fd, frame.data, frame.len, j->path, st);
  if (rc == EE_OK && fdatasync(j->fd) != 0) rc = io_error(st, "fdatasync", j->path);
  ee_buf_free(&frame);
  return rc;
}

static ee_code sync_dir(const char *path, ee_status *st) {
  char *copy = strdup(path);
  if (!copy) return ee_status_set(st, EE_INTERNAL, "out of memory");
  int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ee_code rc = EE_OK;
  if (dfd < 0 || fsync(dfd) != 0) rc = io_error(st, "sync directory", path);
  if (dfd >= 0) close(dfd);
  free(copy);
  return rc;
}

ee_code emu_journal_replace(emu_journal *j, const ee_buf *framed, ee_status *st) {
  size_t n = strlen(j->path) + 5;
  char *tmp = malloc(n);
  if (!tmp) return ee_status_set(st, EE_INTERNAL, "out of memory");
  snprintf(tmp, n, "%s.tmp", j->path);
  ee_code rc = EE_OK;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) rc = io_error(st, "open", tmp);
  if (rc == EE_OK) rc = write_all(fd, MAGIC, MAGIC_LEN, tmp, st);
  if (rc == EE_OK && framed->len) rc = write_all(fd, framed->data, framed->len, tmp, st);
  if (rc == EE_OK && fsync(fd) != 0) rc = io_error(st, "fsync", tmp);
  if (rc == EE_OK && rename(tmp, j->path) != 0) rc = io_error(st, "rename", tmp);
  if (rc == EE_OK) { /* fd now is the journal itself, positioned at its end */
    close(j->fd);
    j->fd = fd;
    rc = sync_dir(j->path, st);
  } else {
    if (fd >= 0) close(fd);
    unlink(tmp);
  }
  free(tmp);
  return rc;
}

void emu_journal_close(emu_journal *j) {
  if (!j) return;
  if (j->fd >= 0) {
    fdatasync(j->fd);
    close(j->fd);
  }
  free(j->path);
  free(j);
}
