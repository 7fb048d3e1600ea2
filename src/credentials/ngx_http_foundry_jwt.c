
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_jwt.h"


#if (OPENSSL_VERSION_NUMBER < 0x30000000L)
#error ngx_http_foundry_jwt.c requires OpenSSL 3.0 or newer
#endif


/*
 * Compact JWS (RFC 7515) with a JWT claims set (RFC 7519): a token's
 * parts, its JOSE header and its registered claims.  The signature is
 * checked in ngx_http_foundry_jwt_sign.c, the keys read in
 * ngx_http_foundry_jwks.c and ngx_http_foundry_jwk.c.  Everything here is
 * a pure function of its arguments: the caller reads files, fetches key
 * sets, checks times and audiences, and logs.  Error strings are static
 * and safe to show to a client; nothing from a token is ever logged here.
 */


/* the largest integer a double holds exactly, 2^53 - 1 */
#define NGX_HTTP_FOUNDRY_JWT_MAX_TIME       9007199254740991LL


/* the JSON of a token part: its top-level members */

typedef struct {
    ngx_pool_t                     *pool;
    yajl_handle                     handle;
    u_char                         *text;
    ngx_array_t                    *members;
    ngx_http_foundry_jwt_claim_t   *member;
    size_t                          value_start;
    size_t                          item_start;
    ngx_uint_t                      depth;
    ngx_int_t                       rc;
} ngx_http_foundry_jwt_json_t;


static ngx_int_t ngx_http_foundry_jwt_json(ngx_pool_t *pool, ngx_str_t *text,
    ngx_array_t **members);
static int ngx_http_foundry_jwt_json_null(void *ctx);
static int ngx_http_foundry_jwt_json_boolean(void *ctx, int value);
static int ngx_http_foundry_jwt_json_number(void *ctx, const char *s,
    size_t len);
static int ngx_http_foundry_jwt_json_string(void *ctx,
    const unsigned char *s, size_t len);
static int ngx_http_foundry_jwt_json_start_map(void *ctx);
static int ngx_http_foundry_jwt_json_map_key(void *ctx,
    const unsigned char *s, size_t len);
static int ngx_http_foundry_jwt_json_start_array(void *ctx);
static int ngx_http_foundry_jwt_json_end(void *ctx);
static int ngx_http_foundry_jwt_json_scalar(ngx_http_foundry_jwt_json_t *j,
    ngx_uint_t type, const u_char *s, size_t len);
static int ngx_http_foundry_jwt_json_start(ngx_http_foundry_jwt_json_t *j,
    ngx_uint_t type);
static ngx_int_t ngx_http_foundry_jwt_header_members(
    ngx_http_foundry_jwt_t *jwt, const char **err);
static ngx_int_t ngx_http_foundry_jwt_registered(ngx_pool_t *pool,
    ngx_http_foundry_jwt_t *jwt);
static ngx_int_t ngx_http_foundry_jwt_text(ngx_str_t *s);
static ngx_int_t ngx_http_foundry_jwt_time(ngx_str_t *v, int64_t *t);
static ngx_http_foundry_jwt_claim_t *ngx_http_foundry_jwt_member(
    ngx_array_t *members, ngx_str_t *name);


ngx_http_foundry_jwt_alg_t  ngx_http_foundry_jwt_algs[] = {

    { ngx_null_string, 0, 0, 0, 0 },

    { ngx_string("RS256"), NGX_HTTP_FOUNDRY_JWK_RSA, 32, 0, 0 },
    { ngx_string("RS384"), NGX_HTTP_FOUNDRY_JWK_RSA, 48, 0, 0 },
    { ngx_string("RS512"), NGX_HTTP_FOUNDRY_JWK_RSA, 64, 0, 0 },
    { ngx_string("PS256"), NGX_HTTP_FOUNDRY_JWK_RSA, 32, 0, 1 },
    { ngx_string("PS384"), NGX_HTTP_FOUNDRY_JWK_RSA, 48, 0, 1 },
    { ngx_string("PS512"), NGX_HTTP_FOUNDRY_JWK_RSA, 64, 0, 1 },
    { ngx_string("ES256"), NGX_HTTP_FOUNDRY_JWK_EC, 32, 256, 0 },
    { ngx_string("ES384"), NGX_HTTP_FOUNDRY_JWK_EC, 48, 384, 0 },
    { ngx_string("ES512"), NGX_HTTP_FOUNDRY_JWK_EC, 64, 521, 0 },
    { ngx_string("EdDSA"), NGX_HTTP_FOUNDRY_JWK_OKP, 0, 0, 0 },
    { ngx_string("HS256"), NGX_HTTP_FOUNDRY_JWK_OCT, 32, 0, 0 },
    { ngx_string("HS384"), NGX_HTTP_FOUNDRY_JWK_OCT, 48, 0, 0 },
    { ngx_string("HS512"), NGX_HTTP_FOUNDRY_JWK_OCT, 64, 0, 0 }
};


static yajl_callbacks  ngx_http_foundry_jwt_json_callbacks = {
    ngx_http_foundry_jwt_json_null,
    ngx_http_foundry_jwt_json_boolean,
    NULL,
    NULL,
    ngx_http_foundry_jwt_json_number,
    ngx_http_foundry_jwt_json_string,
    ngx_http_foundry_jwt_json_start_map,
    ngx_http_foundry_jwt_json_map_key,
    ngx_http_foundry_jwt_json_end,
    ngx_http_foundry_jwt_json_start_array,
    ngx_http_foundry_jwt_json_end
};


/* the algorithm named exactly "name" (names are case sensitive), or 0 */

ngx_uint_t
ngx_http_foundry_jwt_alg(u_char *name, size_t len)
{
    ngx_uint_t  i;

    for (i = 1; i < NGX_HTTP_FOUNDRY_JWT_NALGS; i++) {
        if (ngx_http_foundry_jwt_algs[i].name.len == len
            && ngx_strncmp(ngx_http_foundry_jwt_algs[i].name.data, name, len)
               == 0)
        {
            return i;
        }
    }

    return 0;
}


const char *
ngx_http_foundry_jwt_alg_name(ngx_uint_t alg)
{
    if (alg == 0 || alg >= NGX_HTTP_FOUNDRY_JWT_NALGS) {
        return "none";
    }

    return (const char *) ngx_http_foundry_jwt_algs[alg].name.data;
}


/*
 * Strict base64url (RFC 7515 2): the URL-safe alphabet only, no padding,
 * no whitespace, and the unused bits of the last character must be zero,
 * so that every byte string has exactly one encoding.  NGX_DECLINED on
 * bad input, NGX_ERROR if out of memory.
 */

ngx_int_t
ngx_http_foundry_jwt_b64(ngx_pool_t *pool, u_char *src, size_t len,
    ngx_str_t *dst)
{
    u_char    *d, *last;
    uint32_t   a, b, c, e;

    /* the value of each base64url character, 77 for any other byte */

    static const u_char  basis[] = {
        77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
        77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
        77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 62, 77, 77,
        52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 77, 77, 77, 77, 77, 77,
        77,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
        15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 77, 77, 77, 77, 63,
        77, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 77, 77, 77, 77, 77,
        77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
        77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
        77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
        77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
        77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
        77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
        77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
        77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77
    };

    if (len % 4 == 1) {
        return NGX_DECLINED;
    }

    d = ngx_pnalloc(pool, len / 4 * 3 + 3);
    if (d == NULL) {
        return NGX_ERROR;
    }

    dst->data = d;
    dst->len = 0;

    if (len == 0) {
        return NGX_OK;
    }

    last = src + (len & ~((size_t) 3));

    while (src < last) {
        a = basis[src[0]];
        b = basis[src[1]];
        c = basis[src[2]];
        e = basis[src[3]];

        if ((a | b | c | e) & 0x40) {
            return NGX_DECLINED;
        }

        a = (a << 18) | (b << 12) | (c << 6) | e;

        *d++ = (u_char) (a >> 16);
        *d++ = (u_char) (a >> 8);
        *d++ = (u_char) a;

        src += 4;
    }

    switch (len & 3) {

    case 2:
        a = basis[src[0]];
        b = basis[src[1]];

        if (((a | b) & 0x40) || (b & 0x0f)) {
            return NGX_DECLINED;
        }

        *d++ = (u_char) ((a << 2) | (b >> 4));
        break;

    case 3:
        a = basis[src[0]];
        b = basis[src[1]];
        c = basis[src[2]];

        if (((a | b | c) & 0x40) || (c & 0x03)) {
            return NGX_DECLINED;
        }

        *d++ = (u_char) ((a << 2) | (b >> 4));
        *d++ = (u_char) ((b << 4) | (c >> 2));
        break;

    default: /* 0 */
        break;
    }

    dst->len = d - dst->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_foundry_jwt_copy(ngx_pool_t *pool, const u_char *s, size_t len,
    ngx_str_t *dst)
{
    dst->data = ngx_pnalloc(pool, len ? len : 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, s, len);
    dst->len = len;

    return NGX_OK;
}


/*
 * Parses the JSON object of a token's header or payload into its list of
 * top-level members.  NGX_DECLINED: not a JSON object, a duplicate
 * member, too many members or too deep; NGX_ERROR: out of memory.
 */

static ngx_int_t
ngx_http_foundry_jwt_json(ngx_pool_t *pool, ngx_str_t *text,
    ngx_array_t **members)
{
    yajl_status                  st;
    yajl_alloc_funcs             funcs;
    ngx_http_foundry_jwt_json_t  j;

    ngx_memzero(&j, sizeof(ngx_http_foundry_jwt_json_t));

    j.pool = pool;
    j.text = text->data;
    j.rc = NGX_OK;

    j.members = ngx_array_create(pool, 8,
                                 sizeof(ngx_http_foundry_jwt_claim_t));
    if (j.members == NULL) {
        return NGX_ERROR;
    }

    ngx_http_foundry_json_alloc_funcs(pool, &funcs);

    j.handle = yajl_alloc(&ngx_http_foundry_jwt_json_callbacks, &funcs, &j);
    if (j.handle == NULL) {
        return NGX_ERROR;
    }

    st = yajl_parse(j.handle, text->data, text->len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(j.handle);
    }

    yajl_free(j.handle);

    if (st != yajl_status_ok) {
        return (j.rc == NGX_ERROR) ? NGX_ERROR : NGX_DECLINED;
    }

    *members = j.members;

    return NGX_OK;
}


static int
ngx_http_foundry_jwt_json_null(void *ctx)
{
    return ngx_http_foundry_jwt_json_scalar(ctx, NGX_HTTP_FOUNDRY_CLAIM_NULL,
                                            (u_char *) "null", 4);
}


static int
ngx_http_foundry_jwt_json_boolean(void *ctx, int value)
{
    if (value) {
        return ngx_http_foundry_jwt_json_scalar(ctx,
                                                NGX_HTTP_FOUNDRY_CLAIM_BOOL,
                                                (u_char *) "true", 4);
    }

    return ngx_http_foundry_jwt_json_scalar(ctx, NGX_HTTP_FOUNDRY_CLAIM_BOOL,
                                            (u_char *) "false", 5);
}


static int
ngx_http_foundry_jwt_json_number(void *ctx, const char *s, size_t len)
{
    return ngx_http_foundry_jwt_json_scalar(ctx,
                                            NGX_HTTP_FOUNDRY_CLAIM_NUMBER,
                                            (const u_char *) s, len);
}


static int
ngx_http_foundry_jwt_json_string(void *ctx, const unsigned char *s,
    size_t len)
{
    return ngx_http_foundry_jwt_json_scalar(ctx,
                                            NGX_HTTP_FOUNDRY_CLAIM_STRING,
                                            s, len);
}


static int
ngx_http_foundry_jwt_json_start_map(void *ctx)
{
    return ngx_http_foundry_jwt_json_start(ctx,
                                           NGX_HTTP_FOUNDRY_CLAIM_OBJECT);
}


static int
ngx_http_foundry_jwt_json_start_array(void *ctx)
{
    return ngx_http_foundry_jwt_json_start(ctx, NGX_HTTP_FOUNDRY_CLAIM_ARRAY);
}


static int
ngx_http_foundry_jwt_json_scalar(ngx_http_foundry_jwt_json_t *j,
    ngx_uint_t type, const u_char *s, size_t len)
{
    ngx_str_t                     *item;
    ngx_http_foundry_jwt_claim_t  *m;

    if (j->depth == 0) {
        j->rc = NGX_DECLINED;
        return 0;
    }

    m = j->member;

    if (j->depth == 1) {
        m->type = type;

        if (ngx_http_foundry_jwt_copy(j->pool, s, len, &m->value) != NGX_OK)
        {
            j->rc = NGX_ERROR;
            return 0;
        }

        return 1;
    }

    if (j->depth == 2 && m->type == NGX_HTTP_FOUNDRY_CLAIM_ARRAY) {

        if (type != NGX_HTTP_FOUNDRY_CLAIM_STRING) {
            m->strings = 0;
        }

        item = ngx_array_push(m->items);
        if (item == NULL) {
            j->rc = NGX_ERROR;
            return 0;
        }

        if (ngx_http_foundry_jwt_copy(j->pool, s, len, item) != NGX_OK) {
            j->rc = NGX_ERROR;
            return 0;
        }
    }

    return 1;
}


static int
ngx_http_foundry_jwt_json_start(ngx_http_foundry_jwt_json_t *j,
    ngx_uint_t type)
{
    size_t                         offset;
    ngx_http_foundry_jwt_claim_t  *m;

    if (j->depth == 0) {
        if (type != NGX_HTTP_FOUNDRY_CLAIM_OBJECT) {
            j->rc = NGX_DECLINED;
            return 0;
        }

        j->depth = 1;
        return 1;
    }

    if (j->depth >= NGX_HTTP_FOUNDRY_JWT_MAX_DEPTH) {
        j->rc = NGX_DECLINED;
        return 0;
    }

    /* just after the '{' or '[' */
    offset = yajl_get_bytes_consumed(j->handle) - 1;

    m = j->member;

    if (j->depth == 1) {
        m->type = type;
        j->value_start = offset;

        if (type == NGX_HTTP_FOUNDRY_CLAIM_ARRAY) {
            m->items = ngx_array_create(j->pool, 4, sizeof(ngx_str_t));
            if (m->items == NULL) {
                j->rc = NGX_ERROR;
                return 0;
            }

            m->strings = 1;
        }

    } else if (j->depth == 2 && m->type == NGX_HTTP_FOUNDRY_CLAIM_ARRAY) {
        j->item_start = offset;
        m->strings = 0;
    }

    j->depth++;

    return 1;
}


static int
ngx_http_foundry_jwt_json_end(void *ctx)
{
    ngx_http_foundry_jwt_json_t *j = ctx;

    size_t                         end;
    ngx_str_t                     *item;
    ngx_http_foundry_jwt_claim_t  *m;

    end = yajl_get_bytes_consumed(j->handle);

    j->depth--;

    m = j->member;

    if (j->depth == 1) {
        m->value.data = j->text + j->value_start;
        m->value.len = end - j->value_start;

    } else if (j->depth == 2 && m->type == NGX_HTTP_FOUNDRY_CLAIM_ARRAY) {
        item = ngx_array_push(m->items);
        if (item == NULL) {
            j->rc = NGX_ERROR;
            return 0;
        }

        item->data = j->text + j->item_start;
        item->len = end - j->item_start;
    }

    return 1;
}


static int
ngx_http_foundry_jwt_json_map_key(void *ctx, const unsigned char *s,
    size_t len)
{
    ngx_http_foundry_jwt_json_t *j = ctx;

    ngx_str_t                      name;
    ngx_uint_t                     i;
    ngx_http_foundry_jwt_claim_t  *m;

    if (j->depth != 1) {
        return 1;
    }

    if (j->members->nelts >= NGX_HTTP_FOUNDRY_JWT_MAX_CLAIMS
        || ngx_strlchr((u_char *) s, (u_char *) s + len, '\0') != NULL)
    {
        j->rc = NGX_DECLINED;
        return 0;
    }

    m = j->members->elts;

    for (i = 0; i < j->members->nelts; i++) {
        if (m[i].name.len == len && ngx_memcmp(m[i].name.data, s, len) == 0)
        {
            /* a duplicate member: RFC 7515 4 and 7519 4 allow rejecting */
            j->rc = NGX_DECLINED;
            return 0;
        }
    }

    if (ngx_http_foundry_jwt_copy(j->pool, s, len, &name) != NGX_OK) {
        j->rc = NGX_ERROR;
        return 0;
    }

    m = ngx_array_push(j->members);
    if (m == NULL) {
        j->rc = NGX_ERROR;
        return 0;
    }

    ngx_memzero(m, sizeof(ngx_http_foundry_jwt_claim_t));

    m->name = name;
    j->member = m;

    return 1;
}


/*
 * Parses a compact JWS.  "token" must outlive "jwt": signing_input points
 * into it.  The signature is not checked here, nor are the times.
 * NGX_DECLINED with *err for a bad token, NGX_ERROR if out of memory.
 */

ngx_int_t
ngx_http_foundry_jwt_parse(ngx_pool_t *pool, ngx_str_t *token,
    size_t max_size, ngx_http_foundry_jwt_t *jwt, const char **err)
{
    u_char     *p, *last, *dot1, *dot2;
    ngx_int_t   rc;
    ngx_str_t   text;

    ngx_memzero(jwt, sizeof(ngx_http_foundry_jwt_t));

    if (max_size == 0) {
        max_size = NGX_HTTP_FOUNDRY_JWT_MAX_SIZE;
    }

    if (token->len > max_size) {
        *err = "token too large";
        return NGX_DECLINED;
    }

    *err = "malformed token";

    p = token->data;
    last = p + token->len;

    /* exactly three non-empty parts: no JWE, no unsigned or detached */

    dot1 = ngx_strlchr(p, last, '.');
    if (dot1 == NULL) {
        return NGX_DECLINED;
    }

    dot2 = ngx_strlchr(dot1 + 1, last, '.');
    if (dot2 == NULL) {
        return NGX_DECLINED;
    }

    if (dot1 == p
        || dot2 == dot1 + 1
        || dot2 + 1 == last
        || ngx_strlchr(dot2 + 1, last, '.') != NULL)
    {
        return NGX_DECLINED;
    }

    jwt->signing_input.data = p;
    jwt->signing_input.len = dot2 - p;

    /* the header first: a bad algorithm is refused before anything else */

    rc = ngx_http_foundry_jwt_b64(pool, p, dot1 - p, &text);
    if (rc != NGX_OK) {
        goto failed;
    }

    rc = ngx_http_foundry_jwt_json(pool, &text, &jwt->header);
    if (rc != NGX_OK) {
        goto failed;
    }

    rc = ngx_http_foundry_jwt_header_members(jwt, err);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_foundry_jwt_b64(pool, dot1 + 1, dot2 - dot1 - 1,
                                  &jwt->payload);
    if (rc != NGX_OK) {
        goto failed;
    }

    rc = ngx_http_foundry_jwt_json(pool, &jwt->payload, &jwt->claims);
    if (rc != NGX_OK) {
        goto failed;
    }

    rc = ngx_http_foundry_jwt_registered(pool, jwt);
    if (rc != NGX_OK) {
        goto failed;
    }

    rc = ngx_http_foundry_jwt_b64(pool, dot2 + 1, last - dot2 - 1,
                                  &jwt->signature);
    if (rc != NGX_OK) {
        goto failed;
    }

    *err = NULL;

    return NGX_OK;

failed:

    if (rc == NGX_ERROR) {
        *err = "internal error";
    }

    return rc;
}


/*
 * A JSON object of claims that came without a token (an introspection
 * answer, RFC 7662): its members and registered claims into "jwt", as
 * jwt_parse does for a token's payload; "text" must outlive "jwt".
 * NGX_DECLINED: not one JSON object, a duplicate member, too many or too
 * deep, or a registered claim of a wrong type; NGX_ERROR: out of memory.
 */

ngx_int_t
ngx_http_foundry_jwt_claims_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_http_foundry_jwt_t *jwt)
{
    ngx_int_t  rc;

    ngx_memzero(jwt, sizeof(ngx_http_foundry_jwt_t));

    jwt->payload = *text;

    rc = ngx_http_foundry_jwt_json(pool, text, &jwt->claims);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_foundry_jwt_registered(pool, jwt);
}


/* the JOSE header: "alg" is required, "crit" and "b64": false refused */

static ngx_int_t
ngx_http_foundry_jwt_header_members(ngx_http_foundry_jwt_t *jwt,
    const char **err)
{
    ngx_uint_t                     i;
    ngx_http_foundry_jwt_claim_t  *h;

    h = jwt->header->elts;

    for (i = 0; i < jwt->header->nelts; i++) {

        if (ngx_http_foundry_jwt_is(&h[i].name, "alg")) {

            if (h[i].type != NGX_HTTP_FOUNDRY_CLAIM_STRING) {
                return NGX_DECLINED;
            }

            /* "none" in any case, and anything else unknown */

            jwt->alg = ngx_http_foundry_jwt_alg(h[i].value.data,
                                                h[i].value.len);
            if (jwt->alg == 0) {
                *err = "unsupported algorithm";
                return NGX_DECLINED;
            }

        } else if (ngx_http_foundry_jwt_is(&h[i].name, "kid")) {

            if (h[i].type != NGX_HTTP_FOUNDRY_CLAIM_STRING
                || ngx_http_foundry_jwt_text(&h[i].value) != NGX_OK)
            {
                return NGX_DECLINED;
            }

            jwt->kid = h[i].value;

        } else if (ngx_http_foundry_jwt_is(&h[i].name, "typ")) {

            if (h[i].type != NGX_HTTP_FOUNDRY_CLAIM_STRING
                || ngx_http_foundry_jwt_text(&h[i].value) != NGX_OK)
            {
                return NGX_DECLINED;
            }

            jwt->typ = h[i].value;

        } else if (ngx_http_foundry_jwt_is(&h[i].name, "crit")) {

            /* no extension is understood, so none may be critical */
            *err = "unsupported header parameter";
            return NGX_DECLINED;

        } else if (ngx_http_foundry_jwt_is(&h[i].name, "b64")) {

            if (h[i].type != NGX_HTTP_FOUNDRY_CLAIM_BOOL) {
                return NGX_DECLINED;
            }

            if (h[i].value.len != 4) {
                /* RFC 7797 unencoded payload */
                *err = "unsupported header parameter";
                return NGX_DECLINED;
            }
        }
    }

    if (jwt->alg == 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* registered claims: their types are checked, times converted */

static ngx_int_t
ngx_http_foundry_jwt_registered(ngx_pool_t *pool, ngx_http_foundry_jwt_t *jwt)
{
    ngx_str_t                     *aud;
    ngx_uint_t                     i, j;
    ngx_http_foundry_jwt_claim_t  *c;

    c = jwt->claims->elts;

    for (i = 0; i < jwt->claims->nelts; i++) {

        if (c[i].name.len != 3) {
            continue;
        }

        if (ngx_http_foundry_jwt_is(&c[i].name, "iss")
            || ngx_http_foundry_jwt_is(&c[i].name, "sub"))
        {
            if (c[i].type != NGX_HTTP_FOUNDRY_CLAIM_STRING
                || ngx_http_foundry_jwt_text(&c[i].value) != NGX_OK)
            {
                return NGX_DECLINED;
            }

            if (c[i].name.data[0] == 'i') {
                jwt->iss = c[i].value;

            } else {
                jwt->sub = c[i].value;
            }

        } else if (ngx_http_foundry_jwt_is(&c[i].name, "aud")) {

            if (c[i].type == NGX_HTTP_FOUNDRY_CLAIM_STRING) {
                jwt->aud = ngx_array_create(pool, 1, sizeof(ngx_str_t));
                if (jwt->aud == NULL) {
                    return NGX_ERROR;
                }

                aud = ngx_array_push(jwt->aud);
                if (aud == NULL) {
                    return NGX_ERROR;
                }

                *aud = c[i].value;

            } else if (c[i].type == NGX_HTTP_FOUNDRY_CLAIM_ARRAY
                       && c[i].strings)
            {
                jwt->aud = c[i].items;

            } else {
                return NGX_DECLINED;
            }

            aud = jwt->aud->elts;

            for (j = 0; j < jwt->aud->nelts; j++) {
                if (ngx_http_foundry_jwt_text(&aud[j]) != NGX_OK) {
                    return NGX_DECLINED;
                }
            }

        } else if (ngx_http_foundry_jwt_is(&c[i].name, "exp")) {

            if (c[i].type != NGX_HTTP_FOUNDRY_CLAIM_NUMBER
                || ngx_http_foundry_jwt_time(&c[i].value, &jwt->exp)
                   != NGX_OK)
            {
                return NGX_DECLINED;
            }

            jwt->has_exp = 1;

        } else if (ngx_http_foundry_jwt_is(&c[i].name, "nbf")) {

            if (c[i].type != NGX_HTTP_FOUNDRY_CLAIM_NUMBER
                || ngx_http_foundry_jwt_time(&c[i].value, &jwt->nbf)
                   != NGX_OK)
            {
                return NGX_DECLINED;
            }

            jwt->has_nbf = 1;

        } else if (ngx_http_foundry_jwt_is(&c[i].name, "iat")) {

            if (c[i].type != NGX_HTTP_FOUNDRY_CLAIM_NUMBER
                || ngx_http_foundry_jwt_time(&c[i].value, &jwt->iat)
                   != NGX_OK)
            {
                return NGX_DECLINED;
            }

            jwt->has_iat = 1;
        }
    }

    return NGX_OK;
}


/* strings compared or shown by the caller must not hide a NUL */

static ngx_int_t
ngx_http_foundry_jwt_text(ngx_str_t *s)
{
    if (ngx_strlchr(s->data, s->data + s->len, '\0') != NULL) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A NumericDate (RFC 7519 2): seconds, possibly fractional, rounded down;
 * values beyond 2^53 are refused.
 */

static ngx_int_t
ngx_http_foundry_jwt_time(ngx_str_t *v, int64_t *t)
{
    char        buf[64], *end;
    double      d;
    u_char     *p, *last;
    int64_t     n;
    ngx_uint_t  neg, frac;

    p = v->data;
    last = p + v->len;

    neg = 0;

    if (p < last && *p == '-') {
        neg = 1;
        p++;
    }

    n = 0;

    while (p < last && *p >= '0' && *p <= '9') {
        if (n > (NGX_HTTP_FOUNDRY_JWT_MAX_TIME - 9) / 10) {
            return NGX_DECLINED;
        }

        n = n * 10 + (*p++ - '0');
    }

    frac = 0;

    if (p < last && *p == '.') {
        for (p++; p < last && *p >= '0' && *p <= '9'; p++) {
            if (*p != '0') {
                frac = 1;
            }
        }
    }

    if (p == last) {
        *t = neg ? -n - (int64_t) frac : n;
        return NGX_OK;
    }

    /* an exponent: rare enough for strtod() */

    if (v->len >= sizeof(buf)) {
        return NGX_DECLINED;
    }

    ngx_memcpy(buf, v->data, v->len);
    buf[v->len] = '\0';

    d = strtod(buf, &end);

    if (end != buf + v->len
        || !(d >= (double) -NGX_HTTP_FOUNDRY_JWT_MAX_TIME
             && d <= (double) NGX_HTTP_FOUNDRY_JWT_MAX_TIME))
    {
        return NGX_DECLINED;
    }

    n = (int64_t) d;

    if ((double) n > d) {
        n--;
    }

    *t = n;

    return NGX_OK;
}


static ngx_http_foundry_jwt_claim_t *
ngx_http_foundry_jwt_member(ngx_array_t *members, ngx_str_t *name)
{
    ngx_uint_t                     i;
    ngx_http_foundry_jwt_claim_t  *m;

    if (members == NULL) {
        return NULL;
    }

    m = members->elts;

    for (i = 0; i < members->nelts; i++) {
        if (m[i].name.len == name->len
            && ngx_memcmp(m[i].name.data, name->data, name->len) == 0)
        {
            return &m[i];
        }
    }

    return NULL;
}


ngx_http_foundry_jwt_claim_t *
ngx_http_foundry_jwt_claim(ngx_http_foundry_jwt_t *jwt, ngx_str_t *name)
{
    return ngx_http_foundry_jwt_member(jwt->claims, name);
}


ngx_http_foundry_jwt_claim_t *
ngx_http_foundry_jwt_header(ngx_http_foundry_jwt_t *jwt, ngx_str_t *name)
{
    return ngx_http_foundry_jwt_member(jwt->header, name);
}
