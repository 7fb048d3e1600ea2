# A key argument (foundry_key_source arg=) in no log line, at any level:
# requests nginx refuses before the module's phases (413, 414), the
# module's own "different keys" line, a key argument given twice, a name
# written percent-encoded, a location without the gateway.  Every block
# greps the error log (at Test::Nginx's level, debug, unless it says
# otherwise) and the access log, whose format here is
#
#   $request|$request_uri|$args
#
# Then query parameter names compared after percent-decoding: the key
# argument, and api-version (a second, different one is a 400).

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryKeys;
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';

repeat_each(1);

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', FoundryConf::mock() . "\n"
            . "    foundry_keys_zone keys:1m file=\$TEST_NGINX_KEYS_DIR/keys.json;\n"
            . FoundryConf::upstreams(oai => {bearer => 'upstream-token'}, 'aoai')
            . <<'CONF');

    log_format keys '$request|$request_uri|$args';
CONF
    }

    $block->set_value('config', "    access_log logs/access.log keys;\n"
                                . $block->config);
});

run_tests();

__DATA__

=== TEST 1: a 413 (Content-Length over client_max_body_size), before the access phase: the key masked in both logs
--- config
    location /openai/ {
        client_max_body_size 10;
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_keys keys;
        foundry_key_source config arg=subscription-key;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21&subscription-key=demo-key
{"model":"gpt-4o","messages":[]}
--- error_code: 413
--- error_log eval
[qr/client intended to send too large body: \d+ bytes.*request: "POST \/openai\/deployments\/gpt-4o\/chat\/completions\?api-version=2024-10-21&subscription-key=\*{8} HTTP\/1.1"/]
--- no_error_log
demo-key
--- access_log
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21&subscription-key=******** HTTP/1.1|/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21&subscription-key=********|api-version=2024-10-21&subscription-key=********
--- no_access_log
demo-key



=== TEST 2: a 414 (the request line over large_client_header_buffers), before any phase: "client sent too long URI" and the access log masked
--- config
    client_header_buffer_size 128;
    large_client_header_buffers 2 512;

    location /openai/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_deployment_in_path on;
        foundry_keys keys;
        foundry_key_source config arg=subscription-key;
        foundry_model gpt-4o upstream=aoai;
    }
--- request eval
"GET /openai/deployments/gpt-4o/chat/completions?subscription-key=demo-key&pad=" . ("x" x 800)
--- error_code: 414
--- error_log eval
[qr/client sent too long URI.*request: "GET \/openai\/deployments\/gpt-4o\/chat\/completions\?subscription-key=\*{8}&pad=x+"/]
--- no_error_log
demo-key
--- access_log eval
[qr/^GET \/openai\/deployments\/gpt-4o\/chat\/completions\?subscription-key=\*{8}&pad=x+\|/]
--- no_access_log
demo-key



=== TEST 3: a request line nginx cannot parse (400), before any phase: masked too
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source config arg=subscription-key;
        foundry_model gpt-4o upstream=oai;
    }
--- raw_request eval
"GET /v1/models?subscription-key=demo-key&x=\x01 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- error_log eval
[qr/client sent invalid request.*request: "GET \/v1\/models\?subscription-key=\*{8}&x=/]
--- no_error_log
demo-key
--- access_log eval
[qr/^GET \/v1\/models\?subscription-key=\*{8}&x=/]
--- no_access_log
demo-key



=== TEST 4: "the request carries different keys": neither key in its line (info), nor in the access log
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source config arg=subscription-key;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models?subscription-key=limited-key
--- more_headers
api-key: demo-key
--- log_level: info
--- error_code: 401
--- response_body_like: the request carries different keys
--- error_log eval
[qr/\[info\].*foundry: the request carries different keys.*request: "GET \/v1\/models\?subscription-key=\*{11} HTTP\/1.1"/]
--- no_error_log
limited-key
demo-key
--- access_log
GET /v1/models?subscription-key=*********** HTTP/1.1|/v1/models?subscription-key=***********|subscription-key=***********
--- no_access_log
limited-key



=== TEST 5: the key argument twice: every occurrence masked, in $request_uri and $args too
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_key_source config arg=subscription-key;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
        add_header X-Request-Uri $request_uri always;
        add_header X-Args $args always;
    }
--- request
POST /v1/chat/completions?subscription-key=demo-key&x=1&subscription-key=demo-key
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
--- response_headers
X-Request-Uri: /v1/chat/completions?subscription-key=********&x=1&subscription-key=********
X-Args: subscription-key=********&x=1&subscription-key=********
--- response_body_like: "query":"x=1"
--- no_error_log
demo-key
--- access_log
POST /v1/chat/completions?subscription-key=********&x=1&subscription-key=******** HTTP/1.1|/v1/chat/completions?subscription-key=********&x=1&subscription-key=********|subscription-key=********&x=1&subscription-key=********
--- no_access_log
demo-key



=== TEST 6: the key argument twice with two different keys: refused as different keys
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source config arg=subscription-key;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models?subscription-key=demo-key&subscription-key=limited-key
--- error_code: 401
--- response_body_like: the request carries different keys
--- error_log
foundry: the request carries different keys
--- no_error_log
demo-key
limited-key
--- no_access_log
demo-key
limited-key



=== TEST 7: the name percent-encoded (subscription%2Dkey) is the key argument: found, masked, not passed upstream
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_key_source config arg=subscription-key;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
        add_header X-Request-Uri $request_uri always;
        add_header X-Key $foundry_key_name always;
    }
--- request
POST /v1/chat/completions?subscription%2Dkey=demo-key&x=1&Subscription%2dKey=demo-key
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
--- response_headers
X-Request-Uri: /v1/chat/completions?subscription%2Dkey=********&x=1&Subscription%2dKey=********
X-Key: demo
--- response_body_like: "query":"x=1"
--- no_error_log
demo-key
--- no_access_log
demo-key



=== TEST 8: a key argument of another name, in a location without the gateway: masked in every request of the http block
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source config arg=key;
        foundry_model gpt-4o upstream=oai;
    }

    location = /plain {
        return 200 "$request_uri $args $arg_key\n";
    }
--- request
GET /plain?KEY=demo-key&a=1&key=
--- response_body
/plain?KEY=********&a=1&key= KEY=********&a=1&key= ********
--- no_error_log
demo-key
--- no_access_log
demo-key



=== TEST 9: api-version twice with different values, the second percent-encoded: 400
--- config
    location /openai/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_inference_api_version 2024-10-21 2025-01-01-preview;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21&api%2Dversion=2099-01-01-preview
{}
--- more_headers
x-mock-echo: 1
--- error_code: 400
--- response_body chomp
{"error":{"code":"ConflictingApiVersion","message":"the api-version query parameter is given more than once with different values, supported versions: 2024-10-21, 2025-01-01-preview","type":"invalid_request_error"}}



=== TEST 10: api-version twice with different values, both supported: 400 too
--- config
    location /openai/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_inference_api_version 2024-10-21 2025-01-01-preview;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /openai/deployments/gpt-4o/chat/completions?API-Version=2025-01-01-preview&api-version=2024-10-21
{}
--- more_headers
x-mock-echo: 1
--- error_code: 400
--- response_body_like: "code":"ConflictingApiVersion"



=== TEST 11: api-version only percent-encoded: it is the api-version; none of the client's goes upstream
--- config
    location /openai/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_inference_api_version 2024-10-21;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /openai/deployments/gpt-4o/chat/completions?api%2Dversion=2024-10-21&x=1
{}
--- more_headers
x-mock-echo: 1
--- response_body_like: "path":"/aoai/openai/deployments/gpt-4o/chat/completions","query":"x=1&api-version=2025-01-01-preview"



=== TEST 12: the same api-version twice is accepted; neither copy goes upstream
--- config
    location /openai/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_inference_api_version 2024-10-21;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21&x=1&api%2dVersion=2024-10-21
{}
--- more_headers
x-mock-echo: 1
--- response_body_like: "path":"/aoai/openai/deployments/gpt-4o/chat/completions","query":"x=1&api-version=2025-01-01-preview"



=== TEST 13: the discovery's api-version: a second, different one is a 400 too
--- config
    location /openai/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_category ApiManagement;
        foundry_deployment_in_path on;
        foundry_deployment_api_version 2024-10-01;
        foundry_model gpt-4o upstream=aoai;
    }
--- request
GET /openai/deployments?api-version=2024-10-01&api%2Dversion=2099-01-01
--- error_code: 400
--- response_body_like: "code":"ConflictingApiVersion"
