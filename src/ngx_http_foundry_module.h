
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_MODULE_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>


#define NGX_HTTP_FOUNDRY_MODEL_GATEWAY      1
#define NGX_HTTP_FOUNDRY_API_MANAGEMENT     2

#define NGX_HTTP_FOUNDRY_FORMAT_AZURE       1
#define NGX_HTTP_FOUNDRY_FORMAT_OPENAI      2

#define NGX_HTTP_FOUNDRY_DEPLOYMENT_TOKEN   "{deploymentName}"

#define NGX_HTTP_FOUNDRY_MAX_NAME_LEN       256


/* a deployment as Foundry sees it */

typedef struct {
    ngx_str_t                       name;
    ngx_str_t                       model;
    ngx_str_t                       version;
    ngx_str_t                       format;
    ngx_str_t                       owned_by;
    time_t                          created;

    /* pre-rendered discovery objects, one per output format */
    ngx_str_t                       azure_json;
    ngx_str_t                       openai_json;

    u_char                         *conf_file;
    ngx_uint_t                      conf_line;
} ngx_http_foundry_deployment_t;


/*
 * The static deployments of one configuration level; built once, shared by
 * every level that inherits them.
 */

typedef struct {
    ngx_array_t                     deployments;
    ngx_hash_t                      hash;
    ngx_str_t                       azure_list;
    ngx_str_t                       openai_list;
    unsigned                        ready:1;
} ngx_http_foundry_models_t;


/* one pair of discovery endpoints and its output format */

typedef struct {
    ngx_str_t                       list;
    ngx_str_t                       get;
    ngx_str_t                       get_prefix;
    ngx_str_t                       get_suffix;
    ngx_uint_t                      format;
} ngx_http_foundry_discovery_t;


typedef struct {
    ngx_str_t                       name;
    ngx_str_t                       value;
    ngx_uint_t                      required;
} ngx_http_foundry_header_t;


typedef struct {
    ngx_flag_t                      enable;
    ngx_str_t                       target;
    ngx_str_t                       prefix;
    ngx_uint_t                      category;
    ngx_flag_t                      deployment_in_path;
    ngx_str_t                       connection_name;

    ngx_array_t                    *inference_api_versions;
    ngx_array_t                    *deployment_api_versions;

    ngx_http_foundry_models_t      *models;
    ngx_array_t                    *discovery;

    ngx_str_t                       auth_header;
    ngx_str_t                       auth_format;
    ngx_str_t                       auth_prefix;
    ngx_str_t                       auth_suffix;

    ngx_array_t                    *custom_headers;

    /* "accepted versions" phrases for error messages, built once */
    ngx_str_t                       inference_versions_text;
    ngx_str_t                       deployment_versions_text;
} ngx_http_foundry_loc_conf_t;


typedef struct {
    ngx_uint_t                      kind;
    ngx_http_foundry_discovery_t   *discovery;
    ngx_str_t                       name;
} ngx_http_foundry_ctx_t;


#define NGX_HTTP_FOUNDRY_REQ_NONE           0
#define NGX_HTTP_FOUNDRY_REQ_LIST           1
#define NGX_HTTP_FOUNDRY_REQ_GET            2


/* ngx_http_foundry_conf.c */
char *ngx_http_foundry_model(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_foundry_models_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_model_discovery(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_auth_config(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_custom_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_api_versions(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_target(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_category(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_parse_discovery(ngx_conf_t *cf,
    ngx_http_foundry_discovery_t *d, ngx_str_t *list, ngx_str_t *get,
    ngx_uint_t format);
ngx_int_t ngx_http_foundry_versions_text(ngx_pool_t *pool, ngx_array_t *a,
    ngx_str_t *text);

/* ngx_http_foundry_json.c */
void ngx_http_foundry_json_alloc_funcs(ngx_pool_t *pool,
    yajl_alloc_funcs *funcs);
yajl_gen ngx_http_foundry_json_gen(ngx_pool_t *pool,
    yajl_alloc_funcs *funcs);
ngx_int_t ngx_http_foundry_json_string(yajl_gen g, ngx_str_t *s);
ngx_int_t ngx_http_foundry_json_key(yajl_gen g, const char *key);
ngx_int_t ngx_http_foundry_json_result(yajl_gen g, ngx_pool_t *pool,
    ngx_str_t *out);
void ngx_http_foundry_json_error_line(char *errbuf);
ngx_int_t ngx_http_foundry_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *text);

/* ngx_http_foundry_error.c */
ngx_int_t ngx_http_foundry_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *fmt, ...);
ngx_int_t ngx_http_foundry_send_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_chain_t *out, off_t len);
ngx_int_t ngx_http_foundry_finish(ngx_http_request_t *r, ngx_int_t rc);

/* ngx_http_foundry_discovery.c */
ngx_int_t ngx_http_foundry_models_init(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models);
ngx_int_t ngx_http_foundry_discovery_handler(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
ngx_http_foundry_deployment_t *ngx_http_foundry_find_deployment(
    ngx_http_foundry_models_t *models, ngx_str_t *name);
ngx_int_t ngx_http_foundry_valid_name(ngx_str_t *name);

/* ngx_http_foundry_handler.c */
ngx_int_t ngx_http_foundry_precontent_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_foundry_check_api_version(ngx_http_request_t *r,
    ngx_array_t *versions, ngx_str_t *text);


extern ngx_module_t  ngx_http_foundry_module;


#endif /* _NGX_HTTP_FOUNDRY_MODULE_H_INCLUDED_ */
