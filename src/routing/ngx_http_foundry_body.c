
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_routing.h"


#define NGX_HTTP_FOUNDRY_MAX_DEPTH      512
#define NGX_HTTP_FOUNDRY_READ_SIZE      65536
#define NGX_HTTP_FOUNDRY_COPY_SIZE      16384


static int ngx_http_foundry_body_null(void *ctx);
static int ngx_http_foundry_body_boolean(void *ctx, int value);
static int ngx_http_foundry_body_number(void *ctx, const char *s, size_t len);
static int ngx_http_foundry_body_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_body_start_map(void *ctx);
static int ngx_http_foundry_body_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_body_end(void *ctx);
static int ngx_http_foundry_body_start_array(void *ctx);
static int ngx_http_foundry_body_deeper(ngx_http_foundry_body_t *b);
static int ngx_http_foundry_body_scalar(ngx_http_foundry_body_t *b);
static int ngx_http_foundry_body_placed(ngx_http_foundry_body_t *b);
static ngx_int_t ngx_http_foundry_body_feed(ngx_http_foundry_body_t *b,
    u_char *data, size_t len);
static ngx_uint_t ngx_http_foundry_body_descend(void *ctx);
static yajl_callbacks *ngx_http_foundry_body_reader(
    ngx_http_foundry_body_t *b, void **ctx,
    ngx_http_foundry_jscan_descend_pt *descend);
static ngx_int_t ngx_http_foundry_body_copy(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b);
static u_char *ngx_http_foundry_body_room(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b, size_t size);
static ngx_int_t ngx_http_foundry_body_one(ngx_http_request_t *r,
    u_char *start, u_char *end);
static ngx_int_t ngx_http_foundry_body_blank(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b);
static ngx_chain_t **ngx_http_foundry_chain_range(ngx_pool_t *pool,
    ngx_chain_t *in, off_t from, off_t to, ngx_chain_t **ll);


static yajl_callbacks  ngx_http_foundry_body_callbacks = {
    ngx_http_foundry_body_null,
    ngx_http_foundry_body_boolean,
    NULL,
    NULL,
    ngx_http_foundry_body_number,
    ngx_http_foundry_body_string,
    ngx_http_foundry_body_start_map,
    ngx_http_foundry_body_map_key,
    ngx_http_foundry_body_end,
    ngx_http_foundry_body_start_array,
    ngx_http_foundry_body_end
};


/* where the token being read ends; "base" alone when scanned */

#define ngx_http_foundry_body_offset(b)                                       \
    ((b)->base                                                                \
     + ((b)->handle ? (off_t) yajl_get_bytes_consumed((b)->handle) : 0))


/* a scalar value; at depth 1 it belongs to a top-level key */

static int
ngx_http_foundry_body_scalar(ngx_http_foundry_body_t *b)
{
    if (b->key == NGX_HTTP_FOUNDRY_KEY_STREAM_OPTIONS
        || b->key == NGX_HTTP_FOUNDRY_KEY_INCLUDE_USAGE)
    {
        /* not an object, not a boolean: left alone */
        b->include_usage = NGX_HTTP_FOUNDRY_IU_OTHER;
    }

    if (!ngx_http_foundry_body_placed(b)) {
        return 0;
    }

    b->key = NGX_HTTP_FOUNDRY_KEY_OTHER;

    return 1;
}


/*
 * A value other than a string or an object: an error as the body itself
 * or as "model"
 */

static int
ngx_http_foundry_body_placed(ngx_http_foundry_body_t *b)
{
    if (b->depth == 0) {
        b->error = NGX_HTTP_FOUNDRY_BODY_NOT_OBJECT;
        return 0;
    }

    if (b->depth == 1 && b->key == NGX_HTTP_FOUNDRY_KEY_MODEL) {
        b->error = NGX_HTTP_FOUNDRY_BODY_MODEL_TYPE;
        return 0;
    }

    return 1;
}


static int
ngx_http_foundry_body_null(void *ctx)
{
    return ngx_http_foundry_body_scalar(ctx);
}


static int
ngx_http_foundry_body_boolean(void *ctx, int value)
{
    ngx_http_foundry_body_t  *b = ctx;

    if (b->depth == 1 && b->key == NGX_HTTP_FOUNDRY_KEY_STREAM) {
        b->stream = value ? 1 : 0;
    }

    if (b->key == NGX_HTTP_FOUNDRY_KEY_INCLUDE_USAGE) {
        b->include_usage = value ? NGX_HTTP_FOUNDRY_IU_TRUE
                                 : NGX_HTTP_FOUNDRY_IU_FALSE;
        b->iu_end = ngx_http_foundry_body_offset(b);
        b->key = NGX_HTTP_FOUNDRY_KEY_OTHER;
    }

    return ngx_http_foundry_body_scalar(b);
}


static int
ngx_http_foundry_body_number(void *ctx, const char *s, size_t len)
{
    ngx_http_foundry_body_t  *b = ctx;

    ngx_int_t  n;

    /* max_tokens and its later names: what a limit reserves */

    if (b->depth == 1 && b->key == NGX_HTTP_FOUNDRY_KEY_MAX_TOKENS
        && !b->no_max_tokens)
    {
        n = ngx_atoi((u_char *) s, len);

        if (n != NGX_ERROR && n > b->max_tokens) {
            b->max_tokens = n;
        }
    }

    return ngx_http_foundry_body_scalar(b);
}


static int
ngx_http_foundry_body_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_body_t  *b = ctx;

    if (b->depth == 1 && b->key == NGX_HTTP_FOUNDRY_KEY_MODEL) {

        if (len > NGX_HTTP_FOUNDRY_MAX_MODEL_LEN) {
            b->error = NGX_HTTP_FOUNDRY_BODY_MODEL_LONG;
            return 0;
        }

        if (b->text && s >= b->text && s + len <= b->text + b->size) {
            /* the scanner's string without escapes, in the body's text */

            b->model.data = (u_char *) s;

        } else {
            b->model.data = ngx_pnalloc(b->pool, len ? len : 1);
            if (b->model.data == NULL) {
                b->error = NGX_HTTP_FOUNDRY_BODY_NOMEM;
                return 0;
            }

            ngx_memcpy(b->model.data, s, len);
        }

        b->model.len = len;
        b->value_end = ngx_http_foundry_body_offset(b);
        b->key = NGX_HTTP_FOUNDRY_KEY_OTHER;

        return 1;
    }

    return ngx_http_foundry_body_scalar(b);
}


static int
ngx_http_foundry_body_start_map(void *ctx)
{
    ngx_http_foundry_body_t  *b = ctx;

    if (b->depth == 0) {
        b->obj_start = ngx_http_foundry_body_offset(b);

    } else if (b->depth == 1 && b->key == NGX_HTTP_FOUNDRY_KEY_MODEL) {
        b->error = NGX_HTTP_FOUNDRY_BODY_MODEL_TYPE;
        return 0;

    } else if (b->key == NGX_HTTP_FOUNDRY_KEY_STREAM_OPTIONS) {
        b->so_start = ngx_http_foundry_body_offset(b);
        b->in_so = 1;

    } else if (b->key == NGX_HTTP_FOUNDRY_KEY_INCLUDE_USAGE) {
        b->include_usage = NGX_HTTP_FOUNDRY_IU_OTHER;
    }

    return ngx_http_foundry_body_deeper(b);
}


static int
ngx_http_foundry_body_start_array(void *ctx)
{
    ngx_http_foundry_body_t  *b = ctx;

    if (!ngx_http_foundry_body_placed(b)) {
        return 0;
    }

    if (b->key == NGX_HTTP_FOUNDRY_KEY_STREAM_OPTIONS
        || b->key == NGX_HTTP_FOUNDRY_KEY_INCLUDE_USAGE)
    {
        b->include_usage = NGX_HTTP_FOUNDRY_IU_OTHER;
    }

    return ngx_http_foundry_body_deeper(b);
}


static int
ngx_http_foundry_body_end(void *ctx)
{
    ngx_http_foundry_body_t  *b = ctx;

    if (--b->depth == 1) {
        b->in_so = 0;
    }

    b->key = NGX_HTTP_FOUNDRY_KEY_OTHER;

    return 1;
}


/* one level deeper, its key not known yet */

static int
ngx_http_foundry_body_deeper(ngx_http_foundry_body_t *b)
{
    if (++b->depth > NGX_HTTP_FOUNDRY_MAX_DEPTH) {
        b->error = NGX_HTTP_FOUNDRY_BODY_DEEP;
        return 0;
    }

    b->key = NGX_HTTP_FOUNDRY_KEY_OTHER;

    return 1;
}


static int
ngx_http_foundry_body_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_body_t  *b = ctx;

    if (b->depth == 2 && b->in_so) {
        b->so_keys = 1;

        if (len == 13 && ngx_memcmp(s, "include_usage", 13) == 0) {

            if (b->include_usage != NGX_HTTP_FOUNDRY_IU_ABSENT) {
                b->include_usage = NGX_HTTP_FOUNDRY_IU_OTHER;
                return 1;
            }

            b->key = NGX_HTTP_FOUNDRY_KEY_INCLUDE_USAGE;
            return 1;
        }

        b->key = NGX_HTTP_FOUNDRY_KEY_OTHER;
        return 1;
    }

    if (b->depth != 1) {
        return 1;
    }

    b->keys = 1;
    b->key = NGX_HTTP_FOUNDRY_KEY_OTHER;

    /* by the length first: most keys ("messages", "tools") are none */

    switch (len) {

    case 14:
        if (ngx_memcmp(s, "stream_options", 14) != 0) {
            return 1;
        }

        if (b->has_so) {
            /* twice: which one counts is the upstream's business */
            b->include_usage = NGX_HTTP_FOUNDRY_IU_OTHER;
            return 1;
        }

        b->has_so = 1;
        b->key = NGX_HTTP_FOUNDRY_KEY_STREAM_OPTIONS;

        return 1;

    case 5:
        if (ngx_memcmp(s, "model", 5) != 0) {
            return 1;
        }

        if (b->has_model) {
            b->error = NGX_HTTP_FOUNDRY_BODY_MODEL_TWICE;
            return 0;
        }

        b->has_model = 1;
        b->key = NGX_HTTP_FOUNDRY_KEY_MODEL;
        b->key_end = ngx_http_foundry_body_offset(b);

        return 1;

    case 6:
        if (ngx_memcmp(s, "stream", 6) == 0) {
            b->key = NGX_HTTP_FOUNDRY_KEY_STREAM;
        }

        return 1;

    case 10:
    case 17:
    case 21:
        if ((len == 10 && ngx_memcmp(s, "max_tokens", 10) == 0)
            || (len == 21 && ngx_memcmp(s, "max_completion_tokens", 21) == 0)
            || (len == 17 && ngx_memcmp(s, "max_output_tokens", 17) == 0))
        {
            b->key = NGX_HTTP_FOUNDRY_KEY_MAX_TOKENS;
        }

        return 1;

    default:
        return 1;
    }
}


static ngx_int_t
ngx_http_foundry_body_feed(ngx_http_foundry_body_t *b, u_char *data,
    size_t len)
{
    yajl_status  st;

    st = yajl_parse(b->handle, data, len);

    b->base += len;

    if (st == yajl_status_ok) {
        return NGX_OK;
    }

    if (b->error == 0) {
        b->error = NGX_HTTP_FOUNDRY_BODY_SYNTAX;
    }

    return NGX_ERROR;
}


/*
 * Parses the whole request body and remembers where the top-level "model"
 * is.  A body in memory is scanned (ngx_http_foundry_body_scan()), in
 * place when it is in one buffer; one in a temporary file goes through
 * yajl as a stream (ngx_http_foundry_body_stream()).  With b->tee set, the
 * tee's second reader (the content check's text) reads the same parse.
 * Returns NGX_OK, or NGX_ERROR with b->error set.
 */

ngx_int_t
ngx_http_foundry_body_parse(ngx_http_request_t *r, ngx_http_foundry_body_t *b)
{
    u_char       *p, *text;
    size_t        len;
    ngx_buf_t    *buf;
    ngx_chain_t  *cl;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        b->error = NGX_HTTP_FOUNDRY_BODY_EMPTY;
        return NGX_ERROR;
    }

    len = 0;
    text = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        buf = cl->buf;

        if (ngx_buf_in_memory(buf)) {
            if (buf->last > buf->pos) {
                text = (len == 0) ? buf->pos : NULL;
                len += buf->last - buf->pos;
            }

            continue;
        }

        if (buf->in_file) {
            return ngx_http_foundry_body_stream(r, b);
        }
    }

    if (text == NULL && len) {
        text = ngx_pnalloc(r->pool, len);
        if (text == NULL) {
            b->error = NGX_HTTP_FOUNDRY_BODY_NOMEM;
            return NGX_ERROR;
        }

        b->copied = 1;

        p = text;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            buf = cl->buf;

            if (ngx_buf_in_memory(buf) && buf->last > buf->pos) {
                p = ngx_cpymem(p, buf->pos, buf->last - buf->pos);
            }
        }
    }

    return ngx_http_foundry_body_scan(r, b, text, len);
}


/*
 * The body in memory, [text, text + len), scanned by
 * ngx_http_foundry_jscan_parse() with yajl's callbacks: the same verdict
 * and the same members as ngx_http_foundry_body_stream()
 * (fuzz/fuzz_jscan.c checks it), the values of the members that are not
 * looked at only checked
 */

ngx_int_t
ngx_http_foundry_body_scan(ngx_http_request_t *r, ngx_http_foundry_body_t *b,
    u_char *text, size_t len)
{
    void                               *ctx;
    ngx_int_t                           rc;
    yajl_callbacks                     *cb;
    ngx_http_foundry_jscan_descend_pt   descend;

    b->pool = r->pool;
    b->so_start = -1;
    b->handle = NULL;
    b->base = 0;

    /* the text lasts as long as the request: "model" may point into it */

    b->text = text;
    b->size = len;

    if (len == 0) {
        b->error = NGX_HTTP_FOUNDRY_BODY_EMPTY;
        return NGX_ERROR;
    }

    cb = ngx_http_foundry_body_reader(b, &ctx, &descend);

    if (b->tee) {
        /* the scanner's strings stay: in the text, or decoded in the pool */
        b->tee->kept = 1;
    }

    rc = ngx_http_foundry_jscan_parse(b->pool, text, text + len, cb, ctx,
                                      descend, NGX_HTTP_FOUNDRY_MAX_DEPTH,
                                      &b->base);

    switch (rc) {

    case NGX_HTTP_FOUNDRY_JSCAN_OK:
        b->base = len;
        b->size = len;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "foundry: request body scanned, %uz bytes%s", len,
                       b->tee ? ", the content check's text with it" : "");

        return NGX_OK;

    case NGX_HTTP_FOUNDRY_JSCAN_DEEP:
        b->error = NGX_HTTP_FOUNDRY_BODY_DEEP;
        break;

    case NGX_HTTP_FOUNDRY_JSCAN_NOMEM:
        b->error = NGX_HTTP_FOUNDRY_BODY_NOMEM;
        break;

    default:
        if (b->error == 0) {
            b->error = NGX_HTTP_FOUNDRY_BODY_SYNTAX;
        }
    }

    return NGX_ERROR;
}


/*
 * The callbacks of the parse, their context and the scanner's descend: the
 * body's own, or with b->tee (set by the caller before the parse) the body
 * as the first reader of a tee and the tee's second (the content check's
 * text) reading the same parse.
 */

static yajl_callbacks *
ngx_http_foundry_body_reader(ngx_http_foundry_body_t *b, void **ctx,
    ngx_http_foundry_jscan_descend_pt *descend)
{
    if (b->tee == NULL) {
        *ctx = b;
        *descend = ngx_http_foundry_body_descend;
        return &ngx_http_foundry_body_callbacks;
    }

    b->tee->first.cb = &ngx_http_foundry_body_callbacks;
    b->tee->first.ctx = b;
    b->tee->first.descend = ngx_http_foundry_body_descend;
    b->tee->stopped = 0;
    b->tee->asleep = 0;

    *ctx = b->tee;
    *descend = ngx_http_foundry_jtee_descend;

    return &ngx_http_foundry_jtee_callbacks;
}


/* only "stream_options" has members to read below the top object */

static ngx_uint_t
ngx_http_foundry_body_descend(void *ctx)
{
    ngx_http_foundry_body_t  *b = ctx;

    return b->in_so && b->depth == 2;
}


/*
 * Parses the whole request body with yajl, as a stream over its buffers
 * (in memory or in the temporary file).  Returns NGX_OK, or NGX_ERROR with
 * b->error set.
 */

ngx_int_t
ngx_http_foundry_body_stream(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b)
{
    off_t                               pos;
    void                               *ctx;
    size_t                              size;
    ssize_t                             n;
    ngx_buf_t                          *buf;
    yajl_status                         st;
    ngx_chain_t                        *cl;
    yajl_callbacks                     *cb;
    yajl_alloc_funcs                    funcs;
    ngx_http_foundry_jscan_descend_pt   descend;

    b->pool = r->pool;
    b->so_start = -1;

    ngx_http_foundry_json_alloc_funcs(r->pool, &funcs);

    cb = ngx_http_foundry_body_reader(b, &ctx, &descend);

    b->handle = yajl_alloc(cb, &funcs, ctx);
    if (b->handle == NULL) {
        b->error = NGX_HTTP_FOUNDRY_BODY_NOMEM;
        return NGX_ERROR;
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        buf = cl->buf;

        if (ngx_buf_in_memory(buf)) {
            if (buf->last > buf->pos
                && ngx_http_foundry_body_feed(b, buf->pos,
                                              buf->last - buf->pos)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (!buf->in_file) {
            continue;
        }

        if (b->scratch == NULL) {
            b->scratch = ngx_pnalloc(r->pool, NGX_HTTP_FOUNDRY_READ_SIZE);
            if (b->scratch == NULL) {
                b->error = NGX_HTTP_FOUNDRY_BODY_NOMEM;
                return NGX_ERROR;
            }
        }

        for (pos = buf->file_pos; pos < buf->file_last; pos += n) {
            size = (size_t) ngx_min(buf->file_last - pos,
                                    NGX_HTTP_FOUNDRY_READ_SIZE);

            n = ngx_read_file(buf->file, b->scratch, size, pos);

            if (n == NGX_ERROR || n == 0) {
                b->error = NGX_HTTP_FOUNDRY_BODY_READ;
                return NGX_ERROR;
            }

            if (ngx_http_foundry_body_feed(b, b->scratch, n) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    if (b->base == 0) {
        b->error = NGX_HTTP_FOUNDRY_BODY_EMPTY;
        return NGX_ERROR;
    }

    st = yajl_complete_parse(b->handle);

    if (st != yajl_status_ok) {
        if (b->error == 0) {
            b->error = NGX_HTTP_FOUNDRY_BODY_SYNTAX;
        }

        return NGX_ERROR;
    }

    b->size = b->base;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: request body parsed, %O bytes%s", b->size,
                   b->tee ? ", the content check's text with it" : "");

    return NGX_OK;
}


/* the message for a body error; NULL when it is not the client's fault */

const char *
ngx_http_foundry_body_error(ngx_http_foundry_body_t *b)
{
    switch (b->error) {

    case NGX_HTTP_FOUNDRY_BODY_EMPTY:
        return "the request body is empty, a JSON object is expected";

    case NGX_HTTP_FOUNDRY_BODY_SYNTAX:
        return "the request body is not valid JSON";

    case NGX_HTTP_FOUNDRY_BODY_NOT_OBJECT:
        return "the request body must be a JSON object";

    case NGX_HTTP_FOUNDRY_BODY_DEEP:
        return "the request body is nested too deeply";

    case NGX_HTTP_FOUNDRY_BODY_MODEL_TYPE:
        return "\"model\" in the request body must be a string";

    case NGX_HTTP_FOUNDRY_BODY_MODEL_TWICE:
        return "the request body has more than one \"model\"";

    case NGX_HTTP_FOUNDRY_BODY_MODEL_LONG:
        return "\"model\" in the request body is too long";

    default:
        return NULL;
    }
}


/*
 * The edits of the body sent upstream, made by ngx_http_foundry_body_apply()
 * in one pass.  ngx_http_foundry_body_set_model(): the value of the
 * top-level "model" replaced by (or, if there is none, the member "model"
 * inserted with) the JSON string "value".
 */

ngx_int_t
ngx_http_foundry_body_set_model(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b, ngx_str_t *value)
{
    u_char                        *p;
    ngx_http_foundry_body_edit_t  *e;

    e = &b->edits[b->nedits++];

    if (b->has_model) {
        e->from = b->key_end;
        e->to = b->value_end;
        e->text.len = 1 + value->len;

    } else {
        e->from = b->obj_start;
        e->to = b->obj_start;
        e->text.len = sizeof("\"model\":") - 1 + value->len
                      + (b->keys ? 1 : 0);
    }

    p = ngx_pnalloc(r->pool, e->text.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    e->text.data = p;

    if (b->has_model) {
        *p++ = ':';
        ngx_memcpy(p, value->data, value->len);

    } else {
        p = ngx_cpymem(p, "\"model\":", sizeof("\"model\":") - 1);
        p = ngx_cpymem(p, value->data, value->len);

        if (b->keys) {
            *p = ',';
        }
    }

    return NGX_OK;
}


/*
 * "stream_options": {"include_usage": true} in a streamed request that
 * does not ask for usage: NGX_OK when the body says it now, NGX_DECLINED
 * when it cannot be said (the client asked already, or "stream_options"
 * or "include_usage" is not what the API defines: left to the upstream).
 */

ngx_int_t
ngx_http_foundry_body_include_usage(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b)
{
    ngx_uint_t                     i, model;
    ngx_http_foundry_body_edit_t  *e, edit;

    static ngx_str_t  member = ngx_string("\"stream_options\":"
                                          "{\"include_usage\":true},");
    static ngx_str_t  first = ngx_string("\"include_usage\":true,");
    static ngx_str_t  yes = ngx_string("true");

    if (b->include_usage == NGX_HTTP_FOUNDRY_IU_FALSE) {
        edit.from = b->iu_end - (sizeof("false") - 1);
        edit.to = b->iu_end;
        edit.text = yes;

    } else if (b->include_usage != NGX_HTTP_FOUNDRY_IU_ABSENT) {
        return NGX_DECLINED;

    } else if (!b->has_so) {
        edit.from = b->obj_start;
        edit.to = b->obj_start;
        edit.text = member;

        /* before a "model" inserted at the same place, or the first key */

        model = (b->nedits && b->edits[0].from == b->obj_start);

        if (!b->keys && !model) {
            edit.text.len--;
        }

    } else if (b->so_start >= 0) {
        edit.from = b->so_start;
        edit.to = b->so_start;
        edit.text = first;

        if (!b->so_keys) {
            edit.text.len--;
        }

    } else {
        return NGX_DECLINED;
    }

    /* in the order of the body; first among edits at the same place */

    for (i = 0; i < b->nedits; i++) {
        if (b->edits[i].from >= edit.from) {
            break;
        }
    }

    e = b->edits;

    ngx_memmove(&e[i + 1], &e[i],
                (b->nedits - i) * sizeof(ngx_http_foundry_body_edit_t));

    e[i] = edit;
    b->nedits++;

    return NGX_OK;
}


/*
 * Builds the body sent upstream: a body in memory up to 16 KB in one
 * buffer with its edits (ngx_http_foundry_body_copy()); a larger one as
 * the buffers it is in (the parse's copy, when it was in several in
 * memory), shared, with the edits' bytes in between.  A body the parse
 * copied goes up as that copy even without edits: one buffer, not one
 * per read.
 */

ngx_int_t
ngx_http_foundry_body_apply(ngx_http_request_t *r, ngx_http_foundry_body_t *b)
{
    off_t                          pos, size;
    ngx_int_t                      blank;
    ngx_buf_t                     *buf;
    ngx_uint_t                     i;
    ngx_chain_t                   *out, **ll, *cl;
    ngx_http_foundry_body_edit_t  *e;

    if (b->nedits) {
        switch (ngx_http_foundry_body_copy(r, b)) {

        case NGX_OK:
            return NGX_OK;

        case NGX_ERROR:
            return NGX_ERROR;

        default: /* NGX_DECLINED */
            break;
        }
    }

    /* the parse's copy of a body in several buffers: one buffer */

    if (b->copied) {
        b->copied = 0;

        if (ngx_http_foundry_body_one(r, b->text, b->text + b->size)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (b->nedits == 0) {
        return NGX_OK;
    }

    /*
     * a body in nginx's temporary file, whole: the bytes an edit replaces
     * are blanked in the file, and the file's ranges follow one another
     * (ngx_http_foundry_body_blank())
     */

    blank = ngx_http_foundry_body_blank(r, b);

    if (blank == NGX_ERROR) {
        return NGX_ERROR;
    }

    out = NULL;
    ll = &out;
    pos = 0;
    size = b->size;

    for (i = 0; i < b->nedits; i++) {
        e = &b->edits[i];

        ll = ngx_http_foundry_chain_range(r->pool, r->request_body->bufs, pos,
                                          e->from, ll);
        if (ll == NULL) {
            return NGX_ERROR;
        }

        buf = ngx_calloc_buf(r->pool);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        buf->memory = 1;
        buf->start = e->text.data;
        buf->pos = buf->start;
        buf->last = e->text.data + e->text.len;
        buf->end = buf->last;

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = buf;
        *ll = cl;
        ll = &cl->next;

        if (blank == NGX_OK) {
            /* the replaced bytes stay, blank, in the next range */
            size += (off_t) e->text.len;
            pos = e->from;

        } else {
            size += (off_t) e->text.len - (e->to - e->from);
            pos = e->to;
        }
    }

    ll = ngx_http_foundry_chain_range(r->pool, r->request_body->bufs, pos,
                                      b->size, ll);
    if (ll == NULL) {
        return NGX_ERROR;
    }

    *ll = NULL;

    for (cl = out; cl; cl = cl->next) {
        cl->buf->last_buf = 0;
        cl->buf->last_in_chain = 0;

        if (cl->next == NULL) {
            cl->buf->last_buf = 1;
            cl->buf->last_in_chain = 1;
        }
    }

    r->request_body->bufs = out;
    r->headers_in.content_length_n = size;

    b->nedits = 0;

    return NGX_OK;
}


/*
 * A body in memory up to 16 KB (most) is copied once with its edits into
 * one buffer: the proxy module's chain then has one link, not one per
 * piece.  NGX_DECLINED for any other body.
 */

static ngx_int_t
ngx_http_foundry_body_copy(ngx_http_request_t *r, ngx_http_foundry_body_t *b)
{
    u_char                        *p, *data;
    size_t                         size;
    ngx_uint_t                     i;
    ngx_http_foundry_body_edit_t  *e;

    if (b->text == NULL || b->size > NGX_HTTP_FOUNDRY_COPY_SIZE) {
        return NGX_DECLINED;
    }

    size = (size_t) b->size;

    for (i = 0; i < b->nedits; i++) {
        e = &b->edits[i];
        size += e->text.len - (size_t) (e->to - e->from);
    }

    data = ngx_http_foundry_body_room(r, b, size);

    if (data == NULL) {
        data = ngx_pnalloc(r->pool, size);
        if (data == NULL) {
            return NGX_ERROR;
        }
    }

    p = data;
    size = 0;

    for (i = 0; i < b->nedits; i++) {
        e = &b->edits[i];

        p = ngx_cpymem(p, b->text + size, (size_t) e->from - size);
        p = ngx_cpymem(p, e->text.data, e->text.len);
        size = (size_t) e->to;
    }

    p = ngx_cpymem(p, b->text + size, (size_t) b->size - size);

    b->nedits = 0;
    b->copied = 0;

    return ngx_http_foundry_body_one(r, data, p);
}


/*
 * Room for "size" bytes right after a body read with the headers into
 * nginx's header buffer, and nothing read after it (no pipelined request):
 * nginx itself reads a body into that part of the buffer when the body
 * fits (ngx_http_read_client_request_body()), and reads the next request
 * only once this one is over.  NULL for any other body.
 */

static u_char *
ngx_http_foundry_body_room(ngx_http_request_t *r, ngx_http_foundry_body_t *b,
    size_t size)
{
    ngx_buf_t  *hb;

    /* HTTP/1.x only: HTTP/2 and HTTP/3 read their streams' own buffers */

    if (r->http_version >= NGX_HTTP_VERSION_20) {
        return NULL;
    }

    hb = r->header_in;

    if (b->copied || hb == NULL || !hb->temporary
        || b->text < hb->start || b->text + b->size != hb->last
        || (size_t) (hb->end - hb->last) < size)
    {
        return NULL;
    }

    return hb->last;
}


/*
 * A body that nginx spooled to its temporary file is there whole, one
 * buffer of the file from offset 0.  When the proxy module sends a body
 * again (proxy_next_upstream), it rewinds the file's buffers as one range
 * from 0, each going on where the one before it ended: a body cut around
 * an edit's replaced bytes would be sent again with them and shifted.  So
 * the replaced bytes are overwritten with blanks in the file (white space
 * between the JSON's tokens: an edit replaces whole tokens), and the
 * file's ranges follow one another, the edits' texts in between: sent
 * again, the body is the same.  NGX_OK when done, NGX_DECLINED for a body
 * that is not so (in memory, or in buffers of both kinds), NGX_ERROR.
 */

static ngx_int_t
ngx_http_foundry_body_blank(ngx_http_request_t *r, ngx_http_foundry_body_t *b)
{
    off_t                          off, offset;
    size_t                         n;
    ngx_buf_t                     *buf;
    ngx_uint_t                     i;
    ngx_file_t                    *file;
    ngx_http_request_body_t       *rb;
    ngx_http_foundry_body_edit_t  *e;

    static u_char  blanks[64] = "                                "
                                "                                ";

    rb = r->request_body;

    /* a file kept after the request (client_body_in_file_only on) as is */

    if (rb->temp_file == NULL || rb->bufs == NULL || rb->bufs->next
        || r->request_body_in_persistent_file)
    {
        return NGX_DECLINED;
    }

    buf = rb->bufs->buf;
    file = &rb->temp_file->file;

    if (!buf->in_file || ngx_buf_in_memory(buf) || buf->file != file
        || buf->file_pos != 0 || buf->file_last != b->size)
    {
        return NGX_DECLINED;
    }

    /* ngx_write_file() moves the file's offset: nginx's own is kept */

    offset = file->offset;

    for (i = 0; i < b->nedits; i++) {
        e = &b->edits[i];

        for (off = e->from; off < e->to; off += n) {
            n = (size_t) ngx_min((off_t) sizeof(blanks), e->to - off);

            if (ngx_write_file(file, blanks, n, off) != (ssize_t) n) {
                file->offset = offset;
                return NGX_ERROR;
            }
        }
    }

    file->offset = offset;

    return NGX_OK;
}


/*
 * The body sent upstream is [start, end), one buffer in memory; its start
 * is set, as nginx's own body buffers have it, for the proxy module sends
 * a body again from there (proxy_next_upstream)
 */

static ngx_int_t
ngx_http_foundry_body_one(ngx_http_request_t *r, u_char *start, u_char *end)
{
    ngx_buf_t    *buf;
    ngx_chain_t  *cl;

    buf = ngx_calloc_buf(r->pool);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    buf->memory = 1;
    buf->start = start;
    buf->pos = start;
    buf->last = end;
    buf->end = end;
    buf->last_buf = 1;
    buf->last_in_chain = 1;

    cl->buf = buf;
    cl->next = NULL;

    r->request_body->bufs = cl;
    r->headers_in.content_length_n = end - start;

    return NGX_OK;
}


/* links shadow buffers for the bytes [from, to) of the chain "in" */

static ngx_chain_t **
ngx_http_foundry_chain_range(ngx_pool_t *pool, ngx_chain_t *in, off_t from,
    off_t to, ngx_chain_t **ll)
{
    off_t         pos, size, start, end;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (from >= to) {
        return ll;
    }

    pos = 0;

    for ( /* void */ ; in && pos < to; in = in->next) {

        if (ngx_buf_special(in->buf)) {
            continue;
        }

        size = ngx_buf_size(in->buf);

        if (pos + size <= from) {
            pos += size;
            continue;
        }

        start = ngx_max(from - pos, 0);
        end = ngx_min(to - pos, size);

        b = ngx_calloc_buf(pool);
        if (b == NULL) {
            return NULL;
        }

        if (ngx_buf_in_memory(in->buf)) {
            b->memory = 1;
            b->start = in->buf->pos + start;
            b->pos = b->start;
            b->last = in->buf->pos + end;
            b->end = b->last;

        } else {
            b->in_file = 1;
            b->file = in->buf->file;
            b->file_pos = in->buf->file_pos + start;
            b->file_last = in->buf->file_pos + end;
        }

        cl = ngx_alloc_chain_link(pool);
        if (cl == NULL) {
            return NULL;
        }

        cl->buf = b;
        *ll = cl;
        ll = &cl->next;

        pos += size;
    }

    return ll;
}
