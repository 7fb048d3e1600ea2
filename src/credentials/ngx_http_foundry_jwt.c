
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
 * Compact JWS (RFC 7515) with a JWT claims set (RFC 7519), and the keys
 * that verify them: JWK sets (RFC 7517, 7518, 8037), PEM public keys or
 * certificates, and HMAC secrets.  Everything here is a pure function of
 * its arguments: the caller reads files, fetches key sets, checks times
 * and audiences, and logs.  Error strings are static and safe to show to
 * a client; nothing from a token is ever logged here.
 */


/* the largest DER ECDSA signature: P-521, 2 x (2 + 67) + 3 */
#define NGX_HTTP_FOUNDRY_JWT_DER_MAX        160

/* the largest integer a double holds exactly, 2^53 - 1 */
#define NGX_HTTP_FOUNDRY_JWT_MAX_TIME       9007199254740991LL

#define NGX_HTTP_FOUNDRY_JWK_KTY            0
#define NGX_HTTP_FOUNDRY_JWK_KID            1
#define NGX_HTTP_FOUNDRY_JWK_USE            2
#define NGX_HTTP_FOUNDRY_JWK_ALG            3
#define NGX_HTTP_FOUNDRY_JWK_N              4
#define NGX_HTTP_FOUNDRY_JWK_E              5
#define NGX_HTTP_FOUNDRY_JWK_CRV            6
#define NGX_HTTP_FOUNDRY_JWK_X              7
#define NGX_HTTP_FOUNDRY_JWK_Y              8
#define NGX_HTTP_FOUNDRY_JWK_K              9
#define NGX_HTTP_FOUNDRY_JWK_OPS            10
#define NGX_HTTP_FOUNDRY_JWK_NFIELDS        11
#define NGX_HTTP_FOUNDRY_JWK_NONE           NGX_HTTP_FOUNDRY_JWK_NFIELDS

/* whether an ngx_str_t * is exactly a string literal */
#define ngx_http_foundry_jwt_is(s, lit)                                       \
    ((s)->len == sizeof(lit) - 1                                              \
     && ngx_strncmp((s)->data, lit, sizeof(lit) - 1) == 0)


typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      kty;
    size_t                          hash;     /* digest bytes; 0: EdDSA */
    ngx_uint_t                      curve;    /* EC: curve bits */
    ngx_uint_t                      pss;
} ngx_http_foundry_jwt_alg_t;


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


/* a JWK set being read */

typedef struct {
    ngx_pool_t                     *pool;
    ngx_http_foundry_jwks_t        *jwks;
    const char                     *err;
    ngx_uint_t                      skipped;
    ngx_uint_t                      depth;
    ngx_uint_t                      field;
    ngx_uint_t                      seen;
    ngx_uint_t                      verify;
    ngx_str_t                       values[NGX_HTTP_FOUNDRY_JWK_NFIELDS];
    unsigned                        top_keys:1;
    unsigned                        has_keys:1;
    unsigned                        in_keys:1;
} ngx_http_foundry_jwks_ctx_t;


static ngx_int_t ngx_http_foundry_jwt_b64(ngx_pool_t *pool, u_char *src,
    size_t len, ngx_str_t *dst);
static ngx_int_t ngx_http_foundry_jwt_copy(ngx_pool_t *pool,
    const u_char *s, size_t len, ngx_str_t *dst);
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
static const EVP_MD *ngx_http_foundry_jwt_md(size_t hash);
static ngx_int_t ngx_http_foundry_jwt_hmac(ngx_http_foundry_jwt_t *jwt,
    ngx_http_foundry_jwk_t *key, ngx_http_foundry_jwt_alg_t *a,
    const char **err);
static ngx_int_t ngx_http_foundry_jwt_pkey(ngx_http_foundry_jwt_t *jwt,
    ngx_http_foundry_jwk_t *key, ngx_http_foundry_jwt_alg_t *a,
    const char **err);
static ngx_int_t ngx_http_foundry_jwt_ecdsa_der(u_char *sig, size_t len,
    size_t n, u_char *der, size_t *der_len);
static int ngx_http_foundry_jwks_null(void *ctx);
static int ngx_http_foundry_jwks_boolean(void *ctx, int value);
static int ngx_http_foundry_jwks_number(void *ctx, const char *s,
    size_t len);
static int ngx_http_foundry_jwks_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_jwks_start_map(void *ctx);
static int ngx_http_foundry_jwks_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_jwks_start_array(void *ctx);
static int ngx_http_foundry_jwks_end(void *ctx);
static int ngx_http_foundry_jwks_scalar(ngx_http_foundry_jwks_ctx_t *j,
    ngx_uint_t type, const u_char *s, size_t len);
static int ngx_http_foundry_jwks_start(ngx_http_foundry_jwks_ctx_t *j,
    ngx_uint_t type);
static ngx_int_t ngx_http_foundry_jwks_key(ngx_http_foundry_jwks_ctx_t *j);
static ngx_int_t ngx_http_foundry_jwk_rsa(ngx_pool_t *pool, ngx_str_t *n64,
    ngx_str_t *e64, ngx_http_foundry_jwk_t *jwk, const char **err);
static ngx_int_t ngx_http_foundry_jwk_ec(ngx_pool_t *pool, ngx_str_t *crv,
    ngx_str_t *x64, ngx_str_t *y64, ngx_http_foundry_jwk_t *jwk,
    const char **err);
static ngx_int_t ngx_http_foundry_jwk_okp(ngx_pool_t *pool, ngx_str_t *crv,
    ngx_str_t *x64, ngx_http_foundry_jwk_t *jwk, const char **err);
static ngx_int_t ngx_http_foundry_jwk_oct(ngx_pool_t *pool, ngx_str_t *k64,
    ngx_http_foundry_jwk_t *jwk, const char **err);
static EVP_PKEY *ngx_http_foundry_jwk_fromdata(const char *type,
    OSSL_PARAM *params);
static ngx_int_t ngx_http_foundry_jwk_check(EVP_PKEY *pkey);
static ngx_int_t ngx_http_foundry_jwk_classify(EVP_PKEY *pkey,
    ngx_http_foundry_jwk_t *jwk, const char **err);
static ngx_pool_cleanup_t *ngx_http_foundry_jwk_own(ngx_pool_t *pool);
static ngx_int_t ngx_http_foundry_jwk_own_secret(ngx_pool_t *pool,
    ngx_str_t *secret);
static void ngx_http_foundry_jwk_release(ngx_pool_t *pool, EVP_PKEY *pkey);
static void ngx_http_foundry_jwk_cleanup(void *data);
static void ngx_http_foundry_jwk_wipe(void *data);


static ngx_http_foundry_jwt_alg_t  ngx_http_foundry_jwt_algs[] = {

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

#define NGX_HTTP_FOUNDRY_JWT_NALGS                                            \
    (sizeof(ngx_http_foundry_jwt_algs) / sizeof(ngx_http_foundry_jwt_alg_t))


static ngx_str_t  ngx_http_foundry_jwk_fields[] = {
    ngx_string("kty"),
    ngx_string("kid"),
    ngx_string("use"),
    ngx_string("alg"),
    ngx_string("n"),
    ngx_string("e"),
    ngx_string("crv"),
    ngx_string("x"),
    ngx_string("y"),
    ngx_string("k"),
    ngx_string("key_ops")
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


static yajl_callbacks  ngx_http_foundry_jwks_callbacks = {
    ngx_http_foundry_jwks_null,
    ngx_http_foundry_jwks_boolean,
    NULL,
    NULL,
    ngx_http_foundry_jwks_number,
    ngx_http_foundry_jwks_string,
    ngx_http_foundry_jwks_start_map,
    ngx_http_foundry_jwks_map_key,
    ngx_http_foundry_jwks_end,
    ngx_http_foundry_jwks_start_array,
    ngx_http_foundry_jwks_end
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

static ngx_int_t
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


static ngx_int_t
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


/*
 * Whether "key" may verify a token of algorithm "alg": the key type must
 * be the algorithm's (an RSA key is never an HMAC secret, nor a secret an
 * RSA key), a pinned key algorithm must be this one, an EC curve must be
 * the algorithm's, an RSA key at least 2048 bits, a secret at least as
 * long as the hash.
 */

ngx_int_t
ngx_http_foundry_jwk_usable(ngx_http_foundry_jwk_t *key, ngx_uint_t alg,
    const char **err)
{
    int                          bits;
    ngx_http_foundry_jwt_alg_t  *a;

    if (alg == 0 || alg >= NGX_HTTP_FOUNDRY_JWT_NALGS) {
        *err = "unsupported algorithm";
        return NGX_DECLINED;
    }

    a = &ngx_http_foundry_jwt_algs[alg];

    *err = "key and algorithm do not match";

    if ((key->alg != 0 && key->alg != alg) || key->kty != a->kty) {
        return NGX_DECLINED;
    }

    switch (a->kty) {

    case NGX_HTTP_FOUNDRY_JWK_RSA:

        if (key->pkey == NULL
            || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA)
        {
            return NGX_DECLINED;
        }

        bits = EVP_PKEY_get_bits(key->pkey);

        if (bits < NGX_HTTP_FOUNDRY_JWK_MIN_RSA_BITS) {
            *err = "key too weak";
            return NGX_DECLINED;
        }

        if (bits > NGX_HTTP_FOUNDRY_JWK_MAX_RSA_BITS) {
            *err = "unsupported key size";
            return NGX_DECLINED;
        }

        break;

    case NGX_HTTP_FOUNDRY_JWK_EC:

        if (key->pkey == NULL
            || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_EC
            || key->ec_bits != a->curve)
        {
            return NGX_DECLINED;
        }

        break;

    case NGX_HTTP_FOUNDRY_JWK_OKP:

        if (key->pkey == NULL
            || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_ED25519)
        {
            return NGX_DECLINED;
        }

        break;

    default: /* NGX_HTTP_FOUNDRY_JWK_OCT */

        if (key->pkey != NULL) {
            return NGX_DECLINED;
        }

        if (key->secret.len < a->hash) {
            *err = "key too weak";
            return NGX_DECLINED;
        }

        break;
    }

    *err = NULL;

    return NGX_OK;
}


/*
 * NGX_OK: the signature is good.  NGX_DECLINED: a bad signature, or the
 * key cannot verify this algorithm.  NGX_ERROR: an internal failure.
 */

ngx_int_t
ngx_http_foundry_jwt_verify(ngx_http_foundry_jwt_t *jwt,
    ngx_http_foundry_jwk_t *key, const char **err)
{
    ngx_http_foundry_jwt_alg_t  *a;

    if (ngx_http_foundry_jwk_usable(key, jwt->alg, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    a = &ngx_http_foundry_jwt_algs[jwt->alg];

    if (a->kty == NGX_HTTP_FOUNDRY_JWK_OCT) {
        return ngx_http_foundry_jwt_hmac(jwt, key, a, err);
    }

    return ngx_http_foundry_jwt_pkey(jwt, key, a, err);
}


static const EVP_MD *
ngx_http_foundry_jwt_md(size_t hash)
{
    switch (hash) {

    case 32:
        return EVP_sha256();

    case 48:
        return EVP_sha384();

    case 64:
        return EVP_sha512();

    default:
        return NULL;
    }
}


static ngx_int_t
ngx_http_foundry_jwt_hmac(ngx_http_foundry_jwt_t *jwt,
    ngx_http_foundry_jwk_t *key, ngx_http_foundry_jwt_alg_t *a,
    const char **err)
{
    u_char        mac[EVP_MAX_MD_SIZE];
    ngx_int_t     rc;
    unsigned int  len;

    if (jwt->signature.len != a->hash) {
        *err = "invalid signature";
        return NGX_DECLINED;
    }

    if (key->secret.len > NGX_MAX_INT32_VALUE
        || HMAC(ngx_http_foundry_jwt_md(a->hash), key->secret.data,
                (int) key->secret.len, jwt->signing_input.data,
                jwt->signing_input.len, mac, &len)
           == NULL
        || len != a->hash)
    {
        ERR_clear_error();
        *err = "internal error";
        return NGX_ERROR;
    }

    if (CRYPTO_memcmp(mac, jwt->signature.data, len) == 0) {
        *err = NULL;
        rc = NGX_OK;

    } else {
        *err = "invalid signature";
        rc = NGX_DECLINED;
    }

    ngx_explicit_memzero(mac, sizeof(mac));

    return rc;
}


static ngx_int_t
ngx_http_foundry_jwt_pkey(ngx_http_foundry_jwt_t *jwt,
    ngx_http_foundry_jwk_t *key, ngx_http_foundry_jwt_alg_t *a,
    const char **err)
{
    int            rc;
    u_char        *sig, der[NGX_HTTP_FOUNDRY_JWT_DER_MAX];
    size_t         len;
    ngx_int_t      n;
    EVP_MD_CTX    *ctx;
    const EVP_MD  *md;
    EVP_PKEY_CTX  *pctx;

    sig = jwt->signature.data;
    len = jwt->signature.len;

    *err = "invalid signature";

    switch (a->kty) {

    case NGX_HTTP_FOUNDRY_JWK_RSA:

        if (len != (size_t) EVP_PKEY_get_size(key->pkey)) {
            return NGX_DECLINED;
        }

        break;

    case NGX_HTTP_FOUNDRY_JWK_EC:

        /* JWS: R || S, each exactly the size of the curve (RFC 7518 3.4) */

        n = ngx_http_foundry_jwt_ecdsa_der(sig, len, (a->curve + 7) / 8,
                                           der, &len);
        if (n != NGX_OK) {
            if (n == NGX_ERROR) {
                *err = "internal error";
            }

            return n;
        }

        sig = der;
        break;

    default: /* NGX_HTTP_FOUNDRY_JWK_OKP */

        if (len != 64) {
            return NGX_DECLINED;
        }

        break;
    }

    md = a->hash ? ngx_http_foundry_jwt_md(a->hash) : NULL;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        goto failed;
    }

    pctx = NULL;

    if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key->pkey) != 1) {
        goto failed;
    }

    if (a->kty == NGX_HTTP_FOUNDRY_JWK_RSA) {

        if (a->pss) {
            if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0
                || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                    RSA_PSS_SALTLEN_DIGEST)
                   <= 0
                || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0)
            {
                goto failed;
            }

        } else if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
        {
            goto failed;
        }
    }

    rc = EVP_DigestVerify(ctx, sig, len, jwt->signing_input.data,
                          jwt->signing_input.len);

    EVP_MD_CTX_free(ctx);

    if (rc == 1) {
        *err = NULL;
        return NGX_OK;
    }

    ERR_clear_error();

    return NGX_DECLINED;

failed:

    EVP_MD_CTX_free(ctx);
    ERR_clear_error();

    *err = "internal error";

    return NGX_ERROR;
}


/* R || S as the DER ECDSA-Sig-Value that OpenSSL verifies */

static ngx_int_t
ngx_http_foundry_jwt_ecdsa_der(u_char *sig, size_t len, size_t n,
    u_char *der, size_t *der_len)
{
    int         size;
    u_char     *p;
    BIGNUM     *r, *s;
    ECDSA_SIG  *es;

    if (len != 2 * n) {
        return NGX_DECLINED;
    }

    es = ECDSA_SIG_new();
    if (es == NULL) {
        return NGX_ERROR;
    }

    r = BN_bin2bn(sig, (int) n, NULL);
    s = BN_bin2bn(sig + n, (int) n, NULL);

    if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        ERR_clear_error();
        return NGX_ERROR;
    }

    size = i2d_ECDSA_SIG(es, NULL);

    if (size <= 0 || size > NGX_HTTP_FOUNDRY_JWT_DER_MAX) {
        ECDSA_SIG_free(es);
        ERR_clear_error();
        return NGX_ERROR;
    }

    p = der;
    size = i2d_ECDSA_SIG(es, &p);

    ECDSA_SIG_free(es);

    if (size <= 0) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    *der_len = size;

    return NGX_OK;
}


/*
 * The key for a token: the first usable key with the token's "kid"; if
 * there is none, or the token has no "kid", the only usable key without
 * a "kid" (any key when the token has no "kid").  NULL when there is no
 * such key or several.
 */

ngx_http_foundry_jwk_t *
ngx_http_foundry_jwks_find(ngx_http_foundry_jwks_t *jwks,
    ngx_http_foundry_jwt_t *jwt)
{
    ngx_uint_t               i, n;
    const char              *err;
    ngx_http_foundry_jwk_t  *keys, *found;

    keys = jwks->keys.elts;

    if (jwt->kid.len) {
        for (i = 0; i < jwks->keys.nelts; i++) {
            if (keys[i].kid.len == jwt->kid.len
                && ngx_memcmp(keys[i].kid.data, jwt->kid.data, jwt->kid.len)
                   == 0
                && ngx_http_foundry_jwk_usable(&keys[i], jwt->alg, &err)
                   == NGX_OK)
            {
                return &keys[i];
            }
        }
    }

    found = NULL;
    n = 0;

    for (i = 0; i < jwks->keys.nelts; i++) {

        if (jwt->kid.len && keys[i].kid.len) {
            continue;
        }

        if (ngx_http_foundry_jwk_usable(&keys[i], jwt->alg, &err) == NGX_OK) {
            found = &keys[i];
            n++;
        }
    }

    return (n == 1) ? found : NULL;
}


/*
 * A JWK set, {"keys": [...]}, into "jwks", whose key array is initialized
 * here from "pool" (whatever it held is ignored).  Keys that cannot verify
 * signatures here are skipped and counted: an unknown "kty", "use" other
 * than "sig", "key_ops" without "verify", an unknown or mismatching "alg",
 * RSA outside 2048-8192 bits, a curve other than P-256, P-384, P-521 or
 * Ed25519, a secret under 32 bytes.  Malformed JSON or key members fail
 * the whole set, and the keys already made are then freed at once.  Keys
 * live until the pool is destroyed, so a set fetched at run time should
 * have a pool of its own.
 */

ngx_int_t
ngx_http_foundry_jwks_parse(ngx_pool_t *pool, u_char *json, size_t len,
    ngx_http_foundry_jwks_t *jwks, ngx_uint_t *skipped, const char **err)
{
    ngx_uint_t                    i;
    yajl_handle                   handle;
    yajl_status                   st;
    yajl_alloc_funcs              funcs;
    ngx_http_foundry_jwk_t       *keys;
    ngx_http_foundry_jwks_ctx_t   j;

    if (ngx_array_init(&jwks->keys, pool, 4, sizeof(ngx_http_foundry_jwk_t))
        != NGX_OK)
    {
        *err = "internal error";
        return NGX_ERROR;
    }

    ngx_memzero(&j, sizeof(ngx_http_foundry_jwks_ctx_t));

    j.pool = pool;
    j.jwks = jwks;
    j.field = NGX_HTTP_FOUNDRY_JWK_NONE;
    j.err = "malformed JWKS";

    ngx_http_foundry_json_alloc_funcs(pool, &funcs);

    handle = yajl_alloc(&ngx_http_foundry_jwks_callbacks, &funcs, &j);
    if (handle == NULL) {
        *err = "internal error";
        return NGX_ERROR;
    }

    st = yajl_parse(handle, json, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(handle);
    }

    yajl_free(handle);

    if (st == yajl_status_ok && !j.has_keys) {
        j.err = "no \"keys\" array in JWKS";
        st = yajl_status_error;
    }

    if (st != yajl_status_ok) {
        keys = jwks->keys.elts;

        for (i = 0; i < jwks->keys.nelts; i++) {
            if (keys[i].pkey) {
                ngx_http_foundry_jwk_release(pool, keys[i].pkey);
                keys[i].pkey = NULL;
            }
        }

        jwks->keys.nelts = 0;

        *err = j.err;
        return NGX_ERROR;
    }

    if (skipped) {
        *skipped = j.skipped;
    }

    *err = NULL;

    return NGX_OK;
}


static int
ngx_http_foundry_jwks_null(void *ctx)
{
    return ngx_http_foundry_jwks_scalar(ctx, NGX_HTTP_FOUNDRY_CLAIM_NULL,
                                        NULL, 0);
}


static int
ngx_http_foundry_jwks_boolean(void *ctx, int value)
{
    return ngx_http_foundry_jwks_scalar(ctx, NGX_HTTP_FOUNDRY_CLAIM_BOOL,
                                        NULL, 0);
}


static int
ngx_http_foundry_jwks_number(void *ctx, const char *s, size_t len)
{
    return ngx_http_foundry_jwks_scalar(ctx, NGX_HTTP_FOUNDRY_CLAIM_NUMBER,
                                        NULL, 0);
}


static int
ngx_http_foundry_jwks_string(void *ctx, const unsigned char *s, size_t len)
{
    return ngx_http_foundry_jwks_scalar(ctx, NGX_HTTP_FOUNDRY_CLAIM_STRING,
                                        s, len);
}


static int
ngx_http_foundry_jwks_start_map(void *ctx)
{
    return ngx_http_foundry_jwks_start(ctx, NGX_HTTP_FOUNDRY_CLAIM_OBJECT);
}


static int
ngx_http_foundry_jwks_start_array(void *ctx)
{
    return ngx_http_foundry_jwks_start(ctx, NGX_HTTP_FOUNDRY_CLAIM_ARRAY);
}


/*
 * Depths: 1 is the set object, 2 the "keys" array, 3 a key object, 4 the
 * elements of a key's "key_ops".  Anything under other members is ignored.
 */

static int
ngx_http_foundry_jwks_scalar(ngx_http_foundry_jwks_ctx_t *j, ngx_uint_t type,
    const u_char *s, size_t len)
{
    ngx_str_t  *v;

    switch (j->depth) {

    case 0:
        return 0;

    case 1:
        /* "keys" must be an array */
        return j->top_keys ? 0 : 1;

    case 2:
        /* a key must be an object */
        return j->in_keys ? 0 : 1;

    case 3:
        if (!j->in_keys || j->field == NGX_HTTP_FOUNDRY_JWK_NONE) {
            return 1;
        }

        if (j->field == NGX_HTTP_FOUNDRY_JWK_OPS
            || type != NGX_HTTP_FOUNDRY_CLAIM_STRING)
        {
            j->err = "malformed JWK";
            return 0;
        }

        v = &j->values[j->field];

        if (ngx_http_foundry_jwt_copy(j->pool, s, len, v) != NGX_OK) {
            j->err = "internal error";
            return 0;
        }

        return 1;

    case 4:
        if (!j->in_keys || j->field != NGX_HTTP_FOUNDRY_JWK_OPS) {
            return 1;
        }

        if (type != NGX_HTTP_FOUNDRY_CLAIM_STRING) {
            j->err = "malformed JWK";
            return 0;
        }

        if (len == 6 && ngx_strncmp(s, "verify", 6) == 0) {
            j->verify = 1;
        }

        return 1;

    default:
        return 1;
    }
}


static int
ngx_http_foundry_jwks_start(ngx_http_foundry_jwks_ctx_t *j, ngx_uint_t type)
{
    switch (j->depth) {

    case 0:
        if (type != NGX_HTTP_FOUNDRY_CLAIM_OBJECT) {
            return 0;
        }

        break;

    case 1:
        if (j->top_keys) {
            if (type != NGX_HTTP_FOUNDRY_CLAIM_ARRAY) {
                return 0;
            }

            j->in_keys = 1;
        }

        break;

    case 2:
        if (j->in_keys) {
            if (type != NGX_HTTP_FOUNDRY_CLAIM_OBJECT) {
                return 0;
            }

            ngx_memzero(j->values, sizeof(j->values));
            j->seen = 0;
            j->verify = 0;
            j->field = NGX_HTTP_FOUNDRY_JWK_NONE;
        }

        break;

    case 3:
        if (j->in_keys && j->field != NGX_HTTP_FOUNDRY_JWK_NONE) {
            if (j->field != NGX_HTTP_FOUNDRY_JWK_OPS
                || type != NGX_HTTP_FOUNDRY_CLAIM_ARRAY)
            {
                j->err = "malformed JWK";
                return 0;
            }
        }

        break;

    case 4:
        if (j->in_keys && j->field == NGX_HTTP_FOUNDRY_JWK_OPS) {
            /* "key_ops" is an array of strings */
            j->err = "malformed JWK";
            return 0;
        }

        break;

    default:
        if (j->depth >= NGX_HTTP_FOUNDRY_JWT_MAX_DEPTH) {
            return 0;
        }

        break;
    }

    j->depth++;

    return 1;
}


static int
ngx_http_foundry_jwks_end(void *ctx)
{
    ngx_http_foundry_jwks_ctx_t *j = ctx;

    ngx_int_t  rc;

    j->depth--;

    if (j->depth == 2 && j->in_keys) {
        rc = ngx_http_foundry_jwks_key(j);

        if (rc == NGX_ERROR) {
            return 0;
        }

        if (rc == NGX_DECLINED) {
            j->skipped++;
        }

    } else if (j->depth == 1 && j->in_keys) {
        j->in_keys = 0;
    }

    return 1;
}


static int
ngx_http_foundry_jwks_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_jwks_ctx_t *j = ctx;

    ngx_uint_t  i;

    if (j->depth == 1) {
        j->top_keys = (len == 4 && ngx_strncmp(s, "keys", 4) == 0);

        if (j->top_keys) {
            if (j->has_keys) {
                return 0;
            }

            j->has_keys = 1;
        }

        return 1;
    }

    if (j->depth != 3 || !j->in_keys) {
        return 1;
    }

    j->field = NGX_HTTP_FOUNDRY_JWK_NONE;

    for (i = 0; i < NGX_HTTP_FOUNDRY_JWK_NFIELDS; i++) {
        if (ngx_http_foundry_jwk_fields[i].len == len
            && ngx_strncmp(ngx_http_foundry_jwk_fields[i].data, s, len) == 0)
        {
            if (j->seen & (1 << i)) {
                j->err = "malformed JWK";
                return 0;
            }

            j->seen |= 1 << i;
            j->field = i;
            break;
        }
    }

    return 1;
}


/* the key just read: NGX_OK added, NGX_DECLINED skipped, NGX_ERROR */

static ngx_int_t
ngx_http_foundry_jwks_key(ngx_http_foundry_jwks_ctx_t *j)
{
    ngx_int_t                rc;
    ngx_str_t               *v;
    ngx_uint_t               kty, alg;
    const char              *err;
    ngx_http_foundry_jwk_t   jwk, *key;

    v = j->values;

    if (v[NGX_HTTP_FOUNDRY_JWK_KTY].len == 0) {
        j->err = "malformed JWK";
        return NGX_ERROR;
    }

    if ((j->seen & (1 << NGX_HTTP_FOUNDRY_JWK_USE))
        && !ngx_http_foundry_jwt_is(&v[NGX_HTTP_FOUNDRY_JWK_USE], "sig"))
    {
        return NGX_DECLINED;
    }

    if ((j->seen & (1 << NGX_HTTP_FOUNDRY_JWK_OPS)) && !j->verify) {
        return NGX_DECLINED;
    }

    alg = 0;

    if (j->seen & (1 << NGX_HTTP_FOUNDRY_JWK_ALG)) {
        alg = ngx_http_foundry_jwt_alg(v[NGX_HTTP_FOUNDRY_JWK_ALG].data,
                                       v[NGX_HTTP_FOUNDRY_JWK_ALG].len);
        if (alg == 0) {
            return NGX_DECLINED;
        }
    }

    if (ngx_http_foundry_jwt_is(&v[NGX_HTTP_FOUNDRY_JWK_KTY], "RSA")) {
        kty = NGX_HTTP_FOUNDRY_JWK_RSA;

    } else if (ngx_http_foundry_jwt_is(&v[NGX_HTTP_FOUNDRY_JWK_KTY], "EC")) {
        kty = NGX_HTTP_FOUNDRY_JWK_EC;

    } else if (ngx_http_foundry_jwt_is(&v[NGX_HTTP_FOUNDRY_JWK_KTY], "OKP")) {
        kty = NGX_HTTP_FOUNDRY_JWK_OKP;

    } else if (ngx_http_foundry_jwt_is(&v[NGX_HTTP_FOUNDRY_JWK_KTY], "oct")) {
        kty = NGX_HTTP_FOUNDRY_JWK_OCT;

    } else {
        return NGX_DECLINED;
    }

    if (alg && ngx_http_foundry_jwt_algs[alg].kty != kty) {
        return NGX_DECLINED;
    }

    ngx_memzero(&jwk, sizeof(ngx_http_foundry_jwk_t));

    jwk.kid = v[NGX_HTTP_FOUNDRY_JWK_KID];
    jwk.alg = alg;

    switch (kty) {

    case NGX_HTTP_FOUNDRY_JWK_RSA:
        rc = ngx_http_foundry_jwk_rsa(j->pool, &v[NGX_HTTP_FOUNDRY_JWK_N],
                                      &v[NGX_HTTP_FOUNDRY_JWK_E], &jwk,
                                      &err);
        break;

    case NGX_HTTP_FOUNDRY_JWK_EC:
        rc = ngx_http_foundry_jwk_ec(j->pool, &v[NGX_HTTP_FOUNDRY_JWK_CRV],
                                     &v[NGX_HTTP_FOUNDRY_JWK_X],
                                     &v[NGX_HTTP_FOUNDRY_JWK_Y], &jwk,
                                     &err);
        break;

    case NGX_HTTP_FOUNDRY_JWK_OKP:
        rc = ngx_http_foundry_jwk_okp(j->pool, &v[NGX_HTTP_FOUNDRY_JWK_CRV],
                                      &v[NGX_HTTP_FOUNDRY_JWK_X], &jwk,
                                      &err);
        break;

    default: /* NGX_HTTP_FOUNDRY_JWK_OCT */
        rc = ngx_http_foundry_jwk_oct(j->pool, &v[NGX_HTTP_FOUNDRY_JWK_K],
                                      &jwk, &err);

        /* the encoded secret is not needed any more */

        if (v[NGX_HTTP_FOUNDRY_JWK_K].len) {
            ngx_explicit_memzero(v[NGX_HTTP_FOUNDRY_JWK_K].data,
                                 v[NGX_HTTP_FOUNDRY_JWK_K].len);
        }

        break;
    }

    if (rc != NGX_OK) {
        if (rc == NGX_ERROR) {
            j->err = err;
        }

        return rc;
    }

    /* a key pinned to an algorithm must fit that algorithm */

    if (alg && ngx_http_foundry_jwk_usable(&jwk, alg, &err) != NGX_OK) {
        if (jwk.pkey) {
            ngx_http_foundry_jwk_release(j->pool, jwk.pkey);
        }

        return NGX_DECLINED;
    }

    key = ngx_array_push(&j->jwks->keys);
    if (key == NULL) {
        if (jwk.pkey) {
            ngx_http_foundry_jwk_release(j->pool, jwk.pkey);
        }

        j->err = "internal error";
        return NGX_ERROR;
    }

    *key = jwk;

    return NGX_OK;
}


/* an RSA public key from "n" and "e" */

static ngx_int_t
ngx_http_foundry_jwk_rsa(ngx_pool_t *pool, ngx_str_t *n64, ngx_str_t *e64,
    ngx_http_foundry_jwk_t *jwk, const char **err)
{
    u_char               c, *p;
    size_t               bits;
    BIGNUM              *n, *e;
    EVP_PKEY            *pkey;
    ngx_str_t            nb, eb;
    OSSL_PARAM          *params;
    OSSL_PARAM_BLD      *bld;
    ngx_pool_cleanup_t  *cln;

    *err = "malformed RSA key";

    if (n64->len == 0 || e64->len == 0) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_jwt_b64(pool, n64->data, n64->len, &nb) != NGX_OK
        || ngx_http_foundry_jwt_b64(pool, e64->data, e64->len, &eb) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* leading zero octets are tolerated */

    for (p = nb.data; nb.len && *p == 0; p++, nb.len--) { /* void */ }
    nb.data = p;

    for (p = eb.data; eb.len && *p == 0; p++, eb.len--) { /* void */ }
    eb.data = p;

    if (nb.len == 0 || eb.len == 0) {
        return NGX_ERROR;
    }

    bits = nb.len * 8;

    for (c = nb.data[0]; !(c & 0x80); c <<= 1) {
        bits--;
    }

    if (bits < NGX_HTTP_FOUNDRY_JWK_MIN_RSA_BITS
        || bits > NGX_HTTP_FOUNDRY_JWK_MAX_RSA_BITS
        || eb.len > 8)
    {
        return NGX_DECLINED;
    }

    cln = ngx_http_foundry_jwk_own(pool);
    if (cln == NULL) {
        *err = "internal error";
        return NGX_ERROR;
    }

    n = BN_bin2bn(nb.data, (int) nb.len, NULL);
    e = BN_bin2bn(eb.data, (int) eb.len, NULL);

    bld = OSSL_PARAM_BLD_new();
    params = NULL;
    pkey = NULL;

    if (n != NULL && e != NULL && bld != NULL
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1)
    {
        params = OSSL_PARAM_BLD_to_param(bld);

        if (params != NULL) {
            pkey = ngx_http_foundry_jwk_fromdata("RSA", params);
        }
    }

    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);

    if (pkey == NULL) {
        ERR_clear_error();
        *err = "invalid RSA key";
        return NGX_ERROR;
    }

    cln->data = pkey;
    jwk->pkey = pkey;

    if (ngx_http_foundry_jwk_check(pkey) != NGX_OK) {
        ngx_http_foundry_jwk_release(pool, pkey);
        jwk->pkey = NULL;
        *err = "invalid RSA key";
        return NGX_ERROR;
    }

    jwk->kty = NGX_HTTP_FOUNDRY_JWK_RSA;

    return NGX_OK;
}


/* an EC public key from "crv", "x" and "y" */

static ngx_int_t
ngx_http_foundry_jwk_ec(ngx_pool_t *pool, ngx_str_t *crv, ngx_str_t *x64,
    ngx_str_t *y64, ngx_http_foundry_jwk_t *jwk, const char **err)
{
    char                *group;
    size_t               size;
    u_char              *point;
    EVP_PKEY            *pkey;
    ngx_str_t            x, y;
    ngx_uint_t           bits;
    OSSL_PARAM           params[3];
    ngx_pool_cleanup_t  *cln;

    if (ngx_http_foundry_jwt_is(crv, "P-256")) {
        group = "P-256";
        bits = 256;

    } else if (ngx_http_foundry_jwt_is(crv, "P-384")) {
        group = "P-384";
        bits = 384;

    } else if (ngx_http_foundry_jwt_is(crv, "P-521")) {
        group = "P-521";
        bits = 521;

    } else if (crv->len) {
        return NGX_DECLINED;

    } else {
        *err = "malformed EC key";
        return NGX_ERROR;
    }

    size = (bits + 7) / 8;

    *err = "malformed EC key";

    /* coordinates are full size (RFC 7518 6.2.1.2, 6.2.1.3) */

    if (ngx_http_foundry_jwt_b64(pool, x64->data, x64->len, &x) != NGX_OK
        || ngx_http_foundry_jwt_b64(pool, y64->data, y64->len, &y) != NGX_OK
        || x.len != size
        || y.len != size)
    {
        return NGX_ERROR;
    }

    point = ngx_pnalloc(pool, 1 + 2 * size);
    if (point == NULL) {
        *err = "internal error";
        return NGX_ERROR;
    }

    point[0] = 0x04;
    ngx_memcpy(point + 1, x.data, size);
    ngx_memcpy(point + 1 + size, y.data, size);

    cln = ngx_http_foundry_jwk_own(pool);
    if (cln == NULL) {
        *err = "internal error";
        return NGX_ERROR;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  point, 1 + 2 * size);
    params[2] = OSSL_PARAM_construct_end();

    pkey = ngx_http_foundry_jwk_fromdata("EC", params);

    if (pkey == NULL) {
        ERR_clear_error();
        *err = "invalid EC key";
        return NGX_ERROR;
    }

    cln->data = pkey;
    jwk->pkey = pkey;

    if (ngx_http_foundry_jwk_check(pkey) != NGX_OK) {
        ngx_http_foundry_jwk_release(pool, pkey);
        jwk->pkey = NULL;
        *err = "invalid EC key";
        return NGX_ERROR;
    }

    jwk->kty = NGX_HTTP_FOUNDRY_JWK_EC;
    jwk->ec_bits = bits;

    return NGX_OK;
}


/* an Ed25519 public key from "crv" and "x" (RFC 8037 2) */

static ngx_int_t
ngx_http_foundry_jwk_okp(ngx_pool_t *pool, ngx_str_t *crv, ngx_str_t *x64,
    ngx_http_foundry_jwk_t *jwk, const char **err)
{
    EVP_PKEY            *pkey;
    ngx_str_t            x;
    ngx_pool_cleanup_t  *cln;

    *err = "malformed OKP key";

    if (crv->len == 0) {
        return NGX_ERROR;
    }

    if (!ngx_http_foundry_jwt_is(crv, "Ed25519")) {
        return NGX_DECLINED;
    }

    if (ngx_http_foundry_jwt_b64(pool, x64->data, x64->len, &x) != NGX_OK
        || x.len != 32)
    {
        return NGX_ERROR;
    }

    cln = ngx_http_foundry_jwk_own(pool);
    if (cln == NULL) {
        *err = "internal error";
        return NGX_ERROR;
    }

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x.data, 32);

    if (pkey == NULL) {
        ERR_clear_error();
        *err = "invalid Ed25519 key";
        return NGX_ERROR;
    }

    cln->data = pkey;
    jwk->pkey = pkey;
    jwk->kty = NGX_HTTP_FOUNDRY_JWK_OKP;

    return NGX_OK;
}


/* an HMAC secret from "k" */

static ngx_int_t
ngx_http_foundry_jwk_oct(ngx_pool_t *pool, ngx_str_t *k64,
    ngx_http_foundry_jwk_t *jwk, const char **err)
{
    ngx_int_t  rc;
    ngx_str_t  k;

    *err = "malformed oct key";

    if (k64->len == 0) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_jwt_b64(pool, k64->data, k64->len, &k) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_jwk_own_secret(pool, &k) != NGX_OK) {
        ngx_explicit_memzero(k.data, k.len);
        *err = "internal error";
        return NGX_ERROR;
    }

    rc = (k.len < NGX_HTTP_FOUNDRY_JWK_MIN_SECRET) ? NGX_DECLINED : NGX_OK;

    jwk->kty = NGX_HTTP_FOUNDRY_JWK_OCT;
    jwk->secret = k;

    return rc;
}


static EVP_PKEY *
ngx_http_foundry_jwk_fromdata(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY      *pkey;
    EVP_PKEY_CTX  *ctx;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx == NULL) {
        return NULL;
    }

    pkey = NULL;

    if (EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);

    return pkey;
}


/* OpenSSL's own checks of a public key (e odd, point on the curve...) */

static ngx_int_t
ngx_http_foundry_jwk_check(EVP_PKEY *pkey)
{
    int            rc;
    EVP_PKEY_CTX  *ctx;

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    rc = EVP_PKEY_public_check(ctx);

    EVP_PKEY_CTX_free(ctx);

    if (rc != 1) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A key from PEM text: the first "PUBLIC KEY", "RSA PUBLIC KEY" or
 * "CERTIFICATE" block.  Private keys are refused.
 */

ngx_int_t
ngx_http_foundry_jwk_pem(ngx_pool_t *pool, ngx_str_t *pem,
    ngx_http_foundry_jwk_t *jwk, const char **err)
{
    BIO                  *bio;
    long                  len;
    X509                 *x509;
    char                 *name, *header;
    u_char               *data;
    EVP_PKEY             *pkey;
    const u_char         *p;
    ngx_pool_cleanup_t   *cln;

    ngx_memzero(jwk, sizeof(ngx_http_foundry_jwk_t));

    if (pem->len == 0 || pem->len > NGX_MAX_INT32_VALUE) {
        *err = "no PEM public key or certificate";
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        *err = "internal error";
        return NGX_ERROR;
    }

    bio = BIO_new_mem_buf(pem->data, (int) pem->len);
    if (bio == NULL) {
        *err = "internal error";
        return NGX_ERROR;
    }

    name = NULL;
    header = NULL;
    data = NULL;
    pkey = NULL;

    *err = "no PEM public key or certificate";

    if (PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
        p = data;

        *err = "invalid PEM public key or certificate";

        if (ngx_strcmp(name, "PUBLIC KEY") == 0) {
            pkey = d2i_PUBKEY(NULL, &p, len);

        } else if (ngx_strcmp(name, "RSA PUBLIC KEY") == 0) {
            pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);

        } else if (ngx_strcmp(name, "CERTIFICATE") == 0) {
            x509 = d2i_X509(NULL, &p, len);

            if (x509 != NULL) {
                pkey = X509_get_pubkey(x509);
                X509_free(x509);
            }

        } else if (ngx_strstr(name, "PRIVATE KEY") != NULL) {
            *err = "a private key, not a public key";

        } else {
            *err = "not a PEM public key or certificate";
        }

        if (pkey != NULL && p != data + len) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }

    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(bio);

    if (pkey == NULL) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    if (ngx_http_foundry_jwk_classify(pkey, jwk, err) != NGX_OK
        || ngx_http_foundry_jwk_check(pkey) != NGX_OK)
    {
        if (*err == NULL) {
            *err = "invalid public key";
        }

        EVP_PKEY_free(pkey);
        ERR_clear_error();
        ngx_memzero(jwk, sizeof(ngx_http_foundry_jwk_t));
        return NGX_ERROR;
    }

    cln->handler = ngx_http_foundry_jwk_cleanup;
    cln->data = pkey;

    jwk->pkey = pkey;

    *err = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_jwk_classify(EVP_PKEY *pkey, ngx_http_foundry_jwk_t *jwk,
    const char **err)
{
    int     bits;
    char    group[64];
    size_t  len;

    *err = NULL;

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_RSA:
        bits = EVP_PKEY_get_bits(pkey);

        if (bits < NGX_HTTP_FOUNDRY_JWK_MIN_RSA_BITS) {
            *err = "RSA key shorter than 2048 bits";
            return NGX_ERROR;
        }

        if (bits > NGX_HTTP_FOUNDRY_JWK_MAX_RSA_BITS) {
            *err = "RSA key longer than 8192 bits";
            return NGX_ERROR;
        }

        jwk->kty = NGX_HTTP_FOUNDRY_JWK_RSA;
        return NGX_OK;

    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &len) != 1) {
            *err = "unsupported EC curve";
            return NGX_ERROR;
        }

        if (ngx_strcmp(group, "prime256v1") == 0
            || ngx_strcmp(group, "P-256") == 0)
        {
            jwk->ec_bits = 256;

        } else if (ngx_strcmp(group, "secp384r1") == 0
                   || ngx_strcmp(group, "P-384") == 0)
        {
            jwk->ec_bits = 384;

        } else if (ngx_strcmp(group, "secp521r1") == 0
                   || ngx_strcmp(group, "P-521") == 0)
        {
            jwk->ec_bits = 521;

        } else {
            *err = "unsupported EC curve";
            return NGX_ERROR;
        }

        jwk->kty = NGX_HTTP_FOUNDRY_JWK_EC;
        return NGX_OK;

    case EVP_PKEY_ED25519:
        jwk->kty = NGX_HTTP_FOUNDRY_JWK_OKP;
        return NGX_OK;

    default:
        *err = "unsupported key type";
        return NGX_ERROR;
    }
}


/*
 * An HMAC secret, for HS256/384/512 only, taken as raw bytes.  It must be
 * at least 32 bytes long; PEM text is refused, so that a public key file
 * cannot become a shared secret by mistake.
 */

ngx_int_t
ngx_http_foundry_jwk_secret(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_http_foundry_jwk_t *jwk, const char **err)
{
    ngx_str_t  s;

    ngx_memzero(jwk, sizeof(ngx_http_foundry_jwk_t));

    if (secret->len < NGX_HTTP_FOUNDRY_JWK_MIN_SECRET) {
        *err = "secret shorter than 32 bytes";
        return NGX_ERROR;
    }

    if (ngx_strlcasestrn(secret->data, secret->data + secret->len,
                         (u_char *) "-----BEGIN", sizeof("-----BEGIN") - 2)
        != NULL)
    {
        *err = "a PEM key cannot be a secret";
        return NGX_ERROR;
    }

    if (ngx_http_foundry_jwt_copy(pool, secret->data, secret->len, &s)
        != NGX_OK
        || ngx_http_foundry_jwk_own_secret(pool, &s) != NGX_OK)
    {
        *err = "internal error";
        return NGX_ERROR;
    }

    jwk->kty = NGX_HTTP_FOUNDRY_JWK_OCT;
    jwk->secret = s;

    *err = NULL;

    return NGX_OK;
}


/*
 * The cleanup that will free a key about to be made; it is added first,
 * so that making the key is the last thing that can fail.  The caller
 * sets its data to the key.
 */

static ngx_pool_cleanup_t *
ngx_http_foundry_jwk_own(ngx_pool_t *pool)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_foundry_jwk_cleanup;
    cln->data = NULL;

    return cln;
}


static ngx_int_t
ngx_http_foundry_jwk_own_secret(ngx_pool_t *pool, ngx_str_t *secret)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, sizeof(ngx_str_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    *(ngx_str_t *) cln->data = *secret;
    cln->handler = ngx_http_foundry_jwk_wipe;

    return NGX_OK;
}


/* frees a key now, and forgets its cleanup */

static void
ngx_http_foundry_jwk_release(ngx_pool_t *pool, EVP_PKEY *pkey)
{
    ngx_pool_cleanup_t  *c;

    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler == ngx_http_foundry_jwk_cleanup && c->data == pkey) {
            c->handler = NULL;
            break;
        }
    }

    EVP_PKEY_free(pkey);
}


static void
ngx_http_foundry_jwk_cleanup(void *data)
{
    EVP_PKEY_free(data);
}


static void
ngx_http_foundry_jwk_wipe(void *data)
{
    ngx_str_t  *s = data;

    if (s->len) {
        ngx_explicit_memzero(s->data, s->len);
    }
}
