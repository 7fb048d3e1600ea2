
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_content.h"


#define NGX_HTTP_FOUNDRY_CT_READ_SIZE   65536

/* the top-level member being read */
#define NGX_HTTP_FOUNDRY_CT_T_OTHER     0
#define NGX_HTTP_FOUNDRY_CT_T_MESSAGES  1
#define NGX_HTTP_FOUNDRY_CT_T_INPUT     2
#define NGX_HTTP_FOUNDRY_CT_T_PROMPT    3
#define NGX_HTTP_FOUNDRY_CT_T_SYSTEM    4

/* the member of a message or item, or of a content part */
#define NGX_HTTP_FOUNDRY_CT_K_OTHER     0
#define NGX_HTTP_FOUNDRY_CT_K_ROLE      1
#define NGX_HTTP_FOUNDRY_CT_K_TYPE      2
#define NGX_HTTP_FOUNDRY_CT_K_CONTENT   3
#define NGX_HTTP_FOUNDRY_CT_K_OUTPUT    4
#define NGX_HTTP_FOUNDRY_CT_K_TEXT      5

/* whose text it is */
#define NGX_HTTP_FOUNDRY_CT_R_OTHER     0
#define NGX_HTTP_FOUNDRY_CT_R_USER      1
#define NGX_HTTP_FOUNDRY_CT_R_TOOL      2


static int ngx_http_foundry_ct_null(void *ctx);
static int ngx_http_foundry_ct_boolean(void *ctx, int value);
static int ngx_http_foundry_ct_number(void *ctx, const char *s, size_t len);
static int ngx_http_foundry_ct_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_ct_start_map(void *ctx);
static int ngx_http_foundry_ct_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_ct_end_map(void *ctx);
static int ngx_http_foundry_ct_start_array(void *ctx);
static int ngx_http_foundry_ct_end_array(void *ctx);
static ngx_int_t ngx_http_foundry_ct_append(ngx_http_foundry_ct_text_t *t,
    ngx_http_foundry_ct_buf_t *b, u_char *s, size_t len);
static ngx_int_t ngx_http_foundry_ct_feed(ngx_http_foundry_ct_text_t *t,
    ngx_buf_t *buf);


static yajl_callbacks  ngx_http_foundry_ct_callbacks = {
    ngx_http_foundry_ct_null,
    ngx_http_foundry_ct_boolean,
    NULL,
    NULL,
    ngx_http_foundry_ct_number,
    ngx_http_foundry_ct_string,
    ngx_http_foundry_ct_start_map,
    ngx_http_foundry_ct_map_key,
    ngx_http_foundry_ct_end_map,
    ngx_http_foundry_ct_start_array,
    ngx_http_foundry_ct_end_array
};


/*
 * The text a model would read in a request body: chat "messages" (string
 * contents and the "text" of content parts, tool results included), the
 * Responses API's "instructions" and "input" (a string, or items: messages
 * and function call outputs), completions' "prompt" (a string or strings).
 * Every text goes to t->all, one per line; the user's also to t->user and
 * tool results also to t->docs (for shieldPrompt).  Returns NGX_OK, or
 * NGX_ERROR with t->error set.
 */

ngx_int_t
ngx_http_foundry_content_text(ngx_pool_t *pool, ngx_chain_t *in, size_t max,
    ngx_http_foundry_ct_text_t *t)
{
    yajl_alloc_funcs  funcs;

    ngx_memzero(t, sizeof(ngx_http_foundry_ct_text_t));

    t->pool = pool;
    t->max = max;

    ngx_http_foundry_json_alloc_funcs(pool, &funcs);

    t->handle = yajl_alloc(&ngx_http_foundry_ct_callbacks, &funcs, t);
    if (t->handle == NULL) {
        t->error = NGX_HTTP_FOUNDRY_CT_NOMEM;
        return NGX_ERROR;
    }

    for ( /* void */ ; in; in = in->next) {
        if (ngx_http_foundry_ct_feed(t, in->buf) != NGX_OK) {
            goto failed;
        }
    }

    if (yajl_complete_parse(t->handle) == yajl_status_ok) {
        return NGX_OK;
    }

failed:

    if (t->error == 0) {
        t->error = NGX_HTTP_FOUNDRY_CT_SYNTAX;
    }

    return NGX_ERROR;
}


/* one buffer of the body, in memory or in the temporary file */

static ngx_int_t
ngx_http_foundry_ct_feed(ngx_http_foundry_ct_text_t *t, ngx_buf_t *buf)
{
    off_t    from, left;
    u_char  *data;
    size_t   chunk;
    ssize_t  got;

    if (ngx_buf_in_memory(buf)) {
        chunk = buf->last - buf->pos;

        if (chunk == 0) {
            return NGX_OK;
        }

        return yajl_parse(t->handle, buf->pos, chunk) == yajl_status_ok
               ? NGX_OK : NGX_ERROR;
    }

    if (!buf->in_file) {
        return NGX_OK;
    }

    if (t->scratch == NULL) {
        t->scratch = ngx_pnalloc(t->pool, NGX_HTTP_FOUNDRY_CT_READ_SIZE);
        if (t->scratch == NULL) {
            t->error = NGX_HTTP_FOUNDRY_CT_NOMEM;
            return NGX_ERROR;
        }
    }

    data = t->scratch;
    from = buf->file_pos;
    left = buf->file_last - buf->file_pos;

    while (left > 0) {
        chunk = (left > NGX_HTTP_FOUNDRY_CT_READ_SIZE)
                ? NGX_HTTP_FOUNDRY_CT_READ_SIZE : (size_t) left;

        got = ngx_read_file(buf->file, data, chunk, from);

        if (got <= 0) {
            t->error = NGX_HTTP_FOUNDRY_CT_READ;
            return NGX_ERROR;
        }

        if (yajl_parse(t->handle, data, got) != yajl_status_ok) {
            return NGX_ERROR;
        }

        from += got;
        left -= got;
    }

    return NGX_OK;
}


/* the length of a UTF-8 text as the service counts it (UTF-16 units) */

static size_t
ngx_http_foundry_ct_units(u_char *p, size_t len)
{
    size_t  n;

    for (n = 0; len; p++, len--) {
        if ((*p & 0xc0) != 0x80) {
            n += (*p >= 0xf0) ? 2 : 1;
        }
    }

    return n;
}


/*
 * The bytes of the longest start of a UTF-8 text that has at most "chars"
 * UTF-16 units and ends between two characters.
 */

size_t
ngx_http_foundry_content_cut(u_char *p, size_t len, size_t chars)
{
    size_t  i, n, w;

    n = 0;

    for (i = 0; i < len; i++) {
        if ((p[i] & 0xc0) == 0x80) {
            continue;
        }

        w = (p[i] >= 0xf0) ? 2 : 1;

        if (n + w > chars) {
            return i;
        }

        n += w;
    }

    return len;
}


static ngx_int_t
ngx_http_foundry_ct_append(ngx_http_foundry_ct_text_t *t,
    ngx_http_foundry_ct_buf_t *b, u_char *s, size_t len)
{
    u_char  *p;
    size_t   need, size;

    need = b->len + len + 1;

    if (need > b->size) {
        size = b->size ? b->size : 1024;

        while (size < need) {
            size *= 2;
        }

        p = ngx_pnalloc(t->pool, size);
        if (p == NULL) {
            t->error = NGX_HTTP_FOUNDRY_CT_NOMEM;
            return NGX_ERROR;
        }

        if (b->len) {
            ngx_memcpy(p, b->data, b->len);
        }

        b->data = p;
        b->size = size;
    }

    /* one text a line */

    if (b->len) {
        b->data[b->len++] = '\n';
    }

    ngx_memcpy(b->data + b->len, s, len);
    b->len += len;

    return NGX_OK;
}


/* a text of the request: into t->all, and t->user for "role" user */

static int
ngx_http_foundry_ct_text(ngx_http_foundry_ct_text_t *t, u_char *s,
    size_t len, ngx_uint_t user)
{
    if (len == 0) {
        return 1;
    }

    t->chars += ngx_http_foundry_ct_units(s, len) + (t->all.len ? 1 : 0);

    if (t->chars > t->max) {
        t->error = NGX_HTTP_FOUNDRY_CT_TOO_LARGE;
        return 0;
    }

    if (ngx_http_foundry_ct_append(t, &t->all, s, len) != NGX_OK) {
        return 0;
    }

    if (user && ngx_http_foundry_ct_append(t, &t->user, s, len) != NGX_OK) {
        return 0;
    }

    return 1;
}


static int
ngx_http_foundry_ct_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    u_char      *p;
    ngx_uint_t   key;

    p = (u_char *) s;
    key = t->key;
    t->key = NGX_HTTP_FOUNDRY_CT_K_OTHER;

    switch (t->depth) {

    case 1:
        /* "prompt", "input", "instructions" as strings */

        if (key != NGX_HTTP_FOUNDRY_CT_K_TEXT) {
            return 1;
        }

        return ngx_http_foundry_ct_text(t, p, len,
                                        t->top != NGX_HTTP_FOUNDRY_CT_T_SYSTEM);

    case 2:
        /* strings of "prompt" or "input" */

        if (t->top == NGX_HTTP_FOUNDRY_CT_T_PROMPT
            || t->top == NGX_HTTP_FOUNDRY_CT_T_INPUT)
        {
            return ngx_http_foundry_ct_text(t, p, len, 1);
        }

        return 1;

    case 3:
        /* a member of a message or item */

        if (t->top != NGX_HTTP_FOUNDRY_CT_T_MESSAGES
            && t->top != NGX_HTTP_FOUNDRY_CT_T_INPUT)
        {
            return 1;
        }

        if (key == NGX_HTTP_FOUNDRY_CT_K_ROLE) {
            if ((len == 4 && ngx_strncmp(p, "user", 4) == 0)) {
                t->item_role = NGX_HTTP_FOUNDRY_CT_R_USER;

            } else if ((len == 4 && ngx_strncmp(p, "tool", 4) == 0)
                       || (len == 8 && ngx_strncmp(p, "function", 8) == 0))
            {
                t->item_role = NGX_HTTP_FOUNDRY_CT_R_TOOL;
            }

            return 1;
        }

        if (key == NGX_HTTP_FOUNDRY_CT_K_TYPE) {
            if (len == 20 && ngx_strncmp(p, "function_call_output", 20) == 0)
            {
                t->item_role = NGX_HTTP_FOUNDRY_CT_R_TOOL;
            }

            return 1;
        }

        if (key == NGX_HTTP_FOUNDRY_CT_K_CONTENT
            || key == NGX_HTTP_FOUNDRY_CT_K_OUTPUT)
        {
            return ngx_http_foundry_ct_text(t, p, len, 0);
        }

        return 1;

    case 4:
        /* strings of a message's "content" array */

        if (t->parts) {
            return ngx_http_foundry_ct_text(t, p, len, 0);
        }

        return 1;

    case 5:
        /* the "text" of a content part */

        if (t->parts && key == NGX_HTTP_FOUNDRY_CT_K_TEXT) {
            return ngx_http_foundry_ct_text(t, p, len, 0);
        }

        return 1;

    default:
        return 1;
    }
}


static int
ngx_http_foundry_ct_scalar(ngx_http_foundry_ct_text_t *t)
{
    t->key = NGX_HTTP_FOUNDRY_CT_K_OTHER;

    return 1;
}


static int
ngx_http_foundry_ct_null(void *ctx)
{
    return ngx_http_foundry_ct_scalar(ctx);
}


static int
ngx_http_foundry_ct_boolean(void *ctx, int value)
{
    return ngx_http_foundry_ct_scalar(ctx);
}


static int
ngx_http_foundry_ct_number(void *ctx, const char *s, size_t len)
{
    return ngx_http_foundry_ct_scalar(ctx);
}


static int
ngx_http_foundry_ct_start_map(void *ctx)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    if (t->depth == 2
        && (t->top == NGX_HTTP_FOUNDRY_CT_T_MESSAGES
            || t->top == NGX_HTTP_FOUNDRY_CT_T_INPUT))
    {
        /* a message or item starts */
        t->item_start = t->all.len;
        t->item_role = NGX_HTTP_FOUNDRY_CT_R_OTHER;
    }

    t->depth++;
    t->key = NGX_HTTP_FOUNDRY_CT_K_OTHER;

    return 1;
}


static int
ngx_http_foundry_ct_end_map(void *ctx)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    u_char                     *p;
    size_t                      len;
    ngx_http_foundry_ct_buf_t  *b;

    t->depth--;

    if (t->depth == 2
        && (t->top == NGX_HTTP_FOUNDRY_CT_T_MESSAGES
            || t->top == NGX_HTTP_FOUNDRY_CT_T_INPUT)
        && t->item_role != NGX_HTTP_FOUNDRY_CT_R_OTHER
        && t->all.len > t->item_start)
    {
        /* the message's text, without the line break before it */

        p = t->all.data + t->item_start;
        len = t->all.len - t->item_start;

        if (t->item_start) {
            p++;
            len--;
        }

        b = (t->item_role == NGX_HTTP_FOUNDRY_CT_R_USER) ? &t->user
                                                          : &t->docs;

        if (len && ngx_http_foundry_ct_append(t, b, p, len) != NGX_OK) {
            return 0;
        }
    }

    t->key = NGX_HTTP_FOUNDRY_CT_K_OTHER;

    return 1;
}


static int
ngx_http_foundry_ct_start_array(void *ctx)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    /* a message's "content" parts */

    if (t->depth == 3 && t->key == NGX_HTTP_FOUNDRY_CT_K_CONTENT
        && (t->top == NGX_HTTP_FOUNDRY_CT_T_MESSAGES
            || t->top == NGX_HTTP_FOUNDRY_CT_T_INPUT))
    {
        t->parts = 1;
    }

    t->depth++;
    t->key = NGX_HTTP_FOUNDRY_CT_K_OTHER;

    return 1;
}


static int
ngx_http_foundry_ct_end_array(void *ctx)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    if (--t->depth == 3) {
        t->parts = 0;
    }

    t->key = NGX_HTTP_FOUNDRY_CT_K_OTHER;

    return 1;
}


static int
ngx_http_foundry_ct_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    t->key = NGX_HTTP_FOUNDRY_CT_K_OTHER;

    switch (t->depth) {

    case 1:
        t->top = NGX_HTTP_FOUNDRY_CT_T_OTHER;

        if (len == 8 && ngx_strncmp(s, "messages", 8) == 0) {
            t->top = NGX_HTTP_FOUNDRY_CT_T_MESSAGES;

        } else if (len == 5 && ngx_strncmp(s, "input", 5) == 0) {
            t->top = NGX_HTTP_FOUNDRY_CT_T_INPUT;

        } else if (len == 6 && ngx_strncmp(s, "prompt", 6) == 0) {
            t->top = NGX_HTTP_FOUNDRY_CT_T_PROMPT;

        } else if (len == 12 && ngx_strncmp(s, "instructions", 12) == 0) {
            t->top = NGX_HTTP_FOUNDRY_CT_T_SYSTEM;
        }

        if (t->top != NGX_HTTP_FOUNDRY_CT_T_OTHER) {
            /* a string value here is a text */
            t->key = NGX_HTTP_FOUNDRY_CT_K_TEXT;
        }

        return 1;

    case 3:
        if (len == 4 && ngx_strncmp(s, "role", 4) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CT_K_ROLE;

        } else if (len == 4 && ngx_strncmp(s, "type", 4) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CT_K_TYPE;

        } else if (len == 7 && ngx_strncmp(s, "content", 7) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CT_K_CONTENT;

        } else if (len == 6 && ngx_strncmp(s, "output", 6) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CT_K_OUTPUT;
        }

        return 1;

    case 5:
        if (t->parts && len == 4 && ngx_strncmp(s, "text", 4) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CT_K_TEXT;
        }

        return 1;

    default:
        return 1;
    }
}
