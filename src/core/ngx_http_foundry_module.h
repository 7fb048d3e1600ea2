
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_MODULE_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_MODULE_H_INCLUDED_


/*
 * Everything the module offers, for the module's registration
 * (ngx_http_foundry_module.c) and the fuzzers: the common types and every
 * part's header.  A file of a part includes ngx_http_foundry_common.h and
 * the headers of the parts it uses, no more (src/README.md).
 */


#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_identity.h"
#include "ngx_http_foundry_oauth2.h"
#include "ngx_http_foundry_discovery.h"
#include "ngx_http_foundry_content.h"
#include "ngx_http_foundry_routing.h"
#include "ngx_http_foundry_fleet.h"


/* ngx_http_foundry_variables.c */

ngx_int_t ngx_http_foundry_add_variables(ngx_conf_t *cf);


/* ngx_http_foundry_health.c */

char *ngx_http_foundry_health(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_http_foundry_init_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_FOUNDRY_MODULE_H_INCLUDED_ */
