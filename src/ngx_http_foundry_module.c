
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_module.h"


static ngx_int_t ngx_http_foundry_preconfiguration(ngx_conf_t *cf);
static void *ngx_http_foundry_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_foundry_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_foundry_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_foundry_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_foundry_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_foundry_merge_auth(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *prev, ngx_http_foundry_loc_conf_t *conf);
static ngx_int_t ngx_http_foundry_merge_auth_header(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *prev, ngx_http_foundry_loc_conf_t *conf);
static ngx_int_t ngx_http_foundry_merge_discovery(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *prev, ngx_http_foundry_loc_conf_t *conf);
static char *ngx_http_foundry_merge_gateway(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *conf);
static ngx_int_t ngx_http_foundry_log_handler(ngx_http_request_t *r);


static ngx_conf_enum_t  ngx_http_foundry_categories[] = {
    { ngx_string("ModelGateway"), NGX_HTTP_FOUNDRY_MODEL_GATEWAY },
    { ngx_string("ApiManagement"), NGX_HTTP_FOUNDRY_API_MANAGEMENT },
    { ngx_null_string, 0 }
};


/*
 * foundry_auth off | key | token | key_or_token
 *              | ApiKey | OAuth2 | ProjectManagedIdentity | AAD;
 *
 * The second line names the connection's authType, as Foundry writes it:
 * ApiKey takes keys, the others tokens; foundry_export writes that name.
 * (The end of the table names the values in the "invalid value" error.)
 */

static ngx_conf_enum_t  ngx_http_foundry_auths[] = {
    { ngx_string("off"),
      ngx_http_foundry_auth_value(NGX_HTTP_FOUNDRY_AUTH_OFF,
                                  NGX_HTTP_FOUNDRY_TYPE_DERIVED) },
    { ngx_string("key"),
      ngx_http_foundry_auth_value(NGX_HTTP_FOUNDRY_AUTH_KEY,
                                  NGX_HTTP_FOUNDRY_TYPE_DERIVED) },
    { ngx_string("token"),
      ngx_http_foundry_auth_value(NGX_HTTP_FOUNDRY_AUTH_TOKEN,
                                  NGX_HTTP_FOUNDRY_TYPE_DERIVED) },
    { ngx_string("key_or_token"),
      ngx_http_foundry_auth_value(NGX_HTTP_FOUNDRY_AUTH_KEY
                                  |NGX_HTTP_FOUNDRY_AUTH_TOKEN,
                                  NGX_HTTP_FOUNDRY_TYPE_DERIVED) },
    { ngx_string("ApiKey"),
      ngx_http_foundry_auth_value(NGX_HTTP_FOUNDRY_AUTH_KEY,
                                  NGX_HTTP_FOUNDRY_TYPE_API_KEY) },
    { ngx_string("OAuth2"),
      ngx_http_foundry_auth_value(NGX_HTTP_FOUNDRY_AUTH_TOKEN,
                                  NGX_HTTP_FOUNDRY_TYPE_OAUTH2) },
    { ngx_string("ProjectManagedIdentity"),
      ngx_http_foundry_auth_value(NGX_HTTP_FOUNDRY_AUTH_TOKEN,
                                  NGX_HTTP_FOUNDRY_TYPE_PMI) },
    { ngx_string("AAD"),
      ngx_http_foundry_auth_value(NGX_HTTP_FOUNDRY_AUTH_TOKEN,
                                  NGX_HTTP_FOUNDRY_TYPE_AAD) },
    { { 0, (u_char *) "\"off\", \"key\", \"token\", \"key_or_token\", or a "
                      "connection's authType: \"ApiKey\", \"OAuth2\", "
                      "\"ProjectManagedIdentity\" or \"AAD\" (case "
                      "sensitive)" }, 0 }
};


static ngx_command_t  ngx_http_foundry_commands[] = {

    { ngx_string("foundry_gateway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_foundry_gateway,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_loc_conf_t, enable),
      NULL },

    { ngx_string("foundry_target"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_target,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_category"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_conf_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_loc_conf_t, category),
      &ngx_http_foundry_categories },

    { ngx_string("foundry_deployment_in_path"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_loc_conf_t, deployment_in_path),
      NULL },

    { ngx_string("foundry_stream_usage"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_loc_conf_t, stream_usage),
      NULL },

    { ngx_string("foundry_traceparent"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_loc_conf_t, traceparent),
      NULL },

    { ngx_string("foundry_operations"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_foundry_operations_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_usage_drain_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_loc_conf_t, usage_drain_timeout),
      NULL },

    { ngx_string("foundry_usage_drain_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_loc_conf_t, usage_drain_size),
      NULL },

    { ngx_string("foundry_connection_name"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_loc_conf_t, connection_name),
      NULL },

    { ngx_string("foundry_inference_api_version"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_foundry_api_versions,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_loc_conf_t, inference_api_versions),
      NULL },

    { ngx_string("foundry_deployment_api_version"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_foundry_api_versions,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_loc_conf_t, deployment_api_versions),
      NULL },

    { ngx_string("foundry_model"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_foundry_model,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_models_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_foundry_models_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_model_discovery"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_foundry_model_discovery,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_auth_config"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_foundry_auth_config,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_custom_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_foundry_custom_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_keys_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_foundry_keys_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_keys,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_key_source"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_foundry_key_source,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_limit_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_foundry_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_limit_sync"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_foundry_limit_sync,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_foundry_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_foundry_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_foundry_health,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_discovery_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_discovery_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_discovery_source"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_foundry_discovery_source,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_discovery_filter"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_foundry_discovery_filter,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_access_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_access_conf_t, auth_value),
      &ngx_http_foundry_auths },

    { ngx_string("foundry_jwt_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_jwt_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_token_service"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_foundry_token_service,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_token_endpoint"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_token_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_token_jwks"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_token_jwks,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_token_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_token_issuer,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_foundry_jwt_issuer,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_entra"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_foundry_entra,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_token_introspection"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_foundry_introspection,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_jwt_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_foundry_jwt_claim_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_jwt_deployments"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE3,
      ngx_http_foundry_jwt_deployments,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_jwt_operations"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE3,
      ngx_http_foundry_jwt_operations,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_access_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_access_conf_t, jwt_leeway),
      NULL },

    { ngx_string("foundry_jwt_max_age"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_access_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_foundry_access_conf_t, jwt_max_age),
      NULL },

    { ngx_string("foundry_export"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_foundry_export,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_cooldown_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_cooldown_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_cooldown"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_cooldown,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_upstream"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_foundry_upstream,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_upstream_credential_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_credential_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_upstream_credential"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_foundry_credential,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_content_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_foundry_content_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("foundry_content_check"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_foundry_content_check_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_foundry_module_ctx = {
    ngx_http_foundry_preconfiguration,     /* preconfiguration */
    ngx_http_foundry_init,                 /* postconfiguration */

    ngx_http_foundry_create_main_conf,     /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_foundry_create_srv_conf,      /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_foundry_create_loc_conf,      /* create location configuration */
    ngx_http_foundry_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_foundry_module = {
    NGX_MODULE_V1,
    &ngx_http_foundry_module_ctx,          /* module context */
    ngx_http_foundry_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_foundry_init_module,          /* init module */
    ngx_http_foundry_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_foundry_fleet_exit_process,   /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_foundry_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_foundry_content_variables(cf) != NGX_OK
        || ngx_http_foundry_route_add(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_foundry_add_variables(cf);
}


static void *
ngx_http_foundry_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_main_conf_t));
    if (fmcf == NULL) {
        return NULL;
    }

    fmcf->logmask = ngx_pcalloc(cf->pool,
                                sizeof(ngx_http_foundry_logmask_conf_t));
    if (fmcf->logmask == NULL) {
        return NULL;
    }

    if (ngx_array_init(&fmcf->upstreams, cf->pool, 4,
                       sizeof(ngx_http_foundry_upstream_t))
        != NGX_OK
        || ngx_array_init(&fmcf->key_zones, cf->pool, 2,
                          sizeof(ngx_http_foundry_keys_zone_t *))
           != NGX_OK
        || ngx_array_init(&fmcf->targets, cf->pool, 4,
                          sizeof(ngx_http_foundry_target_t))
           != NGX_OK)
    {
        return NULL;
    }

    return fmcf;
}


/* the server conf is for upstream{} blocks: foundry_cooldown */

static void *
ngx_http_foundry_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_foundry_cooldown_conf_t  *cc;

    cc = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_cooldown_conf_t));
    if (cc == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cc->zone = NULL;
     *     cc->original_init_upstream = NULL;
     *     cc->original_init_peer = NULL;
     */

    return cc;
}


static void *
ngx_http_foundry_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_foundry_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->target = { 0, NULL };
 *     conf->prefix = { 0, NULL };
     *     conf->connection_name = { 0, NULL };
     *     conf->models = NULL;
     *     conf->auth_header = { 0, NULL };
     *     conf->auth_format = { 0, NULL };
     *     conf->auth_prefix = { 0, NULL };
     *     conf->auth_suffix = { 0, NULL };
     *     conf->inference_versions_text = { 0, NULL };
     *     conf->deployment_versions_text = { 0, NULL };
     */

    conf->enable = NGX_CONF_UNSET;
    conf->category = NGX_CONF_UNSET_UINT;
    conf->deployment_in_path = NGX_CONF_UNSET;
    conf->stream_usage = NGX_CONF_UNSET;
    conf->traceparent = NGX_CONF_UNSET;
    conf->operations = NGX_CONF_UNSET_UINT;
    conf->usage_drain_timeout = NGX_CONF_UNSET_MSEC;
    conf->usage_drain_size = NGX_CONF_UNSET_SIZE;
    conf->inference_api_versions = NGX_CONF_UNSET_PTR;
    conf->deployment_api_versions = NGX_CONF_UNSET_PTR;
    conf->discovery = NGX_CONF_UNSET_PTR;
    conf->custom_headers = NGX_CONF_UNSET_PTR;
    conf->limits = NGX_CONF_UNSET_PTR;
    conf->sources = NGX_CONF_UNSET_PTR;
    conf->filters = NGX_CONF_UNSET_PTR;
    conf->content = NGX_CONF_UNSET_PTR;

    conf->access = ngx_http_foundry_access_create_conf(cf);
    if (conf->access == NULL) {
        return NULL;
    }

    return conf;
}


static char *
ngx_http_foundry_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_foundry_loc_conf_t *prev = parent;
    ngx_http_foundry_loc_conf_t *conf = child;

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable_file = prev->enable_file;
        conf->enable_line = prev->enable_line;
    }

    if (ngx_http_foundry_args_merge(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_uint_value(conf->category, prev->category,
                              NGX_HTTP_FOUNDRY_MODEL_GATEWAY);
    ngx_conf_merge_value(conf->deployment_in_path, prev->deployment_in_path,
                         0);
    ngx_conf_merge_value(conf->stream_usage, prev->stream_usage, 0);
    ngx_conf_merge_value(conf->traceparent, prev->traceparent, 0);
    ngx_conf_merge_uint_value(conf->operations, prev->operations,
                              ngx_http_foundry_operations_default());
    ngx_conf_merge_msec_value(conf->usage_drain_timeout,
                              prev->usage_drain_timeout, 60000);
    ngx_conf_merge_size_value(conf->usage_drain_size, prev->usage_drain_size,
                              1024 * 1024);
    ngx_conf_merge_str_value(conf->connection_name, prev->connection_name,
                             "");
    ngx_conf_merge_ptr_value(conf->inference_api_versions,
                             prev->inference_api_versions, NULL);
    ngx_conf_merge_ptr_value(conf->deployment_api_versions,
                             prev->deployment_api_versions, NULL);
    ngx_conf_merge_ptr_value(conf->custom_headers, prev->custom_headers,
                             NULL);
    ngx_http_foundry_access_merge_conf(prev->access, conf->access);

    if (conf->access->keys
        && ngx_http_foundry_keys_check_zone(cf, conf->access->keys) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_ptr_value(conf->limits, prev->limits, NULL);
    ngx_conf_merge_ptr_value(conf->content, prev->content, NULL);

    if (ngx_http_foundry_merge_auth(cf, prev, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_ptr_value(conf->sources, prev->sources, NULL);
    ngx_conf_merge_ptr_value(conf->filters, prev->filters, NULL);

    if (conf->sources
        && ngx_http_foundry_sources_check(cf, conf->sources) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->limits
        && ngx_http_foundry_limit_check_zone(cf, conf->limits) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->target.data == NULL) {
        conf->target = prev->target;
    }

    if (conf->models == NULL) {
        conf->models = prev->models;
    }

    if (conf->models && !conf->models->ready) {
        if (ngx_http_foundry_models_init(cf, conf->models) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_foundry_merge_auth_header(cf, prev, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_introspect_check_conf(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_merge_discovery(cf, prev, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    conf->route = ngx_http_foundry_route_location(cf);

    if (!conf->enable) {
        if (conf->route) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"proxy_pass http[s]://foundry_route\" "
                               "needs \"foundry_gateway on\"");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    return ngx_http_foundry_merge_gateway(cf, conf);
}


/* the credentials accepted, and their checks */

static ngx_int_t
ngx_http_foundry_merge_auth(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *prev, ngx_http_foundry_loc_conf_t *conf)
{
    ngx_http_foundry_key_source_t   *src;
    ngx_http_foundry_access_conf_t  *bcf;

    bcf = conf->access;

    /* by default, the credentials configured: keys, tokens, or either */

    ngx_conf_merge_uint_value(bcf->auth_value, prev->access->auth_value,
                              NGX_CONF_UNSET_UINT);

    if (bcf->auth_value != NGX_CONF_UNSET_UINT) {
        bcf->auth = bcf->auth_value & NGX_HTTP_FOUNDRY_AUTH_MODES;
        bcf->auth_type = bcf->auth_value >> 4;

    } else {
        bcf->auth = (bcf->keys ? NGX_HTTP_FOUNDRY_AUTH_KEY : 0)
                    | ((bcf->issuers || bcf->introspect)
                       ? NGX_HTTP_FOUNDRY_AUTH_TOKEN : 0);
    }

    if (conf->enable && (bcf->auth & NGX_HTTP_FOUNDRY_AUTH_TOKEN)
        && bcf->issuers == NULL && bcf->introspect == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"foundry_auth\" accepts tokens, but no "
                           "\"foundry_jwt_issuer\", \"foundry_entra\" or "
                           "\"foundry_token_introspection\" is configured");
        return NGX_ERROR;
    }

    if (conf->enable && (bcf->auth & NGX_HTTP_FOUNDRY_AUTH_KEY)
        && bcf->keys == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"foundry_auth\" accepts keys, but no "
                           "\"foundry_keys\" is configured");
        return NGX_ERROR;
    }

    if (ngx_http_foundry_token_check_conf(cf, conf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (bcf->key_sources == NULL) {

        /* the key arrives as the connection's authConfig says */

        bcf->key_sources = ngx_array_create(cf->pool, 1,
                                sizeof(ngx_http_foundry_key_source_t));
        if (bcf->key_sources == NULL) {
            return NGX_ERROR;
        }

        src = ngx_array_push(bcf->key_sources);
        if (src == NULL) {
            return NGX_ERROR;
        }

        src->type = NGX_HTTP_FOUNDRY_SRC_CONFIG;
        ngx_str_null(&src->name);
    }

    return NGX_OK;
}


/* how the upstream takes its key */

static ngx_int_t
ngx_http_foundry_merge_auth_header(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *prev, ngx_http_foundry_loc_conf_t *conf)
{
    if (conf->auth_header.data == NULL) {
        conf->auth_header = prev->auth_header;
        conf->auth_format = prev->auth_format;
        conf->auth_prefix = prev->auth_prefix;
        conf->auth_suffix = prev->auth_suffix;
    }

    if (conf->auth_header.data == NULL) {
        ngx_str_set(&conf->auth_header, "api-key");
        ngx_str_set(&conf->auth_format, "{api_key}");
        ngx_str_set(&conf->auth_prefix, "");
        ngx_str_set(&conf->auth_suffix, "");
    }

    /* the key's header is masked in nginx's own log lines */

    if (ngx_http_foundry_logmask_add_header(cf, &conf->auth_header)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the discovery endpoints, the API versions' texts */

static ngx_int_t
ngx_http_foundry_merge_discovery(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *prev, ngx_http_foundry_loc_conf_t *conf)
{
    ngx_str_t                      list, get;
    ngx_http_foundry_discovery_t  *d;

    ngx_conf_merge_ptr_value(conf->discovery, prev->discovery, NULL);

    if (conf->discovery == NULL
        && conf->category == NGX_HTTP_FOUNDRY_API_MANAGEMENT)
    {
        /* ApiManagement connections imply these discovery endpoints */

        conf->discovery = ngx_array_create(cf->pool, 1,
                                         sizeof(ngx_http_foundry_discovery_t));
        if (conf->discovery == NULL) {
            return NGX_ERROR;
        }

        d = ngx_array_push(conf->discovery);
        if (d == NULL) {
            return NGX_ERROR;
        }

        ngx_str_set(&list, "/deployments");
        ngx_str_set(&get, "/deployments/" NGX_HTTP_FOUNDRY_DEPLOYMENT_TOKEN);

        if (ngx_http_foundry_parse_discovery(cf, d, &list, &get,
                                             NGX_HTTP_FOUNDRY_FORMAT_AZURE)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (conf->inference_versions_text.data == NULL) {
        if (ngx_http_foundry_versions_text(cf->pool,
                                           conf->inference_api_versions,
                                           &conf->inference_versions_text)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (conf->deployment_versions_text.data == NULL) {
        if (ngx_http_foundry_versions_text(cf->pool,
                                           conf->deployment_api_versions,
                                           &conf->deployment_versions_text)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a gateway location: its proxy_pass, its export, its target's prefix */

static char *
ngx_http_foundry_merge_gateway(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);
    fmcf->used = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /*
     * inference is proxied: a location without a content handler would
     * fail every request (the proxy module's merge has run by now)
     */

    if (clcf->name.len && !clcf->noname && clcf->handler == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"foundry_gateway on\" in location \"%V\" needs "
                      "\"include foundry_proxy_params;\" (or a proxy_pass "
                      "of its own) in the location, in %s:%ui",
                      &clcf->name, conf->enable_file, conf->enable_line);
        return NGX_CONF_ERROR;
    }

    /* locations of this one (if blocks) are not targets of their own */

    if (!clcf->noname
        && ngx_http_foundry_export_register(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->target.data != NULL) {
        conf->prefix = conf->target;
        return NGX_CONF_OK;
    }

    /* the target path defaults to the prefix of the location */

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
        )
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"foundry_gateway\" in the regex or named "
                           "location \"%V\" needs \"foundry_target\"",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    conf->prefix = clcf->name;

    while (conf->prefix.len && conf->prefix.data[conf->prefix.len - 1] == '/')
    {
        conf->prefix.len--;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_foundry_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_foundry_main_conf_t  *fmcf;

    if (ngx_http_foundry_args_init(cf) != NGX_OK
        || ngx_http_foundry_logmask_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_identity_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    if (fmcf->metrics_file && fmcf->metrics == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"foundry_metrics\" needs a \"foundry_metrics_zone\" "
                      "in the http block, in %s:%ui",
                      fmcf->metrics_file, fmcf->metrics_line);
        return NGX_ERROR;
    }

    if (!fmcf->used) {
        return NGX_OK;
    }

    if (ngx_http_foundry_route_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    fmcf->usage_variables = ngx_http_foundry_usage_variables(cf);

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_foundry_precontent_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_foundry_access_handler;

    /*
     * the log phase records metrics and commits limits: without a metrics
     * zone and a limit zone, no request needs it
     */

    if (fmcf->metrics || ngx_http_foundry_limit_zones(cf->cycle)) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_foundry_log_handler;
    }

    /*
     * the model's answers held for their check come after the filter that
     * reads their usage; without answers=on anywhere, not in the chain
     */

    if (fmcf->answers && ngx_http_foundry_content_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_foundry_filter_init(cf);
}


/* the log phase: limits learn the real usage */

static ngx_int_t
ngx_http_foundry_log_handler(ngx_http_request_t *r)
{
    ngx_http_foundry_ctx_t        *ctx;
    ngx_http_foundry_loc_conf_t   *flcf;
    ngx_http_foundry_main_conf_t  *fmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    if (ctx == NULL || r != r->main) {
        return NGX_OK;
    }

    ngx_http_foundry_route_restore(r, ctx);

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);
    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);

    if (flcf->enable && fmcf->metrics) {
        ngx_http_foundry_metrics_record(r, flcf, ctx);
    }

    /* nothing reserved: nothing to commit */

    if (ctx->limits == NULL) {
        return NGX_OK;
    }

    return ngx_http_foundry_limit_commit(r, ctx);
}
