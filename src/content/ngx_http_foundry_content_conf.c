
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_content.h"
#include "ngx_http_foundry_identity.h"


/*
 * foundry_content_check: the checker's location, categories, threshold,
 * failure mode, cache and credential, read at configuration time
 * (ngx_http_foundry_content.c checks the prompts).
 */


#define NGX_HTTP_FOUNDRY_CT_API_VERSION  "2024-09-01"


/* foundry_content_check's arguments while they are read */

typedef struct {
    ngx_http_foundry_content_conf_t  *ccf;
    ngx_array_t                      *blocklists;
    ngx_uint_t                        asked;
} ngx_http_foundry_ct_args_t;


static ngx_int_t ngx_http_foundry_ct_arg(ngx_conf_t *cf, void *data,
    ngx_str_t *arg);
static ngx_int_t ngx_http_foundry_ct_value(ngx_conf_t *cf,
    ngx_http_foundry_ct_args_t *a, ngx_str_t *arg, ngx_str_t *name,
    ngx_str_t *v);
static ngx_int_t ngx_http_foundry_ct_blocklists(ngx_conf_t *cf,
    ngx_http_foundry_ct_args_t *a, ngx_str_t *v);
static ngx_int_t ngx_http_foundry_ct_threshold(ngx_conf_t *cf,
    ngx_http_foundry_ct_args_t *a, ngx_str_t *arg, ngx_str_t *name,
    ngx_str_t *v);
static ngx_int_t ngx_http_foundry_ct_azure(ngx_conf_t *cf,
    ngx_http_foundry_ct_args_t *a);
static ngx_int_t ngx_http_foundry_ct_analyze_tail(ngx_conf_t *cf,
    ngx_http_foundry_ct_args_t *a);


static ngx_str_t  ngx_http_foundry_ct_category_names[] = {
    ngx_string("Hate"),
    ngx_string("SelfHarm"),
    ngx_string("Sexual"),
    ngx_string("Violence")
};


/*
 * foundry_content_check <location> [shape=azure|generic]
 *     [fail=open|closed] [timeout=time] [Hate=n] [SelfHarm=n] [Sexual=n]
 *     [Violence=n] [shield=on|off] [blocklists=a,b] [identity=upstream]
 *     [max_text=n] [cache=zone] [ttl=time] [answers=on|off]
 *     [answer_max=size] [streams=pass|refuse];
 * foundry_content_check off;
 */

char *
ngx_http_foundry_content_check_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t                        *value, parts[4];
    ngx_uint_t                        i;
    ngx_http_foundry_ct_args_t        a;
    ngx_http_foundry_main_conf_t     *fmcf;
    ngx_http_foundry_content_conf_t  *ccf;

    if (flcf->content != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2
        && ngx_strcmp(value[1].data, "off") == 0)
    {
        flcf->content = NULL;
        return NGX_CONF_OK;
    }

    ccf = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_content_conf_t));
    if (ccf == NULL) {
        return NGX_CONF_ERROR;
    }

    ccf->name = value[1];
    ccf->shape = NGX_HTTP_FOUNDRY_CT_AZURE;
    ccf->timeout = 2000;
    ccf->ttl = 60000;
    ccf->max_text = NGX_HTTP_FOUNDRY_CT_MAX_TEXT;
    ccf->answer_max = NGX_HTTP_FOUNDRY_CT_HOLD_MAX;

    for (i = 0; i < NGX_HTTP_FOUNDRY_CT_CATEGORIES; i++) {
        ccf->thresholds[i] = -1;
    }

    if (ccf->name.len == 0 || ccf->name.data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the checker \"%V\" must be a location path "
                           "starting with \"/\"", &ccf->name);
        return NGX_CONF_ERROR;
    }

    a.ccf = ccf;
    a.blocklists = NULL;
    a.asked = 0;

    if (ngx_http_foundry_conf_args(cf, 2, ngx_http_foundry_ct_arg, &a)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ccf->shape == NGX_HTTP_FOUNDRY_CT_GENERIC
        && (a.asked || ccf->shield || a.blocklists))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "categories, \"shield\" and \"blocklists\" are "
                           "Azure AI Content Safety's, not of "
                           "\"shape=generic\"");
        return NGX_CONF_ERROR;
    }

    if (ccf->refuse_streams && !ccf->answers) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"streams=refuse\" is for the answers checked "
                           "(\"answers=on\"): a stream's prompt is checked "
                           "as any other");
        return NGX_CONF_ERROR;
    }

    if (ccf->shape == NGX_HTTP_FOUNDRY_CT_GENERIC) {
        ccf->analyze_uri = ccf->name;

    } else if (ngx_http_foundry_ct_azure(cf, &a) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* what the verdicts of this check depend on */

    parts[0] = ccf->analyze_uri;
    parts[1] = ccf->analyze_tail;
    parts[2] = ccf->shield_uri;

    parts[3].data = (u_char *) (ccf->shield ? "shield" : "");
    parts[3].len = ngx_strlen(parts[3].data);

    if (ngx_http_foundry_sha256(parts, 4, ccf->id) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ccf->answers) {
        fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);
        fmcf->answers = 1;
    }

    flcf->content = ccf;

    return NGX_CONF_OK;
}


/*
 * One name=value argument of foundry_content_check: NGX_OK, or NGX_ERROR
 * once the error is logged.
 */

static ngx_int_t
ngx_http_foundry_ct_arg(ngx_conf_t *cf, void *data, ngx_str_t *arg)
{
    ngx_http_foundry_ct_args_t *a = data;

    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t  *value, name, v;

    p = ngx_strlchr(arg->data, arg->data + arg->len, '=');

    if (p == NULL) {
        rc = NGX_DECLINED;

    } else {
        name.data = arg->data;
        name.len = p - arg->data;
        v.data = p + 1;
        v.len = arg->data + arg->len - v.data;

        rc = ngx_http_foundry_ct_value(cf, a, arg, &name, &v);
    }

    if (rc == NGX_DECLINED) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of \"%V\"", arg,
                           &value[0]);
        return NGX_ERROR;
    }

    return rc;
}


/*
 * NGX_OK, NGX_DECLINED for an invalid parameter, or NGX_ERROR once the
 * error is logged.
 */

static ngx_int_t
ngx_http_foundry_ct_value(ngx_conf_t *cf, ngx_http_foundry_ct_args_t *a,
    ngx_str_t *arg, ngx_str_t *name, ngx_str_t *v)
{
    ngx_int_t                         n;
    ngx_http_foundry_content_conf_t  *ccf;

    ccf = a->ccf;

    if (name->len == 5 && ngx_strncmp(name->data, "shape", 5) == 0) {
        if (v->len == 5 && ngx_strncmp(v->data, "azure", 5) == 0) {
            ccf->shape = NGX_HTTP_FOUNDRY_CT_AZURE;

        } else if (v->len == 7 && ngx_strncmp(v->data, "generic", 7) == 0) {
            ccf->shape = NGX_HTTP_FOUNDRY_CT_GENERIC;

        } else {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (name->len == 4 && ngx_strncmp(name->data, "fail", 4) == 0) {
        if (v->len == 4 && ngx_strncmp(v->data, "open", 4) == 0) {
            ccf->fail_open = 1;

        } else if (v->len == 6 && ngx_strncmp(v->data, "closed", 6) == 0) {
            ccf->fail_open = 0;

        } else {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if ((name->len == 7 && ngx_strncmp(name->data, "timeout", 7) == 0)
        || (name->len == 3 && ngx_strncmp(name->data, "ttl", 3) == 0))
    {
        n = ngx_parse_time(v, 0);

        if (n == NGX_ERROR || n == 0) {
            return NGX_DECLINED;
        }

        if (name->len == 3) {
            ccf->ttl = (ngx_msec_t) n;

        } else {
            ccf->timeout = (ngx_msec_t) n;
        }

        return NGX_OK;
    }

    if (name->len == 6 && ngx_strncmp(name->data, "shield", 6) == 0) {
        if (v->len == 2 && ngx_strncmp(v->data, "on", 2) == 0) {
            ccf->shield = 1;

        } else if (v->len == 3 && ngx_strncmp(v->data, "off", 3) == 0) {
            ccf->shield = 0;

        } else {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (name->len == 8 && ngx_strncmp(name->data, "identity", 8) == 0) {
        if (v->len != 8 || ngx_strncmp(v->data, "upstream", 8) != 0) {
            return NGX_DECLINED;
        }

        ccf->identity = 1;
        return NGX_OK;
    }

    if (name->len == 8 && ngx_strncmp(name->data, "max_text", 8) == 0) {
        n = ngx_atoi(v->data, v->len);

        if (n == NGX_ERROR || n < 1
            || n > NGX_HTTP_FOUNDRY_CT_MAX_TEXT_LIMIT)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": max_text is a number of "
                               "characters from 1 to %d",
                               arg, NGX_HTTP_FOUNDRY_CT_MAX_TEXT_LIMIT);
            return NGX_ERROR;
        }

        ccf->max_text = (size_t) n;
        return NGX_OK;
    }

    if (name->len == 7 && ngx_strncmp(name->data, "answers", 7) == 0) {
        if (v->len == 2 && ngx_strncmp(v->data, "on", 2) == 0) {
            ccf->answers = 1;

        } else if (v->len == 3 && ngx_strncmp(v->data, "off", 3) == 0) {
            ccf->answers = 0;

        } else {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (name->len == 7 && ngx_strncmp(name->data, "streams", 7) == 0) {
        if (v->len == 6 && ngx_strncmp(v->data, "refuse", 6) == 0) {
            ccf->refuse_streams = 1;

        } else if (v->len == 4 && ngx_strncmp(v->data, "pass", 4) == 0) {
            ccf->refuse_streams = 0;

        } else {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (name->len == 10 && ngx_strncmp(name->data, "answer_max", 10) == 0) {
        n = ngx_parse_size(v);

        if (n == NGX_ERROR || n < NGX_HTTP_FOUNDRY_CT_HOLD_MIN
            || n > NGX_HTTP_FOUNDRY_CT_HOLD_LIMIT)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": answer_max is a size from 1k to 16m",
                               arg);
            return NGX_ERROR;
        }

        ccf->answer_max = (size_t) n;
        return NGX_OK;
    }

    if (name->len == 5 && ngx_strncmp(name->data, "cache", 5) == 0) {
        if (v->len == 0) {
            return NGX_DECLINED;
        }

        ccf->cache = ngx_shared_memory_add(cf, v, 0,
                                           &ngx_http_foundry_module);
        if (ccf->cache == NULL) {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (name->len == 10 && ngx_strncmp(name->data, "blocklists", 10) == 0) {
        return ngx_http_foundry_ct_blocklists(cf, a, v);
    }

    return ngx_http_foundry_ct_threshold(cf, a, arg, name, v);
}


static ngx_int_t
ngx_http_foundry_ct_blocklists(ngx_conf_t *cf, ngx_http_foundry_ct_args_t *a,
    ngx_str_t *v)
{
    u_char      *p, *last, *comma;
    ngx_str_t   *bl;
    ngx_uint_t   j;

    a->blocklists = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
    if (a->blocklists == NULL) {
        return NGX_ERROR;
    }

    for (p = v->data, last = v->data + v->len; p < last; p = comma + 1) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        for (j = 0; p + j < comma; j++) {
            if (!(isalnum(p[j]) || p[j] == '_' || p[j] == '-'
                  || p[j] == '.' || p[j] == '~'))
            {
                return NGX_DECLINED;
            }
        }

        if (j == 0 || j > NGX_HTTP_FOUNDRY_CT_NAME_MAX) {
            return NGX_DECLINED;
        }

        bl = ngx_array_push(a->blocklists);
        if (bl == NULL) {
            return NGX_ERROR;
        }

        bl->data = p;
        bl->len = j;
    }

    if (a->blocklists->nelts == 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_ct_threshold(ngx_conf_t *cf, ngx_http_foundry_ct_args_t *a,
    ngx_str_t *arg, ngx_str_t *name, ngx_str_t *v)
{
    ngx_int_t   n;
    ngx_uint_t  j;

    for (j = 0; j < NGX_HTTP_FOUNDRY_CT_CATEGORIES; j++) {
        if (name->len == ngx_http_foundry_ct_category_names[j].len
            && ngx_strncmp(name->data,
                           ngx_http_foundry_ct_category_names[j].data,
                           name->len) == 0)
        {
            break;
        }
    }

    if (j == NGX_HTTP_FOUNDRY_CT_CATEGORIES) {
        return NGX_DECLINED;
    }

    n = ngx_atoi(v->data, v->len);

    if (n == NGX_ERROR || n > 7) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": a severity threshold is a number "
                           "from 0 to 7 (the service answers 0, 2, 4 "
                           "or 6)", arg);
        return NGX_ERROR;
    }

    a->ccf->thresholds[j] = n;
    a->asked = 1;

    return NGX_OK;
}


/* Azure AI Content Safety's URIs and the end of every text:analyze body */

static ngx_int_t
ngx_http_foundry_ct_azure(ngx_conf_t *cf, ngx_http_foundry_ct_args_t *a)
{
    ngx_str_t                         base;
    ngx_uint_t                        j;
    ngx_http_foundry_content_conf_t  *ccf;

    ccf = a->ccf;

    /* Azure OpenAI's default: medium and high severities are refused */

    if (!a->asked) {
        for (j = 0; j < NGX_HTTP_FOUNDRY_CT_CATEGORIES; j++) {
            ccf->thresholds[j] = 4;
        }
    }

    base = ccf->name;

    while (base.len && base.data[base.len - 1] == '/') {
        base.len--;
    }

    ccf->analyze_uri.len = base.len + sizeof("/contentsafety/text:analyze") - 1;
    ccf->analyze_uri.data = ngx_pnalloc(cf->pool, ccf->analyze_uri.len);
    ccf->shield_uri.len = base.len
                          + sizeof("/contentsafety/text:shieldPrompt") - 1;
    ccf->shield_uri.data = ngx_pnalloc(cf->pool, ccf->shield_uri.len);

    if (ccf->analyze_uri.data == NULL || ccf->shield_uri.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ccf->analyze_uri.data, "%V/contentsafety/text:analyze",
                &base);
    ngx_sprintf(ccf->shield_uri.data, "%V/contentsafety/text:shieldPrompt",
                &base);

    ngx_str_set(&ccf->args, "api-version=" NGX_HTTP_FOUNDRY_CT_API_VERSION);

    return ngx_http_foundry_ct_analyze_tail(cf, a);
}


/* the end of every text:analyze body, after the text */

static ngx_int_t
ngx_http_foundry_ct_analyze_tail(ngx_conf_t *cf, ngx_http_foundry_ct_args_t *a)
{
    u_char                           *p, *last;
    size_t                            size;
    ngx_uint_t                        j, n, nblock;
    ngx_http_foundry_content_conf_t  *ccf;

    ccf = a->ccf;

    nblock = a->blocklists ? a->blocklists->nelts : 0;
    size = 256 + nblock * (NGX_HTTP_FOUNDRY_CT_NAME_MAX + 3) + 1;

    p = ngx_pnalloc(cf->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ccf->analyze_tail.data = p;
    last = p + size - 1;

    p = ngx_slprintf(p, last, ",\"categories\":[");

    for (j = 0, n = 0; j < NGX_HTTP_FOUNDRY_CT_CATEGORIES; j++) {
        if (ccf->thresholds[j] >= 0) {
            p = ngx_slprintf(p, last, "%s\"%V\"", n++ ? "," : "",
                             &ngx_http_foundry_ct_category_names[j]);
        }
    }

    p = ngx_slprintf(p, last, "]");

    if (nblock) {
        p = ngx_slprintf(p, last, ",\"blocklistNames\":[");

        for (j = 0; j < nblock; j++) {
            p = ngx_slprintf(p, last, "%s\"%V\"", j ? "," : "",
                             &((ngx_str_t *) a->blocklists->elts)[j]);
        }

        p = ngx_slprintf(p, last, "],\"haltOnBlocklistHit\":false");
    }

    p = ngx_slprintf(p, last, ",\"outputType\":\"FourSeverityLevels\"}");

    ccf->analyze_tail.len = p - ccf->analyze_tail.data;
    *p = '\0';

    return NGX_OK;
}
