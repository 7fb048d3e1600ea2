
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_module.h"


static ngx_int_t ngx_http_foundry_render_azure(ngx_conf_t *cf,
    ngx_http_foundry_deployment_t *d);
static ngx_int_t ngx_http_foundry_render_openai(ngx_conf_t *cf,
    ngx_http_foundry_deployment_t *d);
static ngx_int_t ngx_http_foundry_render_list(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models, ngx_uint_t format, ngx_str_t *out);
static ngx_int_t ngx_http_foundry_models_hash(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models);
static ngx_int_t ngx_http_foundry_discovery_build(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);


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
        if (ngx_http_foundry_render_azure(cf, &d[i]) != NGX_OK
            || ngx_http_foundry_render_openai(cf, &d[i]) != NGX_OK)
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


static ngx_int_t
ngx_http_foundry_render_azure(ngx_conf_t *cf, ngx_http_foundry_deployment_t *d)
{
    yajl_gen          g;
    yajl_alloc_funcs  funcs;

    g = ngx_http_foundry_json_gen(cf->temp_pool, &funcs);
    if (g == NULL) {
        return NGX_ERROR;
    }

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
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    return ngx_http_foundry_json_result(g, cf->pool, &d->azure_json);
}


static ngx_int_t
ngx_http_foundry_render_openai(ngx_conf_t *cf,
    ngx_http_foundry_deployment_t *d)
{
    yajl_gen          g;
    yajl_alloc_funcs  funcs;

    g = ngx_http_foundry_json_gen(cf->temp_pool, &funcs);
    if (g == NULL) {
        return NGX_ERROR;
    }

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
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    return ngx_http_foundry_json_result(g, cf->pool, &d->openai_json);
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
    u_char      lc[NGX_HTTP_FOUNDRY_MAX_NAME_LEN];
    ngx_uint_t  key;

    if (models == NULL || name->len == 0
        || name->len > NGX_HTTP_FOUNDRY_MAX_NAME_LEN)
    {
        return NULL;
    }

    key = ngx_hash_strlow(lc, name->data, name->len);

    return ngx_hash_find(&models->hash, key, lc, name->len);
}


ngx_int_t
ngx_http_foundry_discovery_handler(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_str_t                      *body;
    ngx_chain_t                     out;
    ngx_table_elt_t                *h;
    ngx_http_foundry_deployment_t  *d;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");

        return ngx_http_foundry_error(r, NGX_HTTP_NOT_ALLOWED,
                                      "MethodNotAllowed",
                                      "method %V is not allowed on a "
                                      "discovery endpoint, use GET",
                                      &r->method_name);
    }

    rc = ngx_http_foundry_check_api_version(r, flcf->deployment_api_versions,
                                            &flcf->deployment_versions_text);
    if (rc != NGX_OK) {
        return rc;
    }

    /* deployments discovered from the upstreams: their lists first */

    rc = ngx_http_foundry_sources_wait(r, flcf, ctx);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (ctx->kind == NGX_HTTP_FOUNDRY_REQ_LIST) {

        if (flcf->sources || (ctx->key && ctx->key->deployments)
            || (ctx->token && flcf->token_allow))
        {
            return ngx_http_foundry_discovery_build(r, flcf, ctx);
        }

        body = NULL;

        if (flcf->models) {
            body = (ctx->discovery->format == NGX_HTTP_FOUNDRY_FORMAT_AZURE)
                   ? &flcf->models->azure_list : &flcf->models->openai_list;
        }

    } else {
        d = ngx_http_foundry_find_deployment(flcf->models, &ctx->name);

        /* a deployment the key may not use does not exist for it */

        if (d && !ngx_http_foundry_allows(r, flcf, ctx, &d->name)) {
            d = NULL;

        } else if (d == NULL && flcf->sources
                   && ngx_http_foundry_valid_name(&ctx->name) == NGX_OK)
        {
            d = ngx_http_foundry_sources_find(r, flcf, ctx, &ctx->name);

            if (d && !ngx_http_foundry_allows(r, flcf, ctx, &d->name)) {
                d = NULL;
            }
        }

        if (d == NULL) {
            if (ngx_http_foundry_valid_name(&ctx->name) != NGX_OK) {
                return ngx_http_foundry_error(r, NGX_HTTP_NOT_FOUND,
                                              "DeploymentNotFound",
                                              "the deployment name is not "
                                              "valid");
            }

            return ngx_http_foundry_error(r, NGX_HTTP_NOT_FOUND,
                                          "DeploymentNotFound",
                                          "the deployment \"%V\" does not "
                                          "exist on this gateway",
                                          &ctx->name);
        }

        body = (ctx->discovery->format == NGX_HTTP_FOUNDRY_FORMAT_AZURE)
               ? &d->azure_json : &d->openai_json;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (body) {
        b->pos = body->data;
        b->last = body->data + body->len;

    } else if (ctx->discovery->format == NGX_HTTP_FOUNDRY_FORMAT_AZURE) {
        b->pos = (u_char *) "{\"value\":[]}";
        b->last = b->pos + sizeof("{\"value\":[]}") - 1;

    } else {
        b->pos = (u_char *) "{\"object\":\"list\",\"data\":[]}";
        b->last = b->pos + sizeof("{\"object\":\"list\",\"data\":[]}") - 1;
    }

    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_foundry_finish(r,
               ngx_http_foundry_send_json(r, NGX_HTTP_OK, &out,
                                          b->last - b->pos));
}


/*
 * A list built for this request: the static deployments the key may use,
 * then those discovered from the upstreams.
 */

static ngx_int_t
ngx_http_foundry_discovery_build(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    u_char                         *p;
    size_t                          len;
    ngx_str_t                      *obj, head;
    ngx_buf_t                      *b;
    ngx_uint_t                      i, azure;
    ngx_array_t                     objects;
    ngx_chain_t                     out;
    ngx_http_foundry_deployment_t  *d;

    azure = (ctx->discovery->format == NGX_HTTP_FOUNDRY_FORMAT_AZURE);

    if (azure) {
        ngx_str_set(&head, "{\"value\":[");

    } else {
        ngx_str_set(&head, "{\"object\":\"list\",\"data\":[");
    }

    if (ngx_array_init(&objects, r->pool, 16, sizeof(ngx_str_t)) != NGX_OK) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (flcf->models) {
        d = flcf->models->deployments.elts;

        for (i = 0; i < flcf->models->deployments.nelts; i++) {
            if (!ngx_http_foundry_allows(r, flcf, ctx, &d[i].name)) {
                continue;
            }

            obj = ngx_array_push(&objects);
            if (obj == NULL) {
                return ngx_http_foundry_finish(r,
                                             NGX_HTTP_INTERNAL_SERVER_ERROR);
            }

            *obj = azure ? d[i].azure_json : d[i].openai_json;
        }
    }

    if (ngx_http_foundry_sources_list(r, flcf, ctx, ctx->discovery->format,
                                      &objects)
        != NGX_OK)
    {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    obj = objects.elts;
    len = head.len + 2 + objects.nelts;

    for (i = 0; i < objects.nelts; i++) {
        len += obj[i].len;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    p = ngx_cpymem(b->last, head.data, head.len);

    for (i = 0; i < objects.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, obj[i].data, obj[i].len);
    }

    *p++ = ']';
    *p++ = '}';

    b->last = p;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_foundry_finish(r,
               ngx_http_foundry_send_json(r, NGX_HTTP_OK, &out,
                                          b->last - b->pos));
}
