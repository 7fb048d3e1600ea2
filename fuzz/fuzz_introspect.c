
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: the input as an OAuth 2.0 token introspection answer
 * (RFC 7662), as the gateway reads it from an issuer.  An answer that
 * passes has a boolean "active", registered claims of their JWT types
 * (times in range, "aud" strings without NUL), and "scope", "client_id",
 * "username", "token_type" strings without NUL: what the checks and the
 * $foundry_jwt_* variables rely on.  A refused one says why.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"
#include "ngx_http_foundry_jwt.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ngx_fuzz_no_nul(ngx_str_t *s);


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
    u_char                        *copy;
    ngx_int_t                      rc;
    ngx_str_t                      text, name, *aud;
    ngx_uint_t                     i, active;
    ngx_pool_t                    *pool;
    const char                    *err;
    ngx_http_foundry_jwt_t         jwt;
    ngx_http_foundry_jwt_claim_t  *c;

    static ngx_str_t  strings[] = {
        ngx_string("scope"),
        ngx_string("client_id"),
        ngx_string("username"),
        ngx_string("token_type"),
        ngx_null_string
    };

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    /* a copy of its own: the parse must not read past the answer */

    copy = ngx_pnalloc(pool, size ? size : 1);
    if (copy == NULL) {
        abort();
    }

    ngx_memcpy(copy, data, size);

    text.data = copy;
    text.len = size;

    err = NULL;
    active = 2;

    rc = ngx_http_foundry_introspect_parse(pool, &text, &jwt, &active, &err);

    if (rc == NGX_ERROR) {
        abort();
    }

    if (rc != NGX_OK) {
        if (err == NULL) {
            abort();
        }

        ngx_destroy_pool(pool);
        return 0;
    }

    if (active > 1) {
        abort();
    }

    ngx_str_set(&name, "active");
    c = ngx_http_foundry_jwt_claim(&jwt, &name);

    if (c == NULL || c->type != NGX_HTTP_FOUNDRY_CLAIM_BOOL
        || (c->value.len == 4) != active)
    {
        abort();
    }

    for (i = 0; strings[i].len; i++) {
        c = ngx_http_foundry_jwt_claim(&jwt, &strings[i]);

        if (c == NULL) {
            continue;
        }

        if (c->type != NGX_HTTP_FOUNDRY_CLAIM_STRING) {
            abort();
        }

        ngx_fuzz_no_nul(&c->value);
    }

    ngx_fuzz_no_nul(&jwt.iss);
    ngx_fuzz_no_nul(&jwt.sub);

    if (jwt.aud) {
        aud = jwt.aud->elts;

        for (i = 0; i < jwt.aud->nelts; i++) {
            ngx_fuzz_no_nul(&aud[i]);
        }
    }

    if ((jwt.has_exp && (jwt.exp > 9007199254740991LL
                         || jwt.exp < -9007199254740991LL))
        || (jwt.has_nbf && (jwt.nbf > 9007199254740991LL
                            || jwt.nbf < -9007199254740991LL)))
    {
        abort();
    }

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_no_nul(ngx_str_t *s)
{
    if (s->len && ngx_strlchr(s->data, s->data + s->len, '\0') != NULL) {
        abort();
    }
}
