
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: the input as an OpenID Connect discovery document,
 * then its "issuer" and "jwks_uri" checked against issuers of both
 * schemes.  A document that passes gives strings that are what the key
 * set fetch relies on: the issuer exactly, an absolute http(s) URL with
 * a host and no blank or control character.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ngx_fuzz_check_uri(ngx_str_t *iss, ngx_str_t *uri);


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
    ngx_int_t    rc;
    ngx_str_t    issuer, jwks_uri, iss;
    ngx_uint_t   i;
    ngx_pool_t  *pool;
    const char  *err;

    static ngx_str_t  issuers[] = {
        ngx_string("https://login.microsoftonline.com/t/v2.0"),
        ngx_string("http://idp.test/"),
        ngx_null_string
    };

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    err = NULL;

    rc = ngx_http_foundry_oidc_parse(pool, (u_char *) data, size, &issuer,
                                     &jwks_uri, &err);

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

    if (issuer.data == NULL || jwks_uri.data == NULL) {
        abort();
    }

    /* the document's own issuer, then fixed ones */

    for (i = 0; ; i++) {
        iss = (i == 0) ? issuer : issuers[i - 1];

        if (iss.data == NULL) {
            break;
        }

        err = NULL;

        if (ngx_http_foundry_oidc_check(&iss, &issuer, &jwks_uri, &err)
            == NGX_OK)
        {
            if (iss.len != issuer.len
                || ngx_memcmp(iss.data, issuer.data, iss.len) != 0)
            {
                abort();
            }

            ngx_fuzz_check_uri(&iss, &jwks_uri);

        } else if (err == NULL) {
            abort();
        }
    }

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_check_uri(ngx_str_t *iss, ngx_str_t *uri)
{
    size_t   i, skip;
    u_char   c;

    if (uri->len > 8 && ngx_strncasecmp(uri->data, (u_char *) "https://", 8)
                        == 0)
    {
        skip = 8;

    } else if (uri->len > 7
               && ngx_strncasecmp(uri->data, (u_char *) "http://", 7) == 0
               && iss->len > 7
               && ngx_strncasecmp(iss->data, (u_char *) "http://", 7) == 0)
    {
        skip = 7;

    } else {
        abort();
    }

    if (uri->data[skip] == '/' || uri->data[skip] == '?'
        || uri->data[skip] == '#')
    {
        abort();
    }

    for (i = 0; i < uri->len; i++) {
        c = uri->data[i];

        if (c <= ' ' || c >= 0x7f) {
            abort();
        }
    }
}
