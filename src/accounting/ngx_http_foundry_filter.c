
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"


static ngx_int_t ngx_http_foundry_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_foundry_error_page(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx);
static ngx_int_t ngx_http_foundry_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_http_foundry_client_check(ngx_http_request_t *r);
static ngx_int_t ngx_http_foundry_drain_start(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx);
static ngx_int_t ngx_http_foundry_drain(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_chain_t *in);
static void ngx_http_foundry_drain_timeout(ngx_event_t *ev);
static void ngx_http_foundry_drain_cleanup(void *data);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


typedef struct {
    ngx_uint_t   status;
    const char  *code;
    const char  *message;
} ngx_http_foundry_status_error_t;


static ngx_http_foundry_status_error_t  ngx_http_foundry_status_errors[] = {
    { NGX_HTTP_BAD_REQUEST, "BadRequest",
      "the request is malformed" },
    { NGX_HTTP_UNAUTHORIZED, "Unauthorized",
      "access denied" },
    { NGX_HTTP_FORBIDDEN, "Forbidden",
      "access denied" },
    { NGX_HTTP_REQUEST_TIME_OUT, "RequestTimeout",
      "the client took too long to send the request" },
    { NGX_HTTP_LENGTH_REQUIRED, "LengthRequired",
      "the request needs a length" },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "RequestEntityTooLarge",
      "the request body is larger than this gateway accepts" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE, "UriTooLong",
      "the request URI is too long" },
    { 429, "RateLimitExceeded",
      "every upstream server of the deployment is rate limited" },
    { NGX_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
      "the gateway failed to process the request" },
    { NGX_HTTP_BAD_GATEWAY, "BadGateway",
      "the model upstream could not be reached or sent an invalid answer" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "ServiceUnavailable",
      "the gateway is not able to serve the request now" },
    { NGX_HTTP_GATEWAY_TIME_OUT, "GatewayTimeout",
      "the model upstream did not answer in time" },
    { 0, "Error", "the request failed" }
};


/*
 * Errors that nginx answers by itself on a gateway location (a body over
 * client_max_body_size, an unreachable or timed out upstream ...) go out
 * as OpenAI-style JSON rather than nginx's HTML page.  An error_page of
 * the location still takes precedence: it redirects before we see it.
 */

ngx_int_t
ngx_http_foundry_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_foundry_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_foundry_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_header_filter(ngx_http_request_t *r)
{
    ngx_http_foundry_ctx_t       *ctx;
    ngx_http_foundry_loc_conf_t  *flcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    /*
     * nginx may refuse a request of a gateway location before any phase
     * of the module ran (a Content-Length over client_max_body_size)
     */

    if (ctx == NULL && r->err_status >= NGX_HTTP_BAD_REQUEST) {
        flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);

        if (flcf->enable) {
            ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_ctx_t));
            if (ctx == NULL) {
                return NGX_ERROR;
            }

            ngx_http_set_ctx(r, ctx, ngx_http_foundry_module);
        }
    }

    if (ctx == NULL || ctx->error_body) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->limit_headers && !ctx->limit_headers_sent) {
        ctx->limit_headers_sent = 1;

        if (ngx_http_foundry_limit_headers(r, ctx->limit_headers) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /*
     * an upstream answer without a status line: the proxy module passes
     * its bytes on as an HTTP/0.9 answer, with neither status nor
     * headers; the client gets a 502 instead
     */

    if (ctx->routed && r->upstream && r->http_version == NGX_HTTP_VERSION_9
        && r->http_major >= 1)
    {
        r->http_version = r->http_major * 1000 + r->http_minor;
        r->headers_out.status = NGX_HTTP_BAD_GATEWAY;
        r->err_status = NGX_HTTP_BAD_GATEWAY;
        r->keepalive = 0;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);

    /*
     * an upstream's answer: its token usage is read as it passes, when
     * something reads it
     */

    if (ctx->routed && r->upstream && r->err_status == 0
        && r->headers_out.status == NGX_HTTP_OK && !r->header_only
        && ctx->usage.mode == 0)
    {
        if (!ngx_http_foundry_usage_wanted(r, flcf, ctx)) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "foundry usage: not read, nothing reads it");

        } else if (ngx_http_foundry_usage_init(r, &ctx->usage,
                                               &r->headers_out.content_type)
                   == NGX_ERROR)
        {
            return NGX_ERROR;
        }
    }

    /*
     * the client leaving does not end the answer whose usage is read: the
     * check of nginx's upstream module, which would close the upstream
     * connection, gives way to ours (not while the request body is still
     * read: nginx's own handler reads it)
     */

    if (ctx->usage.mode && r->upstream && !ctx->drain
        && flcf->usage_drain_timeout && !r->reading_body)
    {
        ctx->drain = 1;
        r->read_event_handler = ngx_http_foundry_client_check;
    }

    /* the stream of a request that got "include_usage" from the gateway */

    if (ctx->strip_usage && ctx->strip == NULL
        && ctx->usage.mode == NGX_HTTP_FOUNDRY_USAGE_SSE
        && ngx_http_foundry_strip_init(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (r->err_status < NGX_HTTP_BAD_REQUEST
        || r->headers_out.status != r->err_status)
    {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_foundry_error_page(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


/*
 * An error of the gateway or of nginx: the OpenAI-style JSON body, made
 * here and sent by the body filter
 */

static ngx_int_t
ngx_http_foundry_error_page(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx)
{
    ngx_uint_t                        i;
    const char                       *code, *message;
    ngx_table_elt_t                  *h;
    ngx_http_foundry_status_error_t  *s;

    static ngx_str_t  type = ngx_string("application/json");

    /* no server to go to: all cooling down after 429s */

    if (ctx->cooling && r->err_status == NGX_HTTP_BAD_GATEWAY) {
        r->err_status = 429;
        r->headers_out.status = 429;

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (h->value.data == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.len = ngx_sprintf(h->value.data, "%ui", ctx->cooling)
                       - h->value.data;
    }

    for (i = 0; ngx_http_foundry_status_errors[i].status; i++) {
        if (ngx_http_foundry_status_errors[i].status == r->err_status) {
            break;
        }
    }

    s = &ngx_http_foundry_status_errors[i];

    code = s->code;
    message = s->message;

    /* the access check's own words */

    if (ctx->error_message && r->err_status == NGX_HTTP_UNAUTHORIZED) {
        code = ctx->error_code;
        message = ctx->error_message;
    }

    ctx->error_body = ngx_http_foundry_error_body(r, r->err_status, code,
                                                  (u_char *) message,
                                                  ngx_strlen(message));
    if (ctx->error_body == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.content_type = type;
    r->headers_out.content_type_len = type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    r->headers_out.content_length_n = ctx->error_body->last
                                      - ctx->error_body->pos;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                    rc;
    ngx_chain_t                  out, *cl;
    ngx_http_foundry_ctx_t      *ctx;
    ngx_http_foundry_collect_t  *c;

    if (r != r->main) {

        /* a fetch subrequest's context is where its answer is collected */

        c = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

        if (c) {
            return ngx_http_foundry_collect(r, c, in);
        }

        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->usage.mode && !ctx->usage.done) {
        ngx_http_foundry_usage_feed(r, &ctx->usage, in);

        for (cl = in; cl; cl = cl->next) {
            if (cl->buf->last_buf) {
                ngx_http_foundry_usage_done(&ctx->usage);
                break;
            }
        }
    }

    if (ctx->drain && (ctx->draining || r->connection->error)) {
        return ngx_http_foundry_drain(r, ctx, in);
    }

    if (ctx->error_body) {

        /* nginx's page is dropped, ours goes instead */

        for ( /* void */ ; in; in = in->next) {
            in->buf->pos = in->buf->last;
        }

        if (ctx->error_sent) {
            return ngx_http_next_body_filter(r, NULL);
        }

        ctx->error_sent = 1;

        out.buf = ctx->error_body;
        out.next = NULL;

        return ngx_http_next_body_filter(r, &out);
    }

    if (ctx->strip) {
        if (ngx_http_foundry_strip(r, ctx, in, &cl) != NGX_OK) {
            return NGX_ERROR;
        }

        rc = ngx_http_next_body_filter(r, cl);

        ngx_http_foundry_strip_done(r, ctx, &cl);

    } else {
        rc = ngx_http_next_body_filter(r, in);
    }

    /* the client left while the answer was sent to it */

    if (rc == NGX_ERROR && ctx->drain && r->connection->error) {
        return ngx_http_foundry_drain(r, ctx, in);
    }

    return rc;
}


/*
 * The client's connection, while the upstream's answer is read: nginx's
 * check for a client that closed the connection, without its ending of
 * the request.  The answer is read on for its usage (drain below).
 */

static void
ngx_http_foundry_client_check(ngx_http_request_t *r)
{
    int                      n;
    char                     buf[1];
    ngx_err_t                err;
    ngx_event_t             *rev;
    ngx_connection_t        *c;
    ngx_http_foundry_ctx_t  *ctx;

    c = r->connection;
    rev = c->read;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "foundry: check client");

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    if (ctx == NULL || ctx->draining) {
        return;
    }

    if (!c->error) {

#if (NGX_HTTP_V2)
        if (r->stream) {
            return;
        }
#endif

        n = recv(c->fd, buf, 1, MSG_PEEK);

        err = ngx_socket_errno;

        if (n == -1 && err == NGX_EAGAIN) {
            return;
        }

        if ((ngx_event_flags & NGX_USE_LEVEL_EVENT) && rev->active) {
            if (ngx_del_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
                return;
            }
        }

        if (n > 0) {
            return;
        }

        if (n == -1) {
            rev->error = 1;

        } else {
            err = 0;
        }

        rev->eof = 1;
        c->error = 1;

    } else if ((ngx_event_flags & NGX_USE_LEVEL_EVENT) && rev->active) {
        (void) ngx_del_event(rev, NGX_READ_EVENT, 0);
    }

    if (ngx_http_foundry_drain_start(r, ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


/*
 * The client left (its connection closed, or a write to it failed): what
 * the filters after this one still held for it is dropped, and the answer
 * is read on, for foundry_usage_drain_timeout at most
 */

static ngx_int_t
ngx_http_foundry_drain_start(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx)
{
    ngx_buf_t                    *b;
    ngx_chain_t                  *cl;
    ngx_event_t                  *ev;
    ngx_pool_cleanup_t           *cln;
    ngx_http_foundry_loc_conf_t  *flcf;

    if (ctx->draining) {
        return NGX_OK;
    }

    ctx->draining = 1;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "foundry: the client closed the connection, the "
                  "upstream's answer is read on for its token usage");

    /* the upstream's buffers that the write filter kept are free again */

    for (cl = r->out; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    r->out = NULL;
    r->connection->buffered &= ~NGX_HTTP_WRITE_BUFFERED;

    if (ctx->usage.done) {
        return NGX_OK;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);

    ev = ngx_pcalloc(r->pool, sizeof(ngx_event_t));
    if (ev == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ev->handler = ngx_http_foundry_drain_timeout;
    ev->data = r;
    ev->log = r->connection->log;

    cln->handler = ngx_http_foundry_drain_cleanup;
    cln->data = ev;

    ctx->drain_timer = ev;

    ngx_add_timer(ev, flcf->usage_drain_timeout);

    return NGX_OK;
}


/* the body filter once the client left: read, for the usage, and dropped */

static ngx_int_t
ngx_http_foundry_drain(ngx_http_request_t *r, ngx_http_foundry_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_buf_t                    *b;
    ngx_http_foundry_loc_conf_t  *flcf;

    if (ngx_http_foundry_drain_start(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        ctx->drained += ngx_buf_size(b);

        if (ngx_buf_in_memory(b)) {
            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    if (ctx->usage.done) {
        if (ctx->drain_timer && ctx->drain_timer->timer_set) {
            ngx_del_timer(ctx->drain_timer);
        }

        return NGX_OK;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);

    if (ctx->drained > (off_t) flcf->usage_drain_size) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: %O bytes of the answer read after the client "
                      "left, no usage yet: the upstream connection is closed",
                      ctx->drained);

        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_foundry_drain_timeout(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "foundry: no usage in the answer within "
                  "foundry_usage_drain_timeout after the client left: the "
                  "upstream connection is closed");

    ngx_http_finalize_request(r, NGX_ERROR);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_foundry_drain_cleanup(void *data)
{
    ngx_event_t  *ev = data;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }
}
