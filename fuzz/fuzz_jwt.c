
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: a token, at most 16 KB, parsed, then verified with
 * the key jwks_find() picks and with every key of a fixed set (one key of
 * each type, from fuzz/keys/test.jwks, plus a PEM key without a "kid"
 * and a secret); then every claim is read.
 *
 * An input that starts with '{' is "header JSON \n payload JSON" instead:
 * it is made into a token here, so that the JSON parsers are fuzzed
 * directly and not only through base64url.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fuzz.h"
#include "ngx_fuzz_keys.h"
#include "ngx_http_foundry_jwt.h"


#define NGX_FUZZ_MAX_TOKEN  16384


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ngx_int_t ngx_fuzz_token(ngx_pool_t *pool, const uint8_t *data,
    size_t size, ngx_str_t *token);
static void ngx_fuzz_touch(ngx_str_t *s);
static void ngx_fuzz_claims(ngx_array_t *claims);


static ngx_log_t                *ngx_fuzz_log;
static ngx_pool_t               *ngx_fuzz_keys_pool;
static ngx_http_foundry_jwks_t   ngx_fuzz_jwks;
static volatile u_char           ngx_fuzz_sink;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_str_t                pem, secret;
    ngx_uint_t               skipped;
    const char              *err;
    ngx_http_foundry_jwk_t  *key;

    ngx_fuzz_log = ngx_fuzz_init();

    ngx_fuzz_keys_pool = ngx_create_pool(16384, ngx_fuzz_log);
    if (ngx_fuzz_keys_pool == NULL) {
        abort();
    }

    if (ngx_http_foundry_jwks_parse(ngx_fuzz_keys_pool,
                                    (u_char *) ngx_fuzz_test_jwks,
                                    sizeof(ngx_fuzz_test_jwks) - 1,
                                    &ngx_fuzz_jwks, &skipped, &err)
        != NGX_OK
        || ngx_fuzz_jwks.keys.nelts != 7
        || skipped != 0)
    {
        fprintf(stderr, "fuzz_jwt: test JWKS: %s\n", err ? err : "keys");
        abort();
    }

    key = ngx_array_push(&ngx_fuzz_jwks.keys);
    if (key == NULL) {
        abort();
    }

    pem.data = (u_char *) ngx_fuzz_test_pem;
    pem.len = sizeof(ngx_fuzz_test_pem) - 1;

    if (ngx_http_foundry_jwk_pem(ngx_fuzz_keys_pool, &pem, key, &err)
        != NGX_OK)
    {
        fprintf(stderr, "fuzz_jwt: test PEM: %s\n", err);
        abort();
    }

    key = ngx_array_push(&ngx_fuzz_jwks.keys);
    if (key == NULL) {
        abort();
    }

    ngx_str_set(&secret, "a secret of 32 bytes at least, for HS*");

    if (ngx_http_foundry_jwk_secret(ngx_fuzz_keys_pool, &secret, key, &err)
        != NGX_OK)
    {
        abort();
    }

    key->alg = NGX_HTTP_FOUNDRY_JWT_HS256;

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                rc;
    ngx_str_t                token, name;
    ngx_uint_t               i;
    ngx_pool_t              *pool;
    const char              *err;
    ngx_http_foundry_jwt_t   jwt;
    ngx_http_foundry_jwk_t  *keys, *key;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    if (size && data[0] == '{') {
        if (ngx_fuzz_token(pool, data, size, &token) != NGX_OK) {
            abort();
        }

    } else {
        token.data = (u_char *) data;
        token.len = size;
    }

    rc = ngx_http_foundry_jwt_parse(pool, &token, NGX_FUZZ_MAX_TOKEN, &jwt,
                                    &err);

    if (rc != NGX_OK) {
        if (rc != NGX_DECLINED || err == NULL) {
            abort();
        }

        if (token.len <= NGX_FUZZ_MAX_TOKEN
            && ngx_strcmp(err, "token too large") == 0)
        {
            abort();
        }

        ngx_destroy_pool(pool);
        return 0;
    }

    /* what a parsed token always has */

    if (jwt.alg == 0
        || jwt.signature.len == 0
        || jwt.signing_input.data != token.data
        || jwt.header == NULL
        || jwt.claims == NULL)
    {
        abort();
    }

    keys = ngx_fuzz_jwks.keys.elts;

    key = ngx_http_foundry_jwks_find(&ngx_fuzz_jwks, &jwt);

    if (key != NULL) {
        if (ngx_http_foundry_jwk_usable(key, jwt.alg, &err) != NGX_OK) {
            abort();
        }

        rc = ngx_http_foundry_jwt_verify(&jwt, key, &err);

        if (rc == NGX_ERROR) {
            abort();
        }
    }

    for (i = 0; i < ngx_fuzz_jwks.keys.nelts; i++) {
        rc = ngx_http_foundry_jwt_verify(&jwt, &keys[i], &err);

        if (rc == NGX_ERROR) {
            abort();
        }

        /* no algorithm confusion, whatever the token says */

        if (rc == NGX_OK
            && ngx_http_foundry_jwk_usable(&keys[i], jwt.alg, &err)
               != NGX_OK)
        {
            abort();
        }

        if (rc == NGX_OK
            && (jwt.alg >= NGX_HTTP_FOUNDRY_JWT_HS256)
               != (keys[i].kty == NGX_HTTP_FOUNDRY_JWK_OCT))
        {
            abort();
        }
    }

    ngx_fuzz_touch(&jwt.kid);
    ngx_fuzz_touch(&jwt.typ);
    ngx_fuzz_touch(&jwt.payload);
    ngx_fuzz_touch(&jwt.signature);
    ngx_fuzz_touch(&jwt.iss);
    ngx_fuzz_touch(&jwt.sub);

    if (jwt.aud) {
        for (i = 0; i < jwt.aud->nelts; i++) {
            ngx_fuzz_touch(&((ngx_str_t *) jwt.aud->elts)[i]);
        }
    }

    ngx_fuzz_claims(jwt.header);
    ngx_fuzz_claims(jwt.claims);

    ngx_str_set(&name, "roles");
    (void) ngx_http_foundry_jwt_claim(&jwt, &name);
    ngx_str_set(&name, "scp");
    (void) ngx_http_foundry_jwt_claim(&jwt, &name);
    ngx_str_set(&name, "alg");
    (void) ngx_http_foundry_jwt_header(&jwt, &name);

    ngx_destroy_pool(pool);

    return 0;
}


/* header JSON "\n" payload JSON: base64url each, add a signature */

static ngx_int_t
ngx_fuzz_token(ngx_pool_t *pool, const uint8_t *data, size_t size,
    ngx_str_t *token)
{
    u_char     *nl, *p;
    ngx_str_t   header, payload, b64;

    nl = ngx_strlchr((u_char *) data, (u_char *) data + size, '\n');

    header.data = (u_char *) data;
    header.len = nl ? (size_t) (nl - data) : size;

    payload.data = nl ? nl + 1 : (u_char *) data + size;
    payload.len = (u_char *) data + size - payload.data;

    p = ngx_pnalloc(pool, ngx_base64_encoded_length(size) + 8);
    if (p == NULL) {
        return NGX_ERROR;
    }

    token->data = p;

    b64.data = p;
    ngx_encode_base64url(&b64, &header);
    p += b64.len;
    *p++ = '.';

    b64.data = p;
    ngx_encode_base64url(&b64, &payload);
    p += b64.len;

    p = ngx_cpymem(p, ".c2ln", 5);

    token->len = p - token->data;

    return NGX_OK;
}


static void
ngx_fuzz_touch(ngx_str_t *s)
{
    size_t  i;
    u_char  x;

    x = 0;

    for (i = 0; i < s->len; i++) {
        x ^= s->data[i];
    }

    ngx_fuzz_sink = x;
}


static void
ngx_fuzz_claims(ngx_array_t *claims)
{
    ngx_uint_t                     i, j;
    ngx_str_t                     *items;
    ngx_http_foundry_jwt_claim_t  *c, *found;

    c = claims->elts;

    for (i = 0; i < claims->nelts; i++) {
        ngx_fuzz_touch(&c[i].name);
        ngx_fuzz_touch(&c[i].value);

        if (c[i].type < NGX_HTTP_FOUNDRY_CLAIM_STRING
            || c[i].type > NGX_HTTP_FOUNDRY_CLAIM_OBJECT
            || (c[i].type == NGX_HTTP_FOUNDRY_CLAIM_ARRAY)
               != (c[i].items != NULL))
        {
            abort();
        }

        if (c[i].items) {
            items = c[i].items->elts;

            for (j = 0; j < c[i].items->nelts; j++) {
                ngx_fuzz_touch(&items[j]);
            }
        }

        /* names are unique: a lookup finds this very claim */

        found = NULL;

        for (j = 0; j < claims->nelts; j++) {
            if (c[j].name.len == c[i].name.len
                && ngx_memcmp(c[j].name.data, c[i].name.data, c[i].name.len)
                   == 0)
            {
                if (found) {
                    abort();
                }

                found = &c[j];
            }
        }
    }
}
