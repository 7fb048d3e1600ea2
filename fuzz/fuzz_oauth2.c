
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: a token request of the gateway's OAuth2 token
 * endpoint.  The input up to its first newline is the Authorization
 * header's value, the rest the form body; both go through
 * ngx_http_foundry_oauth2_parse() as the endpoint does.  A refused
 * request has an RFC 6749 error code and a description; an accepted one
 * has a grant type and client credentials.  The body is also parsed as a
 * scope parameter (the clients' "scope" metadata is parsed so).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


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
    u_char                         *copy, *nl;
    ngx_int_t                       rc;
    ngx_str_t                       body, auth;
    ngx_str_t                       scopes[NGX_HTTP_FOUNDRY_OAUTH2_MAX_SCOPES];
    ngx_uint_t                      i, n;
    ngx_pool_t                     *pool;
    const char                     *err, *desc;
    ngx_http_foundry_oauth2_req_t   req;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    /* an exact copy: a read past the input is a read past its buffer */

    copy = ngx_alloc(size ? size : 1, ngx_fuzz_log);
    if (copy == NULL) {
        abort();
    }

    ngx_memcpy(copy, data, size);

    nl = ngx_strlchr(copy, copy + size, '\n');

    auth.data = copy;
    auth.len = nl ? (size_t) (nl - copy) : 0;
    body.data = nl ? nl + 1 : copy;
    body.len = copy + size - body.data;

    err = NULL;
    desc = NULL;

    rc = ngx_http_foundry_oauth2_parse(pool, &body, &auth, &req, &err, &desc);

    if (rc == NGX_DECLINED && (err == NULL || desc == NULL)) {
        fprintf(stderr, "fuzz_oauth2: refused without an error\n");
        abort();
    }

    if (rc == NGX_OK
        && (req.grant_type.len == 0 || req.client_id.len == 0
            || req.client_secret.len == 0))
    {
        fprintf(stderr, "fuzz_oauth2: accepted without credentials\n");
        abort();
    }

    if (ngx_http_foundry_oauth2_scopes(&body, scopes,
                                       NGX_HTTP_FOUNDRY_OAUTH2_MAX_SCOPES, &n)
        == NGX_OK)
    {
        for (i = 0; i < n; i++) {
            if (scopes[i].len == 0
                || scopes[i].data < body.data
                || scopes[i].data + scopes[i].len > body.data + body.len)
            {
                fprintf(stderr, "fuzz_oauth2: a scope out of the text\n");
                abort();
            }
        }
    }

    ngx_free(copy);
    ngx_destroy_pool(pool);

    return 0;
}
