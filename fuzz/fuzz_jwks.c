
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: the input as a JWK set, then as PEM text and as an
 * HMAC secret.  The keys made must satisfy what the verifier relies on.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_jwt.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ngx_fuzz_check_key(ngx_http_foundry_jwk_t *key);


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
    ngx_int_t                 rc;
    ngx_str_t                 text;
    ngx_uint_t                i, skipped, alg;
    ngx_pool_t               *pool;
    const char               *err;
    ngx_http_foundry_jwt_t    jwt;
    ngx_http_foundry_jwk_t    jwk, *keys;
    ngx_http_foundry_jwks_t   jwks;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    ngx_memzero(&jwks, sizeof(ngx_http_foundry_jwks_t));

    skipped = 0;
    err = NULL;

    rc = ngx_http_foundry_jwks_parse(pool, (u_char *) data, size, &jwks,
                                     &skipped, &err);

    if (rc == NGX_OK) {
        keys = jwks.keys.elts;

        for (i = 0; i < jwks.keys.nelts; i++) {
            ngx_fuzz_check_key(&keys[i]);
        }

        /* a key is found for some algorithm, by "kid" or alone */

        ngx_memzero(&jwt, sizeof(ngx_http_foundry_jwt_t));

        for (alg = 0; alg <= NGX_HTTP_FOUNDRY_JWT_HS512; alg++) {
            jwt.alg = alg;
            jwt.kid.len = 0;

            (void) ngx_http_foundry_jwks_find(&jwks, &jwt);

            if (jwks.keys.nelts) {
                jwt.kid = keys[0].kid;
                (void) ngx_http_foundry_jwks_find(&jwks, &jwt);
            }
        }

    } else if (rc != NGX_ERROR || err == NULL || jwks.keys.nelts != 0) {
        abort();
    }

    text.data = (u_char *) data;
    text.len = size;

    if (ngx_http_foundry_jwk_pem(pool, &text, &jwk, &err) == NGX_OK) {
        ngx_fuzz_check_key(&jwk);
    }

    if (ngx_http_foundry_jwk_secret(pool, &text, &jwk, &err) == NGX_OK) {
        ngx_fuzz_check_key(&jwk);
    }

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_check_key(ngx_http_foundry_jwk_t *key)
{
    int  bits;

    switch (key->kty) {

    case NGX_HTTP_FOUNDRY_JWK_RSA:
        if (key->pkey == NULL) {
            abort();
        }

        bits = EVP_PKEY_get_bits(key->pkey);

        if (EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA
            || bits < NGX_HTTP_FOUNDRY_JWK_MIN_RSA_BITS
            || bits > NGX_HTTP_FOUNDRY_JWK_MAX_RSA_BITS
            || key->secret.len != 0
            || (key->alg != 0 && key->alg > NGX_HTTP_FOUNDRY_JWT_PS512))
        {
            abort();
        }

        break;

    case NGX_HTTP_FOUNDRY_JWK_EC:
        if (key->pkey == NULL
            || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_EC
            || (key->ec_bits != 256 && key->ec_bits != 384
                && key->ec_bits != 521)
            || key->secret.len != 0
            || (key->alg != 0 && (key->alg < NGX_HTTP_FOUNDRY_JWT_ES256
                                  || key->alg > NGX_HTTP_FOUNDRY_JWT_ES512)))
        {
            abort();
        }

        break;

    case NGX_HTTP_FOUNDRY_JWK_OKP:
        if (key->pkey == NULL
            || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_ED25519
            || key->secret.len != 0
            || (key->alg != 0 && key->alg != NGX_HTTP_FOUNDRY_JWT_EDDSA))
        {
            abort();
        }

        break;

    case NGX_HTTP_FOUNDRY_JWK_OCT:
        if (key->pkey != NULL
            || key->secret.len < NGX_HTTP_FOUNDRY_JWK_MIN_SECRET
            || (key->alg != 0 && key->alg < NGX_HTTP_FOUNDRY_JWT_HS256))
        {
            abort();
        }

        break;

    default:
        abort();
    }
}
