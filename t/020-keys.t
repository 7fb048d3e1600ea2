# Subscription keys: where they arrive, the decisions, allow-lists,
# discovery per key, variables, and that a key is never passed on or
# logged by the module.

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryKeys;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';

repeat_each(2);

plan tests => repeat_each() * (3 * blocks() + 6);

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', FoundryConf::mock() . "\n"
            . "    foundry_keys_zone keys:1m file=\$TEST_NGINX_KEYS_DIR/keys.json;\n"
            . FoundryConf::upstreams(oai => {bearer => 'upstream-token'}));
    }
});

run_tests();

__DATA__

=== TEST 1: no key is a 401
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_model gpt-4o upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
GET /v1/models
--- error_code: 401
--- response_headers
!WWW-Authenticate
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: no key was sent","type":"authentication_error"}}



=== TEST 2: a valid key in api-key
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o created=1 upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
    }
--- request
GET /v1/models
--- more_headers
api-key: demo-key
--- response_headers
Content-Type: application/json
--- response_body chomp
{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1,"owned_by":"system"}]}



=== TEST 3: an unknown key is a 401, logged at info without the key
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models
--- more_headers
api-key: wrong-key
--- error_code: 401
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: the key is not valid","type":"authentication_error"}}
--- error_log
foundry: unknown key
--- no_error_log eval
[qr/\[info\].*wrong-key/]



=== TEST 4: a disabled key: the same answer, the log names the entry
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models
--- more_headers
api-key: off-key
--- error_code: 401
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: the key is not valid","type":"authentication_error"}}
--- error_log
foundry: key "off" is disabled
--- no_error_log eval
[qr/\[info\].*off-key/]



=== TEST 5: an expired key
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models
--- more_headers
api-key: old-key
--- error_code: 401
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: the key is not valid","type":"authentication_error"}}
--- error_log
foundry: key "old" is expired
--- no_error_log
[error]



=== TEST 6: a key not valid yet
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models
--- more_headers
api-key: future-key
--- error_code: 401
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: the key is not valid","type":"authentication_error"}}
--- error_log
foundry: key "future" is not valid yet
--- no_error_log
[error]



=== TEST 7: a key with an expiry in the future, and a base64 sha256 (1)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models/gpt-4o
--- more_headers
api-key: soon-key
--- response_headers
X-Key: soon
--- response_body_like: gpt-4o



=== TEST 8: a key with an expiry in the future, and a base64 sha256 (2)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models/gpt-4o
--- more_headers
api-key: b64-key
--- response_headers
X-Key: b64
--- response_body_like: gpt-4o



=== TEST 9: Ocp-Apim-Subscription-Key and subscription-key, as API Management takes them (1)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source header=Ocp-Apim-Subscription-Key
                           arg=subscription-key;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models
--- more_headers
Ocp-Apim-Subscription-Key: demo-key
--- response_headers
X-Key: demo
--- response_body_like: gpt-4o



=== TEST 10: Ocp-Apim-Subscription-Key and subscription-key, as API Management takes them (2)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source header=Ocp-Apim-Subscription-Key
                           arg=subscription-key;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models?subscription-key=demo-key
--- response_headers
X-Key: demo
--- response_body_like: gpt-4o



=== TEST 11: Ocp-Apim-Subscription-Key and subscription-key, as API Management takes them (3)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source header=Ocp-Apim-Subscription-Key
                           arg=subscription-key;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models
--- more_headers
api-key: demo-key
--- error_code: 401
--- response_headers
X-Key: 
--- response_body_like: no key was sent



=== TEST 12: Authorization: Bearer <key>, and a challenge when it is missing (1)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source config bearer;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models
--- more_headers
Authorization: Bearer demo-key
--- response_headers
X-Key: demo
--- response_body_like: gpt-4o



=== TEST 13: Authorization: Bearer <key>, and a challenge when it is missing (2)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source config bearer;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models
--- more_headers
authorization: bearer   demo-key
--- response_headers
X-Key: demo
--- response_body_like: gpt-4o



=== TEST 14: Authorization: Bearer <key>, and a challenge when it is missing (3)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source config bearer;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body_like: no key was sent



=== TEST 15: Authorization: Bearer <key>, and a challenge when it is missing (4)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source config bearer;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models
--- more_headers
Authorization: Bearer nope
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: the key is not valid



=== TEST 16: a bearer value that is a JWT is not taken for a key
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source bearer;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl
--- error_code: 401
--- response_body_like: no key was sent



=== TEST 17: the connection's authConfig: a header with a format (1)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_auth_config name=x-api-key "format=Key {api_key}";
        foundry_keys keys;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models
--- more_headers
x-api-key: Key demo-key
--- response_headers
X-Key: demo
--- response_body_like: gpt-4o



=== TEST 18: the connection's authConfig: a header with a format (2)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_auth_config name=x-api-key "format=Key {api_key}";
        foundry_keys keys;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models
--- more_headers
x-api-key: demo-key
--- error_code: 401
--- response_headers
X-Key: 
--- response_body_like: no key was sent



=== TEST 19: the connection's authConfig: a header with a format (3)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_auth_config name=x-api-key "format=Key {api_key}";
        foundry_keys keys;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
    }
--- request
GET /v1/models
--- more_headers
api-key: demo-key
--- error_code: 401
--- response_headers
X-Key: 
--- response_body_like: no key was sent



=== TEST 20: two different keys are refused, the same one twice is fine (1)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source config header=Ocp-Apim-Subscription-Key;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models
--- more_headers
api-key: demo-key
Ocp-Apim-Subscription-Key: limited-key
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body_like: the request carries different keys



=== TEST 21: two different keys are refused, the same one twice is fine (2)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source config header=Ocp-Apim-Subscription-Key;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models
--- more_headers
api-key: demo-key
Ocp-Apim-Subscription-Key: demo-key
--- response_headers
Content-Type: application/json
--- response_body_like: gpt-4o



=== TEST 22: an allow-list: inference to an allowed and to another deployment (1)
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_model gpt-4o upstream=oai;
        foundry_model gpt-4o-mini upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini"}
--- more_headers
api-key: limited-key
--- response_headers
Content-Type: application/json
--- response_body_like: chat.completion



=== TEST 23: an allow-list: inference to an allowed and to another deployment (2)
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_model gpt-4o upstream=oai;
        foundry_model gpt-4o-mini upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o"}
--- more_headers
api-key: limited-key
--- error_code: 403
--- response_headers
Content-Type: application/json
--- response_body_like: \{"error":\{"code":"Forbidden","message":"the key may not use the deployment \\"gpt-4o\\"","type":"permission_error"\}\}



=== TEST 24: an allow-list with a pattern and a name in another case (1)
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=oai;
        foundry_model o3-mini upstream=oai;
        foundry_model gpt-4o-mini upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/deployments/o3-mini/chat/completions
{}
--- more_headers
api-key: pattern-key
--- response_headers
Content-Type: application/json
--- response_body_like: chat.completion



=== TEST 25: an allow-list with a pattern and a name in another case (2)
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=oai;
        foundry_model o3-mini upstream=oai;
        foundry_model gpt-4o-mini upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/deployments/gpt-4o/chat/completions
{}
--- more_headers
api-key: pattern-key
--- response_headers
Content-Type: application/json
--- response_body_like: chat.completion



=== TEST 26: an allow-list with a pattern and a name in another case (3)
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=oai;
        foundry_model o3-mini upstream=oai;
        foundry_model gpt-4o-mini upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/deployments/gpt-4o-mini/chat/completions
{}
--- more_headers
api-key: pattern-key
--- error_code: 403
--- response_headers
Content-Type: application/json
--- response_body_like: the key may not use the deployment



=== TEST 27: discovery lists only what the key may use, in both formats (1)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o created=1;
        foundry_model gpt-4o-mini created=1;
        foundry_model o3-mini created=1;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /v1/models
--- more_headers
api-key: pattern-key
--- response_headers
Content-Type: application/json
--- response_body_like: \{"object":"list","data":\[\{"id":"gpt\-4o","object":"model","created":1,"owned_by":"system"\},\{"id":"o3\-mini","object":"model","created":1,"owned_by":"system"\}\]\}



=== TEST 28: discovery lists only what the key may use, in both formats (2)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o created=1;
        foundry_model gpt-4o-mini created=1;
        foundry_model o3-mini created=1;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /v1/deployments
--- more_headers
api-key: limited-key
--- response_headers
Content-Type: application/json
--- response_body_like: \{"value":\[\{"name":"gpt\-4o\-mini","properties":\{"model":\{"format":"OpenAI","name":"gpt\-4o\-mini","version":""\}\}\}\]\}



=== TEST 29: discovery lists only what the key may use, in both formats (3)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o created=1;
        foundry_model gpt-4o-mini created=1;
        foundry_model o3-mini created=1;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /v1/deployments/gpt-4o
--- more_headers
api-key: limited-key
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body_like: \{"error":\{"code":"DeploymentNotFound","message":"the deployment \\"gpt\-4o\\" does not exist on this gateway","type":"not_found_error"\}\}



=== TEST 30: variables: the key's name and its metadata
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Key $foundry_key_name always;
        add_header X-Team $foundry_key_meta_team always;
        add_header X-Tpm $foundry_key_meta_TPM always;
    }
--- request
GET /v1/models
--- more_headers
api-key: demo-key
--- response_headers
X-Key: demo
X-Team: demo
X-Tpm: 5000



=== TEST 31: the key reaches no upstream, no log line of the module, no variable
--- config
    log_subrequest on;
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_key_source config arg=subscription-key;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
        add_header X-Request-Uri $request_uri always;
        add_header X-Api-Key $http_api_key always;
    }
--- request
POST /v1/chat/completions?subscription-key=demo-key&x=1
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
--- log_level: debug
--- response_headers
X-Request-Uri: /v1/chat/completions?subscription-key=********&x=1
--- response_body_like: "headers":\{"accept-encoding":"","authorization":"Bearer upstream-token"|"authorization":"Bearer upstream-token".*"path":"/v1/chat/completions","query":"x=1"
--- no_error_log eval
[qr/^(?!.*(?:http request line|http args|http header): ).*demo-key/,
 "[error]"]



=== TEST 32: the api-key header is masked in $http_api_key
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        add_header X-Api-Key $http_api_key always;
    }
--- request
GET /v1/models/gpt-4o
--- more_headers
api-key: demo-key
--- response_headers
X-Api-Key: ********
--- response_body_unlike: demo-key|api-key



=== TEST 33: satisfy any: another access module can let a request in
--- config
    location /v1/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models/gpt-4o
--- response_body_like: "name":"gpt-4o"
--- no_error_log
[error]



=== TEST 34: foundry_keys off in a location, inherited elsewhere (1)
--- config
    foundry_keys keys;
    foundry_model gpt-4o;
    foundry_model_discovery list=/models "get=/models/{deploymentName}";

    location /open/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys off;
    }

    location /closed/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /open/models/gpt-4o
--- response_headers
Content-Type: application/json
--- response_body_like: gpt-4o



=== TEST 35: foundry_keys off in a location, inherited elsewhere (2)
--- config
    foundry_keys keys;
    foundry_model gpt-4o;
    foundry_model_discovery list=/models "get=/models/{deploymentName}";

    location /open/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys off;
    }

    location /closed/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /closed/models/gpt-4o
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body_like: no key was sent
