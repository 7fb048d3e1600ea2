
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


#define NGX_HTTP_FOUNDRY_MODEL_GATEWAY      1
#define NGX_HTTP_FOUNDRY_API_MANAGEMENT     2

#define NGX_HTTP_FOUNDRY_FORMAT_AZURE       1
#define NGX_HTTP_FOUNDRY_FORMAT_OPENAI      2

#define NGX_HTTP_FOUNDRY_DEPLOYMENT_TOKEN   "{deploymentName}"

#define NGX_HTTP_FOUNDRY_MAX_NAME_LEN       256
#define NGX_HTTP_FOUNDRY_MAX_MODEL_LEN      1024

#define NGX_HTTP_FOUNDRY_AZURE_CLASSIC      1
#define NGX_HTTP_FOUNDRY_AZURE_V1           2
#define NGX_HTTP_FOUNDRY_OPENAI             3
#define NGX_HTTP_FOUNDRY_COMPATIBLE         4


/* a model upstream: where a deployment's inference goes */

typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      kind;
    const char                     *kind_path;
    ngx_str_t                       url;
    ngx_str_t                       base;
    ngx_str_t                       host;
    ngx_str_t                       api_version;
    ngx_http_complex_value_t       *api_key;
    ngx_http_complex_value_t       *bearer;

    /* foundry_upstream_credential: a token fetched by the gateway */
    ngx_str_t                       credential_name;
    void                           *credential;

    /* whether it takes "stream_options" in a streamed request */
    ngx_uint_t                      stream_options;

    u_char                         *conf_file;
    ngx_uint_t                      conf_line;
} ngx_http_foundry_upstream_t;


#define NGX_HTTP_FOUNDRY_DIGEST_LEN         32
#define NGX_HTTP_FOUNDRY_MAX_KEYS_FILE      (512 * 1024 * 1024)


typedef struct {
    ngx_rbtree_t                    tree;
    ngx_rbtree_node_t               sentinel;
    ngx_pool_t                     *pool;
} ngx_http_foundry_regex_cache_t;


typedef struct {
    ngx_str_node_t                  sn;
    ngx_regex_t                    *regex;
} ngx_http_foundry_regex_node_t;


/* a key set, as built from a keys file (ngx_http_foundry_keys.c) */

typedef struct ngx_http_foundry_keyset_s  ngx_http_foundry_keyset_t;


/* a key store: the zone, its file, and (per process) a regex cache */

typedef struct {
    ngx_str_t                       name;
    ngx_str_t                       file;
    ngx_msec_t                      interval;
    void                           *conf_set;
    ngx_pool_t                     *conf_pool;
    ngx_file_info_t                 conf_fi;
    ngx_shm_zone_t                 *shm_zone;
    void                           *sh;
    ngx_slab_pool_t                *shpool;
    ngx_http_foundry_regex_cache_t  regexes;
    ngx_err_t                       stat_err;
} ngx_http_foundry_keys_zone_t;


/* a key entry as a request sees it, copied out of the zone */

typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      disabled;
    time_t                          not_before;
    time_t                          expires;
    ngx_array_t                    *deployments;
    ngx_array_t                    *meta;

    /* the operations the key may use, a mask; all by default */
    uint32_t                        operations;

    /* the keys zone of the entry's regexes when not the location's */
    ngx_shm_zone_t                 *zone;
} ngx_http_foundry_key_info_t;


/* every operation: a key or a token without an operations allow-list */
#define NGX_HTTP_FOUNDRY_OPS_ALL            0xffffffff


/* where a key may arrive */

#define NGX_HTTP_FOUNDRY_SRC_HEADER         1
#define NGX_HTTP_FOUNDRY_SRC_ARG            2
#define NGX_HTTP_FOUNDRY_SRC_BEARER         3
#define NGX_HTTP_FOUNDRY_SRC_CONFIG         4

typedef struct {
    ngx_uint_t                      type;
    ngx_str_t                       name;
} ngx_http_foundry_key_source_t;


#define NGX_HTTP_FOUNDRY_QUOTAS             3


typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    void                           *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_foundry_limit_zone_t;


/* a foundry_limit directive */

typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_complex_value_t       *key;
    ngx_http_complex_value_t       *tpm;
    ngx_http_complex_value_t       *rpm;
    ngx_http_complex_value_t       *quota[NGX_HTTP_FOUNDRY_QUOTAS];
    ngx_int_t                       reserve;
} ngx_http_foundry_limit_t;


/* its values for one request; -1 for "no limit" */

typedef struct {
    int64_t                         tpm;
    int64_t                         rpm;
    int64_t                         quota[NGX_HTTP_FOUNDRY_QUOTAS];
} ngx_http_foundry_limit_values_t;


/* what a request reserved under one limit */

typedef struct {
    ngx_http_foundry_limit_zone_t  *zone;
    ngx_str_t                       key;
    uint32_t                        hash;
    int64_t                         estimate;
    ngx_http_foundry_limit_values_t values;
    int64_t                         remaining_requests;
    int64_t                         remaining_tokens;
    time_t                          reset;
    const char                     *kind;
    ngx_uint_t                      quota;
    unsigned                        reserved:1;
    unsigned                        committed:1;
} ngx_http_foundry_limit_state_t;


#define NGX_HTTP_FOUNDRY_M_REQUESTS         0
#define NGX_HTTP_FOUNDRY_M_TOKENS           1
#define NGX_HTTP_FOUNDRY_M_RESPONSE         2
#define NGX_HTTP_FOUNDRY_M_FIRST_BYTE       3
#define NGX_HTTP_FOUNDRY_M_AUTH             4
#define NGX_HTTP_FOUNDRY_M_LIMIT            5
#define NGX_HTTP_FOUNDRY_M_DISCOVERY        6
#define NGX_HTTP_FOUNDRY_M_JWKS             7
#define NGX_HTTP_FOUNDRY_M_KEYS             8
#define NGX_HTTP_FOUNDRY_M_CONTENT          9
#define NGX_HTTP_FOUNDRY_M_CREDENTIAL       10
#define NGX_HTTP_FOUNDRY_M_EXPIRY           11
#define NGX_HTTP_FOUNDRY_M_INTROSPECT       12
#define NGX_HTTP_FOUNDRY_METRICS            13


/* the caller's identity as metric labels (foundry_metrics_zone labels=) */
#define NGX_HTTP_FOUNDRY_LABEL_AGENT        1
#define NGX_HTTP_FOUNDRY_LABEL_PROJECT      2


typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    void                           *sh;
    ngx_slab_pool_t                *shpool;
    ngx_uint_t                      labels;
    ngx_uint_t                      label_values;
} ngx_http_foundry_metrics_zone_t;


/* a deployment as Foundry sees it */

typedef struct {
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

    /* what the upstream calls it; as a JSON string; upstream path prefix */
    ngx_str_t                       upstream_model;
    ngx_str_t                       upstream_model_json;
    ngx_str_t                       upstream_prefix;

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


/* a discovery source: an internal location listing deployments */

typedef struct {
    ngx_str_t                       uri;
    ngx_str_t                       key;
    ngx_shm_zone_t                 *zone;
    ngx_str_t                       upstream_name;
    ngx_http_foundry_upstream_t    *upstream;
    ngx_msec_t                      ttl;
} ngx_http_foundry_discovery_source_t;


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


/* how requests authenticate */

#define NGX_HTTP_FOUNDRY_AUTH_OFF           0
#define NGX_HTTP_FOUNDRY_AUTH_KEY           1
#define NGX_HTTP_FOUNDRY_AUTH_TOKEN         2

/* the connection's authType when foundry_auth names it (else derived) */

#define NGX_HTTP_FOUNDRY_TYPE_DERIVED       0
#define NGX_HTTP_FOUNDRY_TYPE_API_KEY       1
#define NGX_HTTP_FOUNDRY_TYPE_OAUTH2        2
#define NGX_HTTP_FOUNDRY_TYPE_PMI           3
#define NGX_HTTP_FOUNDRY_TYPE_AAD           4


typedef struct ngx_http_foundry_strip_s  ngx_http_foundry_strip_t;


/* a JWT issuer; "local*" is each worker's parse of the fetched key set */

typedef struct {
    ngx_str_t                       iss;
    ngx_array_t                    *audiences;
    struct ngx_http_foundry_jwks_s *keys;
    ngx_str_t                       jwks_uri;
    ngx_str_t                       oidc_uri;
    ngx_msec_t                      ttl;

    /* the digest of where the keys come from, part of a token's cache key */
    u_char                          keys_id[NGX_HTTP_FOUNDRY_DIGEST_LEN];

    /* the issuer's own claim rules (foundry_entra project=), or NULL */
    ngx_array_t                    *claims;

    struct ngx_http_foundry_jwks_s *local;
    ngx_pool_t                     *local_pool;
    ngx_uint_t                      local_generation;

    /* an accepted token's own mapping (src/oauth2/), or NULL */
    ngx_int_t                     (*accepted)(ngx_http_request_t *r,
                                              void *data, void *ctx);
    void                           *accepted_data;
} ngx_http_foundry_issuer_t;


#define NGX_HTTP_FOUNDRY_CLAIM_EQUALS       1
#define NGX_HTTP_FOUNDRY_CLAIM_ONE_OF       2
#define NGX_HTTP_FOUNDRY_CLAIM_CONTAINS     3

typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      op;
    ngx_array_t                    *values;
    ngx_uint_t                      nocase;
} ngx_http_foundry_claim_rule_t;


typedef struct {
    ngx_str_t                       name;
    ngx_regex_t                    *regex;
} ngx_http_foundry_pattern_t;


typedef struct {
    ngx_str_t                       claim;
    ngx_str_t                       value;
    ngx_array_t                    *deployments;
    uint32_t                        operations;
} ngx_http_foundry_token_allow_t;


typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    void                           *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_foundry_jwt_zone_t;


typedef struct {
    ngx_array_t                     upstreams;
    ngx_array_t                     key_zones;
    ngx_array_t                     targets;
    ngx_http_foundry_metrics_zone_t *metrics;
    ngx_http_foundry_jwt_zone_t    *jwt;
    ngx_flag_t                      used;

    /* the first "foundry_metrics", to name it when no zone is declared */
    u_char                         *metrics_file;
    ngx_uint_t                      metrics_line;

    /* every arg= of foundry_key_source in http{}, masked in every request */
    ngx_array_t                    *key_args;       /* of ngx_str_t */
    ngx_array_t                    *mask_headers;   /* of ngx_str_t */
    ngx_array_t                    *error_logs;     /* of ngx_log_t * */

    /* foundry_upstream_credential: ngx_http_foundry_identity_conf_t */
    void                           *identity;

    /* foundry_token_service: ngx_http_foundry_oauth2_main_t */
    void                           *oauth2;
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

    ngx_shm_zone_t                 *keys;
    ngx_array_t                    *key_sources;

    ngx_array_t                    *limits;

    ngx_array_t                    *sources;
    ngx_array_t                    *filters;

    ngx_uint_t                      auth_mode;
    ngx_uint_t                      auth_type;
    ngx_uint_t                      auth;
    ngx_array_t                    *issuers;
    ngx_array_t                    *claims;
    ngx_array_t                    *token_allow;
    ngx_array_t                    *token_ops;
    ngx_msec_t                      jwt_leeway;
    ngx_msec_t                      jwt_max_age;

    /* foundry_token_introspection: opaque tokens (credentials/) */
    struct ngx_http_foundry_introspect_s *introspect;

    ngx_str_t                       export_base;

    /* foundry_content_check: ngx_http_foundry_content_conf_t, or NULL */
    void                           *content;

    /* "accepted versions" phrases for error messages, built once */
    ngx_str_t                       inference_versions_text;
    ngx_str_t                       deployment_versions_text;

    /* foundry_token_endpoint, foundry_token_jwks: the token service */
    void                           *oauth2;
} ngx_http_foundry_loc_conf_t;


#define NGX_HTTP_FOUNDRY_BODY_NOMEM         1
#define NGX_HTTP_FOUNDRY_BODY_READ          2
#define NGX_HTTP_FOUNDRY_BODY_EMPTY         3
#define NGX_HTTP_FOUNDRY_BODY_SYNTAX        4
#define NGX_HTTP_FOUNDRY_BODY_NOT_OBJECT    5
#define NGX_HTTP_FOUNDRY_BODY_DEEP          6
#define NGX_HTTP_FOUNDRY_BODY_MODEL_TYPE    7
#define NGX_HTTP_FOUNDRY_BODY_MODEL_TWICE   8
#define NGX_HTTP_FOUNDRY_BODY_MODEL_LONG    9

#define NGX_HTTP_FOUNDRY_KEY_OTHER          0
#define NGX_HTTP_FOUNDRY_KEY_MODEL          1
#define NGX_HTTP_FOUNDRY_KEY_STREAM         2
#define NGX_HTTP_FOUNDRY_KEY_MAX_TOKENS     3
#define NGX_HTTP_FOUNDRY_KEY_STREAM_OPTIONS 4
#define NGX_HTTP_FOUNDRY_KEY_INCLUDE_USAGE  5

/* "stream_options.include_usage" of the request body */
#define NGX_HTTP_FOUNDRY_IU_ABSENT          0
#define NGX_HTTP_FOUNDRY_IU_TRUE            1
#define NGX_HTTP_FOUNDRY_IU_FALSE           2
#define NGX_HTTP_FOUNDRY_IU_OTHER           3

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

    unsigned                        keys:1;
    unsigned                        has_model:1;
    unsigned                        stream:1;
    unsigned                        has_so:1;
    unsigned                        in_so:1;
    unsigned                        so_keys:1;
} ngx_http_foundry_body_t;


/* the answer of a fetch subrequest, collected by the body filter */

typedef struct {
    ngx_buf_t                      *buf;
    size_t                          max;
    unsigned                        limited:1;
    unsigned                        too_large:1;
    unsigned                        done:1;

    /* a discovery source's: the credential's "Bearer <token>", if any */
    ngx_str_t                       authorization;
} ngx_http_foundry_collect_t;


#define NGX_HTTP_FOUNDRY_USAGE_JSON         1
#define NGX_HTTP_FOUNDRY_USAGE_SSE          2
#define NGX_HTTP_FOUNDRY_USAGE_DEPTH        8


/*
 * The largest token count the module takes from anywhere (an upstream's
 * usage, a request's max_tokens, a limit's value), 2^40: larger figures
 * count as this, so that sums of them cannot overflow.
 */

#define NGX_HTTP_FOUNDRY_TOKENS_MAX         ((int64_t) 1 << 40)


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

    /* bearer tokens: the parsed token, the keys, the accepted token */
    struct ngx_http_foundry_jwt_s  *jwt;
    struct ngx_http_foundry_jwks_s *jwks;
    struct ngx_http_foundry_jwt_s  *token;
    const char                     *challenge;

    /* the "jwks_uri" of an issuer's discovery document fetched here */
    ngx_str_t                       jwks_url;

    /* an opaque token's introspection (credentials/) */
    struct ngx_http_foundry_introspect_req_s *introspect;

    /* a fetch subrequest's own ctx: where its answer is collected */
    ngx_http_foundry_collect_t     *collect;

    /* foundry_stream_usage: the stream whose usage chunk is taken out */
    ngx_http_foundry_strip_t       *strip;

    /* the client left: the answer is read on for its usage, up to these */
    ngx_event_t                    *drain_timer;
    off_t                           drained;

    /* seconds until an upstream server of the request is usable again */
    ngx_uint_t                      cooling;

    /* discovery sources: fetches under way, a list fetched here */
    ngx_uint_t                      sources_pending;
    struct ngx_http_foundry_list_s *fresh;
    ngx_http_foundry_discovery_source_t *fresh_src;

    /* the sources' upstream credentials' tokens, the next one to get */
    ngx_str_t                      *source_bearers;
    ngx_uint_t                      source_next;

    /* the upstream credential's token: "Bearer <token>", and its state */
    ngx_str_t                       identity_bearer;
    const char                     *identity_state;

    /* the prompt's content check: ngx_http_foundry_ct_check_t */
    void                           *content;

    unsigned                        identity_pending:1;
    unsigned                        identity_fetched:1;
    unsigned                        identity_waiting:1;
    unsigned                        started:1;
    unsigned                        body_read:1;
    unsigned                        body_parsed:1;
    unsigned                        model_set:1;
    unsigned                        sources_fetched:1;
    unsigned                        jwks_pending:1;
    unsigned                        jwks_fetched_here:1;
    unsigned                        refetched:1;
    unsigned                        routed:1;
    unsigned                        body_deployment:1;
    unsigned                        waiting_body:1;
    unsigned                        error_sent:1;
    unsigned                        limit_headers_sent:1;
    unsigned                        strip_usage:1;
    unsigned                        drain:1;
    unsigned                        draining:1;
} ngx_http_foundry_ctx_t;


#define NGX_HTTP_FOUNDRY_REQ_NONE           0
#define NGX_HTTP_FOUNDRY_REQ_LIST           1
#define NGX_HTTP_FOUNDRY_REQ_GET            2
#define NGX_HTTP_FOUNDRY_REQ_INFERENCE      3


typedef struct {
    ngx_shm_zone_t                 *zone;
    ngx_http_upstream_init_pt       original_init_upstream;
    ngx_http_upstream_init_peer_pt  original_init_peer;
} ngx_http_foundry_cooldown_conf_t;


typedef struct {
    ngx_http_foundry_loc_conf_t    *conf;
} ngx_http_foundry_target_t;


typedef struct {
    ngx_http_foundry_ctx_t         *ctx;
    ngx_http_foundry_issuer_t      *iss;
    ngx_http_foundry_collect_t     *collect;
    ngx_uint_t                      done;
} ngx_http_foundry_jwks_fetch_t;


#define NGX_HTTP_FOUNDRY_LOCAL_SLOTS        64
#define NGX_HTTP_FOUNDRY_LOCAL_MAX          8192

typedef struct {
    uint32_t                        hash;
    ngx_uint_t                      refs;
    ngx_pool_t                     *pool;
    ngx_str_t                       secret;

    /* what the value was made with: an issuer's keys, a key set */
    u_char                          tag[NGX_HTTP_FOUNDRY_DIGEST_LEN];

    void                           *value;
} ngx_http_foundry_local_slot_t;

typedef struct {
    ngx_http_foundry_local_slot_t   slots[NGX_HTTP_FOUNDRY_LOCAL_SLOTS];
    ngx_uint_t                      cleanup;
} ngx_http_foundry_local_t;


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


typedef struct ngx_http_foundry_list_s {
    size_t                          size;
    uint32_t                        n;
    ngx_http_foundry_found_t        found[1];
} ngx_http_foundry_list_t;

typedef struct {
    ngx_http_foundry_ctx_t         *ctx;
    ngx_http_foundry_discovery_source_t *src;
    ngx_http_foundry_collect_t     *collect;
    ngx_uint_t                      done;
} ngx_http_foundry_fetch_t;


extern ngx_module_t  ngx_http_foundry_module;


/* the module's version and those of what it runs with */

typedef struct {
    ngx_str_t                       module;
    ngx_str_t                       nginx;
    ngx_str_t                       yajl;
    ngx_str_t                       openssl;
} ngx_http_foundry_versions_t;


#endif /* _NGX_HTTP_FOUNDRY_COMMON_H_INCLUDED_ */
