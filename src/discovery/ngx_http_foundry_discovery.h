
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_DISCOVERY_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_DISCOVERY_H_INCLUDED_


#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"


typedef struct ngx_http_foundry_discovery_source_s
    ngx_http_foundry_discovery_source_t;
typedef struct ngx_http_foundry_list_s          ngx_http_foundry_list_t;


/* the discovery sources' fetches in a request (ctx->sources) */

typedef struct ngx_http_foundry_sources_ctx_s   ngx_http_foundry_sources_ctx_t;

struct ngx_http_foundry_sources_ctx_s {
    /* fetches under way, a list fetched here and its source */
    ngx_uint_t                      pending;
    ngx_http_foundry_list_t        *fresh;
    ngx_http_foundry_discovery_source_t *fresh_src;

    /* the sources' upstream credentials' tokens, the next one to get */
    ngx_str_t                      *bearers;
    ngx_uint_t                      next;

    unsigned                        fetched:1;
};


/* one pair of discovery endpoints and its output format */

struct ngx_http_foundry_discovery_s {
    ngx_str_t                       list;
    ngx_str_t                       get;
    ngx_str_t                       get_prefix;
    ngx_str_t                       get_suffix;
    ngx_uint_t                      format;
};


/* a discovery source: an internal location listing deployments */

struct ngx_http_foundry_discovery_source_s {
    ngx_str_t                       uri;
    ngx_str_t                       key;
    ngx_shm_zone_t                 *zone;
    ngx_str_t                       upstream_name;
    ngx_http_foundry_upstream_t    *upstream;
    ngx_msec_t                      ttl;
};


typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    void                           *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_foundry_sources_zone_t;


typedef struct {
    ngx_regex_t                    *regex;
    ngx_str_t                       pattern;
    ngx_uint_t                      include;
} ngx_http_foundry_discovery_filter_t;


/* a deployment of a discovered list: offsets into the list's block */

typedef struct {
    uint32_t                        off[6];
    uint32_t                        len[6];
} ngx_http_foundry_found_t;


#define NGX_HTTP_FOUNDRY_F_NAME             0
#define NGX_HTTP_FOUNDRY_F_MODEL            1
#define NGX_HTTP_FOUNDRY_F_VERSION          2
#define NGX_HTTP_FOUNDRY_F_FORMAT           3
#define NGX_HTTP_FOUNDRY_F_AZURE            4
#define NGX_HTTP_FOUNDRY_F_OPENAI           5


struct ngx_http_foundry_list_s {
    size_t                          size;
    uint32_t                        n;
    ngx_http_foundry_found_t        found[1];
};

typedef struct {
    ngx_http_foundry_ctx_t         *ctx;
    ngx_http_foundry_discovery_source_t *src;
    ngx_http_foundry_collect_t     *collect;
    ngx_uint_t                      done;
} ngx_http_foundry_fetch_t;


/* ngx_http_foundry_discovery.c */

ngx_int_t ngx_http_foundry_discovery_handler(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);


/* ngx_http_foundry_export.c */

/* the metadata values that are JSON */
#define NGX_HTTP_FOUNDRY_EXPORT_MODELS      1
#define NGX_HTTP_FOUNDRY_EXPORT_DISCOVERY   2
#define NGX_HTTP_FOUNDRY_EXPORT_AUTH        3
#define NGX_HTTP_FOUNDRY_EXPORT_HEADERS     4


/* a gateway target as Foundry's connection of it, for the export */

typedef struct {
    ngx_http_foundry_loc_conf_t    *conf;
    ngx_str_t                       url;
    ngx_str_t                       name;
    ngx_str_t                       category;
    ngx_str_t                       auth;
    ngx_uint_t                      auth_type;
    ngx_uint_t                      apim;

    /* JSON texts: the static list or the discovery endpoints (one of
     * them), authConfig and customHeaders (empty when not exported) */
    ngx_str_t                       models;
    ngx_str_t                       discovery;
    ngx_str_t                       auth_config;
    ngx_str_t                       headers;
    ngx_str_t                       client_id;   /* ?client_id= */

    /* with oauth2: the token service's token_url= and scopes
     * (ngx_http_foundry_oauth2_scope_t) */
    ngx_str_t                       token_url;
    ngx_array_t                    *scopes;

    unsigned                        oauth2:1;    /* of a token service */
} ngx_http_foundry_connection_t;


char *ngx_http_foundry_export(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_export_register(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *flcf);
ngx_int_t ngx_http_foundry_export_metadata(yajl_gen g,
    ngx_http_foundry_connection_t *c);


/* ngx_http_foundry_export_templates.c */

ngx_int_t ngx_http_foundry_export_parameters(yajl_gen g);
ngx_int_t ngx_http_foundry_export_scopes(yajl_gen g, ngx_array_t *scopes);
ngx_int_t ngx_http_foundry_export_bicep(yajl_gen g,
    ngx_http_foundry_connection_t *c);
ngx_int_t ngx_http_foundry_export_terraform(ngx_http_request_t *r,
    ngx_http_foundry_connection_t *c, ngx_str_t *out);


/* ngx_http_foundry_sources.c */

char *ngx_http_foundry_discovery_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_discovery_source(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_discovery_filter(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_sources_check(ngx_conf_t *cf,
    ngx_array_t *sources);
ngx_int_t ngx_http_foundry_sources_wait(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
ngx_int_t ngx_http_foundry_sources_list(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_uint_t format, ngx_array_t *objects);
ngx_http_foundry_deployment_t *ngx_http_foundry_sources_find(
    ngx_http_request_t *r, ngx_http_foundry_loc_conf_t *flcf,
    ngx_http_foundry_ctx_t *ctx, ngx_str_t *name);


/* ngx_http_foundry_source_parse.c */

/* not static for fuzz/fuzz_discovery.c */
ngx_http_foundry_list_t *ngx_http_foundry_source_parse(ngx_http_request_t *r,
    ngx_http_foundry_discovery_source_t *src, u_char *p, size_t len,
    const char **err);


#endif /* _NGX_HTTP_FOUNDRY_DISCOVERY_H_INCLUDED_ */
