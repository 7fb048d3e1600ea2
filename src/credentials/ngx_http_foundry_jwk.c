
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
#error ngx_http_foundry_jwk.c requires OpenSSL 3.0 or newer
#endif


/*
 * The keys that verify tokens as OpenSSL keys owned by a pool: a JWK's
 * RSA, EC, OKP or oct members (ngx_http_foundry_jwks.c reads the sets),
 * PEM public keys or certificates, and HMAC secrets.
 */


static EVP_PKEY *ngx_http_foundry_jwk_fromdata(const char *type,
    OSSL_PARAM *params);
static ngx_int_t ngx_http_foundry_jwk_check(EVP_PKEY *pkey);
static ngx_int_t ngx_http_foundry_jwk_classify(EVP_PKEY *pkey,
    ngx_http_foundry_jwk_t *jwk, const char **err);
static ngx_int_t ngx_http_foundry_jwk_take(ngx_pool_t *pool,
    ngx_pool_cleanup_t *cln, EVP_PKEY *pkey, ngx_uint_t kty,
    const char *invalid, ngx_http_foundry_jwk_t *jwk, const char **err);
static ngx_pool_cleanup_t *ngx_http_foundry_jwk_own(ngx_pool_t *pool);
static ngx_int_t ngx_http_foundry_jwk_own_secret(ngx_pool_t *pool,
    ngx_str_t *secret);
static void ngx_http_foundry_jwk_cleanup(void *data);
static void ngx_http_foundry_jwk_wipe(void *data);


/* an RSA public key from "n" and "e" */

ngx_int_t
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

    return ngx_http_foundry_jwk_take(pool, cln, pkey, NGX_HTTP_FOUNDRY_JWK_RSA,
                                     "invalid RSA key", jwk, err);
}


/* an EC public key from "crv", "x" and "y" */

ngx_int_t
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

    if (ngx_http_foundry_jwk_take(pool, cln, pkey, NGX_HTTP_FOUNDRY_JWK_EC,
                                  "invalid EC key", jwk, err)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    jwk->ec_bits = bits;

    return NGX_OK;
}


/* an Ed25519 public key from "crv" and "x" (RFC 8037 2) */

ngx_int_t
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

ngx_int_t
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

/*
 * A key made from a JWK's members, owned by the pool's cleanup "cln" and
 * checked: NGX_OK, or NGX_ERROR with "invalid" as the error.
 */

static ngx_int_t
ngx_http_foundry_jwk_take(ngx_pool_t *pool, ngx_pool_cleanup_t *cln,
    EVP_PKEY *pkey, ngx_uint_t kty, const char *invalid,
    ngx_http_foundry_jwk_t *jwk, const char **err)
{
    if (pkey == NULL) {
        ERR_clear_error();
        *err = invalid;
        return NGX_ERROR;
    }

    cln->data = pkey;
    jwk->pkey = pkey;

    if (ngx_http_foundry_jwk_check(pkey) != NGX_OK) {
        ngx_http_foundry_jwk_release(pool, pkey);
        jwk->pkey = NULL;
        *err = invalid;
        return NGX_ERROR;
    }

    jwk->kty = kty;

    return NGX_OK;
}


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

void
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
