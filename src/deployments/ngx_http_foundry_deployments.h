
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_DEPLOYMENTS_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_DEPLOYMENTS_H_INCLUDED_


#include "ngx_http_foundry_common.h"


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


/* ngx_http_foundry_operations.c */

char *ngx_http_foundry_operations_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_foundry_operation_mask(ngx_str_t *name, uint32_t *mask);
uint32_t ngx_http_foundry_operations_default(void);
const char *ngx_http_foundry_operation_list(void);
ngx_str_t *ngx_http_foundry_operation_name(ngx_uint_t bit);
uint32_t ngx_http_foundry_operation_find(ngx_str_t *op);


/* ngx_http_foundry_upstream.c */

char *ngx_http_foundry_upstream(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_foundry_upstream_t *ngx_http_foundry_find_upstream(
    ngx_http_foundry_main_conf_t *fmcf, ngx_str_t *name);
ngx_int_t ngx_http_foundry_upstream_prefix(ngx_pool_t *pool,
    ngx_http_foundry_upstream_t *u, ngx_str_t *model, ngx_str_t *prefix);


#endif /* _NGX_HTTP_FOUNDRY_DEPLOYMENTS_H_INCLUDED_ */
