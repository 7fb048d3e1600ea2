
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


/*
 * foundry_model and foundry_models_file: a location's static deployments,
 * one directive each or a JSON file of them, read at configuration time
 * (ngx_http_foundry_deployments.c builds their table).
 */


static ngx_http_foundry_models_t *ngx_http_foundry_models_get(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *flcf);
static ngx_http_foundry_deployment_t *ngx_http_foundry_deployment_add(
    ngx_conf_t *cf, ngx_http_foundry_models_t *models, ngx_str_t *name);
static char *ngx_http_foundry_model_json(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models, yajl_val m);
static ngx_int_t ngx_http_foundry_json_str(ngx_conf_t *cf, yajl_val v,
    ngx_str_t *out);


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
