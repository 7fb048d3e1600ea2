
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_FUZZ_H_INCLUDED_
#define _NGX_FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* what nginx's main() would have set up; returns a log to stderr */
ngx_log_t *ngx_fuzz_init(void);

/* reads a whole file into "pool"; NULL on failure (tests only) */
u_char *ngx_fuzz_read_file(ngx_pool_t *pool, const char *name, size_t *len);


#endif /* _NGX_FUZZ_H_INCLUDED_ */
