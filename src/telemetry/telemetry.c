/*
 * telemetry: per-thread counters, latency histograms and event rings,
 * merged on read; summaries, Chrome traces, and an async-signal-safe dump.
 *
 * Each thread owns a state block (allocated on its first report, kept in a
 * lock-free list, adopted by a later thread once its owner exits, so the
 * number of blocks is bounded by the number of threads alive at once).
 * The owner updates its counters with relaxed load+store (it is the only
 * writer); readers load them relaxed, so a summary taken while threads run
 * is a consistent-enough snapshot and never a data race. Event slots are
 * seqlocked: a reader skips a slot being rewritten.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "prismio/telemetry.h"

#include "common/pio_common.h"
#include "telemetry/pio_telemetry.h"

#define NENG PIO_ENGINE_NAMES
#define SUB  16 /* sub-buckets per power of two */
#define MAXE 47 /* values up to 2^48 ns (78 hours) */
#define NB   (SUB + (MAXE - 3) * SUB)

struct ev {
    _Atomic uint64_t seq; /* odd while being written */
    _Atomic uint64_t ts, dur, file, frame, bytes;
    _Atomic uint32_t tid, op_engine;
    _Atomic int32_t result;
};

struct opstat {
    _Atomic uint64_t count, errors, bytes, total, max;
    _Atomic uint64_t hist[NB];
};

struct tstate {
    struct tstate *next; /* immutable once published */
    _Atomic int alive;
    uint32_t tid; /* of the thread that owns it now (owner-only) */
    struct opstat st[PIO_OP_COUNT][NENG];
    struct ev ring[PIO_TELEMETRY_RING];
    _Atomic uint64_t head; /* events written so far */
};

_Atomic int pio_telemetry_on;
int pio_tm_use_tsc;
static _Atomic(struct tstate *) states;
static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
/* The default TLS model on purpose: initial-exec would be one load
 * cheaper, but a library loaded late (the Python extension, imported after
 * MDAnalysis) then fails with "cannot allocate memory in static TLS". */
static _Thread_local struct tstate *mine;

/* ---- clock: TSC ticks to ns ---------------------------------------------------------- */

/* ns = ns0 + (ticks - tsc0) * mult >> 32, from a 2 ms calibration against
 * CLOCK_MONOTONIC when telemetry is first enabled. Written before
 * pio_tm_use_tsc is set, which is set before recording is switched on. */
static uint64_t tsc0, ns0, tsc_mult;
static pthread_once_t clock_once = PTHREAD_ONCE_INIT;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool tsc_invariant(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000u), "c"(0));
    if (a < 0x80000007u)
        return false;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000007u), "c"(0));
    return (d >> 8) & 1; /* invariant TSC */
#else
    return false;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
static void clock_pair(uint64_t *ns, uint64_t *ticks)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 16; i++) {
        uint64_t a = __builtin_ia32_rdtsc(), c = mono_ns(), b = __builtin_ia32_rdtsc();
        if (b - a < best) {
            best = b - a;
            *ns = c;
            *ticks = a + (b - a) / 2;
        }
    }
}
#endif

static void calibrate(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (!tsc_invariant() || getenv("PIO_TELEMETRY_NO_TSC"))
        return;
    /* Each end of the 2 ms interval is the best of 16 (clock, ticks)
     * pairs: ticks read on both sides of the clock, the pair with the
     * fewest ticks between them (a VM preempted between two readings
     * would otherwise put microseconds of error into the rate). */
    uint64_t c0 = 0, r0 = 0, c1 = 0, r1 = 0;
    clock_pair(&c0, &r0);
    do {
        c1 = mono_ns();
    } while (c1 - c0 < 2000000);
    clock_pair(&c1, &r1);
    if (r1 <= r0)
        return;
    tsc_mult = (uint64_t)(((unsigned __int128)(c1 - c0) << 32) / (r1 - r0));
    tsc0 = r1;
    ns0 = c1;
    pio_tm_use_tsc = tsc_mult != 0;
#endif
}

static inline uint64_t ticks_to_ns(uint64_t t)
{
    if (!pio_tm_use_tsc)
        return t;
    if (t >= tsc0)
        return ns0 + (uint64_t)(((unsigned __int128)(t - tsc0) * tsc_mult) >> 32);
    return ns0 - (uint64_t)(((unsigned __int128)(tsc0 - t) * tsc_mult) >> 32);
}

static inline uint64_t ticks_to_dur(uint64_t d)
{
    return pio_tm_use_tsc ? (uint64_t)(((unsigned __int128)d * tsc_mult) >> 32) : d;
}

static const char *const op_names[PIO_OP_COUNT] = {"open", "read",   "write",  "commit",    "fsync",
                                                   "hash", "decode", "encode", "queue_wait"};

PIO_API const char *pio_op_name(enum pio_op op)
{
    return (unsigned)op < PIO_OP_COUNT ? op_names[op] : NULL;
}

PIO_API void pio_telemetry_enable(bool on)
{
    if (on)
        pthread_once(&clock_once, calibrate);
    /* release: a thread that sees recording on also sees the calibration */
    atomic_store_explicit(&pio_telemetry_on, on, memory_order_release);
}

PIO_API bool pio_telemetry_enabled(void)
{
    return atomic_load_explicit(&pio_telemetry_on, memory_order_relaxed) != 0;
}

PIO_API uint64_t pio_telemetry_now(void)
{
    return mono_ns();
}

/* ---- buckets ---------------------------------------------------------------------- */

static unsigned bucket(uint64_t v)
{
    if (v < SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 4 */
    if (e > MAXE)
        return NB - 1;
    unsigned sub = (unsigned)(v >> (e - 4)) & (SUB - 1);
    return SUB + (e - 4) * SUB + sub;
}

/* Smallest value of bucket b, and the one past its largest. */
static void bucket_range(unsigned b, uint64_t *lo, uint64_t *hi)
{
    if (b < SUB) {
        *lo = b;
        *hi = b + 1;
        return;
    }
    unsigned e = (b - SUB) / SUB + 4, sub = (b - SUB) % SUB;
    *lo = ((uint64_t)(SUB + sub)) << (e - 4);
    *hi = *lo + ((uint64_t)1 << (e - 4));
}

/* ---- per-thread state ------------------------------------------------------------------ */

static void release_state(void *p)
{
    struct tstate *t = p;
    /* release: a thread that adopts the block sees everything written */
    atomic_store_explicit(&t->alive, 0, memory_order_release);
}

static void make_key(void)
{
    pthread_key_create(&key, release_state);
}

static struct tstate *state(void)
{
    if (PIO_LIKELY(mine != NULL))
        return mine;
    pthread_once(&key_once, make_key);
    struct tstate *t;
    /* acquire: pairs with the release of the push and of release_state */
    for (t = atomic_load_explicit(&states, memory_order_acquire); t; t = t->next) {
        int dead = 0;
        if (atomic_compare_exchange_strong_explicit(&t->alive, &dead, 1, memory_order_acq_rel,
                                                    memory_order_relaxed))
            break;
    }
    if (!t) {
        t = calloc(1, sizeof(*t));
        if (!t)
            return NULL;
        atomic_init(&t->alive, 1);
        struct tstate *head = atomic_load_explicit(&states, memory_order_relaxed);
        do
            t->next = head;
        /* release: publishes the zeroed block before it is reachable */
        while (!atomic_compare_exchange_weak_explicit(&states, &head, t, memory_order_release,
                                                      memory_order_relaxed));
    }
    pthread_setspecific(key, t);
    t->tid = (uint32_t)syscall(SYS_gettid); /* once: a system call per event would cost more */
    mine = t;
    return t;
}

/* The owner's increment: no other thread writes these. */
static inline void add(_Atomic uint64_t *x, uint64_t v)
{
    atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

static void record(enum pio_op op, unsigned engine, uint64_t file, uint64_t frame, uint64_t bytes,
                   uint64_t start_ns, uint64_t dur_ns, int result);

void pio_tm_record_ticks(enum pio_op op, unsigned engine, uint64_t file, uint64_t frame,
                         uint64_t bytes, uint64_t t0, uint64_t t1, int rc)
{
    if ((unsigned)op < PIO_OP_COUNT)
        record(op, engine, file, frame, bytes, ticks_to_ns(t0), t1 > t0 ? ticks_to_dur(t1 - t0) : 0,
               rc);
}

PIO_API void pio_telemetry_record(enum pio_op op, unsigned engine, uint64_t file, uint64_t frame,
                                  uint64_t bytes, uint64_t start_ns, uint64_t dur_ns, int result)
{
    if (!pio_telemetry_enabled() || (unsigned)op >= PIO_OP_COUNT)
        return;
    record(op, engine, file, frame, bytes, start_ns, dur_ns, result);
}

/* Called with recording on (it may have just been switched off: the event
 * still lands, which is harmless). */
static void record(enum pio_op op, unsigned engine, uint64_t file, uint64_t frame, uint64_t bytes,
                   uint64_t start_ns, uint64_t dur_ns, int result)
{
    struct tstate *t = state();
    if (!t)
        return;
    engine = engine < NENG ? engine : 0;
    struct opstat *s = &t->st[op][engine];
    add(&s->count, 1);
    add(&s->errors, result != 0);
    add(&s->bytes, bytes);
    add(&s->total, dur_ns);
    if (dur_ns > atomic_load_explicit(&s->max, memory_order_relaxed))
        atomic_store_explicit(&s->max, dur_ns, memory_order_relaxed);
    add(&s->hist[bucket(dur_ns)], 1);

    uint64_t h = atomic_load_explicit(&t->head, memory_order_relaxed);
    struct ev *e = &t->ring[h % PIO_TELEMETRY_RING];
    /* seqlock: odd while writing; release orders the fields before it */
    atomic_store_explicit(&e->seq, 2 * h + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&e->ts, start_ns, memory_order_relaxed);
    atomic_store_explicit(&e->dur, dur_ns, memory_order_relaxed);
    atomic_store_explicit(&e->file, file, memory_order_relaxed);
    atomic_store_explicit(&e->frame, frame, memory_order_relaxed);
    atomic_store_explicit(&e->bytes, bytes, memory_order_relaxed);
    atomic_store_explicit(&e->tid, t->tid, memory_order_relaxed);
    atomic_store_explicit(&e->op_engine, (uint32_t)op << 8 | engine, memory_order_relaxed);
    atomic_store_explicit(&e->result, result, memory_order_relaxed);
    atomic_store_explicit(&e->seq, 2 * h + 2, memory_order_release);
    atomic_store_explicit(&t->head, h + 1, memory_order_release);
}

PIO_API void pio_telemetry_reset(void)
{
    for (struct tstate *t = atomic_load_explicit(&states, memory_order_acquire); t; t = t->next) {
        for (int o = 0; o < PIO_OP_COUNT; o++)
            for (int g = 0; g < NENG; g++) {
                struct opstat *s = &t->st[o][g];
                atomic_store_explicit(&s->count, 0, memory_order_relaxed);
                atomic_store_explicit(&s->errors, 0, memory_order_relaxed);
                atomic_store_explicit(&s->bytes, 0, memory_order_relaxed);
                atomic_store_explicit(&s->total, 0, memory_order_relaxed);
                atomic_store_explicit(&s->max, 0, memory_order_relaxed);
                for (int b = 0; b < NB; b++)
                    atomic_store_explicit(&s->hist[b], 0, memory_order_relaxed);
            }
        for (int k = 0; k < PIO_TELEMETRY_RING; k++)
            atomic_store_explicit(&t->ring[k].seq, 0, memory_order_relaxed);
    }
}

/* ---- notes (rare: a mutex is fine) ------------------------------------------------- */

#define NNOTES 16
static struct {
    pthread_mutex_t mu;
    char text[NNOTES][192];
    uint64_t count[NNOTES];
    unsigned n;
} notes = {.mu = PTHREAD_MUTEX_INITIALIZER};

PIO_API void pio_telemetry_note(const char *fmt, ...)
{
    if (!pio_telemetry_enabled())
        return;
    char t[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t, sizeof(t), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&notes.mu);
    unsigned k = 0;
    while (k < notes.n && strcmp(notes.text[k], t) != 0)
        k++;
    if (k == notes.n && notes.n < NNOTES)
        memcpy(notes.text[notes.n++], t, sizeof(t));
    if (k < notes.n)
        notes.count[k]++;
    pthread_mutex_unlock(&notes.mu);
}

/* ---- reading ---------------------------------------------------------------------- */

PIO_API void pio_telemetry_stats(enum pio_op op, int engine, struct pio_op_stats *out)
{
    memset(out, 0, sizeof(*out));
    if ((unsigned)op >= PIO_OP_COUNT)
        return;
    static _Thread_local uint64_t hist[NB];
    memset(hist, 0, sizeof(hist));
    for (struct tstate *t = atomic_load_explicit(&states, memory_order_acquire); t; t = t->next)
        for (int g = 0; g < NENG; g++) {
            if (engine >= 0 && g != engine)
                continue;
            struct opstat *s = &t->st[op][g];
            out->count += atomic_load_explicit(&s->count, memory_order_relaxed);
            out->errors += atomic_load_explicit(&s->errors, memory_order_relaxed);
            out->bytes += atomic_load_explicit(&s->bytes, memory_order_relaxed);
            out->total_ns += atomic_load_explicit(&s->total, memory_order_relaxed);
            out->max_ns = PIO_MAX(out->max_ns, atomic_load_explicit(&s->max, memory_order_relaxed));
            for (int b = 0; b < NB; b++)
                hist[b] += atomic_load_explicit(&s->hist[b], memory_order_relaxed);
        }
    uint64_t n = 0;
    for (int b = 0; b < NB; b++)
        n += hist[b];
    const double q[4] = {0.50, 0.90, 0.99, 0.999};
    uint64_t *dst[4] = {&out->p50_ns, &out->p90_ns, &out->p99_ns, &out->p999_ns};
    for (int k = 0; k < 4 && n; k++) {
        /* the value of rank ceil(q n), reported as its bucket's middle */
        uint64_t rank = (uint64_t)(q[k] * (double)n + 0.999999), seen = 0;
        for (unsigned b = 0; b < NB; b++) {
            seen += hist[b];
            if (seen >= rank) {
                uint64_t lo, hi;
                bucket_range(b, &lo, &hi);
                *dst[k] = PIO_MIN(lo + (hi - lo - 1) / 2, out->max_ns);
                break;
            }
        }
    }
}

static void fmt_ns(char *buf, size_t n, uint64_t ns)
{
    if (ns < 10000)
        snprintf(buf, n, "%llu ns", (unsigned long long)ns);
    else if (ns < 10000000)
        snprintf(buf, n, "%.1f us", (double)ns / 1e3);
    else
        snprintf(buf, n, "%.1f ms", (double)ns / 1e6);
}

PIO_API void pio_telemetry_summary(FILE *f, bool json)
{
    bool first = true;
    if (json)
        fputs("{\"ops\":[", f);
    else
        fprintf(f, "%-11s %-6s %9s %10s %9s %9s %9s %9s %9s\n", "operation", "engine", "count",
                "MB", "p50", "p90", "p99", "p99.9", "max");
    for (int o = 0; o < PIO_OP_COUNT; o++)
        for (int g = -1; g < NENG; g++) {
            struct pio_op_stats s;
            pio_telemetry_stats((enum pio_op)o, g, &s);
            if (s.count == 0)
                continue;
            /* engine rows only where an engine was named */
            if (g == -1) {
                struct pio_op_stats z;
                pio_telemetry_stats((enum pio_op)o, 0, &z);
                if (z.count != s.count)
                    continue; /* shown per engine */
            } else if (g == 0) {
                continue;
            }
            const char *eng = g > 0 ? pio__engine_names[g] : "-";
            if (json) {
                fprintf(f,
                        "%s{\"op\":\"%s\",\"engine\":\"%s\",\"count\":%llu,\"errors\":%llu,"
                        "\"bytes\":%llu,\"total_ns\":%llu,\"p50_ns\":%llu,\"p90_ns\":%llu,"
                        "\"p99_ns\":%llu,\"p999_ns\":%llu,\"max_ns\":%llu}",
                        first ? "" : ",", op_names[o], eng, (unsigned long long)s.count,
                        (unsigned long long)s.errors, (unsigned long long)s.bytes,
                        (unsigned long long)s.total_ns, (unsigned long long)s.p50_ns,
                        (unsigned long long)s.p90_ns, (unsigned long long)s.p99_ns,
                        (unsigned long long)s.p999_ns, (unsigned long long)s.max_ns);
            } else {
                char p[5][24];
                uint64_t v[5] = {s.p50_ns, s.p90_ns, s.p99_ns, s.p999_ns, s.max_ns};
                for (int k = 0; k < 5; k++)
                    fmt_ns(p[k], sizeof(p[k]), v[k]);
                fprintf(f, "%-11s %-6s %9llu %10.1f %9s %9s %9s %9s %9s%s\n", op_names[o], eng,
                        (unsigned long long)s.count, (double)s.bytes / 1e6, p[0], p[1], p[2], p[3],
                        p[4], s.errors ? "  (errors)" : "");
            }
            first = false;
        }
    pthread_mutex_lock(&notes.mu);
    if (json) {
        fputs("],\"notes\":[", f);
        for (unsigned k = 0; k < notes.n; k++) {
            fprintf(f, "%s{\"count\":%llu,\"text\":\"", k ? "," : "",
                    (unsigned long long)notes.count[k]);
            for (const char *c = notes.text[k]; *c; c++)
                fprintf(f,
                        (*c == '"' || *c == '\\') ? "\\%c"
                        : (unsigned char)*c < 32  ? "?"
                                                  : "%c",
                        *c);
            fputs("\"}", f);
        }
        fputs("]}\n", f);
    } else {
        if (first)
            fputs("(no operations recorded)\n", f);
        for (unsigned k = 0; k < notes.n; k++)
            fprintf(f, "note (x%llu): %s\n", (unsigned long long)notes.count[k], notes.text[k]);
    }
    pthread_mutex_unlock(&notes.mu);
}

/* Visit every recorded event still in a ring (stable slots only). */
static void each_event(void (*fn)(void *, const struct ev *, uint64_t ts), void *ctx)
{
    for (struct tstate *t = atomic_load_explicit(&states, memory_order_acquire); t; t = t->next) {
        uint64_t h = atomic_load_explicit(&t->head, memory_order_acquire);
        uint64_t from = h > PIO_TELEMETRY_RING ? h - PIO_TELEMETRY_RING : 0;
        for (uint64_t k = from; k < h; k++) {
            struct ev *e = &t->ring[k % PIO_TELEMETRY_RING];
            /* acquire: pairs with the writer's release of seq */
            if (atomic_load_explicit(&e->seq, memory_order_acquire) != 2 * k + 2)
                continue; /* overwritten since, or being written */
            uint64_t ts = atomic_load_explicit(&e->ts, memory_order_relaxed);
            fn(ctx, e, ts);
        }
    }
}

struct trace_ctx {
    FILE *f;
    bool first;
};

static void trace_event(void *p, const struct ev *e, uint64_t ts)
{
    struct trace_ctx *c = p;
    uint32_t oe = atomic_load_explicit(&e->op_engine, memory_order_relaxed);
    unsigned op = oe >> 8, eng = oe & 0xff;
    uint64_t frame = atomic_load_explicit(&e->frame, memory_order_relaxed);
    fprintf(c->f,
            "%s\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%d,"
            "\"tid\":%u,\"args\":{\"file\":%llu,\"frame\":%lld,\"bytes\":%llu,\"result\":%d}}",
            c->first ? "" : ",", op < PIO_OP_COUNT ? op_names[op] : "?",
            eng && eng < NENG ? pio__engine_names[eng] : "prismio", (double)ts / 1e3,
            (double)atomic_load_explicit(&e->dur, memory_order_relaxed) / 1e3, (int)getpid(),
            atomic_load_explicit(&e->tid, memory_order_relaxed),
            (unsigned long long)atomic_load_explicit(&e->file, memory_order_relaxed),
            frame == UINT64_MAX ? -1LL : (long long)frame,
            (unsigned long long)atomic_load_explicit(&e->bytes, memory_order_relaxed),
            atomic_load_explicit(&e->result, memory_order_relaxed));
    c->first = false;
}

PIO_API int pio_telemetry_write_trace(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", f);
    struct trace_ctx c = {f, true};
    each_event(trace_event, &c);
    fputs("\n]}\n", f);
    return fclose(f) == 0 ? 0 : -errno;
}

/* ---- the dump: async-signal-safe (open, write, no allocation, no stdio) ---------------- */

struct sbuf {
    int fd;
    char b[512];
    size_t n;
};

static void s_flush(struct sbuf *s)
{
    size_t off = 0;
    while (off < s->n) {
        ssize_t w = write(s->fd, s->b + off, s->n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    s->n = 0;
}

static void s_str(struct sbuf *s, const char *t)
{
    for (; *t; t++) {
        if (s->n == sizeof(s->b))
            s_flush(s);
        s->b[s->n++] = *t;
    }
}

static void s_u64(struct sbuf *s, uint64_t v)
{
    char d[24];
    int k = 0;
    do
        d[k++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    char out[24];
    for (int i = 0; i < k; i++)
        out[i] = d[k - 1 - i];
    out[k] = '\0';
    s_str(s, out);
}

static void s_i64(struct sbuf *s, int64_t v)
{
    if (v < 0) {
        s_str(s, "-");
        s_u64(s, (uint64_t)0 - (uint64_t)v);
    } else {
        s_u64(s, (uint64_t)v);
    }
}

static void dump_event(void *p, const struct ev *e, uint64_t ts)
{
    struct sbuf *s = p;
    uint32_t oe = atomic_load_explicit(&e->op_engine, memory_order_relaxed);
    unsigned op = oe >> 8, eng = oe & 0xff;
    s_str(s, "event ts_ns=");
    s_u64(s, ts);
    s_str(s, " tid=");
    s_u64(s, atomic_load_explicit(&e->tid, memory_order_relaxed));
    s_str(s, " op=");
    s_str(s, op < PIO_OP_COUNT ? op_names[op] : "?");
    s_str(s, " engine=");
    s_str(s, eng && eng < NENG ? pio__engine_names[eng] : "-");
    s_str(s, " file=");
    s_u64(s, atomic_load_explicit(&e->file, memory_order_relaxed));
    s_str(s, " frame=");
    uint64_t fr = atomic_load_explicit(&e->frame, memory_order_relaxed);
    s_i64(s, fr == UINT64_MAX ? -1 : (int64_t)fr);
    s_str(s, " bytes=");
    s_u64(s, atomic_load_explicit(&e->bytes, memory_order_relaxed));
    s_str(s, " dur_ns=");
    s_u64(s, atomic_load_explicit(&e->dur, memory_order_relaxed));
    s_str(s, " result=");
    s_i64(s, atomic_load_explicit(&e->result, memory_order_relaxed));
    s_str(s, "\n");
}

static int dump_fd(int fd, int sig)
{
    struct sbuf s = {.fd = fd};
    s_str(&s, "prismio flight recorder dump, pid ");
    s_u64(&s, (uint64_t)getpid());
    if (sig) {
        s_str(&s, ", signal ");
        s_u64(&s, (uint64_t)sig);
    }
    s_str(&s, "\n");
    for (struct tstate *t = atomic_load_explicit(&states, memory_order_acquire); t; t = t->next)
        for (int o = 0; o < PIO_OP_COUNT; o++)
            for (int g = 0; g < NENG; g++) {
                struct opstat *st = &t->st[o][g];
                uint64_t c = atomic_load_explicit(&st->count, memory_order_relaxed);
                if (!c)
                    continue;
                s_str(&s, "counter op=");
                s_str(&s, op_names[o]);
                s_str(&s, " engine=");
                s_str(&s, g ? pio__engine_names[g] : "-");
                s_str(&s, " count=");
                s_u64(&s, c);
                s_str(&s, " errors=");
                s_u64(&s, atomic_load_explicit(&st->errors, memory_order_relaxed));
                s_str(&s, " bytes=");
                s_u64(&s, atomic_load_explicit(&st->bytes, memory_order_relaxed));
                s_str(&s, " total_ns=");
                s_u64(&s, atomic_load_explicit(&st->total, memory_order_relaxed));
                s_str(&s, " max_ns=");
                s_u64(&s, atomic_load_explicit(&st->max, memory_order_relaxed));
                s_str(&s, "\n");
            }
    each_event(dump_event, &s);
    s_str(&s, "end\n");
    s_flush(&s);
    return 0;
}

PIO_API int pio_telemetry_dump(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    dump_fd(fd, 0);
    return close(fd) == 0 ? 0 : -errno;
}

static char crash_path[4096];

static void on_signal(int sig)
{
    int saved = errno;
    int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dump_fd(fd, sig);
        close(fd);
    }
    errno = saved;
    if (sig != SIGUSR1) /* SA_RESETHAND restored the default: die of it */
        raise(sig);
}

PIO_API int pio_telemetry_install_crash_handler(const char *path, bool on_sigusr1)
{
    size_t n = strlen(path);
    if (n >= sizeof(crash_path))
        return -ENAMETOOLONG;
    memcpy(crash_path, path, n + 1);
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE};
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (size_t k = 0; k < PIO_ARRAY_LEN(sigs); k++)
        if (sigaction(sigs[k], &sa, NULL) != 0)
            return -errno;
    if (on_sigusr1) {
        sa.sa_flags = SA_RESTART;
        if (sigaction(SIGUSR1, &sa, NULL) != 0)
            return -errno;
    }
    return 0;
}
