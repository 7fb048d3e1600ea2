
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_accounting.h"


/*
 * foundry_stream_usage: a client that streams a chat completion without
 * "stream_options": {"include_usage": true} gets no usage, and neither
 * would the gateway.  The request body sent upstream asks for it
 * (ngx_http_foundry_body_include_usage()), and the event the upstream adds
 * for it, the chunk with empty "choices" and a "usage" object just before
 * "data: [DONE]", is taken out of the stream here, after the usage reader
 * has seen it.
 *
 * The stream goes through event by event: the bytes are copied into
 * buffers of this filter, and an event is sent on as soon as its blank
 * line has arrived, so nothing is held but the part of an event that has
 * not fully arrived yet.  An event larger than a buffer is never the
 * usage chunk: it is sent on as it comes.  Other events pass unchanged;
 * the "usage": null that the upstream puts in every chunk stays.
 */


#define NGX_HTTP_FOUNDRY_STRIP_BUF      4096


typedef struct ngx_http_foundry_strip_s         ngx_http_foundry_strip_t;

struct ngx_http_foundry_strip_s {
    ngx_chain_t                    *free;
    ngx_chain_t                    *busy;

    /* the event arriving, in a buffer of this filter */
    ngx_chain_t                    *ev;

    unsigned                        newline:1;
    unsigned                        passing:1;
    unsigned                        off:1;
};


static ngx_chain_t *ngx_http_foundry_strip_buf(ngx_http_request_t *r,
    ngx_http_foundry_strip_t *st, ngx_uint_t data);
static ngx_int_t ngx_http_foundry_strip_events(ngx_http_request_t *r,
    ngx_http_foundry_strip_t *st, ngx_buf_t *b, ngx_chain_t ***llp,
    ngx_uint_t *sent);
static ngx_int_t ngx_http_foundry_strip_event(ngx_buf_t *ev);


/* the operations whose streams have "stream_options" */

ngx_uint_t
ngx_http_foundry_stream_usage_op(ngx_str_t *op)
{
    return (op->len == sizeof("chat/completions") - 1
            && ngx_strncmp(op->data, "chat/completions",
                           sizeof("chat/completions") - 1) == 0)
           || (op->len == sizeof("completions") - 1
               && ngx_strncmp(op->data, "completions",
                              sizeof("completions") - 1) == 0);
}


/* in the header filter: an event stream is to have its usage chunk out */

ngx_int_t
ngx_http_foundry_strip_init(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx)
{
    ctx->strip = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_strip_t));
    if (ctx->strip == NULL) {
        return NGX_ERROR;
    }

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);

    return NGX_OK;
}


/* the body filter's part: "in" becomes the events to send */

ngx_int_t
ngx_http_foundry_strip(ngx_http_request_t *r, ngx_http_foundry_ctx_t *ctx,
    ngx_chain_t *in, ngx_chain_t **out)
{
    ngx_buf_t                 *b;
    ngx_uint_t                 sent;
    ngx_chain_t              **ll, *cl;
    ngx_http_foundry_strip_t  *st;

    st = ctx->strip;

    *out = NULL;
    ll = out;
    sent = 0;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (!st->off && b->in_file && !ngx_buf_in_memory(b)) {

            /* a buffer in a file (proxy_buffering): from here, as it is */

            st->off = 1;

            if (st->ev && st->ev->buf->last > st->ev->buf->pos) {
                *ll = st->ev;
                ll = &st->ev->next;
                st->ev = NULL;
            }
        }

        if (st->off) {
            goto pass;
        }

        if (ngx_http_foundry_strip_events(r, st, b, &ll, &sent) != NGX_OK) {
            return NGX_ERROR;
        }

        b->pos = b->last;

        if (!b->last_buf && !b->flush) {
            continue;
        }

        /* the end: what has arrived of an event goes too */

        if (b->last_buf && st->ev && st->ev->buf->last > st->ev->buf->pos) {
            *ll = st->ev;
            ll = &st->ev->next;
            st->ev = NULL;
        }

        /* the flags go on in a buffer of their own */

        cl = ngx_http_foundry_strip_buf(r, st, 0);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf->flush = b->flush;
        cl->buf->last_buf = b->last_buf;
        cl->buf->last_in_chain = b->last_in_chain;

        *ll = cl;
        ll = &cl->next;
        continue;

    pass:

        /* after a buffer in a file: the upstream's buffers as they are */

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        *ll = cl;
        ll = &cl->next;
    }

    *ll = NULL;

    if (sent) {
        for (cl = *out; cl->next; cl = cl->next) { /* void */ }

        cl->buf->flush = 1;
    }

    return NGX_OK;
}


/*
 * The bytes of a buffer in memory, cut into events: the usage chunk is
 * taken out, the others are linked to the output (*llp) whole, or in full
 * buffers when long; a partial event waits in st->ev for the next buffer.
 */

static ngx_int_t
ngx_http_foundry_strip_events(ngx_http_request_t *r,
    ngx_http_foundry_strip_t *st, ngx_buf_t *b, ngx_chain_t ***llp,
    ngx_uint_t *sent)
{
    u_char      *p, *q, *e, *nl, *last;
    size_t       n;
    ngx_buf_t   *ev;
    ngx_uint_t   end;

    p = b->pos;
    last = b->last;

    while (p < last) {

        if (st->ev == NULL) {
            st->ev = ngx_http_foundry_strip_buf(r, st, 1);
            if (st->ev == NULL) {
                return NGX_ERROR;
            }
        }

        ev = st->ev->buf;
        end = 0;

        /*
         * copied up to each newline, found by libc's memchr(): a newline
         * after a newline, with nothing but '\r' between, ends the event
         */

        while (p < last && ev->last < ev->end) {
            n = ngx_min((size_t) (last - p), (size_t) (ev->end - ev->last));

            nl = memchr(p, '\n', n);
            q = nl ? nl : p + n;

            for (e = q; e > p && e[-1] == '\r'; e--) {
                /* void */
            }

            if (e > p) {
                st->newline = 0;
            }

            ev->last = ngx_cpymem(ev->last, p, q - p);
            p = q;

            if (nl == NULL) {
                /* the buffer, or the event's buffer, is at its end */
                continue;
            }

            *ev->last++ = '\n';
            p++;

            if (st->newline) {
                end = 1;
                st->newline = 0;
                break;
            }

            st->newline = 1;
        }

        if (!end && ev->last < ev->end) {
            /* the event goes on in the next buffer */
            break;
        }

        if (end && !st->passing && ngx_http_foundry_strip_event(ev)) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "foundry: usage chunk taken out of the "
                           "stream");

            ev->pos = ev->start;
            ev->last = ev->start;
            continue;
        }

        /* sent on: a whole event, or a full buffer of a long one */

        st->passing = !end;

        **llp = st->ev;
        *llp = &st->ev->next;
        st->ev = NULL;
        *sent = 1;
    }

    return NGX_OK;
}


/*
 * A buffer of this filter, from those the next filters are done with:
 * for "data", with NGX_HTTP_FOUNDRY_STRIP_BUF bytes of memory, else empty
 * (for flags only: an empty buffer in memory would be a "zero size buf")
 */

static ngx_chain_t *
ngx_http_foundry_strip_buf(ngx_http_request_t *r,
    ngx_http_foundry_strip_t *st, ngx_uint_t data)
{
    u_char       *start;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_chain_get_free_buf(r->pool, &st->free);
    if (cl == NULL) {
        return NULL;
    }

    b = cl->buf;
    start = b->start;

    ngx_memzero(b, sizeof(ngx_buf_t));

    b->tag = (ngx_buf_tag_t) &ngx_http_foundry_module;

    if (data) {
        if (start == NULL) {
            start = ngx_palloc(r->pool, NGX_HTTP_FOUNDRY_STRIP_BUF);
            if (start == NULL) {
                return NULL;
            }
        }

        b->start = start;
        b->end = start + NGX_HTTP_FOUNDRY_STRIP_BUF;
        b->pos = start;
        b->last = start;
        b->temporary = 1;

    } else if (start) {
        /* the memory is kept for the next data buffer */
        b->start = start;
        b->end = start + NGX_HTTP_FOUNDRY_STRIP_BUF;
        b->pos = start;
        b->last = start;
    }

    cl->next = NULL;

    return cl;
}


/* after the next filters: the buffers they are done with come back */

void
ngx_http_foundry_strip_done(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_chain_t **out)
{
    ngx_chain_update_chains(r->pool, &ctx->strip->free, &ctx->strip->busy,
                            out, (ngx_buf_tag_t) &ngx_http_foundry_module);
}


/*
 * Whether an event is the usage chunk: a "data:" line whose object has
 * "choices": [] and a "usage" object
 */

static ngx_int_t
ngx_http_foundry_strip_event(ngx_buf_t *ev)
{
    u_char  *p, *last;

    p = ev->pos;
    last = ev->last;

    while (p < last && (*p == '\r' || *p == '\n')) {
        p++;
    }

    if (last - p < 6 || ngx_strncmp(p, "data:", 5) != 0) {
        return 0;
    }

    p = ngx_http_foundry_json_member(ev->pos, last, (u_char *) "\"choices\"",
                                     sizeof("\"choices\"") - 1);

    if (p == NULL || p == last || *p++ != '[') {
        return 0;
    }

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p == last || *p != ']') {
        return 0;
    }

    p = ngx_http_foundry_json_member(ev->pos, last, (u_char *) "\"usage\"",
                                     sizeof("\"usage\"") - 1);

    return p != NULL && p < last && *p == '{';
}
