
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_deployments.h"


/*
 * The operations a gateway location may pass to a model upstream, each a
 * bit of a mask.  An operation is the path after the target (or after
 * the deployment, with deploymentInPath): "chat/completions".  Most names
 * are one path; a "family" is the name and every path below it
 * ("files", "files/{id}/content").
 */

typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      family;
    ngx_uint_t                      dflt;
} ngx_http_foundry_operation_t;


static ngx_http_foundry_operation_t  ngx_http_foundry_operations[] = {

    /* the inference calls Foundry and the openai SDKs make */
    { ngx_string("chat/completions"), 0, 1 },
    { ngx_string("completions"), 0, 1 },
    { ngx_string("embeddings"), 0, 1 },
    { ngx_string("responses"), 0, 1 },

    /* inference too, passed where a location lists them */
    { ngx_string("images/generations"), 0, 0 },
    { ngx_string("images/edits"), 0, 0 },
    { ngx_string("images/variations"), 0, 0 },
    { ngx_string("audio/speech"), 0, 0 },
    { ngx_string("audio/transcriptions"), 0, 0 },
    { ngx_string("audio/translations"), 0, 0 },
    { ngx_string("moderations"), 0, 0 },

    /* objects stored upstream, shared by every caller of the credential */
    { ngx_string("files"), 1, 0 },
    { ngx_string("uploads"), 1, 0 },
    { ngx_string("batches"), 1, 0 },
    { ngx_string("fine_tuning"), 1, 0 },
    { ngx_string("vector_stores"), 1, 0 },
    { ngx_string("assistants"), 1, 0 },
    { ngx_string("threads"), 1, 0 },

    { ngx_null_string, 0, 0 }
};


/* the names for error messages, built once */
static u_char  ngx_http_foundry_operation_names[512];


/*
 * foundry_operations default | name ...;
 */

char *
ngx_http_foundry_operations_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    uint32_t     mask;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (flcf->operations != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    mask = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_http_foundry_operation_mask(&value[i], &mask) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown operation \"%V\" in \"%V\" "
                               "directive, expected \"default\" or %s",
                               &value[i], &value[0],
                               ngx_http_foundry_operation_list());
            return NGX_CONF_ERROR;
        }
    }

    flcf->operations = mask;

    return NGX_CONF_OK;
}


/* adds the bit of an operation's name ("default": the default set) */

ngx_int_t
ngx_http_foundry_operation_mask(ngx_str_t *name, uint32_t *mask)
{
    ngx_uint_t  i;

    if (name->len == sizeof("default") - 1
        && ngx_strncmp(name->data, "default", name->len) == 0)
    {
        *mask |= ngx_http_foundry_operations_default();
        return NGX_OK;
    }

    for (i = 0; ngx_http_foundry_operations[i].name.len; i++) {
        if (name->len == ngx_http_foundry_operations[i].name.len
            && ngx_strncmp(name->data, ngx_http_foundry_operations[i].name.data,
                           name->len)
               == 0)
        {
            *mask |= (uint32_t) 1 << i;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


uint32_t
ngx_http_foundry_operations_default(void)
{
    uint32_t    mask;
    ngx_uint_t  i;

    mask = 0;

    for (i = 0; ngx_http_foundry_operations[i].name.len; i++) {
        if (ngx_http_foundry_operations[i].dflt) {
            mask |= (uint32_t) 1 << i;
        }
    }

    return mask;
}


/* "chat/completions", "completions", ...: the known names, quoted */

const char *
ngx_http_foundry_operation_list(void)
{
    u_char      *p, *last;
    ngx_uint_t   i;

    if (ngx_http_foundry_operation_names[0]) {
        return (const char *) ngx_http_foundry_operation_names;
    }

    p = ngx_http_foundry_operation_names;
    last = p + sizeof(ngx_http_foundry_operation_names) - 1;

    for (i = 0; ngx_http_foundry_operations[i].name.len; i++) {
        p = ngx_slprintf(p, last, "%s\"%V\"", i ? ", " : "",
                         &ngx_http_foundry_operations[i].name);
    }

    *p = '\0';

    return (const char *) ngx_http_foundry_operation_names;
}


/* the name of an operation's bit, or NULL */

ngx_str_t *
ngx_http_foundry_operation_name(ngx_uint_t bit)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_foundry_operations[i].name.len; i++) {
        if (i == bit) {
            return &ngx_http_foundry_operations[i].name;
        }
    }

    return NULL;
}


/*
 * The bit of the operation a request path names, or 0; *exact is set when
 * the path is the operation's very name (then a valid one: no segment of
 * a known name is empty or a dot segment, every byte is safe).
 */

uint32_t
ngx_http_foundry_operation_find(ngx_str_t *op, ngx_uint_t *exact)
{
    ngx_str_t   *name;
    ngx_uint_t   i;

    for (i = 0; ngx_http_foundry_operations[i].name.len; i++) {
        name = &ngx_http_foundry_operations[i].name;

        if (op->len < name->len
            || ngx_memcmp(op->data, name->data, name->len) != 0)
        {
            continue;
        }

        if (op->len == name->len) {
            *exact = 1;
            return (uint32_t) 1 << i;
        }

        if (ngx_http_foundry_operations[i].family
            && op->data[name->len] == '/')
        {
            *exact = 0;
            return (uint32_t) 1 << i;
        }
    }

    *exact = 0;

    return 0;
}

