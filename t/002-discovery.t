# Static discovery: both formats, list and get, 404/405/400, inheritance.

use Test::Nginx::Socket;

repeat_each(2);

plan tests => repeat_each() * (3 * blocks() + 3);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: OpenAI-format list
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o version=2024-11-20 created=1700000000;
        foundry_model gpt-4o-mini version=2024-07-18 created=1700000001
                      owned_by=openai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
    }
--- request
GET /v1/models
--- response_headers
Content-Type: application/json
--- response_body chomp
{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1700000000,"owned_by":"system"},{"id":"gpt-4o-mini","object":"model","created":1700000001,"owned_by":"openai"}]}



=== TEST 2: OpenAI-format get
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o version=2024-11-20 created=1700000000;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
    }
--- request
GET /v1/models/gpt-4o
--- response_headers
Content-Length: 73
--- response_body chomp
{"id":"gpt-4o","object":"model","created":1700000000,"owned_by":"system"}



=== TEST 3: AzureOpenAI-format list
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o model=gpt-4o version=2024-11-20;
        foundry_model claude format=Anthropic model=claude-sonnet-4-5;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}"
                                provider=AzureOpenAI;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"claude","properties":{"model":{"format":"Anthropic","name":"claude-sonnet-4-5","version":""}}}]}



=== TEST 4: AzureOpenAI-format get, the deployment name is case-insensitive
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o model=gpt-4o version=2024-11-20;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /gw/deployments/GPT-4o
--- response_headers
Content-Type: application/json
--- response_body chomp
{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}}



=== TEST 5: unknown deployment is a 404 DeploymentNotFound
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /gw/deployments/gpt-5
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"DeploymentNotFound","message":"the deployment \"gpt-5\" does not exist on this gateway","type":"not_found_error"}}



=== TEST 6: a deployment name that cannot exist is not echoed back
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /gw/deployments/%22%3Cscript%3E
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"DeploymentNotFound","message":"the deployment name is not valid","type":"not_found_error"}}



=== TEST 7: POST on a discovery endpoint is a 405 with Allow
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
POST /gw/deployments
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body chomp
{"error":{"code":"MethodNotAllowed","message":"method POST is not allowed on a discovery endpoint, use GET","type":"invalid_request_error"}}



=== TEST 8: HEAD gets the headers only
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o version=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
HEAD /gw/deployments/gpt-4o
--- response_headers
Content-Length: 90
--- response_body
--- error_code: 200



=== TEST 9: deployment api-version missing
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_deployment_api_version 2024-10-21 2024-06-01;
        foundry_model gpt-4o;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /gw/deployments
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"MissingApiVersion","message":"the api-version query parameter is required, supported versions: 2024-10-21, 2024-06-01","type":"invalid_request_error"}}



=== TEST 10: deployment api-version not supported
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_deployment_api_version 2024-10-21;
        foundry_model gpt-4o;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /gw/deployments/gpt-4o?api-version=2023-05-15
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"UnsupportedApiVersion","message":"api-version \"2023-05-15\" is not supported, supported versions: 2024-10-21","type":"invalid_request_error"}}



=== TEST 11: deployment api-version accepted, among other arguments
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_deployment_api_version 2024-10-21 2024-06-01;
        foundry_model gpt-4o version=v;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /gw/deployments?x=1&api-version=2024-06-01
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"v"}}}]}



=== TEST 12: an api-version that is not a token is not echoed back
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_deployment_api_version 2024-10-21;
        foundry_model gpt-4o;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /gw/deployments?api-version=%22%3E
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"UnsupportedApiVersion","message":"the api-version is not valid, supported versions: 2024-10-21","type":"invalid_request_error"}}



=== TEST 13: ApiManagement implies /deployments discovery in Azure format
--- config
    location /apim/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_category ApiManagement;
        foundry_model gpt-4o version=2024-11-20;
    }
--- request
GET /apim/deployments/gpt-4o
--- response_headers
Content-Type: application/json
--- response_body chomp
{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}}



=== TEST 14: both formats on one target
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o version=1 created=5;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- pipelined_requests eval
["GET /v1/models/gpt-4o", "GET /v1/deployments/gpt-4o"]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- response_body eval
["{\"id\":\"gpt-4o\",\"object\":\"model\",\"created\":5,\"owned_by\":\"system\"}",
"{\"name\":\"gpt-4o\",\"properties\":{\"model\":{\"format\":\"OpenAI\",\"name\":\"gpt-4o\",\"version\":\"1\"}}}"]



=== TEST 15: a get path with a suffix after the name
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o version=1 created=5;
        foundry_model_discovery list=/models
                                "get=/models/{deploymentName}/info"
                                provider=OpenAI;
    }
--- request
GET /v1/models/gpt-4o/info
--- response_headers
Content-Type: application/json
--- response_body chomp
{"id":"gpt-4o","object":"model","created":5,"owned_by":"system"}



=== TEST 16: no deployments, empty list
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
    }
--- request
GET /v1/models
--- response_headers
Content-Type: application/json
--- response_body chomp
{"object":"list","data":[]}



=== TEST 17: settings are inherited from server to location
--- config
    foundry_model gpt-4o version=1;
    foundry_model_discovery list=/deployments
                            "get=/deployments/{deploymentName}";
    foundry_deployment_api_version 2024-10-21;

    location /a/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /a/deployments?api-version=2024-10-21
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"1"}}}]}



=== TEST 18: a location's own models replace the inherited ones
--- config
    foundry_model gpt-4o version=1;
    foundry_model_discovery list=/deployments
                            "get=/deployments/{deploymentName}";

    location /b/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model o3-mini version=2;
    }
--- request
GET /b/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"o3-mini","properties":{"model":{"format":"OpenAI","name":"o3-mini","version":"2"}}}]}



=== TEST 19: discovery off in a location
--- config
    foundry_model gpt-4o version=1;
    foundry_model_discovery list=/deployments
                            "get=/deployments/{deploymentName}";

    location /c/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery off;
        return 200 "not discovery\n";
    }
--- request
GET /c/deployments
--- response_headers
Content-Type: text/plain
--- response_body
not discovery



=== TEST 20: a location with the gateway off is left alone
--- config
    foundry_model gpt-4o version=1;
    foundry_model_discovery list=/deployments
                            "get=/deployments/{deploymentName}";

    location /g/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;

        location /g/d/ {
            foundry_gateway off;
            return 200 "plain\n";
        }
    }
--- request
GET /g/d/deployments
--- response_headers
Content-Type: text/plain
--- response_body
plain



=== TEST 21: foundry_target in a regex location
--- config
    location ~ ^/tenant-[a-z]+/gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_target /tenant-a/gw;
        foundry_model gpt-4o version=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /tenant-a/gw/deployments/gpt-4o
--- response_headers
Content-Type: application/json
--- response_body chomp
{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"1"}}}



=== TEST 22: a path outside the target is a 404
--- config
    location ~ ^/tenant-[a-z]+/gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_target /tenant-a/gw;
        foundry_model gpt-4o version=1;
    }
--- request
GET /tenant-b/gw/deployments/gpt-4o
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"NotFound","message":"the path is outside the gateway target \"/tenant-a/gw\"","type":"not_found_error"}}
