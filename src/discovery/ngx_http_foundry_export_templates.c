
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_oauth2.h"
#include "ngx_http_foundry_discovery.h"
#include "ngx_http_foundry_credentials.h"


/*
 * The connection in the forms the admin deploys it with, no editing of
 * its metadata needed:
 *
 *   format=bicep      the parameters file of the Foundry samples'
 *                     templates (infrastructure/infrastructure-setup-bicep/
 *                     01-connections): model-gateway/
 *                     connection-modelgateway.bicep for a ModelGateway
 *                     connection, apim/connection-apim.bicep for an
 *                     ApiManagement one.  Their parameters are flat, the
 *                     JSON values real JSON (the templates serialise them
 *                     with string()), and a template refuses parameters
 *                     it does not declare: each file has the parameters
 *                     of its template only.
 *
 *   format=terraform  an azapi_resource of the connection, the metadata's
 *                     JSON values as JSON strings (HCL string literals).
 *
 * What only the admin knows (the project's resource id, the APIM
 * resource, the credential) is a FILL-IN placeholder or a variable.
 */


static ngx_int_t ngx_http_foundry_bicep_param(yajl_gen g, const char *name,
    ngx_str_t *value, ngx_uint_t raw);
static ngx_int_t ngx_http_foundry_bicep_connection(yajl_gen g,
    ngx_http_foundry_connection_t *c);
static ngx_int_t ngx_http_foundry_bicep_oauth2(yajl_gen g,
    ngx_http_foundry_connection_t *c);
static ngx_int_t ngx_http_foundry_hcl_id(ngx_pool_t *pool, ngx_str_t *name,
    ngx_str_t *s);
static u_char *ngx_http_foundry_terraform_variables(u_char *p,
    ngx_http_foundry_connection_t *c);
static u_char *ngx_http_foundry_terraform_credentials(u_char *p,
    ngx_http_foundry_connection_t *c);
static u_char *ngx_http_foundry_export_tf_oauth2(u_char *p,
    ngx_http_foundry_connection_t *c);
static u_char *ngx_http_foundry_tf_var(u_char *p, const char *name,
    ngx_str_t *def);
static u_char *ngx_http_foundry_terraform_metadata(u_char *p,
    ngx_http_foundry_connection_t *c, ngx_str_t *infer, ngx_str_t *deploy);
static u_char *ngx_http_foundry_hcl_string(u_char *p, ngx_str_t *s);
static u_char *ngx_http_foundry_hcl_attr(u_char *p, ngx_uint_t indent,
    const char *name, size_t width, ngx_str_t *s);


#define NGX_HTTP_FOUNDRY_FILL_PROJECT                                         \
    "/subscriptions/FILL-IN-SUBSCRIPTION-ID/resourceGroups/"                  \
    "FILL-IN-RESOURCE-GROUP/providers/Microsoft.CognitiveServices/accounts/"  \
    "FILL-IN-FOUNDRY-ACCOUNT/projects/FILL-IN-PROJECT"

#define NGX_HTTP_FOUNDRY_FILL_APIM                                            \
    "/subscriptions/FILL-IN-SUBSCRIPTION-ID/resourceGroups/"                  \
    "FILL-IN-APIM-RESOURCE-GROUP/providers/Microsoft.ApiManagement/service/"  \
    "FILL-IN-APIM-SERVICE"

/* a literal's bytes, without its NUL */
#define ngx_http_foundry_cpy(p, s)  ngx_cpymem(p, s, sizeof(s) - 1)

#define NGX_HTTP_FOUNDRY_CONNECTIONS_TYPE                                     \
    "Microsoft.CognitiveServices/accounts/projects/connections@2025-06-01"


/* a deployment parameters file, opened up to its "parameters" object */

ngx_int_t
ngx_http_foundry_export_parameters(yajl_gen g)
{
    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "$schema") != NGX_OK
        || ngx_http_foundry_json_key(g,
               "https://schema.management.azure.com/schemas/"
               "2019-04-01/deploymentParameters.json#")
           != NGX_OK
        || ngx_http_foundry_json_key(g, "contentVersion") != NGX_OK
        || ngx_http_foundry_json_key(g, "1.0.0.0") != NGX_OK
        || ngx_http_foundry_json_key(g, "parameters") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the parameters file of connection-modelgateway.bicep or -apim.bicep */

ngx_int_t
ngx_http_foundry_export_bicep(yajl_gen g, ngx_http_foundry_connection_t *c)
{
    ngx_str_t                     *versions;
    ngx_http_foundry_loc_conf_t   *flcf;
    ngx_http_foundry_discovery_t  *d;

    static ngx_str_t  empty = ngx_string("");
    static ngx_str_t  azure = ngx_string("AzureOpenAI");
    static ngx_str_t  openai = ngx_string("OpenAI");

    flcf = c->conf;

    if (ngx_http_foundry_export_parameters(g) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_bicep_connection(g, c) != NGX_OK) {
        return NGX_ERROR;
    }

    versions = flcf->inference_api_versions
               ? flcf->inference_api_versions->elts : &empty;

    if (ngx_http_foundry_bicep_param(g, "inferenceAPIVersion", versions, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    versions = flcf->deployment_api_versions
               ? flcf->deployment_api_versions->elts : &empty;

    if (ngx_http_foundry_bicep_param(g, "deploymentAPIVersion", versions, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (c->discovery.len) {
        d = flcf->discovery->elts;

        if (ngx_http_foundry_bicep_param(g, "listModelsEndpoint", &d->list,
                                         0)
            != NGX_OK
            || ngx_http_foundry_bicep_param(g, "getModelEndpoint", &d->get,
                                            0)
               != NGX_OK
            || ngx_http_foundry_bicep_param(g, "deploymentProvider",
                                            d->format
                                            == NGX_HTTP_FOUNDRY_FORMAT_AZURE
                                            ? &azure : &openai, 0)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (ngx_http_foundry_bicep_param(g, "staticModels", &c->models, 1)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (c->auth_config.len
        && ngx_http_foundry_bicep_param(g, "authConfig", &c->auth_config, 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (c->headers.len
        && ngx_http_foundry_bicep_param(g, "customHeaders", &c->headers, 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!c->apim && c->auth_type == NGX_HTTP_FOUNDRY_TYPE_OAUTH2
        && ngx_http_foundry_bicep_oauth2(g, c) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * OAuth2: the client of "?client_id=" and the gateway's token service, or
 * the client settings of the admin's identity provider
 */

static ngx_int_t
ngx_http_foundry_bicep_oauth2(yajl_gen g, ngx_http_foundry_connection_t *c)
{
    ngx_str_t  s, v;

    if (c->oauth2) {
        s = c->client_id;
        v = c->token_url;

    } else {
        ngx_str_set(&s, "FILL-IN-CLIENT-ID");
        ngx_str_set(&v, "FILL-IN-TOKEN-URL");
    }

    if (ngx_http_foundry_bicep_param(g, "clientId", &s, 0) != NGX_OK
        || ngx_http_foundry_bicep_param(g, "tokenUrl", &v, 0) != NGX_OK
        || ngx_http_foundry_json_key(g, "scopes") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "value") != NGX_OK
        || yajl_gen_array_open(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return ngx_http_foundry_export_scopes(g, c->oauth2 ? c->scopes : NULL);
}


/* the scopes (or none) in an open array; the array and its object closed */

ngx_int_t
ngx_http_foundry_export_scopes(yajl_gen g, ngx_array_t *scopes)
{
    ngx_uint_t                        i;
    ngx_http_foundry_oauth2_scope_t  *sc;

    sc = scopes ? scopes->elts : NULL;

    for (i = 0; sc && i < scopes->nelts; i++) {
        if (ngx_http_foundry_json_string(g, &sc[i].scope) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_foundry_json_end_list(g);
}


/* the project, the target, the connection's name and settings */

static ngx_int_t
ngx_http_foundry_bicep_connection(yajl_gen g,
    ngx_http_foundry_connection_t *c)
{
    ngx_str_t                     s, v;
    ngx_http_foundry_loc_conf_t  *flcf;

    static ngx_str_t  yes = ngx_string("true");
    static ngx_str_t  no = ngx_string("false");
    static ngx_str_t  pmi = ngx_string("ProjectManagedIdentity");

    flcf = c->conf;

    ngx_str_set(&s, NGX_HTTP_FOUNDRY_FILL_PROJECT);

    if (ngx_http_foundry_bicep_param(g, "projectResourceId", &s, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (c->apim) {

        /* the template takes the target from the APIM resource's API */

        ngx_str_set(&s, NGX_HTTP_FOUNDRY_FILL_APIM);
        ngx_str_set(&v, "FILL-IN-API-NAME");

        if (ngx_http_foundry_bicep_param(g, "apimResourceId", &s, 0)
            != NGX_OK
            || ngx_http_foundry_bicep_param(g, "apiName", &v, 0) != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (ngx_http_foundry_bicep_param(g, "targetUrl", &c->url, 0)
               != NGX_OK
               || ngx_http_foundry_bicep_param(g, "gatewayName", &c->name, 0)
                  != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the APIM template's authType is ApiKey or ProjectManagedIdentity */

    if (ngx_http_foundry_bicep_param(g, "connectionName", &c->name, 0)
        != NGX_OK
        || ngx_http_foundry_bicep_param(g, "authType",
                                        c->auth_type
                                        == NGX_HTTP_FOUNDRY_TYPE_AAD
                                        ? &pmi : &c->auth, 0)
           != NGX_OK
        || ngx_http_foundry_json_key(g, "isSharedToAll") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "value") != NGX_OK
        || yajl_gen_bool(g, 0) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_foundry_bicep_param(g, "deploymentInPath",
                                        flcf->deployment_in_path
                                        ? &yes : &no, 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* "name": {"value": ...}, a string or (raw) JSON text */

static ngx_int_t
ngx_http_foundry_bicep_param(yajl_gen g, const char *name, ngx_str_t *value,
    ngx_uint_t raw)
{
    if (ngx_http_foundry_json_key(g, name) != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "value") != NGX_OK
        || (raw ? ngx_http_foundry_json_raw(g, value)
                : ngx_http_foundry_json_string(g, value))
           != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the connection as an azapi_resource (azapi 2.x: body is an object) */

ngx_int_t
ngx_http_foundry_export_terraform(ngx_http_request_t *r,
    ngx_http_foundry_connection_t *c, ngx_str_t *out)
{
    u_char                           *p;
    size_t                            len, width;
    ngx_str_t                         s, *infer, *deploy;
    ngx_uint_t                        i;
    ngx_http_foundry_loc_conf_t      *flcf;
    ngx_http_foundry_oauth2_scope_t  *sc;

    static ngx_str_t  empty = ngx_string("");

    flcf = c->conf;

    infer = flcf->inference_api_versions
            ? flcf->inference_api_versions->elts : &empty;
    deploy = flcf->deployment_api_versions
             ? flcf->deployment_api_versions->elts : &empty;

    /* an escaped byte takes at most 6 ("\u00XX") */

    len = 4096
          + 6 * (2 * c->name.len + c->url.len + c->models.len
                 + c->discovery.len + c->auth_config.len + c->headers.len
                 + infer->len + deploy->len);

    if (c->oauth2) {
        sc = c->scopes->elts;
        len += 6 * (c->client_id.len + c->token_url.len);

        for (i = 0; i < c->scopes->nelts; i++) {
            len += 6 * sc[i].scope.len + 4;
        }
    }

    out->data = ngx_pnalloc(r->pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_hcl_id(r->pool, &c->name, &s) != NGX_OK) {
        return NGX_ERROR;
    }

    p = out->data;

    p = ngx_sprintf(p,
            "# The Foundry connection of the gateway target %V\n"
            "# (category %V, authType %V), written by nginx's "
            "foundry_export.\n"
            "# The metadata values that are JSON are JSON strings, as "
            "Foundry\n"
            "# stores them.  No secret is written here: the credential "
            "comes\n"
            "# from the variables below.\n"
            "\n"
            "terraform {\n"
            "  required_providers {\n"
            "    azapi = {\n"
            "      source  = \"azure/azapi\"\n"
            "      version = \"~> 2.5\"\n"
            "    }\n"
            "  }\n"
            "}\n"
            "\n"
            "variable \"foundry_project_id\" {\n"
            "  type        = string\n"
            "  description = \"The Foundry project's resource id: "
            "/subscriptions/SUB/resourceGroups/RG/providers/"
            "Microsoft.CognitiveServices/accounts/ACCOUNT/projects/"
            "PROJECT\"\n"
            "}\n",
            &c->url, &c->category, &c->auth);

    p = ngx_http_foundry_terraform_variables(p, c);

    p = ngx_sprintf(p,
            "\n"
            "resource \"azapi_resource\" \"%V\" {\n"
            "  type                      = \""
            NGX_HTTP_FOUNDRY_CONNECTIONS_TYPE "\"\n"
            "  name                      = ", &s);
    p = ngx_http_foundry_hcl_string(p, &c->name);
    p = ngx_http_foundry_cpy(p, "\n"
            "  parent_id                 = var.foundry_project_id\n"
            "  schema_validation_enabled = false\n"
            "\n"
            "  body = {\n"
            "    properties = {\n");

    width = sizeof("isSharedToAll") - 1;

    p = ngx_http_foundry_hcl_attr(p, 6, "category", width, &c->category);
    p = ngx_http_foundry_hcl_attr(p, 6, "target", width, &c->url);
    p = ngx_http_foundry_hcl_attr(p, 6, "authType", width, &c->auth);
    p = ngx_http_foundry_cpy(p, "      isSharedToAll = false\n");

    p = ngx_http_foundry_terraform_credentials(p, c);

    p = ngx_http_foundry_terraform_metadata(p, c, infer, deploy);

    p = ngx_http_foundry_cpy(p, "      }\n"
                                "    }\n"
                                "  }\n"
                                "}\n");

    out->len = p - out->data;

    return NGX_OK;
}


/* the resource's name: letters, digits, "_" and "-", not a digit first */

static ngx_int_t
ngx_http_foundry_hcl_id(ngx_pool_t *pool, ngx_str_t *name, ngx_str_t *s)
{
    u_char      *p, *id, ch;
    ngx_uint_t   i;

    id = ngx_pnalloc(pool, name->len + 2);
    if (id == NULL) {
        return NGX_ERROR;
    }

    p = id;

    ch = name->len ? (name->data[0] | 0x20) : 0;

    if (!(ch >= 'a' && ch <= 'z')) {
        *p++ = '_';
    }

    for (i = 0; i < name->len; i++) {
        ch = name->data[i];

        *p++ = ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')
               || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'
               ? ch : '_';
    }

    s->data = id;
    s->len = p - id;

    return NGX_OK;
}


/* the variables of the credential */

static u_char *
ngx_http_foundry_terraform_variables(u_char *p,
    ngx_http_foundry_connection_t *c)
{
    switch (c->auth_type) {

    case NGX_HTTP_FOUNDRY_TYPE_OAUTH2:
        p = ngx_http_foundry_export_tf_oauth2(p, c);
        break;

    case NGX_HTTP_FOUNDRY_TYPE_PMI:
    case NGX_HTTP_FOUNDRY_TYPE_AAD:
        break;

    default: /* ApiKey */
        p = ngx_http_foundry_cpy(p, "\n"
                "variable \"gateway_api_key\" {\n"
                "  type        = string\n"
                "  sensitive   = true\n"
                "  description = \"A key of the gateway's keys file\"\n"
                "}\n");
        break;
    }

    return p;
}


/* the connection's credentials, from the variables */

static u_char *
ngx_http_foundry_terraform_credentials(u_char *p,
    ngx_http_foundry_connection_t *c)
{
    switch (c->auth_type) {

    case NGX_HTTP_FOUNDRY_TYPE_OAUTH2:
        p = ngx_http_foundry_cpy(p,
                "      tokenUrl      = var.oauth2_token_url\n"
                "      scopes        = var.oauth2_scopes\n"
                "      credentials = {\n"
                "        clientId     = var.oauth2_client_id\n"
                "        clientSecret = var.oauth2_client_secret\n"
                "      }\n");
        break;

    case NGX_HTTP_FOUNDRY_TYPE_PMI:
    case NGX_HTTP_FOUNDRY_TYPE_AAD:
        p = ngx_http_foundry_cpy(p,
                "      audience      = "
                "\"https://cognitiveservices.azure.com\"\n"
                "      credentials   = {}\n");
        break;

    default: /* ApiKey */
        p = ngx_http_foundry_cpy(p,
                "      credentials = {\n"
                "        key = var.gateway_api_key\n"
                "      }\n");
        break;
    }

    return p;
}


/* the metadata, aligned as "terraform fmt" does */

static u_char *
ngx_http_foundry_terraform_metadata(u_char *p,
    ngx_http_foundry_connection_t *c, ngx_str_t *infer, ngx_str_t *deploy)
{
    size_t                        width;
    ngx_http_foundry_loc_conf_t  *flcf;

    static ngx_str_t  yes = ngx_string("true");
    static ngx_str_t  no = ngx_string("false");

    flcf = c->conf;

    width = sizeof("deploymentAPIVersion") - 1;

    p = ngx_http_foundry_cpy(p, "      metadata = {\n");

    p = ngx_http_foundry_hcl_attr(p, 8, "deploymentInPath", width,
                                  flcf->deployment_in_path ? &yes : &no);
    p = ngx_http_foundry_hcl_attr(p, 8, "inferenceAPIVersion", width, infer);
    p = ngx_http_foundry_hcl_attr(p, 8, "deploymentAPIVersion", width,
                                  deploy);

    if (c->discovery.len) {
        p = ngx_http_foundry_hcl_attr(p, 8, "modelDiscovery", width,
                                      &c->discovery);

    } else {
        p = ngx_http_foundry_hcl_attr(p, 8, "models", width, &c->models);
    }

    if (c->auth_config.len) {
        p = ngx_http_foundry_hcl_attr(p, 8, "authConfig", width,
                                      &c->auth_config);
    }

    if (c->headers.len) {
        p = ngx_http_foundry_hcl_attr(p, 8, "customHeaders", width,
                                      &c->headers);
    }

    return p;
}


/*
 * The OAuth2 variables; for the client of "?client_id=", with defaults:
 * those of the gateway's token service (the secret has none)
 */

static u_char *
ngx_http_foundry_export_tf_oauth2(u_char *p, ngx_http_foundry_connection_t *c)
{
    ngx_uint_t                        i;
    ngx_http_foundry_oauth2_scope_t  *sc;

    p = ngx_http_foundry_tf_var(p, "oauth2_client_id",
                                c->oauth2 ? &c->client_id : NULL);
    p = ngx_http_foundry_cpy(p, "\n"
            "variable \"oauth2_client_secret\" {\n"
            "  type      = string\n"
            "  sensitive = true\n"
            "}\n");
    p = ngx_http_foundry_tf_var(p, "oauth2_token_url",
                                c->oauth2 ? &c->token_url : NULL);
    p = ngx_http_foundry_cpy(p, "\n"
            "variable \"oauth2_scopes\" {\n"
            "  type    = list(string)\n"
            "  default = [");

    sc = c->oauth2 ? c->scopes->elts : NULL;

    for (i = 0; sc && i < c->scopes->nelts; i++) {
        if (i) {
            p = ngx_http_foundry_cpy(p, ", ");
        }

        p = ngx_http_foundry_hcl_string(p, &sc[i].scope);
    }

    return ngx_http_foundry_cpy(p, "]\n}\n");
}


/* a string variable, with a default when "def" is given */

static u_char *
ngx_http_foundry_tf_var(u_char *p, const char *name, ngx_str_t *def)
{
    p = ngx_sprintf(p, "\nvariable \"%s\" {\n", name);

    if (def == NULL) {
        return ngx_http_foundry_cpy(p, "  type = string\n}\n");
    }

    p = ngx_http_foundry_cpy(p, "  type    = string\n  default = ");
    p = ngx_http_foundry_hcl_string(p, def);

    return ngx_http_foundry_cpy(p, "\n}\n");
}


/* "    name = "value"", the name padded to width */

static u_char *
ngx_http_foundry_hcl_attr(u_char *p, ngx_uint_t indent, const char *name,
    size_t width, ngx_str_t *s)
{
    size_t  n;

    n = ngx_strlen(name);

    p = ngx_cpymem(p, "                ", indent);
    p = ngx_cpymem(p, name, n);

    while (n++ < width) {
        *p++ = ' ';
    }

    p = ngx_cpymem(p, " = ", 3);
    p = ngx_http_foundry_hcl_string(p, s);
    *p++ = '\n';

    return p;
}


/*
 * An HCL quoted string: quotes, backslashes and control characters
 * escaped, and "${" and "%{" doubled so that Terraform does not read a
 * template sequence; at most 6 bytes for a byte.
 */

static u_char *
ngx_http_foundry_hcl_string(u_char *p, ngx_str_t *s)
{
    u_char  *v, *last;

    static u_char  hex[] = "0123456789abcdef";

    *p++ = '"';

    last = s->data + s->len;

    for (v = s->data; v < last; v++) {

        switch (*v) {

        case '"':
        case '\\':
            *p++ = '\\';
            *p++ = *v;
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        case '\r':
            *p++ = '\\';
            *p++ = 'r';
            break;

        case '\t':
            *p++ = '\\';
            *p++ = 't';
            break;

        case '$':
        case '%':
            *p++ = *v;

            if (v + 1 < last && v[1] == '{') {
                *p++ = *v;
            }

            break;

        default:
            if (*v < 0x20 || *v == 0x7f) {
                p = ngx_cpymem(p, "\\u00", 4);
                *p++ = hex[*v >> 4];
                *p++ = hex[*v & 0xf];
                break;
            }

            *p++ = *v;
        }
    }

    *p++ = '"';

    return p;
}
