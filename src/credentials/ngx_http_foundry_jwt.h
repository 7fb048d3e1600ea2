
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_JWT_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_JWT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>


/* JWS algorithms (RFC 7518 3.1, RFC 8037 3.1); 0 is "none or unknown" */

#define NGX_HTTP_FOUNDRY_JWT_RS256          1
#define NGX_HTTP_FOUNDRY_JWT_RS384          2
#define NGX_HTTP_FOUNDRY_JWT_RS512          3
#define NGX_HTTP_FOUNDRY_JWT_PS256          4
#define NGX_HTTP_FOUNDRY_JWT_PS384          5
#define NGX_HTTP_FOUNDRY_JWT_PS512          6
#define NGX_HTTP_FOUNDRY_JWT_ES256          7
#define NGX_HTTP_FOUNDRY_JWT_ES384          8
#define NGX_HTTP_FOUNDRY_JWT_ES512          9
#define NGX_HTTP_FOUNDRY_JWT_EDDSA          10
#define NGX_HTTP_FOUNDRY_JWT_HS256          11
#define NGX_HTTP_FOUNDRY_JWT_HS384          12
#define NGX_HTTP_FOUNDRY_JWT_HS512          13

/* key types (RFC 7518 6.1, RFC 8037 2) */

#define NGX_HTTP_FOUNDRY_JWK_RSA            1
#define NGX_HTTP_FOUNDRY_JWK_EC             2
#define NGX_HTTP_FOUNDRY_JWK_OKP            3
#define NGX_HTTP_FOUNDRY_JWK_OCT            4

/* JSON types of header members and claims */

#define NGX_HTTP_FOUNDRY_CLAIM_STRING       1
#define NGX_HTTP_FOUNDRY_CLAIM_NUMBER       2
#define NGX_HTTP_FOUNDRY_CLAIM_BOOL         3
#define NGX_HTTP_FOUNDRY_CLAIM_NULL         4
#define NGX_HTTP_FOUNDRY_CLAIM_ARRAY        5
#define NGX_HTTP_FOUNDRY_CLAIM_OBJECT       6

/* the size limit when the caller passes 0 */
#define NGX_HTTP_FOUNDRY_JWT_MAX_SIZE       16384

/* limits of the JSON in tokens and key sets */
#define NGX_HTTP_FOUNDRY_JWT_MAX_DEPTH      32
#define NGX_HTTP_FOUNDRY_JWT_MAX_CLAIMS     256

/* keys: RSA modulus sizes, the shortest HMAC secret (bytes) */
#define NGX_HTTP_FOUNDRY_JWK_MIN_RSA_BITS   2048
#define NGX_HTTP_FOUNDRY_JWK_MAX_RSA_BITS   8192
#define NGX_HTTP_FOUNDRY_JWK_MIN_SECRET     32


/* a verification key */

typedef struct {
    ngx_str_t                       kid;      /* may be empty */
    ngx_uint_t                      kty;      /* NGX_HTTP_FOUNDRY_JWK_* */
    ngx_uint_t                      alg;      /* 0: any the key type fits */
    EVP_PKEY                       *pkey;     /* RSA, EC, Ed25519; or NULL */
    ngx_str_t                       secret;   /* oct (HS*) only */
    ngx_uint_t                      ec_bits;  /* 256, 384, 521 for EC */
} ngx_http_foundry_jwk_t;


typedef struct ngx_http_foundry_jwks_s {
    ngx_array_t                     keys;     /* ngx_http_foundry_jwk_t */
} ngx_http_foundry_jwks_t;


/*
 * A header member or a top-level claim.  "value" is the decoded string,
 * the text of a number, "true", "false" or "null", or the raw JSON text
 * of an array or object.  For arrays, "items" holds one ngx_str_t per
 * element: strings decoded, other scalars as text, nested arrays and
 * objects as raw JSON; "strings" is set when every element is a string.
 */

typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      type;     /* NGX_HTTP_FOUNDRY_CLAIM_* */
    ngx_str_t                       value;
    ngx_array_t                    *items;    /* ngx_str_t, arrays only */
    unsigned                        strings:1;
} ngx_http_foundry_jwt_claim_t;


/* a parsed compact JWS whose payload is a JWT claims set */

typedef struct ngx_http_foundry_jwt_s {
    ngx_uint_t                      alg;      /* NGX_HTTP_FOUNDRY_JWT_* */
    ngx_str_t                       kid;
    ngx_str_t                       typ;

    ngx_str_t                       signing_input;  /* in the token */
    ngx_str_t                       signature;      /* decoded */
    ngx_str_t                       payload;        /* decoded JSON */

    ngx_str_t                       iss;
    ngx_str_t                       sub;
    ngx_array_t                    *aud;      /* ngx_str_t, or NULL */
    int64_t                         exp;      /* seconds, 0 if absent */
    int64_t                         nbf;
    int64_t                         iat;

    ngx_array_t                    *header;   /* jwt_claim_t, all members */
    ngx_array_t                    *claims;   /* jwt_claim_t, all claims */

    unsigned                        has_exp:1;
    unsigned                        has_nbf:1;
    unsigned                        has_iat:1;
} ngx_http_foundry_jwt_t;


/* algorithm names: the id of an exact name or 0; the name of an id */
ngx_uint_t ngx_http_foundry_jwt_alg(u_char *name, size_t len);
const char *ngx_http_foundry_jwt_alg_name(ngx_uint_t alg);

/*
 * Keys; each returns NGX_OK, or NGX_ERROR with a static *err.  EVP_PKEYs
 * are freed and secrets wiped by cleanups of "pool".
 *
 * jwks_parse: a JWKS document into "jwks" (its array is initialized here);
 * unusable keys are skipped and counted in *skipped, malformed ones fail
 * the whole set.  jwk_pem: the first PUBLIC KEY, RSA PUBLIC KEY or
 * CERTIFICATE block (RSA 2048-8192 bits, P-256/384/521, Ed25519).
 * jwk_secret: raw bytes, at least 32, for HS* only; PEM text is refused.
 */
ngx_int_t ngx_http_foundry_jwks_parse(ngx_pool_t *pool, u_char *json,
    size_t len, ngx_http_foundry_jwks_t *jwks, ngx_uint_t *skipped,
    const char **err);
ngx_int_t ngx_http_foundry_jwk_pem(ngx_pool_t *pool, ngx_str_t *pem,
    ngx_http_foundry_jwk_t *jwk, const char **err);
ngx_int_t ngx_http_foundry_jwk_secret(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_http_foundry_jwk_t *jwk, const char **err);

/*
 * Tokens.  jwt_parse: NGX_OK, NGX_DECLINED (a bad token, *err safe to show
 * to the client) or NGX_ERROR; "token" must outlive "jwt"; max_size 0 is
 * NGX_HTTP_FOUNDRY_JWT_MAX_SIZE.  Times, issuer and audience are left to
 * the caller.  jwt_verify: NGX_OK, NGX_DECLINED (bad signature, or a key
 * that cannot verify this algorithm) or NGX_ERROR.  jwks_find: the usable
 * key with the token's kid, else the only usable key without a kid (any
 * key if the token has no kid), else NULL.  jwk_usable: whether a key may
 * verify an algorithm at all.
 */
ngx_int_t ngx_http_foundry_jwt_parse(ngx_pool_t *pool, ngx_str_t *token,
    size_t max_size, ngx_http_foundry_jwt_t *jwt, const char **err);
ngx_int_t ngx_http_foundry_jwt_verify(ngx_http_foundry_jwt_t *jwt,
    ngx_http_foundry_jwk_t *key, const char **err);
ngx_http_foundry_jwk_t *ngx_http_foundry_jwks_find(
    ngx_http_foundry_jwks_t *jwks, ngx_http_foundry_jwt_t *jwt);
ngx_int_t ngx_http_foundry_jwk_usable(ngx_http_foundry_jwk_t *key,
    ngx_uint_t alg, const char **err);

/*
 * claims_parse: a JSON object of claims without a token (RFC 7662
 * introspection answers): members and registered claims as jwt_parse
 * gives them, no header, signature or times checked; "text" must outlive
 * "jwt".  NGX_OK, NGX_DECLINED or NGX_ERROR.
 */
ngx_int_t ngx_http_foundry_jwt_claims_parse(ngx_pool_t *pool,
    ngx_str_t *text, ngx_http_foundry_jwt_t *jwt);

/* a top-level claim or header member by name, or NULL */
ngx_http_foundry_jwt_claim_t *ngx_http_foundry_jwt_claim(
    ngx_http_foundry_jwt_t *jwt, ngx_str_t *name);
ngx_http_foundry_jwt_claim_t *ngx_http_foundry_jwt_header(
    ngx_http_foundry_jwt_t *jwt, ngx_str_t *name);


/*
 * Shared by the JWT files only: ngx_http_foundry_jwt.c (tokens),
 * ngx_http_foundry_jwt_sign.c (signatures), ngx_http_foundry_jwks.c (key
 * sets) and ngx_http_foundry_jwk.c (keys)
 */

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

#define NGX_HTTP_FOUNDRY_JWT_NALGS          (NGX_HTTP_FOUNDRY_JWT_HS512 + 1)

extern ngx_http_foundry_jwt_alg_t
    ngx_http_foundry_jwt_algs[NGX_HTTP_FOUNDRY_JWT_NALGS];

ngx_int_t ngx_http_foundry_jwt_b64(ngx_pool_t *pool, u_char *src,
    size_t len, ngx_str_t *dst);
ngx_int_t ngx_http_foundry_jwt_copy(ngx_pool_t *pool, const u_char *s,
    size_t len, ngx_str_t *dst);

ngx_int_t ngx_http_foundry_jwk_rsa(ngx_pool_t *pool, ngx_str_t *n64,
    ngx_str_t *e64, ngx_http_foundry_jwk_t *jwk, const char **err);
ngx_int_t ngx_http_foundry_jwk_ec(ngx_pool_t *pool, ngx_str_t *crv,
    ngx_str_t *x64, ngx_str_t *y64, ngx_http_foundry_jwk_t *jwk,
    const char **err);
ngx_int_t ngx_http_foundry_jwk_okp(ngx_pool_t *pool, ngx_str_t *crv,
    ngx_str_t *x64, ngx_http_foundry_jwk_t *jwk, const char **err);
ngx_int_t ngx_http_foundry_jwk_oct(ngx_pool_t *pool, ngx_str_t *k64,
    ngx_http_foundry_jwk_t *jwk, const char **err);
void ngx_http_foundry_jwk_release(ngx_pool_t *pool, EVP_PKEY *pkey);


#endif /* _NGX_HTTP_FOUNDRY_JWT_H_INCLUDED_ */
