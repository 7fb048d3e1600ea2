
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
static ngx_int_t ngx_http_foundry_ct_grow(ngx_http_foundry_ct_text_t *t);
static int ngx_http_foundry_ct_count(ngx_http_foundry_ct_text_t *t);
static ngx_int_t ngx_http_foundry_ct_alloc(ngx_pool_t *pool,
    ngx_http_foundry_ct_buf_t *b, size_t size);
static ngx_uint_t ngx_http_foundry_ct_descend(void *ctx);


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
 * Each text is kept where the parse found it (t->spans, t->heads), with
 * its kind with t->roles (shield=on): the user's, or a tool result (for
 * shieldPrompt).  Nothing is copied from a body scanned in memory: a
 * verdict found in the cache by the texts' digest
 * (ngx_http_foundry_content_key()) needs nothing else; the checker's
 * requests are made from them on a miss (ngx_http_foundry_content_join()).
 *
 * The text is not parsed apart: it is read by the request body's own
 * parse (routing/ngx_http_foundry_body.c: the scanner for a body in
 * memory, yajl over 64 KB reads for one in a temporary file), as the
 * second reader of "tee" (core/ngx_http_foundry_jtee.c).  Texts beyond
 * "max" characters stop the reading with t->error set, not the parse.
 */

void
ngx_http_foundry_content_text_reader(ngx_pool_t *pool, size_t max,
    ngx_http_foundry_ct_text_t *t, ngx_http_foundry_jtee_t *tee)
{
    ngx_memzero(t, sizeof(ngx_http_foundry_ct_text_t));

    t->pool = pool;
    t->tee = tee;
    t->max = max;
    t->roles = 1;

    tee->kept = 0;
    tee->asleep = 0;
    tee->second.cb = &ngx_http_foundry_ct_callbacks;
    tee->second.ctx = t;
    tee->second.descend = ngx_http_foundry_ct_descend;
    tee->stopped = 0;
}


/*
 * On a location with the check, before the request body is parsed: the
 * check's state, its text to be read by the parse through the tee returned
 */

ngx_http_foundry_jtee_t *
ngx_http_foundry_content_tee(ngx_http_request_t *r,
    ngx_http_foundry_content_conf_t *ccf, ngx_http_foundry_ctx_t *ctx)
{
    ngx_http_foundry_ct_check_t  *chk;

    chk = ngx_http_foundry_content_state(r, ccf, ctx);
    if (chk == NULL) {
        return NULL;
    }

    ngx_http_foundry_content_text_reader(r->pool, ccf->max_text, &chk->text,
                                         &chk->tee);

    /* the user's text and the tool results only for shieldPrompt */
    chk->text.roles = ccf->shield;
    chk->text_read = 1;

    return &chk->tee;
}


/* the request's check, made on first use */

ngx_http_foundry_ct_check_t *
ngx_http_foundry_content_state(ngx_http_request_t *r,
    ngx_http_foundry_content_conf_t *ccf, ngx_http_foundry_ctx_t *ctx)
{
    ngx_http_foundry_ct_check_t  *chk;

    chk = ctx->content;

    if (chk == NULL) {
        chk = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_ct_check_t));
        if (chk == NULL) {
            return NULL;
        }

        chk->conf = ccf;
        chk->request = r;
        ngx_memset(chk->result.severity, 0xff,
                   sizeof(chk->result.severity));

        ctx->content = chk;
    }

    return chk;
}


/*
 * For the scanner: the containers whose members the text needs (below
 * "messages", "input" and "prompt": the items, a message's content parts
 * and their members); the others are only checked
 */

static ngx_uint_t
ngx_http_foundry_ct_descend(void *ctx)
{
    ngx_http_foundry_ct_text_t *t = ctx;

    switch (t->depth) {

    case 2:
        return t->top == NGX_HTTP_FOUNDRY_CT_T_MESSAGES
               || t->top == NGX_HTTP_FOUNDRY_CT_T_INPUT
               || t->top == NGX_HTTP_FOUNDRY_CT_T_PROMPT;

    case 3:
        return t->top == NGX_HTTP_FOUNDRY_CT_T_MESSAGES
               || t->top == NGX_HTTP_FOUNDRY_CT_T_INPUT;

    case 4:
    case 5:
        return t->parts;

    default:
        return 0;
    }
}


/*
 * The length of a UTF-8 text as the service counts it (UTF-16 units):
 * eight bytes at a time where they are all ASCII
 */

static size_t
ngx_http_foundry_ct_units(u_char *p, size_t len)
{
    size_t    n;
    uint64_t  w;

    n = 0;

    while (len) {

        if (len >= 8) {
            ngx_memcpy(&w, p, 8);

            if ((w & NGX_HTTP_FOUNDRY_CT_HIGHS) == 0) {
                n += 8;
                p += 8;
                len -= 8;
                continue;
            }
        }

        if ((*p & 0xc0) != 0x80) {
            n += (*p >= 0xf0) ? 2 : 1;
        }

        p++;
        len--;
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
    size_t    i, n, w;
    uint64_t  word;

    n = 0;

    for (i = 0; i < len; i++) {

        /* eight ASCII bytes at a time, while they all fit */

        while (len - i >= 8 && n + 8 <= chars) {
            ngx_memcpy(&word, p + i, 8);

            if (word & NGX_HTTP_FOUNDRY_CT_HIGHS) {
                break;
            }

            n += 8;
            i += 8;
        }

        if (i == len) {
            break;
        }

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


/*
 * ngx_escape_json() of nginx, the same bytes out, eight bytes at a time
 * where none of them is escaped (no control character, quote or
 * backslash): with dst NULL, how many bytes the escapes add; else dst's
 * end.
 */

uintptr_t
ngx_http_foundry_content_escape(u_char *dst, u_char *src, size_t size)
{
    size_t    n;
    uint64_t  w, q, b, hit;

    n = 0;

    while (size >= 8) {
        ngx_memcpy(&w, src, 8);

        /* a byte below 0x20, a zero byte of w ^ '"' or of w ^ '\\' */

        q = w ^ (NGX_HTTP_FOUNDRY_CT_ONES * '"');
        b = w ^ (NGX_HTTP_FOUNDRY_CT_ONES * '\\');

        hit = ((w - NGX_HTTP_FOUNDRY_CT_ONES * 0x20) & ~w)
              | ((q - NGX_HTTP_FOUNDRY_CT_ONES) & ~q)
              | ((b - NGX_HTTP_FOUNDRY_CT_ONES) & ~b);

        if (hit & NGX_HTTP_FOUNDRY_CT_HIGHS) {
            if (dst) {
                dst = (u_char *) ngx_escape_json(dst, src, 8);

            } else {
                n += ngx_escape_json(NULL, src, 8);
            }

        } else if (dst) {
            ngx_memcpy(dst, &w, 8);
            dst += 8;
        }

        src += 8;
        size -= 8;
    }

    if (dst) {
        return ngx_escape_json(dst, src, size);
    }

    return n + ngx_escape_json(NULL, src, size);
}


/*
 * The cache's key: SHA-256 of the check's settings ("id"), the texts'
 * number, lengths and kinds, then the texts, as they are in the body:
 * the lengths come first, so that two lists of texts never give the same
 * bytes.  The stage (the prompt, the model's answer) is the top byte of
 * the texts' number: a prompt and an answer of the same text have two
 * keys (a prompt's key is the same as before answers were checked).
 */

ngx_int_t
ngx_http_foundry_content_key(u_char *id, ngx_http_foundry_ct_text_t *t,
    ngx_uint_t stage, u_char *key)
{
    if (t->n == 0) {
        return NGX_ERROR;
    }

    t->heads[0] = (uint64_t) t->n | ((uint64_t) stage << 56);

    t->spans[0].data = id;
    t->spans[0].len = NGX_HTTP_FOUNDRY_DIGEST_LEN;
    t->spans[1].data = (u_char *) t->heads;
    t->spans[1].len = (t->n + 1) * sizeof(uint64_t);

    return ngx_http_foundry_sha256(t->spans, t->n + 2, key);
}


/*
 * The texts as the checker's requests take them, one per line: all of
 * them, the user's, the tool results; and the bytes the JSON escape of
 * all of them adds.
 */

ngx_int_t
ngx_http_foundry_content_join(ngx_http_foundry_ct_text_t *t)
{
    size_t                      size[3];
    ngx_str_t                  *s;
    ngx_uint_t                  i, kind;
    ngx_http_foundry_ct_buf_t  *b;

    size[NGX_HTTP_FOUNDRY_CT_R_USER] = 0;
    size[NGX_HTTP_FOUNDRY_CT_R_TOOL] = 0;

    for (i = 0; i < t->n; i++) {
        kind = t->heads[1 + i] & 3;

        if (kind != NGX_HTTP_FOUNDRY_CT_R_OTHER) {
            size[kind] += 1 + t->spans[2 + i].len;
        }
    }

    if (ngx_http_foundry_ct_alloc(t->pool, &t->all, t->bytes) != NGX_OK
        || ngx_http_foundry_ct_alloc(t->pool, &t->user,
                                     size[NGX_HTTP_FOUNDRY_CT_R_USER])
           != NGX_OK
        || ngx_http_foundry_ct_alloc(t->pool, &t->docs,
                                     size[NGX_HTTP_FOUNDRY_CT_R_TOOL])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < t->n; i++) {
        s = &t->spans[2 + i];

        if (t->all.len) {
            t->all.data[t->all.len++] = '\n';
        }

        ngx_memcpy(t->all.data + t->all.len, s->data, s->len);
        t->all.len += s->len;

        kind = t->heads[1 + i] & 3;

        if (kind == NGX_HTTP_FOUNDRY_CT_R_OTHER) {
            continue;
        }

        b = (kind == NGX_HTTP_FOUNDRY_CT_R_USER) ? &t->user : &t->docs;

        if (b->len) {
            b->data[b->len++] = '\n';
        }

        ngx_memcpy(b->data + b->len, s->data, s->len);
        b->len += s->len;
    }

    t->lines = t->n ? t->n - 1 : 0;
    t->escapes = ngx_http_foundry_content_escape(NULL, t->all.data,
                                                 t->all.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_ct_alloc(ngx_pool_t *pool, ngx_http_foundry_ct_buf_t *b,
    size_t size)
{
    b->len = 0;
    b->size = size;
    b->data = NULL;

    if (size == 0) {
        return NGX_OK;
    }

    b->data = ngx_pnalloc(pool, size);
    if (b->data == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* room for twice as many texts (eight at first), in one allocation */

static ngx_int_t
ngx_http_foundry_ct_grow(ngx_http_foundry_ct_text_t *t)
{
    uint64_t    *heads;
    ngx_str_t   *spans;
    ngx_uint_t   n;

    n = t->nalloc ? 2 * t->nalloc : 8;

    spans = ngx_palloc(t->pool, (n + 2) * sizeof(ngx_str_t)
                                + (n + 1) * sizeof(uint64_t));
    if (spans == NULL) {
        return NGX_ERROR;
    }

    heads = (uint64_t *) (spans + n + 2);

    if (t->n) {
        ngx_memcpy(spans, t->spans, (t->n + 2) * sizeof(ngx_str_t));
        ngx_memcpy(heads, t->heads, (t->n + 1) * sizeof(uint64_t));
    }

    t->spans = spans;
    t->heads = heads;
    t->nalloc = n;

    return NGX_OK;
}


/*
 * A text of the request (or of the model's answer), kept where it is (or
 * copied when the parse's strings do not stay: yajl's); "user" for the
 * "role" user
 */

int
ngx_http_foundry_content_text_add(ngx_http_foundry_ct_text_t *t, u_char *s,
    size_t len, ngx_uint_t user)
{
    u_char  *p;

    if (len == 0) {
        return 1;
    }

    if (t->n == t->nalloc && ngx_http_foundry_ct_grow(t) != NGX_OK) {
        t->error = NGX_HTTP_FOUNDRY_CT_NOMEM;
        return 0;
    }

    t->spans[2 + t->n].data = s;
    t->spans[2 + t->n].len = len;
    t->heads[1 + t->n] = ((uint64_t) len << 2)
                         | ((user && t->roles) ? NGX_HTTP_FOUNDRY_CT_R_USER
                                               : NGX_HTTP_FOUNDRY_CT_R_OTHER);

    /* the line break before it */
    t->bytes += len + (t->n ? 1 : 0);
    t->n++;

    if (t->bytes > t->max && !ngx_http_foundry_ct_count(t)) {
        /* past the limit: the reading stops before this text */
        t->n--;
        t->bytes -= len + (t->n ? 1 : 0);
        return 0;
    }

    /* counted first: a text past the limit is not copied */

    if (!t->tee->kept) {
        p = ngx_pnalloc(t->pool, len);
        if (p == NULL) {
            t->error = NGX_HTTP_FOUNDRY_CT_NOMEM;
            return 0;
        }

        ngx_memcpy(p, s, len);
        t->spans[2 + t->n - 1].data = p;
    }

    return 1;
}


/* the texts' characters, once their bytes are more than "max" */

static int
ngx_http_foundry_ct_count(ngx_http_foundry_ct_text_t *t)
{
    ngx_str_t  *s;

    while (t->counted < t->n) {
        s = &t->spans[2 + t->counted];

        t->chars += ngx_http_foundry_ct_units(s->data, s->len)
                    + (t->counted ? 1 : 0);
        t->counted++;
    }

    if (t->chars > t->max) {
        t->error = NGX_HTTP_FOUNDRY_CT_TOO_LARGE;
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

        return ngx_http_foundry_content_text_add(t, p, len,
                                   t->top != NGX_HTTP_FOUNDRY_CT_T_SYSTEM);

    case 2:
        /* strings of "prompt" or "input" */

        if (t->top == NGX_HTTP_FOUNDRY_CT_T_PROMPT
            || t->top == NGX_HTTP_FOUNDRY_CT_T_INPUT)
        {
            return ngx_http_foundry_content_text_add(t, p, len, 1);
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
            if ((len == 4 && ngx_memcmp(p, "user", 4) == 0)) {
                t->item_role = NGX_HTTP_FOUNDRY_CT_R_USER;

            } else if ((len == 4 && ngx_memcmp(p, "tool", 4) == 0)
                       || (len == 8 && ngx_memcmp(p, "function", 8) == 0))
            {
                t->item_role = NGX_HTTP_FOUNDRY_CT_R_TOOL;
            }

            return 1;
        }

        if (key == NGX_HTTP_FOUNDRY_CT_K_TYPE) {
            if (len == 20 && ngx_memcmp(p, "function_call_output", 20) == 0)
            {
                t->item_role = NGX_HTTP_FOUNDRY_CT_R_TOOL;
            }

            return 1;
        }

        if (key == NGX_HTTP_FOUNDRY_CT_K_CONTENT
            || key == NGX_HTTP_FOUNDRY_CT_K_OUTPUT)
        {
            return ngx_http_foundry_content_text_add(t, p, len, 0);
        }

        return 1;

    case 4:
        /* strings of a message's "content" array */

        if (t->parts) {
            return ngx_http_foundry_content_text_add(t, p, len, 0);
        }

        return 1;

    case 5:
        /* the "text" of a content part */

        if (t->parts && key == NGX_HTTP_FOUNDRY_CT_K_TEXT) {
            return ngx_http_foundry_content_text_add(t, p, len, 0);
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
        t->item_first = t->n;
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

    ngx_uint_t  i;

    t->depth--;

    if (t->depth == 2
        && t->roles
        && (t->top == NGX_HTTP_FOUNDRY_CT_T_MESSAGES
            || t->top == NGX_HTTP_FOUNDRY_CT_T_INPUT))
    {
        /* the message's texts are the user's, or tool results */

        for (i = t->item_first; i < t->n; i++) {
            t->heads[1 + i] |= t->item_role;
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

        if (len == 8 && ngx_memcmp(s, "messages", 8) == 0) {
            t->top = NGX_HTTP_FOUNDRY_CT_T_MESSAGES;

        } else if (len == 5 && ngx_memcmp(s, "input", 5) == 0) {
            t->top = NGX_HTTP_FOUNDRY_CT_T_INPUT;

        } else if (len == 6 && ngx_memcmp(s, "prompt", 6) == 0) {
            t->top = NGX_HTTP_FOUNDRY_CT_T_PROMPT;

        } else if (len == 12 && ngx_memcmp(s, "instructions", 12) == 0) {
            t->top = NGX_HTTP_FOUNDRY_CT_T_SYSTEM;
        }

        if (t->top != NGX_HTTP_FOUNDRY_CT_T_OTHER) {
            /* a string value here is a text */
            t->key = NGX_HTTP_FOUNDRY_CT_K_TEXT;
        }

        return 1;

    case 3:
        if (len == 4 && ngx_memcmp(s, "role", 4) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CT_K_ROLE;

        } else if (len == 4 && ngx_memcmp(s, "type", 4) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CT_K_TYPE;

        } else if (len == 7 && ngx_memcmp(s, "content", 7) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CT_K_CONTENT;

        } else if (len == 6 && ngx_memcmp(s, "output", 6) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CT_K_OUTPUT;
        }

        return 1;

    case 5:
        if (t->parts && len == 4 && ngx_memcmp(s, "text", 4) == 0) {
            t->key = NGX_HTTP_FOUNDRY_CT_K_TEXT;
        }

        return 1;

    default:
        return 1;
    }
}
