
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
#error ngx_http_foundry_jwks.c requires OpenSSL 3.0 or newer
#endif


/*
 * JWK sets (RFC 7517, 7518, 8037): a set read, its usable keys built
 * (ngx_http_foundry_jwk.c), and the key that verifies a token found.
 */


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
static ngx_uint_t ngx_http_foundry_jwks_kty(ngx_str_t *kty);
static ngx_int_t ngx_http_foundry_jwks_members(ngx_http_foundry_jwks_ctx_t *j,
    ngx_uint_t kty, ngx_http_foundry_jwk_t *jwk, const char **err);


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
    ngx_int_t                     rc;
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

    rc = ngx_http_foundry_json_parse(pool, &ngx_http_foundry_jwks_callbacks,
                                     &j, json, len);
    if (rc == NGX_ERROR) {
        *err = "internal error";
        return NGX_ERROR;
    }

    if (rc == NGX_OK && !j.has_keys) {
        j.err = "no \"keys\" array in JWKS";
        rc = NGX_DECLINED;
    }

    if (rc != NGX_OK) {
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

    kty = ngx_http_foundry_jwks_kty(&v[NGX_HTTP_FOUNDRY_JWK_KTY]);

    if (kty == 0 || (alg && ngx_http_foundry_jwt_algs[alg].kty != kty)) {
        return NGX_DECLINED;
    }

    ngx_memzero(&jwk, sizeof(ngx_http_foundry_jwk_t));

    jwk.kid = v[NGX_HTTP_FOUNDRY_JWK_KID];
    jwk.alg = alg;

    rc = ngx_http_foundry_jwks_members(j, kty, &jwk, &err);

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


/* a key type's code, 0 for an unknown type */

static ngx_uint_t
ngx_http_foundry_jwks_kty(ngx_str_t *kty)
{
    if (ngx_http_foundry_jwt_is(kty, "RSA")) {
        return NGX_HTTP_FOUNDRY_JWK_RSA;
    }

    if (ngx_http_foundry_jwt_is(kty, "EC")) {
        return NGX_HTTP_FOUNDRY_JWK_EC;
    }

    if (ngx_http_foundry_jwt_is(kty, "OKP")) {
        return NGX_HTTP_FOUNDRY_JWK_OKP;
    }

    if (ngx_http_foundry_jwt_is(kty, "oct")) {
        return NGX_HTTP_FOUNDRY_JWK_OCT;
    }

    return 0;
}


/* the key made from its type's members */

static ngx_int_t
ngx_http_foundry_jwks_members(ngx_http_foundry_jwks_ctx_t *j, ngx_uint_t kty,
    ngx_http_foundry_jwk_t *jwk, const char **err)
{
    ngx_int_t   rc;
    ngx_str_t  *v;

    v = j->values;

    switch (kty) {

    case NGX_HTTP_FOUNDRY_JWK_RSA:
        return ngx_http_foundry_jwk_rsa(j->pool,
                                        &v[NGX_HTTP_FOUNDRY_JWK_N],
                                        &v[NGX_HTTP_FOUNDRY_JWK_E], jwk, err);

    case NGX_HTTP_FOUNDRY_JWK_EC:
        return ngx_http_foundry_jwk_ec(j->pool,
                                       &v[NGX_HTTP_FOUNDRY_JWK_CRV],
                                       &v[NGX_HTTP_FOUNDRY_JWK_X],
                                       &v[NGX_HTTP_FOUNDRY_JWK_Y], jwk, err);

    case NGX_HTTP_FOUNDRY_JWK_OKP:
        return ngx_http_foundry_jwk_okp(j->pool,
                                        &v[NGX_HTTP_FOUNDRY_JWK_CRV],
                                        &v[NGX_HTTP_FOUNDRY_JWK_X], jwk, err);

    default: /* NGX_HTTP_FOUNDRY_JWK_OCT */
        rc = ngx_http_foundry_jwk_oct(j->pool, &v[NGX_HTTP_FOUNDRY_JWK_K],
                                      jwk, err);

        /* the encoded secret is not needed any more */

        if (v[NGX_HTTP_FOUNDRY_JWK_K].len) {
            ngx_explicit_memzero(v[NGX_HTTP_FOUNDRY_JWK_K].data,
                                 v[NGX_HTTP_FOUNDRY_JWK_K].len);
        }

        return rc;
    }
}
