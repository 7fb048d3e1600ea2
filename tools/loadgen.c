
/*
 * loadgen: an open-loop HTTP/1.1 load generator for tools/bench.
 *
 *   loadgen -p PORT -r RATE -d SECONDS -f REQUEST [-c CONNECTIONS]
 *           [-a ADDRESS] [-t TIMEOUT]
 *
 * Sends the bytes of the file REQUEST (one whole HTTP/1.1 request: request
 * line, headers, Content-Length and body) RATE times a second for SECONDS
 * seconds, over CONNECTIONS (default 32) keepalive connections to
 * ADDRESS:PORT (default 127.0.0.1), one request at a time on each.  The
 * i-th request is due at start + i / RATE whatever happened before it
 * (the schedule of wrk2): it goes out on the first idle connection once it
 * is due, and its latency is measured from that due time to the end of its
 * response, so a stall of the server counts for every request it delays
 * (no "coordinated omission").  Requests still due when no connection is
 * idle wait, and count from their due time too.  Connections the server
 * closes (keepalive_requests, "Connection: close") are opened again.
 *
 * At the end, one line on stdout:
 *
 *   LOADGEN rate=... requests=... duration_us=... achieved=...
 *     p50_us=... p90_us=... p99_us=... p999_us=... max_us=...
 *     errors=... status_errors=... unsent=...
 *
 * requests: responses read; achieved: those per second of SECONDS;
 * errors: connections that failed or closed in a response, and responses
 * not complete TIMEOUT seconds (default 10) after the last was due;
 * status_errors: responses whose status is not 2xx; unsent: requests due
 * that no connection was idle to send before the end.  The exit status is
 * 0 when the run went to its end, whatever it measured.
 *
 * Built by "make loadgen" into build/loadgen; epoll and libc only.
 */


#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>


#define LG_HEADER_MAX      16384
#define LG_READ_SIZE       65536

/* latency histogram: 1 us up to 1024 us, then 1024 steps per power of 2 */
#define LG_SUB_BITS        10
#define LG_SUB             (1 << LG_SUB_BITS)
#define LG_BUCKETS         (LG_SUB * 40)


typedef enum {
    LG_CONNECTING = 0,
    LG_IDLE,
    LG_SENDING,
    LG_READING
} lg_conn_state_e;


typedef enum {
    LG_HEADER = 0,
    LG_BODY,
    LG_BODY_TO_CLOSE,
    LG_CHUNK_SIZE,
    LG_CHUNK_EXT,
    LG_CHUNK_DATA,
    LG_CHUNK_END,
    LG_TRAILER
} lg_parse_state_e;


typedef struct {
    int                 fd;
    lg_conn_state_e     state;
    lg_parse_state_e    parse;
    size_t              sent;
    uint64_t            due;            /* ns, the request's due time */

    char               *header;
    size_t              header_len;
    int                 status;
    int                 close;
    uint64_t            left;           /* body or chunk bytes to come */
    size_t              line_len;       /* of a trailer line */
    int                 size_digits;
    int                 in_ring;        /* in lg_idle */
} lg_conn_t;


static int lg_connect(lg_conn_t *c);
static void lg_reconnect(lg_conn_t *c, int error);
static void lg_send(lg_conn_t *c);
static void lg_read(lg_conn_t *c);
static int lg_parse(lg_conn_t *c, char *p, size_t n);
static int lg_parse_header(lg_conn_t *c);
static void lg_done(lg_conn_t *c);
static void lg_idle_push(lg_conn_t *c);
static lg_conn_t *lg_idle_pop(void);
static void lg_record(uint64_t ns);
static uint64_t lg_percentile(double p);
static uint64_t lg_now(void);
static void lg_usage(void);


static struct sockaddr_in   lg_addr;
static int                  lg_ep;
static char                *lg_request;
static size_t               lg_request_len;

static lg_conn_t           *lg_conns;
static lg_conn_t          **lg_idle;    /* a ring of the idle connections */
static int                  lg_nconns;
static int                  lg_idle_head;
static int                  lg_idle_count;
static int                  lg_inflight;

static uint64_t             lg_hist[LG_BUCKETS];
static uint64_t             lg_max;
static uint64_t             lg_last;        /* the last response's end */
static uint64_t             lg_responses;
static uint64_t             lg_errors;
static uint64_t             lg_status_errors;

static char                 lg_buf[LG_READ_SIZE];


int
main(int argc, char **argv)
{
    int                  opt, n, i, port, timeout;
    char                *file, *addr;
    double               rate, duration;
    ssize_t              r;
    uint64_t             start, end, now, due, next, total, wait, cap, last;
    lg_conn_t           *c;
    struct stat          st;
    struct timespec      ts;
    struct epoll_event   events[256];
    int                  fd;

    port = 0;
    rate = 0;
    duration = 0;
    file = NULL;
    addr = "127.0.0.1";
    timeout = 10;
    lg_nconns = 32;

    while ((opt = getopt(argc, argv, "p:r:d:f:c:a:t:h")) != -1) {
        switch (opt) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'f':
            file = optarg;
            break;
        case 'c':
            lg_nconns = atoi(optarg);
            break;
        case 'a':
            addr = optarg;
            break;
        case 't':
            timeout = atoi(optarg);
            break;
        default:
            lg_usage();
            return 2;
        }
    }

    if (port <= 0 || port > 65535 || rate <= 0 || duration <= 0
        || file == NULL || lg_nconns <= 0 || timeout <= 0)
    {
        lg_usage();
        return 2;
    }

    memset(&lg_addr, 0, sizeof(lg_addr));
    lg_addr.sin_family = AF_INET;
    lg_addr.sin_port = htons(port);
    if (inet_pton(AF_INET, addr, &lg_addr.sin_addr) != 1) {
        fprintf(stderr, "loadgen: bad address \"%s\"\n", addr);
        return 2;
    }

    /* the request, whole */

    fd = open(file, O_RDONLY);
    if (fd == -1 || fstat(fd, &st) == -1 || st.st_size == 0) {
        fprintf(stderr, "loadgen: %s: %s\n", file,
                fd == -1 ? strerror(errno) : "empty or unreadable");
        return 2;
    }

    lg_request_len = st.st_size;
    lg_request = malloc(lg_request_len);
    if (lg_request == NULL) {
        return 1;
    }

    for (total = 0; total < lg_request_len; total += r) {
        r = read(fd, lg_request + total, lg_request_len - total);
        if (r <= 0) {
            fprintf(stderr, "loadgen: %s: read failed\n", file);
            return 2;
        }
    }

    close(fd);

    signal(SIGPIPE, SIG_IGN);

    /* timers to the microsecond: the default slack is 50 us */
    (void) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

    lg_ep = epoll_create1(0);
    lg_conns = calloc(lg_nconns, sizeof(lg_conn_t));
    lg_idle = calloc(lg_nconns, sizeof(lg_conn_t *));
    if (lg_ep == -1 || lg_conns == NULL || lg_idle == NULL) {
        perror("loadgen");
        return 1;
    }

    for (i = 0; i < lg_nconns; i++) {
        c = &lg_conns[i];
        c->fd = -1;
        c->header = malloc(LG_HEADER_MAX);
        if (c->header == NULL) {
            return 1;
        }

        if (lg_connect(c) != 0) {
            fprintf(stderr, "loadgen: connect() to %s:%d: %s\n",
                    addr, port, strerror(errno));
            return 1;
        }
    }

    /* the connections up before the first request is due */

    cap = lg_now() + 5000000000ULL;
    while (lg_idle_count < lg_nconns && lg_now() < cap) {
        n = epoll_wait(lg_ep, events, 256, 100);
        for (i = 0; i < n; i++) {
            lg_send(events[i].data.ptr);
        }
    }

    if (lg_idle_count < lg_nconns) {
        fprintf(stderr, "loadgen: %d of %d connections to %s:%d failed\n",
                lg_nconns - lg_idle_count, lg_nconns, addr, port);
        return 1;
    }

    lg_errors = 0;

    start = lg_now() + 1000000;
    end = start + (uint64_t) (duration * 1e9);
    total = (uint64_t) (duration * rate);
    cap = end + (uint64_t) timeout * 1000000000ULL;
    next = 0;

    for ( ;; ) {
        now = lg_now();

        /* every request due: on an idle connection, as long as one is */

        while (next < total && lg_idle_count > 0) {
            due = start + (uint64_t) (next * 1e9 / rate);
            if (due > now) {
                break;
            }

            c = lg_idle_pop();
            if (c == NULL) {
                break;
            }

            c->due = due;
            c->sent = 0;
            c->state = LG_SENDING;
            lg_inflight++;
            next++;

            lg_send(c);
        }

        if (next == total && lg_inflight == 0) {
            break;
        }

        if (now >= cap) {
            /* the requests still out are timeouts */
            lg_errors += lg_inflight;
            break;
        }

        if (next < total && lg_idle_count > 0) {
            due = start + (uint64_t) (next * 1e9 / rate);
            wait = due > now ? due - now : 0;

        } else {
            wait = cap - now;
        }

        ts.tv_sec = wait / 1000000000ULL;
        ts.tv_nsec = wait % 1000000000ULL;

        n = epoll_pwait2(lg_ep, events, 256, &ts, NULL);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            perror("loadgen: epoll_pwait2()");
            return 1;
        }

        for (i = 0; i < n; i++) {
            c = events[i].data.ptr;

            switch (c->state) {
            case LG_CONNECTING:
            case LG_SENDING:
                lg_send(c);
                break;
            default:
                lg_read(c);
                break;
            }
        }
    }

    /* the run lasted to its end, or to the last response after it */

    last = lg_last > end ? lg_last : end;

    printf("LOADGEN rate=%.0f requests=%llu duration_us=%llu achieved=%.1f"
           " p50_us=%llu p90_us=%llu p99_us=%llu p999_us=%llu max_us=%llu"
           " errors=%llu status_errors=%llu unsent=%llu\n",
           rate, (unsigned long long) lg_responses,
           (unsigned long long) ((last - start) / 1000),
           lg_responses * 1e9 / (last - start),
           (unsigned long long) lg_percentile(50),
           (unsigned long long) lg_percentile(90),
           (unsigned long long) lg_percentile(99),
           (unsigned long long) lg_percentile(99.9),
           (unsigned long long) lg_max / 1000,
           (unsigned long long) lg_errors,
           (unsigned long long) lg_status_errors,
           (unsigned long long) (total - next));

    return 0;
}


static int
lg_connect(lg_conn_t *c)
{
    int                 one;
    struct epoll_event  ev;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd == -1) {
        return -1;
    }

    one = 1;
    (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (connect(c->fd, (struct sockaddr *) &lg_addr, sizeof(lg_addr)) == -1
        && errno != EINPROGRESS)
    {
        close(c->fd);
        c->fd = -1;
        return -1;
    }

    c->state = LG_CONNECTING;

    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;

    if (epoll_ctl(lg_ep, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }

    return 0;
}


/*
 * the connection is closed and opened again; a request it had out is an
 * error when error is set (else it was complete)
 */

static void
lg_reconnect(lg_conn_t *c, int error)
{
    if (c->state == LG_SENDING || c->state == LG_READING) {
        lg_inflight--;
    }

    if (error) {
        lg_errors++;
    }

    close(c->fd);
    c->fd = -1;

    if (lg_connect(c) != 0) {
        /* nothing listens any more: the connection is lost for the run */
        lg_errors++;
        c->state = LG_CONNECTING;
    }
}


/* connecting: done; sending: the rest of the request */

static void
lg_send(lg_conn_t *c)
{
    int                 err;
    ssize_t             n;
    socklen_t           len;
    struct epoll_event  ev;

    if (c->fd == -1) {
        return;
    }

    ev.data.ptr = c;

    if (c->state == LG_CONNECTING) {
        err = 0;
        len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1
            || err != 0)
        {
            lg_reconnect(c, 1);
            return;
        }

        ev.events = EPOLLIN;
        (void) epoll_ctl(lg_ep, EPOLL_CTL_MOD, c->fd, &ev);
        lg_idle_push(c);
        return;
    }

    if (c->state != LG_SENDING) {
        return;
    }

    while (c->sent < lg_request_len) {
        n = write(c->fd, lg_request + c->sent, lg_request_len - c->sent);

        if (n == -1 && errno == EAGAIN) {
            ev.events = EPOLLIN | EPOLLOUT;
            (void) epoll_ctl(lg_ep, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }

        if (n <= 0) {
            lg_reconnect(c, 1);
            return;
        }

        c->sent += n;
    }

    if (c->sent == lg_request_len) {
        ev.events = EPOLLIN;
        (void) epoll_ctl(lg_ep, EPOLL_CTL_MOD, c->fd, &ev);
    }

    c->state = LG_READING;
    c->parse = LG_HEADER;
    c->header_len = 0;
    c->status = 0;
    c->close = 0;
}


static void
lg_read(lg_conn_t *c)
{
    int      rc;
    ssize_t  n;

    for ( ;; ) {
        n = read(c->fd, lg_buf, LG_READ_SIZE);

        if (n == -1 && errno == EAGAIN) {
            return;
        }

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n <= 0) {
            if (c->state == LG_READING && c->parse == LG_BODY_TO_CLOSE) {
                lg_done(c);
                lg_reconnect(c, 0);
                return;
            }

            /* an idle connection closed by the server is no error */
            lg_reconnect(c, c->state != LG_IDLE);
            return;
        }

        if (c->state != LG_READING) {
            /* bytes nobody asked for */
            lg_reconnect(c, 1);
            return;
        }

        rc = lg_parse(c, lg_buf, n);

        if (rc == -1) {
            lg_reconnect(c, 1);
            return;
        }

        if (rc == 1) {
            /* a response is complete, a keepalive connection idle */
            lg_done(c);

            if (c->close) {
                lg_reconnect(c, 0);

            } else {
                c->state = LG_IDLE;
                lg_idle_push(c);
            }

            return;
        }

        if (n < LG_READ_SIZE) {
            return;
        }
    }
}


/* 0: more to come, 1: the response is complete, -1: a bad response */

static int
lg_parse(lg_conn_t *c, char *p, size_t n)
{
    char      ch;
    size_t    i, k;
    uint64_t  v;

    for (i = 0; i < n; i++) {

        switch (c->parse) {

        case LG_HEADER:
            if (c->header_len == LG_HEADER_MAX) {
                return -1;
            }

            c->header[c->header_len++] = p[i];

            if (c->header_len >= 4
                && memcmp(c->header + c->header_len - 4, "\r\n\r\n", 4) == 0)
            {
                if (lg_parse_header(c) == -1) {
                    return -1;
                }

                if (c->parse == LG_BODY && c->left == 0) {
                    return i + 1 == n ? 1 : -1;
                }
            }

            break;

        case LG_BODY:
            k = n - i;
            if (k > c->left) {
                return -1;
            }

            c->left -= k;
            return c->left == 0 ? 1 : 0;

        case LG_BODY_TO_CLOSE:
            return 0;

        case LG_CHUNK_SIZE:
            ch = p[i];

            if (ch >= '0' && ch <= '9') {
                v = ch - '0';

            } else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
                v = (ch | 0x20) - 'a' + 10;

            } else if (ch == '\r' || ch == ';' || ch == ' ' || ch == '\t') {
                if (c->size_digits == 0) {
                    return -1;
                }

                c->parse = LG_CHUNK_EXT;
                break;

            } else if (ch == '\n' && c->size_digits > 0) {
                c->parse = c->left ? LG_CHUNK_DATA : LG_TRAILER;
                c->line_len = 0;
                break;

            } else {
                return -1;
            }

            if (++c->size_digits > 15) {
                return -1;
            }

            c->left = c->left * 16 + v;
            break;

        case LG_CHUNK_EXT:
            if (p[i] == '\n') {
                c->parse = c->left ? LG_CHUNK_DATA : LG_TRAILER;
                c->line_len = 0;
            }

            break;

        case LG_CHUNK_DATA:
            k = n - i;
            if (k > c->left) {
                k = c->left;
            }

            c->left -= k;
            i += k - 1;

            if (c->left == 0) {
                c->parse = LG_CHUNK_END;
            }

            break;

        case LG_CHUNK_END:
            if (p[i] == '\n') {
                c->parse = LG_CHUNK_SIZE;
                c->left = 0;
                c->size_digits = 0;
            }

            break;

        case LG_TRAILER:
            if (p[i] == '\n') {
                if (c->line_len == 0) {
                    return i + 1 == n ? 1 : -1;
                }

                c->line_len = 0;

            } else if (p[i] != '\r') {
                c->line_len++;
            }

            break;
        }
    }

    return 0;
}


/*
 * the status line and headers are in c->header: the status, how the body
 * ends (Content-Length, chunked, the connection's close), Connection: close
 */

static int
lg_parse_header(lg_conn_t *c)
{
    char      *p, *last, *eol, *value;
    size_t     len;
    uint64_t   length;
    int        chunked, has_length;

    p = c->header;
    last = c->header + c->header_len;

    if (c->header_len < 16 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ') {
        return -1;
    }

    c->status = atoi(p + 9);
    if (c->status < 100 || c->status > 599) {
        return -1;
    }

    if (p[7] == '0') {
        c->close = 1;
    }

    chunked = 0;
    has_length = 0;
    length = 0;

    p = memchr(p, '\n', last - p) + 1;

    while (p < last) {
        eol = memchr(p, '\n', last - p);
        len = eol - p;

        value = memchr(p, ':', len);
        if (value != NULL) {
            value++;
            while (value < eol && (*value == ' ' || *value == '\t')) {
                value++;
            }

            if (value - p > 15 && strncasecmp(p, "content-length:", 15) == 0) {
                length = strtoull(value, NULL, 10);
                has_length = 1;

            } else if (value - p > 18
                       && strncasecmp(p, "transfer-encoding:", 18) == 0)
            {
                chunked = memmem(value, eol - value, "chunked", 7) != NULL;

            } else if (value - p > 11
                       && strncasecmp(p, "connection:", 11) == 0)
            {
                if (eol - value >= 5 && strncasecmp(value, "close", 5) == 0) {
                    c->close = 1;
                }
            }
        }

        p = eol + 1;
    }

    if (c->status == 204 || c->status == 304 || c->status < 200) {
        /* no body; a 1xx is not expected: no Expect: was sent */
        if (c->status < 200) {
            return -1;
        }

        c->parse = LG_BODY;
        c->left = 0;

    } else if (chunked) {
        c->parse = LG_CHUNK_SIZE;
        c->left = 0;
        c->size_digits = 0;

    } else if (has_length) {
        c->parse = LG_BODY;
        c->left = length;

    } else {
        c->parse = LG_BODY_TO_CLOSE;
        c->close = 1;
    }

    return 0;
}


static void
lg_done(lg_conn_t *c)
{
    uint64_t  now;

    now = lg_now();
    lg_last = now;

    lg_record(now > c->due ? now - c->due : 0);

    lg_responses++;
    lg_inflight--;

    if (c->status < 200 || c->status > 299) {
        lg_status_errors++;
    }

    /* lg_reconnect() must not count it again */
    c->state = LG_IDLE;
}


/*
 * a connection the server closed while idle stays in the ring while it
 * connects again: lg_idle_pop() skips it then, and it is not put in twice
 */

static void
lg_idle_push(lg_conn_t *c)
{
    c->state = LG_IDLE;

    if (c->in_ring) {
        return;
    }

    c->in_ring = 1;
    lg_idle[(lg_idle_head + lg_idle_count) % lg_nconns] = c;
    lg_idle_count++;
}


static lg_conn_t *
lg_idle_pop(void)
{
    lg_conn_t  *c;

    while (lg_idle_count > 0) {
        c = lg_idle[lg_idle_head];
        lg_idle_head = (lg_idle_head + 1) % lg_nconns;
        lg_idle_count--;
        c->in_ring = 0;

        if (c->state == LG_IDLE) {
            return c;
        }
    }

    return NULL;
}


static void
lg_record(uint64_t ns)
{
    int       e;
    uint64_t  us, b;

    if (ns > lg_max) {
        lg_max = ns;
    }

    us = ns / 1000;

    if (us < LG_SUB) {
        b = us;

    } else {
        /* 2^msb <= us < 2^(msb + 1): LG_SUB steps of 2^(msb - 10) */
        e = 63 - __builtin_clzll(us) - LG_SUB_BITS;
        b = (uint64_t) (e + 1) * LG_SUB + ((us >> e) - LG_SUB);
        if (b >= LG_BUCKETS) {
            b = LG_BUCKETS - 1;
        }
    }

    lg_hist[b]++;
}


/* the smallest latency, in us, that p percent of the responses reach */

static uint64_t
lg_percentile(double p)
{
    int       e;
    uint64_t  b, want, seen;

    if (lg_responses == 0) {
        return 0;
    }

    want = (uint64_t) (lg_responses * p / 100.0 + 0.999999);
    if (want == 0) {
        want = 1;
    }

    seen = 0;

    for (b = 0; b < LG_BUCKETS; b++) {
        seen += lg_hist[b];
        if (seen >= want) {
            break;
        }
    }

    if (b < LG_SUB) {
        return b;
    }

    e = b / LG_SUB - 1;

    return (LG_SUB + b % LG_SUB) << e;
}


static uint64_t
lg_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}


static void
lg_usage(void)
{
    fprintf(stderr,
            "usage: loadgen -p PORT -r RATE -d SECONDS -f REQUEST"
            " [-c CONNECTIONS] [-a ADDRESS] [-t TIMEOUT]\n");
}
