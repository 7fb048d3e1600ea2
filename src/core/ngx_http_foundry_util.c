
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"


/*
 * SHA-256 of the concatenation of parts, for the key, token and verdict
 * lookups of every request: OpenSSL's SHA256_Init(), _Update(), _Final()
 * on a context on the stack (deprecated by OpenSSL 3, which nginx's own
 * headers allow with OPENSSL_SUPPRESS_DEPRECATED): no allocation and no
 * lookup, where OpenSSL 3.0's EVP_DigestInit_ex() makes the provider's
 * context anew, a malloc() and a free() each time.  The same block
 * function runs (with the CPU's SHA instructions where it has them).  An
 * OpenSSL built without the deprecated functions goes through EVP, the
 * algorithm fetched and the context made once per process.
 *
 * Parts shorter than the stage are gathered first, so that the block
 * function is given many blocks a call, not a part at a time.  The stage
 * and the context (a key hashed passes through them) are wiped after use.
 */

#define NGX_HTTP_FOUNDRY_SHA256_STAGE  1024

#if (defined OPENSSL_NO_DEPRECATED_3_0)

#define NGX_HTTP_FOUNDRY_SHA256_EVP    1

typedef EVP_MD_CTX  *ngx_http_foundry_sha256_ctx_t;

static EVP_MD      *ngx_http_foundry_sha256_md;
static EVP_MD_CTX  *ngx_http_foundry_sha256_evp;

static ngx_int_t ngx_http_foundry_sha256_init(
    ngx_http_foundry_sha256_ctx_t *c);
static void ngx_http_foundry_sha256_cleanup(void *data);

#define ngx_http_foundry_sha256_update(c, p, n)                              \
    (EVP_DigestUpdate(*(c), p, n) == 1)
#define ngx_http_foundry_sha256_final(c, d)                                  \
    (EVP_DigestFinal_ex(*(c), d, NULL) == 1)

#else

#define NGX_HTTP_FOUNDRY_SHA256_EVP    0

typedef SHA256_CTX   ngx_http_foundry_sha256_ctx_t;

#define ngx_http_foundry_sha256_init(c)                                      \
    (SHA256_Init(c) == 1 ? NGX_OK : NGX_ERROR)
#define ngx_http_foundry_sha256_update(c, p, n)                              \
    (SHA256_Update(c, p, n) == 1)
#define ngx_http_foundry_sha256_final(c, d)                                  \
    (SHA256_Final(d, c) == 1)

#endif


static ngx_int_t ngx_http_foundry_hex(u_char *p, u_char *last);


ngx_int_t
ngx_http_foundry_sha256(ngx_str_t *parts, ngx_uint_t n, u_char *digest)
{
    u_char                          stage[NGX_HTTP_FOUNDRY_SHA256_STAGE];
    size_t                          used, high;
    ngx_int_t                       rc;
    ngx_uint_t                      i;
    ngx_http_foundry_sha256_ctx_t   c;

    if (ngx_http_foundry_sha256_init(&c) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    used = 0;
    high = 0;

    for (i = 0; i < n; i++) {

        if (used + parts[i].len <= NGX_HTTP_FOUNDRY_SHA256_STAGE) {
            if (parts[i].len) {
                ngx_memcpy(stage + used, parts[i].data, parts[i].len);
                used += parts[i].len;
            }

            continue;
        }

        high = ngx_max(high, used);

        if (used && !ngx_http_foundry_sha256_update(&c, stage, used)) {
            goto done;
        }

        used = 0;

        if (parts[i].len >= NGX_HTTP_FOUNDRY_SHA256_STAGE) {
            if (!ngx_http_foundry_sha256_update(&c, parts[i].data,
                                                parts[i].len))
            {
                goto done;
            }

            continue;
        }

        ngx_memcpy(stage, parts[i].data, parts[i].len);
        used = parts[i].len;
    }

    high = ngx_max(high, used);

    if (used && !ngx_http_foundry_sha256_update(&c, stage, used)) {
        goto done;
    }

    if (ngx_http_foundry_sha256_final(&c, digest)) {
        rc = NGX_OK;
    }

done:

    ngx_explicit_memzero(stage, high);
    ngx_explicit_memzero(&c, sizeof(c));

    return rc;
}


#if (NGX_HTTP_FOUNDRY_SHA256_EVP)

static ngx_int_t
ngx_http_foundry_sha256_init(ngx_http_foundry_sha256_ctx_t *c)
{
    ngx_pool_cleanup_t  *cln;

    if (ngx_http_foundry_sha256_evp == NULL) {
        cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        ngx_http_foundry_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        ngx_http_foundry_sha256_evp = EVP_MD_CTX_new();

        cln->handler = ngx_http_foundry_sha256_cleanup;

        if (ngx_http_foundry_sha256_md == NULL
            || ngx_http_foundry_sha256_evp == NULL)
        {
            ngx_http_foundry_sha256_cleanup(NULL);
            cln->handler = NULL;
            return NGX_ERROR;
        }
    }

    *c = ngx_http_foundry_sha256_evp;

    if (EVP_DigestInit_ex(*c, ngx_http_foundry_sha256_md, NULL) != 1) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* freed with the cycle, before the module is unloaded */

static void
ngx_http_foundry_sha256_cleanup(void *data)
{
    EVP_MD_free(ngx_http_foundry_sha256_md);
    EVP_MD_CTX_free(ngx_http_foundry_sha256_evp);

    ngx_http_foundry_sha256_md = NULL;
    ngx_http_foundry_sha256_evp = NULL;
}

#endif


/* the first "s" of "n" bytes in [p, last), case-sensitive; NULL if none */

u_char *
ngx_http_foundry_memmem(u_char *p, u_char *last, u_char *s, size_t n)
{
    if (p >= last) {
        return NULL;
    }

    return memmem(p, last - p, s, n);
}


/*
 * Whether two secrets of "len" bytes are equal, in a time that depends on
 * "len" only: as CRYPTO_memcmp(), 16 bytes at a time (a vector of two
 * words: SSE2 on x86-64, NEON on arm64), then a word, then a byte
 */

typedef uint64_t  ngx_http_foundry_words_t __attribute__((vector_size(16)));


static ngx_inline ngx_http_foundry_words_t
ngx_http_foundry_words_xor(u_char *a, u_char *b)
{
    ngx_http_foundry_words_t  x, y;

    ngx_memcpy(&x, a, sizeof(x));
    ngx_memcpy(&y, b, sizeof(y));

    return x ^ y;
}


ngx_uint_t
ngx_http_foundry_secret_eq(u_char *a, u_char *b, size_t len)
{
    size_t                    i;
    uint64_t                  x, y, diff;
    ngx_http_foundry_words_t  vdiff;

    vdiff = (ngx_http_foundry_words_t) { 0, 0 };

    /* 64 bytes a turn (a bearer token is a kilobyte), then 16, 8, 1 */

    for (i = 0; i + 64 <= len; i += 64) {
        vdiff |= ngx_http_foundry_words_xor(a + i, b + i)
                 | ngx_http_foundry_words_xor(a + i + 16, b + i + 16)
                 | ngx_http_foundry_words_xor(a + i + 32, b + i + 32)
                 | ngx_http_foundry_words_xor(a + i + 48, b + i + 48);
    }

    for ( /* void */ ; i + 16 <= len; i += 16) {
        vdiff |= ngx_http_foundry_words_xor(a + i, b + i);
    }

    diff = vdiff[0] | vdiff[1];

    for ( /* void */ ; i + 8 <= len; i += 8) {
        ngx_memcpy(&x, a + i, 8);
        ngx_memcpy(&y, b + i, 8);
        diff |= x ^ y;
    }

    for ( /* void */ ; i < len; i++) {
        diff |= (uint64_t) (a[i] ^ b[i]);
    }

    return diff == 0;
}


time_t
ngx_http_foundry_timegm(ngx_tm_t *tm)
{
    ngx_int_t  y, m, days;

    /* days since the epoch, from the civil date (proleptic Gregorian) */

    y = tm->ngx_tm_year;
    m = tm->ngx_tm_mon;

    if (m <= 2) {
        y--;
        m += 12;
    }

    days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5
           + tm->ngx_tm_mday - 719469;

    return (time_t) days * 86400 + tm->ngx_tm_hour * 3600
           + tm->ngx_tm_min * 60 + tm->ngx_tm_sec;
}


static ngx_int_t
ngx_http_foundry_hex(u_char *p, u_char *last)
{
    u_char      c;
    ngx_int_t   n;
    ngx_uint_t  i;

    if (last - p < 2) {
        return -1;
    }

    n = 0;

    for (i = 0; i < 2; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            n = n * 16 + (c - '0');
            continue;
        }

        c |= 0x20;

        if (c >= 'a' && c <= 'f') {
            n = n * 16 + (c - 'a' + 10);
            continue;
        }

        return -1;
    }

    return n;
}


/* whether the name p..last, percent-decoded, is "name", in any case */

ngx_uint_t
ngx_http_foundry_arg_is(u_char *p, u_char *last, ngx_str_t *name)
{
    u_char      c;
    size_t      len;
    ngx_int_t   n;
    ngx_uint_t  i;

    len = last - p;

    /* decoding never makes a name longer */

    if (len < name->len) {
        return 0;
    }

    /* the usual case: the very bytes of the name, with no escape */

    if (len == name->len && ngx_memcmp(p, name->data, len) == 0
        && memchr(p, '%', len) == NULL)
    {
        return 1;
    }

    for (i = 0; p < last; i++) {
        c = *p++;

        if (c == '%') {
            n = ngx_http_foundry_hex(p, last);

            if (n >= 0) {
                c = (u_char) n;
                p += 2;
            }
        }

        if (i == name->len || ngx_tolower(c) != ngx_tolower(name->data[i])) {
            return 0;
        }
    }

    return i == name->len;
}


/*
 * The end of a query's argument at p ("&" or last), and in *eq its "=" or
 * NULL
 */

u_char *
ngx_http_foundry_arg_next(u_char *p, u_char *last, u_char **eq)
{
    u_char  *next;

    /* libc's memchr() rather than ngx_strlchr()'s byte loop */

    next = memchr(p, '&', last - p);
    if (next == NULL) {
        next = last;
    }

    *eq = memchr(p, '=', next - p);

    return next;
}


/*
 * The value of the argument "name" (the first one), or NGX_DECLINED; with
 * *conflict set when the name comes again with another value.
 */

ngx_int_t
ngx_http_foundry_arg(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value, ngx_uint_t *conflict)
{
    u_char     *p, *last, *next, *eq;
    ngx_int_t   rc;
    ngx_str_t   v;

    rc = NGX_DECLINED;
    *conflict = 0;

    p = r->args.data;
    last = r->args.data + r->args.len;

    for ( /* void */ ; p < last; p = next + 1) {
        next = ngx_http_foundry_arg_next(p, last, &eq);

        if (eq == NULL || !ngx_http_foundry_arg_is(p, eq, name)) {
            continue;
        }

        v.data = eq + 1;
        v.len = next - v.data;

        if (rc == NGX_DECLINED) {
            *value = v;
            rc = NGX_OK;
            continue;
        }

        if (v.len != value->len
            || ngx_strncmp(v.data, value->data, v.len) != 0)
        {
            *conflict = 1;
        }
    }

    return rc;
}


/*
 * A shared zone's own context, the "data" of its slab pool: after a reload
 * ("data" is the previous cycle's zone) or in a zone that exists already,
 * the one made before (NGX_OK); else a new one of "size" bytes, zeroed,
 * for the caller to set up (NGX_DONE), with the slab pool's log context
 * naming the zone's directive when "directive" is not NULL; NGX_ERROR.  A
 * full zone is not logged: its callers handle it.
 */

ngx_int_t
ngx_http_foundry_shm_init(ngx_shm_zone_t *shm_zone, void *data, size_t size,
    const char *directive, void **sh, ngx_slab_pool_t **shpool)
{
    size_t            len;
    ngx_slab_pool_t  *pool;

    pool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    *shpool = pool;

    if (data || shm_zone->shm.exists) {
        *sh = pool->data;
        return NGX_OK;
    }

    *sh = ngx_slab_calloc(pool, size);
    if (*sh == NULL) {
        return NGX_ERROR;
    }

    pool->data = *sh;

    if (directive) {
        len = sizeof(" in  \"\"") + ngx_strlen(directive)
              + shm_zone->shm.name.len;

        pool->log_ctx = ngx_slab_alloc(pool, len);
        if (pool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(pool->log_ctx, " in %s \"%V\"%Z", directive,
                    &shm_zone->shm.name);
    }

    pool->log_nomem = 0;

    return NGX_DONE;
}


/* the time in milliseconds, from nginx's cached time */

uint64_t
ngx_http_foundry_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/* the request's context, made when first asked for; NULL without memory */

ngx_http_foundry_ctx_t *
ngx_http_foundry_ctx(ngx_http_request_t *r)
{
    ngx_http_foundry_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_foundry_module);
    }

    return ctx;
}


/*
 * Whether s, in any case, is lc, which is in lower case: what
 * ngx_strncasecmp() says of them, without lowering lc's bytes again.
 */

ngx_uint_t
ngx_http_foundry_lc_equal(u_char *s, u_char *lc, size_t n)
{
    for ( /* void */ ; n; n--, s++, lc++) {
        if (*s != *lc && ngx_tolower(*s) != *lc) {
            return 0;
        }
    }

    return 1;
}


/*
 * A request header by name (the first), or NULL.  nginx keeps each
 * header's name in lower case too (lowcase_key; a header a subrequest's
 * list was given by hand may have none): a name in lower case, as most
 * are, is its very bytes.
 */

ngx_table_elt_t *
ngx_http_foundry_find_header(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != name->len) {
            continue;
        }

        if (h[i].lowcase_key
            ? (ngx_memcmp(h[i].lowcase_key, name->data, name->len) == 0
               || ngx_http_foundry_lc_equal(name->data, h[i].lowcase_key,
                                            name->len))
            : ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }
}
