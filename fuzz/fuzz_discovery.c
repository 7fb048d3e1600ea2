
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: the input as a discovery source's answer (Azure
 * OpenAI's or OpenAI's {"data": [...]}, an ARM {"value": [...]}), made
 * into a list by ngx_http_foundry_source_parse(); then as a models file
 * (foundry_models_file), read by ngx_http_foundry_models_json() and
 * rendered by ngx_http_foundry_models_init() as the configuration does.
 *
 * Every deployment listed must have a valid name, and its two discovery
 * objects, and the lists of the models file, must be valid JSON naming
 * it; every deployment of the models file must be found by its name.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ngx_fuzz_source(ngx_pool_t *pool, const uint8_t *data,
    size_t size);
static void ngx_fuzz_models(ngx_pool_t *pool, u_char *text);
static void ngx_fuzz_json(ngx_pool_t *pool, ngx_str_t *json,
    const char **path, ngx_str_t *name);


static ngx_log_t                     *ngx_fuzz_log;
static ngx_conf_file_t                ngx_fuzz_conf_file;
static ngx_http_foundry_main_conf_t   ngx_fuzz_fmcf;
static ngx_http_foundry_upstream_t    ngx_fuzz_upstreams[2];


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_log = ngx_fuzz_init();

    ngx_str_set(&ngx_fuzz_conf_file.file.name, "fuzz-models.json");
    ngx_fuzz_conf_file.line = 1;

    /* what "upstream" in the models file may name */

    ngx_str_set(&ngx_fuzz_upstreams[0].name, "azure");
    ngx_fuzz_upstreams[0].kind = NGX_HTTP_FOUNDRY_AZURE_CLASSIC;
    ngx_fuzz_upstreams[0].kind_path = "/openai/deployments/";
    ngx_str_set(&ngx_fuzz_upstreams[0].base, "");

    ngx_str_set(&ngx_fuzz_upstreams[1].name, "openai");
    ngx_fuzz_upstreams[1].kind = NGX_HTTP_FOUNDRY_OPENAI;
    ngx_fuzz_upstreams[1].kind_path = "/v1/";
    ngx_str_set(&ngx_fuzz_upstreams[1].base, "/base");

    ngx_fuzz_fmcf.upstreams.elts = ngx_fuzz_upstreams;
    ngx_fuzz_fmcf.upstreams.nelts = 2;
    ngx_fuzz_fmcf.upstreams.size = sizeof(ngx_http_foundry_upstream_t);
    ngx_fuzz_fmcf.upstreams.nalloc = 2;

    /* the module's place among the http modules, as nginx would set it */

    if (ngx_http_foundry_module.ctx_index == NGX_MODULE_UNSET_INDEX) {
        ngx_http_foundry_module.ctx_index = 0;
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *text;
    ngx_pool_t  *pool;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    ngx_fuzz_source(pool, data, size);

    /* a models file is read whole, NUL-terminated */

    text = ngx_pnalloc(pool, size + 1);
    if (text == NULL) {
        abort();
    }

    ngx_memcpy(text, data, size);
    text[size] = '\0';

    ngx_fuzz_models(pool, text);

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_source(ngx_pool_t *pool, const uint8_t *data, size_t size)
{
    u_char                   *copy;
    uint32_t                  i, j;
    ngx_str_t                 f[6];
    const char               *err;
    ngx_http_request_t       *r;
    ngx_http_foundry_discovery_source_t src;
    ngx_http_foundry_list_t  *list;
    const char               *azure_name[] = { "name", NULL };
    const char               *openai_id[] = { "id", NULL };

    r = ngx_fuzz_request(pool);
    if (r == NULL) {
        abort();
    }

    ngx_memzero(&src, sizeof(ngx_http_foundry_discovery_source_t));
    ngx_str_set(&src.uri, "/fuzz-source");

    /* a buffer of its own: the answer as collected, not terminated */

    copy = ngx_pnalloc(pool, size ? size : 1);
    if (copy == NULL) {
        abort();
    }

    ngx_memcpy(copy, data, size);

    err = NULL;

    list = ngx_http_foundry_source_parse(r, &src, copy, size, &err);

    if (list == NULL) {
        if (err == NULL) {
            abort();
        }

        return;
    }

    if (list->size < offsetof(ngx_http_foundry_list_t, found)
                     + sizeof(ngx_http_foundry_found_t))
    {
        abort();
    }

    for (i = 0; i < list->n; i++) {
        if (offsetof(ngx_http_foundry_list_t, found)
            + (i + 1) * sizeof(ngx_http_foundry_found_t) > list->size)
        {
            abort();
        }

        for (j = 0; j < 6; j++) {
            if ((size_t) list->found[i].off[j] + list->found[i].len[j]
                > list->size)
            {
                abort();
            }

            f[j].data = (u_char *) list + list->found[i].off[j];
            f[j].len = list->found[i].len[j];
        }

        if (ngx_http_foundry_valid_name(&f[NGX_HTTP_FOUNDRY_F_NAME])
            != NGX_OK)
        {
            abort();
        }

        ngx_fuzz_json(pool, &f[NGX_HTTP_FOUNDRY_F_AZURE], azure_name,
                      &f[NGX_HTTP_FOUNDRY_F_NAME]);
        ngx_fuzz_json(pool, &f[NGX_HTTP_FOUNDRY_F_OPENAI], openai_id,
                      &f[NGX_HTTP_FOUNDRY_F_NAME]);
    }
}


static void
ngx_fuzz_models(ngx_pool_t *pool, u_char *text)
{
    char                           *rv, errbuf[256];
    ngx_str_t                       file;
    ngx_uint_t                      i;
    yajl_val                        root;
    ngx_conf_t                      cf;
    ngx_http_conf_ctx_t             ctx;
    ngx_http_foundry_models_t      *models;
    ngx_http_foundry_deployment_t  *d;
    void                          **main_conf;
    const char                     *azure_name[] = { "name", NULL };
    const char                     *openai_id[] = { "id", NULL };

    errbuf[0] = '\0';

    root = yajl_tree_parse((const char *) text, errbuf, sizeof(errbuf));
    if (root == NULL) {
        return;
    }

    /* a configuration being read, as much of it as the models need */

    main_conf = ngx_pcalloc(pool, (ngx_http_foundry_module.ctx_index + 1)
                                  * sizeof(void *));
    models = ngx_pcalloc(pool, sizeof(ngx_http_foundry_models_t));

    if (main_conf == NULL || models == NULL
        || ngx_array_init(&models->deployments, pool, 4,
                          sizeof(ngx_http_foundry_deployment_t))
           != NGX_OK)
    {
        abort();
    }

    main_conf[ngx_http_foundry_module.ctx_index] = &ngx_fuzz_fmcf;

    ngx_memzero(&ctx, sizeof(ngx_http_conf_ctx_t));
    ctx.main_conf = main_conf;

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.log = ngx_fuzz_log;
    cf.ctx = &ctx;
    cf.conf_file = &ngx_fuzz_conf_file;

    ngx_str_set(&file, "fuzz-models.json");

    rv = ngx_http_foundry_models_json(&cf, models, &file, root);

    yajl_tree_free(root);

    if (rv != NGX_CONF_OK) {
        return;
    }

    /*
     * "upstream" with variables needs nginx's script engine, which is not
     * set up here: such deployments go to a static upstream instead
     */

    d = models->deployments.elts;

    for (i = 0; i < models->deployments.nelts; i++) {
        if (d[i].upstream_name.len
            && ngx_strlchr(d[i].upstream_name.data,
                           d[i].upstream_name.data + d[i].upstream_name.len,
                           '$'))
        {
            ngx_str_set(&d[i].upstream_name, "openai");
        }
    }

    if (ngx_http_foundry_models_init(&cf, models) != NGX_OK) {
        return;
    }

    ngx_fuzz_json(pool, &models->azure_list, NULL, NULL);
    ngx_fuzz_json(pool, &models->openai_list, NULL, NULL);

    for (i = 0; i < models->deployments.nelts; i++) {
        if (ngx_http_foundry_find_deployment(models, &d[i].name) != &d[i]) {
            abort();
        }

        ngx_fuzz_json(pool, &d[i].azure_json, azure_name, &d[i].name);
        ngx_fuzz_json(pool, &d[i].openai_json, openai_id, &d[i].name);
    }
}


/* "json" parses; if "path" is given, it leads to the string "name" */

static void
ngx_fuzz_json(ngx_pool_t *pool, ngx_str_t *json, const char **path,
    ngx_str_t *name)
{
    char      *text, errbuf[128];
    yajl_val   root, v;

    text = ngx_pnalloc(pool, json->len + 1);
    if (text == NULL) {
        abort();
    }

    ngx_memcpy(text, json->data, json->len);
    text[json->len] = '\0';

    root = yajl_tree_parse(text, errbuf, sizeof(errbuf));

    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        fprintf(stderr, "fuzz_discovery: not a JSON object: %s\n", text);
        abort();
    }

    if (path) {
        v = yajl_tree_get(root, path, yajl_t_string);

        if (v == NULL
            || ngx_strlen(YAJL_GET_STRING(v)) != name->len
            || ngx_memcmp(YAJL_GET_STRING(v), name->data, name->len) != 0)
        {
            fprintf(stderr, "fuzz_discovery: not named \"%.*s\": %s\n",
                    (int) name->len, name->data, text);
            abort();
        }
    }

    yajl_tree_free(root);
}
