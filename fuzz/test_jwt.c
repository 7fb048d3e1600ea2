
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * Known-answer tests of the JWT code (ngx_http_foundry_jwt.c, _jwt_sign.c,
 * _jwks.c, _jwk.c) against vectors made by fuzz/gen-vectors.pl
 * (Crypt::JWT and the openssl CLI, TEST-ONLY keys):
 *
 *     test_jwt VECTORS_DIR
 *
 * Built with AddressSanitizer and UBSan by tools/fuzz --test, so a leak
 * of any OpenSSL object fails it too.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/pem.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_jwt.h"


#define ngx_test_ok(cond, what)                                               \
    ngx_test_check((cond) ? 1 : 0, __LINE__, what)


static void ngx_test_check(int ok, int line, const char *what);
static ngx_str_t *ngx_test_file(const char *name);
static ngx_http_foundry_jwt_t *ngx_test_parse(const char *name,
    ngx_int_t expect, const char *expect_err);
static void ngx_test_verify(const char *name, ngx_http_foundry_jwk_t *key,
    ngx_int_t expect, const char *expect_err);
static ngx_http_foundry_jwk_t *ngx_test_kid(const char *kid);
static ngx_http_foundry_jwk_t *ngx_test_pem(const char *name,
    ngx_int_t expect);
static ngx_int_t ngx_test_jwks(const char *json,
    ngx_http_foundry_jwks_t *jwks, ngx_uint_t *skipped, const char **err);
static ngx_uint_t ngx_test_str(ngx_str_t *s, const char *lit);

static void ngx_test_keysets(void);
static void ngx_test_algorithms(void);
static void ngx_test_refused(void);
static void ngx_test_confusion(void);
static void ngx_test_claims(void);
static void ngx_test_find(void);
static void ngx_test_pems(void);
static void ngx_test_secrets(void);


static ngx_pool_t               *ngx_test_pool;
static ngx_log_t                *ngx_test_log;
static const char               *ngx_test_dir;
static ngx_uint_t                ngx_test_failed;
static ngx_uint_t                ngx_test_passed;
static ngx_http_foundry_jwks_t   ngx_test_set;


static const char  *ngx_test_algs[] = {
    "rs256", "rs384", "rs512", "ps256", "ps384", "ps512",
    "es256", "es384", "es512", "eddsa", "hs256", "hs384", "hs512", NULL
};


int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTORS_DIR\n", argv[0]);
        return 2;
    }

    ngx_test_dir = argv[1];

    ngx_test_log = ngx_fuzz_init();

    ngx_test_pool = ngx_create_pool(16384, ngx_test_log);
    if (ngx_test_pool == NULL) {
        return 2;
    }

    ngx_test_keysets();
    ngx_test_algorithms();
    ngx_test_refused();
    ngx_test_confusion();
    ngx_test_claims();
    ngx_test_find();
    ngx_test_pems();
    ngx_test_secrets();

    ngx_destroy_pool(ngx_test_pool);

    printf("test_jwt: %lu passed, %lu failed\n",
           (unsigned long) ngx_test_passed, (unsigned long) ngx_test_failed);

    return ngx_test_failed ? 1 : 0;
}


static void
ngx_test_check(int ok, int line, const char *what)
{
    if (ok) {
        ngx_test_passed++;
        return;
    }

    ngx_test_failed++;
    printf("not ok: line %d: %s\n", line, what);
}


static ngx_str_t *
ngx_test_file(const char *name)
{
    char        path[1024];
    ngx_str_t  *s;

    s = ngx_palloc(ngx_test_pool, sizeof(ngx_str_t));
    if (s == NULL) {
        abort();
    }

    snprintf(path, sizeof(path), "%s/%s", ngx_test_dir, name);

    s->data = ngx_fuzz_read_file(ngx_test_pool, path, &s->len);
    if (s->data == NULL) {
        fprintf(stderr, "test_jwt: cannot read %s\n", path);
        exit(2);
    }

    return s;
}


static ngx_uint_t
ngx_test_str(ngx_str_t *s, const char *lit)
{
    return s->len == ngx_strlen(lit)
           && ngx_strncmp(s->data, lit, s->len) == 0;
}


static ngx_http_foundry_jwt_t *
ngx_test_parse(const char *name, ngx_int_t expect, const char *expect_err)
{
    char                     file[256], what[512];
    ngx_int_t                rc;
    ngx_str_t               *token;
    const char              *err;
    ngx_http_foundry_jwt_t  *jwt;

    snprintf(file, sizeof(file), "%s.jwt", name);

    token = ngx_test_file(file);

    jwt = ngx_palloc(ngx_test_pool, sizeof(ngx_http_foundry_jwt_t));
    if (jwt == NULL) {
        abort();
    }

    err = NULL;

    rc = ngx_http_foundry_jwt_parse(ngx_test_pool, token, 16384, jwt, &err);

    snprintf(what, sizeof(what), "parse %s: rc %d err \"%s\", expected %d"
             " \"%s\"", name, (int) rc, err ? err : "", (int) expect,
             expect_err ? expect_err : "");

    ngx_test_ok(rc == expect
                && (expect_err == NULL
                    || (err && ngx_strcmp(err, expect_err) == 0)),
                what);

    return (rc == NGX_OK) ? jwt : NULL;
}


static void
ngx_test_verify(const char *name, ngx_http_foundry_jwk_t *key,
    ngx_int_t expect, const char *expect_err)
{
    char                     what[512];
    ngx_int_t                rc;
    const char              *err;
    ngx_http_foundry_jwt_t  *jwt;

    jwt = ngx_test_parse(name, NGX_OK, NULL);
    if (jwt == NULL || key == NULL) {
        ngx_test_ok(0, name);
        return;
    }

    err = NULL;

    rc = ngx_http_foundry_jwt_verify(jwt, key, &err);

    snprintf(what, sizeof(what), "verify %s with \"%.*s\": rc %d err \"%s\","
             " expected %d \"%s\"", name, (int) key->kid.len, key->kid.data,
             (int) rc, err ? err : "", (int) expect,
             expect_err ? expect_err : "");

    ngx_test_ok(rc == expect
                && (expect_err == NULL
                    || (err && ngx_strcmp(err, expect_err) == 0)),
                what);
}


static ngx_http_foundry_jwk_t *
ngx_test_kid(const char *kid)
{
    ngx_uint_t               i;
    ngx_http_foundry_jwk_t  *keys;

    keys = ngx_test_set.keys.elts;

    for (i = 0; i < ngx_test_set.keys.nelts; i++) {
        if (ngx_test_str(&keys[i].kid, kid)) {
            return &keys[i];
        }
    }

    fprintf(stderr, "test_jwt: no key \"%s\"\n", kid);
    exit(2);
}


static ngx_int_t
ngx_test_jwks(const char *json, ngx_http_foundry_jwks_t *set,
    ngx_uint_t *skipped, const char **err)
{
    ngx_memzero(set, sizeof(ngx_http_foundry_jwks_t));

    *skipped = 0;
    *err = NULL;

    return ngx_http_foundry_jwks_parse(ngx_test_pool, (u_char *) json,
                                       ngx_strlen(json), set, skipped, err);
}


static void
ngx_test_keysets(void)
{
    char                      what[128];
    u_char                   *json, *p, *last;
    ngx_int_t                 rc;
    ngx_str_t                *text;
    ngx_uint_t                i, skipped;
    const char               *err;
    ngx_http_foundry_jwks_t   set;

    static const char        *bad[] = {
        "",
        "[]",
        "{}",
        "{\"keys\":{}}",
        "{\"keys\":[1]}",
        "{\"keys\":[[]]}",
        "{\"keys\":[],\"keys\":[]}",
        "{\"keys\":[{\"n\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":1}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"kty\":\"RSA\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":1,\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AA==\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"A+/A\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AAAA\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\","
            "\"y\":\"AAAA\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
            "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
            "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"x\":\"AAAA\"}]}",
        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}]}",
        "{\"keys\":[{\"kty\":\"oct\"}]}",
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"a b\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"use\":[\"sig\"]}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"key_ops\":\"verify\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"key_ops\":[1]}]}",
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0c2VjcmV0c2VjcmV0c2V"
            "jcmV0c2VjcmV0c2VjcmV0\"}, {\"kty\":\"RSA\"}]}",
        "{\"keys\":[",
        "{\"keys\":[]} []",
        NULL
    };

    text = ngx_test_file("jwks.json");

    ngx_memzero(&ngx_test_set, sizeof(ngx_http_foundry_jwks_t));

    ngx_test_ok(ngx_http_foundry_jwks_parse(ngx_test_pool, text->data,
                                            text->len, &ngx_test_set,
                                            &skipped, &err)
                == NGX_OK
                && ngx_test_set.keys.nelts == 7 && skipped == 0,
                "jwks.json: 7 keys");

    ngx_test_ok(ngx_test_kid("rsa-b-ps256")->alg
                == NGX_HTTP_FOUNDRY_JWT_PS256, "pinned alg kept");
    ngx_test_ok(ngx_test_kid("p521")->ec_bits == 521, "P-521 is 521 bits");
    ngx_test_ok(ngx_test_kid("hmac")->secret.len == 64, "oct k decoded");

    /*
     * jwks-mixed.json: the 7 keys, "ops-verify", and 11 skipped: 1024-bit
     * RSA, secp256k1, Ed448, "use": "enc", "key_ops" without "verify",
     * "alg": "RSA-OAEP", RSA with "alg": "ES256", a 16-byte secret, a
     * 32-byte secret pinned to HS512, "kty": "foo", P-384 pinned to ES256
     */

    text = ngx_test_file("jwks-mixed.json");

    ngx_memzero(&set, sizeof(ngx_http_foundry_jwks_t));

    rc = ngx_http_foundry_jwks_parse(ngx_test_pool, text->data, text->len,
                                     &set, &skipped, &err);

    snprintf(what, sizeof(what), "jwks-mixed.json: 8 keys, 11 skipped:"
             " rc %d, %lu keys, %lu skipped", (int) rc,
             (unsigned long) set.keys.nelts, (unsigned long) skipped);

    ngx_test_ok(rc == NGX_OK && set.keys.nelts == 8 && skipped == 11, what);

    /* the set need not be initialized: whatever it holds is ignored */

    ngx_memset(&set, 0xa5, sizeof(ngx_http_foundry_jwks_t));

    ngx_test_ok(ngx_http_foundry_jwks_parse(ngx_test_pool, text->data,
                                            text->len, &set, &skipped, &err)
                == NGX_OK && set.keys.nelts == 8,
                "jwks_parse() initializes the set");

    /* a 1024-bit RSA key is skipped */

    text = ngx_test_file("jwks-weak.json");

    ngx_memzero(&set, sizeof(ngx_http_foundry_jwks_t));

    ngx_test_ok(ngx_http_foundry_jwks_parse(ngx_test_pool, text->data,
                                            text->len, &set, &skipped, &err)
                == NGX_OK
                && set.keys.nelts == 0 && skipped == 1,
                "jwks-weak.json: RSA 1024 skipped");

    ngx_test_ok(ngx_test_jwks("{\"keys\":[]}", &set, &skipped, &err)
                == NGX_OK && set.keys.nelts == 0, "empty set");

    /* a bad key after good ones: the good ones are released at once */

    text = ngx_test_file("jwks.json");

    last = text->data + text->len;

    while (last > text->data && last[-1] != ']') {
        last--;
    }

    json = ngx_pnalloc(ngx_test_pool, text->len + 32);
    if (json == NULL || last == text->data) {
        abort();
    }

    p = ngx_cpymem(json, text->data, last - 1 - text->data);
    p = ngx_cpymem(p, ",{\"kty\":\"RSA\"}]}", 16);

    ngx_memzero(&set, sizeof(ngx_http_foundry_jwks_t));

    ngx_test_ok(ngx_http_foundry_jwks_parse(ngx_test_pool, json, p - json,
                                            &set, &skipped, &err)
                == NGX_ERROR && set.keys.nelts == 0
                && ngx_strcmp(err, "malformed RSA key") == 0,
                "a bad key fails the whole set");

    for (i = 0; bad[i]; i++) {
        ngx_test_ok(ngx_test_jwks(bad[i], &set, &skipped, &err) == NGX_ERROR
                    && set.keys.nelts == 0 && err != NULL, bad[i]);
    }
}


/* every good token verifies with its key, and with no other key */

static void
ngx_test_algorithms(void)
{
    char                     name[64], what[128];
    ngx_uint_t               i, k, n;
    const char              *err;
    ngx_http_foundry_jwt_t  *jwt;
    ngx_http_foundry_jwk_t  *keys, *key;

    keys = ngx_test_set.keys.elts;

    for (i = 0; ngx_test_algs[i]; i++) {

        jwt = ngx_test_parse(ngx_test_algs[i], NGX_OK, NULL);
        if (jwt == NULL) {
            continue;
        }

        key = ngx_http_foundry_jwks_find(&ngx_test_set, jwt);

        snprintf(what, sizeof(what), "%s: key found by kid",
                 ngx_test_algs[i]);
        ngx_test_ok(key != NULL && key->kid.len == jwt->kid.len
                    && ngx_memcmp(key->kid.data, jwt->kid.data,
                                  jwt->kid.len) == 0, what);

        n = 0;

        for (k = 0; k < ngx_test_set.keys.nelts; k++) {
            if (ngx_http_foundry_jwt_verify(jwt, &keys[k], &err) == NGX_OK) {
                n++;
                key = &keys[k];
            }
        }

        snprintf(what, sizeof(what), "%s: exactly one key verifies",
                 ngx_test_algs[i]);
        ngx_test_ok(n == 1 && key->kid.len == jwt->kid.len
                    && ngx_memcmp(key->kid.data, jwt->kid.data,
                                  jwt->kid.len) == 0, what);

        snprintf(name, sizeof(name), "%s-tampered", ngx_test_algs[i]);
        ngx_test_verify(name, key, NGX_DECLINED, "invalid signature");
    }

    ngx_test_verify("rs256-wrongkey", ngx_test_kid("rsa-a"), NGX_DECLINED,
                    "invalid signature");
    ngx_test_verify("es256-wrongkey", ngx_test_kid("p256-a"), NGX_DECLINED,
                    "invalid signature");
    ngx_test_verify("eddsa-wrongkey", ngx_test_kid("ed25519-a"),
                    NGX_DECLINED, "invalid signature");
    ngx_test_verify("hs256-wrongkey", ngx_test_kid("hmac"), NGX_DECLINED,
                    "invalid signature");

    /* ES256 with an ASN.1 DER signature instead of R || S */
    ngx_test_verify("es256-der", ngx_test_kid("p256-a"), NGX_DECLINED,
                    "invalid signature");

    /* the curve must be the algorithm's */
    ngx_test_verify("es256-as-es384", ngx_test_kid("p384"), NGX_DECLINED,
                    "invalid signature");
    ngx_test_verify("es256-as-es384", ngx_test_kid("p256-a"), NGX_DECLINED,
                    "key and algorithm do not match");

    /* RSA padding and PSS salt length are the algorithm's */
    ngx_test_verify("ps256-salt32", ngx_test_kid("rsa-a"), NGX_OK, NULL);
    ngx_test_verify("ps256-salt0", ngx_test_kid("rsa-a"), NGX_DECLINED,
                    "invalid signature");
    ngx_test_verify("ps256-salt64", ngx_test_kid("rsa-a"), NGX_DECLINED,
                    "invalid signature");
    ngx_test_verify("rs256-as-ps256", ngx_test_kid("rsa-a"), NGX_DECLINED,
                    "invalid signature");
    ngx_test_verify("ps256-as-rs256-a", ngx_test_kid("rsa-a"), NGX_DECLINED,
                    "invalid signature");

    /* a key's pinned "alg" */
    ngx_test_verify("ps256-as-rs256", ngx_test_kid("rsa-b-ps256"),
                    NGX_DECLINED, "key and algorithm do not match");
    ngx_test_verify("ps384", ngx_test_kid("rsa-b-ps256"), NGX_DECLINED,
                    "key and algorithm do not match");
}


static void
ngx_test_refused(void)
{
    ngx_str_t                token;
    const char              *err;
    ngx_http_foundry_jwt_t   jwt;

    static const char       *malformed[] = {
        "none", "jwe", "two-parts", "empty-sig", "empty-payload",
        "padded", "std-b64", "space", "noncanonical", "dup-header",
        "dup-claim", "header-array", "payload-string", "payload-trailing",
        "aud-number", "aud-mixed", "exp-string", "exp-huge", "iss-nul",
        "deep-bad", NULL
    };

    static const char       *unsupported[] = {
        "none-sig", "none-caps", "none-mixed", "unknown-alg",
        "lowercase-alg", NULL
    };

    const char             **p;

    for (p = malformed; *p; p++) {
        ngx_test_parse(*p, NGX_DECLINED, "malformed token");
    }

    for (p = unsupported; *p; p++) {
        ngx_test_parse(*p, NGX_DECLINED, "unsupported algorithm");
    }

    ngx_test_parse("crit", NGX_DECLINED, "unsupported header parameter");
    ngx_test_parse("b64-false", NGX_DECLINED, "unsupported header parameter");
    ngx_test_parse("b64-false-nocrit", NGX_DECLINED,
                   "unsupported header parameter");
    ngx_test_parse("b64-true", NGX_OK, NULL);
    ngx_test_parse("deep-ok", NGX_OK, NULL);

    /* the size limit */

    token = *ngx_test_file("rs256.jwt");

    ngx_test_ok(ngx_http_foundry_jwt_parse(ngx_test_pool, &token,
                                           token.len - 1, &jwt, &err)
                == NGX_DECLINED && ngx_strcmp(err, "token too large") == 0,
                "token too large");

    ngx_test_ok(ngx_http_foundry_jwt_parse(ngx_test_pool, &token, token.len,
                                           &jwt, &err)
                == NGX_OK, "token at the size limit");

    ngx_str_set(&token, "");
    ngx_test_ok(ngx_http_foundry_jwt_parse(ngx_test_pool, &token, 0, &jwt, &err)
                == NGX_DECLINED, "empty token");

    ngx_str_set(&token, "..");
    ngx_test_ok(ngx_http_foundry_jwt_parse(ngx_test_pool, &token, 0, &jwt, &err)
                == NGX_DECLINED, "two dots");
}


/* an RSA public key is never an HMAC secret, nor a secret an RSA key */

static void
ngx_test_confusion(void)
{
    ngx_str_t               *pem;
    const char              *err;
    ngx_http_foundry_jwk_t   oct, rsa;

    pem = ngx_test_file("rsa-a.pub.pem");

    ngx_test_ok(ngx_http_foundry_jwk_secret(ngx_test_pool, pem, &oct, &err)
                == NGX_ERROR, "a PEM text is refused as a secret");

    /* the token is HS256 keyed with that PEM text, "kid": "rsa-a" */

    ngx_test_verify("hs256-confusion", ngx_test_kid("rsa-a"), NGX_DECLINED,
                    "key and algorithm do not match");

    ngx_test_ok(ngx_http_foundry_jwks_find(&ngx_test_set,
                                           ngx_test_parse("hs256-confusion",
                                                          NGX_OK, NULL))
                == NULL, "no key found for the confused token");

    ngx_test_ok(ngx_http_foundry_jwk_pem(ngx_test_pool, pem, &rsa, &err)
                == NGX_OK, "RSA PEM loaded");
    ngx_test_verify("hs256-confusion", &rsa, NGX_DECLINED,
                    "key and algorithm do not match");

    /* even a secret made of the PEM text by hand does not verify RS256 */

    ngx_memzero(&oct, sizeof(ngx_http_foundry_jwk_t));
    oct.kty = NGX_HTTP_FOUNDRY_JWK_OCT;
    oct.secret = *pem;

    ngx_test_verify("rs256", &oct, NGX_DECLINED,
                    "key and algorithm do not match");

    /* (and the vector is right: that secret does make its HS256) */
    ngx_test_verify("hs256-confusion", &oct, NGX_OK, NULL);

    /* nor does an RSA key with its secret's bytes */
    oct.pkey = rsa.pkey;
    ngx_test_verify("hs256-confusion", &oct, NGX_DECLINED,
                    "key and algorithm do not match");
}


static void
ngx_test_claims(void)
{
    ngx_str_t                     *aud, name;
    ngx_http_foundry_jwt_t        *jwt;
    ngx_http_foundry_jwt_claim_t  *c;

    jwt = ngx_test_parse("rs256", NGX_OK, NULL);
    if (jwt == NULL) {
        return;
    }

    ngx_test_ok(jwt->alg == NGX_HTTP_FOUNDRY_JWT_RS256, "alg");
    ngx_test_ok(ngx_test_str(&jwt->kid, "rsa-a"), "kid");
    ngx_test_ok(ngx_test_str(&jwt->typ, "JWT"), "typ");
    ngx_test_ok(ngx_test_str(&jwt->iss,
                             "https://login.example.test/tenant/v2.0"),
                "iss");
    ngx_test_ok(ngx_test_str(&jwt->sub, "agent-0001"), "sub");
    ngx_test_ok(jwt->has_exp && jwt->exp == 4102444800LL, "exp");
    ngx_test_ok(jwt->has_nbf && jwt->nbf == 1700000000, "nbf");
    ngx_test_ok(jwt->has_iat && jwt->iat == 1700000000, "iat");
    ngx_test_ok(jwt->signature.len == 256, "RS256 signature is 256 bytes");

    aud = jwt->aud ? jwt->aud->elts : NULL;

    ngx_test_ok(aud && jwt->aud->nelts == 2
                && ngx_test_str(&aud[0], "api://foundry-gateway")
                && ngx_test_str(&aud[1], "https://ai.example.test"),
                "aud array");

    ngx_str_set(&name, "roles");
    c = ngx_http_foundry_jwt_claim(jwt, &name);

    ngx_test_ok(c && c->type == NGX_HTTP_FOUNDRY_CLAIM_ARRAY && c->strings
                && c->items->nelts == 2
                && ngx_test_str(&((ngx_str_t *) c->items->elts)[1],
                                "Models.Read")
                && ngx_test_str(&c->value,
                                "[\"Models.Invoke\",\"Models.Read\"]"),
                "roles array");

    ngx_str_set(&name, "xms");
    c = ngx_http_foundry_jwt_claim(jwt, &name);

    ngx_test_ok(c && c->type == NGX_HTTP_FOUNDRY_CLAIM_OBJECT
                && ngx_test_str(&c->value,
                                "{\"nested\":[1,2.5,\"three\",true,null]}"),
                "object claim as raw JSON");

    ngx_str_set(&name, "scp");
    c = ngx_http_foundry_jwt_claim(jwt, &name);

    ngx_test_ok(c && c->type == NGX_HTTP_FOUNDRY_CLAIM_STRING
                && ngx_test_str(&c->value, "user_impersonation"),
                "string claim");

    ngx_str_set(&name, "nope");
    ngx_test_ok(ngx_http_foundry_jwt_claim(jwt, &name) == NULL,
                "absent claim");

    ngx_str_set(&name, "typ");
    c = ngx_http_foundry_jwt_header(jwt, &name);
    ngx_test_ok(c && ngx_test_str(&c->value, "JWT"), "header member");

    jwt = ngx_test_parse("aud-string", NGX_OK, NULL);

    ngx_test_ok(jwt && jwt->aud && jwt->aud->nelts == 1
                && ngx_test_str(jwt->aud->elts, "api://one"),
                "aud string");

    jwt = ngx_test_parse("exp-fraction", NGX_OK, NULL);

    ngx_test_ok(jwt && jwt->exp == 1700000000 && jwt->nbf == -2
                && jwt->iat == 1700000000 && !jwt->aud,
                "fractional and exponent times, floored");

    jwt = ngx_test_parse("deep-ok", NGX_OK, NULL);

    ngx_str_set(&name, "d");
    c = jwt ? ngx_http_foundry_jwt_claim(jwt, &name) : NULL;

    ngx_test_ok(c && c->type == NGX_HTTP_FOUNDRY_CLAIM_ARRAY && !c->strings
                && c->items->nelts == 1 && c->value.len == 60,
                "nested arrays");
}


static void
ngx_test_find(void)
{
    ngx_http_foundry_jwt_t  *jwt;
    ngx_http_foundry_jwk_t  *key;

    /* no "kid": the only key that fits */

    jwt = ngx_test_parse("no-kid", NGX_OK, NULL);
    key = jwt ? ngx_http_foundry_jwks_find(&ngx_test_set, jwt) : NULL;
    ngx_test_ok(key && ngx_test_str(&key->kid, "hmac"), "HS256 without kid");

    /* rsa-b-ps256 is pinned to PS256, so rsa-a is the only RS256 key */

    jwt = ngx_test_parse("rs256-nokid", NGX_OK, NULL);
    key = jwt ? ngx_http_foundry_jwks_find(&ngx_test_set, jwt) : NULL;
    ngx_test_ok(key && ngx_test_str(&key->kid, "rsa-a"), "RS256 without kid");

    /* a "kid" of a key that does not fit is no match */

    jwt = ngx_test_parse("ps256-as-rs256", NGX_OK, NULL);
    ngx_test_ok(jwt && ngx_http_foundry_jwks_find(&ngx_test_set, jwt) == NULL,
                "kid of a key pinned to another alg");

    jwt = ngx_test_parse("es256-as-es384", NGX_OK, NULL);
    key = jwt ? ngx_http_foundry_jwks_find(&ngx_test_set, jwt) : NULL;
    ngx_test_ok(key && ngx_test_str(&key->kid, "p384"), "ES384 by kid");
}


static ngx_http_foundry_jwk_t *
ngx_test_pem(const char *name, ngx_int_t expect)
{
    char                     what[256];
    ngx_int_t                rc;
    const char              *err;
    ngx_http_foundry_jwk_t  *key;

    key = ngx_pcalloc(ngx_test_pool, sizeof(ngx_http_foundry_jwk_t));
    if (key == NULL) {
        abort();
    }

    err = NULL;

    rc = ngx_http_foundry_jwk_pem(ngx_test_pool, ngx_test_file(name), key,
                                  &err);

    snprintf(what, sizeof(what), "PEM %s: rc %d \"%s\"", name, (int) rc,
             err ? err : "");

    ngx_test_ok(rc == expect && (rc == NGX_OK) == (err == NULL), what);

    return (rc == NGX_OK) ? key : NULL;
}


static void
ngx_test_pems(void)
{
    BIO                     *bio;
    ngx_str_t                garbage, *pem;
    const char              *err;
    ngx_http_foundry_jwk_t  *key, weak;

    key = ngx_test_pem("rsa-a.pub.pem", NGX_OK);
    ngx_test_verify("rs256", key, NGX_OK, NULL);
    ngx_test_verify("ps512", key, NGX_OK, NULL);

    key = ngx_test_pem("rsa-a.pkcs1.pem", NGX_OK);
    ngx_test_verify("rs384", key, NGX_OK, NULL);

    key = ngx_test_pem("rsa-a.crt.pem", NGX_OK);
    ngx_test_verify("rs512", key, NGX_OK, NULL);

    key = ngx_test_pem("p256-a.pub.pem", NGX_OK);
    ngx_test_ok(key && key->kty == NGX_HTTP_FOUNDRY_JWK_EC
                && key->ec_bits == 256, "P-256 PEM");
    ngx_test_verify("es256", key, NGX_OK, NULL);
    ngx_test_verify("es384", key, NGX_DECLINED,
                    "key and algorithm do not match");

    ngx_test_verify("es384", ngx_test_pem("p384.pub.pem", NGX_OK), NGX_OK,
                    NULL);
    ngx_test_verify("es512", ngx_test_pem("p521.pub.pem", NGX_OK), NGX_OK,
                    NULL);
    ngx_test_verify("eddsa", ngx_test_pem("ed25519-a.pub.pem", NGX_OK),
                    NGX_OK, NULL);

    ngx_test_pem("rsa1024.pub.pem", NGX_ERROR);
    ngx_test_pem("secp256k1.pub.pem", NGX_ERROR);
    ngx_test_pem("ed448.pub.pem", NGX_ERROR);
    ngx_test_pem("p256-a.key.pem", NGX_ERROR);
    ngx_test_pem("hmac.secret", NGX_ERROR);

    ngx_str_set(&garbage, "-----BEGIN PUBLIC KEY-----\nAAAA\n"
                          "-----END PUBLIC KEY-----\n");
    ngx_test_ok(ngx_http_foundry_jwk_pem(ngx_test_pool, &garbage, &weak, &err)
                == NGX_ERROR, "PEM with a bad body");

    /* a 1024-bit RSA key made behind the loaders' back fails at verify */

    pem = ngx_test_file("rsa1024.pub.pem");

    bio = BIO_new_mem_buf(pem->data, (int) pem->len);
    if (bio == NULL) {
        abort();
    }

    ngx_memzero(&weak, sizeof(ngx_http_foundry_jwk_t));
    weak.kty = NGX_HTTP_FOUNDRY_JWK_RSA;
    weak.pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

    BIO_free(bio);

    ngx_test_ok(weak.pkey != NULL, "RSA 1024 read by OpenSSL");
    ngx_test_verify("rs256", &weak, NGX_DECLINED, "key too weak");

    EVP_PKEY_free(weak.pkey);
}


static void
ngx_test_secrets(void)
{
    ngx_str_t                secret;
    const char              *err;
    ngx_http_foundry_jwk_t   key;

    ngx_test_ok(ngx_http_foundry_jwk_secret(ngx_test_pool,
                                            ngx_test_file("hmac.secret"),
                                            &key, &err)
                == NGX_OK, "secret loaded");

    ngx_test_verify("hs256", &key, NGX_OK, NULL);
    ngx_test_verify("hs384", &key, NGX_OK, NULL);
    ngx_test_verify("hs512", &key, NGX_OK, NULL);
    ngx_test_verify("rs256", &key, NGX_DECLINED,
                    "key and algorithm do not match");
    ngx_test_verify("eddsa", &key, NGX_DECLINED,
                    "key and algorithm do not match");

    key.alg = NGX_HTTP_FOUNDRY_JWT_HS512;
    ngx_test_verify("hs256", &key, NGX_DECLINED,
                    "key and algorithm do not match");

    /* HS512 needs a 64-byte secret */

    ngx_str_set(&secret, "0123456789abcdef0123456789abcdef");
    ngx_test_ok(ngx_http_foundry_jwk_secret(ngx_test_pool, &secret, &key, &err)
                == NGX_OK, "32-byte secret");
    ngx_test_verify("hs512", &key, NGX_DECLINED, "key too weak");
    ngx_test_verify("hs256", &key, NGX_DECLINED, "invalid signature");

    ngx_str_set(&secret, "0123456789abcdef0123456789abcde");
    ngx_test_ok(ngx_http_foundry_jwk_secret(ngx_test_pool, &secret, &key, &err)
                == NGX_ERROR, "31-byte secret refused");
}
