
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_deployments.h"


static ngx_int_t ngx_http_foundry_upstream_arg(ngx_conf_t *cf, void *data,
    ngx_str_t *arg);
static ngx_int_t ngx_http_foundry_upstream_kind(ngx_conf_t *cf,
    ngx_http_foundry_upstream_t *u, ngx_str_t *v);
static ngx_int_t ngx_http_foundry_upstream_check(ngx_conf_t *cf,
    ngx_http_foundry_upstream_t *u, ngx_str_t *url);
static ngx_int_t ngx_http_foundry_upstream_url(ngx_conf_t *cf,
    ngx_http_foundry_upstream_t *u, ngx_str_t *url);
static ngx_http_complex_value_t *ngx_http_foundry_complex(ngx_conf_t *cf,
    ngx_str_t *value);


typedef struct {
    ngx_str_t   name;
    ngx_uint_t  kind;
    const char *path;
} ngx_http_foundry_upstream_kind_t;


static ngx_http_foundry_upstream_kind_t  ngx_http_foundry_upstream_kinds[] = {
    { ngx_string("azure-openai"), NGX_HTTP_FOUNDRY_AZURE_CLASSIC,
      "/openai/deployments/" },
    { ngx_string("azure-openai-v1"), NGX_HTTP_FOUNDRY_AZURE_V1,
      "/openai/v1/" },
    { ngx_string("openai"), NGX_HTTP_FOUNDRY_OPENAI, "/v1/" },
    { ngx_string("openai-compatible"), NGX_HTTP_FOUNDRY_COMPATIBLE, "/" },
    { ngx_null_string, 0, NULL }
};


/*
 * foundry_upstream name kind=... url=scheme://host[:port][/base]
 *                  [host=name] [api_version=v] [api_key=value]
 *                  [bearer=value | credential=name]
 *                  [stream_options=on|off];
 */

char *
ngx_http_foundry_upstream(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_main_conf_t *fmcf = conf;

    ngx_str_t                     *value, url;
    ngx_uint_t                     i;
    ngx_http_foundry_upstream_t   *u;

    value = cf->args->elts;

    if (ngx_http_foundry_valid_name(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid upstream name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    u = fmcf->upstreams.elts;

    for (i = 0; i < fmcf->upstreams.nelts; i++) {
        if (u[i].name.len == value[1].len
            && ngx_strncmp(u[i].name.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate foundry upstream \"%V\", first "
                               "defined in %s:%ui", &value[1],
                               u[i].conf_file, u[i].conf_line);
            return NGX_CONF_ERROR;
        }
    }

    u = ngx_array_push(&fmcf->upstreams);
    if (u == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(u, sizeof(ngx_http_foundry_upstream_t));

    u->name = value[1];
    u->stream_options = NGX_CONF_UNSET_UINT;
    u->conf_file = cf->conf_file->file.name.data;
    u->conf_line = cf->conf_file->line;

    if (ngx_http_foundry_conf_args(cf, 2, ngx_http_foundry_upstream_arg, u)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the url as configured: the check makes u->url of it */

    url = u->url;

    if (ngx_http_foundry_upstream_check(cf, u, &url) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* one argument of foundry_upstream, for ngx_http_foundry_conf_args() */

static ngx_int_t
ngx_http_foundry_upstream_arg(ngx_conf_t *cf, void *data, ngx_str_t *arg)
{
    ngx_http_foundry_upstream_t *u = data;

    ngx_str_t  *value, v;

    value = cf->args->elts;

    if (ngx_strncmp(arg->data, "kind=", 5) == 0) {
        v.data = arg->data + 5;
        v.len = arg->len - 5;

        return ngx_http_foundry_upstream_kind(cf, u, &v);
    }

    if (ngx_strncmp(arg->data, "url=", 4) == 0) {
        u->url.data = arg->data + 4;
        u->url.len = arg->len - 4;
        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "host=", 5) == 0) {
        u->host.data = arg->data + 5;
        u->host.len = arg->len - 5;

        if (u->host.len == 0
            || ngx_strlchr(u->host.data, u->host.data + u->host.len, '/'))
        {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "api_version=", 12) == 0) {
        u->api_version.data = arg->data + 12;
        u->api_version.len = arg->len - 12;

        if (ngx_http_foundry_valid_api_version(&u->api_version)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\" in \"%V\" directive, "
                               "the api-version must be a date "
                               "\"YYYY-MM-DD\" or "
                               "\"YYYY-MM-DD-preview\"",
                               arg, &value[0]);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "stream_options=", 15) == 0) {
        if (ngx_strcmp(arg->data + 15, "on") == 0) {
            u->stream_options = 1;

        } else if (ngx_strcmp(arg->data + 15, "off") == 0) {
            u->stream_options = 0;

        } else {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "api_key=", 8) == 0) {
        v.data = arg->data + 8;
        v.len = arg->len - 8;

        u->api_key = ngx_http_foundry_complex(cf, &v);
        if (u->api_key == NULL) {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "bearer=", 7) == 0) {
        v.data = arg->data + 7;
        v.len = arg->len - 7;

        u->bearer = ngx_http_foundry_complex(cf, &v);
        if (u->bearer == NULL) {
            return NGX_ERROR;
        }

        /*
         * a value without variables: the header's whole value, made here
         * and not per request; the value itself is masked in the log as
         * configured (ngx_http_foundry_logmask_init())
         */

        v = u->bearer->value;

        if (u->bearer->lengths == NULL && v.len) {
            u->authorization.len = sizeof("Bearer ") - 1 + v.len;
            u->authorization.data = ngx_pnalloc(cf->pool,
                                                u->authorization.len);
            if (u->authorization.data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(ngx_cpymem(u->authorization.data, "Bearer ",
                                  sizeof("Bearer ") - 1),
                       v.data, v.len);
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "credential=", 11) == 0) {
        u->credential_name.data = arg->data + 11;
        u->credential_name.len = arg->len - 11;

        if (u->credential_name.len == 0) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    return NGX_ABORT;
}


/* kind=, and the path its calls take */

static ngx_int_t
ngx_http_foundry_upstream_kind(ngx_conf_t *cf, ngx_http_foundry_upstream_t *u,
    ngx_str_t *v)
{
    ngx_str_t   *value;
    ngx_uint_t   k;

    value = cf->args->elts;

    for (k = 0; ngx_http_foundry_upstream_kinds[k].name.len; k++) {
        if (ngx_http_foundry_upstream_kinds[k].name.len == v->len
            && ngx_strncmp(ngx_http_foundry_upstream_kinds[k].name.data,
                           v->data, v->len) == 0)
        {
            u->kind = ngx_http_foundry_upstream_kinds[k].kind;
            u->kind_path = ngx_http_foundry_upstream_kinds[k].path;
            break;
        }
    }

    if (u->kind == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid kind \"%V\" in \"%V\" directive, "
                           "it must be \"azure-openai\", "
                           "\"azure-openai-v1\", \"openai\" or "
                           "\"openai-compatible\"", v, &value[0]);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the arguments together */

static ngx_int_t
ngx_http_foundry_upstream_check(ngx_conf_t *cf,
    ngx_http_foundry_upstream_t *u, ngx_str_t *url)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    if (u->credential_name.data && (u->bearer || u->api_key)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"credential=\" excludes \"api_key=\" and "
                           "\"bearer=\" in \"%V\" directive", &value[0]);
        return NGX_ERROR;
    }

    if (u->kind == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"kind=\"", &value[0]);
        return NGX_ERROR;
    }

    if (url->data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"url=\"", &value[0]);
        return NGX_ERROR;
    }

    if (ngx_http_foundry_upstream_url(cf, u, url) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid url \"%V\" in \"%V\" directive, expected "
                           "http[s]://host[:port][/path] without query",
                           url, &value[0]);
        return NGX_ERROR;
    }

    if (u->kind == NGX_HTTP_FOUNDRY_AZURE_CLASSIC) {
        if (u->api_version.data == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive of kind \"azure-openai\" "
                               "needs \"api_version=\"", &value[0]);
            return NGX_ERROR;
        }

        /*
         * "stream_options" came with the api-versions of September 2024
         * (2024-09-01-preview, 2024-10-21): earlier ones refuse it
         */

        if (u->stream_options == NGX_CONF_UNSET_UINT) {
            u->stream_options = (u->api_version.len >= 10
                                 && ngx_strncmp(u->api_version.data,
                                                "2024-09-01", 10) >= 0);
        }

    } else if (u->api_version.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"api_version=\" is only for upstreams of kind "
                           "\"azure-openai\" in \"%V\" directive",
                           &value[0]);
        return NGX_ERROR;
    }

    if (u->stream_options == NGX_CONF_UNSET_UINT) {
        u->stream_options = 1;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_upstream_url(ngx_conf_t *cf, ngx_http_foundry_upstream_t *u,
    ngx_str_t *url)
{
    u_char     *p, *last, *host;
    ngx_str_t   base;

    last = url->data + url->len;

    if (url->len > 7 && ngx_strncasecmp(url->data, (u_char *) "http://", 7)
                        == 0)
    {
        host = url->data + 7;

    } else if (url->len > 8
               && ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0)
    {
        host = url->data + 8;

    } else {
        return NGX_ERROR;
    }

    p = ngx_strlchr(host, last, '/');
    if (p == NULL) {
        p = last;
    }

    if (p == host) {
        return NGX_ERROR;
    }

    for (last = host; last < p; last++) {
        if (*last <= ' ' || *last == '?' || *last == '#' || *last == '@'
            || *last >= 0x7f)
        {
            return NGX_ERROR;
        }
    }

    u->url.data = url->data;
    u->url.len = p - url->data;

    if (u->host.data == NULL) {
        u->host.data = host;
        u->host.len = p - host;
    }

    base.data = p;
    base.len = url->data + url->len - p;

    while (base.len && base.data[base.len - 1] == '/') {
        base.len--;
    }

    if (base.len && ngx_http_foundry_valid_path(&base) != NGX_OK) {
        return NGX_ERROR;
    }

    u->base = base;

    return NGX_OK;
}


static ngx_http_complex_value_t *
ngx_http_foundry_complex(ngx_conf_t *cf, ngx_str_t *value)
{
    ngx_http_complex_value_t           *cv;
    ngx_http_compile_complex_value_t    ccv;

    cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (cv == NULL) {
        return NULL;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NULL;
    }

    return cv;
}


ngx_http_foundry_upstream_t *
ngx_http_foundry_find_upstream(ngx_http_foundry_main_conf_t *fmcf,
    ngx_str_t *name)
{
    ngx_uint_t                    i;
    ngx_http_foundry_upstream_t  *u;

    u = fmcf->upstreams.elts;

    for (i = 0; i < fmcf->upstreams.nelts; i++) {
        if (u[i].name.len == name->len
            && ngx_strncmp(u[i].name.data, name->data, name->len) == 0)
        {
            return &u[i];
        }
    }

    return NULL;
}


/*
 * The part of the upstream URL that does not depend on the operation, the
 * scheme and host, then the path's start: "{url}{base}/openai/deployments/
 * {deployment}/", "{url}{base}/openai/v1/", "{url}{base}/v1/" or
 * "{url}{base}/" (the path begins u->url.len bytes in)
 */

ngx_int_t
ngx_http_foundry_upstream_prefix(ngx_pool_t *pool,
    ngx_http_foundry_upstream_t *u, ngx_str_t *model, ngx_str_t *prefix)
{
    u_char  *p;
    size_t   len;

    len = u->url.len + u->base.len + ngx_strlen(u->kind_path);

    if (u->kind == NGX_HTTP_FOUNDRY_AZURE_CLASSIC) {
        len += model->len + 1;
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    prefix->data = p;

    /* either may be empty, and memcpy() takes no NULL */

    if (u->url.len) {
        p = ngx_cpymem(p, u->url.data, u->url.len);
    }

    if (u->base.len) {
        p = ngx_cpymem(p, u->base.data, u->base.len);
    }

    p = ngx_cpymem(p, u->kind_path, ngx_strlen(u->kind_path));

    if (u->kind == NGX_HTTP_FOUNDRY_AZURE_CLASSIC) {
        p = ngx_cpymem(p, model->data, model->len);
        *p++ = '/';
    }

    prefix->len = p - prefix->data;

    return NGX_OK;
}
