# Operations scoped by default: a gateway location passes the inference
# calls (chat/completions, completions, embeddings, POST responses) and
# answers anything else 404 OperationNotSupported itself, before the body
# is read and before anything reaches an upstream; foundry_operations
# widens or narrows the set per level; keys ("operations" in the keys
# file) and tokens (foundry_jwt_operations) carry an allow-list of
# operations (403, as for deployments); bad names fail nginx -t.
#
# "Nothing reached the upstream" is the mock's own count: blocks reset it
# (POST /mock/__mock/reset) first and read it (GET /mock/__mock/stats)
# last, through a plain proxy location.

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryKeys;
use FoundryRouting;
use FoundryTokens;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';

FoundryKeys::write_file('ops-keys.json', { keys => [
    FoundryKeys::entry('any', 'any-key'),
    FoundryKeys::entry('chat-only', 'chat-key',
                       operations => ['chat/completions']),
    FoundryKeys::entry('images', 'images-key',
                       operations => ['default', 'images/generations']),
    FoundryKeys::entry('nothing', 'nothing-key', operations => []),
] });

FoundryKeys::write_file('ops-bad-name.json', [
    FoundryKeys::entry('a', 'x', operations => ['chat/completion']) ]);
FoundryKeys::write_file('ops-bad-type.json', [
    FoundryKeys::entry('a', 'x', operations => 'chat/completions') ]);

our %Tok = (
    chat => main::jwt(alg => 'HS256', iss => 'https://hs.test/',
                      claims => { roles => ['reader', 'chat'] }),
    all => main::jwt(alg => 'HS256', iss => 'https://hs.test/',
                     claims => { roles => ['all'] }),
    none => main::jwt(alg => 'HS256', iss => 'https://hs.test/',
                      claims => { roles => ['reader'] }),
);

our $Http = FoundryConf::mock_http('oai');

our $KeysHttp = $Http . <<'_EOC_';
    foundry_keys_zone opskeys:1m file=$TEST_NGINX_KEYS_DIR/ops-keys.json;
_EOC_

our $Mock = <<'_EOC_';
    location /mock/ {
        proxy_pass http://mock/;
    }
_EOC_

sub refused {
    my ($op) = @_;

    return '{"error":{"code":"OperationNotSupported","message":"the '
        . "operation \\\"$op\\\" is not supported by this gateway\","
        . '"type":"not_found_error"}}';
}

sub forbidden {
    my ($who, $op) = @_;

    return '{"error":{"code":"Forbidden","message":"' . $who
        . " may not use the operation \\\"$op\\\"\","
        . '"type":"permission_error"}}';
}

our $Reset = '{"status":"ok"}';
our $ResetRe = quotemeta $Reset;
our $Nothing = '{"by_path":{},"requests":0}';

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $Http);
    }
});

repeat_each(2);

plan tests => repeat_each() * main::count_tests(blocks());

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the default set reaches the upstream (deployment in the body)
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/completions\n{\"model\":\"gpt-4o\",\"prompt\":\"x\"}",
 "POST /v1/embeddings\n{\"model\":\"gpt-4o\",\"input\":\"x\"}",
 "POST /v1/responses\n{\"model\":\"gpt-4o\",\"input\":\"x\"}"]
--- more_headers eval
[("x-mock-echo: 1") x 4]
--- response_headers eval
[("x-mock-route: echo") x 4]
--- response_body_like eval
['"method":"POST","path":"/v1/chat/completions"',
 '"method":"POST","path":"/v1/completions"',
 '"method":"POST","path":"/v1/embeddings"',
 '"method":"POST","path":"/v1/responses"']
--- no_error_log
[error]



=== TEST 2: other operations: 404 OperationNotSupported, whatever the method, the body unread, nothing upstream
--- config eval
$::Mock . q{
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
}
--- pipelined_requests eval
["POST /mock/__mock/reset",
 "POST /v1/fine_tuning/jobs\n{not json",
 "POST /v1/batches\n{not json",
 "POST /v1/files\n{not json",
 "POST /v1/files/file-1/content\n{not json",
 "GET /v1/files",
 "POST /v1/images/generations\n{not json",
 "GET /v1/responses/resp_1",
 "DELETE /v1/responses/resp_1",
 "POST /v1/responses/resp_1/cancel\n{not json",
 "POST /v1/Chat/Completions\n{not json",
 "GET /mock/__mock/stats"]
--- error_code eval
[200, (404) x 10, 200]
--- response_body eval
[$::Reset,
 main::refused('fine_tuning/jobs'),
 main::refused('batches'),
 main::refused('files'),
 main::refused('files/file-1/content'),
 main::refused('files'),
 main::refused('images/generations'),
 main::refused('responses/resp_1'),
 main::refused('responses/resp_1'),
 main::refused('responses/resp_1/cancel'),
 main::refused('Chat/Completions'),
 $::Nothing]
--- no_error_log
[error]



=== TEST 2b: the refusal is logged at info
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/fine_tuning/jobs
{"model":"gpt-4o"}
--- error_code: 404
--- response_body eval
main::refused('fine_tuning/jobs')
--- error_log
foundry: operation "fine_tuning/jobs" is not passed by this location



=== TEST 3: deployment in the path: the operation is what follows the deployment
--- config eval
$::Mock . q{
    location /v1/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_connection_name conn;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
}
--- pipelined_requests eval
["POST /mock/__mock/reset",
 "POST /v1/deployments/gpt-4o/fine_tuning/jobs\n{}",
 "POST /v1/deployments/conn/gpt-4o/batches\n{}",
 "GET /v1/deployments/gpt-4o/responses/resp_1",
 "POST /v1/deployments/gpt-4o/chat/completions\n{\"messages\":[]}",
 "GET /mock/__mock/stats"]
--- error_code eval
[200, 404, 404, 404, 200, 200]
--- response_body_like eval
[$::ResetRe,
 quotemeta(main::refused('fine_tuning/jobs')),
 quotemeta(main::refused('batches')),
 quotemeta(main::refused('responses/resp_1')),
 '"object":"chat\.completion"',
 quotemeta('{"by_path":{"/v1/chat/completions":1},"requests":1}')]
--- no_error_log
[error]



=== TEST 4: an operation of the set with another method is still a 405
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
GET /v1/responses
--- error_code: 405
--- response_headers
Allow: POST
--- response_body chomp
{"error":{"code":"MethodNotAllowed","message":"method GET is not allowed, inference calls use POST","type":"invalid_request_error"}}



=== TEST 5: foundry_operations default and more widens the set; families cover the paths below them
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_operations default images/generations files fine_tuning;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
["POST /v1/images/generations\n{\"model\":\"gpt-4o\",\"prompt\":\"x\"}",
 "POST /v1/files\n{\"model\":\"gpt-4o\"}",
 "POST /v1/files/file-1/content\n{\"model\":\"gpt-4o\"}",
 "POST /v1/fine_tuning/jobs\n{\"model\":\"gpt-4o\"}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/filesx\n{\"model\":\"gpt-4o\"}",
 "POST /v1/images/edits\n{\"model\":\"gpt-4o\"}",
 "POST /v1/batches\n{\"model\":\"gpt-4o\"}"]
--- more_headers eval
[("x-mock-echo: 1") x 8]
--- error_code eval
[200, 200, 200, 200, 200, 404, 404, 404]
--- response_body_like eval
['"method":"POST","path":"/v1/images/generations"',
 '"method":"POST","path":"/v1/files"',
 '"method":"POST","path":"/v1/files/file-1/content"',
 '"method":"POST","path":"/v1/fine_tuning/jobs"',
 '"method":"POST","path":"/v1/chat/completions"',
 quotemeta(main::refused('filesx')),
 quotemeta(main::refused('images/edits')),
 quotemeta(main::refused('batches'))]
--- no_error_log
[error]



=== TEST 6: a list without "default" narrows the set
--- config eval
$::Mock . q{
    location /v1/ {
        foundry_gateway on;
        foundry_operations embeddings;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
}
--- pipelined_requests eval
["POST /mock/__mock/reset",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/responses\n{\"model\":\"gpt-4o\",\"input\":\"x\"}",
 "POST /v1/embeddings\n{\"model\":\"gpt-4o\",\"input\":\"x\"}",
 "GET /mock/__mock/stats"]
--- error_code eval
[200, 404, 404, 200, 200]
--- response_body_like eval
[$::ResetRe,
 quotemeta(main::refused('chat/completions')),
 quotemeta(main::refused('responses')),
 '"object":"list"',
 quotemeta('{"by_path":{"/v1/embeddings":1},"requests":1}')]
--- no_error_log
[error]



=== TEST 7: inherited from the server level; a location's own list replaces it
--- config
    foundry_operations default moderations;

    location /a/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }

    location /b/ {
        foundry_gateway on;
        foundry_operations embeddings;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
["POST /a/moderations\n{\"model\":\"gpt-4o\",\"input\":\"x\"}",
 "POST /a/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /b/moderations\n{\"model\":\"gpt-4o\",\"input\":\"x\"}",
 "POST /b/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /b/embeddings\n{\"model\":\"gpt-4o\",\"input\":\"x\"}"]
--- more_headers eval
[("x-mock-echo: 1") x 5]
--- error_code eval
[200, 200, 404, 404, 200]
--- response_body_like eval
['"method":"POST","path":"/v1/moderations"',
 '"method":"POST","path":"/v1/chat/completions"',
 quotemeta(main::refused('moderations')),
 quotemeta(main::refused('chat/completions')),
 '"method":"POST","path":"/v1/embeddings"']
--- no_error_log
[error]



=== TEST 8: an unknown operation name fails nginx -t with the file and line
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_operations default chat/completion;
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr/unknown operation "chat\/completion" in "foundry_operations" directive, expected "default" or "chat\/completions", "completions", .*"threads" in \S+nginx\.conf:\d+/



=== TEST 9: a stored response's path is no operation name
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_operations "responses/{id}";
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr/unknown operation "responses\/\{id\}" in "foundry_operations" directive, .* in \S+nginx\.conf:\d+/



=== TEST 10: foundry_operations twice at one level
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_operations default;
        foundry_operations embeddings;
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr/"foundry_operations" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 11: a key's operations allow-list: 403 outside it, the location's set first
--- http_config eval
$::KeysHttp
--- config eval
$::Mock . q{
    location /v1/ {
        foundry_gateway on;
        foundry_keys opskeys;
        foundry_operations default images/generations;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
}
--- pipelined_requests eval
["POST /mock/__mock/reset",
 "POST /v1/embeddings\n{\"model\":\"gpt-4o\",\"input\":\"x\"}",
 "POST /v1/images/generations\n{\"model\":\"gpt-4o\",\"prompt\":\"x\"}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/files\n{}",
 "GET /mock/__mock/stats"]
--- more_headers eval
["",
 "api-key: chat-key",
 "api-key: chat-key",
 "api-key: nothing-key",
 "api-key: chat-key",
 "api-key: images-key",
 ""]
--- error_code eval
[200, 403, 403, 403, 200, 404, 200]
--- response_body_like eval
[$::ResetRe,
 quotemeta(main::forbidden('the key', 'embeddings')),
 quotemeta(main::forbidden('the key', 'images/generations')),
 quotemeta(main::forbidden('the key', 'chat/completions')),
 '"object":"chat\.completion"',
 quotemeta(main::refused('files')),
 quotemeta('{"by_path":{"/v1/chat/completions":1},"requests":1}')]
--- no_error_log
[error]



=== TEST 11b: the refusal is logged at info, naming the key's entry
--- http_config eval
$::KeysHttp
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys opskeys;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/embeddings
{"model":"gpt-4o","input":"x"}
--- more_headers
api-key: chat-key
--- error_code: 403
--- response_body eval
main::forbidden('the key', 'embeddings')
--- error_log
foundry: key "chat-only" may not use operation "embeddings"
--- no_error_log eval
[qr/\[info\].*chat-key/]



=== TEST 12: a key without an operations list, and one listing default and more
--- http_config eval
$::KeysHttp
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys opskeys;
        foundry_operations default images/generations;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
["POST /v1/images/generations\n{\"model\":\"gpt-4o\",\"prompt\":\"x\"}",
 "POST /v1/embeddings\n{\"model\":\"gpt-4o\",\"input\":\"x\"}",
 "POST /v1/images/generations\n{\"model\":\"gpt-4o\",\"prompt\":\"x\"}",
 "POST /v1/responses\n{\"model\":\"gpt-4o\",\"input\":\"x\"}"]
--- more_headers eval
["api-key: any-key\nx-mock-echo: 1",
 "api-key: any-key\nx-mock-echo: 1",
 "api-key: images-key\nx-mock-echo: 1",
 "api-key: images-key\nx-mock-echo: 1"]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"method":"POST","path":"/v1/images/generations"',
 '"method":"POST","path":"/v1/embeddings"',
 '"method":"POST","path":"/v1/images/generations"',
 '"method":"POST","path":"/v1/responses"']
--- no_error_log
[error]



=== TEST 13: a keys file with an unknown operation fails nginx -t
--- http_config
    foundry_keys_zone k:1m file=$TEST_NGINX_KEYS_DIR/ops-bad-name.json;
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr/invalid keys file "\S+ops-bad-name\.json": key #1 \("a"\): unknown operation "chat\/completion" in "operations", expected "default" or "chat\/completions", .* in \S+nginx\.conf:\d+/



=== TEST 14: a keys file with "operations" not an array fails nginx -t
--- http_config
    foundry_keys_zone k:1m file=$TEST_NGINX_KEYS_DIR/ops-bad-type.json;
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr/invalid keys file "\S+ops-bad-type\.json": key #1 \("a"\): "operations" must be an array of operation names in \S+nginx\.conf:\d+/



=== TEST 15: a token's operations allow-list (foundry_jwt_operations): 403 outside it
--- config eval
$::Mock . q{
    location /v1/ {
        foundry_gateway on;
        foundry_jwt_issuer https://hs.test/ audience=api://foundry-gateway
                           secret=$TEST_NGINX_TOKENS_SECRET;
        foundry_jwt_operations claim=roles value=chat
                               operations=chat/completions;
        foundry_jwt_operations claim=roles value=all operations=default;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
}
--- pipelined_requests eval
["POST /mock/__mock/reset",
 "POST /v1/embeddings\n{\"model\":\"gpt-4o\",\"input\":\"x\"}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/embeddings\n{\"model\":\"gpt-4o\",\"input\":\"x\"}",
 "GET /mock/__mock/stats"]
--- more_headers eval
["",
 "Authorization: Bearer $::Tok{chat}",
 "Authorization: Bearer $::Tok{none}",
 "Authorization: Bearer $::Tok{chat}",
 "Authorization: Bearer $::Tok{all}",
 ""]
--- error_code eval
[200, 403, 403, 200, 200, 200]
--- response_body_like eval
[$::ResetRe,
 quotemeta(main::forbidden('the token', 'embeddings')),
 quotemeta(main::forbidden('the token', 'chat/completions')),
 '"object":"chat\.completion"',
 '"object":"list"',
 quotemeta('{"by_path":{"/v1/chat/completions":1,"/v1/embeddings":1},"requests":2}')]
--- no_error_log
[error]



=== TEST 15b: the refusal is logged at info, without the token
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_jwt_issuer https://hs.test/ audience=api://foundry-gateway
                           secret=$TEST_NGINX_TOKENS_SECRET;
        foundry_jwt_operations claim=roles value=chat
                               operations=chat/completions;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/embeddings
{"model":"gpt-4o","input":"x"}
--- more_headers eval
"Authorization: Bearer $::Tok{chat}"
--- error_code: 403
--- response_body eval
main::forbidden('the token', 'embeddings')
--- error_log
foundry: the token may not use operation "embeddings"
--- no_error_log eval
[qr/\[info\].*eyJ/]



=== TEST 16: foundry_jwt_operations with an unknown operation fails nginx -t
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_jwt_issuer https://hs.test/ audience=api://foundry-gateway
                           secret=$TEST_NGINX_TOKENS_SECRET;
        foundry_jwt_operations claim=roles value=x
                               operations=chat/completions,audio;
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr/unknown operation "audio" in "foundry_jwt_operations" directive, .* in \S+nginx\.conf:\d+/



=== TEST 17: foundry_jwt_operations needs its three parameters
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_jwt_issuer https://hs.test/ audience=api://foundry-gateway
                           secret=$TEST_NGINX_TOKENS_SECRET;
        foundry_jwt_operations claim=roles value=x deployments=gpt-4o;
    }
--- request
GET /v1/models
--- must_die
--- error_log eval
qr/invalid parameter "deployments=gpt-4o" in "foundry_jwt_operations" directive in \S+nginx\.conf:\d+/
