
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"


/*
 * A validating JSON scanner over text in memory: it says whether a value
 * is valid JSON and where it ends, without building anything, so that a
 * caller can walk an object's members and look only at the ones it needs.
 *
 * It takes exactly the text yajl 2 takes with the module's parsers'
 * settings (no comments, strings' UTF-8 checked as yajl checks it: lead
 * bytes and continuation bytes, nothing more; the same white space,
 * "\v" and "\f" included), so that a body has the same verdict whichever
 * reads it: fuzz/fuzz_jscan.c checks it against yajl.  Strings with
 * escapes are decoded by yajl itself (ngx_http_foundry_jscan_decode()).
 */


#define NGX_HTTP_FOUNDRY_JS_STOP   0x01     /* ends a run in a string */
#define NGX_HTTP_FOUNDRY_JS_SPACE  0x02
#define NGX_HTTP_FOUNDRY_JS_ESC    0x04     /* after a backslash */
#define NGX_HTTP_FOUNDRY_JS_HEX    0x08


/*
 * A run of plain characters in a string is passed 16 bytes a turn with
 * SSE2 (every x86-64 has it), or 8 with 64-bit words elsewhere (and when
 * NGX_HTTP_FOUNDRY_JSCAN_SWAR is defined, as a fuzz build does to check
 * that way too)
 */

#if (defined __SSE2__ && !defined NGX_HTTP_FOUNDRY_JSCAN_SWAR)
#define NGX_HTTP_FOUNDRY_JSCAN_SSE2  1
#include <emmintrin.h>
#else
#define NGX_HTTP_FOUNDRY_JSCAN_SSE2  0
#endif


static ngx_inline u_char *ngx_http_foundry_jscan_space(u_char *p,
    u_char *last);
static ngx_inline u_char *ngx_http_foundry_jscan_plain(u_char *p,
    u_char *last);
static ngx_inline ngx_int_t ngx_http_foundry_jscan_string(u_char **pp,
    u_char *last, ngx_uint_t *escapes);
static ngx_int_t ngx_http_foundry_jscan_string_rest(u_char **pp, u_char *p,
    u_char *last, ngx_uint_t *escapes);
static ngx_int_t ngx_http_foundry_jscan_number(u_char **pp, u_char *last);
static ngx_int_t ngx_http_foundry_jscan_literal(u_char **pp, u_char *last);
static ngx_int_t ngx_http_foundry_jscan_value(u_char **pp, u_char *last,
    ngx_uint_t depth, ngx_uint_t max);
static ngx_inline ngx_int_t ngx_http_foundry_jscan_next(u_char **pp,
    u_char *last, u_char open);
static ngx_inline ngx_int_t ngx_http_foundry_jscan_colon(u_char **pp,
    u_char *last);
static ngx_int_t ngx_http_foundry_jscan_text(ngx_pool_t *pool, u_char *p,
    u_char *last, ngx_uint_t escapes, ngx_str_t *s);
static ngx_int_t ngx_http_foundry_jscan_emit(ngx_pool_t *pool,
    yajl_callbacks *cb, void *ctx, u_char *q, u_char *p, ngx_uint_t escapes);
static ngx_int_t ngx_http_foundry_jscan_key(ngx_pool_t *pool, u_char **pp,
    u_char *last, yajl_callbacks *cb, void *ctx, u_char *start,
    off_t *offset);
static ngx_int_t ngx_http_foundry_jscan_scalar(u_char **pp, u_char *last,
    ngx_uint_t *escapes);
static int ngx_http_foundry_jscan_decoded(void *ctx, const unsigned char *s,
    size_t len);


/*
 * What each byte is: STOP (1) for a quote, a backslash, a control
 * character or a byte past ASCII; SPACE (2) for yajl's white space; ESC
 * (4) for what may follow a backslash (but "u"); HEX (8) for hex digits
 */

static const u_char  ngx_http_foundry_jscan_class[256] = {
     1,  1,  1,  1,  1,  1,  1,  1,  1,  3,  3,  3,  3,  3,  1,  1, /* 00 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 10 */
     2,  0,  5,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  4, /* 20 */
     8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  0,  0,  0,  0,  0,  0, /* 30 */
     0,  8,  8,  8,  8,  8,  8,  0,  0,  0,  0,  0,  0,  0,  0,  0, /* 40 */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  5,  0,  0,  0, /* 50 */
     0,  8, 12,  8,  8,  8, 12,  0,  0,  0,  0,  0,  0,  0,  4,  0, /* 60 */
     0,  0,  4,  0,  4,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, /* 70 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 80 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 90 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* a0 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* b0 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* c0 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* d0 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* e0 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1  /* f0 */
};


/* the first byte past white space */

static ngx_inline u_char *
ngx_http_foundry_jscan_space(u_char *p, u_char *last)
{
    /* white space is at most ' ': most bytes need no look in the table */

    while (p < last && *p <= ' '
           && (ngx_http_foundry_jscan_class[*p] & NGX_HTTP_FOUNDRY_JS_SPACE))
    {
        p++;
    }

    return p;
}


/*
 * The first byte at or past p that ends a run of plain characters in a
 * string (NGX_HTTP_FOUNDRY_JS_STOP), or last.  The wide loads read only
 * bytes before last.
 */

static ngx_inline u_char *
ngx_http_foundry_jscan_plain(u_char *p, u_char *last)
{
#if (NGX_HTTP_FOUNDRY_JSCAN_SSE2)

    int      m;
    __m128i  v, s;

    while (last - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);

        /* a quote, a backslash, a byte below 0x20 (max(v, 0x1f) == 0x1f) */

        s = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                         _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
        s = _mm_or_si128(s, _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)),
                                           _mm_set1_epi8(0x1f)));

        /* or a byte with its high bit set: past ASCII */

        m = _mm_movemask_epi8(_mm_or_si128(s, v));

        if (m) {
            return p + __builtin_ctz((unsigned int) m);
        }

        p += 16;
    }

#else

    uint64_t  x, y;

#define NGX_HTTP_FOUNDRY_JS_ONES  0x0101010101010101ULL

    /*
     * a byte's high bit in y is set for a byte below 0x20, a quote, a
     * backslash, a byte past ASCII, or (the borrow of a subtraction) for
     * a byte after one of these: the word is then walked byte by byte
     */

    while (last - p >= 8) {
        ngx_memcpy(&x, p, 8);

        y = (x - NGX_HTTP_FOUNDRY_JS_ONES * 0x20)
            | ((x ^ (NGX_HTTP_FOUNDRY_JS_ONES * '"'))
               - NGX_HTTP_FOUNDRY_JS_ONES)
            | ((x ^ (NGX_HTTP_FOUNDRY_JS_ONES * '\\'))
               - NGX_HTTP_FOUNDRY_JS_ONES)
            | x;

        if (y & (NGX_HTTP_FOUNDRY_JS_ONES * 0x80)) {
            break;
        }

        p += 8;
    }

#undef NGX_HTTP_FOUNDRY_JS_ONES

#endif

    while (p < last
           && !(ngx_http_foundry_jscan_class[*p] & NGX_HTTP_FOUNDRY_JS_STOP))
    {
        p++;
    }

    return p;
}


/*
 * A string at *pp (its opening quote): NGX_OK with *pp past its closing
 * quote; NGX_AGAIN if the text ends in it, past whole characters and
 * escapes; NGX_ERROR if it is not valid or ends inside a character or an
 * escape.  *escapes is set when it has any.  The common string, plain
 * characters only, is done here; the others go on in
 * ngx_http_foundry_jscan_string_rest().
 */

static ngx_inline ngx_int_t
ngx_http_foundry_jscan_string(u_char **pp, u_char *last,
    ngx_uint_t *escapes)
{
    u_char  *p;

    p = ngx_http_foundry_jscan_plain(*pp + 1, last);

    if (p < last && *p == '"') {
        *pp = p + 1;
        return NGX_OK;
    }

    return ngx_http_foundry_jscan_string_rest(pp, p, last, escapes);
}


/* the string at *pp, from p, where its plain characters stop */

static ngx_int_t
ngx_http_foundry_jscan_string_rest(u_char **pp, u_char *p, u_char *last,
    ngx_uint_t *escapes)
{
    u_char        c;
    const u_char *t;
    ngx_uint_t    i, n;

    t = ngx_http_foundry_jscan_class;

    for ( ;; ) {

        p = ngx_http_foundry_jscan_plain(p, last);

        if (p == last) {
            return NGX_AGAIN;
        }

        c = *p++;

        if (c == '"') {
            *pp = p;
            return NGX_OK;
        }

        if (c == '\\') {
            *escapes = 1;

            if (p == last) {
                return NGX_ERROR;
            }

            c = *p++;

            if (c == 'u') {
                for (i = 0; i < 4; i++) {
                    if (p == last || !(t[*p] & NGX_HTTP_FOUNDRY_JS_HEX)) {
                        return NGX_ERROR;
                    }

                    p++;
                }

                continue;
            }

            if (!(t[c] & NGX_HTTP_FOUNDRY_JS_ESC)) {
                return NGX_ERROR;
            }

            continue;
        }

        if (c < 0x80) {
            /* a control character */
            return NGX_ERROR;
        }

        /* UTF-8 as yajl checks it: the lead byte, then continuations */

        if ((c >> 5) == 0x06) {
            n = 1;

        } else if ((c >> 4) == 0x0e) {
            n = 2;

        } else if ((c >> 3) == 0x1e) {
            n = 3;

        } else {
            return NGX_ERROR;
        }

        while (n--) {
            if (p == last || (*p >> 6) != 0x02) {
                return NGX_ERROR;
            }

            p++;
        }
    }
}


/*
 * A number at *pp as yajl reads it: the longest text that is one, the
 * next byte (or the end of the text) ending it
 */

static ngx_int_t
ngx_http_foundry_jscan_number(u_char **pp, u_char *last)
{
    u_char  *p;

    p = *pp;

    if (p < last && *p == '-') {
        p++;
    }

    if (p == last) {
        return NGX_ERROR;
    }

    if (*p == '0') {
        p++;

    } else if (*p >= '1' && *p <= '9') {
        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }

    } else {
        return NGX_ERROR;
    }

    if (p < last && *p == '.') {
        p++;

        if (p == last || *p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == last || *p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    *pp = p;

    return NGX_OK;
}


/* true, false or null at *pp */

static ngx_int_t
ngx_http_foundry_jscan_literal(u_char **pp, u_char *last)
{
    u_char  *p;
    size_t   len;

    p = *pp;

    switch (*p) {

    case 't':
        len = 4;
        if ((size_t) (last - p) < len || ngx_strncmp(p, "true", 4) != 0) {
            return NGX_ERROR;
        }
        break;

    case 'f':
        len = 5;
        if ((size_t) (last - p) < len || ngx_strncmp(p, "false", 5) != 0) {
            return NGX_ERROR;
        }
        break;

    case 'n':
        len = 4;
        if ((size_t) (last - p) < len || ngx_strncmp(p, "null", 4) != 0) {
            return NGX_ERROR;
        }
        break;

    default:
        return NGX_ERROR;
    }

    *pp = p + len;

    return NGX_OK;
}


/* a string, true, false, null or a number at *pp */

static ngx_int_t
ngx_http_foundry_jscan_scalar(u_char **pp, u_char *last, ngx_uint_t *escapes)
{
    switch (**pp) {

    case '"':
        return (ngx_http_foundry_jscan_string(pp, last, escapes) == NGX_OK)
               ? NGX_OK : NGX_ERROR;

    case 't':
    case 'f':
    case 'n':
        return ngx_http_foundry_jscan_literal(pp, last);

    default:
        return ngx_http_foundry_jscan_number(pp, last);
    }
}


/*
 * Any value at *pp (past white space), in "depth" containers: NGX_OK with
 * *pp past it; NGX_DECLINED when a container in it would be deeper than
 * "max" (NGX_HTTP_FOUNDRY_JSCAN_DEPTH at most) before any error; NGX_ERROR
 * when it is not valid JSON, or the text ends in it.
 *
 * The open containers are kept as their closing brackets.  Compact JSON,
 * the common case, takes the short ways: a string value looked for first,
 * a comma, a key's quote and its colon right after what comes before
 * them; white space goes the long way, through the same checks.
 */

static ngx_int_t
ngx_http_foundry_jscan_value(u_char **pp, u_char *last, ngx_uint_t depth,
    ngx_uint_t max)
{
    u_char      *p, close[NGX_HTTP_FOUNDRY_JSCAN_DEPTH];
    ngx_uint_t   n, escapes;

    n = 0;
    p = *pp;

value:

    if (p == last) {
        return NGX_ERROR;
    }

    if (*p == '"') {
        if (ngx_http_foundry_jscan_string(&p, last, &escapes) != NGX_OK) {
            return NGX_ERROR;
        }

        goto next;
    }

    if (*p == '{' || *p == '[') {
        if (depth + n + 1 > max) {
            return NGX_DECLINED;
        }

        /* '{' + 2 is '}', '[' + 2 is ']' */

        close[n++] = *p++ + 2;

        if (p < last && *p <= ' ') {
            p = ngx_http_foundry_jscan_space(p, last);
        }

        if (p < last && *p == close[n - 1]) {
            p++;
            n--;
            goto next;
        }

        if (close[n - 1] == '}') {
            goto key;
        }

        goto value;
    }

    if (ngx_http_foundry_jscan_class[*p] & NGX_HTTP_FOUNDRY_JS_SPACE) {
        p = ngx_http_foundry_jscan_space(p, last);
        goto value;
    }

    if (ngx_http_foundry_jscan_scalar(&p, last, &escapes) != NGX_OK) {
        return NGX_ERROR;
    }

next:

    if (n == 0) {
        *pp = p;
        return NGX_OK;
    }

    if (p < last && *p <= ' ') {
        p = ngx_http_foundry_jscan_space(p, last);
    }

    if (p == last) {
        return NGX_ERROR;
    }

    if (*p == close[n - 1]) {
        p++;
        n--;
        goto next;
    }

    if (*p++ != ',') {
        return NGX_ERROR;
    }

    if (close[n - 1] == ']') {
        goto value;
    }

key:

    if (p < last && *p <= ' ') {
        p = ngx_http_foundry_jscan_space(p, last);
    }

    if (p == last || *p != '"'
        || ngx_http_foundry_jscan_string(&p, last, &escapes) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (p < last && *p <= ' ') {
        p = ngx_http_foundry_jscan_space(p, last);
    }

    if (p == last || *p++ != ':') {
        return NGX_ERROR;
    }

    if (p < last && *p <= ' ') {
        p = ngx_http_foundry_jscan_space(p, last);
    }

    goto value;
}


/*
 * After a value in a container opened by "open": NGX_OK past a comma (the
 * white space after it is passed with the next value or key), NGX_DONE at
 * the closing bracket, or NGX_ERROR
 */

static ngx_inline ngx_int_t
ngx_http_foundry_jscan_next(u_char **pp, u_char *last, u_char open)
{
    u_char  *p;

    p = ngx_http_foundry_jscan_space(*pp, last);

    if (p == last) {
        return NGX_ERROR;
    }

    if (*p == ',') {
        *pp = p + 1;
        return NGX_OK;
    }

    if (*p != (open == '{' ? '}' : ']')) {
        return NGX_ERROR;
    }

    *pp = p;

    return NGX_DONE;
}


/* after a key: white space and a colon (the value passes what follows) */

static ngx_inline ngx_int_t
ngx_http_foundry_jscan_colon(u_char **pp, u_char *last)
{
    u_char  *p;

    p = ngx_http_foundry_jscan_space(*pp, last);

    if (p == last || *p != ':') {
        return NGX_ERROR;
    }

    *pp = p + 1;

    return NGX_OK;
}


typedef struct {
    ngx_pool_t  *pool;
    ngx_str_t   *out;
} ngx_http_foundry_jscan_decode_t;


/*
 * A string with escapes, [p, last) with its quotes, as yajl decodes it (its
 * way with lone surrogates included): into "out", from the pool
 */

ngx_int_t
ngx_http_foundry_jscan_decode(ngx_pool_t *pool, u_char *p, u_char *last,
    ngx_str_t *out)
{
    yajl_handle                       h;
    yajl_status                       st;
    yajl_callbacks                    cb;
    yajl_alloc_funcs                  funcs;
    ngx_http_foundry_jscan_decode_t   d;

    ngx_memzero(&cb, sizeof(yajl_callbacks));
    cb.yajl_string = ngx_http_foundry_jscan_decoded;

    ngx_http_foundry_json_alloc_funcs(pool, &funcs);

    d.pool = pool;
    d.out = out;

    out->data = NULL;
    out->len = 0;

    h = yajl_alloc(&cb, &funcs, &d);
    if (h == NULL) {
        return NGX_ERROR;
    }

    st = yajl_parse(h, p, last - p);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (st != yajl_status_ok || out->data == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static int
ngx_http_foundry_jscan_decoded(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_jscan_decode_t  *d = ctx;

    d->out->data = ngx_pnalloc(d->pool, len ? len : 1);
    if (d->out->data == NULL) {
        return 0;
    }

    ngx_memcpy(d->out->data, s, len);
    d->out->len = len;

    return 1;
}


/*
 * Parses the JSON text [start, last) as yajl would with "cb" (the same
 * calls in the same order, but not in the containers skipped): one value,
 * then only white space, or an unfinished string (yajl 2 takes that too).
 * The containers inside the top one are skipped (checked, their depth
 * too) unless "descend" says otherwise after their start callback; a
 * skipped container has its start and end callbacks only.  Before each
 * callback, *offset is where the token it is for ends, as
 * yajl_get_bytes_consumed() says.  Returns NGX_HTTP_FOUNDRY_JSCAN_OK,
 * _SYNTAX (not JSON), _STOPPED (a callback returned 0), _DEEP (deeper than
 * "max" in a skipped container) or _NOMEM.
 */

ngx_int_t
ngx_http_foundry_jscan_parse(ngx_pool_t *pool, u_char *start, u_char *last,
    yajl_callbacks *cb, void *ctx, ngx_http_foundry_jscan_descend_pt descend,
    ngx_uint_t max, off_t *offset)
{
    int          ok;
    u_char      *p, *q, c, open[NGX_HTTP_FOUNDRY_JSCAN_DEPTH];
    ngx_int_t    rc;
    ngx_uint_t   n, escapes;

    if (max > NGX_HTTP_FOUNDRY_JSCAN_DEPTH) {
        max = NGX_HTTP_FOUNDRY_JSCAN_DEPTH;
    }

    n = 0;
    p = ngx_http_foundry_jscan_space(start, last);

value:

    if (p == last) {
        return NGX_HTTP_FOUNDRY_JSCAN_SYNTAX;
    }

    q = p;
    escapes = 0;

    switch (*p) {

    case '{':
    case '[':
        c = *p++;
        *offset = p - start;

        ok = (c == '{') ? cb->yajl_start_map(ctx) : cb->yajl_start_array(ctx);
        if (!ok) {
            return NGX_HTTP_FOUNDRY_JSCAN_STOPPED;
        }

        if (n == 0 || descend(ctx)) {
            if (n + 1 > max) {
                return NGX_HTTP_FOUNDRY_JSCAN_DEEP;
            }

            open[n++] = c;
            p = ngx_http_foundry_jscan_space(p, last);

            if (p < last && *p == (c == '{' ? '}' : ']')) {
                goto close;
            }

            if (c == '{') {
                goto key;
            }

            goto value;
        }

        rc = ngx_http_foundry_jscan_value(&q, last, n, max);

        if (rc == NGX_DECLINED) {
            return NGX_HTTP_FOUNDRY_JSCAN_DEEP;
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_FOUNDRY_JSCAN_SYNTAX;
        }

        p = q;
        *offset = p - start;

        ok = (c == '{') ? cb->yajl_end_map(ctx) : cb->yajl_end_array(ctx);
        if (!ok) {
            return NGX_HTTP_FOUNDRY_JSCAN_STOPPED;
        }

        goto next;

    default:
        if (ngx_http_foundry_jscan_class[*p] & NGX_HTTP_FOUNDRY_JS_SPACE) {
            p = ngx_http_foundry_jscan_space(p, last);
            goto value;
        }

        if (ngx_http_foundry_jscan_scalar(&p, last, &escapes) != NGX_OK) {
            return NGX_HTTP_FOUNDRY_JSCAN_SYNTAX;
        }

        *offset = p - start;

        rc = ngx_http_foundry_jscan_emit(pool, cb, ctx, q, p, escapes);

        if (rc != NGX_HTTP_FOUNDRY_JSCAN_OK) {
            return rc;
        }
    }

next:

    if (n == 0) {
        goto done;
    }

    rc = ngx_http_foundry_jscan_next(&p, last, open[n - 1]);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_FOUNDRY_JSCAN_SYNTAX;
    }

    if (rc == NGX_OK) {
        if (open[n - 1] == '[') {
            goto value;
        }

        goto key;
    }

close:

    p++;
    *offset = p - start;

    ok = (open[--n] == '{') ? cb->yajl_end_map(ctx) : cb->yajl_end_array(ctx);
    if (!ok) {
        return NGX_HTTP_FOUNDRY_JSCAN_STOPPED;
    }

    goto next;

key:

    rc = ngx_http_foundry_jscan_key(pool, &p, last, cb, ctx, start, offset);

    if (rc != NGX_HTTP_FOUNDRY_JSCAN_OK) {
        return rc;
    }

    goto value;

done:

    p = ngx_http_foundry_jscan_space(p, last);

    if (p == last) {
        return NGX_HTTP_FOUNDRY_JSCAN_OK;
    }

    if (*p == '"' && ngx_http_foundry_jscan_string(&p, last, &escapes)
                     == NGX_AGAIN)
    {
        return NGX_HTTP_FOUNDRY_JSCAN_OK;
    }

    return NGX_HTTP_FOUNDRY_JSCAN_SYNTAX;
}


/* a scalar's callback: NGX_HTTP_FOUNDRY_JSCAN_OK to go on, or why not */

static ngx_int_t
ngx_http_foundry_jscan_emit(ngx_pool_t *pool, yajl_callbacks *cb, void *ctx,
    u_char *q, u_char *p, ngx_uint_t escapes)
{
    int        ok;
    ngx_str_t  s;

    switch (*q) {

    case '"':
        if (ngx_http_foundry_jscan_text(pool, q, p, escapes, &s) != NGX_OK) {
            return NGX_HTTP_FOUNDRY_JSCAN_NOMEM;
        }

        ok = cb->yajl_string(ctx, s.data, s.len);
        break;

    case 'n':
        ok = cb->yajl_null(ctx);
        break;

    case 't':
    case 'f':
        ok = cb->yajl_boolean(ctx, *q == 't');
        break;

    default:
        ok = cb->yajl_number(ctx, (const char *) q, p - q);
    }

    return ok ? NGX_HTTP_FOUNDRY_JSCAN_OK : NGX_HTTP_FOUNDRY_JSCAN_STOPPED;
}


/* a key of an object, its callback, its colon */

static ngx_int_t
ngx_http_foundry_jscan_key(ngx_pool_t *pool, u_char **pp, u_char *last,
    yajl_callbacks *cb, void *ctx, u_char *start, off_t *offset)
{
    u_char      *p, *q;
    ngx_str_t    s;
    ngx_uint_t   escapes;

    p = ngx_http_foundry_jscan_space(*pp, last);

    if (p == last || *p != '"') {
        return NGX_HTTP_FOUNDRY_JSCAN_SYNTAX;
    }

    q = p;
    escapes = 0;

    if (ngx_http_foundry_jscan_string(&p, last, &escapes) != NGX_OK) {
        return NGX_HTTP_FOUNDRY_JSCAN_SYNTAX;
    }

    *offset = p - start;

    if (ngx_http_foundry_jscan_text(pool, q, p, escapes, &s) != NGX_OK) {
        return NGX_HTTP_FOUNDRY_JSCAN_NOMEM;
    }

    if (!cb->yajl_map_key(ctx, s.data, s.len)) {
        return NGX_HTTP_FOUNDRY_JSCAN_STOPPED;
    }

    if (ngx_http_foundry_jscan_colon(&p, last) != NGX_OK) {
        return NGX_HTTP_FOUNDRY_JSCAN_SYNTAX;
    }

    *pp = p;

    return NGX_HTTP_FOUNDRY_JSCAN_OK;
}


/* the text of the string [p, last), quotes included: decoded if need be */

static ngx_int_t
ngx_http_foundry_jscan_text(ngx_pool_t *pool, u_char *p, u_char *last,
    ngx_uint_t escapes, ngx_str_t *s)
{
    if (escapes) {
        return ngx_http_foundry_jscan_decode(pool, p, last, s);
    }

    s->data = p + 1;
    s->len = last - p - 2;

    return NGX_OK;
}
