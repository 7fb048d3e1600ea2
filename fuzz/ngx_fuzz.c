
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
#include <ngx_http.h>

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


/*
 * Parsers that are fed buffer by buffer take an input prefixed by where
 * to cut it: one byte, the number of cuts modulo NGX_FUZZ_MAX_CUTS + 1,
 * then each cut as two bytes (little-endian), taken modulo the payload's
 * length plus one.  Inputs too short for their cuts have none.
 */

void
ngx_fuzz_split(const uint8_t *data, size_t size, ngx_fuzz_split_t *s)
{
    size_t      n, cut, t;
    ngx_uint_t  i, j;

    ngx_memzero(s, sizeof(ngx_fuzz_split_t));

    if (size == 0) {
        s->data = (u_char *) data;
        return;
    }

    n = data[0] % (NGX_FUZZ_MAX_CUTS + 1);

    if (size < 1 + 2 * n) {
        n = 0;
    }

    s->data = (u_char *) data + 1 + 2 * n;
    s->len = size - 1 - 2 * n;

    for (i = 0; i < n; i++) {
        cut = data[1 + 2 * i] | (data[2 + 2 * i] << 8);
        cut %= s->len + 1;

        /* in order */

        for (j = s->ncuts; j > 0 && s->cuts[j - 1] > cut; j--) {
            s->cuts[j] = s->cuts[j - 1];
        }

        s->cuts[j] = cut;
        s->ncuts++;
    }

    t = 0;

    for (i = 0; i < s->ncuts; i++) {
        if (s->cuts[i] < t) {
            abort();
        }

        t = s->cuts[i];
    }
}


ngx_chain_t *
ngx_fuzz_chain(ngx_pool_t *pool, ngx_fuzz_split_t *split, u_char *data,
    size_t len, size_t step)
{
    size_t        from, to;
    ngx_buf_t    *b;
    ngx_uint_t    i;
    ngx_chain_t  *out, **ll, *cl;

    out = NULL;
    ll = &out;
    from = 0;
    i = 0;

    for ( ;; ) {
        if (split) {
            to = (i < split->ncuts) ? split->cuts[i++] : len;

        } else {
            to = ngx_min(from + step, len);
        }

        /* an empty buffer now and then, as nginx may pass one */

        b = ngx_calloc_buf(pool);
        if (b == NULL) {
            return NULL;
        }

        /* a copy of its own, so that ASan sees reads past its end */

        b->start = ngx_pnalloc(pool, to > from ? to - from : 1);
        if (b->start == NULL) {
            return NULL;
        }

        ngx_memcpy(b->start, data + from, to - from);
        b->end = b->start + (to - from);

        b->pos = b->start;
        b->last = b->end;
        b->memory = 1;

        cl = ngx_alloc_chain_link(pool);
        if (cl == NULL) {
            return NULL;
        }

        cl->buf = b;
        *ll = cl;
        ll = &cl->next;

        from = to;

        if (from >= len && (split == NULL || i >= split->ncuts)) {
            break;
        }
    }

    *ll = NULL;

    b->last_buf = 1;

    return out;
}


ngx_http_request_t *
ngx_fuzz_request(ngx_pool_t *pool)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));

    if (r == NULL || c == NULL) {
        return NULL;
    }

    c->log = pool->log;
    c->pool = pool;

    r->pool = pool;
    r->connection = c;
    r->main = r;
    r->headers_in.content_length_n = -1;

    return r;
}
