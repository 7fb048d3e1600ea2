
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
#error ngx_http_foundry_jwt_sign.c requires OpenSSL 3.0 or newer
#endif


/*
 * A token's signature checked with a key: which keys may verify which
 * algorithm, HMAC, RSA (PKCS #1 v1.5 and PSS), ECDSA and EdDSA.
 */


/* the largest DER ECDSA signature: P-521, 2 x (2 + 67) + 3 */
#define NGX_HTTP_FOUNDRY_JWT_DER_MAX        160


static const EVP_MD *ngx_http_foundry_jwt_md(size_t hash);
static ngx_int_t ngx_http_foundry_jwt_hmac(ngx_http_foundry_jwt_t *jwt,
    ngx_http_foundry_jwk_t *key, ngx_http_foundry_jwt_alg_t *a,
    const char **err);
static ngx_int_t ngx_http_foundry_jwt_pkey(ngx_http_foundry_jwt_t *jwt,
    ngx_http_foundry_jwk_t *key, ngx_http_foundry_jwt_alg_t *a,
    const char **err);
static ngx_int_t ngx_http_foundry_jwt_ecdsa_der(u_char *sig, size_t len,
    size_t n, u_char *der, size_t *der_len);


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
