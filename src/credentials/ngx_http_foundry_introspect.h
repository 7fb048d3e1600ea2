
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_INTROSPECT_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_INTROSPECT_H_INCLUDED_


/*
 * Opaque tokens' introspection, shared by ngx_http_foundry_introspect.c
 * (the check) and ngx_http_foundry_introspect_conf.c (the directive)
 */


#include "ngx_http_foundry_common.h"


/* foundry_token_introspection */

typedef struct ngx_http_foundry_introspect_s {
    ngx_str_t                       location;
    ngx_str_t                       client_id;
    ngx_str_t                       basic;       /* "Basic ..." */
    ngx_str_t                       issuer;      /* may be empty */
    ngx_array_t                    *audiences;   /* ngx_str_t, or NULL */
    time_t                          cache;
    time_t                          inactive_cache;

    /* the digest of the configuration, part of a token's cache key */
    u_char                          id[NGX_HTTP_FOUNDRY_DIGEST_LEN];
} ngx_http_foundry_introspect_t;


/* ngx_http_foundry_introspect.c */

u_char *ngx_http_foundry_form_escape(u_char *dst, ngx_str_t *src);


#endif /* _NGX_HTTP_FOUNDRY_INTROSPECT_H_INCLUDED_ */
