
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: an event stream through ngx_http_foundry_strip() (the
 * usage chunk's removal of foundry_stream_usage), one call a buffer as the
 * body filter gets them, cut where the input's prefix says (see
 * ngx_fuzz_split()), the last with "last_buf"; the buffers sent on are
 * given back (ngx_http_foundry_strip_done()) before the next call, as
 * the next filters would.  The stream sent on must be the same for the
 * stream in one buffer and a byte at a time (up to 16 KB), and made of the
 * stream's bytes, in order, with only whole events left out.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


#define NGX_FUZZ_MAX_BYTEWISE  16384


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ngx_fuzz_strip(ngx_pool_t *pool, ngx_fuzz_split_t *split,
    size_t step, ngx_str_t *sent);
static void ngx_fuzz_take(ngx_chain_t *out, ngx_str_t *sent, size_t max);
static u_char *ngx_fuzz_event_end(u_char *p, u_char *last);


static ngx_log_t  *ngx_fuzz_log;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_log = ngx_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char            *p, *q, *e, *plast, *qlast;
    size_t             n;
    ngx_str_t          a, b, c;
    ngx_pool_t        *pool;
    ngx_fuzz_split_t   split;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    ngx_fuzz_split(data, size, &split);

    ngx_fuzz_strip(pool, &split, 0, &a);
    ngx_fuzz_strip(pool, &split, split.len ? split.len : 1, &b);

    if (a.len != b.len || ngx_memcmp(a.data, b.data, a.len) != 0) {
        abort();
    }

    if (split.len <= NGX_FUZZ_MAX_BYTEWISE) {
        ngx_fuzz_strip(pool, &split, 1, &c);

        if (a.len != c.len || ngx_memcmp(a.data, c.data, a.len) != 0) {
            abort();
        }
    }

    /*
     * the bytes sent on: the stream's events, in order, each whole or
     * left out; one left out has "choices" and "usage"
     */

    p = split.data;
    plast = split.data + split.len;
    q = a.data;
    qlast = a.data + a.len;

    while (p < plast) {
        e = ngx_fuzz_event_end(p, plast);
        n = e - p;

        if ((size_t) (qlast - q) >= n && ngx_memcmp(q, p, n) == 0) {
            q += n;

        } else if (ngx_http_foundry_memmem(p, e, (u_char *) "\"choices\"", 9)
                   == NULL
                   || ngx_http_foundry_memmem(p, e, (u_char *) "\"usage\"", 7)
                      == NULL)
        {
            abort();
        }

        p = e;
    }

    if (q != qlast) {
        abort();
    }

    ngx_destroy_pool(pool);

    return 0;
}


/* "step" 0: cut where the prefix says; else every "step" bytes */

static void
ngx_fuzz_strip(ngx_pool_t *pool, ngx_fuzz_split_t *split, size_t step,
    ngx_str_t *sent)
{
    ngx_chain_t             *in, *next, *out;
    ngx_http_request_t      *r;
    ngx_http_foundry_ctx_t  *ctx;

    r = ngx_fuzz_request(pool);
    ctx = ngx_pcalloc(pool, sizeof(ngx_http_foundry_ctx_t));

    sent->len = 0;
    sent->data = ngx_pnalloc(pool, split->len + 1);

    if (r == NULL || ctx == NULL || sent->data == NULL) {
        abort();
    }

    in = ngx_fuzz_chain(pool, step ? NULL : split, split->data, split->len,
                        step);

    if (in == NULL || ngx_http_foundry_strip_init(r, ctx) != NGX_OK) {
        abort();
    }

    /* a call a buffer, the last one with last_buf; some with flush */

    for ( /* void */ ; in; in = next) {
        next = in->next;
        in->next = NULL;

        if (next == NULL) {
            in->buf->last_buf = 1;

        } else if (in->buf->last - in->buf->pos == 3) {
            in->buf->flush = 1;
        }

        if (ngx_http_foundry_strip(r, ctx, in, &out) != NGX_OK) {
            abort();
        }

        /* the buffer is consumed, the filter keeps what it needs */

        if (in->buf->pos != in->buf->last) {
            abort();
        }

        ngx_fuzz_take(out, sent, split->len);

        ngx_http_foundry_strip_done(r, ctx, &out);
    }
}


/* the bytes of the buffers sent on, which are then done with */

static void
ngx_fuzz_take(ngx_chain_t *out, ngx_str_t *sent, size_t max)
{
    size_t      n;
    ngx_buf_t  *b;

    for ( /* void */ ; out; out = out->next) {
        b = out->buf;

        if (ngx_buf_special(b)) {
            continue;
        }

        if (!ngx_buf_in_memory(b) || b->last < b->pos) {
            abort();
        }

        n = b->last - b->pos;

        if (sent->len + n > max) {
            abort();
        }

        ngx_memcpy(sent->data + sent->len, b->pos, n);
        sent->len += n;

        b->pos = b->last;
    }
}


/* after an event's blank line ("\n", "\r"s, "\n"), or the end */

static u_char *
ngx_fuzz_event_end(u_char *p, u_char *last)
{
    ngx_uint_t  newline;

    newline = 0;

    for ( /* void */ ; p < last; p++) {
        if (*p == '\n') {
            if (newline) {
                return p + 1;
            }

            newline = 1;

        } else if (*p != '\r') {
            newline = 0;
        }
    }

    return last;
}
