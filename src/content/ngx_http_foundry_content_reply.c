
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_content.h"


/* the top-level member being read */
#define NGX_HTTP_FOUNDRY_CR_T_OTHER     0
#define NGX_HTTP_FOUNDRY_CR_T_CHOICES   1
#define NGX_HTTP_FOUNDRY_CR_T_OUTPUT    2

/* the member whose value comes next */
#define NGX_HTTP_FOUNDRY_CR_K_OTHER     0
#define NGX_HTTP_FOUNDRY_CR_K_TEXT      1
#define NGX_HTTP_FOUNDRY_CR_K_TYPE      2
#define NGX_HTTP_FOUNDRY_CR_K_MESSAGE   3
#define NGX_HTTP_FOUNDRY_CR_K_CONTENT   4
#define NGX_HTTP_FOUNDRY_CR_K_TOOLS     5
#define NGX_HTTP_FOUNDRY_CR_K_FUNCTION  6

/* t->parts: the array being read below a message or an output item */
#define NGX_HTTP_FOUNDRY_CR_P_PARTS     1
#define NGX_HTTP_FOUNDRY_CR_P_TOOLS     2

/* t->item_role: in a choice's "message", in a tool call's "function" */
#define NGX_HTTP_FOUNDRY_CR_IN_MESSAGE  1
#define NGX_HTTP_FOUNDRY_CR_IN_FUNCTION 2


static int ngx_http_foundry_cr_scalar(void *ctx);
static int ngx_http_foundry_cr_boolean(void *ctx, int value);
static int ngx_http_foundry_cr_number(void *ctx, const char *s, size_t len);
static int ngx_http_foundry_cr_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_cr_start_map(void *ctx);
static int ngx_http_foundry_cr_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_cr_end_map(void *ctx);
static int ngx_http_foundry_cr_start_array(void *ctx);
static int ngx_http_foundry_cr_end_array(void *ctx);


yajl_callbacks  ngx_http_foundry_content_reply_callbacks = {
    ngx_http_foundry_cr_scalar,
    ngx_http_foundry_cr_boolean,
    NULL,
    NULL,
    ngx_http_foundry_cr_number,
    ngx_http_foundry_cr_string,
    ngx_http_foundry_cr_start_map,
    ngx_http_foundry_cr_map_key,
    ngx_http_foundry_cr_end_map,
    ngx_http_foundry_cr_start_array,
    ngx_http_foundry_cr_end_array
};


/*
 * The text of a model's answer (answers=on), as a client would read it:
 * chat completions' choices[].message "content" (a string, or its parts'
 * "text"), "refusal" and tool_calls[].function "arguments"; completions'
 * choices[].text; the Responses API's output[] items of type "message"
 * (their content parts' "text" and "refusal") and "function_call" (their
 * "arguments").  The texts are read in place in the answer held (the
 * module's scanner, core/ngx_http_foundry_jscan.c; decoded in the pool
 * when escaped) and collected as a prompt's are
 * (ngx_http_foundry_content_text_add()), so that the cache's key, the
 * join and the checker's calls are the prompt's.
 */

void
ngx_http_foundry_content_reply_reader(ngx_pool_t *pool, size_t max,
    ngx_http_foundry_ct_text_t *t, ngx_http_foundry_jtee_t *tee)
{
    ngx_memzero(t, sizeof(ngx_http_foundry_ct_text_t));
    ngx_memzero(tee, sizeof(ngx_http_foundry_jtee_t));

    t->pool = pool;
    t->tee = tee;
    t->max = max;
    t->roles = 0;
}


/*
 * The answer [data, data + len) read: NGX_OK (its texts in t, or
 * t->error set: too long, no memory), or NGX_DECLINED when it is not JSON
 */

ngx_int_t
ngx_http_foundry_content_reply_text(ngx_pool_t *pool, size_t max,
    u_char *data, size_t len, ngx_http_foundry_ct_text_t *t,
    ngx_http_foundry_jtee_t *tee)
{
    off_t      offset;
    ngx_int_t  rc;

    ngx_http_foundry_content_reply_reader(pool, max, t, tee);

    /* the strings stay in the answer held (or in the pool, decoded) */
    tee->kept = 1;

    offset = 0;

    rc = ngx_http_foundry_jscan_parse(pool, data, data + len,
                                      &ngx_http_foundry_content_reply_callbacks,
                                      t, ngx_http_foundry_content_reply_descend,
                                      NGX_HTTP_FOUNDRY_JSCAN_DEPTH, &offset);

    switch (rc) {

    case NGX_HTTP_FOUNDRY_JSCAN_OK:
        return NGX_OK;

    case NGX_HTTP_FOUNDRY_JSCAN_STOPPED:
        if (t->error == 0) {
            t->error = NGX_HTTP_FOUNDRY_CT_NOMEM;
        }

        return NGX_OK;

    case NGX_HTTP_FOUNDRY_JSCAN_NOMEM:
        t->error = NGX_HTTP_FOUNDRY_CT_NOMEM;
        return NGX_OK;

    default:
        return NGX_DECLINED;
    }
}


/*
 * For the scanner: the containers whose members hold the texts; the
 * others are only checked
 */

ngx_uint_t
ngx_http_foundry_content_reply_descend(void *ctx)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    if (t->top == NGX_HTTP_FOUNDRY_CR_T_OTHER) {
        return 0;
    }

    switch (t->depth) {

    case 2:
    case 3:
        /* "choices" or "output", a choice or an item */
        return 1;

    case 4:
        /* a choice's message, an item's content parts */
        return (t->item_role & NGX_HTTP_FOUNDRY_CR_IN_MESSAGE)
               || t->parts;

    case 5:
    case 6:
        /* a message's content parts or tool calls, and their members */
        return t->parts;

    case 7:
        /* a tool call's function */
        return t->item_role & NGX_HTTP_FOUNDRY_CR_IN_FUNCTION;

    default:
        return 0;
    }
}


static int
ngx_http_foundry_cr_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    u_char      *p;
    ngx_uint_t   key;

    p = (u_char *) s;
    key = t->key;
    t->key = NGX_HTTP_FOUNDRY_CR_K_OTHER;

    switch (key) {

    case NGX_HTTP_FOUNDRY_CR_K_CONTENT:
        /* a chat message's "content" as a string (an array: its parts) */

        if (t->depth != 4) {
            return 1;
        }

        return ngx_http_foundry_content_text_add(t, p, len, 0);

    case NGX_HTTP_FOUNDRY_CR_K_TEXT:
        return ngx_http_foundry_content_text_add(t, p, len, 0);

    case NGX_HTTP_FOUNDRY_CR_K_TYPE:
        if ((len == 7 && ngx_memcmp(p, "message", 7) == 0)
            || (len == 13 && ngx_memcmp(p, "function_call", 13) == 0))
        {
            t->item_kept = 1;
        }

        return 1;

    default:
        return 1;
    }
}


static int
ngx_http_foundry_cr_scalar(void *ctx)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    t->key = NGX_HTTP_FOUNDRY_CR_K_OTHER;

    return 1;
}


static int
ngx_http_foundry_cr_boolean(void *ctx, int value)
{
    return ngx_http_foundry_cr_scalar(ctx);
}


static int
ngx_http_foundry_cr_number(void *ctx, const char *s, size_t len)
{
    return ngx_http_foundry_cr_scalar(ctx);
}


static int
ngx_http_foundry_cr_start_map(void *ctx)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    if (t->depth == 2 && t->top == NGX_HTTP_FOUNDRY_CR_T_OUTPUT) {

        /* an output item: its texts are dropped unless its type is kept */

        t->item_first = t->n;
        t->item_bytes = t->bytes;
        t->item_chars = t->chars;
        t->item_counted = t->counted;
        t->item_kept = 0;

    } else if (t->depth == 3 && t->top == NGX_HTTP_FOUNDRY_CR_T_CHOICES
               && t->key == NGX_HTTP_FOUNDRY_CR_K_MESSAGE)
    {
        t->item_role |= NGX_HTTP_FOUNDRY_CR_IN_MESSAGE;

    } else if (t->depth == 6 && t->parts == NGX_HTTP_FOUNDRY_CR_P_TOOLS
               && t->key == NGX_HTTP_FOUNDRY_CR_K_FUNCTION)
    {
        t->item_role |= NGX_HTTP_FOUNDRY_CR_IN_FUNCTION;
    }

    t->depth++;
    t->key = NGX_HTTP_FOUNDRY_CR_K_OTHER;

    return 1;
}


static int
ngx_http_foundry_cr_end_map(void *ctx)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    t->depth--;
    t->key = NGX_HTTP_FOUNDRY_CR_K_OTHER;

    if (t->top == NGX_HTTP_FOUNDRY_CR_T_CHOICES) {
        if (t->depth == 3) {
            t->item_role &= ~NGX_HTTP_FOUNDRY_CR_IN_MESSAGE;

        } else if (t->depth == 6) {
            t->item_role &= ~NGX_HTTP_FOUNDRY_CR_IN_FUNCTION;
        }

    } else if (t->top == NGX_HTTP_FOUNDRY_CR_T_OUTPUT && t->depth == 2
               && !t->item_kept)
    {
        /* reasoning, a web search call ...: not the model's answer */

        t->n = t->item_first;
        t->bytes = t->item_bytes;
        t->chars = t->item_chars;
        t->counted = t->item_counted;
    }

    return 1;
}


static int
ngx_http_foundry_cr_start_array(void *ctx)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    if (t->depth == 4 && t->top == NGX_HTTP_FOUNDRY_CR_T_CHOICES
        && (t->item_role & NGX_HTTP_FOUNDRY_CR_IN_MESSAGE))
    {
        if (t->key == NGX_HTTP_FOUNDRY_CR_K_CONTENT) {
            t->parts = NGX_HTTP_FOUNDRY_CR_P_PARTS;

        } else if (t->key == NGX_HTTP_FOUNDRY_CR_K_TOOLS) {
            t->parts = NGX_HTTP_FOUNDRY_CR_P_TOOLS;
        }

    } else if (t->depth == 3 && t->top == NGX_HTTP_FOUNDRY_CR_T_OUTPUT
               && t->key == NGX_HTTP_FOUNDRY_CR_K_CONTENT)
    {
        t->parts = NGX_HTTP_FOUNDRY_CR_P_PARTS;
    }

    t->depth++;
    t->key = NGX_HTTP_FOUNDRY_CR_K_OTHER;

    return 1;
}


static int
ngx_http_foundry_cr_end_array(void *ctx)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    t->depth--;
    t->key = NGX_HTTP_FOUNDRY_CR_K_OTHER;

    if ((t->top == NGX_HTTP_FOUNDRY_CR_T_CHOICES && t->depth == 4)
        || (t->top == NGX_HTTP_FOUNDRY_CR_T_OUTPUT && t->depth == 3))
    {
        t->parts = 0;
    }

    return 1;
}


static int
ngx_http_foundry_cr_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    t->key = NGX_HTTP_FOUNDRY_CR_K_OTHER;

    switch (t->depth) {

    case 1:
        t->top = NGX_HTTP_FOUNDRY_CR_T_OTHER;

        if (len == 7 && ngx_memcmp(s, "choices", 7) == 0) {
            t->top = NGX_HTTP_FOUNDRY_CR_T_CHOICES;

        } else if (len == 6 && ngx_memcmp(s, "output", 6) == 0) {
            t->top = NGX_HTTP_FOUNDRY_CR_T_OUTPUT;
        }

        return 1;

    case 3:
        /* a choice's members, an output item's */

        if (t->top == NGX_HTTP_FOUNDRY_CR_T_CHOICES) {
            if (len == 4 && ngx_memcmp(s, "text", 4) == 0) {
                t->key = NGX_HTTP_FOUNDRY_CR_K_TEXT;

            } else if (len == 7 && ngx_memcmp(s, "message", 7) == 0) {
                t->key = NGX_HTTP_FOUNDRY_CR_K_MESSAGE;
            }

        } else if (t->top == NGX_HTTP_FOUNDRY_CR_T_OUTPUT) {
            if (len == 4 && ngx_memcmp(s, "type", 4) == 0) {
                t->key = NGX_HTTP_FOUNDRY_CR_K_TYPE;

            } else if (len == 7 && ngx_memcmp(s, "content", 7) == 0) {
                t->key = NGX_HTTP_FOUNDRY_CR_K_CONTENT;

            } else if (len == 9 && ngx_memcmp(s, "arguments", 9) == 0) {
                t->key = NGX_HTTP_FOUNDRY_CR_K_TEXT;
            }
        }

        return 1;

    case 4:
        /* a chat message's members */

        if (t->top != NGX_HTTP_FOUNDRY_CR_T_CHOICES
            || !(t->item_role & NGX_HTTP_FOUNDRY_CR_IN_MESSAGE))
        {
            return 1;
        }

        if (len == 7 && ngx_memcmp(s, "content", 7) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CR_K_CONTENT;

        } else if (len == 7 && ngx_memcmp(s, "refusal", 7) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CR_K_TEXT;

        } else if (len == 10 && ngx_memcmp(s, "tool_calls", 10) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CR_K_TOOLS;
        }

        return 1;

    case 5:
        /* an output item's content part */

        if (t->top == NGX_HTTP_FOUNDRY_CR_T_OUTPUT
            && t->parts == NGX_HTTP_FOUNDRY_CR_P_PARTS
            && ((len == 4 && ngx_memcmp(s, "text", 4) == 0)
                || (len == 7 && ngx_memcmp(s, "refusal", 7) == 0)))
        {
            t->key = NGX_HTTP_FOUNDRY_CR_K_TEXT;
        }

        return 1;

    case 6:
        /* a chat message's content part, or tool call */

        if (t->top != NGX_HTTP_FOUNDRY_CR_T_CHOICES) {
            return 1;
        }

        if (t->parts == NGX_HTTP_FOUNDRY_CR_P_PARTS
            && ((len == 4 && ngx_memcmp(s, "text", 4) == 0)
                || (len == 7 && ngx_memcmp(s, "refusal", 7) == 0)))
        {
            t->key = NGX_HTTP_FOUNDRY_CR_K_TEXT;

        } else if (t->parts == NGX_HTTP_FOUNDRY_CR_P_TOOLS
                   && len == 8 && ngx_memcmp(s, "function", 8) == 0)
        {
            t->key = NGX_HTTP_FOUNDRY_CR_K_FUNCTION;
        }

        return 1;

    case 7:
        /* a tool call's function */

        if ((t->item_role & NGX_HTTP_FOUNDRY_CR_IN_FUNCTION)
            && len == 9 && ngx_memcmp(s, "arguments", 9) == 0)
        {
            t->key = NGX_HTTP_FOUNDRY_CR_K_TEXT;
        }

        return 1;

    default:
        return 1;
    }
}
