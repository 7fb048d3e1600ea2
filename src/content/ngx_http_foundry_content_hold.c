
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_content.h"


/*
 * foundry_content_check answers=on: the model's answer held until the
 * checker's verdict.  The header and body filters here come after the
 * module's own (accounting/ngx_http_foundry_filter.c, registered after
 * these: it reads the token usage in the answer's original bytes, whatever
 * the verdict).  Only the whole answer of an inference call is held: not
 * streamed, 200, JSON, not encoded, of a chat completion, a completion or
 * a Responses API call; any other passes with one test.  Its header is
 * not passed on until the verdict, its body is copied into one buffer of
 * the request's pool (at most answer_max bytes) and the upstream's
 * buffers marked as sent; a bit of r->buffered makes nginx's finalization
 * wait.  The checker's calls are made at the answer's last buffer; when
 * they end (or time out), the request's write handler (nginx's writer)
 * calls the filters again, with no buffer: the answer goes on as it came
 * (with its length), or an error goes in its place.
 */


static ngx_int_t ngx_http_foundry_ch_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_foundry_ch_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_uint_t ngx_http_foundry_ch_wanted(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx);
static ngx_int_t ngx_http_foundry_ch_hold(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *a, ngx_chain_t *in, ngx_chain_t **rest);
static ngx_int_t ngx_http_foundry_ch_release(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *a, ngx_chain_t *rest);
static ngx_int_t ngx_http_foundry_ch_replace(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *a, ngx_chain_t *in);
static ngx_int_t ngx_http_foundry_ch_replace_header(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *a);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_str_t  ngx_http_foundry_ch_json = ngx_string("application/json");

static u_char  ngx_http_foundry_ch_early[] = "the model's answer ended early";


static ngx_str_t  ngx_http_foundry_ch_ops[] = {
    ngx_string("chat/completions"),
    ngx_string("completions"),
    ngx_string("responses"),
    ngx_null_string
};


/* before ngx_http_foundry_filter_init(): this filter comes after it */

ngx_int_t
ngx_http_foundry_content_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_foundry_ch_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_foundry_ch_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_ch_header_filter(ngx_http_request_t *r)
{
    ngx_http_foundry_ctx_t       *ctx;
    ngx_http_foundry_ct_check_t  *chk, *a;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    chk = ctx ? ctx->content : NULL;

    if (chk == NULL || !chk->conf->answers || chk->answer
        || !ngx_http_foundry_ch_wanted(r, ctx))
    {
        return ngx_http_next_header_filter(r);
    }

    a = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_ct_check_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    a->conf = chk->conf;
    a->request = r;
    a->stage = NGX_HTTP_FOUNDRY_CT_REPLY;
    ngx_memset(a->result.severity, 0xff, sizeof(a->result.severity));

    chk->answer = a;

    if (r->headers_out.content_length_n > (off_t) a->conf->answer_max) {

        /* too large to hold, known now */

        if (ngx_http_foundry_content_reply_large(r, a) != NGX_OK) {
            return NGX_ERROR;
        }

        if (a->replaced) {
            return ngx_http_foundry_ch_replace_header(r, a);
        }

        return ngx_http_next_header_filter(r);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: the model's answer held for the content check, "
                   "length %O", r->headers_out.content_length_n);

    a->holding = 1;
    r->buffered |= NGX_HTTP_FOUNDRY_CT_BUFFERED;

    return NGX_OK;
}


/* the answers checked: the whole JSON answer of a text-answering call */

static ngx_uint_t
ngx_http_foundry_ch_wanted(ngx_http_request_t *r, ngx_http_foundry_ctx_t *ctx)
{
    ngx_str_t        *op, *type;
    ngx_table_elt_t  *ce;

    if (!ctx->routed || r->upstream == NULL || r->err_status
        || r->headers_out.status != NGX_HTTP_OK || r->header_only
        || ctx->body.stream || r->method != NGX_HTTP_POST)
    {
        return 0;
    }

    for (op = ngx_http_foundry_ch_ops; op->len; op++) {
        if (ctx->op.len == op->len
            && ngx_strncmp(ctx->op.data, op->data, op->len) == 0)
        {
            break;
        }
    }

    if (op->len == 0) {
        return 0;
    }

    /* the type without its parameters (the upstream's copy sets it) */

    type = &r->headers_out.content_type;

    if (r->headers_out.content_type_len != sizeof("application/json") - 1
        || ngx_strncasecmp(type->data, (u_char *) "application/json",
                           sizeof("application/json") - 1)
           != 0)
    {
        return 0;
    }

    ce = r->headers_out.content_encoding;

    if (ce && ce->hash && ce->value.len
        && !(ce->value.len == 8
             && ngx_strncasecmp(ce->value.data, (u_char *) "identity", 8)
                == 0))
    {
        return 0;
    }

    return 1;
}


static ngx_int_t
ngx_http_foundry_ch_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                     rc;
    ngx_chain_t                  *rest;
    ngx_http_foundry_ctx_t       *ctx;
    ngx_http_foundry_ct_check_t  *a;

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    if (ctx == NULL || ctx->content == NULL || ctx->content->answer == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    a = ctx->content->answer;

    if (a->passing) {
        return ngx_http_next_body_filter(r, in);
    }

    if (a->replaced) {
        return ngx_http_foundry_ch_replace(r, a, in);
    }

    if (!a->complete) {
        rest = NULL;

        rc = ngx_http_foundry_ch_hold(r, a, in, &rest);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {

            /* larger than answer_max: dropped, or passed on unchecked */

            if (ngx_http_foundry_content_reply_large(r, a) != NGX_OK) {
                return NGX_ERROR;
            }

            if (a->replaced) {
                return ngx_http_foundry_ch_replace(r, a, rest);
            }

            return ngx_http_foundry_ch_release(r, a, rest);
        }

        if (!a->complete) {
            if (r->upstream && r->upstream->peer.connection) {
                return NGX_OK;
            }

            /*
             * the upstream's connection ended before the answer did (nginx
             * finalizes with a flush, not the last buffer): nothing of the
             * answer was sent, a 502 goes instead of the part held
             */

            a->error = ngx_http_foundry_error_body(r, NGX_HTTP_BAD_GATEWAY,
                                       "BadGateway", ngx_http_foundry_ch_early,
                                       sizeof(ngx_http_foundry_ch_early) - 1);
            if (a->error == NULL) {
                return NGX_ERROR;
            }

            a->status = NGX_HTTP_BAD_GATEWAY;
            a->replaced = 1;

            return ngx_http_foundry_ch_replace(r, a, NULL);
        }
    }

    /* the whole answer is held: its check, or the check's end */

    rc = ngx_http_foundry_content_reply_check(r, a);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_AGAIN) {
        return NGX_OK;
    }

    if (a->replaced) {
        return ngx_http_foundry_ch_replace(r, a, NULL);
    }

    return ngx_http_foundry_ch_release(r, a, NULL);
}


/*
 * The answer's bytes copied into one buffer, the upstream's marked as
 * sent: NGX_OK (a->complete at its last buffer), NGX_DECLINED past
 * answer_max (*rest: the buffers not copied), NGX_ERROR
 */

static ngx_int_t
ngx_http_foundry_ch_hold(ngx_http_request_t *r, ngx_http_foundry_ct_check_t *a,
    ngx_chain_t *in, ngx_chain_t **rest)
{
    off_t       len;
    size_t      size, held, room;
    ngx_buf_t  *b, *h;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        /* a buffer in a file only (proxy_buffering on) is not held */

        if (!ngx_buf_in_memory(b) && ngx_buf_size(b)) {
            *rest = in;
            return NGX_DECLINED;
        }

        size = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos) : 0;
        h = a->held;
        held = h ? (size_t) (h->last - h->pos) : 0;

        if (held + size > a->conf->answer_max) {
            *rest = in;
            return NGX_DECLINED;
        }

        if (size) {
            if (h == NULL || (size_t) (h->end - h->last) < size) {

                /* the length said, or twice as much each time */

                len = r->headers_out.content_length_n;

                room = (len > 0 && (size_t) len >= held + size)
                       ? (size_t) len
                       : ngx_max(2 * held, NGX_HTTP_FOUNDRY_CT_HOLD_FIRST);

                room = ngx_max(room, held + size);
                room = ngx_min(room, a->conf->answer_max);

                h = ngx_create_temp_buf(r->pool, room);
                if (h == NULL) {
                    return NGX_ERROR;
                }

                if (held) {
                    h->last = ngx_cpymem(h->last, a->held->pos, held);
                    ngx_pfree(r->pool, a->held->start);
                }

                a->held = h;
            }

            h->last = ngx_cpymem(h->last, b->pos, size);
            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }

        if (b->last_buf) {
            a->complete = 1;
        }
    }

    return NGX_OK;
}


/*
 * The answer goes on: its header (with its length, now known, if it had
 * none), the bytes held, then "rest" (the buffers not held when it was
 * larger than answer_max: the rest of the answer passes as it comes)
 */

static ngx_int_t
ngx_http_foundry_ch_release(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *a, ngx_chain_t *rest)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *out, cl;

    r->buffered &= ~NGX_HTTP_FOUNDRY_CT_BUFFERED;
    a->holding = 0;
    a->passing = 1;

    if (a->complete && r->headers_out.content_length_n < 0) {
        r->headers_out.content_length_n = a->held
                                          ? a->held->last - a->held->pos : 0;
    }

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = a->held;

    if (b == NULL && a->complete) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }
    }

    if (b == NULL) {
        return ngx_http_next_body_filter(r, rest);
    }

    b->last_buf = a->complete;
    b->flush = !a->complete;

    cl.buf = b;
    cl.next = rest;
    out = &cl;

    return ngx_http_next_body_filter(r, out);
}


/*
 * The answer dropped: a flagged answer's 400, or fail=closed's 503, goes
 * in its place (its header before any of the answer's bytes went); what
 * comes of the answer after is marked as sent
 */

static ngx_int_t
ngx_http_foundry_ch_replace(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *a, ngx_chain_t *in)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (ngx_buf_in_memory(b)) {
            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    if (a->error_sent) {
        return ngx_http_next_body_filter(r, NULL);
    }

    r->buffered &= ~NGX_HTTP_FOUNDRY_CT_BUFFERED;
    a->holding = 0;

    if (!a->header_sent) {
        rc = ngx_http_foundry_ch_replace_header(r, a);

        if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
            return rc;
        }
    }

    a->error_sent = 1;

    out.buf = a->error;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/* the error's header in place of the answer's */

static ngx_int_t
ngx_http_foundry_ch_replace_header(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *a)
{
    a->header_sent = 1;

    r->headers_out.status = a->status;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_type = ngx_http_foundry_ch_json;
    r->headers_out.content_type_len = ngx_http_foundry_ch_json.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    r->headers_out.content_length_n = a->error->last - a->error->pos;

    return ngx_http_next_header_filter(r);
}
