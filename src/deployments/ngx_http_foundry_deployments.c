
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_deployments.h"


typedef ngx_int_t (*ngx_http_foundry_render_pt)(yajl_gen g,
    ngx_http_foundry_deployment_t *d);


static ngx_int_t ngx_http_foundry_render(ngx_conf_t *cf,
    ngx_http_foundry_deployment_t *d, ngx_http_foundry_render_pt write,
    ngx_str_t *out);
static ngx_int_t ngx_http_foundry_render_azure(yajl_gen g,
    ngx_http_foundry_deployment_t *d);
static ngx_int_t ngx_http_foundry_render_openai(yajl_gen g,
    ngx_http_foundry_deployment_t *d);
static ngx_int_t ngx_http_foundry_render_list(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models, ngx_uint_t format, ngx_str_t *out);
static ngx_int_t ngx_http_foundry_models_hash(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models);


/*
 * Discovery documents of static deployments never change while the
 * configuration lives: every object and both lists are rendered here, once.
 */

ngx_int_t
ngx_http_foundry_models_init(ngx_conf_t *cf, ngx_http_foundry_models_t *models)
{
    ngx_uint_t                      i;
    ngx_http_foundry_deployment_t  *d;

    d = models->deployments.elts;

    for (i = 0; i < models->deployments.nelts; i++) {
        if (ngx_http_foundry_render(cf, &d[i], ngx_http_foundry_render_azure,
                                    &d[i].azure_json)
            != NGX_OK
            || ngx_http_foundry_render(cf, &d[i],
                                       ngx_http_foundry_render_openai,
                                       &d[i].openai_json)
               != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "cannot render deployment \"%V\" defined in "
                               "%s:%ui as JSON, are all its strings UTF-8?",
                               &d[i].name, d[i].conf_file, d[i].conf_line);
            return NGX_ERROR;
        }
    }

    if (ngx_http_foundry_render_list(cf, models, NGX_HTTP_FOUNDRY_FORMAT_AZURE,
                                     &models->azure_list)
        != NGX_OK
        || ngx_http_foundry_render_list(cf, models,
                                        NGX_HTTP_FOUNDRY_FORMAT_OPENAI,
                                        &models->openai_list)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_models_hash(cf, models) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_deployments_init(cf, models) != NGX_OK) {
        return NGX_ERROR;
    }

    models->ready = 1;

    return NGX_OK;
}


/* a deployment's object, written by "write" */

static ngx_int_t
ngx_http_foundry_render(ngx_conf_t *cf, ngx_http_foundry_deployment_t *d,
    ngx_http_foundry_render_pt write, ngx_str_t *out)
{
    yajl_gen          g;
    yajl_alloc_funcs  funcs;

    g = ngx_http_foundry_json_gen(cf->temp_pool, &funcs);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (write(g, d) != NGX_OK) {
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    return ngx_http_foundry_json_result(g, cf->pool, out);
}


static ngx_int_t
ngx_http_foundry_render_azure(yajl_gen g, ngx_http_foundry_deployment_t *d)
{
    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "name") != NGX_OK
        || ngx_http_foundry_json_string(g, &d->name) != NGX_OK
        || ngx_http_foundry_json_key(g, "properties") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "model") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "format") != NGX_OK
        || ngx_http_foundry_json_string(g, &d->format) != NGX_OK
        || ngx_http_foundry_json_key(g, "name") != NGX_OK
        || ngx_http_foundry_json_string(g, &d->model) != NGX_OK
        || ngx_http_foundry_json_key(g, "version") != NGX_OK
        || ngx_http_foundry_json_string(g, &d->version) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_render_openai(yajl_gen g, ngx_http_foundry_deployment_t *d)
{
    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "id") != NGX_OK
        || ngx_http_foundry_json_string(g, &d->name) != NGX_OK
        || ngx_http_foundry_json_key(g, "object") != NGX_OK
        || ngx_http_foundry_json_key(g, "model") != NGX_OK
        || ngx_http_foundry_json_key(g, "created") != NGX_OK
        || yajl_gen_integer(g, (long long) d->created) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "owned_by") != NGX_OK
        || ngx_http_foundry_json_string(g, &d->owned_by) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_render_list(ngx_conf_t *cf, ngx_http_foundry_models_t *models,
    ngx_uint_t format, ngx_str_t *out)
{
    u_char                         *p;
    size_t                          len;
    ngx_str_t                      *obj, head, tail;
    ngx_uint_t                      i;
    ngx_http_foundry_deployment_t  *d;

    if (format == NGX_HTTP_FOUNDRY_FORMAT_AZURE) {
        ngx_str_set(&head, "{\"value\":[");

    } else {
        ngx_str_set(&head, "{\"object\":\"list\",\"data\":[");
    }

    ngx_str_set(&tail, "]}");

    d = models->deployments.elts;
    len = head.len + tail.len + models->deployments.nelts;

    for (i = 0; i < models->deployments.nelts; i++) {
        obj = (format == NGX_HTTP_FOUNDRY_FORMAT_AZURE) ? &d[i].azure_json
                                                        : &d[i].openai_json;
        len += obj->len;
    }

    out->data = ngx_pnalloc(cf->pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, head.data, head.len);

    for (i = 0; i < models->deployments.nelts; i++) {
        obj = (format == NGX_HTTP_FOUNDRY_FORMAT_AZURE) ? &d[i].azure_json
                                                        : &d[i].openai_json;
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, obj->data, obj->len);
    }

    p = ngx_cpymem(p, tail.data, tail.len);

    out->len = p - out->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_models_hash(ngx_conf_t *cf, ngx_http_foundry_models_t *models)
{
    size_t                          max;
    ngx_uint_t                      i, j;
    ngx_array_t                     keys;
    ngx_hash_key_t                 *k;
    ngx_hash_init_t                 hash;
    ngx_http_foundry_deployment_t  *d;

    d = models->deployments.elts;

    if (ngx_array_init(&keys, cf->temp_pool, models->deployments.nelts + 1,
                       sizeof(ngx_hash_key_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    max = 0;

    for (i = 0; i < models->deployments.nelts; i++) {

        /* names are looked up case-insensitively, as Azure does */

        for (j = 0; j < i; j++) {
            if (d[j].name.len == d[i].name.len
                && ngx_strncasecmp(d[j].name.data, d[i].name.data,
                                   d[i].name.len)
                   == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "deployment \"%V\" defined in %s:%ui "
                                   "differs only in case from \"%V\" defined "
                                   "in %s:%ui", &d[i].name, d[i].conf_file,
                                   d[i].conf_line, &d[j].name,
                                   d[j].conf_file, d[j].conf_line);
                return NGX_ERROR;
            }
        }

        k = ngx_array_push(&keys);
        if (k == NULL) {
            return NGX_ERROR;
        }

        k->key = d[i].name;
        k->key_hash = ngx_hash_key_lc(d[i].name.data, d[i].name.len);
        k->value = &d[i];

        if (d[i].name.len > max) {
            max = d[i].name.len;
        }
    }

    hash.hash = &models->hash;
    hash.key = ngx_hash_key_lc;
    hash.max_size = ngx_max(1024, 4 * models->deployments.nelts);
    hash.bucket_size = ngx_align(max + 2 * sizeof(void *) + 2,
                                 ngx_cacheline_size);
    hash.name = "foundry_models_hash";
    hash.pool = cf->pool;
    hash.temp_pool = NULL;

    return ngx_hash_init(&hash, keys.elts, keys.nelts);
}


ngx_http_foundry_deployment_t *
ngx_http_foundry_find_deployment(ngx_http_foundry_models_t *models,
    ngx_str_t *name)
{
    u_char      c, lc[NGX_HTTP_FOUNDRY_MAX_NAME_LEN];
    ngx_uint_t  i, key;

    if (models == NULL || name->len == 0
        || name->len > NGX_HTTP_FOUNDRY_MAX_NAME_LEN)
    {
        return NULL;
    }

    /* a name in lower case (most) is hashed as it is */

    key = 0;

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (c >= 'A' && c <= 'Z') {
            break;
        }

        key = ngx_hash(key, c);
    }

    if (i == name->len) {
        return ngx_hash_find(&models->hash, key, name->data, name->len);
    }

    key = ngx_hash_strlow(lc, name->data, name->len);

    return ngx_hash_find(&models->hash, key, lc, name->len);
}


/*
 * Resolves, once per configuration, what routing of each static
 * deployment needs: its upstream, the name the upstream knows it by, that
 * name as a JSON string, and the upstream path up to the operation.
 */

ngx_int_t
ngx_http_foundry_deployments_init(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models)
{
    ngx_str_t                           *model;
    ngx_uint_t                           i;
    ngx_http_foundry_deployment_t       *d;
    ngx_http_compile_complex_value_t     ccv;
    ngx_http_foundry_main_conf_t        *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    d = models->deployments.elts;

    for (i = 0; i < models->deployments.nelts; i++) {

        if (d[i].upstream_name.data == NULL) {
            continue;
        }

        if (ngx_strlchr(d[i].upstream_name.data,
                        d[i].upstream_name.data + d[i].upstream_name.len, '$'))
        {
            d[i].upstream_cv = ngx_palloc(cf->pool,
                                          sizeof(ngx_http_complex_value_t));
            if (d[i].upstream_cv == NULL) {
                return NGX_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &d[i].upstream_name;
            ccv.complex_value = d[i].upstream_cv;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        d[i].upstream = ngx_http_foundry_find_upstream(fmcf,
                                                       &d[i].upstream_name);
        if (d[i].upstream == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown foundry_upstream \"%V\" for "
                               "deployment \"%V\" defined in %s:%ui",
                               &d[i].upstream_name, &d[i].name,
                               d[i].conf_file, d[i].conf_line);
            return NGX_ERROR;
        }

        model = ngx_http_foundry_upstream_model(&d[i], d[i].upstream);

        if (d[i].upstream->kind == NGX_HTTP_FOUNDRY_AZURE_CLASSIC
            && ngx_http_foundry_valid_name(model) != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid Azure OpenAI deployment name \"%V\" "
                               "for deployment \"%V\" defined in %s:%ui",
                               model, &d[i].name, d[i].conf_file,
                               d[i].conf_line);
            return NGX_ERROR;
        }

        if (ngx_http_foundry_json_quote(cf->pool, model,
                                        &d[i].upstream_model_json)
            != NGX_OK
            || ngx_http_foundry_upstream_prefix(cf->pool, d[i].upstream,
                                                model, &d[i].upstream_prefix)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The name the upstream knows the deployment by: as configured, else the
 * deployment name for Azure (deployments), else the model name (OpenAI).
 */

ngx_str_t *
ngx_http_foundry_upstream_model(ngx_http_foundry_deployment_t *d,
    ngx_http_foundry_upstream_t *u)
{
    if (d->upstream_model.len) {
        return &d->upstream_model;
    }

    if (u->kind == NGX_HTTP_FOUNDRY_AZURE_CLASSIC
        || u->kind == NGX_HTTP_FOUNDRY_AZURE_V1)
    {
        return &d->name;
    }

    return &d->model;
}


ngx_int_t
ngx_http_foundry_check_api_version(ngx_http_request_t *r,
    ngx_array_t *versions, ngx_str_t *text)
{
    u_char      *p;
    ngx_str_t    value, *v;
    ngx_uint_t   i, conflict;

    static ngx_str_t  name = ngx_string("api-version");

    if (versions == NULL) {
        return NGX_OK;
    }

    /* "api%2Dversion" is api-version too, as the upstream decodes it */

    if (ngx_http_foundry_arg(r, &name, &value, &conflict) != NGX_OK) {
        return ngx_http_foundry_error(r, NGX_HTTP_BAD_REQUEST,
                                      "MissingApiVersion",
                                      "the api-version query parameter is "
                                      "required, supported versions: %V",
                                      text);
    }

    if (conflict) {
        return ngx_http_foundry_error(r, NGX_HTTP_BAD_REQUEST,
                                      "ConflictingApiVersion",
                                      "the api-version query parameter is "
                                      "given more than once with different "
                                      "values, supported versions: %V",
                                      text);
    }

    v = versions->elts;

    for (i = 0; i < versions->nelts; i++) {
        if (v[i].len == value.len
            && ngx_memcmp(v[i].data, value.data, value.len) == 0)
        {
            return NGX_OK;
        }
    }

    for (p = value.data; p < value.data + value.len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'
              || *p == '_'))
        {
            break;
        }
    }

    if (value.len == 0 || value.len > 64 || p != value.data + value.len) {
        return ngx_http_foundry_error(r, NGX_HTTP_BAD_REQUEST,
                                      "UnsupportedApiVersion",
                                      "the api-version is not valid, "
                                      "supported versions: %V", text);
    }

    return ngx_http_foundry_error(r, NGX_HTTP_BAD_REQUEST,
                                  "UnsupportedApiVersion",
                                  "api-version \"%V\" is not supported, "
                                  "supported versions: %V", &value, text);
}
