# The inputs Foundry's samples and setup guides use (issue 18, items 2
# and 3): discovery endpoints without a leading "/", a models file in the
# guides' {"staticModels": [...]} form, required custom headers on
# discovery calls, and the operations the SDKs send with the deployment in
# the body ("responses", "moderations") on a target that keeps deployments
# in the path.
#
# Already there before (and tested elsewhere): a foundry_target or an
# upstream url= with a trailing "/" (t/010 "v1", block 3 here), the
# authConfig header on discovery calls (t/020 blocks 17-19), any
# api-version accepted and replaced by the upstream's when the location
# restricts none (block 12 here).
#
# The mock upstream echoes what it received (x-mock-echo, see
# t/lib/FoundryRouting.pm).

use Cwd qw(cwd);
use File::Temp qw(tempdir);
use lib 't/lib';
use FoundryMock;
use FoundryRouting;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_DATA_DIR} = cwd() . '/t/data';
$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();

# the setup guides' snippet, in a file of its own
my $dir = tempdir('foundry-samples-XXXXXX', TMPDIR => 1, CLEANUP => 1);
$ENV{TEST_NGINX_SAMPLES_DIR} = $dir;

open(my $fh, '>', "$dir/static-models.json") or die "$dir: $!";
print $fh <<'JSON';
{
  "staticModels": [
    {"name": "gpt-4o",
     "properties": {"model": {"name": "gpt-4o", "version": "2024-11-20",
                              "format": "OpenAI"}}},
    {"name": "my-llama",
     "properties": {"model": {"name": "Llama-3.3-70B", "version": "",
                              "format": "NonOpenAI"}}}
  ]
}
JSON
close($fh);

our $Upstreams = <<"_EOC_";
    upstream mock {
        server 127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT};
        keepalive 4;
    }

    foundry_upstream aoai kind=azure-openai url=http://mock/aoai
                     api_version=2025-01-01-preview api_key=aoai-key;
    foundry_upstream v1 kind=azure-openai-v1 url=http://mock/res/
                     api_key=v1-key;
    foundry_upstream oai kind=openai url=http://mock bearer=sk-oai;
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

repeat_each(1);

plan tests => repeat_each() * main::count_tests(blocks());

no_shuffle();
run_tests();

__DATA__

=== TEST 1: discovery endpoints without a leading "/" (list=v1/models, as parameters-openai.json has them) on a root target
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_target /;
        foundry_model gpt-4o created=1700000000 upstream=oai;
        foundry_model_discovery list=v1/models "get=v1/models/{deploymentName}"
                                provider=OpenAI;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["GET /v1/models", "GET /v1/models/gpt-4o"]
--- error_code eval
[200, 200]
--- response_body eval
['{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1700000000,"owned_by":"system"}]}',
 '{"id":"gpt-4o","object":"model","created":1700000000,"owned_by":"system"}']
--- no_error_log
[error]



=== TEST 2: the same below a path target: "deployments" and "deployments/{deploymentName}"
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o version=2024-11-20 upstream=aoai;
        foundry_model_discovery list=deployments
                                "get=deployments/{deploymentName}";
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["GET /gw/deployments", "GET /gw/deployments/gpt-4o"]
--- error_code eval
[200, 200]
--- response_body eval
['{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}}]}',
 '{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}}']
--- no_error_log
[error]



=== TEST 3: a target and an upstream url= with a trailing "/": no "//" anywhere
--- config
    location ~ ^/tenant/gw/ {
        foundry_gateway on;
        foundry_target /tenant/gw/;
        foundry_model gpt-4o upstream=v1;
        foundry_model_discovery list=models "get=models/{deploymentName}"
                                provider=OpenAI;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /tenant/gw/chat/completions
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



=== TEST 4: a models file {"staticModels": [...]}, the setup guides' snippet
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_models_file $TEST_NGINX_SAMPLES_DIR/static-models.json
                            upstream=aoai;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
GET /gw/deployments
--- response_body chomp
{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"my-llama","properties":{"model":{"format":"NonOpenAI","name":"Llama-3.3-70B","version":""}}}]}
--- no_error_log
[error]



=== TEST 5: a "staticModels" file: its deployments take inference calls
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_models_file $TEST_NGINX_SAMPLES_DIR/static-models.json
                            upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"my-llama"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/my-llama/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 20
host: mock

{"model":"my-llama"}
--- no_error_log
[error]



=== TEST 6: a required custom header is required on discovery calls too (the validators send it there)
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_custom_header X-Route-Policy premium required;
        foundry_model gpt-4o created=1700000000 upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["GET /gw/models", "GET /gw/models/gpt-4o"]
--- error_code eval
[400, 400]
--- response_body eval
[('{"error":{"code":"MissingHeader","message":"the request lacks the header \"X-Route-Policy\" that the connection sends","type":"invalid_request_error"}}') x 2]
--- no_error_log
[error]



=== TEST 7: a required custom header on discovery calls: present, the answer as usual
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_custom_header X-Route-Policy premium required;
        foundry_model gpt-4o created=1700000000 upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
GET /gw/models
--- more_headers
x-route-policy: standard
--- response_body chomp
{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1700000000,"owned_by":"system"}]}
--- no_error_log
[error]



=== TEST 8: a path target: POST {target}/responses with the deployment in the body (AzureOpenAI's responses.create)
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_category ApiManagement;
        foundry_deployment_in_path on;
        foundry_inference_api_version 2025-03-01-preview;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/responses?api-version=2025-03-01-preview
{"model":"gpt-4o","input":"Hello"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/gpt-4o/responses?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 34
host: mock

{"model":"gpt-4o","input":"Hello"}
--- no_error_log
[error]



=== TEST 9: a path target: responses and moderations to OpenAI-style upstreams, the model rewritten as for a body target
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_operations default moderations;
        foundry_model gpt-4o model=gpt-4o-2024-11-20 upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/responses\n{\"model\":\"gpt-4o\",\"input\":\"Hi\"}",
 "POST /gw/moderations\n{\"model\":\"gpt-4o\",\"input\":\"Hi\"}"]
--- more_headers
x-mock-echo: 1
--- response_body eval
["POST /v1/responses
authorization: Bearer sk-oai
content-length: 42
host: mock

{\"model\":\"gpt-4o-2024-11-20\",\"input\":\"Hi\"}\n",
"POST /v1/moderations
authorization: Bearer sk-oai
content-length: 42
host: mock

{\"model\":\"gpt-4o-2024-11-20\",\"input\":\"Hi\"}\n"]
--- no_error_log
[error]



=== TEST 10: a path target: responses without "model" is a 400, an unknown model a 404 naming the body
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/responses\n{\"input\":\"Hi\"}\n",
 "POST /gw/responses\n{\"model\":\"gpt-5\",\"input\":\"Hi\"}"]
--- error_code eval
[400, 404]
--- response_body eval
['{"error":{"code":"MissingModel","message":"the request body has no \"model\": this gateway reads the deployment from it","type":"invalid_request_error"}}',
 qr/"code":"DeploymentNotFound".*in the body's \\"model\\"/]
--- no_error_log
[error]



=== TEST 11: a path target: the deployment in the path still works for responses; chat/completions without it is still a 404
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/deployments/gpt-4o/responses\n{\"input\":\"Hi\"}\n",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}",
 "POST /gw/responsesx\n{\"model\":\"gpt-4o\"}"]
--- more_headers
x-mock-echo: 1
--- error_code eval
[200, 404, 404]
--- response_body eval
["POST /aoai/openai/deployments/gpt-4o/responses?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 14
host: mock

{\"input\":\"Hi\"}\n",
 '{"error":{"code":"NotFound","message":"expected POST /gw/deployments/{deployment}/{operation}: this gateway takes the deployment from the path","type":"not_found_error"}}',
 '{"error":{"code":"NotFound","message":"expected POST /gw/deployments/{deployment}/{operation}: this gateway takes the deployment from the path","type":"not_found_error"}}']
--- no_error_log
[error]



=== TEST 12: no inference api-version set: Foundry's own default (any well-formed one) is accepted and replaced by the upstream's
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_category ApiManagement;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/responses?api-version=2025-04-01-preview\n{\"model\":\"gpt-4o\"}",
 "POST /gw/deployments/gpt-4o/chat/completions?api-version=2099-12-31\n{}"]
--- more_headers
x-mock-echo: 1
--- response_body eval
["POST /aoai/openai/deployments/gpt-4o/responses?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 18
host: mock

{\"model\":\"gpt-4o\"}\n",
"POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 2
host: mock

{}\n"]
--- no_error_log
[error]
