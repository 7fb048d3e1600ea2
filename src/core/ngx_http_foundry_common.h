
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_COMMON_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_COMMON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>


/* a SHA-256 digest */
#define NGX_HTTP_FOUNDRY_DIGEST_LEN         32


/* the parts' types the shared ones point to, defined in the parts' headers */

typedef struct ngx_http_foundry_upstream_s      ngx_http_foundry_upstream_t;
typedef struct ngx_http_foundry_deployment_s    ngx_http_foundry_deployment_t;
typedef struct ngx_http_foundry_models_s        ngx_http_foundry_models_t;
typedef struct ngx_http_foundry_discovery_s     ngx_http_foundry_discovery_t;
typedef struct ngx_http_foundry_metrics_zone_s  ngx_http_foundry_metrics_zone_t;
typedef struct ngx_http_foundry_limit_state_s   ngx_http_foundry_limit_state_t;
typedef struct ngx_http_foundry_key_info_s      ngx_http_foundry_key_info_t;
typedef struct ngx_http_foundry_jwt_zone_s      ngx_http_foundry_jwt_zone_t;
typedef struct ngx_http_foundry_identity_ctx_s  ngx_http_foundry_identity_ctx_t;


typedef struct {
    ngx_array_t                     upstreams;
    ngx_array_t                     key_zones;
    struct ngx_http_foundry_fleet_s *fleets;        /* foundry_limit_sync */
    ngx_array_t                     targets;
    ngx_http_foundry_metrics_zone_t *metrics;
    ngx_http_foundry_jwt_zone_t    *jwt;
    ngx_flag_t                      used;

    /* the upstream{} block foundry_route, and whether a location uses it */
    ngx_http_upstream_srv_conf_t   *route;
    ngx_flag_t                      route_used;

    /* a $foundry_*_tokens variable is in the configuration (usage.c) */
    ngx_flag_t                      usage_variables;

    /* a foundry_content_check has answers=on: the answers' filters are
     * registered (content/), else no request passes through them */
    ngx_flag_t                      answers;

    /* the first "foundry_metrics", to name it when no zone is declared */
    u_char                         *metrics_file;
    ngx_uint_t                      metrics_line;

    /* what nginx's own log lines mask: key arguments, headers (credentials/) */
    struct ngx_http_foundry_logmask_conf_s *logmask;

    /* foundry_upstream_credential (identity/) */
    struct ngx_http_foundry_identity_conf_s *identity;

    /* foundry_token_service (oauth2/) */
    struct ngx_http_foundry_oauth2_main_s *oauth2;
} ngx_http_foundry_main_conf_t;


typedef struct {
    ngx_flag_t                      enable;
    u_char                         *enable_file;
    ngx_uint_t                      enable_line;
    ngx_str_t                       target;
    ngx_str_t                       prefix;
    ngx_uint_t                      category;
    ngx_flag_t                      deployment_in_path;
    ngx_flag_t                      stream_usage;
    ngx_flag_t                      traceparent;
    ngx_str_t                       connection_name;

    /* the location's proxy_pass is "proxy_pass https://foundry_route" */
    ngx_flag_t                      route;

    /* the operations passed to upstreams, a mask */
    ngx_uint_t                      operations;

    /* reading on after the client left, for the answer's usage */
    ngx_msec_t                      usage_drain_timeout;
    size_t                          usage_drain_size;

    ngx_array_t                    *inference_api_versions;
    ngx_array_t                    *deployment_api_versions;

    ngx_http_foundry_models_t      *models;
    ngx_array_t                    *discovery;

    ngx_str_t                       auth_header;
    ngx_str_t                       auth_format;
    ngx_str_t                       auth_prefix;
    ngx_str_t                       auth_suffix;

    ngx_array_t                    *custom_headers;

    ngx_array_t                    *limits;

    ngx_array_t                    *sources;
    ngx_array_t                    *filters;

    /* foundry_auth, foundry_keys, the bearer tokens' rules (credentials/) */
    struct ngx_http_foundry_access_conf_s *access;

    ngx_str_t                       export_base;

    /* foundry_content_check (content/), or NULL */
    struct ngx_http_foundry_content_conf_s *content;

    /* "accepted versions" phrases for error messages, built once */
    ngx_str_t                       inference_versions_text;
    ngx_str_t                       deployment_versions_text;

    /* foundry_token_endpoint, foundry_token_jwks: the service (oauth2/) */
    struct ngx_http_foundry_oauth2_service_s *oauth2;
} ngx_http_foundry_loc_conf_t;


#define NGX_HTTP_FOUNDRY_BODY_EDITS         2


/* bytes [from, to) of the body replaced by "text" */

typedef struct {
    off_t                           from;
    off_t                           to;
    ngx_str_t                       text;
} ngx_http_foundry_body_edit_t;


/* what the request body parser found */

typedef struct {
    ngx_pool_t                     *pool;
    yajl_handle                     handle;
    u_char                         *scratch;

    /* the body in one piece in memory, as scanned (copied if "copied") */
    u_char                         *text;

    off_t                           base;
    off_t                           size;
    off_t                           obj_start;
    off_t                           key_end;
    off_t                           value_end;

    ngx_str_t                       model;
    int64_t                         max_tokens;

    /* "stream_options": after its "{" (or -1), the end of include_usage */
    off_t                           so_start;
    off_t                           iu_end;
    ngx_uint_t                      include_usage;

    ngx_http_foundry_body_edit_t    edits[NGX_HTTP_FOUNDRY_BODY_EDITS];
    ngx_uint_t                      nedits;

    ngx_uint_t                      depth;
    ngx_uint_t                      key;
    ngx_uint_t                      error;

    /* the parse read by another too (the content check's text), or NULL */
    struct ngx_http_foundry_jtee_s *tee;

    unsigned                        keys:1;
    unsigned                        has_model:1;
    unsigned                        stream:1;
    unsigned                        has_so:1;
    unsigned                        in_so:1;
    unsigned                        so_keys:1;
    unsigned                        copied:1;

    /* no limit reads max_tokens: it is not looked at */
    unsigned                        no_max_tokens:1;
} ngx_http_foundry_body_t;


#define NGX_HTTP_FOUNDRY_USAGE_DEPTH        8


/* token counts; -1 for "not seen" */

typedef struct {
    int64_t                         prompt;
    int64_t                         completion;
    int64_t                         total;
    int64_t                         cached;
    int64_t                         reasoning;
} ngx_http_foundry_tokens_t;


/* token usage read from an upstream's answer */

typedef struct {
    yajl_handle                     handle;
    ngx_uint_t                      mode;
    ngx_uint_t                      state;
    ngx_uint_t                      prefix;
    ngx_uint_t                      depth;
    ngx_uint_t                      usage;
    u_char                          keys[NGX_HTTP_FOUNDRY_USAGE_DEPTH];

    ngx_http_foundry_tokens_t       tokens;

    /* the counts of the SSE event being read, taken when it is whole */
    ngx_http_foundry_tokens_t       event;

    /* for an estimate when no usage comes: "data:" objects, body bytes */
    int64_t                         events;
    off_t                           bytes;

    unsigned                        found:1;
    unsigned                        event_found:1;
    unsigned                        scanned:1;
    unsigned                        failed:1;
    unsigned                        done:1;
} ngx_http_foundry_usage_t;


typedef struct {
    ngx_uint_t                      kind;
    ngx_http_foundry_discovery_t   *discovery;

    /* the deployment name as received, the operation below it */
    ngx_str_t                       name;
    ngx_str_t                       op;

    ngx_http_foundry_deployment_t  *deployment;
    ngx_http_foundry_upstream_t    *upstream;
    ngx_str_t                       upstream_url;
    ngx_str_t                       upstream_uri;

    /* the client's unparsed URI while it is upstream_uri (foundry_route) */
    ngx_str_t                       client_uri;

    /* foundry_route: the upstream's host name resolved for the request */
    ngx_resolver_ctx_t             *resolving;
    ngx_http_upstream_resolved_t   *resolved;
    ngx_int_t                       resolve_status;

    ngx_http_foundry_body_t         body;
    ngx_http_foundry_usage_t        usage;

    /* an error nginx itself answers, sent as JSON instead of HTML */
    ngx_buf_t                      *error_body;

    /* the access check's verdict, for the error filter */
    const char                     *error_code;
    const char                     *error_message;

    ngx_http_foundry_key_info_t    *key;

    ngx_http_foundry_limit_state_t *limits;
    ngx_http_foundry_limit_state_t *limit_headers;
    ngx_http_foundry_limit_state_t *limited;

    /* why the key check refused the request, for the metrics */
    const char                     *auth_failure;

    /* the accepted bearer token; the token check's own state */
    struct ngx_http_foundry_jwt_s  *token;
    struct ngx_http_foundry_bearer_ctx_s *bearer;

    /* foundry_stream_usage: the stream whose usage chunk is taken out */
    struct ngx_http_foundry_strip_s *strip;

    /* the client left: the answer is read on for its usage, up to these */
    ngx_event_t                    *drain_timer;
    off_t                           drained;

    /* seconds until an upstream server of the request is usable again */
    ngx_uint_t                      cooling;

    /* $foundry_traceparent, once worked out (traceparent_done) */
    ngx_str_t                       traceparent;

    /* the parts' own state, allocated by the part when first needed */
    struct ngx_http_foundry_sources_ctx_s *sources;
    ngx_http_foundry_identity_ctx_t *identity;
    struct ngx_http_foundry_ct_check_s *content;

    unsigned                        started:1;
    unsigned                        body_read:1;
    unsigned                        body_sync:1;
    unsigned                        body_parsed:1;
    unsigned                        model_set:1;
    unsigned                        routed:1;
    unsigned                        body_deployment:1;
    unsigned                        waiting_body:1;
    unsigned                        error_sent:1;
    unsigned                        limit_headers_sent:1;
    unsigned                        strip_usage:1;
    unsigned                        drain:1;
    unsigned                        draining:1;
    unsigned                        route_uri:1;
    unsigned                        client_uri_valid:1;
    unsigned                        traceparent_done:1;
} ngx_http_foundry_ctx_t;


extern ngx_module_t  ngx_http_foundry_module;


#endif /* _NGX_HTTP_FOUNDRY_COMMON_H_INCLUDED_ */
