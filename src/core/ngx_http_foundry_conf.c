
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_tree.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_discovery.h"


static ngx_http_foundry_models_t *ngx_http_foundry_models_get(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *flcf);
static ngx_http_foundry_deployment_t *ngx_http_foundry_deployment_add(
    ngx_conf_t *cf, ngx_http_foundry_models_t *models, ngx_str_t *name);
static char *ngx_http_foundry_model_json(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models, yajl_val m);
static ngx_int_t ngx_http_foundry_absolute(ngx_conf_t *cf, ngx_str_t *path);
static ngx_int_t ngx_http_foundry_json_str(ngx_conf_t *cf, yajl_val v,
    ngx_str_t *out);


/* a Foundry-visible name: deployments, connections */

ngx_int_t
ngx_http_foundry_valid_name(ngx_str_t *name)
{
    u_char  *p, *last;

    if (name->len == 0 || name->len > NGX_HTTP_FOUNDRY_MAX_NAME_LEN) {
        return NGX_ERROR;
    }

    if ((name->len == 1 && name->data[0] == '.')
        || (name->len == 2 && name->data[0] == '.' && name->data[1] == '.'))
    {
        return NGX_ERROR;
    }

    last = name->data + name->len;

    for (p = name->data; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9')
            || *p == '-' || *p == '_' || *p == '.' || *p == ':')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an absolute path without query, fragment, spaces or dot segments */

ngx_int_t
ngx_http_foundry_valid_path(ngx_str_t *path)
{
    u_char  *p, *last;

    if (path->len == 0 || path->data[0] != '/') {
        return NGX_ERROR;
    }

    last = path->data + path->len;

    for (p = path->data; p < last; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '?' || *p == '#' || *p == '%'
            || *p == '\\' || *p == '"')
        {
            return NGX_ERROR;
        }

        if (*p == '/' && p + 1 < last) {
            if (p[1] == '/') {
                return NGX_ERROR;
            }

            if (p[1] == '.'
                && (p + 2 == last || p[2] == '/'
                    || (p[2] == '.' && (p + 3 == last || p[3] == '/'))))
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* an HTTP token: header names, api-versions, formats */

ngx_int_t
ngx_http_foundry_valid_token(ngx_str_t *s)
{
    u_char  *p, *last;

    if (s->len == 0 || s->len > NGX_HTTP_FOUNDRY_MAX_NAME_LEN) {
        return NGX_ERROR;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9')
            || *p == '-' || *p == '_' || *p == '.')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


char *
ngx_http_foundry_target(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t  *value;

    if (flcf->target.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_foundry_valid_path(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid target path \"%V\" in \"%V\" directive, "
                           "it must be an absolute path without query, "
                           "escapes or dot segments", &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    flcf->target = value[1];

    while (flcf->target.len && flcf->target.data[flcf->target.len - 1] == '/')
    {
        flcf->target.len--;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_foundry_category(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t  *value;

    if (flcf->category != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "ModelGateway") == 0) {
        flcf->category = NGX_HTTP_FOUNDRY_MODEL_GATEWAY;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "ApiManagement") == 0) {
        flcf->category = NGX_HTTP_FOUNDRY_API_MANAGEMENT;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must be "
                       "\"ModelGateway\" or \"ApiManagement\" (case matters)",
                       &value[1], &value[0]);
    return NGX_CONF_ERROR;
}


/* foundry_gateway on|off; where it was turned on, for later messages */

char *
ngx_http_foundry_gateway(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        flcf->enable_file = cf->conf_file->file.name.data;
        flcf->enable_line = cf->conf_file->line;
    }

    return rv;
}


/*
 * An Azure OpenAI api-version: a real date "YYYY-MM-DD", optionally
 * followed by "-preview", as every version Azure has published is.
 */

ngx_int_t
ngx_http_foundry_valid_api_version(ngx_str_t *v)
{
    u_char      *p;
    ngx_uint_t   i, year, month, day, days;

    static ngx_uint_t  mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
                                   30, 31 };

    if (v->len != 10 && v->len != 10 + sizeof("-preview") - 1) {
        return NGX_ERROR;
    }

    p = v->data;

    for (i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (p[i] != '-') {
                return NGX_ERROR;
            }

            continue;
        }

        if (p[i] < '0' || p[i] > '9') {
            return NGX_ERROR;
        }
    }

    if (v->len > 10 && ngx_strncmp(p + 10, "-preview", 8) != 0) {
        return NGX_ERROR;
    }

    year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10
           + (p[3] - '0');
    month = (p[5] - '0') * 10 + (p[6] - '0');
    day = (p[8] - '0') * 10 + (p[9] - '0');

    if (year < 2000 || month < 1 || month > 12 || day < 1) {
        return NGX_ERROR;
    }

    days = mdays[month - 1];

    if (month == 2
        && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
    {
        days = 28;
    }

    return (day <= days) ? NGX_OK : NGX_ERROR;
}


char *
ngx_http_foundry_api_versions(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t    *value, *v;
    ngx_uint_t    i, j;
    ngx_array_t **a;

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        *a = NULL;
        return NGX_CONF_OK;
    }

    *a = ngx_array_create(cf->pool, cf->args->nelts - 1, sizeof(ngx_str_t));
    if (*a == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_foundry_valid_api_version(&value[i]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid api-version \"%V\" in \"%V\" "
                               "directive, it must be a date "
                               "\"YYYY-MM-DD\" or \"YYYY-MM-DD-preview\"",
                               &value[i], &value[0]);
            return NGX_CONF_ERROR;
        }

        for (j = 1; j < i; j++) {
            if (value[j].len == value[i].len
                && ngx_strncmp(value[j].data, value[i].data, value[i].len)
                   == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate api-version \"%V\" in \"%V\" "
                                   "directive", &value[i], &value[0]);
                return NGX_CONF_ERROR;
            }
        }

        v = ngx_array_push(*a);
        if (v == NULL) {
            return NGX_CONF_ERROR;
        }

        *v = value[i];
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_foundry_versions_text(ngx_pool_t *pool, ngx_array_t *a,
    ngx_str_t *text)
{
    u_char     *p;
    size_t      len;
    ngx_str_t  *v;
    ngx_uint_t  i;

    if (a == NULL || a->nelts == 0) {
        ngx_str_set(text, "");
        return NGX_OK;
    }

    v = a->elts;
    len = 0;

    for (i = 0; i < a->nelts; i++) {
        len += v[i].len + sizeof(", ") - 1;
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;

    for (i = 0; i < a->nelts; i++) {
        if (i) {
            *p++ = ',';
            *p++ = ' ';
        }

        p = ngx_cpymem(p, v[i].data, v[i].len);
    }

    text->len = p - text->data;

    return NGX_OK;
}


static ngx_http_foundry_models_t *
ngx_http_foundry_models_get(ngx_conf_t *cf, ngx_http_foundry_loc_conf_t *flcf)
{
    ngx_http_foundry_models_t  *models;

    if (flcf->models) {
        return flcf->models;
    }

    models = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_models_t));
    if (models == NULL) {
        return NULL;
    }

    if (ngx_array_init(&models->deployments, cf->pool, 4,
                       sizeof(ngx_http_foundry_deployment_t))
        != NGX_OK)
    {
        return NULL;
    }

    flcf->models = models;

    return models;
}


static ngx_http_foundry_deployment_t *
ngx_http_foundry_deployment_add(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models, ngx_str_t *name)
{
    ngx_uint_t                      i;
    ngx_http_foundry_deployment_t  *d;

    if (ngx_http_foundry_valid_name(name) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid deployment name \"%V\", only letters, "
                           "digits, \"-\", \"_\", \".\" and \":\" are "
                           "allowed", name);
        return NULL;
    }

    d = models->deployments.elts;

    for (i = 0; i < models->deployments.nelts; i++) {
        if (d[i].name.len == name->len
            && ngx_strncmp(d[i].name.data, name->data, name->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate deployment \"%V\", first defined "
                               "in %s:%ui", name, d[i].conf_file,
                               d[i].conf_line);
            return NULL;
        }
    }

    d = ngx_array_push(&models->deployments);
    if (d == NULL) {
        return NULL;
    }

    ngx_memzero(d, sizeof(ngx_http_foundry_deployment_t));

    d->name = *name;
    d->model = *name;
    ngx_str_set(&d->version, "");
    ngx_str_set(&d->format, "OpenAI");
    ngx_str_set(&d->owned_by, "system");
    d->created = ngx_time();
    d->conf_file = cf->conf_file->file.name.data;
    d->conf_line = cf->conf_file->line;

    return d;
}


char *
ngx_http_foundry_model(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t                      *value, v;
    ngx_int_t                       n;
    ngx_uint_t                      i;
    ngx_http_foundry_models_t      *models;
    ngx_http_foundry_deployment_t  *d;

    value = cf->args->elts;

    models = ngx_http_foundry_models_get(cf, flcf);
    if (models == NULL) {
        return NGX_CONF_ERROR;
    }

    d = ngx_http_foundry_deployment_add(cf, models, &value[1]);
    if (d == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "model=", 6) == 0) {
            v.data = value[i].data + 6;
            v.len = value[i].len - 6;

            if (v.len == 0 || v.len > NGX_HTTP_FOUNDRY_MAX_NAME_LEN) {
                goto invalid;
            }

            d->model = v;
            continue;
        }

        if (ngx_strncmp(value[i].data, "version=", 8) == 0) {
            d->version.data = value[i].data + 8;
            d->version.len = value[i].len - 8;

            if (d->version.len > NGX_HTTP_FOUNDRY_MAX_NAME_LEN) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "format=", 7) == 0) {
            d->format.data = value[i].data + 7;
            d->format.len = value[i].len - 7;

            if (ngx_http_foundry_valid_token(&d->format) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "owned_by=", 9) == 0) {
            d->owned_by.data = value[i].data + 9;
            d->owned_by.len = value[i].len - 9;

            if (d->owned_by.len == 0
                || d->owned_by.len > NGX_HTTP_FOUNDRY_MAX_NAME_LEN)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "created=", 8) == 0) {
            n = ngx_atotm(value[i].data + 8, value[i].len - 8);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            d->created = (time_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "upstream=", 9) == 0) {
            d->upstream_name.data = value[i].data + 9;
            d->upstream_name.len = value[i].len - 9;

            if (d->upstream_name.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "upstream_model=", 15) == 0) {
            d->upstream_model.data = value[i].data + 15;
            d->upstream_model.len = value[i].len - 15;

            if (d->upstream_model.len == 0
                || d->upstream_model.len > NGX_HTTP_FOUNDRY_MAX_MODEL_LEN)
            {
                goto invalid;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive",
                           &value[i], &value[0]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive",
                       &value[i], &value[0]);
    return NGX_CONF_ERROR;
}


char *
ngx_http_foundry_models_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    char                           *rv, errbuf[256];
    ngx_str_t                      *value, file, text, upstream;
    ngx_uint_t                      i, n;
    yajl_val                        root;
    ngx_http_foundry_models_t      *models;
    ngx_http_foundry_deployment_t  *d;

    value = cf->args->elts;
    file = value[1];
    ngx_str_null(&upstream);

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "upstream=", 9) != 0
            || value[2].len == 9)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" "
                               "directive, expected \"upstream=\"",
                               &value[2], &value[0]);
            return NGX_CONF_ERROR;
        }

        upstream.data = value[2].data + 9;
        upstream.len = value[2].len - 9;
    }

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_read_file(cf, &file, &text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    errbuf[0] = '\0';

    root = yajl_tree_parse((const char *) text.data, errbuf, sizeof(errbuf));
    if (root == NULL) {
        ngx_http_foundry_json_error_line(errbuf);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid JSON in models file \"%V\": %s",
                           &file, errbuf);
        return NGX_CONF_ERROR;
    }

    models = ngx_http_foundry_models_get(cf, flcf);
    if (models == NULL) {
        yajl_tree_free(root);
        return NGX_CONF_ERROR;
    }

    n = models->deployments.nelts;

    rv = ngx_http_foundry_models_json(cf, models, &file, root);

    yajl_tree_free(root);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    d = models->deployments.elts;

    for (i = n; i < models->deployments.nelts; i++) {
        if (d[i].upstream_name.data == NULL) {
            d[i].upstream_name = upstream;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The file holds what a Foundry connection carries in "metadata.models":
 *
 *     [ {"name": "gpt-4o",
 *        "properties": {"model": {"name": "gpt-4o", "version": "...",
 *                                 "format": "OpenAI"}}}, ... ]
 *
 * either as the array itself, as {"models": [...]}, as {"models": "<the
 * array serialised as a JSON string>"}, as an ARM list {"value": [...]} or
 * as {"staticModels": [...]}, the snippet of Foundry's setup guides.
 */

char *
ngx_http_foundry_models_json(ngx_conf_t *cf, ngx_http_foundry_models_t *models,
    ngx_str_t *file, yajl_val root)
{
    char        *rv, errbuf[256];
    size_t       i;
    yajl_val     v, inner;
    const char  *models_path[] = { "models", NULL };
    const char  *value_path[] = { "value", NULL };
    const char  *static_path[] = { "staticModels", NULL };

    v = root;

    if (YAJL_IS_OBJECT(root)) {
        v = yajl_tree_get(root, models_path, yajl_t_any);

        if (v == NULL) {
            v = yajl_tree_get(root, value_path, yajl_t_any);
        }

        if (v == NULL) {
            v = yajl_tree_get(root, static_path, yajl_t_any);
        }

        if (v && YAJL_IS_STRING(v)) {
            errbuf[0] = '\0';

            inner = yajl_tree_parse(YAJL_GET_STRING(v), errbuf,
                                    sizeof(errbuf));
            if (inner == NULL) {
                ngx_http_foundry_json_error_line(errbuf);
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid JSON in the \"models\" string of "
                                   "models file \"%V\": %s", file, errbuf);
                return NGX_CONF_ERROR;
            }

            rv = ngx_http_foundry_models_json(cf, models, file, inner);

            yajl_tree_free(inner);

            return rv;
        }
    }

    if (v == NULL || !YAJL_IS_ARRAY(v)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "models file \"%V\" must hold an array of models, "
                           "or an object with a \"models\", \"value\" or "
                           "\"staticModels\" array", file);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < YAJL_GET_ARRAY(v)->len; i++) {
        rv = ngx_http_foundry_model_json(cf, models,
                                         YAJL_GET_ARRAY(v)->values[i]);
        if (rv != NGX_CONF_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid model #%uz in models file \"%V\": %s",
                               i + 1, file, rv);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_foundry_model_json(ngx_conf_t *cf, ngx_http_foundry_models_t *models,
    yajl_val m)
{
    ngx_str_t                       name;
    yajl_val                        v;
    ngx_http_foundry_deployment_t  *d;
    const char                     *name_path[] = { "name", NULL };
    const char                     *model_path[] = { "properties", "model",
                                                     "name", NULL };
    const char                     *version_path[] = { "properties", "model",
                                                       "version", NULL };
    const char                     *format_path[] = { "properties", "model",
                                                      "format", NULL };
    const char                     *upstream_path[] = { "upstream", NULL };
    const char                     *alias_path[] = { "upstream_model", NULL };

    if (!YAJL_IS_OBJECT(m)) {
        return "not an object";
    }

    v = yajl_tree_get(m, name_path, yajl_t_string);
    if (v == NULL) {
        return "\"name\" is missing or not a string";
    }

    if (ngx_http_foundry_json_str(cf, v, &name) != NGX_OK) {
        return "\"name\" is too long";
    }

    if (ngx_http_foundry_valid_name(&name) != NGX_OK) {
        return "\"name\" is not a valid deployment name";
    }

    d = ngx_http_foundry_deployment_add(cf, models, &name);
    if (d == NULL) {
        return "cannot add it";
    }

    v = yajl_tree_get(m, model_path, yajl_t_any);
    if (v) {
        if (!YAJL_IS_STRING(v)) {
            return "\"properties.model.name\" is not a string";
        }

        if (ngx_http_foundry_json_str(cf, v, &d->model) != NGX_OK) {
            return "\"properties.model.name\" is too long";
        }

        if (d->model.len == 0) {
            d->model = d->name;
        }
    }

    v = yajl_tree_get(m, version_path, yajl_t_any);
    if (v) {
        if (!YAJL_IS_STRING(v)) {
            return "\"properties.model.version\" is not a string";
        }

        if (ngx_http_foundry_json_str(cf, v, &d->version) != NGX_OK) {
            return "\"properties.model.version\" is too long";
        }
    }

    v = yajl_tree_get(m, format_path, yajl_t_any);
    if (v) {
        if (!YAJL_IS_STRING(v)) {
            return "\"properties.model.format\" is not a string";
        }

        if (ngx_http_foundry_json_str(cf, v, &d->format) != NGX_OK) {
            return "\"properties.model.format\" is too long";
        }

        if (ngx_http_foundry_valid_token(&d->format) != NGX_OK) {
            return "\"properties.model.format\" is not a valid format";
        }
    }

    v = yajl_tree_get(m, upstream_path, yajl_t_any);
    if (v) {
        if (!YAJL_IS_STRING(v)
            || ngx_http_foundry_json_str(cf, v, &d->upstream_name) != NGX_OK
            || d->upstream_name.len == 0)
        {
            return "\"upstream\" is not a valid upstream name";
        }
    }

    v = yajl_tree_get(m, alias_path, yajl_t_any);
    if (v) {
        if (!YAJL_IS_STRING(v)
            || ngx_http_foundry_json_str(cf, v, &d->upstream_model) != NGX_OK
            || d->upstream_model.len == 0)
        {
            return "\"upstream_model\" is not a valid name";
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_foundry_json_str(ngx_conf_t *cf, yajl_val v, ngx_str_t *out)
{
    ngx_str_t  s;

    s.data = (u_char *) YAJL_GET_STRING(v);
    s.len = ngx_strlen(s.data);

    if (s.len > NGX_HTTP_FOUNDRY_MAX_NAME_LEN) {
        return NGX_ERROR;
    }

    out->len = s.len;
    out->data = ngx_pstrdup(cf->pool, &s);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


char *
ngx_http_foundry_model_discovery(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t                     *value, list, get;
    ngx_uint_t                     i, format;
    ngx_http_foundry_discovery_t  *d;

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        if (flcf->discovery != NGX_CONF_UNSET_PTR) {
            return "is duplicate";
        }

        flcf->discovery = NULL;
        return NGX_CONF_OK;
    }

    if (flcf->discovery == NULL) {
        return "is duplicate";
    }

    ngx_str_null(&list);
    ngx_str_null(&get);
    format = NGX_HTTP_FOUNDRY_FORMAT_AZURE;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "list=", 5) == 0) {
            list.data = value[i].data + 5;
            list.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "get=", 4) == 0) {
            get.data = value[i].data + 4;
            get.len = value[i].len - 4;
            continue;
        }

        if (ngx_strcmp(value[i].data, "provider=AzureOpenAI") == 0) {
            format = NGX_HTTP_FOUNDRY_FORMAT_AZURE;
            continue;
        }

        if (ngx_strcmp(value[i].data, "provider=OpenAI") == 0) {
            format = NGX_HTTP_FOUNDRY_FORMAT_OPENAI;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive, "
                           "expected \"list=\", \"get=\" or "
                           "\"provider=AzureOpenAI|OpenAI\"",
                           &value[i], &value[0]);
        return NGX_CONF_ERROR;
    }

    if (list.data == NULL || get.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs both \"list=\" and "
                           "\"get=\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    /* "v1/models", as Foundry's samples write it, is "/v1/models" */

    if (ngx_http_foundry_absolute(cf, &list) != NGX_OK
        || ngx_http_foundry_absolute(cf, &get) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (flcf->discovery == NGX_CONF_UNSET_PTR) {
        flcf->discovery = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_foundry_discovery_t));
        if (flcf->discovery == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    d = ngx_array_push(flcf->discovery);
    if (d == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_parse_discovery(cf, d, &list, &get, format)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a path relative to the target, with its leading "/" */

static ngx_int_t
ngx_http_foundry_absolute(ngx_conf_t *cf, ngx_str_t *path)
{
    u_char  *p;

    if (path->len == 0 || path->data[0] == '/') {
        return NGX_OK;
    }

    p = ngx_pnalloc(cf->pool, path->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p[0] = '/';
    ngx_memcpy(p + 1, path->data, path->len);

    path->data = p;
    path->len++;

    return NGX_OK;
}


ngx_int_t
ngx_http_foundry_parse_discovery(ngx_conf_t *cf,
    ngx_http_foundry_discovery_t *d, ngx_str_t *list, ngx_str_t *get,
    ngx_uint_t format)
{
    u_char  *p;
    size_t   n;

    n = sizeof(NGX_HTTP_FOUNDRY_DEPLOYMENT_TOKEN) - 1;

    if (ngx_http_foundry_valid_path(list) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid list path \"%V\", it must be an "
                           "absolute path without query, escapes or dot "
                           "segments", list);
        return NGX_ERROR;
    }

    p = ngx_strlcasestrn(get->data, get->data + get->len,
                         (u_char *) NGX_HTTP_FOUNDRY_DEPLOYMENT_TOKEN, n - 1);

    if (p == NULL
        || ngx_strncmp(p, NGX_HTTP_FOUNDRY_DEPLOYMENT_TOKEN, n) != 0
        || ngx_strlcasestrn(p + n, get->data + get->len,
                            (u_char *) NGX_HTTP_FOUNDRY_DEPLOYMENT_TOKEN,
                            n - 1)
           != NULL
        || p == get->data || p[-1] != '/'
        || (p + n < get->data + get->len && p[n] != '/'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid get path \"%V\", it must hold "
                           "\"" NGX_HTTP_FOUNDRY_DEPLOYMENT_TOKEN "\" once, "
                           "as a whole path segment", get);
        return NGX_ERROR;
    }

    d->list = *list;
    d->get = *get;
    d->get_prefix.data = get->data;
    d->get_prefix.len = p - get->data;
    d->get_suffix.data = p + n;
    d->get_suffix.len = get->data + get->len - (p + n);
    d->format = format;

    if (ngx_http_foundry_valid_path(&d->get_prefix) != NGX_OK
        || (d->get_suffix.len
            && ngx_http_foundry_valid_path(&d->get_suffix) != NGX_OK))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid get path \"%V\", it must be an "
                           "absolute path without query, escapes or dot "
                           "segments", get);
        return NGX_ERROR;
    }

    return NGX_OK;
}


char *
ngx_http_foundry_auth_config(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    u_char      *p;
    size_t       n;
    ngx_str_t   *value, name, format;
    ngx_uint_t   i;

    if (flcf->auth_header.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_str_null(&name);
    ngx_str_set(&format, "{api_key}");

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "name=", 5) == 0) {
            name.data = value[i].data + 5;
            name.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "format=", 7) == 0) {
            format.data = value[i].data + 7;
            format.len = value[i].len - 7;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive, "
                           "expected \"name=\" or \"format=\"",
                           &value[i], &value[0]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_valid_token(&name) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid header name \"%V\" in \"%V\" directive",
                           &name, &value[0]);
        return NGX_CONF_ERROR;
    }

    n = sizeof("{api_key}") - 1;

    p = ngx_strlcasestrn(format.data, format.data + format.len,
                         (u_char *) "{api_key}", n - 1);

    if (p == NULL || ngx_strncmp(p, "{api_key}", n) != 0
        || ngx_strlcasestrn(p + n, format.data + format.len,
                            (u_char *) "{api_key}", n - 1)
           != NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid format \"%V\" in \"%V\" directive, it "
                           "must hold \"{api_key}\" once", &format, &value[0]);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < format.len; i++) {
        if (format.data[i] < ' ' || format.data[i] >= 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid format \"%V\" in \"%V\" directive",
                               &format, &value[0]);
            return NGX_CONF_ERROR;
        }
    }

    flcf->auth_header = name;
    flcf->auth_format = format;
    flcf->auth_prefix.data = format.data;
    flcf->auth_prefix.len = p - format.data;
    flcf->auth_suffix.data = p + n;
    flcf->auth_suffix.len = format.data + format.len - (p + n);

    return NGX_CONF_OK;
}


char *
ngx_http_foundry_custom_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t                  *value;
    ngx_uint_t                  i;
    ngx_http_foundry_header_t  *h;

    value = cf->args->elts;

    if (ngx_http_foundry_valid_token(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid header name \"%V\" in \"%V\" directive",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[2].len; i++) {
        if (value[2].data[i] < ' ' || value[2].data[i] >= 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid header value \"%V\" in \"%V\" "
                               "directive", &value[2], &value[0]);
            return NGX_CONF_ERROR;
        }
    }

    if (flcf->custom_headers == NGX_CONF_UNSET_PTR) {
        flcf->custom_headers = ngx_array_create(cf->pool, 2,
                                            sizeof(ngx_http_foundry_header_t));
        if (flcf->custom_headers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    h = flcf->custom_headers->elts;

    for (i = 0; i < flcf->custom_headers->nelts; i++) {
        if (h[i].name.len == value[1].len
            && ngx_strncasecmp(h[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate header \"%V\" in \"%V\" directive",
                               &value[1], &value[0]);
            return NGX_CONF_ERROR;
        }
    }

    h = ngx_array_push(flcf->custom_headers);
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    h->name = value[1];
    h->value = value[2];
    h->required = 0;

    if (cf->args->nelts == 4) {
        if (ngx_strcmp(value[3].data, "required") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" directive, "
                               "expected \"required\"", &value[3], &value[0]);
            return NGX_CONF_ERROR;
        }

        h->required = 1;
    }

    return NGX_CONF_OK;
}


/*
 * The shared memory zone of a "name:size" argument, for the module, with
 * its init handler and data: NULL, the error logged, when the argument is
 * invalid, the size under 8 pages, or the zone already used.
 */

ngx_shm_zone_t *
ngx_http_foundry_zone_add(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_shm_zone_init_pt init, void *data)
{
    u_char          *p;
    ssize_t          size;
    ngx_str_t        name, s, *value;
    ngx_shm_zone_t  *shm_zone;

    value = cf->args->elts;

    p = (u_char *) ngx_strlchr(arg->data, arg->data + arg->len, ':');

    if (p == NULL) {
        goto invalid;
    }

    name.data = arg->data;
    name.len = p - name.data;

    s.data = p + 1;
    s.len = arg->data + arg->len - s.data;

    size = ngx_parse_size(&s);

    if (name.len == 0 || size == NGX_ERROR) {
        goto invalid;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", arg);
        return NULL;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_foundry_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NULL;
    }

    shm_zone->init = init;
    shm_zone->data = data;

    return shm_zone;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid zone \"%V\" in \"%V\" directive, expected "
                       "name:size", arg, &value[0]);
    return NULL;
}
