
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


static ngx_int_t ngx_http_foundry_absolute(ngx_conf_t *cf, ngx_str_t *path);


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
        if (!ngx_http_foundry_deployment_char(*p)) {
            return NGX_ERROR;
        }
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


/*
 * An enum slot as nginx's ngx_conf_set_enum_slot (cmd->post is the
 * ngx_conf_enum_t table), but case sensitive, and naming the accepted
 * values when a value is refused: foundry_category, foundry_auth.  A
 * table whose end has a text (an empty name with data) names its values
 * with that text.
 */

char *
ngx_http_foundry_conf_set_enum(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char           *q, *last, buf[NGX_MAX_CONF_ERRSTR];
    ngx_str_t        *value;
    ngx_uint_t       *np, i, j, n, cased;
    ngx_conf_enum_t  *e;

    np = (ngx_uint_t *) (p + cmd->offset);

    if (*np != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    e = cmd->post;

    for (n = 0; e[n].name.len; n++) {
        if (e[n].name.len == value[1].len
            && ngx_strncmp(e[n].name.data, value[1].data, value[1].len) == 0)
        {
            *np = e[n].value;
            return NGX_CONF_OK;
        }
    }

    if (e[n].name.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be %s", &value[1], &value[0],
                           e[n].name.data);
        return NGX_CONF_ERROR;
    }

    q = buf;
    last = buf + sizeof(buf);
    cased = 0;

    for (i = 0; i < n; i++) {
        q = ngx_slprintf(q, last, "%s\"%V\"",
                         i == 0 ? "" : (i == n - 1 ? " or " : ", "),
                         &e[i].name);

        for (j = 0; j < e[i].name.len; j++) {
            if (e[i].name.data[j] >= 'A' && e[i].name.data[j] <= 'Z') {
                cased = 1;
            }
        }
    }

    if (cased) {
        q = ngx_slprintf(q, last, " (case matters)");
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "it must be %*s", &value[1], &value[0], q - buf, buf);
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

    ngx_str_t                        *value;
    ngx_uint_t                        i;
    ngx_http_foundry_custom_header_t *h;

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
                                    sizeof(ngx_http_foundry_custom_header_t));
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
