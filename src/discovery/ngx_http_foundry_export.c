
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_discovery.h"
#include "ngx_http_foundry_oauth2.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_deployments.h"


/*
 * The Foundry side of a gateway target: what to give Foundry to create
 * the connection, written from the configuration so that nobody has to
 * hand-write its case-sensitive metadata.  A location with
 * "foundry_export" answers
 *
 *     GET /export?target=/v1                  the connection, as JSON
 *     GET /export?target=/v1&format=bicep     the parameters file of the
 *                                             Foundry samples' templates
 *     GET /export?target=/v1&format=terraform an azapi_resource
 *     GET /export?target=/v1&format=bicep-metadata
 *                                             the earlier parameters file
 *                                             (connectionName, category,
 *                                             target, authType, metadata)
 *     GET /export                             the list of targets
 *
 * The metadata values that are JSON (models, modelDiscovery, authConfig,
 * customHeaders) are serialised as JSON strings, as Foundry wants them.
 * No secret is written: the credential is left for the admin to fill.
 */


static ngx_int_t ngx_http_foundry_export_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_foundry_export_base(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_str_t *base);
static ngx_uint_t ngx_http_foundry_export_format(ngx_str_t *format);
static ngx_int_t ngx_http_foundry_export_list(yajl_gen g,
    ngx_http_foundry_main_conf_t *fmcf);
static ngx_http_foundry_target_t *ngx_http_foundry_export_find(
    ngx_http_foundry_main_conf_t *fmcf, ngx_str_t *target);
static ngx_int_t ngx_http_foundry_export_send(ngx_http_request_t *r,
    ngx_str_t *out);
static ngx_int_t ngx_http_foundry_export_connection(ngx_http_request_t *r,
    ngx_http_foundry_target_t *t, ngx_str_t *base,
    ngx_http_foundry_connection_t *c);
static ngx_int_t ngx_http_foundry_export_target(yajl_gen g,
    ngx_http_foundry_connection_t *c, ngx_uint_t format);
static ngx_int_t ngx_http_foundry_export_json(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_uint_t what, ngx_str_t *out);
static ngx_uint_t ngx_http_foundry_export_auth_type(
    ngx_http_foundry_loc_conf_t *flcf);
static ngx_int_t ngx_http_foundry_export_oauth2(yajl_gen g,
    ngx_http_foundry_connection_t *c);
static ngx_int_t ngx_http_foundry_export_text(ngx_http_request_t *r,
    ngx_str_t *text);


#define NGX_HTTP_FOUNDRY_AS_JSON            0
#define NGX_HTTP_FOUNDRY_AS_BICEP           1
#define NGX_HTTP_FOUNDRY_AS_BICEP_METADATA  2
#define NGX_HTTP_FOUNDRY_AS_TERRAFORM       3


static ngx_str_t  ngx_http_foundry_export_formats[] = {
    ngx_string("json"),
    ngx_string("bicep"),
    ngx_string("bicep-metadata"),
    ngx_string("terraform")
};


/* Foundry's names of the authTypes, by NGX_HTTP_FOUNDRY_TYPE_* */

static ngx_str_t  ngx_http_foundry_auth_types[] = {
    ngx_string("ApiKey"),
    ngx_string("ApiKey"),
    ngx_string("OAuth2"),
    ngx_string("ProjectManagedIdentity"),
    ngx_string("AAD")
};


/* foundry_export [base_url=url]; */

char *
ngx_http_foundry_export(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strncmp(value[1].data, "base_url=", 9) != 0
            || value[1].len == 9)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" directive, "
                               "expected \"base_url=\"", &value[1], &value[0]);
            return NGX_CONF_ERROR;
        }

        flcf->export_base.data = value[1].data + 9;
        flcf->export_base.len = value[1].len - 9;

        while (flcf->export_base.len
               && flcf->export_base.data[flcf->export_base.len - 1] == '/')
        {
            flcf->export_base.len--;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_foundry_export_handler;

    return NGX_CONF_OK;
}


/* every gateway target of the configuration, for the export */

ngx_int_t
ngx_http_foundry_export_register(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *flcf)
{
    ngx_uint_t                     type;
    ngx_http_foundry_target_t     *t;
    ngx_http_foundry_main_conf_t  *fmcf;

    /* Foundry takes managed identities on ApiManagement connections only */

    type = flcf->access->auth_type;

    if ((type == NGX_HTTP_FOUNDRY_TYPE_PMI || type == NGX_HTTP_FOUNDRY_TYPE_AAD)
        && flcf->category != NGX_HTTP_FOUNDRY_API_MANAGEMENT)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"foundry_auth %V\" is the authType of "
                           "ApiManagement connections: it needs "
                           "\"foundry_category ApiManagement\" (a "
                           "ModelGateway connection takes ApiKey or OAuth2)",
                           &ngx_http_foundry_auth_types[type]);
        return NGX_ERROR;
    }

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    t = ngx_array_push(&fmcf->targets);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->conf = flcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_export_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      target, format, base, out, msg;
    ngx_uint_t                     as;
    yajl_gen                       g;
    yajl_alloc_funcs               funcs;
    ngx_http_foundry_target_t     *t;
    ngx_http_foundry_loc_conf_t   *flcf;
    ngx_http_foundry_main_conf_t  *fmcf;
    ngx_http_foundry_connection_t  c;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);
    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);

    if (ngx_http_foundry_export_base(r, flcf, &base) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&target);
    ngx_str_null(&format);

    (void) ngx_http_arg(r, (u_char *) "target", 6, &target);
    (void) ngx_http_arg(r, (u_char *) "format", 6, &format);

    as = ngx_http_foundry_export_format(&format);

    if (as > NGX_HTTP_FOUNDRY_AS_TERRAFORM) {
        ngx_str_set(&msg, "the format is \"json\", \"bicep\", "
                          "\"terraform\" or \"bicep-metadata\"");

        return ngx_http_foundry_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "BadRequest", msg.data, msg.len);
    }

    g = ngx_http_foundry_json_gen(r->pool, &funcs);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_config(g, yajl_gen_beautify, 1);

    if (target.len == 0) {

        /* the list of targets */

        if (ngx_http_foundry_export_list(g, fmcf) != NGX_OK) {
            goto failed;
        }

    } else {
        t = ngx_http_foundry_export_find(fmcf, &target);

        if (t == NULL) {
            yajl_gen_free(g);

            ngx_str_set(&msg, "no gateway target has this path");

            return ngx_http_foundry_send_error(r, NGX_HTTP_NOT_FOUND,
                                               "NotFound", msg.data, msg.len);
        }

        if (ngx_http_foundry_export_connection(r, t, &base, &c) != NGX_OK) {
            goto failed;
        }

        if (as == NGX_HTTP_FOUNDRY_AS_TERRAFORM) {
            yajl_gen_free(g);

            if (ngx_http_foundry_export_terraform(r, &c, &out) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_foundry_export_text(r, &out);
        }

        if (ngx_http_foundry_export_target(g, &c, as) != NGX_OK) {
            goto failed;
        }
    }

    if (ngx_http_foundry_json_result(g, r->pool, &out) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_foundry_export_send(r, &out);

failed:

    yajl_gen_free(g);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* the target of a path */

static ngx_http_foundry_target_t *
ngx_http_foundry_export_find(ngx_http_foundry_main_conf_t *fmcf,
    ngx_str_t *target)
{
    ngx_uint_t                  i;
    ngx_http_foundry_target_t  *t;

    t = fmcf->targets.elts;

    for (i = 0; i < fmcf->targets.nelts; i++) {
        if (t[i].conf->prefix.len == target->len
            && ngx_strncmp(t[i].conf->prefix.data, target->data, target->len)
               == 0)
        {
            return &t[i];
        }
    }

    return NULL;
}


/* the JSON answer */

static ngx_int_t
ngx_http_foundry_export_send(ngx_http_request_t *r, ngx_str_t *out)
{
    ngx_buf_t    *b;
    ngx_chain_t   cl;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = out->data;
    b->last = out->data + out->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    cl.buf = b;
    cl.next = NULL;

    return ngx_http_foundry_send_json(r, NGX_HTTP_OK, &cl, out->len);
}


/* the base of the targets: configured, or this request's */

static ngx_int_t
ngx_http_foundry_export_base(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_str_t *base)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   host;

    if (flcf->export_base.len) {
        *base = flcf->export_base;
        return NGX_OK;
    }

    host = r->headers_in.host ? r->headers_in.host->value
                              : r->headers_in.server;

    len = sizeof("https://") - 1 + host.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    base->data = p;

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        p = ngx_cpymem(p, "https://", sizeof("https://") - 1);

    } else
#endif
    {
        p = ngx_cpymem(p, "http://", sizeof("http://") - 1);
    }

    p = ngx_cpymem(p, host.data, host.len);
    base->len = p - base->data;

    return NGX_OK;
}


/* the format asked for: json by default, above terraform if unknown */

static ngx_uint_t
ngx_http_foundry_export_format(ngx_str_t *format)
{
    ngx_uint_t  as;

    if (format->len == 0) {
        return NGX_HTTP_FOUNDRY_AS_JSON;
    }

    for (as = 0; as <= NGX_HTTP_FOUNDRY_AS_TERRAFORM; as++) {
        if (format->len == ngx_http_foundry_export_formats[as].len
            && ngx_strncmp(format->data,
                           ngx_http_foundry_export_formats[as].data,
                           format->len)
               == 0)
        {
            break;
        }
    }

    return as;
}


/* the list of targets */

static ngx_int_t
ngx_http_foundry_export_list(yajl_gen g, ngx_http_foundry_main_conf_t *fmcf)
{
    ngx_uint_t                  i;
    ngx_http_foundry_target_t  *t;

    t = fmcf->targets.elts;

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "targets") != NGX_OK
        || yajl_gen_array_open(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < fmcf->targets.nelts; i++) {
        if (ngx_http_foundry_json_string(g, &t[i].conf->prefix)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_foundry_json_end_list(g);
}


/* the connection of a target, its JSON values made once for every form */

static ngx_int_t
ngx_http_foundry_export_connection(ngx_http_request_t *r,
    ngx_http_foundry_target_t *t, ngx_str_t *base,
    ngx_http_foundry_connection_t *c)
{
    u_char                       *p;
    ngx_http_foundry_loc_conf_t  *flcf;

    flcf = t->conf;

    ngx_memzero(c, sizeof(ngx_http_foundry_connection_t));

    c->conf = flcf;

    c->url.len = base->len + flcf->prefix.len;
    c->url.data = ngx_pnalloc(r->pool, c->url.len);
    if (c->url.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(c->url.data, base->data, base->len);
    ngx_memcpy(p, flcf->prefix.data, flcf->prefix.len);

    if (flcf->connection_name.len) {
        c->name = flcf->connection_name;

    } else {
        ngx_str_set(&c->name, "nginx-gateway");
    }

    if (flcf->category == NGX_HTTP_FOUNDRY_API_MANAGEMENT) {
        ngx_str_set(&c->category, "ApiManagement");
        c->apim = 1;

    } else {
        ngx_str_set(&c->category, "ModelGateway");
    }

    c->auth_type = ngx_http_foundry_export_auth_type(flcf);
    c->auth = ngx_http_foundry_auth_types[c->auth_type];

    /* "?client_id=": the OAuth2 connection of the gateway's token service */

    if (ngx_http_arg(r, (u_char *) "client_id", 9, &c->client_id) != NGX_OK) {
        ngx_str_null(&c->client_id);
    }

    c->oauth2 = (ngx_http_foundry_export_oauth2(NULL, c) == NGX_OK);

    if (c->oauth2) {
        c->auth_type = NGX_HTTP_FOUNDRY_TYPE_OAUTH2;
        c->auth = ngx_http_foundry_auth_types[c->auth_type];
    }

    /* dynamic discovery when there are endpoints, else the static list */

    if (ngx_http_foundry_export_json(r, flcf,
                                     flcf->discovery
                                     ? NGX_HTTP_FOUNDRY_EXPORT_DISCOVERY
                                     : NGX_HTTP_FOUNDRY_EXPORT_MODELS,
                                     flcf->discovery ? &c->discovery
                                                     : &c->models)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the key's header, when it is not Foundry's default api-key */

    if ((flcf->access->auth & NGX_HTTP_FOUNDRY_AUTH_KEY
         || flcf->access->auth == 0)
        && !(flcf->auth_header.len == 7
             && ngx_strncasecmp(flcf->auth_header.data, (u_char *) "api-key",
                                7) == 0
             && flcf->auth_prefix.len == 0 && flcf->auth_suffix.len == 0)
        && ngx_http_foundry_export_json(r, flcf,
                                        NGX_HTTP_FOUNDRY_EXPORT_AUTH,
                                        &c->auth_config)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (flcf->custom_headers && flcf->custom_headers->nelts
        && ngx_http_foundry_export_json(r, flcf,
                                        NGX_HTTP_FOUNDRY_EXPORT_HEADERS,
                                        &c->headers)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_export_target(yajl_gen g, ngx_http_foundry_connection_t *c,
    ngx_uint_t format)
{
    static ngx_str_t  oauth2 = ngx_string("OAuth2");

    if (format == NGX_HTTP_FOUNDRY_AS_BICEP) {
        return ngx_http_foundry_export_bicep(g, c);
    }

    if (format == NGX_HTTP_FOUNDRY_AS_BICEP_METADATA) {

        /* the earlier parameters file: the connection's fields */

        if (ngx_http_foundry_export_parameters(g) != NGX_OK
            || ngx_http_foundry_json_key(g, "connectionName") != NGX_OK
            || yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_http_foundry_json_key(g, "value") != NGX_OK
            || ngx_http_foundry_json_string(g, &c->name) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || ngx_http_foundry_json_key(g, "category") != NGX_OK
            || yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_http_foundry_json_key(g, "value") != NGX_OK
            || ngx_http_foundry_json_string(g, &c->category) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || ngx_http_foundry_json_key(g, "target") != NGX_OK
            || yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_http_foundry_json_key(g, "value") != NGX_OK
            || ngx_http_foundry_json_string(g, &c->url) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || ngx_http_foundry_json_key(g, "authType") != NGX_OK
            || yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_http_foundry_json_key(g, "value") != NGX_OK
            || ngx_http_foundry_json_string(g, &c->auth) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || ngx_http_foundry_json_key(g, "metadata") != NGX_OK
            || yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_http_foundry_json_key(g, "value") != NGX_OK
            || ngx_http_foundry_export_metadata(g, c) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || yajl_gen_map_close(g) != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    /* the connection, as Foundry's REST API and portal show it */

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "name") != NGX_OK
        || ngx_http_foundry_json_string(g, &c->name) != NGX_OK
        || ngx_http_foundry_json_key(g, "properties") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "category") != NGX_OK
        || ngx_http_foundry_json_string(g, &c->category) != NGX_OK
        || ngx_http_foundry_json_key(g, "target") != NGX_OK
        || ngx_http_foundry_json_string(g, &c->url) != NGX_OK
        || ngx_http_foundry_json_key(g, "authType") != NGX_OK
        || ngx_http_foundry_json_string(g, c->oauth2 ? &oauth2 : &c->auth)
           != NGX_OK
        || ngx_http_foundry_json_key(g, "metadata") != NGX_OK
        || ngx_http_foundry_export_metadata(g, c) != NGX_OK
        || ngx_http_foundry_export_oauth2(g, c) == NGX_ERROR
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The OAuth2 connection to a target whose tokens come from the gateway's
 * own token service, for the client of "?client_id=": "credentials" with
 * clientId, tokenUrl and scopes, never a secret.  NGX_DECLINED when the
 * target has none or no client is named; without "g", only whether.
 */

static ngx_int_t
ngx_http_foundry_export_oauth2(yajl_gen g, ngx_http_foundry_connection_t *c)
{
    ngx_str_t                          *id;
    ngx_uint_t                          i;
    ngx_http_foundry_loc_conf_t        *flcf;
    ngx_http_foundry_issuer_t          *iss;
    ngx_http_foundry_oauth2_service_t  *svc;

    flcf = c->conf;
    id = &c->client_id;

    if (flcf->access->issuers == NULL || id->len == 0) {
        return NGX_DECLINED;
    }

    iss = flcf->access->issuers->elts;
    svc = NULL;

    for (i = 0; i < flcf->access->issuers->nelts && svc == NULL; i++) {
        svc = iss[i].accepted_data;
    }

    if (svc == NULL) {
        return NGX_DECLINED;
    }

    if (g == NULL) {
        c->token_url = svc->token_url;
        c->scopes = &svc->scopes;
        return NGX_OK;
    }

    if (ngx_http_foundry_json_key(g, "credentials") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "clientId") != NGX_OK
        || yajl_gen_string(g, id->data, id->len) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "tokenUrl") != NGX_OK
        || ngx_http_foundry_json_string(g, &svc->token_url) != NGX_OK
        || ngx_http_foundry_json_key(g, "scopes") != NGX_OK
        || yajl_gen_array_open(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return ngx_http_foundry_export_scopes(g, &svc->scopes);
}


/* what Foundry calls the credential of a connection to this target */

static ngx_uint_t
ngx_http_foundry_export_auth_type(ngx_http_foundry_loc_conf_t *flcf)
{
    ngx_uint_t                  i;
    ngx_http_foundry_issuer_t  *iss;

    if (flcf->access->auth_type != NGX_HTTP_FOUNDRY_TYPE_DERIVED) {
        return flcf->access->auth_type;
    }

    if (flcf->access->auth & NGX_HTTP_FOUNDRY_AUTH_KEY) {
        return NGX_HTTP_FOUNDRY_TYPE_API_KEY;
    }

    if (flcf->access->auth & NGX_HTTP_FOUNDRY_AUTH_TOKEN) {
        iss = flcf->access->issuers->elts;

        for (i = 0; i < flcf->access->issuers->nelts; i++) {
            if (iss[i].iss.len > sizeof("https://sts.windows.net/") - 1
                && ngx_strncmp(iss[i].iss.data, "https://sts.windows.net/",
                               sizeof("https://sts.windows.net/") - 1)
                   == 0)
            {
                return (flcf->category == NGX_HTTP_FOUNDRY_API_MANAGEMENT)
                       ? NGX_HTTP_FOUNDRY_TYPE_PMI
                       : NGX_HTTP_FOUNDRY_TYPE_OAUTH2;
            }
        }

        return NGX_HTTP_FOUNDRY_TYPE_OAUTH2;
    }

    return NGX_HTTP_FOUNDRY_TYPE_API_KEY;
}


/* the connection's metadata, its JSON values as JSON strings */

ngx_int_t
ngx_http_foundry_export_metadata(yajl_gen g, ngx_http_foundry_connection_t *c)
{
    ngx_str_t                    *v;
    ngx_http_foundry_loc_conf_t  *flcf;

    static ngx_str_t  yes = ngx_string("true");
    static ngx_str_t  no = ngx_string("false");
    static ngx_str_t  empty = ngx_string("");

    flcf = c->conf;

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "deploymentInPath") != NGX_OK
        || ngx_http_foundry_json_string(g, flcf->deployment_in_path
                                           ? &yes : &no)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    v = flcf->inference_api_versions
        ? flcf->inference_api_versions->elts : &empty;

    if (ngx_http_foundry_json_key(g, "inferenceAPIVersion") != NGX_OK
        || ngx_http_foundry_json_string(g, v) != NGX_OK)
    {
        return NGX_ERROR;
    }

    v = flcf->deployment_api_versions
        ? flcf->deployment_api_versions->elts : &empty;

    if (ngx_http_foundry_json_key(g, "deploymentAPIVersion") != NGX_OK
        || ngx_http_foundry_json_string(g, v) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (c->discovery.len) {
        if (ngx_http_foundry_json_key(g, "modelDiscovery") != NGX_OK
            || ngx_http_foundry_json_string(g, &c->discovery) != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else {
        if (ngx_http_foundry_json_key(g, "models") != NGX_OK
            || ngx_http_foundry_json_string(g, &c->models) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (c->auth_config.len
        && (ngx_http_foundry_json_key(g, "authConfig") != NGX_OK
            || ngx_http_foundry_json_string(g, &c->auth_config) != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (c->headers.len
        && (ngx_http_foundry_json_key(g, "customHeaders") != NGX_OK
            || ngx_http_foundry_json_string(g, &c->headers) != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a text answer (the Terraform form) */

static ngx_int_t
ngx_http_foundry_export_text(ngx_http_request_t *r, ngx_str_t *text)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   cl;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = text->data;
    b->last = text->data + text->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    cl.buf = b;
    cl.next = NULL;

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "text/plain; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = text->len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &cl);
}


/* one of the metadata values that Foundry takes as a JSON string */

static ngx_int_t
ngx_http_foundry_export_json(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_uint_t what, ngx_str_t *out)
{
    ngx_str_t                         provider, type;
    ngx_uint_t                        i;
    yajl_gen                          g;
    yajl_alloc_funcs                  funcs;
    ngx_http_foundry_custom_header_t *h;
    ngx_http_foundry_discovery_t     *d;
    ngx_http_foundry_deployment_t    *dep;

    g = ngx_http_foundry_json_gen(r->pool, &funcs);
    if (g == NULL) {
        return NGX_ERROR;
    }

    switch (what) {

    case NGX_HTTP_FOUNDRY_EXPORT_MODELS:

        if (yajl_gen_array_open(g) != yajl_gen_status_ok) {
            goto failed;
        }

        if (flcf->models) {
            dep = flcf->models->deployments.elts;

            for (i = 0; i < flcf->models->deployments.nelts; i++) {
                if (ngx_http_foundry_json_raw(g, &dep[i].azure_json)
                    != NGX_OK)
                {
                    goto failed;
                }
            }
        }

        if (yajl_gen_array_close(g) != yajl_gen_status_ok) {
            goto failed;
        }

        break;

    case NGX_HTTP_FOUNDRY_EXPORT_DISCOVERY:

        d = flcf->discovery->elts;

        if (d->format == NGX_HTTP_FOUNDRY_FORMAT_AZURE) {
            ngx_str_set(&provider, "AzureOpenAI");

        } else {
            ngx_str_set(&provider, "OpenAI");
        }

        if (yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_http_foundry_json_key(g, "listModelsEndpoint") != NGX_OK
            || ngx_http_foundry_json_string(g, &d->list) != NGX_OK
            || ngx_http_foundry_json_key(g, "getModelEndpoint") != NGX_OK
            || ngx_http_foundry_json_string(g, &d->get) != NGX_OK
            || ngx_http_foundry_json_key(g, "deploymentProvider") != NGX_OK
            || ngx_http_foundry_json_string(g, &provider) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok)
        {
            goto failed;
        }

        break;

    case NGX_HTTP_FOUNDRY_EXPORT_AUTH:

        ngx_str_set(&type, "api_key");

        if (yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_http_foundry_json_key(g, "type") != NGX_OK
            || ngx_http_foundry_json_string(g, &type) != NGX_OK
            || ngx_http_foundry_json_key(g, "name") != NGX_OK
            || ngx_http_foundry_json_string(g, &flcf->auth_header) != NGX_OK
            || ngx_http_foundry_json_key(g, "format") != NGX_OK
            || ngx_http_foundry_json_string(g, &flcf->auth_format) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok)
        {
            goto failed;
        }

        break;

    default: /* NGX_HTTP_FOUNDRY_EXPORT_HEADERS */

        if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
            goto failed;
        }

        h = flcf->custom_headers->elts;

        for (i = 0; i < flcf->custom_headers->nelts; i++) {
            if (ngx_http_foundry_json_string(g, &h[i].name) != NGX_OK
                || ngx_http_foundry_json_string(g, &h[i].value) != NGX_OK)
            {
                goto failed;
            }
        }

        if (yajl_gen_map_close(g) != yajl_gen_status_ok) {
            goto failed;
        }

        break;
    }

    return ngx_http_foundry_json_result(g, r->pool, out);

failed:

    yajl_gen_free(g);

    return NGX_ERROR;
}
