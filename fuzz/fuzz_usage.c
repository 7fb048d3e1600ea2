
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: an upstream's answer read for its token usage by
 * ngx_http_foundry_usage_feed(), as the body filter does, with the buffers
 * cut where the input's prefix says (see ngx_fuzz_split()); the prefix's
 * first byte also chooses the content type: 128 and up is JSON, else a
 * Server-Sent Events stream.  The answer is read again in one buffer, and
 * (up to 16 KB) a byte at a time: the usage found must be the same (see
 * ngx_fuzz_same() for streams that are not well formed), and so must the
 * count of a stream's "data:" objects (whole lines are read at once, a
 * line in pieces through the states).
 *
 * The prefilter of a stream's whole lines, ngx_http_foundry_usage_line(),
 * is held to the verdict of the one before it (ngx_fuzz_usage_line(): a
 * memchr() for backslashes in each line, each "{" looked at) on every
 * line of the input, from each of the line's "{" in turn, as a buffer's
 * lines are read.  The search of a buffer's whole lines for the ones it
 * passes, ngx_http_foundry_usage_next() (the "{" searched for across
 * lines), is held to a walk of the lines one by one with that reference
 * (ngx_fuzz_walk()): the same lines, in the same order, and the same
 * count of "data:" objects, from the input's start and from the start of
 * each of its first lines.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


#define NGX_FUZZ_MAX_BYTEWISE  16384


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ngx_fuzz_read(ngx_pool_t *pool, ngx_str_t *type,
    ngx_fuzz_split_t *split, size_t step, ngx_http_foundry_usage_t *u);
static void ngx_fuzz_same(ngx_http_foundry_usage_t *a,
    ngx_http_foundry_usage_t *b);
static void ngx_fuzz_lines(u_char *p, u_char *end);
static void ngx_fuzz_next(u_char *p, u_char *last);
static u_char *ngx_fuzz_walk(u_char **pp, u_char *end, int64_t *events,
    u_char **nl);
static ngx_uint_t ngx_fuzz_usage_line(u_char *p, u_char *last);


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
    ngx_str_t                 type;
    ngx_pool_t               *pool;
    ngx_fuzz_split_t          split;
    ngx_http_foundry_usage_t  u, u1, u2;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    if (size && data[0] >= 128) {
        ngx_str_set(&type, "application/json; charset=utf-8");

    } else {
        ngx_str_set(&type, "text/event-stream");
    }

    ngx_fuzz_split(data, size, &split);

    if (type.data[0] == 't') {
        ngx_fuzz_lines(split.data, split.data + split.len);
        ngx_fuzz_next(split.data, split.data + split.len);
    }

    ngx_fuzz_read(pool, &type, &split, 0, &u);
    ngx_fuzz_read(pool, &type, &split, split.len ? split.len : 1, &u1);

    ngx_fuzz_same(&u1, &u);

    if (split.len <= NGX_FUZZ_MAX_BYTEWISE) {
        ngx_fuzz_read(pool, &type, &split, 1, &u2);
        ngx_fuzz_same(&u, &u2);
    }

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_read(ngx_pool_t *pool, ngx_str_t *type, ngx_fuzz_split_t *split,
    size_t step, ngx_http_foundry_usage_t *u)
{
    ngx_chain_t         *in, *cl, *next;
    ngx_http_request_t  *r;

    r = ngx_fuzz_request(pool);
    if (r == NULL) {
        abort();
    }

    in = ngx_fuzz_chain(pool, step ? NULL : split, split->data, split->len,
                        step);
    if (in == NULL) {
        abort();
    }

    /* a JSON answer whole in one buffer of its length is scanned */

    r->headers_out.content_length_n = split->len;

    ngx_memzero(u, sizeof(ngx_http_foundry_usage_t));

    if (ngx_http_foundry_usage_init(r, u, type) != NGX_OK) {
        abort();
    }

    /* a buffer per call of the body filter */

    for (cl = in; cl; cl = next) {
        next = cl->next;
        cl->next = NULL;

        ngx_http_foundry_usage_feed(r, u, cl);
    }

    ngx_http_foundry_usage_done(u);

    /* a whole JSON answer leaves no object open */

    if (!u->done
        || (u->mode == NGX_HTTP_FOUNDRY_USAGE_JSON && !u->failed
            && (u->depth != 0 || u->usage != 0)))
    {
        abort();
    }
}


/*
 * "b" was read in smaller pieces than "a".  A JSON answer gives the same
 * in any pieces.  A stream's line that is whole in a buffer is skipped if
 * it has no usage; in pieces, it is read: so "b" reads at least the lines
 * "a" reads, fails if "a" does, and if neither fails, finds the same.
 */

static void
ngx_fuzz_same(ngx_http_foundry_usage_t *a, ngx_http_foundry_usage_t *b)
{
    if (a->mode == NGX_HTTP_FOUNDRY_USAGE_JSON) {
        if (a->failed != b->failed) {
            abort();
        }

    } else if (a->failed || b->failed) {
        if (a->failed && !b->failed) {
            abort();
        }

        return;
    }

    if (a->found != b->found || a->events != b->events) {
        abort();
    }

    if (a->found
        && (a->tokens.prompt != b->tokens.prompt
            || a->tokens.completion != b->tokens.completion
            || a->tokens.total != b->tokens.total
            || a->tokens.cached != b->tokens.cached
            || a->tokens.reasoning != b->tokens.reasoning))
    {
        abort();
    }
}


/* the prefilter against the one before, on each line and each "{" */

static void
ngx_fuzz_lines(u_char *p, u_char *end)
{
    u_char  *nl, *b, *bs;

    bs = NULL;

    for ( /* void */ ; p < end; p = nl + 1) {
        nl = memchr(p, '\n', end - p);

        if (nl == NULL) {
            return;
        }

        for (b = p; b < nl; b++) {
            b = memchr(b, '{', nl - b);

            if (b == NULL) {
                break;
            }

            if (ngx_http_foundry_usage_line(b, nl, &bs, end)
                != ngx_fuzz_usage_line(b, nl))
            {
                abort();
            }
        }
    }
}


/*
 * ngx_http_foundry_usage_next() against the walk of the lines one by one,
 * over the whole lines of [p, last) (up to its last "\n") from p and from
 * the start of each of the first lines after it
 */

#define NGX_FUZZ_MAX_STARTS  16

static void
ngx_fuzz_next(u_char *p, u_char *last)
{
    u_char      *end, *start, *q, *r, *nl, *rnl, *pp, *rp, *bs;
    int64_t      events, ref;
    ngx_uint_t   n;

    end = memrchr(p, '\n', last - p);

    if (end == NULL) {
        return;
    }

    end++;

    for (start = p, n = 0;
         start < end && n < NGX_FUZZ_MAX_STARTS;
         start = (u_char *) memchr(start, '\n', end - start) + 1, n++)
    {
        pp = start;
        rp = start;
        bs = NULL;
        events = 0;
        ref = 0;

        for ( ;; ) {
            nl = NULL;
            rnl = NULL;

            q = ngx_http_foundry_usage_next(&pp, end, last, &bs, &events,
                                            &nl);
            r = ngx_fuzz_walk(&rp, end, &ref, &rnl);

            if (q != r || nl != rnl || pp != rp || events != ref) {
                abort();
            }

            if (q == NULL) {
                break;
            }
        }
    }
}


/*
 * The lines as ngx_http_foundry_usage_lines() walked them before issue
 * 22's search across lines: each line's "data:", blanks and "{", then
 * the reference prefilter
 */

static u_char *
ngx_fuzz_walk(u_char **pp, u_char *end, int64_t *events, u_char **nl)
{
    u_char  *p, *q, *line, *eol;

    p = *pp;

    for ( ;; ) {
        while (p < end && (*p == '\n' || *p == '\r')) {
            p++;
        }

        if (p == end) {
            *pp = end;
            return NULL;
        }

        line = p;
        eol = memchr(p, '\n', end - p);
        p = eol + 1;

        if (eol - line < 6 || ngx_memcmp(line, "data:", 5) != 0) {
            continue;
        }

        for (q = line + 5; *q == ' ' || *q == '\t'; q++) {
            /* void */
        }

        if (*q != '{') {
            continue;
        }

        (*events)++;

        if (ngx_fuzz_usage_line(q, eol)) {
            *pp = p;
            *nl = eol;
            return q;
        }
    }
}


#define ngx_fuzz_space(c)                                                     \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\v' || (c) == '\f')

/*
 * The prefilter as it was before a buffer's lines shared one search for
 * backslashes (issue 22), the reference: a "\u" after any backslash of
 * [p, last), or a "{" after "usage" and a colon, where the search forward
 * for "usage" decides "usage"usage"
 */

static ngx_uint_t
ngx_fuzz_usage_line(u_char *p, u_char *last)
{
    u_char  *q, *b, *m;

    for (q = p; q < last; q++) {
        q = memchr(q, '\\', last - q);

        if (q == NULL) {
            break;
        }

        if (q + 1 < last && q[1] == 'u') {
            return 1;
        }
    }

    for (b = p; b < last; b++) {
        b = memchr(b, '{', last - b);

        if (b == NULL) {
            return 0;
        }

        for (q = b; q > p && ngx_fuzz_space(q[-1]); q--) {
            /* void */
        }

        if (q == p || *--q != ':') {
            continue;
        }

        while (q > p && ngx_fuzz_space(q[-1])) {
            q--;
        }

        if (q - p < 7 || ngx_memcmp(q - 7, "\"usage\"", 7) != 0) {
            continue;
        }

        if (q - p >= 13 && ngx_memcmp(q - 13, "\"usage", 6) == 0) {
            break;
        }

        return 1;
    }

    /* "usage"usage": {: the search forward */

    for (m = p; (m = ngx_http_foundry_json_member(m, last,
                                                  (u_char *) "\"usage\"", 7));
         /* void */)
    {
        if (m < last && *m == '{') {
            return 1;
        }
    }

    return 0;
}
