
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_jwt.h"
#include "ngx_http_foundry_oauth2.h"


/*
 * The token service: its configuration, its signing keys and their
 * public key set, the signature of a token, and the mapping of an issued
 * token's claims to a key-like entry when the bearer path accepts it.
 */


static char *ngx_http_foundry_oauth2_key(ngx_conf_t *cf,
    ngx_http_foundry_oauth2_service_t *svc, ngx_str_t *file);
static ngx_int_t ngx_http_foundry_oauth2_jwk(ngx_conf_t *cf,
    ngx_http_foundry_oauth2_key_t *key);
static ngx_int_t ngx_http_foundry_oauth2_bn(ngx_pool_t *pool, EVP_PKEY *pkey,
    const char *name, size_t pad, ngx_str_t *out);
static void ngx_http_foundry_oauth2_pkey_cleanup(void *data);
static ngx_int_t ngx_http_foundry_oauth2_accepted(ngx_http_request_t *r,
    void *data, void *c);


/*
 * foundry_token_service name issuer=url clients=keys_zone zone=name:size
 *     key=file ... scope=scope ... [lifetime=time] [max_failures=n]
 *     [lockout=time] [token_url=url];
 */

char *
ngx_http_foundry_token_service(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_main_conf_t *fmcf = conf;

    char                               *rv;
    u_char                             *p;
    size_t                              len;
    ngx_int_t                           n;
    ngx_str_t                          *value, v, name;
    ngx_uint_t                          i;
    ngx_http_foundry_oauth2_key_t      *key;
    ngx_http_foundry_oauth2_main_t     *om;
    ngx_http_foundry_oauth2_scope_t    *sc;
    ngx_http_foundry_oauth2_service_t  *svc, **psvc;

    value = cf->args->elts;

    if (ngx_http_foundry_valid_name(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid name \"%V\" in \"%V\" directive",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    om = fmcf->oauth2;

    if (om == NULL) {
        om = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_oauth2_main_t));
        if (om == NULL
            || ngx_array_init(&om->services, cf->pool, 2,
                              sizeof(ngx_http_foundry_oauth2_service_t *))
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        fmcf->oauth2 = om;
    }

    if (ngx_http_foundry_oauth2_service(cf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate token service \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    svc = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_oauth2_service_t));
    if (svc == NULL) {
        return NGX_CONF_ERROR;
    }

    psvc = ngx_array_push(&om->services);
    if (psvc == NULL) {
        return NGX_CONF_ERROR;
    }

    *psvc = svc;

    if (ngx_array_init(&svc->keys, cf->pool, 2,
                       sizeof(ngx_http_foundry_oauth2_key_t))
        != NGX_OK
        || ngx_array_init(&svc->scopes, cf->pool, 2,
                          sizeof(ngx_http_foundry_oauth2_scope_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    svc->name = value[1];
    svc->lifetime = 600;
    svc->max_failures = 5;
    svc->lockout = 60;

    for (i = 2; i < cf->args->nelts; i++) {

        p = (u_char *) ngx_strchr(value[i].data, '=');

        if (p == NULL) {
            goto unknown;
        }

        name.data = value[i].data;
        name.len = p - value[i].data;
        v.data = p + 1;
        v.len = value[i].data + value[i].len - v.data;

        if (v.len == 0) {
            goto invalid;
        }

        if (name.len == 6 && ngx_strncmp(name.data, "issuer", 6) == 0) {
            svc->issuer = v;
            continue;
        }

        if (name.len == 9 && ngx_strncmp(name.data, "token_url", 9) == 0) {
            svc->token_url = v;
            continue;
        }

        if (name.len == 7 && ngx_strncmp(name.data, "clients", 7) == 0) {
            svc->clients = ngx_shared_memory_add(cf, &v, 0,
                                                 &ngx_http_foundry_module);
            if (svc->clients == NULL) {
                return NGX_CONF_ERROR;
            }

            if (ngx_http_foundry_keys_check_zone(cf, svc->clients)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (name.len == 4 && ngx_strncmp(name.data, "zone", 4) == 0) {
            svc->zone = ngx_http_foundry_zone_add(cf, &v,
                              ngx_http_foundry_oauth2_init_zone,
                              ngx_http_foundry_oauth2_zone_create(cf->pool));
            if (svc->zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (name.len == 3 && ngx_strncmp(name.data, "key", 3) == 0) {
            rv = ngx_http_foundry_oauth2_key(cf, svc, &v);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (name.len == 5 && ngx_strncmp(name.data, "scope", 5) == 0) {
            for (p = v.data; p < v.data + v.len; p++) {
                if (*p <= ' ' || *p == '"' || *p == '\\' || *p >= 0x7f) {
                    goto invalid;
                }
            }

            sc = ngx_array_push(&svc->scopes);
            if (sc == NULL) {
                return NGX_CONF_ERROR;
            }

            sc->scope = v;
            sc->audience = v;

            /* "api://x/.default", as Entra ID: the audience "api://x" */

            len = sizeof("/.default") - 1;

            if (v.len > len
                && ngx_strncmp(v.data + v.len - len, "/.default", len) == 0)
            {
                sc->audience.len -= len;
            }

            if (svc->scopes.nelts > NGX_HTTP_FOUNDRY_OAUTH2_MAX_SCOPES) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "too many \"scope=\" in \"%V\" directive, "
                                   "at most %d", &value[0],
                                   NGX_HTTP_FOUNDRY_OAUTH2_MAX_SCOPES);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (name.len == 8 && ngx_strncmp(name.data, "lifetime", 8) == 0) {
            n = ngx_parse_time(&v, 1);

            if (n == NGX_ERROR || n < 10 || n > 86400) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\" in \"%V\" "
                                   "directive, \"lifetime=\" must be "
                                   "between 10s and 1d", &value[i],
                                   &value[0]);
                return NGX_CONF_ERROR;
            }

            svc->lifetime = (time_t) n;
            continue;
        }

        if (name.len == 12
            && ngx_strncmp(name.data, "max_failures", 12) == 0)
        {
            n = ngx_atoi(v.data, v.len);

            if (n == NGX_ERROR || n < 1 || n > 1000) {
                goto invalid;
            }

            svc->max_failures = (ngx_uint_t) n;
            continue;
        }

        if (name.len == 7 && ngx_strncmp(name.data, "lockout", 7) == 0) {
            n = ngx_parse_time(&v, 1);

            if (n == NGX_ERROR || n < 1) {
                goto invalid;
            }

            svc->lockout = (time_t) n;
            continue;
        }

        goto unknown;
    }

    if (svc->issuer.len == 0 || svc->clients == NULL || svc->zone == NULL
        || svc->keys.nelts == 0 || svc->scopes.nelts == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"issuer=\", "
                           "\"clients=\", \"zone=\", \"key=\" and "
                           "\"scope=\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    /* the public key set: {"keys":[jwk,...]} */

    key = svc->keys.elts;
    len = sizeof("{\"keys\":[]}") - 1;

    for (i = 0; i < svc->keys.nelts; i++) {
        len += key[i].jwk.len + 1;
    }

    svc->jwks.data = ngx_pnalloc(cf->pool, len);
    if (svc->jwks.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(svc->jwks.data, "{\"keys\":[", sizeof("{\"keys\":[") - 1);

    for (i = 0; i < svc->keys.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, key[i].jwk.data, key[i].jwk.len);
    }

    p = ngx_cpymem(p, "]}", 2);
    svc->jwks.len = p - svc->jwks.data;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive",
                       &value[i], &value[0]);
    return NGX_CONF_ERROR;

unknown:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\" directive",
                       &value[i], &value[0]);
    return NGX_CONF_ERROR;
}


ngx_http_foundry_oauth2_service_t *
ngx_http_foundry_oauth2_service(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                           i;
    ngx_http_foundry_oauth2_main_t      *om;
    ngx_http_foundry_main_conf_t        *fmcf;
    ngx_http_foundry_oauth2_service_t  **svc;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);
    om = fmcf->oauth2;

    if (om == NULL) {
        return NULL;
    }

    svc = om->services.elts;

    for (i = 0; i < om->services.nelts; i++) {
        if (svc[i]->name.len == name->len
            && ngx_strncmp(svc[i]->name.data, name->data, name->len) == 0)
        {
            return svc[i];
        }
    }

    return NULL;
}


/* a service that a location names: declared before it */

ngx_http_foundry_oauth2_service_t *
ngx_http_foundry_oauth2_named(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_http_foundry_oauth2_service_t  *svc;

    svc = ngx_http_foundry_oauth2_service(cf, name);

    if (svc == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown foundry_token_service \"%V\" (declare "
                           "it first, in the http block)", name);
    }

    return svc;
}


/* a signing key from a PEM file: RSA (2048+ bits), P-256 or Ed25519 */

static char *
ngx_http_foundry_oauth2_key(ngx_conf_t *cf,
    ngx_http_foundry_oauth2_service_t *svc, ngx_str_t *file)
{
    int                             bits;
    BIO                            *bio;
    char                            group[32];
    size_t                          glen;
    EVP_PKEY                       *pkey;
    ngx_str_t                       name, text;
    ngx_uint_t                      i;
    ngx_pool_cleanup_t             *cln;
    ngx_http_foundry_oauth2_key_t  *key, *keys;

    name = *file;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_read_file(cf, &name, &text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    bio = BIO_new_mem_buf(text.data, (int) text.len);
    if (bio == NULL) {
        return NGX_CONF_ERROR;
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ngx_explicit_memzero(text.data, text.len);

    if (pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds no PEM private key", &name);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        EVP_PKEY_free(pkey);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_foundry_oauth2_pkey_cleanup;
    cln->data = pkey;

    key = ngx_array_push(&svc->keys);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(key, sizeof(ngx_http_foundry_oauth2_key_t));
    key->pkey = pkey;

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_RSA:
        bits = EVP_PKEY_get_bits(pkey);

        if (bits < NGX_HTTP_FOUNDRY_JWK_MIN_RSA_BITS
            || bits > NGX_HTTP_FOUNDRY_JWK_MAX_RSA_BITS)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "RSA key \"%V\" has %d bits, 2048 to 8192 "
                               "are accepted", &name, bits);
            return NGX_CONF_ERROR;
        }

        key->alg = NGX_HTTP_FOUNDRY_JWT_RS256;
        break;

    case EVP_PKEY_EC:
        if (EVP_PKEY_get_utf8_string_param(pkey,
                                           OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, sizeof(group), &glen)
            != 1
            || ngx_strcmp(group, "prime256v1") != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "EC key \"%V\" is not on P-256 (ES256)",
                               &name);
            return NGX_CONF_ERROR;
        }

        key->alg = NGX_HTTP_FOUNDRY_JWT_ES256;
        break;

    case EVP_PKEY_ED25519:
        key->alg = NGX_HTTP_FOUNDRY_JWT_EDDSA;
        break;

    default:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key \"%V\" is not an RSA, P-256 or Ed25519 "
                           "private key", &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_oauth2_jwk(cf, key) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot export the public key of \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    keys = svc->keys.elts;

    for (i = 0; i + 1 < svc->keys.nelts; i++) {
        if (keys[i].kid.len == key->kid.len
            && ngx_strncmp(keys[i].kid.data, key->kid.data, key->kid.len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key \"%V\" is listed twice", &name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void
ngx_http_foundry_oauth2_pkey_cleanup(void *data)
{
    EVP_PKEY_free(data);
}


/*
 * The public JWK of a key and its kid, the RFC 7638 thumbprint: the
 * SHA-256 of the required members, in order, without spaces.
 */

static ngx_int_t
ngx_http_foundry_oauth2_jwk(ngx_conf_t *cf, ngx_http_foundry_oauth2_key_t *key)
{
    u_char     digest[NGX_HTTP_FOUNDRY_DIGEST_LEN], raw[32], *p;
    size_t     rawlen;
    ngx_str_t  a, b, canon, d;

    ngx_str_null(&a);
    ngx_str_null(&b);

    switch (key->alg) {

    case NGX_HTTP_FOUNDRY_JWT_RS256:
        if (ngx_http_foundry_oauth2_bn(cf->pool, key->pkey,
                                       OSSL_PKEY_PARAM_RSA_E, 0, &a)
            != NGX_OK
            || ngx_http_foundry_oauth2_bn(cf->pool, key->pkey,
                                          OSSL_PKEY_PARAM_RSA_N, 0, &b)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        canon.len = sizeof("{\"e\":\"\",\"kty\":\"RSA\",\"n\":\"\"}") - 1
                    + a.len + b.len;
        break;

    case NGX_HTTP_FOUNDRY_JWT_ES256:
        if (ngx_http_foundry_oauth2_bn(cf->pool, key->pkey,
                                       OSSL_PKEY_PARAM_EC_PUB_X, 32, &a)
            != NGX_OK
            || ngx_http_foundry_oauth2_bn(cf->pool, key->pkey,
                                          OSSL_PKEY_PARAM_EC_PUB_Y, 32, &b)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        canon.len = sizeof("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"\","
                           "\"y\":\"\"}") - 1 + a.len + b.len;
        break;

    default: /* EdDSA */
        rawlen = sizeof(raw);

        if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &rawlen) != 1) {
            return NGX_ERROR;
        }

        d.data = raw;
        d.len = rawlen;
        a.len = ngx_base64_encoded_length(rawlen);
        a.data = ngx_pnalloc(cf->pool, a.len);
        if (a.data == NULL) {
            return NGX_ERROR;
        }

        ngx_encode_base64url(&a, &d);

        canon.len = sizeof("{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"\"}")
                    - 1 + a.len;
        break;
    }

    canon.data = ngx_pnalloc(cf->pool, canon.len);
    if (canon.data == NULL) {
        return NGX_ERROR;
    }

    switch (key->alg) {

    case NGX_HTTP_FOUNDRY_JWT_RS256:
        p = ngx_sprintf(canon.data, "{\"e\":\"%V\",\"kty\":\"RSA\","
                        "\"n\":\"%V\"}", &a, &b);
        break;

    case NGX_HTTP_FOUNDRY_JWT_ES256:
        p = ngx_sprintf(canon.data, "{\"crv\":\"P-256\",\"kty\":\"EC\","
                        "\"x\":\"%V\",\"y\":\"%V\"}", &a, &b);
        break;

    default:
        p = ngx_sprintf(canon.data, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\","
                        "\"x\":\"%V\"}", &a);
        break;
    }

    canon.len = p - canon.data;

    if (ngx_http_foundry_sha256(&canon, 1, digest) != NGX_OK) {
        return NGX_ERROR;
    }

    d.data = digest;
    d.len = sizeof(digest);

    key->kid.len = ngx_base64_encoded_length(d.len);
    key->kid.data = ngx_pnalloc(cf->pool, key->kid.len);
    if (key->kid.data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64url(&key->kid, &d);

    /* the published JWK: the canonical members, then use, alg, kid */

    key->jwk.len = canon.len + sizeof(",\"use\":\"sig\",\"alg\":\"\","
                                      "\"kid\":\"\"") - 1
                   + ngx_strlen(ngx_http_foundry_jwt_alg_name(key->alg))
                   + key->kid.len;
    key->jwk.data = ngx_pnalloc(cf->pool, key->jwk.len);
    if (key->jwk.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->jwk.data, canon.data, canon.len - 1);
    p = ngx_sprintf(p, ",\"use\":\"sig\",\"alg\":\"%s\",\"kid\":\"%V\"}",
                    ngx_http_foundry_jwt_alg_name(key->alg), &key->kid);
    key->jwk.len = p - key->jwk.data;

    return NGX_OK;
}


/* a big number parameter of a key, base64url, left-padded to "pad" bytes */

static ngx_int_t
ngx_http_foundry_oauth2_bn(ngx_pool_t *pool, EVP_PKEY *pkey,
    const char *name, size_t pad, ngx_str_t *out)
{
    int        n;
    BIGNUM    *bn;
    ngx_str_t  raw;

    bn = NULL;

    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
        return NGX_ERROR;
    }

    n = BN_num_bytes(bn);
    raw.len = pad ? pad : (size_t) n;

    if (n < 0 || (size_t) n > raw.len) {
        BN_free(bn);
        return NGX_ERROR;
    }

    raw.data = ngx_pnalloc(pool, raw.len);
    if (raw.data == NULL) {
        BN_free(bn);
        return NGX_ERROR;
    }

    if (BN_bn2binpad(bn, raw.data, (int) raw.len) < 0) {
        BN_free(bn);
        return NGX_ERROR;
    }

    BN_free(bn);

    out->len = ngx_base64_encoded_length(raw.len);
    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64url(out, &raw);

    return NGX_OK;
}


/*
 * A compact JWS of "payload" signed with "key": the header names the
 * algorithm and the key's kid.
 */

ngx_int_t
ngx_http_foundry_oauth2_sign(ngx_pool_t *pool,
    ngx_http_foundry_oauth2_key_t *key, ngx_str_t *payload, ngx_str_t *token)
{
    u_char              *p, *sig, *der;
    size_t               siglen, len;
    ngx_int_t            rc;
    ngx_str_t            header, s;
    ECDSA_SIG           *es;
    EVP_MD_CTX          *md;
    const EVP_MD        *type;
    const BIGNUM        *er, *esv;
    const unsigned char *dp;

    header.len = sizeof("{\"alg\":\"\",\"typ\":\"JWT\",\"kid\":\"\"}") - 1
                 + ngx_strlen(ngx_http_foundry_jwt_alg_name(key->alg))
                 + key->kid.len;
    header.data = ngx_pnalloc(pool, header.len);
    if (header.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(header.data, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%V\"}",
                ngx_http_foundry_jwt_alg_name(key->alg), &key->kid);

    /* header.payload.signature, the signature at most 512 bytes (RSA) */

    len = ngx_base64_encoded_length(header.len)
          + ngx_base64_encoded_length(payload->len)
          + ngx_base64_encoded_length(1024) + 2;

    token->data = ngx_pnalloc(pool, len);
    if (token->data == NULL) {
        return NGX_ERROR;
    }

    s.data = token->data;
    ngx_encode_base64url(&s, &header);
    p = s.data + s.len;
    *p++ = '.';
    s.data = p;
    ngx_encode_base64url(&s, payload);
    p = s.data + s.len;

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    type = (key->alg == NGX_HTTP_FOUNDRY_JWT_EDDSA) ? NULL : EVP_sha256();
    sig = NULL;
    rc = NGX_ERROR;

    if (EVP_DigestSignInit(md, NULL, type, NULL, key->pkey) != 1
        || EVP_DigestSign(md, NULL, &siglen, token->data,
                          p - token->data)
           != 1
        || siglen > 1024)
    {
        goto done;
    }

    sig = ngx_pnalloc(pool, siglen);
    if (sig == NULL) {
        goto done;
    }

    if (EVP_DigestSign(md, sig, &siglen, token->data, p - token->data) != 1) {
        goto done;
    }

    if (key->alg == NGX_HTTP_FOUNDRY_JWT_ES256) {

        /* DER (r, s) into the fixed 64 bytes of RFC 7518 3.4 */

        dp = sig;
        es = d2i_ECDSA_SIG(NULL, &dp, (long) siglen);
        if (es == NULL) {
            goto done;
        }

        ECDSA_SIG_get0(es, &er, &esv);

        der = ngx_pnalloc(pool, 64);

        if (der == NULL
            || BN_bn2binpad(er, der, 32) != 32
            || BN_bn2binpad(esv, der + 32, 32) != 32)
        {
            ECDSA_SIG_free(es);
            goto done;
        }

        ECDSA_SIG_free(es);

        sig = der;
        siglen = 64;
    }

    *p++ = '.';
    header.data = sig;
    header.len = siglen;
    s.data = p;
    ngx_encode_base64url(&s, &header);
    token->len = s.data + s.len - token->data;

    rc = NGX_OK;

done:

    EVP_MD_CTX_free(md);

    return rc;
}


/*
 * foundry_token_issuer name;
 *
 * The bearer path of the level accepts the tokens of the service "name":
 * an issuer of its "issuer=", the audiences of its scopes, its public
 * keys; an accepted token's claims give the request a key-like entry.
 */

char *
ngx_http_foundry_token_issuer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t                          *value, *aud;
    ngx_uint_t                          i, skipped;
    const char                         *err;
    ngx_http_foundry_jwks_t            *jwks;
    ngx_http_foundry_issuer_t          *iss;
    ngx_http_foundry_oauth2_scope_t    *sc;
    ngx_http_foundry_oauth2_service_t  *svc;

    value = cf->args->elts;

    svc = ngx_http_foundry_oauth2_named(cf, &value[1]);
    if (svc == NULL) {
        return NGX_CONF_ERROR;
    }

    iss = ngx_http_foundry_issuer_add(cf, flcf, &svc->issuer);
    if (iss == NULL) {
        return NGX_CONF_ERROR;
    }

    sc = svc->scopes.elts;

    for (i = 0; i < svc->scopes.nelts; i++) {
        aud = ngx_array_push(iss->audiences);
        if (aud == NULL) {
            return NGX_CONF_ERROR;
        }

        *aud = sc[i].audience;
    }

    jwks = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_jwks_t));
    if (jwks == NULL) {
        return NGX_CONF_ERROR;
    }

    skipped = 0;

    if (ngx_http_foundry_jwks_parse(cf->pool, svc->jwks.data, svc->jwks.len,
                                    jwks, &skipped, &err)
        != NGX_OK
        || skipped)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the keys of token service \"%V\" do not "
                           "verify: %s", &svc->name,
                           skipped ? "a key was skipped" : err);
        return NGX_CONF_ERROR;
    }

    iss->keys = jwks;

    if (ngx_http_foundry_sha256(&svc->jwks, 1, iss->keys_id) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    iss->accepted = ngx_http_foundry_oauth2_accepted;
    iss->accepted_data = svc;

    return NGX_CONF_OK;
}


/*
 * An issued token accepted by the bearer path: its claims as the request's
 * key entry, so that the key's deployments, operations and metadata apply
 * as they would to the client's key ("client_id", "deployments",
 * "operations", "meta.<name>").
 */

static ngx_int_t
ngx_http_foundry_oauth2_accepted(ngx_http_request_t *r, void *data, void *c)
{
    ngx_http_foundry_ctx_t *ctx = c;
    ngx_http_foundry_oauth2_service_t *svc = data;

    ngx_str_t                      *s, name;
    ngx_uint_t                      i;
    ngx_keyval_t                   *kv;
    ngx_http_foundry_jwt_t         *jwt;
    ngx_http_foundry_jwt_claim_t   *cl;
    ngx_http_foundry_key_info_t    *info;

    jwt = ctx->token;

    info = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_key_info_t));
    if (info == NULL) {
        return NGX_ERROR;
    }

    info->zone = svc->clients;
    info->operations = NGX_HTTP_FOUNDRY_OPS_ALL;

    ngx_str_set(&name, "client_id");
    cl = ngx_http_foundry_jwt_claim(jwt, &name);

    if (cl == NULL || cl->type != NGX_HTTP_FOUNDRY_CLAIM_STRING
        || cl->value.len == 0)
    {
        return NGX_DECLINED;
    }

    info->name = cl->value;

    ngx_str_set(&name, "deployments");
    cl = ngx_http_foundry_jwt_claim(jwt, &name);

    if (cl) {
        if (cl->type != NGX_HTTP_FOUNDRY_CLAIM_ARRAY || !cl->strings
            || cl->items == NULL)
        {
            return NGX_DECLINED;
        }

        s = cl->items->elts;

        for (i = 0; i < cl->items->nelts; i++) {
            if (s[i].len == 0) {
                return NGX_DECLINED;
            }
        }

        info->deployments = cl->items;
    }

    ngx_str_set(&name, "operations");
    cl = ngx_http_foundry_jwt_claim(jwt, &name);

    if (cl) {
        if (cl->type != NGX_HTTP_FOUNDRY_CLAIM_ARRAY || !cl->strings) {
            return NGX_DECLINED;
        }

        info->operations = 0;

        for (i = 0; cl->items && i < cl->items->nelts; i++) {
            s = &((ngx_str_t *) cl->items->elts)[i];

            if (ngx_http_foundry_operation_mask(s, &info->operations)
                != NGX_OK)
            {
                return NGX_DECLINED;
            }
        }
    }

    cl = jwt->claims->elts;

    for (i = 0; i < jwt->claims->nelts; i++) {
        if (cl[i].name.len <= sizeof("meta.") - 1
            || ngx_strncmp(cl[i].name.data, "meta.", sizeof("meta.") - 1)
               != 0
            || cl[i].type != NGX_HTTP_FOUNDRY_CLAIM_STRING)
        {
            continue;
        }

        if (info->meta == NULL) {
            info->meta = ngx_array_create(r->pool, 4, sizeof(ngx_keyval_t));
            if (info->meta == NULL) {
                return NGX_ERROR;
            }
        }

        kv = ngx_array_push(info->meta);
        if (kv == NULL) {
            return NGX_ERROR;
        }

        kv->key.data = cl[i].name.data + sizeof("meta.") - 1;
        kv->key.len = cl[i].name.len - (sizeof("meta.") - 1);
        kv->value = cl[i].value;
    }

    ctx->key = info;

    return NGX_OK;
}
