# Inference routing: deployment from the body or the path, the four
# upstream kinds, upstream query and credentials, aliases, the connection
# name prefix, variables, upstream selection by variable, models files.
#
# Every block talks to the mock model upstream (t/mock/README.md) with
# "x-mock-echo: 1": the mock answers with what it received, and
# main::echo (t/lib/FoundryRouting.pm) prints that as
#
#     METHOD /path?query
#     header: value      (sorted; x-mock-echo left out)
#
#     body
#
# Unless a block has its own --- http_config, these upstreams exist:
#
#     upstream mock                      the mock, with keepalive
#     aoai    azure-openai      http://mock/aoai  api_version=2025-01-01-preview
#                                                 api_key=aoai-key
#     v1      azure-openai-v1   http://mock/res/  api_key=v1-key
#                                                 (the trailing "/" is dropped)
#     oai     openai            http://mock       bearer=sk-oai
#     compat  openai-compatible http://mock/compat/api  (no credential)
#
# and t/data/routing-proxy.conf is the admin's proxying.
#

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryRouting;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_DATA_DIR} = cwd() . '/t/data';
$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();

our $Upstreams = FoundryConf::mock_http(
    {port => $ENV{TEST_NGINX_MOCK_PORT}},
    'aoai', v1 => {url => 'http://mock/res/'}, 'oai', 'compat');

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $Upstreams);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', \&main::echo);
    }
});

repeat_each(2);

plan tests => repeat_each() * main::count_tests(blocks());

no_shuffle();
run_tests();

__DATA__

=== TEST 1: azure-openai, deployment in the body: upstream path, the upstream's api-version, body unchanged
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_inference_api_version 2024-10-21;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions?api-version=2024-10-21
{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}
--- more_headers
x-mock-echo: 1
Content-Type: application/json
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 62
content-type: application/json
host: mock

{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}
--- no_error_log
[error]



=== TEST 2: azure-openai, deployment in the path: the body is not read, even when it is not JSON
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_inference_api_version 2024-10-21;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
        add_header X-Stream "[$foundry_stream]" always;
    }
--- request
POST /gw/deployments/gpt-4o/chat/completions?api-version=2024-10-21
not json, {"model": 42}
--- more_headers
x-mock-echo: 1
--- response_headers
X-Stream: []
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 23
host: mock

not json, {"model": 42}
--- no_error_log
[error]



=== TEST 3: azure-openai-v1: /openai/v1, no api-version, "model" becomes the deployment name
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_inference_api_version 2024-10-21;
        foundry_model gpt-4o model=gpt-4o-2024-11-20 upstream=v1;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions?api-version=2024-10-21
{"messages":[{"role":"user","content":"Hi"}],"model":"GPT-4o","temperature":0.2}
--- more_headers
x-mock-echo: 1
--- response_body
POST /res/openai/v1/chat/completions
api-key: v1-key
content-length: 80
host: mock

{"messages":[{"role":"user","content":"Hi"}],"model":"gpt-4o","temperature":0.2}
--- no_error_log
[error]



=== TEST 4: openai: /v1, a bearer token, "model" becomes the model name
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model my-gpt model=gpt-4o-2024-11-20 upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"my-gpt","messages":[]}
--- more_headers
x-mock-echo: 1
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 43
host: mock

{"model":"gpt-4o-2024-11-20","messages":[]}
--- no_error_log
[error]



=== TEST 5: openai-compatible: the base path, a model name with a slash, no credential
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model llama model=meta-llama/Llama-3.3-70B-Instruct
                      upstream=compat;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"llama","messages":[]}
--- more_headers
x-mock-echo: 1
--- response_body
POST /compat/api/chat/completions
content-length: 59
host: mock

{"model":"meta-llama/Llama-3.3-70B-Instruct","messages":[]}
--- no_error_log
[error]



=== TEST 6: openai-compatible without a base path
--- http_config eval
$::Upstreams . "foundry_upstream root kind=openai-compatible url=http://mock;"
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model qwen model=qwen2.5 upstream=root;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/embeddings
{"model":"qwen","input":"x"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /embeddings
content-length: 31
host: mock

{"model":"qwen2.5","input":"x"}
--- no_error_log
[error]



=== TEST 7: azure-openai with upstream_model: the alias is the upstream deployment
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai upstream_model=gpt4o-eastus;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/gpt4o-eastus/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 32
host: mock

{"model":"gpt-4o","messages":[]}
--- no_error_log
[error]



=== TEST 8: azure-openai-v1 with upstream_model: the alias goes in the body
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=v1 upstream_model=gpt4o-canary;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-echo: 1
--- response_body
POST /res/openai/v1/chat/completions
api-key: v1-key
content-length: 38
host: mock

{"model":"gpt4o-canary","messages":[]}
--- no_error_log
[error]



=== TEST 9: "model" already the upstream name: the body is forwarded byte for byte
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{ "model" :	"gpt-4o" ,
  "messages" : [ ] }
--- more_headers
x-mock-echo: 1
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 43
host: mock

{ "model" :	"gpt-4o" ,
  "messages" : [ ] }
--- no_error_log
[error]



=== TEST 10: the "model" value is replaced in place, the bytes around it are kept
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"messages" : [],  "model"  :  "fast"  , "n":1}
--- more_headers
x-mock-echo: 1
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 50
host: mock

{"messages" : [],  "model":"gpt-4o-mini"  , "n":1}
--- no_error_log
[error]



=== TEST 11: deployment in the path, openai kind: "model" is inserted as the first member
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/gpt-4o/chat/completions
{"messages":[{"role":"user","content":"Hi"}]}
--- more_headers
x-mock-echo: 1
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 62
host: mock

{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}
--- no_error_log
[error]



=== TEST 12: deployment in the path, an empty object gets just "model" (its blank kept)
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=compat;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/gpt-4o/chat/completions
{ }
--- more_headers
x-mock-echo: 1
--- response_body
POST /compat/api/chat/completions
content-length: 19
host: mock

{"model":"gpt-4o" }
--- no_error_log
[error]



=== TEST 13: deployment in the path, a "model" in the body is overwritten with the upstream's
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=v1;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/gpt-4o/responses
{"input":"Hi","model":"something-else"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /res/openai/v1/responses
api-key: v1-key
content-length: 31
host: mock

{"input":"Hi","model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 14: deployment in the path is case-insensitive, the upstream gets the configured name
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/GPT-4O/embeddings
{"input":"x"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/gpt-4o/embeddings?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 13
host: mock

{"input":"x"}
--- no_error_log
[error]



=== TEST 15: connection-name prefix in the body's "model", azure-openai: body unchanged
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_connection_name my-gateway;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"My-Gateway/gpt-4o"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 29
host: mock

{"model":"My-Gateway/gpt-4o"}
--- no_error_log
[error]



=== TEST 16: connection-name prefix in the body's "model", openai: the prefix is gone upstream
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_connection_name my-gateway;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"my-gateway/gpt-4o","stream":false}
--- more_headers
x-mock-echo: 1
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 33
host: mock

{"model":"gpt-4o","stream":false}
--- no_error_log
[error]



=== TEST 17: connection-name prefix in the path
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_connection_name my-gateway;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/my-gateway/gpt-4o/chat/completions
{}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 2
host: mock

{}
--- no_error_log
[error]



=== TEST 18: a deployment named like the connection is still reachable without the prefix
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_connection_name my-gateway;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/gpt-4o/chat/completions
{}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 2
host: mock

{}
--- no_error_log
[error]



=== TEST 19: the client's query goes upstream without api-version and subscription-key
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_inference_api_version 2024-10-21;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions?foo=1&api-version=2024-10-21&subscription-key=s3cret&bar=&Subscription-Key=x&&baz
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?foo=1&bar=&baz&api-version=2025-01-01-preview
api-key: aoai-key
content-length: 18
host: mock

{"model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 20: the same query to an openai upstream: no api-version at all
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions?api-version=2024-10-21&subscription-key=s3cret&foo=1
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /v1/chat/completions?foo=1
authorization: Bearer sk-oai
content-length: 18
host: mock

{"model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 21: a query of only stripped parameters leaves no "?"
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=v1;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions?api-version=2024-10-21&subscription-key=s3cret
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /res/openai/v1/chat/completions
api-key: v1-key
content-length: 18
host: mock

{"model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 22: the client's credentials never reach the upstream, the upstream's api-key does
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_auth_config name=x-api-key;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
api-key: client-key
Authorization: Bearer client-jwt
Ocp-Apim-Subscription-Key: client-sub
X-Api-Key: client-x-key
X-Route-Policy: premium
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 18
host: mock
x-route-policy: premium

{"model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 23: the client's credentials are dropped for a bearer upstream, which gets its token
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_auth_config name=Authorization "format=Bearer {api_key}";
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
API-KEY: client-key
authorization: Bearer client-key
OCP-APIM-SUBSCRIPTION-KEY: client-sub
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 18
host: mock

{"model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 24: an upstream without credentials gets none, not even the client's
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=compat;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/gpt-4o/chat/completions
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
api-key: client-key
Authorization: Bearer client-jwt
Ocp-Apim-Subscription-Key: client-sub
--- response_body
POST /compat/api/chat/completions
content-length: 18
host: mock

{"model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 25: the client's credentials are dropped in path mode with azure-openai too (body not read)
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/gpt-4o/chat/completions?subscription-key=s3cret
{}
--- more_headers
x-mock-echo: 1
api-key: client-key
Authorization: Bearer client-jwt
Ocp-Apim-Subscription-Key: client-sub
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 2
host: mock

{}
--- no_error_log
[error]



=== TEST 26: upstream credentials and Host from variables and host=
--- http_config eval
$::Upstreams . q{
    map $http_x_tenant $tenant_key {
        default     key-default;
        contoso     key-contoso;
    }

    foundry_upstream ent kind=azure-openai-v1 url=http://mock/ent
                     host=contoso.openai.azure.com api_key=$tenant_key
                     bearer=entra-$http_x_tenant;
}
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=ent;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
X-Tenant: contoso
--- response_body
POST /ent/openai/v1/chat/completions
api-key: key-contoso
authorization: Bearer entra-contoso
content-length: 18
host: contoso.openai.azure.com
x-tenant: contoso

{"model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 27: the module's variables
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=v1 upstream_model=mini-eu;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;

        add_header X-Deployment $foundry_deployment always;
        add_header X-Model $foundry_model always;
        add_header X-Operation $foundry_operation always;
        add_header X-Upstream $foundry_upstream always;
        add_header X-Upstream-Uri $foundry_upstream_uri always;
        add_header X-Upstream-Host $foundry_upstream_host always;
        add_header X-Upstream-Model $foundry_upstream_model always;
        add_header X-Stream $foundry_stream always;
        add_header X-Request $foundry_request always;
        add_header X-Api-Key-Var $foundry_upstream_api_key always;
    }
--- request
POST /gw/chat/completions?x=1
{"model":"FAST","stream":true,"messages":[]}
--- more_headers
x-mock-echo: 1
--- response_headers
X-Deployment: fast
X-Model: gpt-4o-mini
X-Operation: chat/completions
X-Upstream: v1
X-Upstream-Uri: /res/openai/v1/chat/completions?x=1
X-Upstream-Host: mock
X-Upstream-Model: mini-eu
X-Stream: 1
X-Request: inference
X-Api-Key-Var: v1-key
--- response_body
POST /res/openai/v1/chat/completions?x=1
api-key: v1-key
content-length: 47
host: mock

{"model":"mini-eu","stream":true,"messages":[]}
--- no_error_log
[error]



=== TEST 28: $foundry_upstream_url and $foundry_stream "0"
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;

        add_header X-Url $foundry_upstream_url always;
        add_header X-Stream $foundry_stream always;
        add_header X-Authorization-Var "[$foundry_upstream_authorization]" always;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o","stream":"true","stream_options":{"stream":true}}
--- more_headers
x-mock-echo: 1
--- response_headers
X-Url: http://mock/aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
X-Stream: 0
X-Authorization-Var: []
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 67
host: mock

{"model":"gpt-4o","stream":"true","stream_options":{"stream":true}}
--- no_error_log
[error]



=== TEST 29: upstream chosen by a map on a custom header: premium goes to the PTU deployment
--- http_config eval
$::Upstreams . q{
    map $http_x_route_policy $gpt_upstream {
        premium     ptu;
        default     payg;
    }

    foundry_upstream ptu kind=azure-openai url=http://mock/ptu
                     api_version=2024-10-21 api_key=ptu-key;
    foundry_upstream payg kind=azure-openai-v1 url=http://mock/payg
                     api_key=payg-key;
}
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_custom_header X-Route-Policy premium required;
        foundry_model gpt-4o upstream=$gpt_upstream;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
        add_header X-Upstream $foundry_upstream always;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
X-Route-Policy: premium
--- response_headers
X-Upstream: ptu
--- response_body
POST /ptu/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21
api-key: ptu-key
content-length: 18
host: mock
x-route-policy: premium

{"model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 30: upstream chosen by a map on a custom header: anything else goes pay-as-you-go
--- http_config eval
$::Upstreams . q{
    map $http_x_route_policy $gpt_upstream {
        premium     ptu;
        default     payg;
    }

    foundry_upstream ptu kind=azure-openai url=http://mock/ptu
                     api_version=2024-10-21 api_key=ptu-key;
    foundry_upstream payg kind=azure-openai-v1 url=http://mock/payg
                     api_key=payg-key;
}
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_custom_header X-Route-Policy premium required;
        foundry_model gpt-4o upstream=$gpt_upstream upstream_model=gpt-4o-payg;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
        add_header X-Upstream $foundry_upstream always;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
X-Route-Policy: standard
--- response_headers
X-Upstream: payg
--- response_body
POST /payg/openai/v1/chat/completions
api-key: payg-key
content-length: 23
host: mock
x-route-policy: standard

{"model":"gpt-4o-payg"}
--- no_error_log
[error]



=== TEST 31: a variable upstream in path mode, azure-openai: the body is not read
--- http_config eval
$::Upstreams . q{
    map $http_x_route_policy $gpt_upstream {
        premium     aoai;
        default     oai;
    }
}
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=$gpt_upstream;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/gpt-4o/chat/completions
[not json]
--- more_headers
x-mock-echo: 1
X-Route-Policy: premium
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 10
host: mock
x-route-policy: premium

[not json]
--- no_error_log
[error]



=== TEST 32: models file with upstream=, an entry with its own upstream and alias
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_models_file $TEST_NGINX_DATA_DIR/routing-models.json
                            upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"llama","messages":[]}
--- more_headers
x-mock-echo: 1
--- response_body
POST /compat/api/chat/completions
content-length: 59
host: mock

{"model":"meta-llama/Llama-3.3-70B-Instruct","messages":[]}
--- no_error_log
[error]



=== TEST 33: models file with upstream=, an entry using the file's upstream
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_models_file $TEST_NGINX_DATA_DIR/routing-models.json
                            upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 32
host: mock

{"model":"gpt-4o","messages":[]}
--- no_error_log
[error]



=== TEST 34: deployments inherited from the server level, target in a regex location
--- config
    foundry_model gpt-4o upstream=oai;
    foundry_model embed model=text-embedding-3-small upstream=compat;

    location ~ ^/tenant-[a-z]+/gw/ {
        foundry_gateway on;
        foundry_target /tenant-a/gw;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /tenant-a/gw/embeddings
{"input":["a","b"],"model":"embed"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /compat/api/embeddings
content-length: 52
host: mock

{"input":["a","b"],"model":"text-embedding-3-small"}
--- no_error_log
[error]



=== TEST 35: several operations: completions, embeddings, responses
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/completions\n{\"model\":\"gpt-4o\",\"prompt\":\"a\"}",
 "POST /gw/embeddings\n{\"model\":\"gpt-4o\",\"input\":\"a\"}",
 "POST /gw/responses\n{\"model\":\"gpt-4o\",\"input\":\"a\"}"]
--- more_headers eval
["x-mock-echo: 1", "x-mock-echo: 1", "x-mock-echo: 1"]
--- response_body eval
["POST /aoai/openai/deployments/gpt-4o/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 31
host: mock

{\"model\":\"gpt-4o\",\"prompt\":\"a\"}
",
"POST /aoai/openai/deployments/gpt-4o/embeddings?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 30
host: mock

{\"model\":\"gpt-4o\",\"input\":\"a\"}
",
"POST /aoai/openai/deployments/gpt-4o/responses?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 30
host: mock

{\"model\":\"gpt-4o\",\"input\":\"a\"}
"]
--- no_error_log
[error]



=== TEST 36: the mock really answers (no echo): azure-openai checks api-version and deployment
--- http_config eval
$::Upstreams . q{
    foundry_upstream aoai-root kind=azure-openai url=http://mock
                     api_version=2024-10-21;
}
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai-root;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}
--- response_headers
Content-Type: application/json
x-mock-route: classic
--- response_body_like chomp
^\{"choices":\[\{"finish_reason":"stop","index":0,"message":\{"content":"Hello from the mock upstream.","role":"assistant"\}\}\],"created":1700000000,"id":"chatcmpl-mock-\d+","model":"gpt-4o","object":"chat.completion","usage":\{"completion_tokens":7,
--- no_error_log
[error]



=== TEST 37: the mock really answers (no echo): azure-openai-v1, openai, openai-compatible check the body's model
--- http_config eval
$::Upstreams . q{
    foundry_upstream v1-root kind=azure-openai-v1 url=http://mock;
    foundry_upstream oai-root kind=openai url=http://mock;
}
--- config
    location /a/ {
        foundry_gateway on;
        foundry_model gpt-4o model=gpt-4o-mini upstream=v1-root;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }

    location /b/ {
        foundry_gateway on;
        foundry_model gpt-4o model=gpt-4o-mini upstream=oai-root;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }

    location /c/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o model=gpt-4o-mini upstream=compat;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /a/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /b/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /c/deployments/gpt-4o/chat/completions\n{\"messages\":[]}"]
--- response_headers eval
["x-mock-route: v1", "x-mock-route: openai", "x-mock-route: compat"]
--- response_body_like eval
['"model":"gpt-4o","object":"chat.completion"',
 '"model":"gpt-4o-mini","object":"chat.completion"',
 '"model":"gpt-4o-mini","object":"chat.completion"']
--- no_error_log
[error]



=== TEST 38: the client's api-version is dropped whatever the case of its name
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_inference_api_version 2024-10-21;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions?API-Version=2024-10-21&x=1
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?x=1&api-version=2025-01-01-preview
api-key: aoai-key
content-length: 18
host: mock

{"model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 39: a credential header sent twice is dropped every time (nginx itself refuses two Authorization)
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=v1;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
api-key: client-key-1
Authorization: Bearer one
API-Key: client-key-2
Ocp-Apim-Subscription-Key: a
Ocp-Apim-Subscription-Key: b
--- response_body
POST /res/openai/v1/chat/completions
api-key: v1-key
content-length: 18
host: mock

{"model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 40: a deployment configured in upper case is found in lower case and keeps its case upstream
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model GPT-4o-EastUS upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
        add_header X-Deployment $foundry_deployment always;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o-eastus"}
--- more_headers
x-mock-echo: 1
--- response_headers
X-Deployment: GPT-4o-EastUS
--- response_body
POST /aoai/openai/deployments/GPT-4o-EastUS/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 25
host: mock

{"model":"gpt-4o-eastus"}
--- no_error_log
[error]



=== TEST 41: $foundry_request on discovery calls: list and get
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o version=1 upstream=aoai;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
        add_header X-Request $foundry_request always;
    }
--- pipelined_requests eval
["GET /gw/deployments", "GET /gw/deployments/gpt-4o"]
--- response_headers eval
["X-Request: list", "X-Request: get"]
--- response_body eval
['{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"1"}}}]}',
 '{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"1"}}}']
--- no_error_log
[error]
