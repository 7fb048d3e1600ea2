
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_identity.h"
#include "ngx_http_foundry_discovery.h"


/*
 * A discovery source's answer parsed: Azure OpenAI's, an ARM or
 * Azure-format gateway's, or OpenAI's list of deployments, normalised
 * into one block and rendered in both discovery formats
 * (ngx_http_foundry_sources.c fetches it and keeps it in the zone).
 */


/* what a parse of a source's answer collects */

typedef struct {
    ngx_pool_t                     *pool;
    ngx_array_t                     items;      /* of ngx_str_t[4] */
    ngx_str_t                      *cur;
    ngx_uint_t                      depth;
    ngx_uint_t                      in_list;
    ngx_uint_t                      key[8];
    ngx_uint_t                      skipped;
    unsigned                        has_list:1;
} ngx_http_foundry_parse_t;


enum {
    NGX_HTTP_FOUNDRY_SK_OTHER = 0,
    NGX_HTTP_FOUNDRY_SK_LIST,
    NGX_HTTP_FOUNDRY_SK_ID,
    NGX_HTTP_FOUNDRY_SK_NAME,
    NGX_HTTP_FOUNDRY_SK_MODEL,
    NGX_HTTP_FOUNDRY_SK_VERSION,
    NGX_HTTP_FOUNDRY_SK_FORMAT,
    NGX_HTTP_FOUNDRY_SK_PROPERTIES
};


static ngx_int_t ngx_http_foundry_source_items(ngx_pool_t *pool, u_char *p,
    size_t len, ngx_http_foundry_parse_t *ps, const char **err);
static ngx_int_t ngx_http_foundry_source_render(ngx_pool_t *pool,
    ngx_str_t *item, ngx_str_t *azure, ngx_str_t *openai);
static int ngx_http_foundry_src_null(void *ctx);
static int ngx_http_foundry_src_boolean(void *ctx, int b);
static int ngx_http_foundry_src_number(void *ctx, const char *s, size_t len);
static int ngx_http_foundry_src_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_src_start_map(void *ctx);
static int ngx_http_foundry_src_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_src_end_map(void *ctx);
static int ngx_http_foundry_src_start_array(void *ctx);
static int ngx_http_foundry_src_end_array(void *ctx);
static int ngx_http_foundry_src_descend(ngx_http_foundry_parse_t *ps);


static yajl_callbacks  ngx_http_foundry_src_callbacks = {
    ngx_http_foundry_src_null,
    ngx_http_foundry_src_boolean,
    NULL,
    NULL,
    ngx_http_foundry_src_number,
    ngx_http_foundry_src_string,
    ngx_http_foundry_src_start_map,
    ngx_http_foundry_src_key,
    ngx_http_foundry_src_end_map,
    ngx_http_foundry_src_start_array,
    ngx_http_foundry_src_end_array
};


/*
 * A source's answer as a list: {"data": [...]} or {"value": [...]}, each
 * item with "id" or "name", and "model" as a string or as
 * "properties.model.{name,version,format}".  Items without a valid name
 * are skipped.
 */

ngx_http_foundry_list_t *
ngx_http_foundry_source_parse(ngx_http_request_t *r,
    ngx_http_foundry_discovery_source_t *src, u_char *p, size_t len,
    const char **err)
{
    u_char                    *q;
    size_t                     size;
    ngx_str_t                 *item, *rendered;
    ngx_uint_t                 i, j;
    ngx_http_foundry_list_t   *list;
    ngx_http_foundry_parse_t   ps;
    ngx_str_t                 *fields[6];

    if (ngx_http_foundry_source_items(r->pool, p, len, &ps, err) != NGX_OK) {
        return NULL;
    }

    /* sizes, then one block */

    item = ps.items.elts;
    size = offsetof(ngx_http_foundry_list_t, found)
           + (ps.items.nelts ? ps.items.nelts : 1)
             * sizeof(ngx_http_foundry_found_t);

    rendered = ngx_palloc(r->pool, (ps.items.nelts ? ps.items.nelts : 1)
                                   * 2 * sizeof(ngx_str_t));
    if (rendered == NULL) {
        *err = "out of memory";
        return NULL;
    }

    for (i = 0; i < ps.items.nelts; i++) {
        if (item[4 * i].len == 0) {
            continue;
        }

        if (ngx_http_foundry_source_render(r->pool, &item[4 * i],
                                           &rendered[2 * i],
                                           &rendered[2 * i + 1])
            != NGX_OK)
        {
            *err = "a deployment of the source cannot be rendered as JSON";
            return NULL;
        }

        size += item[4 * i].len + item[4 * i + 1].len + item[4 * i + 2].len
                + item[4 * i + 3].len + rendered[2 * i].len
                + rendered[2 * i + 1].len;
    }

    list = ngx_pcalloc(r->pool, size);
    if (list == NULL) {
        *err = "out of memory";
        return NULL;
    }

    list->size = size;
    q = (u_char *) &list->found[ps.items.nelts ? ps.items.nelts : 1];

    for (i = 0; i < ps.items.nelts; i++) {
        if (item[4 * i].len == 0) {
            continue;
        }

        /* the item's four fields, then the item in both formats */

        fields[0] = &item[4 * i];
        fields[1] = &item[4 * i + 1];
        fields[2] = &item[4 * i + 2];
        fields[3] = &item[4 * i + 3];
        fields[4] = &rendered[2 * i];
        fields[5] = &rendered[2 * i + 1];

        for (j = 0; j < 6; j++) {
            list->found[list->n].off[j] = q - (u_char *) list;
            list->found[list->n].len[j] = fields[j]->len;
            q = ngx_cpymem(q, fields[j]->data, fields[j]->len);
        }

        list->n++;
    }

    if (ps.skipped) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: discovery source \"%V\": %ui deployments "
                      "with names this gateway cannot serve were skipped",
                      &src->uri, ps.skipped);
    }

    return list;
}


/* the items of a source's answer, four fields each */

static ngx_int_t
ngx_http_foundry_source_items(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_http_foundry_parse_t *ps, const char **err)
{
    ngx_int_t  rc;

    ngx_memzero(ps, sizeof(ngx_http_foundry_parse_t));

    ps->pool = pool;

    if (ngx_array_init(&ps->items, pool, 16, 4 * sizeof(ngx_str_t))
        != NGX_OK)
    {
        *err = "out of memory";
        return NGX_ERROR;
    }

    rc = ngx_http_foundry_json_parse(pool, &ngx_http_foundry_src_callbacks, ps,
                                     p, len);
    if (rc == NGX_ERROR) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        *err = "the source's answer is not valid JSON";
        return NGX_ERROR;
    }

    if (!ps->has_list) {
        *err = "the source's answer has no \"data\" or \"value\" list";
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* one deployment in both discovery formats */

static ngx_int_t
ngx_http_foundry_source_render(ngx_pool_t *pool, ngx_str_t *item,
    ngx_str_t *azure, ngx_str_t *openai)
{
    yajl_gen          g;
    yajl_alloc_funcs  funcs;

    g = ngx_http_foundry_json_gen(pool, &funcs);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "name") != NGX_OK
        || ngx_http_foundry_json_string(g, &item[0]) != NGX_OK
        || ngx_http_foundry_json_key(g, "properties") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "model") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "format") != NGX_OK
        || ngx_http_foundry_json_string(g, &item[3]) != NGX_OK
        || ngx_http_foundry_json_key(g, "name") != NGX_OK
        || ngx_http_foundry_json_string(g, &item[1]) != NGX_OK
        || ngx_http_foundry_json_key(g, "version") != NGX_OK
        || ngx_http_foundry_json_string(g, &item[2]) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_result(g, pool, azure) != NGX_OK)
    {
        return NGX_ERROR;
    }

    g = ngx_http_foundry_json_gen(pool, &funcs);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "id") != NGX_OK
        || ngx_http_foundry_json_string(g, &item[0]) != NGX_OK
        || ngx_http_foundry_json_key(g, "object") != NGX_OK
        || ngx_http_foundry_json_key(g, "model") != NGX_OK
        || ngx_http_foundry_json_key(g, "created") != NGX_OK
        || yajl_gen_integer(g, 0) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "owned_by") != NGX_OK
        || ngx_http_foundry_json_key(g, "system") != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_result(g, pool, openai) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the parser of a source's answer */

static ngx_int_t
ngx_http_foundry_src_value(ngx_http_foundry_parse_t *ps, ngx_str_t *v)
{
    ngx_uint_t   k, field;
    ngx_str_t   *item;

    /* a field of an item: depth 3 (item), 5 (properties.model) */

    if (ps->cur == NULL || ps->depth >= 8) {
        return 1;
    }

    k = ps->key[ps->depth];
    field = 4;

    if (ps->depth == 3) {
        if (k == NGX_HTTP_FOUNDRY_SK_ID || k == NGX_HTTP_FOUNDRY_SK_NAME) {
            field = 0;

        } else if (k == NGX_HTTP_FOUNDRY_SK_MODEL) {
            field = 1;
        }

    } else if (ps->depth == 5
               && ps->key[3] == NGX_HTTP_FOUNDRY_SK_PROPERTIES
               && ps->key[4] == NGX_HTTP_FOUNDRY_SK_MODEL)
    {
        if (k == NGX_HTTP_FOUNDRY_SK_NAME) {
            field = 1;

        } else if (k == NGX_HTTP_FOUNDRY_SK_VERSION) {
            field = 2;

        } else if (k == NGX_HTTP_FOUNDRY_SK_FORMAT) {
            field = 3;
        }
    }

    if (field == 4 || v == NULL) {
        return 1;
    }

    item = ps->cur;

    /* "name" wins over "id"; properties.model.name over "model" */

    if (item[field].len && field == 0
        && k == NGX_HTTP_FOUNDRY_SK_ID)
    {
        return 1;
    }

    if (v->len > NGX_HTTP_FOUNDRY_MAX_NAME_LEN) {
        return 1;
    }

    item[field].data = ngx_pnalloc(ps->pool, v->len ? v->len : 1);
    if (item[field].data == NULL) {
        return 0;
    }

    ngx_memcpy(item[field].data, v->data, v->len);
    item[field].len = v->len;

    return 1;
}


static int
ngx_http_foundry_src_null(void *ctx)
{
    return ngx_http_foundry_src_value(ctx, NULL);
}


static int
ngx_http_foundry_src_boolean(void *ctx, int b)
{
    return ngx_http_foundry_src_value(ctx, NULL);
}


static int
ngx_http_foundry_src_number(void *ctx, const char *s, size_t len)
{
    return ngx_http_foundry_src_value(ctx, NULL);
}


static int
ngx_http_foundry_src_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_str_t  v;

    v.data = (u_char *) s;
    v.len = len;

    return ngx_http_foundry_src_value(ctx, &v);
}


static int
ngx_http_foundry_src_start_map(void *ctx)
{
    ngx_http_foundry_parse_t  *ps = ctx;

    ngx_str_t  *item;

    /* an item: a map in the list at depth 2 */

    if (ps->depth == 2 && ps->in_list) {
        item = ngx_array_push(&ps->items);
        if (item == NULL) {
            return 0;
        }

        ngx_memzero(item, 4 * sizeof(ngx_str_t));
        ps->cur = item;
    }

    return ngx_http_foundry_src_descend(ps);
}


static int
ngx_http_foundry_src_end_map(void *ctx)
{
    ngx_http_foundry_parse_t  *ps = ctx;

    ngx_str_t  *item;

    ps->depth--;

    if (ps->depth == 2 && ps->cur) {
        item = ps->cur;
        ps->cur = NULL;

        /* defaults, and names the gateway cannot serve left out */

        if (item[1].len == 0) {
            item[1] = item[0];
        }

        if (item[3].len == 0) {
            ngx_str_set(&item[3], "OpenAI");
        }

        if (item[2].data == NULL) {
            ngx_str_set(&item[2], "");
        }

        if (ngx_http_foundry_valid_name(&item[0]) != NGX_OK) {
            item[0].len = 0;
            ps->skipped++;
        }
    }

    return 1;
}


static int
ngx_http_foundry_src_start_array(void *ctx)
{
    ngx_http_foundry_parse_t  *ps = ctx;

    /* the list: the top object's "data" or "value" */

    if (ps->depth == 1 && ps->key[1] == NGX_HTTP_FOUNDRY_SK_LIST) {
        ps->in_list = 1;
        ps->has_list = 1;
    }

    return ngx_http_foundry_src_descend(ps);
}


static int
ngx_http_foundry_src_end_array(void *ctx)
{
    ngx_http_foundry_parse_t  *ps = ctx;

    ps->depth--;

    if (ps->depth == 1) {
        ps->in_list = 0;
    }

    return 1;
}


static int
ngx_http_foundry_src_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_parse_t  *ps = ctx;

    ngx_uint_t  k;

    if (ps->depth >= 8) {
        return 1;
    }

    k = NGX_HTTP_FOUNDRY_SK_OTHER;

    if (ps->depth == 1) {
        if ((len == 4 && ngx_strncmp(s, "data", 4) == 0)
            || (len == 5 && ngx_strncmp(s, "value", 5) == 0))
        {
            k = NGX_HTTP_FOUNDRY_SK_LIST;
        }

    } else if (len == 2 && ngx_strncmp(s, "id", 2) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_ID;

    } else if (len == 4 && ngx_strncmp(s, "name", 4) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_NAME;

    } else if (len == 5 && ngx_strncmp(s, "model", 5) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_MODEL;

    } else if (len == 7 && ngx_strncmp(s, "version", 7) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_VERSION;

    } else if (len == 6 && ngx_strncmp(s, "format", 6) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_FORMAT;

    } else if (len == 10 && ngx_strncmp(s, "properties", 10) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_PROPERTIES;
    }

    ps->key[ps->depth] = k;

    return 1;
}


/* one level deeper: its key is not known yet; at most 64 levels */

static int
ngx_http_foundry_src_descend(ngx_http_foundry_parse_t *ps)
{
    ps->depth++;

    if (ps->depth < 8) {
        ps->key[ps->depth] = NGX_HTTP_FOUNDRY_SK_OTHER;
    }

    return ps->depth < 64;
}
