/*
 * io: remote objects through libcurl (see io_remote.h for the contract).
 *
 * Every read is one transfer on an easy handle of a batch (a curl multi
 * handle with a few easy handles): the multi handle keeps connections alive
 * between transfers (HTTP/1.1 keep-alive; HTTP/2 where TLS offers it), and
 * a remote keeps its idle batches, so reads from one thread after another
 * reuse connections. A transfer's body goes straight into the caller's
 * buffer, bounded by the range asked for; its answer is checked before the
 * bytes are handed on.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "io/pio_io.h"

#include "common/pio_common.h"

#define OFFX(o)      ((unsigned long long)(o))
#define IDLE_BATCHES 4
#define SYNC_DEPTH   4

struct pio_remote {
    char *url;      /* as given (messages) */
    char *http_url; /* what is requested */
    bool s3;
    char *sigv4; /* "aws:amz:REGION:s3", or NULL: unsigned */
    char *user, *secret;
    struct curl_slist *hdrs; /* If-Match, x-amz-security-token */
    char *token_hdr;
    const char *ca_bundle; /* PIO_REMOTE_CA_BUNDLE, CURL_CA_BUNDLE or SSL_CERT_FILE */
    uint64_t size;
    char etag[128];
    uint8_t *head; /* what the open read: the first head_len bytes */
    uint64_t head_len;
    unsigned retries;
    long timeout_ms, backoff_ms;
    _Atomic uint64_t requests, bytes, nretries;
    pthread_mutex_t lock;
    pio_remote_batch *idle[IDLE_BATCHES];
    unsigned nidle;
};

/* one transfer */
struct xfer {
    CURL *h;
    pio_remote_batch *b;
    uint64_t tag, off, len, got;
    uint8_t *dst;
    bool first; /* open: "bytes=0-(len-1)"; the object's size from the answer */
    bool active, waiting;
    unsigned attempt;
    double retry_at;
    int fail; /* set by the callbacks: stop, and report this */
    char fail_msg[160];
    bool have_cr;
    uint64_t cr_start, cr_end, cr_total;
    char etag[128];
    char ebody[200]; /* the start of an error answer's body (S3 names the error there) */
    size_t nebody;
    char range[64];
    char errbuf[CURL_ERROR_SIZE];
};

struct pio_remote_batch {
    pio_remote *rm;
    CURLM *multi;
    struct xfer *x;
    unsigned depth, active;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long env_long(const char *name, long def, long lo, long hi)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi)
        return def;
    return n;
}

/* ---- SHA-256 (FIPS 180-4): S3's payload hashes (x-amz-content-sha256) ---- */

struct sha256 {
    uint32_t h[8];
    uint8_t buf[64];
    uint64_t len;
    size_t n;
};

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_block(struct sha256 *s, const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5],
             g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha256_k[i] + w[i];
        uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
    s->h[5] += f;
    s->h[6] += g;
    s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof(iv));
    s->len = 0;
    s->n = 0;
}

static void sha256_update(struct sha256 *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    s->len += len;
    if (s->n) {
        size_t k = PIO_MIN(len, 64 - s->n);
        memcpy(s->buf + s->n, p, k);
        s->n += k;
        p += k;
        len -= k;
        if (s->n < 64)
            return;
        sha256_block(s, s->buf);
        s->n = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        sha256_block(s, p);
    memcpy(s->buf, p, len);
    s->n = len;
}

static void sha256_final(struct sha256 *s, uint8_t out[32])
{
    uint64_t bits = s->len * 8;
    uint8_t pad[72] = {0x80};
    size_t k = (s->n < 56 ? 56 - s->n : 120 - s->n);
    for (int i = 0; i < 8; i++)
        pad[k + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, pad, k + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

/* The hex SHA-256 of data (65 bytes with the NUL). */
static void sha256_hex(const void *data, size_t len, char hex[65])
{
    struct sha256 s;
    uint8_t d[32];
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final(&s, d);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", d[i]);
}

/* ---- URLs and S3 settings ---- */

static char *dupf(const char *fmt, ...) PIO_PRINTF(1, 2);
static char *dupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* The key percent-encoded for a URL path ('/' kept). */
static char *encode_key(const char *key)
{
    size_t n = strlen(key);
    char *o = malloc(3 * n + 1), *p = o;
    if (!o)
        return NULL;
    for (const unsigned char *k = (const unsigned char *)key; *k; k++) {
        if (isalnum(*k) || *k == '-' || *k == '_' || *k == '.' || *k == '~' || *k == '/')
            *p++ = (char)*k;
        else
            p += sprintf(p, "%%%02X", *k);
    }
    *p = 0;
    return o;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    size_t i = 0;
    while (isspace((unsigned char)s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

/* `key` of section [profile] (config files name it "profile NAME") of an
 * AWS INI file, or NULL. */
static char *ini_get(const char *file, const char *profile, bool config, const char *key)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return NULL;
    char line[1024], want[300], *val = NULL;
    if (config && strcmp(profile, "default") != 0)
        snprintf(want, sizeof(want), "profile %s", profile);
    else
        snprintf(want, sizeof(want), "%s", profile);
    bool in = false;
    while (!val && fgets(line, sizeof(line), f)) {
        trim(line);
        if (line[0] == '[') {
            char *e = strchr(line, ']');
            if (e) {
                *e = 0;
                trim(line + 1);
                in = strcmp(line + 1, want) == 0;
            }
            continue;
        }
        char *eq = strchr(line, '=');
        if (!in || !eq)
            continue;
        *eq = 0;
        trim(line);
        trim(eq + 1);
        if (strcmp(line, key) == 0)
            val = strdup(eq + 1);
    }
    fclose(f);
    return val;
}

static char *aws_setting(const char *env, const char *env2, const char *key, bool config)
{
    const char *v = getenv(env);
    if ((!v || !*v) && env2)
        v = getenv(env2);
    if (v && *v)
        return strdup(v);
    const char *home = getenv("HOME");
    const char *profile = getenv("AWS_PROFILE");
    if (!profile || !*profile)
        profile = "default";
    const char *file = getenv(config ? "AWS_CONFIG_FILE" : "AWS_SHARED_CREDENTIALS_FILE");
    char path[1024];
    if (!file || !*file) {
        if (!home)
            return NULL;
        snprintf(path, sizeof(path), "%s/.aws/%s", home, config ? "config" : "credentials");
        file = path;
    }
    return ini_get(file, profile, config, key);
}

static int resolve_url(pio_remote *rm, struct pio_error *err)
{
    const char *u = rm->url;
    if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) {
        rm->http_url = strdup(u);
        return rm->http_url ? 0 : pio_error_set(err, -ENOMEM, "%s: out of memory", u);
    }
    if (strncmp(u, "s3://", 5) != 0)
        return pio_error_set(err, PIO_EUSAGE, "%s: not an http://, https:// or s3:// URL", u);
    const char *b = u + 5, *slash = strchr(b, '/');
    if (!slash || slash == b || !slash[1])
        return pio_error_set(err, PIO_EUSAGE, "%s: an S3 URL is s3://BUCKET/KEY", u);
    rm->s3 = true;
    char *bucket = strndup(b, (size_t)(slash - b)), *key = encode_key(slash + 1);
    char *region = aws_setting("AWS_REGION", "AWS_DEFAULT_REGION", "region", true);
    const char *ep = getenv("PIO_S3_ENDPOINT");
    if (!ep || !*ep)
        ep = getenv("AWS_ENDPOINT_URL_S3");
    if (!ep || !*ep)
        ep = getenv("AWS_ENDPOINT_URL");
    int rc = 0;
    if (!bucket || !key) {
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", u);
    } else {
        const char *reg = region ? region : "us-east-1";
        size_t el = ep ? strlen(ep) : 0;
        while (el && ep[el - 1] == '/')
            el--;
        rm->http_url = ep ? dupf("%.*s/%s/%s", (int)el, ep, bucket, key)
                          : dupf("https://%s.s3.%s.amazonaws.com/%s", bucket, reg, key);
        rm->sigv4 = dupf("aws:amz:%s:s3", reg);
        rm->user = aws_setting("AWS_ACCESS_KEY_ID", NULL, "aws_access_key_id", false);
        rm->secret = aws_setting("AWS_SECRET_ACCESS_KEY", NULL, "aws_secret_access_key", false);
        char *tok = aws_setting("AWS_SESSION_TOKEN", NULL, "aws_session_token", false);
        if (tok) {
            rm->token_hdr = dupf("x-amz-security-token: %s", tok);
            free(tok);
        }
        if (!rm->user || !rm->secret) { /* anonymous: unsigned requests */
            free(rm->sigv4);
            rm->sigv4 = NULL;
        }
        if (!rm->http_url)
            rc = pio_error_set(err, -ENOMEM, "%s: out of memory", u);
    }
    free(bucket);
    free(key);
    free(region);
    return rc;
}

/* ---- transfers ---- */

/* Digits at *s (no sign, no space, no overflow): true with *out and *s
 * past them. */
static bool parse_u64(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *s = p;
    *out = v;
    return true;
}

static size_t on_header(char *p, size_t sz, size_t n, void *u)
{
    struct xfer *x = u;
    size_t len = sz * n;
    char line[512];
    size_t l = PIO_MIN(len, sizeof(line) - 1);
    memcpy(line, p, l);
    line[l] = 0;
    trim(line);
    if (strncmp(line, "HTTP/", 5) == 0) { /* a new answer (after a 100 or a redirect) */
        x->have_cr = false;
        x->etag[0] = 0;
        return len;
    }
    char *colon = strchr(line, ':');
    if (!colon)
        return len;
    *colon = 0;
    char *v = colon + 1;
    trim(v);
    if (strcasecmp(line, "content-range") == 0) {
        uint64_t a = 0, b = 0, t = 0;
        const char *q = v;
        x->have_cr = strncmp(q, "bytes ", 6) == 0 && (q += 6, parse_u64(&q, &a)) && *q++ == '-' &&
                     parse_u64(&q, &b) && *q++ == '/' && parse_u64(&q, &t) && !*q && a <= b &&
                     b < t && t <= ((uint64_t)1 << 62);
        x->cr_start = a;
        x->cr_end = b;
        x->cr_total = t;
    } else if (strcasecmp(line, "etag") == 0) {
        snprintf(x->etag, sizeof(x->etag), "%s", v);
    }
    return len;
}

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
    struct xfer *x = u;
    size_t len = sz * n;
    long code = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 206) {
        if (code == 200) {
            x->fail = PIO_EREMOTE;
            snprintf(x->fail_msg, sizeof(x->fail_msg),
                     "the server answered a range request with the whole object (HTTP 200): "
                     "it does not serve ranges");
            return 0;
        }
        size_t k = PIO_MIN(len, sizeof(x->ebody) - 1 - x->nebody);
        memcpy(x->ebody + x->nebody, p, k);
        x->nebody += k;
        x->ebody[x->nebody] = 0;
        return len;
    }
    if (x->got + len > x->len) {
        x->fail = PIO_EREMOTE;
        snprintf(x->fail_msg, sizeof(x->fail_msg),
                 "the server sent more than the %llu bytes asked for", OFFX(x->len));
        return 0;
    }
    memcpy(x->dst + x->got, p, len);
    x->got += len;
    return len;
}

static void xfer_setup(struct xfer *x, pio_remote *rm)
{
    CURL *h = x->h;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, rm->http_url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, rm->s3 ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, rm->timeout_ms);
    /* a transfer that stalls (under 1 KiB a second) for the timeout fails:
     * a trickle must not hold a reader for days */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, PIO_MAX(1L, (rm->timeout_ms + 999) / 1000));
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L << 10);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (rm->ca_bundle)
        curl_easy_setopt(h, CURLOPT_CAINFO, rm->ca_bundle);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(h, CURLOPT_PRIVATE, x);
    if (rm->hdrs)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, rm->hdrs);
    if (rm->sigv4) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, rm->sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, rm->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, rm->secret);
    }
    snprintf(x->range, sizeof(x->range), "%llu-%llu", OFFX(x->off), OFFX(x->off + x->len - 1));
    curl_easy_setopt(h, CURLOPT_RANGE, x->range);
    x->got = 0;
    x->fail = 0;
    x->fail_msg[0] = 0;
    x->have_cr = false;
    x->etag[0] = 0;
    x->nebody = 0;
    x->ebody[0] = 0;
    x->errbuf[0] = 0;
}

static const char *range_text(const struct xfer *x, char *buf, size_t cap)
{
    if (x->first)
        snprintf(buf, cap, "the first %llu bytes", OFFX(x->len));
    else
        snprintf(buf, cap, "bytes 0x%llx-0x%llx", OFFX(x->off), OFFX(x->off + x->len - 1));
    return buf;
}

/* What the answer to x means: 0 (the bytes are right), or an error with
 * *retry saying whether another try may succeed. */
static int judge(struct xfer *x, CURLcode res, bool *retry, struct pio_error *err)
{
    pio_remote *rm = x->b->rm;
    char rt[80];
    range_text(x, rt, sizeof(rt));
    *retry = false;
    long code = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    if (x->fail) {
        *retry = x->fail != PIO_EREMOTE || strstr(x->fail_msg, "more than") != NULL;
        return pio_error_set(err, x->fail, "%s: %s: %s", rm->url, rt, x->fail_msg);
    }
    if (res != CURLE_OK) {
        int rc = PIO_EREMOTE;
        switch (res) {
        case CURLE_COULDNT_CONNECT:
            rc = -ECONNREFUSED;
            *retry = true;
            break;
        case CURLE_OPERATION_TIMEDOUT:
            rc = -ETIMEDOUT;
            *retry = true;
            break;
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
            rc = -ECONNRESET;
            *retry = true;
            break;
        case CURLE_COULDNT_RESOLVE_HOST:
            rc = -EHOSTUNREACH;
            break;
        default:
            break;
        }
        return pio_error_set(err, rc, "%s: %s: %s", rm->url, rt,
                             x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
    }
    if (code != 206) {
        int rc = PIO_EREMOTE;
        const char *why = "unexpected answer";
        if (code == 404) {
            rc = -ENOENT;
            why = "not found";
        } else if (code == 401 || code == 403) {
            rc = -EACCES;
            why = "access denied (credentials?)";
        } else if (code == 412) {
            rc = -ESTALE;
            why = "the object changed since it was opened (ETag differs)";
        } else if (code == 416) {
            rc = -ESTALE;
            why = "range not satisfiable: the object is shorter than when opened";
        } else if (code == 408 || code == 429 || code >= 500) {
            rc = -EIO;
            why = "server error";
            *retry = true;
        }
        /* S3 names the error in its body: <Code>NoSuchBucket</Code> */
        char s3code[64] = "";
        const char *c = strstr(x->ebody, "<Code>");
        if (c) {
            c += 6;
            const char *e = strstr(c, "</Code>");
            if (e && e - c < (ptrdiff_t)sizeof(s3code))
                snprintf(s3code, sizeof(s3code), " %.*s", (int)(e - c), c);
        }
        return pio_error_set(err, rc, "%s: %s: HTTP %ld%s: %s", rm->url, rt, code, s3code, why);
    }
    if (!x->have_cr) {
        *retry = true;
        return pio_error_set(err, PIO_EREMOTE, "%s: %s: a 206 answer without a Content-Range",
                             rm->url, rt);
    }
    if (x->first) {
        uint64_t want = PIO_MIN(x->len, x->cr_total);
        if (x->cr_start != 0 || x->cr_end + 1 != want) {
            *retry = true;
            return pio_error_set(
                err, PIO_EREMOTE,
                "%s: %s: the server sent bytes %llu-%llu/%llu instead (wrong range)", rm->url, rt,
                OFFX(x->cr_start), OFFX(x->cr_end), OFFX(x->cr_total));
        }
    } else if (x->cr_start != x->off || x->cr_end != x->off + x->len - 1 ||
               x->cr_total != rm->size) {
        *retry = x->cr_total == rm->size; /* (a new size: the object changed) */
        if (x->cr_total != rm->size)
            return pio_error_set(err, -ESTALE,
                                 "%s: %s: the object is now %llu bytes, not %llu (changed since "
                                 "it was opened)",
                                 rm->url, rt, OFFX(x->cr_total), OFFX(rm->size));
        return pio_error_set(err, PIO_EREMOTE,
                             "%s: %s: the server sent bytes 0x%llx-0x%llx instead (wrong range)",
                             rm->url, rt, OFFX(x->cr_start), OFFX(x->cr_end));
    }
    uint64_t expect = x->cr_end - x->cr_start + 1;
    if (x->got != expect) {
        *retry = true;
        return pio_error_set(err, PIO_EREMOTE, "%s: %s: short body: %llu of %llu bytes", rm->url,
                             rt, OFFX(x->got), OFFX(expect));
    }
    if (!x->first && rm->etag[0] && !x->etag[0])
        return pio_error_set(err, PIO_EREMOTE,
                             "%s: %s: an answer without the ETag the object had when opened (%s): "
                             "whether it changed cannot be told",
                             rm->url, rt, rm->etag);
    if (!x->first && rm->etag[0] && x->etag[0] && strcmp(rm->etag, x->etag) != 0)
        return pio_error_set(err, -ESTALE,
                             "%s: %s: the object changed since it was opened (ETag %s, was %s)",
                             rm->url, rt, x->etag, rm->etag);
    return 0;
}

/* ---- batches ---- */

int pio__remote_batch_open(pio_remote_batch **out, pio_remote *rm, unsigned depth)
{
    *out = NULL;
    pio_remote_batch *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->rm = rm;
    b->depth = depth ? depth : 1;
    b->x = calloc(b->depth, sizeof(*b->x));
    b->multi = curl_multi_init();
    if (!b->x || !b->multi)
        goto oom;
    curl_multi_setopt(b->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS, (long)b->depth + 2);
    for (unsigned i = 0; i < b->depth; i++) {
        b->x[i].b = b;
        if (!(b->x[i].h = curl_easy_init()))
            goto oom;
    }
    *out = b;
    return 0;
oom:
    pio__remote_batch_close(b);
    return -ENOMEM;
}

void pio__remote_batch_close(pio_remote_batch *b)
{
    if (!b)
        return;
    for (unsigned i = 0; b->x && i < b->depth; i++) {
        if (b->x[i].active && !b->x[i].waiting)
            curl_multi_remove_handle(b->multi, b->x[i].h);
        if (b->x[i].h)
            curl_easy_cleanup(b->x[i].h);
    }
    if (b->multi)
        curl_multi_cleanup(b->multi);
    free(b->x);
    free(b);
}

static int start(struct xfer *x)
{
    pio_remote *rm = x->b->rm;
    xfer_setup(x, rm);
    x->waiting = false;
    atomic_fetch_add_explicit(&rm->requests, 1, memory_order_relaxed);
    return curl_multi_add_handle(x->b->multi, x->h) == CURLM_OK ? 0 : -ENOMEM;
}

static int batch_add(pio_remote_batch *b, uint64_t tag, uint64_t off, uint64_t len, uint8_t *dst,
                     bool first)
{
    for (unsigned i = 0; i < b->depth; i++) {
        struct xfer *x = &b->x[i];
        if (x->active)
            continue;
        x->tag = tag;
        x->off = off;
        x->len = len;
        x->dst = dst;
        x->first = first;
        x->attempt = 0;
        x->active = true;
        int rc = start(x);
        if (rc != 0) {
            x->active = false;
            return rc;
        }
        b->active++;
        return 0;
    }
    return PIO_EUSAGE;
}

int pio__remote_batch_add(pio_remote_batch *b, uint64_t tag, uint64_t off, uint64_t len,
                          uint8_t *dst)
{
    if (len == 0 || off > b->rm->size || len > b->rm->size - off)
        return PIO_EUSAGE;
    return batch_add(b, tag, off, len, dst, false);
}

int pio__remote_batch_next(pio_remote_batch *b, bool wait, uint64_t *tag, int *rc,
                           struct pio_error *err)
{
    pio_remote *rm = b->rm;
    for (;;) {
        if (b->active == 0)
            return 0;
        /* a completed transfer? */
        int left;
        CURLMsg *m;
        while ((m = curl_multi_info_read(b->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode res = m->data.result;
            curl_multi_remove_handle(b->multi, x->h);
            atomic_fetch_add_explicit(&rm->bytes, x->got, memory_order_relaxed);
            bool retry;
            int r = judge(x, res, &retry, err);
            if (r != 0 && retry && x->attempt < rm->retries) {
                x->attempt++;
                atomic_fetch_add_explicit(&rm->nretries, 1, memory_order_relaxed);
                x->waiting = true;
                x->retry_at = now_s() + (double)(rm->backoff_ms << (x->attempt - 1)) / 1000.0;
                continue;
            }
            if (r != 0 && x->attempt > 0 && err) {
                char more[64];
                snprintf(more, sizeof(more), " (after %u tries)", x->attempt + 1);
                size_t used = strlen(err->message);
                snprintf(err->message + used, sizeof(err->message) - used, "%s", more);
            }
            x->active = false;
            b->active--;
            *tag = x->tag;
            *rc = r;
            return 1;
        }
        /* start retries that are due; how long until the next */
        double now = now_s(), next_retry = 0;
        unsigned running = 0;
        for (unsigned i = 0; i < b->depth; i++) {
            struct xfer *x = &b->x[i];
            if (!x->active)
                continue;
            if (x->waiting && x->retry_at <= now) {
                int r = start(x);
                if (r != 0) {
                    x->active = false;
                    x->waiting = false;
                    b->active--;
                    *tag = x->tag;
                    *rc = pio_error_set(err, r, "%s: out of memory", rm->url);
                    return 1;
                }
            }
            if (x->waiting) {
                if (next_retry == 0 || x->retry_at < next_retry)
                    next_retry = x->retry_at;
            } else {
                running++;
            }
        }
        int still = 0;
        if (running)
            curl_multi_perform(b->multi, &still);
        m = NULL;
        if (running && still == (int)running) {
            if (!wait)
                return -EAGAIN;
            int ms = 1000;
            if (next_retry > 0)
                ms = (int)PIO_MAX(1.0, (next_retry - now) * 1000.0);
            curl_multi_poll(b->multi, NULL, 0, ms, NULL);
        } else if (!running) {
            if (!wait)
                return -EAGAIN;
            double d = next_retry - now;
            if (d > 0) {
                struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
    }
}

static int remote_new(pio_remote **out, const char *url, struct pio_error *err);

/* ---- S3 multipart upload ---- */

/* An answer's body, kept whole (S3's XML: UploadId, errors), up to 64 KiB. */
struct body {
    char *p;
    size_t n;
};

static size_t on_body_keep(char *p, size_t sz, size_t n, void *u)
{
    struct body *b = u;
    size_t len = sz * n, k = PIO_MIN(len, ((size_t)64 << 10) - b->n);
    char *q = realloc(b->p, b->n + k + 1);
    if (!q)
        return 0;
    b->p = q;
    memcpy(b->p + b->n, p, k);
    b->n += k;
    b->p[b->n] = 0;
    return len;
}

/* The text between <tag> and </tag> in xml, into out (cap bytes), or "". */
static const char *xml_get(const char *xml, const char *tag, char *out, size_t cap)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = xml ? strstr(xml, open) : NULL, *b = a ? strstr(a, close) : NULL;
    out[0] = 0;
    if (a && b) {
        a += strlen(open);
        snprintf(out, cap, "%.*s", (int)PIO_MIN((size_t)(b - a), cap - 1), a);
    }
    return out;
}

struct up {
    pio_remote *rm;
    CURL *h;
    char upload_id[512];
    char etag[128]; /* of the last part */
};

/* One request of an upload: method, "?query", body (NULL: none); its answer
 * in *ans. Retried as reads are; 0 or the error (err: URL, what). */
static int up_request(struct up *u, const char *method, const char *query, const uint8_t *data,
                      size_t len, const char *what, struct body *ans, struct pio_error *err)
{
    pio_remote *rm = u->rm;
    char sha[65], hdr[96];
    char *url = dupf("%s%s", rm->http_url, query); /* (never cut: a cut query is another request) */
    if (!url)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", rm->url);
    sha256_hex(data ? (const void *)data : "", data ? len : 0, sha);
    snprintf(hdr, sizeof(hdr), "x-amz-content-sha256: %s", sha);
    int rc = 0;
    for (unsigned attempt = 0;; attempt++) {
        struct curl_slist *hl = NULL, *t;
        if (rm->token_hdr && (t = curl_slist_append(hl, rm->token_hdr)))
            hl = t;
        if ((t = curl_slist_append(hl, hdr)))
            hl = t;
        if ((t = curl_slist_append(hl, "Expect:"))) /* (no 100-continue round trip) */
            hl = t;
        CURL *h = u->h;
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (data || strcmp(method, "POST") == 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, data ? (const char *)data : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(data ? len : 0));
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, rm->timeout_ms);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, PIO_MAX(1L, (rm->timeout_ms + 999) / 1000));
        if (rm->ca_bundle)
            curl_easy_setopt(h, CURLOPT_CAINFO, rm->ca_bundle);
        if (rm->sigv4) {
            curl_easy_setopt(h, CURLOPT_AWS_SIGV4, rm->sigv4);
            curl_easy_setopt(h, CURLOPT_USERNAME, rm->user);
            curl_easy_setopt(h, CURLOPT_PASSWORD, rm->secret);
        }
        struct xfer x = {0};
        x.h = h;
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        free(ans->p);
        *ans = (struct body){0};
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body_keep);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, ans);
        char ebuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
        atomic_fetch_add_explicit(&rm->requests, 1, memory_order_relaxed);
        CURLcode res = curl_easy_perform(h);
        curl_slist_free_all(hl);
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        char s3code[64];
        xml_get(ans->p, "Code", s3code, sizeof(s3code));
        bool retry = false;
        if (res != CURLE_OK) {
            retry = res != CURLE_COULDNT_RESOLVE_HOST;
            rc = res == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
                 : res == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
                                                 : -ECONNRESET;
            pio_error_set(err, rc, "%s: %s: %s", rm->url, what,
                          ebuf[0] ? ebuf : curl_easy_strerror(res));
        } else if (code / 100 == 2 && !s3code[0]) {
            snprintf(u->etag, sizeof(u->etag), "%s", x.etag);
            free(url);
            return 0;
        } else {
            /* (S3 may answer 200 with an error in the body: also retried) */
            retry = code == 408 || code == 429 || code >= 500 || code / 100 == 2;
            rc = code == 404                  ? -ENOENT
                 : code == 401 || code == 403 ? -EACCES
                 : retry                      ? -EIO
                                              : PIO_EREMOTE;
            pio_error_set(err, rc, "%s: %s: HTTP %ld%s%s", rm->url, what, code,
                          s3code[0] ? " " : "", s3code);
        }
        if (!retry || attempt >= rm->retries) {
            if (attempt > 0 && err) {
                size_t used = strlen(err->message);
                snprintf(err->message + used, sizeof(err->message) - used, " (after %u tries)",
                         attempt + 1);
            }
            break;
        }
        atomic_fetch_add_explicit(&rm->nretries, 1, memory_order_relaxed);
        long ms = rm->backoff_ms << attempt;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    free(url);
    return rc;
}

/* Parts go up on UP_THREADS threads, each with its own handle (its own
 * connection) and a part's buffer: memory UP_THREADS x the part size. */
#define UP_THREADS 4
struct parts {
    pio_remote *rm;
    const char *url, *id;
    int fd;
    uint64_t size, part, nparts, next;
    char (*etags)[128];
    pthread_mutex_t lock; /* next, rc, err */
    int rc;
    struct pio_error err;
};

static void *part_main(void *arg)
{
    struct parts *ps = arg;
    struct up u = {.rm = ps->rm, .h = curl_easy_init()};
    struct body ans = {0};
    uint8_t *buf = malloc((size_t)PIO_MIN(ps->part, ps->size));
    struct pio_error e = {0};
    int rc = u.h && buf ? 0 : pio_error_set(&e, -ENOMEM, "%s: out of memory", ps->url);
    for (;;) {
        pthread_mutex_lock(&ps->lock);
        if (rc != 0 && ps->rc == 0) {
            ps->rc = rc;
            ps->err = e;
        }
        uint64_t k = ps->rc == 0 ? ps->next++ : ps->nparts;
        pthread_mutex_unlock(&ps->lock);
        if (k >= ps->nparts)
            break;
        uint64_t off = k * ps->part, len = PIO_MIN(ps->part, ps->size - off);
        for (uint64_t got = 0; got < len && rc == 0;) {
            ssize_t n = pread(ps->fd, buf + got, (size_t)(len - got), (off_t)(off + got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                rc = pio_error_set(&e, n < 0 ? -errno : PIO_ETRUNCATED,
                                   "%s: reading what to upload at offset 0x%llx: %s", ps->url,
                                   OFFX(off + got), n < 0 ? pio_strerror(-errno) : "end of file");
            got += n > 0 ? (uint64_t)n : 0;
        }
        char q[2048], what[96];
        snprintf(q, sizeof(q), "?partNumber=%llu&uploadId=%s", OFFX(k + 1), ps->id);
        snprintf(what, sizeof(what), "part %llu of %llu (bytes 0x%llx-0x%llx)", OFFX(k + 1),
                 OFFX(ps->nparts), OFFX(off), OFFX(off + len - 1));
        if (rc == 0)
            rc = up_request(&u, "PUT", q, buf, (size_t)len, what, &ans, &e);
        if (rc == 0 && !u.etag[0])
            rc = pio_error_set(&e, PIO_EREMOTE, "%s: %s: no ETag in the answer", ps->url, what);
        if (rc == 0)
            snprintf(ps->etags[k], sizeof(ps->etags[k]), "%s", u.etag);
    }
    free(buf);
    free(ans.p);
    if (u.h)
        curl_easy_cleanup(u.h);
    return NULL;
}

int pio__remote_upload(const char *url, int fd, uint64_t size, struct pio_error *err)
{
    pio_remote *rm;
    int rc = remote_new(&rm, url, err);
    if (rc != 0)
        return rc;
    if (!rm->s3) {
        pio__remote_close(rm);
        return pio_error_set(err, PIO_ENOTSUPPORTED,
                             "%s: writing over HTTP is not supported: write to S3 "
                             "(s3://BUCKET/KEY) or a local file",
                             url);
    }
    /* parts of 16 MiB, more for objects of over 10,000 of them (S3's limit) */
    uint64_t part = (uint64_t)16 << 20;
    while ((size + part - 1) / part > 10000)
        part *= 2;
    uint64_t nparts = PIO_MAX((size + part - 1) / part, 1);
    struct up u = {.rm = rm, .h = curl_easy_init()};
    struct body ans = {0};
    char(*etags)[128] = calloc((size_t)nparts, sizeof(*etags));
    char *xml = NULL, *id = NULL;
    if (!u.h || !etags) {
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", url);
        goto done;
    }
    if ((rc = up_request(&u, "POST", "?uploads=", NULL, 0, "starting a multipart upload", &ans,
                         err)) != 0)
        goto done;
    xml_get(ans.p, "UploadId", u.upload_id, sizeof(u.upload_id));
    /* (an id that filled the buffer may have been cut: refused) */
    if (!u.upload_id[0] || strlen(u.upload_id) >= sizeof(u.upload_id) - 1 ||
        !(id = curl_easy_escape(u.h, u.upload_id, 0))) {
        rc = pio_error_set(err, PIO_EREMOTE,
                           "%s: starting a multipart upload: no UploadId in "
                           "the answer",
                           url);
        goto done;
    }
    /* the parts, UP_THREADS at a time (each thread its own connection) */
    struct parts ps = {.rm = rm,
                       .url = url,
                       .id = id,
                       .fd = fd,
                       .size = size,
                       .part = part,
                       .nparts = nparts,
                       .etags = etags};
    pthread_mutex_init(&ps.lock, NULL);
    pthread_t th[UP_THREADS];
    unsigned nth = (unsigned)PIO_MIN((uint64_t)UP_THREADS, nparts), started = 0;
    for (; started < nth; started++)
        if (pthread_create(&th[started], NULL, part_main, &ps) != 0)
            break;
    if (started == 0)
        part_main(&ps); /* (no thread to be had: this one) */
    for (unsigned t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    pthread_mutex_destroy(&ps.lock);
    if ((rc = ps.rc) != 0) {
        if (err)
            *err = ps.err;
        goto abort;
    }
    size_t cap = 128 + (size_t)nparts * 200, used = 0;
    if (!(xml = malloc(cap))) {
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", url);
        goto abort;
    }
    used += (size_t)snprintf(xml + used, cap - used, "<CompleteMultipartUpload>");
    for (uint64_t k = 0; k < nparts; k++)
        used += (size_t)snprintf(xml + used, cap - used,
                                 "<Part><PartNumber>%llu</PartNumber><ETag>%s</ETag></Part>",
                                 OFFX(k + 1), etags[k]);
    used += (size_t)snprintf(xml + used, cap - used, "</CompleteMultipartUpload>");
    char q[2048];
    snprintf(q, sizeof(q), "?uploadId=%s", id);
    if ((rc = up_request(&u, "POST", q, (const uint8_t *)xml, used, "completing the upload", &ans,
                         err)) == 0)
        goto done;
abort : /* the parts are dropped: no object appears */
{
    char q2[2048];
    snprintf(q2, sizeof(q2), "?uploadId=%s", id);
    up_request(&u, "DELETE", q2, NULL, 0, "aborting the upload", &ans, NULL);
}
done:
    if (id)
        curl_free(id);
    free(xml);
    free(etags);
    free(ans.p);
    if (u.h)
        curl_easy_cleanup(u.h);
    pio__remote_close(rm);
    return rc;
}

/* ---- the object ---- */

static pio_remote_batch *batch_get(pio_remote *rm)
{
    pio_remote_batch *b = NULL;
    pthread_mutex_lock(&rm->lock);
    if (rm->nidle)
        b = rm->idle[--rm->nidle];
    pthread_mutex_unlock(&rm->lock);
    if (!b && pio__remote_batch_open(&b, rm, SYNC_DEPTH) != 0)
        return NULL;
    return b;
}

static void batch_put(pio_remote *rm, pio_remote_batch *b)
{
    pthread_mutex_lock(&rm->lock);
    if (rm->nidle < IDLE_BATCHES && b->active == 0) {
        rm->idle[rm->nidle++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&rm->lock);
    pio__remote_batch_close(b);
}

int pio__remote_read(pio_remote *rm, unsigned n, const uint64_t *off, const uint64_t *len,
                     uint8_t *const *dst, struct pio_error *err)
{
    pio_remote_batch *b = batch_get(rm);
    if (!b)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", rm->url);
    int first = 0;
    unsigned next = 0;
    while (next < n || b->active) {
        while (next < n && b->active < b->depth && first == 0) {
            int rc = pio__remote_batch_add(b, next, off[next], len[next], dst[next]);
            if (rc != 0)
                first =
                    pio_error_set(err, rc, "%s: bytes 0x%llx+%llu: outside the object (%llu bytes)",
                                  rm->url, OFFX(off[next]), OFFX(len[next]), OFFX(rm->size));
            next++;
        }
        if (first && !b->active)
            break;
        uint64_t tag;
        int rc;
        struct pio_error e1;
        int got = pio__remote_batch_next(b, true, &tag, &rc, first ? &e1 : err);
        if (got <= 0)
            break;
        if (rc != 0 && first == 0) {
            first = rc;
            next = n; /* start nothing more */
        }
    }
    batch_put(rm, b);
    return first;
}

/* A remote object for `url`: settings, the request URL, credentials and
 * the headers every request carries; nothing is sent. */
static int remote_new(pio_remote **out, const char *url, struct pio_error *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return pio_error_set(err, -ENOMEM, "%s: libcurl failed to start: %s", url,
                             curl_easy_strerror(curl_init_rc));
    pio_remote *rm = calloc(1, sizeof(*rm));
    if (!rm || !(rm->url = strdup(url))) {
        free(rm);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", url);
    }
    pthread_mutex_init(&rm->lock, NULL);
    rm->retries = (unsigned)env_long("PIO_REMOTE_RETRIES", 4, 0, 20);
    rm->timeout_ms = env_long("PIO_REMOTE_TIMEOUT_MS", 30000, 100, 3600000);
    rm->backoff_ms = env_long("PIO_REMOTE_BACKOFF_MS", 100, 0, 60000);
    rm->size = UINT64_MAX; /* not known until the first answer */
    static const char *const ca_vars[] = {"PIO_REMOTE_CA_BUNDLE", "CURL_CA_BUNDLE",
                                          "SSL_CERT_FILE"};
    for (size_t k = 0; k < 3 && !rm->ca_bundle; k++) {
        const char *v = getenv(ca_vars[k]);
        rm->ca_bundle = v && *v ? v : NULL;
    }
    int rc = resolve_url(rm, err);
    /* S3 wants the payload's SHA-256 with every signed request: a read's
     * is the empty body's */
    char sha[65], h[96];
    sha256_hex("", 0, sha);
    snprintf(h, sizeof(h), "x-amz-content-sha256: %s", sha);
    if (rc == 0 && ((rm->token_hdr && !(rm->hdrs = curl_slist_append(rm->hdrs, rm->token_hdr))) ||
                    (rm->s3 && !(rm->hdrs = curl_slist_append(rm->hdrs, h)))))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", url);
    if (rc != 0) {
        pio__remote_close(rm);
        return rc;
    }
    *out = rm;
    return 0;
}

int pio__remote_open(pio_remote **out, const char *url, uint64_t head, struct pio_error *err)
{
    pio_remote *rm;
    int rc = remote_new(&rm, url, err);
    if (rc != 0)
        return rc;
    *out = NULL;
    head = PIO_MAX(head, 1);
    pio_remote_batch *b = NULL;
    if (!(rm->head = malloc((size_t)head)) || !(b = batch_get(rm))) {
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", url);
        goto fail;
    }
    rc = batch_add(b, 0, 0, head, rm->head, true);
    uint64_t tag;
    int r = 0;
    if (rc == 0 && pio__remote_batch_next(b, true, &tag, &r, err) == 1)
        rc = r;
    struct xfer *x = &b->x[0];
    if (rc == 0) {
        rm->size = x->cr_total;
        rm->head_len = x->got;
        /* strong ETags only: a weak one may not change with the bytes */
        if (x->etag[0] && strncmp(x->etag, "W/", 2) != 0) {
            snprintf(rm->etag, sizeof(rm->etag), "%s", x->etag);
            char h[160];
            snprintf(h, sizeof(h), "If-Match: %s", rm->etag);
            struct curl_slist *l = curl_slist_append(rm->hdrs, h);
            if (l)
                rm->hdrs = l;
        }
    }
    batch_put(rm, b);
    if (rc != 0)
        goto fail;
    *out = rm;
    return 0;
fail:
    pio__remote_close(rm);
    return rc;
}

void pio__remote_close(pio_remote *rm)
{
    if (!rm)
        return;
    for (unsigned i = 0; i < rm->nidle; i++)
        pio__remote_batch_close(rm->idle[i]);
    curl_slist_free_all(rm->hdrs);
    pthread_mutex_destroy(&rm->lock);
    free(rm->head);
    free(rm->url);
    free(rm->http_url);
    free(rm->sigv4);
    free(rm->user);
    free(rm->secret);
    free(rm->token_hdr);
    free(rm);
}

uint64_t pio__remote_size(const pio_remote *rm)
{
    return rm->size;
}

const uint8_t *pio__remote_head(const pio_remote *rm, uint64_t *len)
{
    *len = rm->head_len;
    return rm->head;
}

void pio__remote_stats(const pio_remote *rm, uint64_t *requests, uint64_t *bytes, uint64_t *retries)
{
    *requests = atomic_load_explicit(&rm->requests, memory_order_relaxed);
    *bytes = atomic_load_explicit(&rm->bytes, memory_order_relaxed);
    *retries = atomic_load_explicit(&rm->nretries, memory_order_relaxed);
}

PIO_API bool pio_remote_built(void)
{
    return true;
}
