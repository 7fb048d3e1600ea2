
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: the input as a subscription keys file (foundry_keys_zone
 * file=), built into a key set by ngx_http_foundry_keyset_build() as when
 * the configuration is read or a worker re-reads the file.  A file that is
 * refused has a message; one that is not has a set.
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
    u_char                     *text, err[NGX_MAX_CONF_ERRSTR];
    ngx_pool_t                 *pool;
    ngx_http_foundry_keyset_t  *set;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    /* as read from the file: NUL-terminated */

    text = ngx_pnalloc(pool, size + 1);
    if (text == NULL) {
        abort();
    }

    ngx_memcpy(text, data, size);
    text[size] = '\0';

    ngx_memset(err, 'x', sizeof(err));
    err[sizeof(err) - 1] = '\0';

    set = ngx_http_foundry_keyset_build(pool, text, err, sizeof(err));

    if (set == NULL) {

        /* a message, terminated, that is not what was there before */

        if (err[0] == '\0' || err[0] == 'x'
            || ngx_strlen(err) >= sizeof(err) - 1)
        {
            fprintf(stderr, "fuzz_keys: no message: \"%.40s\"\n", err);
            abort();
        }
    }

    ngx_destroy_pool(pool);

    return 0;
}
