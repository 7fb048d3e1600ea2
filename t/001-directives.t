# Configuration: every directive's good and bad values.

use Cwd qw(cwd);
use Test::Nginx::Socket;

$ENV{TEST_NGINX_DATA_DIR} = cwd() . '/t/data';

repeat_each(1);

plan tests => repeat_each() * (2 * blocks());

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the module loads and a gateway location passes nginx -t
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_category ModelGateway;
        foundry_deployment_in_path off;
        foundry_connection_name my-gateway;
        foundry_inference_api_version 2024-10-21 2025-04-01-preview;
        foundry_deployment_api_version 2024-10-01;
        foundry_model gpt-4o model=gpt-4o version=2024-11-20 format=OpenAI
                      owned_by=openai created=1700000000;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_auth_config name=Authorization "format=Bearer {api_key}";
        foundry_custom_header X-Route-Policy premium required;
    }
--- request
GET /v1/models?api-version=2024-10-01
--- more_headers
X-Route-Policy: premium
--- response_body_like: "id":"gpt-4o"



=== TEST 2: foundry_gateway takes on or off
--- config
    location /v1/ {
        foundry_gateway yes;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid value "yes" in "foundry_gateway" directive, it must be "on" or "off"



=== TEST 3: unknown category
--- config
    location /v1/ {
        foundry_category Gateway;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid value "Gateway" in "foundry_category" directive, it must be "ModelGateway" or "ApiManagement" (case matters)



=== TEST 4: bad target path
--- config
    location /v1/ {
        foundry_target v1;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid target path "v1" in "foundry_target" directive



=== TEST 5: target path with a dot segment
--- config
    location /v1/ {
        foundry_target /a/../b;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid target path "/a/../b" in "foundry_target" directive



=== TEST 6: duplicate target
--- config
    location /v1/ {
        foundry_target /a;
        foundry_target /b;
    }
--- request
GET /v1/models
--- must_die
--- error_log
"foundry_target" directive is duplicate



=== TEST 7: gateway in a regex location needs a target
--- config
    location ~ ^/v[0-9]+/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /v1/models
--- must_die
--- error_log
"foundry_gateway" in the regex or named location "^/v[0-9]+/" needs "foundry_target"



=== TEST 8: bad api-version
--- config
    location /v1/ {
        foundry_inference_api_version "2024 10 21";
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid api-version "2024 10 21" in "foundry_inference_api_version" directive



=== TEST 9: duplicate api-version in one directive
--- config
    location /v1/ {
        foundry_deployment_api_version 2024-10-21 2024-10-21;
    }
--- request
GET /v1/models
--- must_die
--- error_log
duplicate api-version "2024-10-21" in "foundry_deployment_api_version" directive



=== TEST 10: api-version directive twice
--- config
    location /v1/ {
        foundry_inference_api_version 2024-10-21;
        foundry_inference_api_version 2024-06-01;
    }
--- request
GET /v1/models
--- must_die
--- error_log
"foundry_inference_api_version" directive is duplicate



=== TEST 11: bad deployment name
--- config
    location /v1/ {
        foundry_model gpt/4o;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid deployment name "gpt/4o", only letters, digits, "-", "_", "." and ":" are allowed



=== TEST 12: duplicate deployment
--- config
    location /v1/ {
        foundry_model gpt-4o;
        foundry_model gpt-4o;
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr/duplicate deployment "gpt-4o", first defined in \S+nginx.conf:\d+/



=== TEST 13: deployments that differ only in case
--- config
    location /v1/ {
        foundry_model gpt-4o;
        foundry_model GPT-4o;
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr/deployment "GPT-4o" defined in \S+:\d+ differs only in case from "gpt-4o"/



=== TEST 14: unknown foundry_model parameter
--- config
    location /v1/ {
        foundry_model gpt-4o colour=blue;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid parameter "colour=blue" in "foundry_model" directive



=== TEST 15: bad format
--- config
    location /v1/ {
        foundry_model gpt-4o "format=Open AI";
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid value "format=Open AI" in "foundry_model" directive



=== TEST 16: bad created time
--- config
    location /v1/ {
        foundry_model gpt-4o created=yesterday;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid value "created=yesterday" in "foundry_model" directive



=== TEST 17: discovery without get
--- config
    location /v1/ {
        foundry_model_discovery list=/models;
    }
--- request
GET /v1/models
--- must_die
--- error_log
"foundry_model_discovery" directive needs both "list=" and "get="



=== TEST 18: discovery get path without the name token
--- config
    location /v1/ {
        foundry_model_discovery list=/models get=/models/name;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid get path "/models/name", it must hold "{deploymentName}" once, as a whole path segment



=== TEST 19: discovery get path with the token inside a segment
--- config
    location /v1/ {
        foundry_model_discovery list=/models "get=/models/x{deploymentName}";
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid get path "/models/x{deploymentName}", it must hold "{deploymentName}" once, as a whole path segment



=== TEST 20: unknown discovery provider
--- config
    location /v1/ {
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=Anthropic;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid parameter "provider=Anthropic" in "foundry_model_discovery" directive



=== TEST 21: discovery list path with a query
--- config
    location /v1/ {
        foundry_model_discovery list=/models?x=1 "get=/models/{deploymentName}";
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid list path "/models?x=1"



=== TEST 22: discovery off then on in one level
--- config
    location /v1/ {
        foundry_model_discovery off;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models
--- must_die
--- error_log
"foundry_model_discovery" directive is duplicate



=== TEST 23: auth config without the key placeholder
--- config
    location /v1/ {
        foundry_auth_config name=Authorization "format=Bearer key";
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid format "Bearer key" in "foundry_auth_config" directive, it must hold "{api_key}" once



=== TEST 24: auth config with a bad header name
--- config
    location /v1/ {
        foundry_auth_config "name=X Key";
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid header name "X Key" in "foundry_auth_config" directive



=== TEST 25: auth config with an unknown parameter
--- config
    location /v1/ {
        foundry_auth_config name=x-api-key type=api_key;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid parameter "type=api_key" in "foundry_auth_config" directive



=== TEST 26: custom header with a bad name
--- config
    location /v1/ {
        foundry_custom_header "X:Route" premium;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid header name "X:Route" in "foundry_custom_header" directive



=== TEST 27: custom header declared twice
--- config
    location /v1/ {
        foundry_custom_header X-Route premium;
        foundry_custom_header x-route basic;
    }
--- request
GET /v1/models
--- must_die
--- error_log
duplicate header "x-route" in "foundry_custom_header" directive



=== TEST 28: custom header with a bad flag
--- config
    location /v1/ {
        foundry_custom_header X-Route premium optional;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid parameter "optional" in "foundry_custom_header" directive, expected "required"



=== TEST 29: models file that does not exist
--- config
    location /v1/ {
        foundry_models_file /nonexistent/models.json;
    }
--- request
GET /v1/models
--- must_die
--- error_log
open() "/nonexistent/models.json" failed



=== TEST 30: foundry_upstream of every kind
--- http_config
    foundry_upstream a kind=azure-openai url=https://a.example.com
                     host=a.openai.azure.com api_version=2024-10-21
                     api_key=secret;
    foundry_upstream b kind=azure-openai-v1 url=http://127.0.0.1:9/base/
                     api_key=$http_x_unused;
    foundry_upstream c kind=openai url=https://api.openai.com bearer=sk;
    foundry_upstream d kind=openai-compatible url=http://vllm:8000/v1;
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model m1 upstream=a;
        foundry_model m2 upstream=b;
        foundry_model m3 upstream=c;
        foundry_model m4 upstream=d upstream_model=meta-llama/Llama-3;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models
--- response_body_like: "name":"m4"



=== TEST 31: foundry_upstream with an unknown kind
--- http_config
    foundry_upstream a kind=bedrock url=https://a.example.com;
--- config
--- request
GET /
--- must_die
--- error_log
invalid kind "bedrock" in "foundry_upstream" directive, it must be "azure-openai", "azure-openai-v1", "openai" or "openai-compatible"



=== TEST 32: foundry_upstream without kind
--- http_config
    foundry_upstream a url=https://a.example.com;
--- config
--- request
GET /
--- must_die
--- error_log
"foundry_upstream" directive needs "kind="



=== TEST 33: foundry_upstream without url
--- http_config
    foundry_upstream a kind=openai;
--- config
--- request
GET /
--- must_die
--- error_log
"foundry_upstream" directive needs "url="



=== TEST 34: foundry_upstream with a bad url
--- http_config
    foundry_upstream a kind=openai url=ftp://a.example.com;
--- config
--- request
GET /
--- must_die
--- error_log
invalid url "ftp://a.example.com" in "foundry_upstream" directive, expected http[s]://host[:port][/path] without query



=== TEST 35: foundry_upstream with a query in the url
--- http_config
    foundry_upstream a kind=openai url=https://a.example.com/v1?x=1;
--- config
--- request
GET /
--- must_die
--- error_log
invalid url "https://a.example.com/v1?x=1" in "foundry_upstream" directive



=== TEST 36: azure-openai needs an api_version
--- http_config
    foundry_upstream a kind=azure-openai url=https://a.example.com;
--- config
--- request
GET /
--- must_die
--- error_log
"foundry_upstream" directive of kind "azure-openai" needs "api_version="



=== TEST 37: api_version only for azure-openai
--- http_config
    foundry_upstream a kind=openai url=https://a.example.com
                     api_version=2024-10-21;
--- config
--- request
GET /
--- must_die
--- error_log
"api_version=" is only for upstreams of kind "azure-openai" in "foundry_upstream" directive



=== TEST 38: duplicate foundry_upstream
--- http_config
    foundry_upstream a kind=openai url=https://a.example.com;
    foundry_upstream a kind=openai url=https://b.example.com;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/duplicate foundry upstream "a", first defined in \S+:\d+/



=== TEST 39: foundry_upstream with an unknown parameter
--- http_config
    foundry_upstream a kind=openai url=https://a.example.com retries=3;
--- config
--- request
GET /
--- must_die
--- error_log
invalid parameter "retries=3" in "foundry_upstream" directive



=== TEST 40: foundry_upstream is not allowed in a server
--- config
    foundry_upstream a kind=openai url=https://a.example.com;
--- request
GET /
--- must_die
--- error_log
"foundry_upstream" directive is not allowed here



=== TEST 41: a deployment naming an unknown upstream
--- config
    location /v1/ {
        foundry_model gpt-4o upstream=nowhere;
    }
--- request
GET /
--- must_die
--- error_log eval
qr/unknown foundry_upstream "nowhere" for deployment "gpt-4o" defined in \S+:\d+/



=== TEST 42: an Azure upstream deployment name that cannot be a path segment
--- http_config
    foundry_upstream a kind=azure-openai url=https://a.example.com
                     api_version=2024-10-21;
--- config
    location /v1/ {
        foundry_model gpt-4o upstream=a upstream_model=a/b;
    }
--- request
GET /
--- must_die
--- error_log eval
qr/invalid Azure OpenAI deployment name "a\/b" for deployment "gpt-4o" defined in \S+:\d+/



=== TEST 43: models file with a default upstream that does not exist
--- config
    location /v1/ {
        foundry_models_file $TEST_NGINX_DATA_DIR/models-arm.json
                            upstream=nowhere;
    }
--- request
GET /
--- must_die
--- error_log eval
qr/unknown foundry_upstream "nowhere" for deployment "o3-mini"/



=== TEST 44: models file with a bad parameter
--- config
    location /v1/ {
        foundry_models_file $TEST_NGINX_DATA_DIR/models-arm.json via=x;
    }
--- request
GET /
--- must_die
--- error_log
invalid parameter "via=x" in "foundry_models_file" directive, expected "upstream="



=== TEST 45: foundry_gateway on without proxy_pass fails nginx -t, naming the location and the directive's place
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o;
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr{"foundry_gateway on" in location "/v1/" needs "include foundry_proxy_params;" \(or a proxy_pass of its own\) in the location, in \S+/nginx\.conf:\d+}



=== TEST 46: foundry_gateway on inherited from the server level by a location without proxy_pass
--- config
    foundry_gateway on;
    foundry_model gpt-4o;

    location /v1/ {
        proxy_pass $foundry_upstream_url;
    }

    location /static/ {
        return 200;
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr{"foundry_gateway on" in location "/static/" needs "include foundry_proxy_params;" \(or a proxy_pass of its own\) in the location, in \S+/nginx\.conf:\d+}



=== TEST 47: an upstream api_version that is not a real month fails nginx -t
--- http_config
    foundry_upstream aoai kind=azure-openai url=http://127.0.0.1:1
                     api_version=2024-13-45;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr{invalid "api_version=2024-13-45" in "foundry_upstream" directive, the api-version must be a date "YYYY-MM-DD" or "YYYY-MM-DD-preview" in \S+/nginx\.conf:\d+}



=== TEST 48: an upstream api_version "latest" fails nginx -t
--- http_config
    foundry_upstream aoai kind=azure-openai url=http://127.0.0.1:1
                     api_version=latest;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr{invalid "api_version=latest" in "foundry_upstream" directive, the api-version must be a date}



=== TEST 49: an upstream api_version of a day that does not exist (2023-02-29) fails nginx -t
--- http_config
    foundry_upstream aoai kind=azure-openai url=http://127.0.0.1:1
                     api_version=2023-02-29-preview;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr{invalid "api_version=2023-02-29-preview" in "foundry_upstream" directive}



=== TEST 50: a leap day and a preview version are accepted
--- http_config
    foundry_upstream aoai kind=azure-openai url=http://127.0.0.1:1
                     api_version=2024-02-29-preview;
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_inference_api_version 2024-02-29 2025-04-01-preview;
        foundry_model gpt-4o upstream=aoai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
    }
--- request
GET /v1/models
--- response_body_like: "id":"gpt-4o"



=== TEST 51: foundry_inference_api_version with a month that does not exist fails nginx -t
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_inference_api_version 2024-10-21 2024-13-45;
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr{invalid api-version "2024-13-45" in "foundry_inference_api_version" directive, it must be a date "YYYY-MM-DD" or "YYYY-MM-DD-preview" in \S+/nginx\.conf:\d+}



=== TEST 52: foundry_deployment_api_version "latest" fails nginx -t
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_deployment_api_version latest;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid api-version "latest" in "foundry_deployment_api_version" directive
