/* One timer thread per client: runs retry backoffs and other delayed steps at their time.
 * Timers are few (one per call waiting to retry), so a list sorted by time is enough. */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "client_internal.h"

struct eei_timers {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* CLOCK_MONOTONIC */
  eei_timer *head;   /* sorted by when_ms */
  bool stop;
  pthread_t thread;
};

static void deadline_timespec(int64_t when_ms, struct timespec *ts) {
  ts->tv_sec = (time_t)(when_ms / 1000);
  ts->tv_nsec = (long)(when_ms % 1000) * 1000000L;
}

/* Unlinks the head when it is due; returns it, or NULL after waiting for one. */
static eei_timer *next_due(eei_timers *ts) {
  while (!ts->stop) {
    eei_timer *t = ts->head;
    if (t && t->when_ms <= eei_now_ms()) {
      ts->head = t->next;
      t->queued = false;
      return t;
    }
    if (t) {
      struct timespec until;
      deadline_timespec(t->when_ms, &until);
      pthread_cond_timedwait(&ts->cv, &ts->mu, &until);
    } else {
      pthread_cond_wait(&ts->cv, &ts->mu);
    }
  }
  return NULL;
}

static void *timer_main(void *arg) {
  eei_timers *ts = arg;
  pthread_mutex_lock(&ts->mu);
  for (eei_timer *t; (t = next_due(ts)) != NULL;) {
    pthread_mutex_unlock(&ts->mu);
    t->fn(t->arg); /* may free t: do not touch it afterwards */
    pthread_mutex_lock(&ts->mu);
  }
  pthread_mutex_unlock(&ts->mu);
  return NULL;
}

ee_code eei_timers_new(eei_timers **out, ee_status *st) {
  eei_timers *ts = calloc(1, sizeof *ts);
  pthread_condattr_t ca;
  *out = NULL;
  if (!ts) return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_init(&ts->mu, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&ts->cv, &ca);
  pthread_condattr_destroy(&ca);
  int err = pthread_create(&ts->thread, NULL, timer_main, ts);
  if (err) {
    pthread_cond_destroy(&ts->cv);
    pthread_mutex_destroy(&ts->mu);
    free(ts);
    return ee_status_set(st, EE_RESOURCE_EXHAUSTED, "cannot start the timer thread (error %d)",
                         err);
  }
  *out = ts;
  return EE_OK;
}

void eei_timers_free(eei_timers *ts) {
  if (!ts) return;
  pthread_mutex_lock(&ts->mu);
  ts->stop = true;
  pthread_cond_signal(&ts->cv);
  pthread_mutex_unlock(&ts->mu);
  pthread_join(ts->thread, NULL);
  pthread_cond_destroy(&ts->cv);
  pthread_mutex_destroy(&ts->mu);
  free(ts);
}

static void insert_sorted(eei_timers *ts, eei_timer *t) {
  eei_timer **p = &ts->head;
  while (*p && (*p)->when_ms <= t->when_ms) p = &(*p)->next;
  t->next = *p;
  *p = t;
  t->queued = true;
}

void eei_timer_add(eei_timers *ts, eei_timer *t, int64_t when_ms) {
  pthread_mutex_lock(&ts->mu);
  t->when_ms = when_ms;
  insert_sorted(ts, t);
  if (ts->head == t) pthread_cond_signal(&ts->cv);
  pthread_mutex_unlock(&ts->mu);
}

bool eei_timer_fire_now(eei_timers *ts, eei_timer *t) {
  bool was_queued;
  pthread_mutex_lock(&ts->mu);
  was_queued = t->queued;
  if (was_queued) {
    eei_timer **p = &ts->head;
    while (*p != t) p = &(*p)->next;
    *p = t->next;
    t->when_ms = 0;
    insert_sorted(ts, t);
    pthread_cond_signal(&ts->cv);
  }
  pthread_mutex_unlock(&ts->mu);
  return was_queued;
}

/* xorshift64*: jitter and request ids need spread, not secrecy (UUIDv4 takes its bits
 * from getrandom directly). Seeded per thread. */
uint64_t eei_random64(void) {
  static _Thread_local uint64_t s;
  while (s == 0) {
    if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s) s = (uint64_t)eei_now_ms() | 1;
  }
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 2685821657736338717ULL;
}
