
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_FUZZ_H_INCLUDED_
#define _NGX_FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_FUZZ_MAX_CUTS  8


/* where an input is cut into buffers, and what it is once they are off */

typedef struct {
    u_char      *data;
    size_t       len;
    ngx_uint_t   ncuts;
    size_t       cuts[NGX_FUZZ_MAX_CUTS];
} ngx_fuzz_split_t;


/* what nginx's main() would have set up; returns a log to stderr */
ngx_log_t *ngx_fuzz_init(void);

/* reads a whole file into "pool"; NULL on failure (tests only) */
u_char *ngx_fuzz_read_file(ngx_pool_t *pool, const char *name, size_t *len);

/* a request with a pool and a connection (for its log), nothing more */
ngx_http_request_t *ngx_fuzz_request(ngx_pool_t *pool);

/* reads the cuts that prefix an input: see ngx_fuzz.c */
void ngx_fuzz_split(const uint8_t *data, size_t size, ngx_fuzz_split_t *s);

/*
 * the payload as a chain of memory buffers: cut where "s" says, or every
 * "step" bytes if "s" is NULL; NULL on failure
 */
ngx_chain_t *ngx_fuzz_chain(ngx_pool_t *pool, ngx_fuzz_split_t *split,
    u_char *data, size_t len, size_t step);


#endif /* _NGX_FUZZ_H_INCLUDED_ */
