
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_identity.h"


/* the arguments of foundry_upstream_credential, while they are read */

typedef struct {
    ngx_http_foundry_id_credential_t *cred;
    ngx_str_t                        *directive;
    ngx_str_t                         resource;
    ngx_str_t                         scope;
    ngx_str_t                         client_id;
    ngx_str_t                         audience;
    ngx_str_t                         file;
    ngx_str_t                         env;
    ngx_str_t                         a[5]; /* ngx_http_foundry_id_params */
} ngx_http_foundry_id_args_t;


static ngx_http_foundry_identity_conf_t *ngx_http_foundry_identity_conf(
    ngx_conf_t *cf, ngx_http_foundry_main_conf_t *fmcf);
static ngx_int_t ngx_http_foundry_id_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_foundry_credential_secret(ngx_conf_t *cf,
    ngx_str_t *file, ngx_str_t *env, ngx_str_t *secret);
static ngx_int_t ngx_http_foundry_credential_arg(ngx_conf_t *cf, void *data,
    ngx_str_t *arg);
static ngx_int_t ngx_http_foundry_credential_check(ngx_conf_t *cf,
    ngx_http_foundry_id_credential_t *cred, ngx_http_foundry_id_args_t *ia);
static ngx_int_t ngx_http_foundry_credential_assertion(ngx_conf_t *cf,
    ngx_http_foundry_id_credential_t *cred, ngx_http_foundry_id_args_t *ia);
static ngx_int_t ngx_http_foundry_credential_build(ngx_conf_t *cf,
    ngx_http_foundry_id_credential_t *cred, ngx_http_foundry_id_args_t *ia,
    ngx_str_t *secret);
static ngx_int_t ngx_http_foundry_credential_key(
    ngx_http_foundry_id_credential_t *cred);
static u_char *ngx_http_foundry_form_add(u_char *p, const char *name,
    ngx_str_t *value);
static size_t ngx_http_foundry_form_len(const char *name, ngx_str_t *value);


typedef struct {
    ngx_str_t    name;
    ngx_uint_t   source;
} ngx_http_foundry_id_source_t;


typedef struct {
    ngx_str_t    name;
    size_t       offset;
} ngx_http_foundry_id_param_t;


static ngx_http_foundry_id_source_t  ngx_http_foundry_id_sources[] = {
    { ngx_string("imds"), NGX_HTTP_FOUNDRY_ID_IMDS },
    { ngx_string("app-service"), NGX_HTTP_FOUNDRY_ID_APP_SERVICE },
    { ngx_string("client-secret"), NGX_HTTP_FOUNDRY_ID_CLIENT_SECRET },
    { ngx_string("oauth2"), NGX_HTTP_FOUNDRY_ID_OAUTH2 },
    { ngx_string("certificate"), NGX_HTTP_FOUNDRY_ID_CERTIFICATE },
    { ngx_string("workload-identity"), NGX_HTTP_FOUNDRY_ID_WORKLOAD },
    { ngx_null_string, 0 }
};


/* the parameters of certificate and workload-identity, in this order */

static ngx_str_t  ngx_http_foundry_id_params[] = {
    ngx_string("certificate="),
    ngx_string("certificate_key="),
    ngx_string("alg="),
    ngx_string("token_url="),
    ngx_string("token_file="),
    ngx_null_string
};


/* the parameters whose value must not be empty */

static ngx_http_foundry_id_param_t  ngx_http_foundry_id_values[] = {
    { ngx_string("resource="),
      offsetof(ngx_http_foundry_id_args_t, resource) },
    { ngx_string("scope="), offsetof(ngx_http_foundry_id_args_t, scope) },
    { ngx_string("client_id="),
      offsetof(ngx_http_foundry_id_args_t, client_id) },
    { ngx_string("audience="),
      offsetof(ngx_http_foundry_id_args_t, audience) },
    { ngx_string("secret_file="),
      offsetof(ngx_http_foundry_id_args_t, file) },
    { ngx_string("secret_env="), offsetof(ngx_http_foundry_id_args_t, env) },
    { ngx_null_string, 0 }
};


static ngx_http_foundry_identity_conf_t *
ngx_http_foundry_identity_conf(ngx_conf_t *cf,
    ngx_http_foundry_main_conf_t *fmcf)
{
    ngx_http_foundry_identity_conf_t  *ic;

    if (fmcf->identity) {
        return fmcf->identity;
    }

    ic = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_identity_conf_t));
    if (ic == NULL) {
        return NULL;
    }

    if (ngx_array_init(&ic->credentials, cf->pool, 2,
                       sizeof(ngx_http_foundry_id_credential_t))
        != NGX_OK)
    {
        return NULL;
    }

    fmcf->identity = ic;

    return ic;
}


/* foundry_upstream_credential_zone name:size; */

char *
ngx_http_foundry_credential_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_main_conf_t *fmcf = conf;

    ngx_str_t                         *value;
    ngx_http_foundry_id_zone_t        *iz;
    ngx_http_foundry_identity_conf_t  *ic;

    ic = ngx_http_foundry_identity_conf(cf, fmcf);
    if (ic == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ic->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    iz = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_id_zone_t));
    if (iz == NULL) {
        return NGX_CONF_ERROR;
    }

    iz->shm_zone = ngx_http_foundry_zone_add(cf, &value[1],
                                             ngx_http_foundry_id_init_zone,
                                             iz);
    if (iz->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ic->zone = iz;

    return NGX_CONF_OK;
}


/* the zone survives a reload: tokens fetched before it stay usable */

static ngx_int_t
ngx_http_foundry_id_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_foundry_id_zone_t  *oiz = data;

    size_t                        len;
    ngx_http_foundry_id_zone_t   *iz;
    ngx_http_foundry_id_shctx_t  *sh;

    iz = shm_zone->data;

    if (oiz) {
        iz->sh = oiz->sh;
        iz->shpool = oiz->shpool;
        return NGX_OK;
    }

    iz->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        iz->sh = iz->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(iz->shpool, sizeof(ngx_http_foundry_id_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    iz->sh = sh;
    iz->shpool->data = sh;

    ngx_queue_init(&sh->nodes);

    len = sizeof(" in foundry_upstream_credential_zone \"\"")
          + shm_zone->shm.name.len;

    iz->shpool->log_ctx = ngx_slab_alloc(iz->shpool, len);
    if (iz->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(iz->shpool->log_ctx,
                " in foundry_upstream_credential_zone \"%V\"%Z",
                &shm_zone->shm.name);

    iz->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * foundry_upstream_credential name source=imds|app-service|client-secret|
 *                             oauth2|certificate|workload-identity
 *                             token=/location [resource=uri]
 *                             [scope=s] [client_id=id] [audience=a]
 *                             [secret_file=path | secret_env=NAME]
 *                             [certificate=path certificate_key=path
 *                             token_url=url [alg=RS256|PS256]]
 *                             [token_file=path];
 */

char *
ngx_http_foundry_credential(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_main_conf_t *fmcf = conf;

    ngx_str_t                         *value, secret;
    ngx_uint_t                         i;
    ngx_http_foundry_id_args_t         ia;
    ngx_http_foundry_id_credential_t  *cred;
    ngx_http_foundry_identity_conf_t  *ic;

    ic = ngx_http_foundry_identity_conf(cf, fmcf);
    if (ic == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (ngx_http_foundry_valid_name(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid credential name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    cred = ic->credentials.elts;

    for (i = 0; i < ic->credentials.nelts; i++) {
        if (cred[i].name.len == value[1].len
            && ngx_strncmp(cred[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate credential \"%V\", first defined "
                               "in %s:%ui", &value[1], cred[i].conf_file,
                               cred[i].conf_line);
            return NGX_CONF_ERROR;
        }
    }

    cred = ngx_array_push(&ic->credentials);
    if (cred == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(cred, sizeof(ngx_http_foundry_id_credential_t));

    cred->name = value[1];
    cred->conf_file = cf->conf_file->file.name.data;
    cred->conf_line = cf->conf_file->line;

    ngx_memzero(&ia, sizeof(ngx_http_foundry_id_args_t));
    ia.cred = cred;
    ia.directive = &value[0];

    if (ngx_http_foundry_conf_args(cf, 2, ngx_http_foundry_credential_arg, &ia)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_credential_check(cf, cred, &ia) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_str_null(&secret);

    if ((ia.file.data || ia.env.data)
        && ngx_http_foundry_credential_secret(cf, &ia.file, &ia.env, &secret)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_credential_build(cf, cred, &ia, &secret) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* one argument of foundry_upstream_credential, for conf_args() */

static ngx_int_t
ngx_http_foundry_credential_arg(ngx_conf_t *cf, void *data, ngx_str_t *arg)
{
    ngx_http_foundry_id_args_t *ia = data;

    ngx_str_t                         v, *s;
    ngx_uint_t                        k;
    ngx_http_foundry_id_param_t      *p;
    ngx_http_foundry_id_credential_t *cred;

    cred = ia->cred;

    /* certificate, workload identity: see ngx_http_foundry_id_params */

    for (k = 0; ngx_http_foundry_id_params[k].len; k++) {
        if (arg->len > ngx_http_foundry_id_params[k].len
            && ngx_strncmp(arg->data, ngx_http_foundry_id_params[k].data,
                           ngx_http_foundry_id_params[k].len)
               == 0)
        {
            ia->a[k].data = arg->data + ngx_http_foundry_id_params[k].len;
            ia->a[k].len = arg->len - ngx_http_foundry_id_params[k].len;
            return NGX_OK;
        }
    }

    /* the others with a value that must not be empty */

    for (p = ngx_http_foundry_id_values; p->name.len; p++) {
        if (arg->len >= p->name.len
            && ngx_strncmp(arg->data, p->name.data, p->name.len) == 0)
        {
            s = (ngx_str_t *) ((u_char *) ia + p->offset);
            s->data = arg->data + p->name.len;
            s->len = arg->len - p->name.len;

            return s->len ? NGX_OK : NGX_DECLINED;
        }
    }

    if (ngx_strncmp(arg->data, "source=", 7) == 0) {
        v.data = arg->data + 7;
        v.len = arg->len - 7;

        for (k = 0; ngx_http_foundry_id_sources[k].name.len; k++) {
            if (ngx_http_foundry_id_sources[k].name.len == v.len
                && ngx_strncmp(ngx_http_foundry_id_sources[k].name.data,
                               v.data, v.len) == 0)
            {
                cred->source = ngx_http_foundry_id_sources[k].source;
                cred->source_name = (const char *)
                                  ngx_http_foundry_id_sources[k].name.data;
                break;
            }
        }

        if (cred->source == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid source \"%V\" in \"%V\" "
                               "directive, it must be \"imds\", "
                               "\"app-service\", \"client-secret\", "
                               "\"oauth2\", \"certificate\" or "
                               "\"workload-identity\"", &v, ia->directive);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "token=", 6) == 0) {
        cred->location.data = arg->data + 6;
        cred->location.len = arg->len - 6;

        if (cred->location.len < 2 || cred->location.data[0] != '/'
            || ngx_strlchr(cred->location.data,
                           cred->location.data + cred->location.len, '?'))
        {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    return NGX_ABORT;
}


/* the arguments together, for all sources */

static ngx_int_t
ngx_http_foundry_credential_check(ngx_conf_t *cf,
    ngx_http_foundry_id_credential_t *cred, ngx_http_foundry_id_args_t *ia)
{
    if (cred->source == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"source=\"", ia->directive);
        return NGX_ERROR;
    }

    if (cred->location.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"token=\", the internal "
                           "location of the token endpoint", ia->directive);
        return NGX_ERROR;
    }

    if (ia->file.data && ia->env.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"secret_file=\" and \"secret_env=\" exclude "
                           "each other in \"%V\" directive", ia->directive);
        return NGX_ERROR;
    }

    if (((ia->a[0].data || ia->a[1].data || ia->a[2].data || ia->a[3].data)
         && cred->source != NGX_HTTP_FOUNDRY_ID_CERTIFICATE)
        || (ia->a[4].data && cred->source != NGX_HTTP_FOUNDRY_ID_WORKLOAD))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"certificate=\", \"certificate_key=\", "
                           "\"alg=\" and \"token_url=\" are for source "
                           "\"certificate\", \"token_file=\" for "
                           "\"workload-identity\", in \"%V\" directive",
                           ia->directive);
        return NGX_ERROR;
    }

    switch (cred->source) {

    case NGX_HTTP_FOUNDRY_ID_CERTIFICATE:
    case NGX_HTTP_FOUNDRY_ID_WORKLOAD:
        return ngx_http_foundry_credential_assertion(cf, cred, ia);

    case NGX_HTTP_FOUNDRY_ID_IMDS:
        if (ia->file.data || ia->env.data || ia->scope.data
            || ia->audience.data)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "source \"imds\" takes \"resource=\" and "
                               "\"client_id=\" only, in \"%V\" directive",
                               ia->directive);
            return NGX_ERROR;
        }

        break;

    case NGX_HTTP_FOUNDRY_ID_APP_SERVICE:
        if (ia->scope.data || ia->audience.data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "source \"app-service\" takes \"resource=\", "
                               "\"client_id=\" and the identity header's "
                               "\"secret_file=\" or \"secret_env=\", in "
                               "\"%V\" directive", ia->directive);
            return NGX_ERROR;
        }

        if (ia->file.data == NULL && ia->env.data == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "source \"app-service\" needs the identity "
                               "header in \"secret_env=IDENTITY_HEADER\" or "
                               "\"secret_file=\", in \"%V\" directive",
                               ia->directive);
            return NGX_ERROR;
        }

        break;

    default: /* client-secret, oauth2 */
        if (ia->resource.data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "source \"%s\" takes \"scope=\", not "
                               "\"resource=\", in \"%V\" directive",
                               cred->source_name, ia->directive);
            return NGX_ERROR;
        }

        if (cred->source == NGX_HTTP_FOUNDRY_ID_CLIENT_SECRET
            && ia->audience.data)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "source \"client-secret\" takes no "
                               "\"audience=\", in \"%V\" directive",
                               ia->directive);
            return NGX_ERROR;
        }

        if (ia->client_id.data == NULL
            || (ia->file.data == NULL && ia->env.data == NULL))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "source \"%s\" needs \"client_id=\" and "
                               "\"secret_file=\" or \"secret_env=\", in "
                               "\"%V\" directive", cred->source_name,
                               ia->directive);
            return NGX_ERROR;
        }

        break;
    }

    return NGX_OK;
}


/* sources certificate and workload-identity: a client assertion */

static ngx_int_t
ngx_http_foundry_credential_assertion(ngx_conf_t *cf,
    ngx_http_foundry_id_credential_t *cred, ngx_http_foundry_id_args_t *ia)
{
    if (ia->resource.data || ia->audience.data || ia->file.data
        || ia->env.data || ia->client_id.data == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "source \"%s\" needs \"client_id=\" and "
                           "takes \"scope=\", no \"resource=\", "
                           "\"audience=\" nor secret, in \"%V\" "
                           "directive", cred->source_name, ia->directive);
        return NGX_ERROR;
    }

    if (cred->source == NGX_HTTP_FOUNDRY_ID_WORKLOAD) {
        return ngx_http_foundry_identity_token_file(cf, cred, &ia->a[4]);
    }

    if (ia->a[0].data == NULL || ia->a[1].data == NULL
        || ia->a[3].data == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "source \"certificate\" needs "
                           "\"certificate=\", \"certificate_key=\" "
                           "and \"token_url=\" (the assertion's "
                           "audience), in \"%V\" directive", ia->directive);
        return NGX_ERROR;
    }

    return ngx_http_foundry_identity_certificate(cf, cred, &ia->a[0],
                                                 &ia->a[1], &ia->a[2],
                                                 &ia->a[3], &ia->client_id);
}


/*
 * The secret, from a file (its first line) or from the environment of the
 * process that reads the configuration; it is never logged.
 */

static ngx_int_t
ngx_http_foundry_credential_secret(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *env, ngx_str_t *secret)
{
    u_char     *p, *name;
    ngx_str_t   text, path;

    if (file->data) {
        path = *file;

        if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_foundry_read_file(cf, &path, &text) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        name = ngx_pnalloc(cf->pool, env->len + 1);
        if (name == NULL) {
            return NGX_ERROR;
        }

        ngx_cpystrn(name, env->data, env->len + 1);

        p = (u_char *) getenv((char *) name);

        if (p == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the environment variable \"%V\" of "
                               "\"secret_env=\" is not set", env);
            return NGX_ERROR;
        }

        text.data = p;
        text.len = ngx_strlen(p);
    }

    /* the first line, without its end */

    p = ngx_strlchr(text.data, text.data + text.len, '\n');
    if (p) {
        text.len = p - text.data;
    }

    while (text.len && (text.data[text.len - 1] == '\r'
                        || text.data[text.len - 1] == ' '))
    {
        text.len--;
    }

    if (text.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the secret of \"%V\" is empty",
                           file->data ? file : env);
        return NGX_ERROR;
    }

    for (p = text.data; p < text.data + text.len; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the secret of \"%V\" has a control "
                               "character", file->data ? file : env);
            return NGX_ERROR;
        }
    }

    secret->data = ngx_pnalloc(cf->pool, text.len);
    if (secret->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(secret->data, text.data, text.len);
    secret->len = text.len;

    return NGX_OK;
}


/* the fetch, computed once: query arguments or a form body, a header */

static ngx_int_t
ngx_http_foundry_credential_build(ngx_conf_t *cf,
    ngx_http_foundry_id_credential_t *cred, ngx_http_foundry_id_args_t *ia,
    ngx_str_t *secret)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    grant, type, *resource, *scope, *client_id, *audience;
    const char  *version;

    static ngx_str_t  cognitive = ngx_string(
                                      "https://cognitiveservices.azure.com");
    static ngx_str_t  cognitive_scope = ngx_string(
                               "https://cognitiveservices.azure.com/.default");

    resource = &ia->resource;
    scope = &ia->scope;
    client_id = &ia->client_id;
    audience = &ia->audience;

    ngx_str_set(&grant, "client_credentials");
    ngx_str_null(&type);

    if (cred->pkey || cred->file) {
        ngx_str_set(&type,
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    }

    if (cred->source == NGX_HTTP_FOUNDRY_ID_IMDS
        || cred->source == NGX_HTTP_FOUNDRY_ID_APP_SERVICE)
    {
        if (resource->data == NULL) {
            *resource = cognitive;
        }

        if (cred->source == NGX_HTTP_FOUNDRY_ID_IMDS) {
            version = "2018-02-01";
            ngx_str_set(&cred->header_name, "Metadata");
            ngx_str_set(&cred->header_value, "true");

        } else {
            version = "2019-08-01";
            ngx_str_set(&cred->header_name, "X-IDENTITY-HEADER");
            cred->header_value = *secret;
        }

        len = sizeof("api-version=") - 1 + ngx_strlen(version)
              + ngx_http_foundry_form_len("resource", resource)
              + ngx_http_foundry_form_len("client_id", client_id);

        p = ngx_pnalloc(cf->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        cred->args.data = p;
        p = ngx_sprintf(p, "api-version=%s", version);
        p = ngx_http_foundry_form_add(p, "resource", resource);
        p = ngx_http_foundry_form_add(p, "client_id", client_id);
        cred->args.len = p - cred->args.data;

    } else {
        if (scope->data == NULL
            && cred->source != NGX_HTTP_FOUNDRY_ID_OAUTH2)
        {
            *scope = cognitive_scope;
        }

        cred->post = 1;

        len = ngx_http_foundry_form_len("grant_type", &grant)
              + ngx_http_foundry_form_len("client_id", client_id)
              + ngx_http_foundry_form_len("client_secret", secret)
              + ngx_http_foundry_form_len("scope", scope)
              + ngx_http_foundry_form_len("audience", audience)
              + ngx_http_foundry_form_len("client_assertion_type", &type)
              + sizeof("&client_assertion=");

        p = ngx_pnalloc(cf->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        cred->body.data = p;
        p = ngx_http_foundry_form_add(p, "grant_type", &grant);
        p = ngx_http_foundry_form_add(p, "client_id", client_id);
        p = ngx_http_foundry_form_add(p, "client_secret", secret);
        p = ngx_http_foundry_form_add(p, "scope", scope);
        p = ngx_http_foundry_form_add(p, "audience", audience);
        p = ngx_http_foundry_form_add(p, "client_assertion_type", &type);

        /* the assertion follows, made at each fetch */

        if (type.data) {
            p = ngx_cpymem(p, "&client_assertion=",
                           sizeof("&client_assertion=") - 1);
        }

        /* no leading "&" */
        cred->body.data++;
        cred->body.len = p - cred->body.data;
    }

    return ngx_http_foundry_credential_key(cred);
}


/*
 * the zone's key: a token is reused after a reload only for the same
 * credential fetched the same way
 */

static ngx_int_t
ngx_http_foundry_credential_key(ngx_http_foundry_id_credential_t *cred)
{
    u_char     zero;
    ngx_str_t  parts[13];

    zero = 0;

    parts[0] = cred->name;
    parts[1].data = &zero;
    parts[1].len = 1;
    parts[2] = cred->location;
    parts[3] = parts[1];
    parts[4] = cred->args;
    parts[5] = parts[1];
    parts[6] = cred->body;
    parts[7] = parts[1];
    parts[8] = cred->header_value;
    parts[9] = parts[1];
    parts[10] = cred->jwt_header;
    parts[11] = parts[1];
    parts[12].data = cred->file ? cred->file->path : &zero;
    parts[12].len = cred->file ? ngx_strlen(cred->file->path) : 0;

    return ngx_http_foundry_sha256(parts, 13, cred->key);
}


/* at most: "&name=" and every byte of the value percent-encoded */

static size_t
ngx_http_foundry_form_len(const char *name, ngx_str_t *value)
{
    if (value->data == NULL) {
        return 0;
    }

    return 2 + ngx_strlen(name) + 3 * value->len;
}


/* "&name=value", the value percent-encoded as a form or a query wants */

static u_char *
ngx_http_foundry_form_add(u_char *p, const char *name, ngx_str_t *value)
{
    u_char  *q;

    if (value->data == NULL) {
        return p;
    }

    *p++ = '&';
    p = ngx_cpymem(p, name, ngx_strlen(name));
    *p++ = '=';

    for (q = value->data; q < value->data + value->len; q++) {
        if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')
            || (*q >= '0' && *q <= '9') || *q == '-' || *q == '.'
            || *q == '_' || *q == '~')
        {
            *p++ = *q;

        } else {
            p = ngx_sprintf(p, "%%%02XD", (ngx_uint_t) *q);
        }
    }

    return p;
}


/*
 * Postconfiguration: every foundry_upstream credential= names a
 * credential, and credentials need the zone.
 */

ngx_int_t
ngx_http_foundry_identity_init(ngx_conf_t *cf)
{
    ngx_uint_t                         i, j;
    ngx_pool_cleanup_t                *cln;
    ngx_http_foundry_upstream_t       *u;
    ngx_http_foundry_id_credential_t  *cred;
    ngx_http_foundry_main_conf_t      *fmcf;
    ngx_http_foundry_identity_conf_t  *ic;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);
    ic = fmcf->identity;

    if (ic) {
        /* the workers' copies of the tokens, when a worker exits */

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_foundry_identity_drop;
        cln->data = ic;
    }

    if (ic && ic->credentials.nelts && ic->zone == NULL) {
        cred = ic->credentials.elts;

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"foundry_upstream_credential\" needs a "
                      "\"foundry_upstream_credential_zone\" in the http "
                      "block, in %s:%ui", cred[0].conf_file,
                      cred[0].conf_line);
        return NGX_ERROR;
    }

    u = fmcf->upstreams.elts;

    for (i = 0; i < fmcf->upstreams.nelts; i++) {
        if (u[i].credential_name.data == NULL) {
            continue;
        }

        cred = ic ? ic->credentials.elts : NULL;

        for (j = 0; ic && j < ic->credentials.nelts; j++) {
            if (cred[j].name.len == u[i].credential_name.len
                && ngx_strncmp(cred[j].name.data, u[i].credential_name.data,
                               cred[j].name.len)
                   == 0)
            {
                u[i].credential = &cred[j];
                break;
            }
        }

        if (u[i].credential == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown credential \"%V\" of foundry upstream "
                          "\"%V\", no \"foundry_upstream_credential\" of "
                          "this name, in %s:%ui", &u[i].credential_name,
                          &u[i].name, u[i].conf_file, u[i].conf_line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
