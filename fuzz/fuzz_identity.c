
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: the input as a token endpoint's answer (managed
 * identity, Entra ID, OAuth2) read by ngx_http_foundry_identity_parse().
 * An answer accepted gives what the credential zone and the upstream's
 * Authorization header rely on: a token of 1 to 16384 visible ASCII
 * bytes, and an "expires_in" or "expires_on" of ten digits at most; an
 * answer refused says why.
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
    u_char                        *p;
    ngx_int_t                      rc;
    ngx_pool_t                    *pool;
    const char                    *err;
    ngx_http_foundry_id_answer_t   a;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    err = NULL;

    rc = ngx_http_foundry_identity_parse(pool, (u_char *) data, size, &a,
                                         &err);

    if (rc != NGX_OK) {
        if (rc != NGX_ERROR || err == NULL) {
            abort();
        }

        ngx_destroy_pool(pool);
        return 0;
    }

    if (a.token.data == NULL || a.token.len == 0
        || a.token.len > NGX_HTTP_FOUNDRY_ID_TOKEN_MAX)
    {
        abort();
    }

    for (p = a.token.data; p < a.token.data + a.token.len; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            abort();
        }
    }

    if ((a.expires_in < 0 && a.expires_on < 0)
        || a.expires_in > 9999999999LL || a.expires_on > 9999999999LL)
    {
        abort();
    }

    ngx_destroy_pool(pool);

    return 0;
}
