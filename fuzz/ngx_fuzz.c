
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * Links nginx's objects without objs/src/core/nginx.o (which holds main())
 * into a fuzzer or a unit test: the few symbols that nginx.o defines and
 * other objects refer to, and the process set-up main() would have done.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fuzz.h"


static ngx_open_file_t  ngx_fuzz_log_file;
static ngx_log_t        ngx_fuzz_log;
static ngx_cycle_t      ngx_fuzz_cycle;


/* nginx.o: the "core" module, referred to by ngx_modules.c and others */

static ngx_core_module_t  ngx_fuzz_core_module_ctx = {
    ngx_string("core"),
    NULL,
    NULL
};


ngx_module_t  ngx_core_module = {
    NGX_MODULE_V1,
    &ngx_fuzz_core_module_ctx,             /* module context */
    NULL,                                  /* module directives */
    NGX_CORE_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* nginx.o: used by the process cycles, never called here */

ngx_pid_t
ngx_exec_new_binary(ngx_cycle_t *cycle, char *const *argv)
{
    return NGX_INVALID_PID;
}


char **
ngx_set_environment(ngx_cycle_t *cycle, ngx_uint_t *last)
{
    return NULL;
}


#if (NGX_HAVE_CPU_AFFINITY)

ngx_cpuset_t *
ngx_get_cpu_affinity(ngx_uint_t n)
{
    return NULL;
}

#endif


ngx_log_t *
ngx_fuzz_init(void)
{
    char        *level;
    ngx_uint_t   n;

    if (ngx_fuzz_log.file != NULL) {
        return &ngx_fuzz_log;
    }

    ngx_pid = ngx_getpid();
    ngx_pagesize = getpagesize();
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    for (n = ngx_pagesize; n >>= 1; ngx_pagesize_shift++) { /* void */ }

    ngx_time_init();

    ngx_fuzz_log_file.fd = ngx_stderr;
    ngx_fuzz_log.file = &ngx_fuzz_log_file;

    /* quiet by default: NGX_FUZZ_LOG=debug shows everything */

    level = getenv("NGX_FUZZ_LOG");
    ngx_fuzz_log.log_level = (level && ngx_strcmp(level, "debug") == 0)
                             ? NGX_LOG_DEBUG_ALL : NGX_LOG_EMERG;

    ngx_fuzz_cycle.log = &ngx_fuzz_log;
    ngx_cycle = &ngx_fuzz_cycle;

    return &ngx_fuzz_log;
}


u_char *
ngx_fuzz_read_file(ngx_pool_t *pool, const char *name, size_t *len)
{
    FILE    *f;
    long     size;
    u_char  *p;

    f = fopen(name, "rb");
    if (f == NULL) {
        return NULL;
    }

    p = NULL;

    if (fseek(f, 0, SEEK_END) == 0
        && (size = ftell(f)) >= 0
        && fseek(f, 0, SEEK_SET) == 0)
    {
        p = ngx_pnalloc(pool, size + 1);

        if (p != NULL) {
            if (fread(p, 1, size, f) == (size_t) size) {
                p[size] = '\0';
                *len = size;

            } else {
                p = NULL;
            }
        }
    }

    fclose(f);

    return p;
}
