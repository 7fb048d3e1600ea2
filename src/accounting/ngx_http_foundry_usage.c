
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"


/*
 * Token usage, read from the upstream's answer as it passes: a JSON body,
 * or the "data:" lines of a Server-Sent Events stream, go through one
 * incremental yajl parser (several values in a row for SSE), buffer by
 * buffer, wherever the buffers split them.  Nothing is held back or
 * changed; the parser keeps only its own small state.
 *
 * The usage object is the top-level "usage" of a chat completion,
 * completion, embedding or response, or the "usage" of the top-level
 * "response" of a Responses API event (response.completed).
 */


#define NGX_HTTP_FOUNDRY_SSE_LINE       0
#define NGX_HTTP_FOUNDRY_SSE_PREFIX     1
#define NGX_HTTP_FOUNDRY_SSE_SPACE      2
#define NGX_HTTP_FOUNDRY_SSE_FIRST      3
#define NGX_HTTP_FOUNDRY_SSE_FEED       4
#define NGX_HTTP_FOUNDRY_SSE_SKIP       5


/* the end of an SSE line, by libc's memchr(): p < last */
#define ngx_http_foundry_usage_eol(p, last)                                   \
    ((u_char *) memchr(p, '\n', (last) - (p)))


/* the white space of JSON as the parser takes it, but "\n" */
#define ngx_http_foundry_usage_space(c)                                       \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\v' || (c) == '\f')


enum {
    NGX_HTTP_FOUNDRY_UK_OTHER = 0,
    NGX_HTTP_FOUNDRY_UK_USAGE,
    NGX_HTTP_FOUNDRY_UK_RESPONSE,
    NGX_HTTP_FOUNDRY_UK_PROMPT,
    NGX_HTTP_FOUNDRY_UK_COMPLETION,
    NGX_HTTP_FOUNDRY_UK_TOTAL,
    NGX_HTTP_FOUNDRY_UK_PROMPT_DETAILS,
    NGX_HTTP_FOUNDRY_UK_COMPLETION_DETAILS,
    NGX_HTTP_FOUNDRY_UK_CACHED,
    NGX_HTTP_FOUNDRY_UK_REASONING
};


/* whether the key [s, s + len) is name, a literal */
#define ngx_http_foundry_usage_is(s, len, name)                               \
    ((len) == sizeof(name) - 1 && ngx_memcmp(s, name, sizeof(name) - 1) == 0)


static int ngx_http_foundry_usage_value(void *ctx);
static int ngx_http_foundry_usage_boolean(void *ctx, int b);
static int ngx_http_foundry_usage_number(void *ctx, const char *s,
    size_t len);
static int ngx_http_foundry_usage_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_usage_start(void *ctx);
static int ngx_http_foundry_usage_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_usage_end(void *ctx);
static int64_t ngx_http_foundry_usage_count(u_char *p, size_t len);
static void ngx_http_foundry_usage_reset(ngx_http_foundry_usage_t *u);
static void ngx_http_foundry_usage_parse(ngx_http_foundry_usage_t *u,
    u_char *p, size_t len);
static void ngx_http_foundry_usage_sse(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u,
    u_char *p, u_char *last);
static ngx_int_t ngx_http_foundry_usage_scan(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, u_char *p, u_char *last);
static u_char *ngx_http_foundry_usage_lines(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, u_char *p, u_char *last);
static ngx_int_t ngx_http_foundry_usage_data(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, u_char *p, u_char *nl, u_char **bs,
    u_char *last);
static void ngx_http_foundry_usage_event(ngx_http_foundry_usage_t *u);
static ngx_uint_t ngx_http_foundry_usage_member(u_char *p, u_char *last);
static ngx_int_t ngx_http_foundry_usage_yajl(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u);
static void ngx_http_foundry_usage_json(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, u_char *p, size_t len);
static ngx_uint_t ngx_http_foundry_usage_descend(void *ctx);
static ngx_uint_t ngx_http_foundry_usage_lookup(const u_char *s, size_t len);


static yajl_callbacks  ngx_http_foundry_usage_callbacks = {
    ngx_http_foundry_usage_value,
    ngx_http_foundry_usage_boolean,
    NULL,
    NULL,
    ngx_http_foundry_usage_number,
    ngx_http_foundry_usage_string,
    ngx_http_foundry_usage_start,
    ngx_http_foundry_usage_key,
    ngx_http_foundry_usage_end,
    ngx_http_foundry_usage_start,
    ngx_http_foundry_usage_end
};


/*
 * Whether the configuration names one of the token variables (log_format,
 * map, add_header...): nginx has given it an index by postconfiguration.
 * A variable read only by name at run time (SSI's echo, Perl, njs) has
 * none: docs/variables.md.
 */

ngx_flag_t
ngx_http_foundry_usage_variables(ngx_conf_t *cf)
{
    ngx_uint_t                  i, j;
    ngx_http_variable_t        *v;
    ngx_http_core_main_conf_t  *cmcf;

    static ngx_str_t  names[] = {
        ngx_string("foundry_prompt_tokens"),
        ngx_string("foundry_completion_tokens"),
        ngx_string("foundry_total_tokens"),
        ngx_string("foundry_cached_tokens"),
        ngx_string("foundry_reasoning_tokens")
    };

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    v = cmcf->variables.elts;

    for (i = 0; i < cmcf->variables.nelts; i++) {
        for (j = 0; j < sizeof(names) / sizeof(ngx_str_t); j++) {
            if (v[i].name.len == names[j].len
                && ngx_strncmp(v[i].name.data, names[j].data, names[j].len)
                   == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * Whether anything reads a routed answer's usage: the location's limits,
 * its stream's usage chunk taken out, the metrics, the token variables.
 * Without any, the answer passes unread.
 */

ngx_uint_t
ngx_http_foundry_usage_wanted(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    ngx_http_foundry_main_conf_t  *fmcf;

    if (flcf->limits != NULL || ctx->strip_usage) {
        return 1;
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);

    return fmcf->metrics != NULL || fmcf->usage_variables;
}


/* starts reading usage from an answer of this content type */

ngx_int_t
ngx_http_foundry_usage_init(ngx_http_request_t *r, ngx_http_foundry_usage_t *u,
    ngx_str_t *type)
{
    /* the usual lower case first: a byte compare, then any case */

    if (type->len >= sizeof("text/event-stream") - 1
        && (ngx_memcmp(type->data, "text/event-stream",
                       sizeof("text/event-stream") - 1)
            == 0
            || ngx_strncasecmp(type->data, (u_char *) "text/event-stream",
                               sizeof("text/event-stream") - 1)
               == 0))
    {
        u->mode = NGX_HTTP_FOUNDRY_USAGE_SSE;

    } else if (type->len >= sizeof("application/json") - 1
               && (ngx_memcmp(type->data, "application/json",
                              sizeof("application/json") - 1)
                   == 0
                   || ngx_strncasecmp(type->data,
                                      (u_char *) "application/json",
                                      sizeof("application/json") - 1)
                      == 0))
    {
        u->mode = NGX_HTTP_FOUNDRY_USAGE_JSON;

    } else {
        return NGX_DECLINED;
    }

    /*
     * yajl's parser is made when a JSON answer is not scanned whole, and
     * when a stream's line with usage is not (ngx_http_foundry_usage_sse())
     */

    u->state = NGX_HTTP_FOUNDRY_SSE_LINE;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry usage: read from the %s answer",
                   u->mode == NGX_HTTP_FOUNDRY_USAGE_SSE ? "SSE" : "JSON");

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_usage_yajl(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u)
{
    yajl_alloc_funcs  funcs;

    ngx_http_foundry_json_alloc_funcs(r->pool, &funcs);

    u->handle = yajl_alloc(&ngx_http_foundry_usage_callbacks, &funcs, u);
    if (u->handle == NULL) {
        return NGX_ERROR;
    }

    yajl_config(u->handle, yajl_allow_multiple_values, 1);

    /* the answer's text is not ours to check: only numbers are read */

    yajl_config(u->handle, yajl_dont_validate_strings, 1);

    return NGX_OK;
}


/*
 * A JSON answer: whole in its first buffer (as long as its Content-Length),
 * it is scanned (core/ngx_http_foundry_jscan.c), the callbacks called only
 * where usage can be; what the scanner does not take (strings that are not
 * UTF-8, several values, nesting past 512: yajl here takes them) and an
 * answer in several buffers go to yajl, from the start.
 */

static void
ngx_http_foundry_usage_json(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, u_char *p, size_t len)
{
    off_t                     offset;
    ngx_http_foundry_usage_t  saved;

    if (u->scanned) {
        /* more than the Content-Length said */
        u->failed = 1;
        return;
    }

    if (u->handle == NULL) {

        if (u->bytes == (off_t) len
            && r->headers_out.content_length_n == (off_t) len)
        {
            saved = *u;

            if (ngx_http_foundry_jscan_parse(r->pool, p, p + len,
                                             &ngx_http_foundry_usage_callbacks,
                                             u, ngx_http_foundry_usage_descend,
                                             NGX_HTTP_FOUNDRY_JSCAN_DEPTH,
                                             &offset)
                == NGX_HTTP_FOUNDRY_JSCAN_OK)
            {
                u->scanned = 1;
                return;
            }

            *u = saved;
        }

        if (ngx_http_foundry_usage_yajl(r, u) != NGX_OK) {
            u->failed = 1;
            return;
        }
    }

    ngx_http_foundry_usage_parse(u, p, len);
}


/* below the top object, only "response" and the usage object matter */

static ngx_uint_t
ngx_http_foundry_usage_descend(void *ctx)
{
    ngx_http_foundry_usage_t  *u = ctx;

    return u->usage != 0
           || (u->depth == 2 && u->keys[1] == NGX_HTTP_FOUNDRY_UK_RESPONSE);
}


/* reads the buffers of one call of the body filter; changes nothing */

void
ngx_http_foundry_usage_feed(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, ngx_chain_t *in)
{
    ngx_buf_t  *b;

    for ( /* void */ ; in && !u->failed; in = in->next) {
        b = in->buf;

        if (ngx_buf_in_memory(b) && b->last > b->pos) {
            u->bytes += b->last - b->pos;

            if (u->mode == NGX_HTTP_FOUNDRY_USAGE_SSE) {
                ngx_http_foundry_usage_sse(r, u, b->pos, b->last);

            } else {
                ngx_http_foundry_usage_json(r, u, b->pos, b->last - b->pos);
            }

        } else if (b->in_file && !ngx_buf_in_memory(b)) {

            /* proxy_buffering spilled to a file: not read here */

            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "foundry usage: file buffer, usage not read");
            u->failed = 1;
        }
    }
}


static void
ngx_http_foundry_usage_parse(ngx_http_foundry_usage_t *u, u_char *p,
    size_t len)
{
    if (yajl_parse(u->handle, p, len) != yajl_status_ok) {
        u->failed = 1;
    }
}


/*
 * The SSE stream, line by line: the JSON after "data:" goes to the parser
 * as it comes, other lines ("event:", "id:", comments, "data: [DONE]") are
 * skipped.  The lines whole in the buffer are read at once
 * (ngx_http_foundry_usage_lines()); a line the buffer ends in, a byte at a
 * time, through the states.
 */

static void
ngx_http_foundry_usage_sse(ngx_http_request_t *r, ngx_http_foundry_usage_t *u,
    u_char *p, u_char *last)
{
    u_char  *nl, *bs;

    static u_char  data[] = "data:";

    while (p < last && !u->failed) {

        switch (u->state) {

        case NGX_HTTP_FOUNDRY_SSE_LINE:
            p = ngx_http_foundry_usage_lines(r, u, p, last);

            if (p == last || u->state != NGX_HTTP_FOUNDRY_SSE_LINE) {
                break;
            }

            /* the buffer's last line, not whole */

            if (*p == 'd') {
                u->prefix = 1;
                u->state = NGX_HTTP_FOUNDRY_SSE_PREFIX;

            } else if (*p != '\n' && *p != '\r') {
                u->state = NGX_HTTP_FOUNDRY_SSE_SKIP;
                continue;
            }

            p++;
            break;

        case NGX_HTTP_FOUNDRY_SSE_PREFIX:
            if (*p != data[u->prefix]) {
                u->state = NGX_HTTP_FOUNDRY_SSE_SKIP;
                continue;
            }

            if (++u->prefix == sizeof(data) - 1) {
                u->state = NGX_HTTP_FOUNDRY_SSE_SPACE;
            }

            p++;
            break;

        case NGX_HTTP_FOUNDRY_SSE_SPACE:
            u->state = NGX_HTTP_FOUNDRY_SSE_FIRST;

            if (*p == ' ') {
                p++;
            }

            break;

        case NGX_HTTP_FOUNDRY_SSE_FIRST:
            if (*p == ' ' || *p == '\t') {
                p++;
                break;
            }

            if (*p != '{') {
                u->state = NGX_HTTP_FOUNDRY_SSE_SKIP;
                break;
            }

            u->events++;

            /*
             * the line's "data:" came in an earlier buffer: if the rest
             * of the line is whole in this one, it is read as a whole
             * line is (ngx_http_foundry_usage_lines())
             */

            nl = ngx_http_foundry_usage_eol(p, last);
            bs = NULL;

            if (nl
                && ngx_http_foundry_usage_data(r, u, p, nl, &bs, last)
                   == NGX_OK)
            {
                p = nl + 1;
                u->state = NGX_HTTP_FOUNDRY_SSE_LINE;
                break;
            }

            if (u->handle == NULL
                && ngx_http_foundry_usage_yajl(r, u) != NGX_OK)
            {
                u->failed = 1;
                return;
            }

            u->state = NGX_HTTP_FOUNDRY_SSE_FEED;
            break;

        case NGX_HTTP_FOUNDRY_SSE_FEED:
            nl = ngx_http_foundry_usage_eol(p, last);

            if (nl == NULL) {
                ngx_http_foundry_usage_parse(u, p, last - p);
                return;
            }

            ngx_http_foundry_usage_parse(u, p, nl + 1 - p);

            /*
             * JSON that goes on past its line is not read: had the line
             * been whole in a buffer, it might have been skipped, and the
             * next line's JSON would not have been read inside it
             */

            if (u->depth != 0) {
                u->failed = 1;
                return;
            }

            p = nl + 1;
            u->state = NGX_HTTP_FOUNDRY_SSE_LINE;

            ngx_http_foundry_usage_event(u);

            break;

        default: /* NGX_HTTP_FOUNDRY_SSE_SKIP */
            nl = ngx_http_foundry_usage_eol(p, last);

            if (nl == NULL) {
                return;
            }

            p = nl + 1;
            u->state = NGX_HTTP_FOUNDRY_SSE_LINE;
            break;
        }
    }
}


/*
 * The whole lines of an SSE buffer, from the start of a line, up to its
 * last "\n": the lines the prefilter passes
 * (ngx_http_foundry_usage_next()) are scanned, the others only counted.
 * Returns where the buffer's last line, not whole, starts (the state
 * still LINE), where the JSON of a line that yajl is to read starts (the
 * state FEED), or last.  The states take the same lines: a line ends at
 * "\n" only, "\n" and "\r" before a line are passed, "data:" may be
 * followed by spaces and tabs before the "{".
 */

static u_char *
ngx_http_foundry_usage_lines(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, u_char *p, u_char *last)
{
    u_char  *q, *nl, *end, *bs;

    end = memrchr(p, '\n', last - p);

    if (end != NULL) {

        /* the next backslash of the buffer: not searched yet */
        bs = NULL;

        for ( ;; ) {
            q = ngx_http_foundry_usage_next(&p, end + 1, last, &bs,
                                            &u->events, &nl);

            if (q == NULL) {
                break;
            }

            if (ngx_http_foundry_usage_scan(r, u, q, nl + 1) == NGX_OK) {
                ngx_http_foundry_usage_event(u);
                continue;
            }

            if (u->handle == NULL
                && ngx_http_foundry_usage_yajl(r, u) != NGX_OK)
            {
                u->failed = 1;
                return last;
            }

            u->state = NGX_HTTP_FOUNDRY_SSE_FEED;

            return q;
        }
    }

    while (p < last && (*p == '\n' || *p == '\r')) {
        p++;
    }

    return p;
}


/*
 * The next line of [*pp, end), whole lines from the start of one, that
 * the prefilter passes (ngx_http_foundry_usage_line()): its JSON's "{",
 * with *nl its "\n" and *pp past it; or NULL, *pp then end.  The "data:"
 * objects of the lines passed over and of the line returned are counted
 * in *events.
 *
 * The lines are not looked at one by one: the text is searched for "{"
 * only (libc's memchr(), across lines), and for backslashes (the
 * buffer's next one, *bs, kept as ngx_http_foundry_usage_line() keeps
 * it; "last" is the buffer's end).  A "{" after "data:" and blanks at the
 * start of a line starts a "data:" object; another "{" is looked at only
 * if "usage", a colon and blanks come before it (as the prefilter looks,
 * but not bound to its line, so that it looks at least where the
 * prefilter would), a backslash only if a "u" follows it: only then is
 * the line found, and its verdict known at once but for "usage"usage"
 * (the prefilter decides).  fuzz/fuzz_usage.c holds the lines and counts
 * to those of a walk of the lines one by one.
 */

u_char *
ngx_http_foundry_usage_next(u_char **pp, u_char *end, u_char *last,
    u_char **bs, int64_t *events, u_char **nl)
{
    u_char  *p, *b, *c, *q, *s, *ev, *nlp;

    p = *pp;
    b = p;
    ev = NULL;

    s = *bs;

    if (s == NULL || s < p) {
        s = memchr(p, '\\', last - p);
        s = s ? s : last;
    }

    for ( ;; ) {

        /* the "{" before the next backslash */

        c = (s < end) ? s : end;
        b = memchr(b, '{', c - b);

        if (b == NULL) {

            if (c == end) {
                *pp = end;
                *bs = s;
                return NULL;
            }

            /* a backslash: only "\u" matters */

            b = c;

            if (s + 1 < end && s[1] == 'u') {
                q = s;
                goto found;
            }

            s = memchr(s + 1, '\\', last - s - 1);
            s = s ? s : last;

            continue;
        }

        c = b;
        q = b++;

        if (q == p) {
            continue;
        }

        /* most "{" follow none of ":" and blanks ("[{"), or a key */

        switch (q[-1]) {

        case ':':
            if (q - p >= 8 && q[-2] == '"') {
                if (ngx_memcmp(q - 8, "\"usage\"", 7) == 0) {
                    q--;
                    goto found;
                }

                continue;
            }

            q--;

            /* "data:{" */

            if (q - p >= 4 && ngx_memcmp(q - 4, "data", 4) == 0) {
                q -= 4;
                goto data;
            }

            goto colon;

        case ' ':

            /* "data: {" */

            if (q - p >= 6 && q[-2] == ':'
                && ngx_memcmp(q - 6, "data", 4) == 0)
            {
                q -= 6;
                goto data;
            }

            /* fall through */

        case '\t':
            while (q > p && (q[-1] == ' ' || q[-1] == '\t')) {
                q--;
            }

            if (q - p >= 5 && ngx_memcmp(q - 5, "data:", 5) == 0) {
                q -= 5;
                goto data;
            }

            /* fall through */

        case '\r':
        case '\v':
        case '\f':
            while (q > p && ngx_http_foundry_usage_space(q[-1])) {
                q--;
            }

            if (q == p || q[-1] != ':') {
                continue;
            }

            q--;
            goto colon;

        default:
            continue;
        }

    data:

        /* "data:" at the start of a line: a "data:" object */

        while (q > p && q[-1] == '\r') {
            q--;
        }

        if (q == p || q[-1] == '\n') {
            (*events)++;
            ev = c;
        }

        /* "data:" elsewhere is only text, not "usage" */

        continue;

    colon:

        /* q is at a colon: "usage" and blanks before it, as the prefilter */

        while (q > p && ngx_http_foundry_usage_space(q[-1])) {
            q--;
        }

        if (q - p < 7 || ngx_memcmp(q - 7, "\"usage\"", 7) != 0) {
            continue;
        }

    found:

        /*
         * c may be in the line of the last "data:" object: which line;
         * q is where the "usage" before a "{" ends
         */

        if (ev == NULL || memchr(ev, '\n', c - ev) != NULL) {
            if (c == s) {
                s = memchr(s + 1, '\\', last - s - 1);
                s = s ? s : last;
            }

            continue;
        }

        nlp = memchr(c, '\n', end - c);

        *pp = nlp + 1;
        *bs = s;

        /*
         * the prefilter's verdict: a "\u" passes; so does the line's first
         * "usage": { (the "{" before it did not pass even unbound to the
         * line) if it is after the line's "{", unless it is "usage"usage":
         * there, and else, the prefilter decides
         */

        if (c == s
            || (q - 7 >= ev
                && (q - 13 < ev || ngx_memcmp(q - 13, "\"usage", 6) != 0))
            || ngx_http_foundry_usage_line(ev, nlp, bs, last))
        {
            *nl = nlp;
            return ev;
        }

        /* the line is passed over */

        q = nlp;
        p = q + 1;
        b = p;
        ev = NULL;
        s = *bs;

        if (s < p) {
            s = memchr(p, '\\', last - p);
            s = s ? s : last;
        }
    }
}


/*
 * The JSON of a whole line, [p, nl) before its newline, in a buffer that
 * ends at last: NGX_OK when it is done with, or NGX_DECLINED when yajl is
 * to read it.  It is parsed only if it has a usage object: most events of
 * a stream are not looked at twice.  A line with usage is scanned, as a
 * whole JSON answer is (ngx_http_foundry_usage_json()); what the scanner
 * does not take goes to yajl.  *bs is the buffer's next backslash, kept
 * from line to line (NULL: not searched yet).
 */

static ngx_int_t
ngx_http_foundry_usage_data(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, u_char *p, u_char *nl, u_char **bs,
    u_char *last)
{
    if (!ngx_http_foundry_usage_line(p, nl, bs, last)) {
        return NGX_OK;
    }

    if (ngx_http_foundry_usage_scan(r, u, p, nl + 1) == NGX_OK) {
        ngx_http_foundry_usage_event(u);
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * A stream's whole line, [p, last) with its newline, scanned: NGX_OK, or
 * NGX_DECLINED with the reader as it was (the line is then yajl's)
 */

static ngx_int_t
ngx_http_foundry_usage_scan(ngx_http_request_t *r, ngx_http_foundry_usage_t *u,
    u_char *p, u_char *last)
{
    off_t                     offset;
    ngx_http_foundry_usage_t  saved;

    saved = *u;

    if (ngx_http_foundry_jscan_parse(r->pool, p, last,
                                     &ngx_http_foundry_usage_callbacks, u,
                                     ngx_http_foundry_usage_descend,
                                     NGX_HTTP_FOUNDRY_JSCAN_DEPTH, &offset)
        == NGX_HTTP_FOUNDRY_JSCAN_OK)
    {
        return NGX_OK;
    }

    *u = saved;

    return NGX_DECLINED;
}


/* a stream's line is whole: its usage counts */

static void
ngx_http_foundry_usage_event(ngx_http_foundry_usage_t *u)
{
    if (u->event_found) {
        u->tokens = u->event;
        u->event_found = 0;
        u->found = 1;
    }
}


/*
 * Whether a line may have "usage" with an object for value: a line skipped
 * here must be one that the parser would find no usage in.  The parser
 * takes the same white space, and "\u" escapes can spell "usage".
 *
 * The line is not searched for "usage" (every chunk has "usage": null)
 * but for rarer bytes, by libc's memchr(): backslashes, then each "{",
 * the text before which is checked for "usage" and a colon.  The verdict
 * is that of the search forward for "usage" (ngx_http_foundry_json_member(),
 * as before), which does not look for a "usage" that begins with the
 * closing quote of another ("usage"usage"): there, that search decides.
 *
 * The line, [p, last), starts with its "{" (not looked at again) in a
 * buffer that ends at end; *bs is the buffer's next backslash at or after
 * a line before, end if none, NULL if not searched yet: a buffer of
 * lines is searched for backslashes once.  Not static: fuzz/fuzz_usage.c
 * holds it to the verdict of the one before (one line, a memchr() for
 * backslashes in each).
 */

ngx_uint_t
ngx_http_foundry_usage_line(u_char *p, u_char *last, u_char **bs, u_char *end)
{
    u_char  *q, *b;

    /*
     * a "\u", after any backslash (in "\\u" too, as ever); the buffer's
     * backslashes are searched for once, up to its end
     */

    for ( ;; ) {
        q = *bs;

        if (q == NULL || q < p) {
            q = memchr(p, '\\', end - p);
            *bs = q ? q : end;
            continue;
        }

        if (q >= last) {
            break;
        }

        if (q + 1 < last && q[1] == 'u') {
            return 1;
        }

        q = memchr(q + 1, '\\', end - q - 1);
        *bs = q ? q : end;
    }

    /* a "{" after "usage" and a colon; not the line's first */

    for (b = p + 1; b < last; b++) {
        b = memchr(b, '{', last - b);

        if (b == NULL) {
            return 0;
        }

        for (q = b; q > p && ngx_http_foundry_usage_space(q[-1]); q--) {
            /* void */
        }

        if (q == p || *--q != ':') {
            continue;
        }

        while (q > p && ngx_http_foundry_usage_space(q[-1])) {
            q--;
        }

        if (q - p < 7 || ngx_memcmp(q - 7, "\"usage\"", 7) != 0) {
            continue;
        }

        if (q - p < 13 || ngx_memcmp(q - 13, "\"usage", 6) != 0) {
            return 1;
        }

        /* "usage"usage": {: as the forward search decides */

        return ngx_http_foundry_usage_member(p, last);
    }

    return 0;
}


/* the forward search of "usage": { */

static ngx_uint_t
ngx_http_foundry_usage_member(u_char *p, u_char *last)
{
    while ((p = ngx_http_foundry_json_member(p, last,
                                             (u_char *) "\"usage\"", 7)))
    {
        if (p < last && *p == '{') {
            return 1;
        }
    }

    return 0;
}


/*
 * The value after the next "name": in the text (name quoted, blanks as
 * the parser takes them), or NULL: a quick look into an SSE line, not a
 * parse
 */

u_char *
ngx_http_foundry_json_member(u_char *p, u_char *last, u_char *name,
    size_t len)
{
    for ( ;; ) {
        p = ngx_http_foundry_memmem(p, last, name, len);

        if (p == NULL) {
            return NULL;
        }

        for (p += len; p < last && ngx_http_foundry_usage_space(*p); p++) {
            /* void */
        }

        if (p < last && *p == ':') {
            for (p++; p < last && ngx_http_foundry_usage_space(*p); p++) {
                /* void */
            }

            return p;
        }
    }
}


/* the end of the answer: a JSON body must be complete */

void
ngx_http_foundry_usage_done(ngx_http_foundry_usage_t *u)
{
    /* no parser: no answer */

    if (u->mode == NGX_HTTP_FOUNDRY_USAGE_JSON && !u->failed && !u->scanned
        && (u->handle == NULL
            || yajl_complete_parse(u->handle) != yajl_status_ok))
    {
        u->failed = 1;
    }

    u->done = 1;
}


/*
 * The tokens of an answer whose usage never came (the upstream cut it, or
 * the gateway stopped reading it): the prompt at ~4 bytes a token, as
 * reserved, plus one token for each "data:" object of a stream (upstreams
 * send a chunk for about every token), or ~4 bytes a token of a JSON body
 */

int64_t
ngx_http_foundry_usage_estimate(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u)
{
    int64_t  prompt;

    prompt = r->headers_in.content_length_n > 0
             ? r->headers_in.content_length_n / 4 : 0;

    switch (u->mode) {

    case NGX_HTTP_FOUNDRY_USAGE_SSE:
        return prompt + u->events;

    case NGX_HTTP_FOUNDRY_USAGE_JSON:
        return prompt + u->bytes / 4;

    default:
        return 0;
    }
}


static int
ngx_http_foundry_usage_value(void *ctx)
{
    ngx_http_foundry_usage_t  *u = ctx;

    if (u->depth < NGX_HTTP_FOUNDRY_USAGE_DEPTH) {
        u->keys[u->depth] = NGX_HTTP_FOUNDRY_UK_OTHER;
    }

    return 1;
}


static int
ngx_http_foundry_usage_boolean(void *ctx, int b)
{
    return ngx_http_foundry_usage_value(ctx);
}


static int
ngx_http_foundry_usage_string(void *ctx, const unsigned char *s, size_t len)
{
    return ngx_http_foundry_usage_value(ctx);
}


static int
ngx_http_foundry_usage_number(void *ctx, const char *s, size_t len)
{
    ngx_http_foundry_usage_t  *u = ctx;

    int64_t                    *field;
    int64_t                     n;
    ngx_uint_t                  key, parent;
    ngx_http_foundry_tokens_t  *t;

    if (u->usage == 0 || u->depth < u->usage
        || u->depth > u->usage + 1)
    {
        return ngx_http_foundry_usage_value(u);
    }

    key = u->keys[u->depth];
    field = NULL;

    /* an SSE event's counts count once the event is whole */

    t = (u->mode == NGX_HTTP_FOUNDRY_USAGE_SSE) ? &u->event : &u->tokens;

    if (u->depth == u->usage) {
        switch (key) {

        case NGX_HTTP_FOUNDRY_UK_PROMPT:
            field = &t->prompt;
            break;

        case NGX_HTTP_FOUNDRY_UK_COMPLETION:
            field = &t->completion;
            break;

        case NGX_HTTP_FOUNDRY_UK_TOTAL:
            field = &t->total;
            break;
        }

    } else {
        parent = u->keys[u->usage];

        if (parent == NGX_HTTP_FOUNDRY_UK_PROMPT_DETAILS
            && key == NGX_HTTP_FOUNDRY_UK_CACHED)
        {
            field = &t->cached;

        } else if (parent == NGX_HTTP_FOUNDRY_UK_COMPLETION_DETAILS
                   && key == NGX_HTTP_FOUNDRY_UK_REASONING)
        {
            field = &t->reasoning;
        }
    }

    if (field) {
        n = ngx_http_foundry_usage_count((u_char *) s, len);

        if (n != NGX_ERROR) {
            *field = n;

            if (t == &u->event) {
                u->event_found = 1;

            } else {
                u->found = 1;
            }
        }
    }

    return ngx_http_foundry_usage_value(u);
}


/*
 * A count of tokens: digits only (a negative or fractional number is not
 * a count), at most NGX_HTTP_FOUNDRY_TOKENS_MAX, whatever its length.
 */

static int64_t
ngx_http_foundry_usage_count(u_char *p, size_t len)
{
    int64_t  n;

    if (len == 0) {
        return NGX_ERROR;
    }

    for (n = 0; len--; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        n = ngx_min(n * 10 + (*p - '0'), NGX_HTTP_FOUNDRY_TOKENS_MAX);
    }

    return n;
}


/* a new usage object: the counts not seen in it are unknown */

static void
ngx_http_foundry_usage_reset(ngx_http_foundry_usage_t *u)
{
    ngx_http_foundry_tokens_t  *t;

    t = (u->mode == NGX_HTTP_FOUNDRY_USAGE_SSE) ? &u->event : &u->tokens;

    t->prompt = t->completion = t->total = -1;
    t->cached = t->reasoning = -1;

    u->event_found = 0;
}


static int
ngx_http_foundry_usage_start(void *ctx)
{
    ngx_http_foundry_usage_t  *u = ctx;

    /*
     * a new value at the top: a new SSE event; "usage" counts in the top
     * object, or in its "response" (Responses API events)
     */

    if (u->depth == 1
        && u->keys[1] == NGX_HTTP_FOUNDRY_UK_USAGE)
    {
        u->usage = 2;
        ngx_http_foundry_usage_reset(u);

    } else if (u->depth == 2
               && u->keys[1] == NGX_HTTP_FOUNDRY_UK_RESPONSE
               && u->keys[2] == NGX_HTTP_FOUNDRY_UK_USAGE)
    {
        u->usage = 3;
        ngx_http_foundry_usage_reset(u);
    }

    u->depth++;

    if (u->depth < NGX_HTTP_FOUNDRY_USAGE_DEPTH) {
        u->keys[u->depth] = NGX_HTTP_FOUNDRY_UK_OTHER;
    }

    return 1;
}


static int
ngx_http_foundry_usage_end(void *ctx)
{
    ngx_http_foundry_usage_t  *u = ctx;

    if (u->depth == u->usage) {
        u->usage = 0;
    }

    u->depth--;

    return ngx_http_foundry_usage_value(u);
}


static int
ngx_http_foundry_usage_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_usage_t  *u = ctx;

    if (u->depth >= NGX_HTTP_FOUNDRY_USAGE_DEPTH) {
        return 1;
    }

    u->keys[u->depth] = NGX_HTTP_FOUNDRY_UK_OTHER;

    /*
     * only keys where usage can be matter: "usage" and "response" at the
     * top, "usage" in "response", and the usage object's own two levels
     */

    if (u->usage == 0) {
        if (u->depth != 1
            && !(u->depth == 2 && u->keys[1] == NGX_HTTP_FOUNDRY_UK_RESPONSE))
        {
            return 1;
        }

        /*
         * outside usage, only "usage" and "response" are ever looked at
         * (ngx_http_foundry_usage_start()): the answer's other keys
         * ("id", "choices", ...) need no search of the table
         */

        if (len == sizeof("usage") - 1
            && ngx_memcmp(s, "usage", sizeof("usage") - 1) == 0)
        {
            u->keys[u->depth] = NGX_HTTP_FOUNDRY_UK_USAGE;

        } else if (len == sizeof("response") - 1
                   && ngx_memcmp(s, "response", sizeof("response") - 1) == 0)
        {
            u->keys[u->depth] = NGX_HTTP_FOUNDRY_UK_RESPONSE;
        }

        return 1;
    }

    if (u->depth != u->usage && u->depth != u->usage + 1) {
        return 1;
    }

    u->keys[u->depth] = ngx_http_foundry_usage_lookup(s, len);

    return 1;
}


/*
 * A key in the usage object: by its first byte, then whole (a compare
 * with a literal, which the compiler makes inline)
 */

static ngx_uint_t
ngx_http_foundry_usage_lookup(const u_char *s, size_t len)
{
    if (len == 0) {
        return NGX_HTTP_FOUNDRY_UK_OTHER;
    }

    switch (s[0]) {

    case 'c':
        if (ngx_http_foundry_usage_is(s, len, "completion_tokens")) {
            return NGX_HTTP_FOUNDRY_UK_COMPLETION;
        }

        if (ngx_http_foundry_usage_is(s, len, "cached_tokens")) {
            return NGX_HTTP_FOUNDRY_UK_CACHED;
        }

        if (ngx_http_foundry_usage_is(s, len, "completion_tokens_details")) {
            return NGX_HTTP_FOUNDRY_UK_COMPLETION_DETAILS;
        }

        break;

    case 'i':
        if (ngx_http_foundry_usage_is(s, len, "input_tokens")) {
            return NGX_HTTP_FOUNDRY_UK_PROMPT;
        }

        if (ngx_http_foundry_usage_is(s, len, "input_tokens_details")) {
            return NGX_HTTP_FOUNDRY_UK_PROMPT_DETAILS;
        }

        break;

    case 'o':
        if (ngx_http_foundry_usage_is(s, len, "output_tokens")) {
            return NGX_HTTP_FOUNDRY_UK_COMPLETION;
        }

        if (ngx_http_foundry_usage_is(s, len, "output_tokens_details")) {
            return NGX_HTTP_FOUNDRY_UK_COMPLETION_DETAILS;
        }

        break;

    case 'p':
        if (ngx_http_foundry_usage_is(s, len, "prompt_tokens")) {
            return NGX_HTTP_FOUNDRY_UK_PROMPT;
        }

        if (ngx_http_foundry_usage_is(s, len, "prompt_tokens_details")) {
            return NGX_HTTP_FOUNDRY_UK_PROMPT_DETAILS;
        }

        break;

    case 'r':
        if (ngx_http_foundry_usage_is(s, len, "reasoning_tokens")) {
            return NGX_HTTP_FOUNDRY_UK_REASONING;
        }

        if (ngx_http_foundry_usage_is(s, len, "response")) {
            return NGX_HTTP_FOUNDRY_UK_RESPONSE;
        }

        break;

    case 't':
        if (ngx_http_foundry_usage_is(s, len, "total_tokens")) {
            return NGX_HTTP_FOUNDRY_UK_TOTAL;
        }

        break;

    case 'u':
        if (ngx_http_foundry_usage_is(s, len, "usage")) {
            return NGX_HTTP_FOUNDRY_UK_USAGE;
        }

        break;
    }

    return NGX_HTTP_FOUNDRY_UK_OTHER;
}
