# No key, token or upstream credential in any error log line, at any level:
# nginx's own debug lines quote every request header it reads
# ("http header:") and every header the proxy module sends upstream
# ("http proxy header:"), and at info it quotes a request header line it
# refuses.  The module's error-log writer masks the values of the headers
# that carry credentials (api-key, Authorization, Ocp-Apim-Subscription-Key,
# the foundry_auth_config header and foundry_key_source header= names) in
# every line.  Each block greps the whole error log, at debug level, for
# the client's credential and the upstream's.

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
            . FoundryConf::upstreams(
                  oai => {bearer => 'upstream-token-0123'},
                  aoai => {api_key => 'upstream-key-0123'}));
    }

    if (!defined $block->no_error_log) {
        $block->set_value('no_error_log', [
            'demo-key', 'upstream-token-0123', 'upstream-key-0123',
            '[alert]', '[crit]',
        ]);
    }
});

run_tests();

__DATA__

=== TEST 1: api-key from the client, api-key to an azure-openai upstream: neither in the debug log
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- more_headers
api-key: demo-key
--- error_code: 200
--- error_log eval
[qr/http header: "api-key: \*+"/, qr/http proxy header:/]



=== TEST 2: Authorization: Bearer from the client, Authorization: Bearer to an openai upstream
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_key_source bearer;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- more_headers
Authorization: Bearer demo-key
--- error_code: 200
--- error_log eval
[qr/http header: "Authorization: Bearer \*+"/, qr/http proxy header:/]



=== TEST 3: the foundry_auth_config header, with its format
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_auth_config name=x-gateway-key "format=Key {api_key}";
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- more_headers
x-gateway-key: Key demo-key
--- error_code: 200
--- error_log eval
[qr/http header: "x-gateway-key: Key \*+"/]



=== TEST 3b: a foundry_key_source header= name
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_key_source header=X-Team-Key;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- more_headers
X-Team-Key: demo-key
--- error_code: 200
--- error_log eval
[qr/http header: "X-Team-Key: \*+"/]



=== TEST 4: a header line nginx refuses at info level, with a key in it
--- log_level: info
--- config
    large_client_header_buffers 2 1k;

    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- raw_request eval
"GET /v1/models HTTP/1.1\r\nHost: localhost\r\napi-key: demo-key" . ("x" x 1100) . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- error_log eval
qr/client sent too long header line: "api-key: \*+/



=== TEST 5: a location without the gateway: the client's Authorization still masked in nginx's lines
--- config
    location /plain/ {
        return 200 "ok\n";
    }
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
GET /plain/x
--- more_headers
Authorization: Bearer demo-key
--- error_code: 200
--- error_log eval
qr/http header: "Authorization: Bearer \*+"/
