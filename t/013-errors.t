# Errors on inference calls: every error the gateway answers itself, as
# JSON {"error":{"code","message","type"}}; nginx's own errors (413, 502,
# 504) turned into JSON by the module's filter; upstream errors passed
# through unchanged; and foundry_upstream configuration errors.
#
# Default upstreams (see t/010-routing.t):
#
#     aoai    azure-openai      http://mock/aoai  api_version=2025-01-01-preview
#     oai     openai            http://mock       bearer=sk-oai
#     root    azure-openai      http://mock       api_version=2024-10-21
#     dead    openai            http://127.0.0.1:1  (nothing listens there)
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
    {port => $ENV{TEST_NGINX_MOCK_PORT}}, 'aoai', 'oai') . <<"_EOC_";
    foundry_upstream root kind=azure-openai url=http://mock
                     api_version=2024-10-21;
    foundry_upstream dead kind=openai url=http://127.0.0.1:1;
_EOC_

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

=== TEST 1: unknown deployment in the body: 404 DeploymentNotFound
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-5","messages":[]}
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"DeploymentNotFound","message":"the deployment \"gpt-5\" does not exist on this gateway (it reads the deployment in the body's \"model\")","type":"not_found_error"}}
--- no_error_log
[error]



=== TEST 2: unknown deployment in the path: 404 DeploymentNotFound
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/gpt-5/chat/completions
{"messages":[]}
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"DeploymentNotFound","message":"the deployment \"gpt-5\" does not exist on this gateway (it reads the deployment in the path)","type":"not_found_error"}}
--- no_error_log
[error]



=== TEST 3: a deployment name that cannot exist is not echoed back
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"<script>alert(1)</script>"}
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"DeploymentNotFound","message":"the deployment name in the body's \"model\" is not valid","type":"not_found_error"}}
--- no_error_log
[error]



=== TEST 4: a connection prefix that is not this connection's, an empty name, no connection name set
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_connection_name my-gateway;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }

    location /nc/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"other-gateway/gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"\"}",
 "POST /nc/chat/completions\n{\"model\":\"my-gateway/gpt-4o\"}"]
--- error_code eval
[404, 404, 404]
--- response_body eval
['{"error":{"code":"DeploymentNotFound","message":"the deployment name in the body\'s \"model\" is not valid","type":"not_found_error"}}',
 '{"error":{"code":"DeploymentNotFound","message":"the deployment name in the body\'s \"model\" is not valid","type":"not_found_error"}}',
 '{"error":{"code":"DeploymentNotFound","message":"the deployment name in the body\'s \"model\" is not valid","type":"not_found_error"}}']
--- no_error_log
[error]



=== TEST 5: a body that is not JSON: 400 InvalidRequestBody
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
model=gpt-4o&messages=hi
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"InvalidRequestBody","message":"the request body is not valid JSON","type":"invalid_request_error"}}
--- no_error_log
[error]



=== TEST 6: not JSON: truncated, trailing garbage, a second value, bad UTF-8, blanks only
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"gpt-4o\",",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"} x",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}{}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\",\"x\":\"\xff\xfe\"}",
 "POST /gw/chat/completions\n{'model':'gpt-4o'}"]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
[('{"error":{"code":"InvalidRequestBody","message":"the request body is not valid JSON","type":"invalid_request_error"}}') x 5]
--- no_error_log
[error]



=== TEST 7: a body that is not an object: 400 InvalidRequestBody
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n[{\"model\":\"gpt-4o\"}]",
 "POST /gw/chat/completions\n\"gpt-4o\"",
 "POST /gw/chat/completions\n42",
 "POST /gw/chat/completions\nnull"]
--- error_code eval
[400, 400, 400, 400]
--- response_body eval
[('{"error":{"code":"InvalidRequestBody","message":"the request body must be a JSON object","type":"invalid_request_error"}}') x 4]
--- no_error_log
[error]



=== TEST 8: a top-level "model" that is not a string: 400 InvalidRequestBody
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":42}",
 "POST /gw/chat/completions\n{\"model\":null}",
 "POST /gw/chat/completions\n{\"model\":true}",
 "POST /gw/chat/completions\n{\"model\":[\"gpt-4o\"]}",
 "POST /gw/chat/completions\n{\"model\":{\"name\":\"gpt-4o\"}}"]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
[('{"error":{"code":"InvalidRequestBody","message":"\"model\" in the request body must be a string","type":"invalid_request_error"}}') x 5]
--- no_error_log
[error]



=== TEST 9: the same check in path mode, for an upstream that gets "model" rewritten
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/gpt-4o/chat/completions
{"model":1e3}
--- error_code: 400
--- response_body chomp
{"error":{"code":"InvalidRequestBody","message":"\"model\" in the request body must be a string","type":"invalid_request_error"}}
--- no_error_log
[error]



=== TEST 10: "model" twice at the top level, also when one is escaped: 400 InvalidRequestBody
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[],\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"evil\",\"mod\\u0065l\":\"gpt-4o\"}"]
--- error_code eval
[400, 400]
--- response_body eval
[('{"error":{"code":"InvalidRequestBody","message":"the request body has more than one \"model\"","type":"invalid_request_error"}}') x 2]
--- no_error_log
[error]



=== TEST 11: nesting deeper than 512: 400 InvalidRequestBody
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n"
. '{"model":"gpt-4o","x":' . ('[' x 511) . '{}' . (']' x 511) . '}'
--- error_code: 400
--- response_body chomp
{"error":{"code":"InvalidRequestBody","message":"the request body is nested too deeply","type":"invalid_request_error"}}
--- no_error_log
[error]



=== TEST 12: a "model" longer than 1024 bytes: 400; up to 1024 it is just not a deployment
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"" . ('m' x 1025) . "\"}",
 "POST /gw/chat/completions\n{\"model\":\"" . ('m' x 1024) . "\"}"]
--- error_code eval
[400, 404]
--- response_body eval
['{"error":{"code":"InvalidRequestBody","message":"\"model\" in the request body is too long","type":"invalid_request_error"}}',
 '{"error":{"code":"DeploymentNotFound","message":"the deployment name in the body\'s \"model\" is not valid","type":"not_found_error"}}']
--- no_error_log
[error]



=== TEST 13: an empty body: 400 InvalidRequestBody
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n",
 "POST /gw/chat/completions\n"]
--- more_headers eval
["Content-Length: 0", ""]
--- error_code eval
[400, 400]
--- response_body eval
[('{"error":{"code":"InvalidRequestBody","message":"the request body is empty, a JSON object is expected","type":"invalid_request_error"}}') x 2]
--- no_error_log
[error]



=== TEST 14: no "model" when the gateway reads the deployment from the body: 400 MissingModel
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"model\":\"gpt-4o\"}]}",
 "POST /gw/chat/completions\n{}"]
--- error_code eval
[400, 400]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- response_body eval
[('{"error":{"code":"MissingModel","message":"the request body has no \"model\": this gateway reads the deployment from it","type":"invalid_request_error"}}') x 2]
--- no_error_log
[error]



=== TEST 15: GET on an inference path: 405 with Allow: POST
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
GET /gw/chat/completions
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json
--- response_body chomp
{"error":{"code":"MethodNotAllowed","message":"method GET is not allowed, inference calls use POST","type":"invalid_request_error"}}
--- no_error_log
[error]



=== TEST 16: PUT with a body is a 405, and the connection goes on with the next request
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["PUT /gw/deployments/gpt-4o/chat/completions\n{\"messages\":[]}",
 "POST /gw/deployments/gpt-4o/chat/completions\n{\"messages\":[]}"]
--- more_headers eval
["x-mock-echo: 1", "x-mock-echo: 1"]
--- error_code eval
[405, 200]
--- response_headers eval
["Allow: POST", "x-mock-route: echo"]
--- response_body eval
['{"error":{"code":"MethodNotAllowed","message":"method PUT is not allowed, inference calls use POST","type":"invalid_request_error"}}',
"POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 15
host: mock

{\"messages\":[]}
"]
--- no_error_log
[error]



=== TEST 17: HEAD on an inference path: 405, headers only
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
HEAD /gw/deployments/gpt-4o/chat/completions
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json
Content-Length: 133
--- response_body
--- no_error_log
[error]



=== TEST 18: inference api-version missing: 400 MissingApiVersion
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_inference_api_version 2024-10-21 2025-04-01-preview;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions?subscription-key=x
{"model":"gpt-4o"}
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"MissingApiVersion","message":"the api-version query parameter is required, supported versions: 2024-10-21, 2025-04-01-preview","type":"invalid_request_error"}}
--- no_error_log
[error]



=== TEST 19: inference api-version not supported, and not a token: 400 UnsupportedApiVersion
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_inference_api_version 2024-10-21;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/deployments/gpt-4o/chat/completions?api-version=2023-05-15\n{}",
 "POST /gw/deployments/gpt-4o/chat/completions?api-version=%22%3E\n{}"]
--- error_code eval
[400, 400]
--- response_body eval
['{"error":{"code":"UnsupportedApiVersion","message":"api-version \"2023-05-15\" is not supported, supported versions: 2024-10-21","type":"invalid_request_error"}}',
 '{"error":{"code":"UnsupportedApiVersion","message":"the api-version is not valid, supported versions: 2024-10-21","type":"invalid_request_error"}}']
--- no_error_log
[error]



=== TEST 20: a required custom header missing: 400 MissingHeader
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_custom_header X-Route-Policy premium required;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
X-Other: premium
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"MissingHeader","message":"the request lacks the header \"X-Route-Policy\" that the connection sends","type":"invalid_request_error"}}
--- no_error_log
[error]



=== TEST 21: a custom header that is not required may be missing
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_custom_header X-Route-Policy premium;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 18
host: mock

{"model":"gpt-4o"}
--- no_error_log
[error]



=== TEST 22: path mode, a path without /deployments/: 404 NotFound
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"NotFound","message":"expected POST /gw/deployments/{deployment}/{operation}: this gateway takes the deployment from the path","type":"not_found_error"}}
--- no_error_log
[error]



=== TEST 23: path mode, no operation after the deployment (with and without the connection name): 404 NotFound
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_connection_name my-gateway;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/deployments/gpt-4o\n{}",
 "POST /gw/deployments/my-gateway/gpt-4o\n{}",
 "POST /gw/deployments/\n{}"]
--- error_code eval
[404, 404, 404]
--- response_body eval
['{"error":{"code":"NotFound","message":"expected POST /gw/deployments/{deployment}/{operation}: the operation is missing","type":"not_found_error"}}',
 '{"error":{"code":"NotFound","message":"expected POST /gw/deployments/{deployment}/{operation}: the operation is missing","type":"not_found_error"}}',
 '{"error":{"code":"NotFound","message":"expected POST /gw/deployments/{deployment}/{operation}: this gateway takes the deployment from the path","type":"not_found_error"}}']
--- no_error_log
[error]



=== TEST 24: an operation that is empty or not a clean path: 404 NotFound
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions/\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/comp%20letions\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions%3Fx=1\n{\"model\":\"gpt-4o\"}"]
--- error_code eval
[404, 404, 404, 404]
--- response_body eval
[('{"error":{"code":"NotFound","message":"the operation path is missing or not valid","type":"not_found_error"}}') x 4]
--- no_error_log
[error]



=== TEST 25: a body over client_max_body_size announced by Content-Length: 413 as JSON
--- config
    location /gw/ {
        foundry_gateway on;
        client_max_body_size 1k;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n"
. '{"model":"gpt-4o","x":"' . ('x' x 2000) . '"}'
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"RequestEntityTooLarge","message":"the request body is larger than this gateway accepts","type":"invalid_request_error"}}
--- error_log
client intended to send too large body



=== TEST 26: a chunked body over client_max_body_size: 413 as JSON
--- config
    location /gw/ {
        foundry_gateway on;
        client_max_body_size 1k;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n"
. "7d0\r\n" . '{"model":"gpt-4o","x":"' . ('x' x 1975) . "\"}\r\n0\r\n\r\n"
--- more_headers
Transfer-Encoding: chunked
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"RequestEntityTooLarge","message":"the request body is larger than this gateway accepts","type":"invalid_request_error"}}
--- error_log
client intended to send too large chunked body



=== TEST 27: a chunked body over client_max_body_size, read by proxy (azure-openai, path mode): 413 as JSON
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        client_max_body_size 1k;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/deployments/gpt-4o/chat/completions\n"
. "7d0\r\n" . '{"model":"gpt-4o","x":"' . ('x' x 1975) . "\"}\r\n0\r\n\r\n"
--- more_headers
Transfer-Encoding: chunked
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"RequestEntityTooLarge","message":"the request body is larger than this gateway accepts","type":"invalid_request_error"}}
--- error_log
client intended to send too large chunked body



=== TEST 28: the upstream cannot be reached: 502 BadGateway as JSON, without its address
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=dead;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- error_code: 502
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"BadGateway","message":"the model upstream could not be reached or sent an invalid answer","type":"server_error"}}
--- error_log
connect() failed (111: Connection refused) while connecting to upstream



=== TEST 29: the upstream does not answer in time: 504 GatewayTimeout as JSON
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
        proxy_read_timeout 300ms;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
x-mock-delay-ms: 2000
--- error_code: 504
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"GatewayTimeout","message":"the model upstream did not answer in time","type":"server_error"}}
--- error_log
upstream timed out



=== TEST 30: an upstream 429 passes through unchanged, with Retry-After
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
x-mock-status: 429
x-mock-retry-after: 7
x-mock-retry-after-ms: 7000
--- error_code: 429
--- response_headers
Content-Type: application/json
Retry-After: 7
retry-after-ms: 7000
x-ms-retry-after-ms: 7000
--- response_body chomp
{"error":{"code":"MockError","message":"mock status 429"}}
--- no_error_log
[error]



=== TEST 31: upstream 500, 503, 401, 502 and 504 pass through unchanged, whatever their type
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}"]
--- more_headers eval
["x-mock-status: 500",
 "x-mock-status: 503\nx-mock-body: upstream overloaded\nx-mock-content-type: text/plain",
 "x-mock-status: 401\nx-mock-body: {\"error\":{\"code\":\"401\",\"message\":\"Access denied due to invalid subscription key.\"}}",
 "x-mock-status: 502",
 "x-mock-status: 504\nx-mock-body: {\"error\":{\"code\":\"upstream\",\"message\":\"from the upstream\"}}"]
--- error_code eval
[500, 503, 401, 502, 504]
--- response_headers eval
["Content-Type: application/json", "Content-Type: text/plain",
 "Content-Type: application/json", "Content-Type: application/json",
 "Content-Type: application/json"]
--- response_body eval
['{"error":{"code":"MockError","message":"mock status 500"}}',
 'upstream overloaded',
 '{"error":{"code":"401","message":"Access denied due to invalid subscription key."}}',
 '{"error":{"code":"MockError","message":"mock status 502"}}',
 '{"error":{"code":"upstream","message":"from the upstream"}}']
--- no_error_log
[error]



=== TEST 32: the upstream's own 404 DeploymentNotFound passes through
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=root upstream_model=not-deployed;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o","messages":[]}
--- error_code: 404
--- response_headers
x-mock-route: classic
--- response_body chomp
{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}
--- no_error_log
[error]



=== TEST 33: a deployment without an upstream: 502 NoUpstream
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- error_code: 502
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"NoUpstream","message":"the deployment \"gpt-4o\" has no model upstream on this gateway","type":"server_error"}}
--- no_error_log
[error]



=== TEST 34: a variable naming an upstream that does not exist: 502 NoUpstream, logged
--- http_config eval
$::Upstreams . q{
    map $http_x_route_policy $gpt_upstream {
        premium     aoai;
        default     nope;
    }
}
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=$gpt_upstream;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
X-Route-Policy: basic
--- error_code: 502
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"NoUpstream","message":"the deployment \"gpt-4o\" has no model upstream on this gateway","type":"server_error"}}
--- error_log
foundry: deployment "gpt-4o" names the unknown upstream "nope"



=== TEST 35: after errors the connection stays usable: an error, then a routed request
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/deployments/gpt-5/chat/completions\n{\"messages\":[\"" . ('x' x 5000) . "\"]}",
 "POST /gw/deployments/gpt-4o/chat/completions\n{}"]
--- more_headers eval
["x-mock-echo: 1", "x-mock-echo: 1"]
--- error_code eval
[404, 200]
--- response_body eval
['{"error":{"code":"DeploymentNotFound","message":"the deployment \"gpt-5\" does not exist on this gateway (it reads the deployment in the path)","type":"not_found_error"}}',
"POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 2
host: mock

{}
"]
--- no_error_log
[error]



=== TEST 36: a chunked body of a request refused before reading it is discarded, the next request works
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/deployments/gpt-5/chat/completions\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
 "POST /gw/deployments/gpt-4o/chat/completions\n5\r\n{\"a\":\r\n2\r\n2}\r\n0\r\n\r\n"]
--- more_headers eval
["x-mock-echo: 1\nTransfer-Encoding: chunked",
 "x-mock-echo: 1\nTransfer-Encoding: chunked"]
--- error_code eval
[404, 200]
--- response_body eval
['{"error":{"code":"DeploymentNotFound","message":"the deployment \"gpt-5\" does not exist on this gateway (it reads the deployment in the path)","type":"not_found_error"}}',
"POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 7
host: mock

{\"a\":2}
"]
--- no_error_log
[error]



=== TEST 37: a body that arrives slowly and turns out not to be JSON: 400 once it is all read
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
[["POST /gw/chat/completions\n{\"model\":\"gpt-4o\",",
  { value => '"messages":[', delay_before => 0.1 },
  { value => '}', delay_before => 0.1 }]]
--- error_code: 400
--- response_body chomp
{"error":{"code":"InvalidRequestBody","message":"the request body is not valid JSON","type":"invalid_request_error"}}
--- no_error_log
[error]



=== TEST 38: foundry_upstream without kind=
--- http_config
    foundry_upstream x url=http://127.0.0.1;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /gw/models
--- must_die
--- error_log
"foundry_upstream" directive needs "kind="



=== TEST 39: foundry_upstream with an unknown kind
--- http_config
    foundry_upstream x kind=anthropic url=http://127.0.0.1;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /gw/models
--- must_die
--- error_log
invalid kind "anthropic" in "foundry_upstream" directive, it must be "azure-openai", "azure-openai-v1", "openai" or "openai-compatible"



=== TEST 40: foundry_upstream with a url= that is not http(s)
--- http_config
    foundry_upstream x kind=openai url=ftp://example.com/v1;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /gw/models
--- must_die
--- error_log
invalid url "ftp://example.com/v1" in "foundry_upstream" directive, expected http[s]://host[:port][/path] without query



=== TEST 41: azure-openai needs api_version=
--- http_config
    foundry_upstream x kind=azure-openai url=https://res.openai.azure.com;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /gw/models
--- must_die
--- error_log
"foundry_upstream" directive of kind "azure-openai" needs "api_version="



=== TEST 42: api_version= is only for azure-openai
--- http_config
    foundry_upstream x kind=azure-openai-v1 url=https://res.openai.azure.com
                     api_version=2024-10-21;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /gw/models
--- must_die
--- error_log
"api_version=" is only for upstreams of kind "azure-openai" in "foundry_upstream" directive



=== TEST 42b: stream_options= is on or off
--- http_config
    foundry_upstream x kind=openai url=https://api.openai.com
                     stream_options=yes;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /gw/models
--- must_die
--- error_log
invalid value "stream_options=yes" in "foundry_upstream" directive



=== TEST 42c: foundry_stream_usage is on or off
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_stream_usage always;
    }
--- request
GET /gw/models
--- must_die
--- error_log
invalid value "always" in "foundry_stream_usage" directive, it must be "on" or "off"



=== TEST 43: a deployment naming an upstream that does not exist
--- http_config
    foundry_upstream x kind=openai url=https://api.openai.com;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o upstream=y;
    }
--- request
GET /gw/models
--- must_die
--- error_log eval
qr/unknown foundry_upstream "y" for deployment "gpt-4o" defined in \S+nginx.conf:\d+/



=== TEST 44: an alias that cannot be an Azure OpenAI deployment name
--- http_config
    foundry_upstream x kind=azure-openai url=https://res.openai.azure.com
                     api_version=2024-10-21;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o upstream=x upstream_model=a/b;
    }
--- request
GET /gw/models
--- must_die
--- error_log eval
qr/invalid Azure OpenAI deployment name "a\/b" for deployment "gpt-4o" defined in \S+nginx.conf:\d+/



=== TEST 45: duplicate foundry_upstream
--- http_config
    foundry_upstream x kind=openai url=https://api.openai.com;
    foundry_upstream x kind=openai url=https://api.openai.com;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /gw/models
--- must_die
--- error_log eval
qr/duplicate foundry upstream "x", first defined in \S+nginx.conf:\d+/



=== TEST 46: foundry_models_file with a parameter other than upstream=
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_models_file $TEST_NGINX_DATA_DIR/routing-models.json oai;
    }
--- request
GET /gw/models
--- must_die
--- error_log
invalid parameter "oai" in "foundry_models_file" directive, expected "upstream="
