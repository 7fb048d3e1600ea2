
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_DEPLOYMENTS_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_DEPLOYMENTS_H_INCLUDED_


#include "ngx_http_foundry_common.h"


#define NGX_HTTP_FOUNDRY_DEPLOYMENT_TOKEN   "{deploymentName}"

#define NGX_HTTP_FOUNDRY_AZURE_CLASSIC      1
#define NGX_HTTP_FOUNDRY_AZURE_V1           2
#define NGX_HTTP_FOUNDRY_OPENAI             3
#define NGX_HTTP_FOUNDRY_COMPATIBLE         4


/* a model upstream: where a deployment's inference goes */

struct ngx_http_foundry_upstream_s {
    ngx_str_t                       name;
    ngx_uint_t                      kind;
    const char                     *kind_path;
    ngx_str_t                       url;
    ngx_str_t                       base;
    ngx_str_t                       host;
    ngx_str_t                       api_version;
    ngx_http_complex_value_t       *api_key;
    ngx_http_complex_value_t       *bearer;

    /* "Bearer <bearer=>" when bearer= has no variables: made once */
    ngx_str_t                       authorization;

    /* foundry_upstream_credential: a token fetched by the gateway */
    ngx_str_t                       credential_name;
    void                           *credential;

    /* whether it takes "stream_options" in a streamed request */
    ngx_uint_t                      stream_options;

    /*
     * for "proxy_pass https://foundry_route" (ngx_http_foundry_balancer.c):
     * the upstream{} block of url=, else its host and port, with the
     * address when it is one (a host name is resolved per request);
     * whether it is https
     */
    ngx_http_upstream_srv_conf_t   *uscf;
    ngx_http_upstream_resolved_t   *resolved;
    unsigned                        ssl:1;

    u_char                         *conf_file;
    ngx_uint_t                      conf_line;
};


/* a deployment as Foundry sees it */

struct ngx_http_foundry_deployment_s {
    ngx_str_t                       name;
    ngx_str_t                       model;
    ngx_str_t                       version;
    ngx_str_t                       format;
    ngx_str_t                       owned_by;
    time_t                          created;

    /* routing: a static upstream, or a variable naming one */
    ngx_str_t                       upstream_name;
    ngx_http_complex_value_t       *upstream_cv;
    ngx_http_foundry_upstream_t    *upstream;

    /*
     * what the upstream calls it; as a JSON string; the upstream URL's
     * start: scheme, host, path prefix (ngx_http_foundry_upstream_prefix())
     */
    ngx_str_t                       upstream_model;
    ngx_str_t                       upstream_model_json;
    ngx_str_t                       upstream_prefix;

    /* pre-rendered discovery objects, one per output format */
    ngx_str_t                       azure_json;
    ngx_str_t                       openai_json;

    u_char                         *conf_file;
    ngx_uint_t                      conf_line;
};


/*
 * The static deployments of one configuration level; built once, shared by
 * every level that inherits them.
 */

struct ngx_http_foundry_models_s {
    ngx_array_t                     deployments;
    ngx_hash_t                      hash;
    ngx_str_t                       azure_list;
    ngx_str_t                       openai_list;
    unsigned                        ready:1;
};


typedef struct {
    ngx_shm_zone_t                 *zone;
    ngx_http_upstream_init_pt       original_init_upstream;
    ngx_http_upstream_init_peer_pt  original_init_peer;
} ngx_http_foundry_cooldown_conf_t;


/* ngx_http_foundry_balancer.c */

ngx_int_t ngx_http_foundry_route_add(ngx_conf_t *cf);
ngx_flag_t ngx_http_foundry_route_location(ngx_conf_t *cf);
ngx_int_t ngx_http_foundry_route_init(ngx_conf_t *cf);
ngx_int_t ngx_http_foundry_route_resolve(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx);
void ngx_http_foundry_route_restore(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx);


/* ngx_http_foundry_cooldown.c */

char *ngx_http_foundry_cooldown_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_cooldown(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* ngx_http_foundry_deployments.c */

ngx_int_t ngx_http_foundry_models_init(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models);
ngx_http_foundry_deployment_t *ngx_http_foundry_find_deployment(
    ngx_http_foundry_models_t *models, ngx_str_t *name);
ngx_int_t ngx_http_foundry_deployments_init(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models);
ngx_str_t *ngx_http_foundry_upstream_model(ngx_http_foundry_deployment_t *d,
    ngx_http_foundry_upstream_t *u);
ngx_int_t ngx_http_foundry_check_api_version(ngx_http_request_t *r,
    ngx_array_t *versions, ngx_str_t *text);


/* ngx_http_foundry_models.c */

char *ngx_http_foundry_model(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_foundry_models_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* ngx_http_foundry_operations.c */

char *ngx_http_foundry_operations_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_foundry_operation_mask(ngx_str_t *name, uint32_t *mask);
uint32_t ngx_http_foundry_operations_default(void);
const char *ngx_http_foundry_operation_list(void);
ngx_str_t *ngx_http_foundry_operation_name(ngx_uint_t bit);
uint32_t ngx_http_foundry_operation_find(ngx_str_t *op, ngx_uint_t *exact);


/* ngx_http_foundry_upstream.c */

char *ngx_http_foundry_upstream(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_foundry_upstream_t *ngx_http_foundry_find_upstream(
    ngx_http_foundry_main_conf_t *fmcf, ngx_str_t *name);
ngx_int_t ngx_http_foundry_upstream_prefix(ngx_pool_t *pool,
    ngx_http_foundry_upstream_t *u, ngx_str_t *model, ngx_str_t *prefix);


#endif /* _NGX_HTTP_FOUNDRY_DEPLOYMENTS_H_INCLUDED_ */
