# Discovery from upstream data (foundry_discovery_source): every source
# shape (Azure OpenAI's data plane, ARM, OpenAI's /v1/models, another
# gateway in both of its formats), both output formats, list and get;
# merging with static deployments and between sources; filters; routing
# inference calls to discovered deployments; keys; bad source answers;
# configuration errors.
#
# The mock (t/mock/README.md) runs with this deployment table:
#
#     name         model                    version     format
#     gpt-4o       gpt-4o                   2024-11-20  OpenAI
#     gpt-4o-mini  gpt-4o-mini              2024-07-18  OpenAI
#     chat-prod    gpt-4.1                  2025-04-14  OpenAI
#     o3-mini      o3-mini                  2025-01-31  OpenAI
#     llama        Llama-3.3-70B-Instruct   3           Meta
#
# Every block gets these source locations (appended to its config):
#
#     /_src/aoai         the mock's /openai/deployments (Azure data plane)
#     /_src/aoai-doc     the same, set up exactly as docs/directives.md says
#     /_src/arm          the mock's ARM deployment list, with a bearer
#     /_src/arm-nobearer the same without one (401)
#     /_src/openai       the mock's /v1/models
#     /_src/gw-azure     /other/deployments of this server (Azure format)
#     /_src/gw-openai    /other/models of this server (OpenAI format)
#     /_src/file/NAME    t/data/discovery-NAME.json
#     /_src/garbage, /_src/status500, /_src/slow, /_src/cut, /_src/huge,
#     /_src/shape,
#     /_src/not-a-list, /_src/truncated, /_src/empty, /_src/refused
#                        broken answers
#
# and /other/, "another gateway": static remote-a (model gpt-4o, upstream
# oai) and remote-b (Anthropic, no upstream), discovery in both formats.
# The source locations include t/data/discovery-proxy.conf; TEST 28 uses
# a location without it, as the documentation writes one.
#
# Blocks run twice (repeat_each 2) on the same nginx: the second request is
# answered from the list the first one fetched, and a failing source is
# logged once per failure streak (grep_error_log_out per repeat).

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryKeys;
use JSON::PP ();
use Test::Nginx::Socket;

$ENV{TEST_NGINX_DATA_DIR} = cwd() . '/t/data';
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';
$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start(deployments => [
    { name => 'gpt-4o', version => '2024-11-20' },
    { name => 'gpt-4o-mini', version => '2024-07-18' },
    { name => 'chat-prod', model => 'gpt-4.1', version => '2025-04-14' },
    { name => 'o3-mini', version => '2025-01-31' },
    { name => 'llama', model => 'Llama-3.3-70B-Instruct', version => '3',
      format => 'Meta' },
]);

our $HttpConfig = FoundryConf::mock() . <<'_EOC_'

    foundry_discovery_zone disc:1m;
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;

_EOC_
    . FoundryConf::upstreams(qw(aoai v1 oai compat)) . <<'_EOC_';
    foundry_upstream other kind=openai-compatible
                     url=http://127.0.0.1:$TEST_NGINX_SERVER_PORT/other;
_EOC_

our $Sources = <<'_EOC_';

    # --- discovery sources (t/040 preprocessor) ---

    location = /_src/aoai {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://mock/openai/deployments?api-version=2024-10-21;
        proxy_set_header api-key src-key;
        subrequest_output_buffer_size 64k;
    }

    # exactly as docs/directives.md has it (no Content-Length override)
    location = /_src/aoai-doc {
        internal;
        proxy_pass http://mock/openai/deployments?api-version=2024-10-21;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header api-key src-key;
        proxy_pass_request_headers off;
        proxy_pass_request_body off;
        subrequest_output_buffer_size 64k;
    }

    location = /_src/arm {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://mock/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a/deployments?api-version=2024-10-01;
        proxy_set_header Authorization "Bearer token";
        subrequest_output_buffer_size 64k;
    }

    location = /_src/arm-nobearer {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://mock/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a/deployments?api-version=2024-10-01;
        subrequest_output_buffer_size 64k;
    }

    location = /_src/openai {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://mock/v1/models;
        proxy_set_header Authorization "Bearer src-token";
        subrequest_output_buffer_size 64k;
    }

    location = /_src/gw-azure {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/other/deployments;
        subrequest_output_buffer_size 64k;
    }

    location = /_src/gw-openai {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/other/models;
        subrequest_output_buffer_size 64k;
    }

    location ~ ^/_src/file/([a-z]+)$ {
        internal;
        alias $TEST_NGINX_DATA_DIR/discovery-$1.json;
        subrequest_output_buffer_size 64k;
    }

    location = /_src/garbage {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://mock/openai/deployments?api-version=2024-10-21;
        proxy_set_header x-mock-garbage 1;
        subrequest_output_buffer_size 64k;
    }

    location = /_src/status500 {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://mock/openai/deployments?api-version=2024-10-21;
        proxy_set_header x-mock-status 500;
        subrequest_output_buffer_size 64k;
    }

    location = /_src/slow {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://mock/openai/deployments?api-version=2024-10-21;
        proxy_set_header x-mock-delay-ms 3000;
        proxy_read_timeout 300ms;
        subrequest_output_buffer_size 64k;
    }

    location = /_src/cut {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://mock/openai/deployments?api-version=2024-10-21;
        proxy_set_header x-mock-reset-after 20;
        subrequest_output_buffer_size 64k;
    }

    location = /_src/huge {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://mock/openai/deployments?api-version=2024-10-21;
        subrequest_output_buffer_size 256;
    }

    location = /_src/refused {
        include $TEST_NGINX_DATA_DIR/discovery-proxy.conf;
        proxy_pass http://127.0.0.1:1/openai/deployments;
        subrequest_output_buffer_size 64k;
    }

    location = /_src/shape {
        internal;
        return 200 '{"x":1}';
    }

    location = /_src/not-a-list {
        internal;
        return 200 '{"data":{"id":"gpt-4o"},"value":"gpt-4o"}';
    }

    location = /_src/truncated {
        internal;
        return 200 '{"data":[{"id":';
    }

    location = /_src/empty {
        internal;
        return 200 '';
    }

    # "another gateway"
    location /other/ {
        foundry_gateway on;
        foundry_model remote-a model=gpt-4o version=2024-11-20 created=5
                      upstream=oai;
        foundry_model remote-b model=claude-sonnet-4-5 format=Anthropic
                      version=20250929 created=5;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
_EOC_


# the mock's x-mock-echo answer as "METHOD /path?query", the upstream
# credentials, and the body; anything else is left alone

sub main::echo_summary {
    my ($text) = @_;

    return $text unless $text =~ /\A\{"body":/;

    my $e = eval { JSON::PP->new->utf8->decode($text) };
    return $text unless ref $e eq 'HASH' && ref $e->{headers} eq 'HASH';

    my $out = "$e->{method} $e->{path}"
              . (length $e->{query} ? "?$e->{query}" : '') . "\n";

    for my $name (qw(api-key authorization)) {
        my $v = $e->{headers}{$name};
        $out .= "$name: $v\n" if defined $v;
    }

    return $out . "$e->{body}\n";
}


# the TAP tests a block makes, as both runners count them

sub main::count_tests {
    my $n = 0;

    for my $b (@_) {
        my $reqs = $b->pipelined_requests ? scalar @{ $b->pipelined_requests }
                                          : 1;
        my $per = 1;

        if (!defined $b->must_die) {
            $per++ if defined $b->response_body
                      || defined $b->response_body_like;

            if (defined(my $h = $b->response_headers)) {
                $h = $h->[0] if ref $h;
                $per += grep { /\S/ } split /\n/, $h;
            }
        }

        for my $sec (qw(error_log no_error_log)) {
            my $v = $b->$sec;
            next unless defined $v;
            $per += ref $v eq 'ARRAY' ? @$v
                  : ref $v ? 1
                  : grep { /\S/ } split /\n/, $v;
        }

        $per++ if defined $b->grep_error_log;

        $n += $per * $reqs;
    }

    return $n;
}


add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $HttpConfig);
    }

    if (defined $block->config && !defined $block->must_die) {
        $block->set_value('config', $block->config . $Sources);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', \&main::echo_summary);
    }
});

repeat_each(2);

plan tests => repeat_each() * main::count_tests(blocks());

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Azure OpenAI data plane source, Azure-format list: id is the name, model kept, format OpenAI, version empty
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/aoai zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":""}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":""}}},{"name":"chat-prod","properties":{"model":{"format":"OpenAI","name":"gpt-4.1","version":""}}},{"name":"o3-mini","properties":{"model":{"format":"OpenAI","name":"o3-mini","version":""}}},{"name":"llama","properties":{"model":{"format":"OpenAI","name":"Llama-3.3-70B-Instruct","version":""}}}]}
--- no_error_log
[error]



=== TEST 2: Azure OpenAI data plane source, OpenAI-format list
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/aoai zone=disc upstream=aoai;
    }
--- request
GET /v1/models
--- response_headers
Content-Type: application/json
--- response_body chomp
{"object":"list","data":[{"id":"gpt-4o","object":"model","created":0,"owned_by":"system"},{"id":"gpt-4o-mini","object":"model","created":0,"owned_by":"system"},{"id":"chat-prod","object":"model","created":0,"owned_by":"system"},{"id":"o3-mini","object":"model","created":0,"owned_by":"system"},{"id":"llama","object":"model","created":0,"owned_by":"system"}]}
--- no_error_log
[error]



=== TEST 3: Azure OpenAI data plane source, get in both formats, case-insensitive, and 404 for a name in no list
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/aoai zone=disc upstream=aoai;
    }
--- pipelined_requests eval
["GET /gw/deployments/chat-prod", "GET /gw/models/chat-prod",
 "GET /gw/deployments/CHAT-PROD", "GET /gw/deployments/gpt-5"]
--- error_code eval
[200, 200, 200, 404]
--- response_body eval
['{"name":"chat-prod","properties":{"model":{"format":"OpenAI","name":"gpt-4.1","version":""}}}',
 '{"id":"chat-prod","object":"model","created":0,"owned_by":"system"}',
 '{"name":"chat-prod","properties":{"model":{"format":"OpenAI","name":"gpt-4.1","version":""}}}',
 '{"error":{"code":"DeploymentNotFound","message":"the deployment \"gpt-5\" does not exist on this gateway","type":"not_found_error"}}']
--- no_error_log
[error]



=== TEST 4: ARM source (with the bearer), Azure-format list: format and version kept
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/arm zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_body chomp
{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}},{"name":"chat-prod","properties":{"model":{"format":"OpenAI","name":"gpt-4.1","version":"2025-04-14"}}},{"name":"o3-mini","properties":{"model":{"format":"OpenAI","name":"o3-mini","version":"2025-01-31"}}},{"name":"llama","properties":{"model":{"format":"Meta","name":"Llama-3.3-70B-Instruct","version":"3"}}}]}
--- no_error_log
[error]



=== TEST 5: ARM source, OpenAI-format list and get (the name, not the ARM id)
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/arm zone=disc upstream=aoai;
    }
--- pipelined_requests eval
["GET /v1/models", "GET /v1/models/llama"]
--- response_body eval
['{"object":"list","data":[{"id":"gpt-4o","object":"model","created":0,"owned_by":"system"},{"id":"gpt-4o-mini","object":"model","created":0,"owned_by":"system"},{"id":"chat-prod","object":"model","created":0,"owned_by":"system"},{"id":"o3-mini","object":"model","created":0,"owned_by":"system"},{"id":"llama","object":"model","created":0,"owned_by":"system"}]}',
 '{"id":"llama","object":"model","created":0,"owned_by":"system"}']
--- no_error_log
[error]



=== TEST 6: ARM source without the bearer: the 401 is a failure, the static list is answered
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/arm-nobearer zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/arm-nobearer\" failed: the source did not answer 200, the last good list is kept\n", ""]
--- no_error_log
[alert]
[crit]



=== TEST 7: OpenAI /v1/models source: the id is name and model, in both formats
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/openai zone=disc upstream=oai;
    }
--- pipelined_requests eval
["GET /gw/deployments", "GET /gw/models", "GET /gw/deployments/chat-prod"]
--- response_body eval
['{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":""}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":""}}},{"name":"chat-prod","properties":{"model":{"format":"OpenAI","name":"chat-prod","version":""}}},{"name":"o3-mini","properties":{"model":{"format":"OpenAI","name":"o3-mini","version":""}}},{"name":"llama","properties":{"model":{"format":"OpenAI","name":"llama","version":""}}}]}',
 '{"object":"list","data":[{"id":"gpt-4o","object":"model","created":0,"owned_by":"system"},{"id":"gpt-4o-mini","object":"model","created":0,"owned_by":"system"},{"id":"chat-prod","object":"model","created":0,"owned_by":"system"},{"id":"o3-mini","object":"model","created":0,"owned_by":"system"},{"id":"llama","object":"model","created":0,"owned_by":"system"}]}',
 '{"name":"chat-prod","properties":{"model":{"format":"OpenAI","name":"chat-prod","version":""}}}']
--- no_error_log
[error]



=== TEST 8: another gateway's Azure-format list as a source: model, format and version kept, in both formats
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/gw-azure zone=disc upstream=other;
    }
--- pipelined_requests eval
["GET /gw/deployments", "GET /gw/models", "GET /gw/deployments/remote-b"]
--- response_body eval
['{"value":[{"name":"remote-a","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"remote-b","properties":{"model":{"format":"Anthropic","name":"claude-sonnet-4-5","version":"20250929"}}}]}',
 '{"object":"list","data":[{"id":"remote-a","object":"model","created":0,"owned_by":"system"},{"id":"remote-b","object":"model","created":0,"owned_by":"system"}]}',
 '{"name":"remote-b","properties":{"model":{"format":"Anthropic","name":"claude-sonnet-4-5","version":"20250929"}}}']
--- no_error_log
[error]



=== TEST 9: another gateway's OpenAI-format list as a source: the id is name and model, format OpenAI, version empty
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/gw-openai zone=disc upstream=other;
    }
--- pipelined_requests eval
["GET /gw/deployments", "GET /gw/models/remote-b"]
--- response_body eval
['{"value":[{"name":"remote-a","properties":{"model":{"format":"OpenAI","name":"remote-a","version":""}}},{"name":"remote-b","properties":{"model":{"format":"OpenAI","name":"remote-b","version":""}}}]}',
 '{"id":"remote-b","object":"model","created":0,"owned_by":"system"}']
--- no_error_log
[error]



=== TEST 10: a list with odd entries: name over id, nested and non-object items ignored, unservable names skipped and counted
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/file/edge zone=disc;
    }
--- request
GET /gw/deployments
--- response_body chomp
{"value":[{"name":"mistral-large","properties":{"model":{"format":"Mistral AI","name":"Mistral-Large-2411","version":"2411"}}},{"name":"arm-id-first","properties":{"model":{"format":"OpenAI","name":"arm-id-first","version":""}}},{"name":"name-first","properties":{"model":{"format":"OpenAI","name":"name-first","version":""}}},{"name":"only-id","properties":{"model":{"format":"OpenAI","name":"m-1","version":""}}},{"name":"nested","properties":{"model":{"format":"OpenAI","name":"m-2","version":""}}},{"name":"quoted","properties":{"model":{"format":"OpenAI","name":"modèle \"x\"","version":"v/1"}}}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*": \d+ deployments with names this gateway cannot serve were skipped/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/file/edge\": 3 deployments with names this gateway cannot serve were skipped\n", ""]
--- no_error_log
[error]



=== TEST 11: static and discovered: static first, a static deployment wins over a discovered one of the same name (case-insensitively)
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model GPT-4o model=gpt-4o version=static created=1
                      upstream=oai;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/arm zone=disc upstream=aoai;
    }
--- pipelined_requests eval
["GET /gw/deployments", "GET /gw/models", "GET /gw/deployments/gpt-4o"]
--- response_body eval
['{"value":[{"name":"GPT-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"static"}}},{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}},{"name":"chat-prod","properties":{"model":{"format":"OpenAI","name":"gpt-4.1","version":"2025-04-14"}}},{"name":"o3-mini","properties":{"model":{"format":"OpenAI","name":"o3-mini","version":"2025-01-31"}}},{"name":"llama","properties":{"model":{"format":"Meta","name":"Llama-3.3-70B-Instruct","version":"3"}}}]}',
 '{"object":"list","data":[{"id":"GPT-4o","object":"model","created":1,"owned_by":"system"},{"id":"static-one","object":"model","created":1,"owned_by":"system"},{"id":"gpt-4o-mini","object":"model","created":0,"owned_by":"system"},{"id":"chat-prod","object":"model","created":0,"owned_by":"system"},{"id":"o3-mini","object":"model","created":0,"owned_by":"system"},{"id":"llama","object":"model","created":0,"owned_by":"system"}]}',
 '{"name":"GPT-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"static"}}}']
--- no_error_log
[error]



=== TEST 12: two sources: the first wins on a name clash, the second's others follow
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/file/second zone=disc upstream=oai;
        foundry_discovery_source /_src/openai zone=disc upstream=oai;
    }
--- request
GET /gw/deployments
--- response_body chomp
{"value":[{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}},{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"second-model","version":""}}},{"name":"only-second","properties":{"model":{"format":"OpenAI","name":"m-second","version":""}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":""}}},{"name":"chat-prod","properties":{"model":{"format":"OpenAI","name":"chat-prod","version":""}}},{"name":"o3-mini","properties":{"model":{"format":"OpenAI","name":"o3-mini","version":""}}},{"name":"llama","properties":{"model":{"format":"OpenAI","name":"llama","version":""}}}]}
--- no_error_log
[error]



=== TEST 13: two sources the other way round: the mock's gpt-4o wins
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/arm zone=disc upstream=aoai;
        foundry_discovery_source /_src/file/second zone=disc upstream=oai;
    }
--- pipelined_requests eval
["GET /gw/deployments", "GET /gw/deployments/gpt-4o", "GET /gw/deployments/only-second"]
--- response_body eval
['{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}},{"name":"chat-prod","properties":{"model":{"format":"OpenAI","name":"gpt-4.1","version":"2025-04-14"}}},{"name":"o3-mini","properties":{"model":{"format":"OpenAI","name":"o3-mini","version":"2025-01-31"}}},{"name":"llama","properties":{"model":{"format":"Meta","name":"Llama-3.3-70B-Instruct","version":"3"}}},{"name":"only-second","properties":{"model":{"format":"OpenAI","name":"m-second","version":""}}}]}',
 '{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}}',
 '{"name":"only-second","properties":{"model":{"format":"OpenAI","name":"m-second","version":""}}}']
--- no_error_log
[error]



=== TEST 14: two sources with names that differ only in case: the first one's is listed, as routing finds it
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/file/second zone=disc upstream=oai;
        foundry_discovery_source /_src/file/case zone=disc upstream=oai;
    }
--- pipelined_requests eval
["GET /gw/models", "GET /gw/models/GPT-4O"]
--- response_body eval
['{"object":"list","data":[{"id":"gpt-4o","object":"model","created":0,"owned_by":"system"},{"id":"only-second","object":"model","created":0,"owned_by":"system"},{"id":"dup","object":"model","created":0,"owned_by":"system"}]}',
 '{"id":"gpt-4o","object":"model","created":0,"owned_by":"system"}']
--- no_error_log
[error]



=== TEST 15: a name twice in one source: listed once
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/file/case zone=disc upstream=oai;
    }
--- request
GET /gw/models
--- response_body chomp
{"object":"list","data":[{"id":"GPT-4O","object":"model","created":0,"owned_by":"system"},{"id":"dup","object":"model","created":0,"owned_by":"system"}]}
--- no_error_log
[error]



=== TEST 16: filters: include and exclude on discovered names, static deployments not filtered
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-mini created=1;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/arm zone=disc upstream=aoai;
        foundry_discovery_filter include=^gpt- include=^o[0-9]
                                 exclude=-mini$;
    }
--- pipelined_requests eval
["GET /gw/models", "GET /gw/models/gpt-4o-mini", "GET /gw/models/llama", "GET /gw/models/gpt-4o"]
--- error_code eval
[200, 404, 404, 200]
--- response_body eval
['{"object":"list","data":[{"id":"static-mini","object":"model","created":1,"owned_by":"system"},{"id":"gpt-4o","object":"model","created":0,"owned_by":"system"}]}',
 '{"error":{"code":"DeploymentNotFound","message":"the deployment \"gpt-4o-mini\" does not exist on this gateway","type":"not_found_error"}}',
 '{"error":{"code":"DeploymentNotFound","message":"the deployment \"llama\" does not exist on this gateway","type":"not_found_error"}}',
 '{"id":"gpt-4o","object":"model","created":0,"owned_by":"system"}']
--- no_error_log
[error]



=== TEST 17: filters: exclude only, inherited from the server level
--- config
    foundry_discovery_filter exclude=^gpt-4o exclude=^llama$;

    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/arm zone=disc upstream=aoai;
    }
--- request
GET /gw/models
--- response_body chomp
{"object":"list","data":[{"id":"chat-prod","object":"model","created":0,"owned_by":"system"},{"id":"o3-mini","object":"model","created":0,"owned_by":"system"}]}
--- no_error_log
[error]



=== TEST 18: routing, deployment in the path: a discovered deployment goes to the source's azure-openai upstream by its listed name
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_inference_api_version 2024-10-21;
        foundry_discovery_source /_src/arm zone=disc upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /gw/deployments/chat-prod/chat/completions?api-version=2024-10-21
{"messages":[{"role":"user","content":"Hi"}]}
--- more_headers
x-mock-echo: 1
Content-Type: application/json
--- response_body
POST /aoai/openai/deployments/chat-prod/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
{"messages":[{"role":"user","content":"Hi"}]}
--- no_error_log
[error]



=== TEST 19: routing, deployment in the body: openai upstream, the body unchanged
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_discovery_source /_src/openai zone=disc upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"o3-mini","messages":[]}
--- more_headers
x-mock-echo: 1
Content-Type: application/json
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
{"model":"o3-mini","messages":[]}
--- no_error_log
[error]



=== TEST 20: routing, deployment in the body, case-insensitive: azure-openai-v1 upstream, the body's model is the listed name (not the model)
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_discovery_source /_src/arm zone=disc upstream=v1;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/embeddings
{"model":"CHAT-PROD","input":"x"}
--- more_headers
x-mock-echo: 1
Content-Type: application/json
--- response_body
POST /res/openai/v1/embeddings
api-key: v1-key
{"model":"chat-prod","input":"x"}
--- no_error_log
[error]



=== TEST 21: routing: openai-compatible upstream of a data plane source
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_discovery_source /_src/aoai zone=disc upstream=compat;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"llama","messages":[]}
--- more_headers
x-mock-echo: 1
Content-Type: application/json
--- response_body
POST /compat/api/chat/completions
{"model":"llama","messages":[]}
--- no_error_log
[error]



=== TEST 22: routing: a static deployment wins over a discovered one; two sources: the first one's upstream
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model chat-prod upstream=compat;
        foundry_discovery_source /_src/arm zone=disc upstream=aoai;
        foundry_discovery_source /_src/file/second zone=disc upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
["POST /gw/deployments/chat-prod/chat/completions\n{}",
 "POST /gw/deployments/gpt-4o/chat/completions\n{}",
 "POST /gw/deployments/only-second/chat/completions\n{}"]
--- more_headers
x-mock-echo: 1
--- response_body eval
["POST /compat/api/chat/completions\n{\"model\":\"chat-prod\"}\n",
 "POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview\napi-key: aoai-key\n{}\n",
 "POST /v1/chat/completions\nauthorization: Bearer sk-oai\n{\"model\":\"only-second\"}\n"]
--- no_error_log
[error]



=== TEST 23: routing through another gateway: discovered from its list, its upstream is the other gateway, which routes its static deployment
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_discovery_source /_src/gw-azure zone=disc upstream=other;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"remote-a","messages":[]}
--- more_headers
x-mock-echo: 1
Content-Type: application/json
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
{"model":"gpt-4o","messages":[]}
--- no_error_log
[error]



=== TEST 24: routing: a source without upstream= lists its deployments, inference to them is a 502 NoUpstream
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/file/second zone=disc;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
["GET /v1/models", "POST /v1/chat/completions\n{\"model\":\"only-second\"}"]
--- more_headers
x-mock-echo: 1
--- error_code eval
[200, 502]
--- response_body eval
['{"object":"list","data":[{"id":"gpt-4o","object":"model","created":0,"owned_by":"system"},{"id":"only-second","object":"model","created":0,"owned_by":"system"}]}',
 '{"error":{"code":"NoUpstream","message":"the deployment \"only-second\" has no model upstream on this gateway","type":"server_error"}}']



=== TEST 25: routing: names in no list are a 404, in the path and in the body
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_discovery_source /_src/arm zone=disc upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }

    location /v1/ {
        foundry_gateway on;
        foundry_discovery_source /_src/arm zone=disc upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
["POST /gw/deployments/gpt-5/chat/completions\n{}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-5\"}"]
--- more_headers
x-mock-echo: 1
--- error_code eval
[404, 404]
--- response_body eval
['{"error":{"code":"DeploymentNotFound","message":"the deployment \"gpt-5\" does not exist on this gateway (it reads the deployment in the path)","type":"not_found_error"}}',
 '{"error":{"code":"DeploymentNotFound","message":"the deployment \"gpt-5\" does not exist on this gateway (it reads the deployment in the body\'s \"model\")","type":"not_found_error"}}']
--- no_error_log
[error]



=== TEST 26: routing: a filtered-out discovered deployment is a 404
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_discovery_source /_src/arm zone=disc upstream=oai;
        foundry_discovery_filter exclude=^llama$;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
["POST /v1/chat/completions\n{\"model\":\"llama\"}",
 "POST /v1/chat/completions\n{\"model\":\"o3-mini\"}"]
--- more_headers
x-mock-echo: 1
--- error_code eval
[404, 200]
--- response_body eval
['{"error":{"code":"DeploymentNotFound","message":"the deployment \"llama\" does not exist on this gateway (it reads the deployment in the body\'s \"model\")","type":"not_found_error"}}',
 "POST /v1/chat/completions\nauthorization: Bearer sk-oai\n{\"model\":\"o3-mini\"}\n"]
--- no_error_log
[error]



=== TEST 27: routing while the source fails: static deployments work, discovered names are a 404
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model static-one upstream=oai;
        foundry_discovery_source /_src/status500 zone=disc upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
["POST /v1/chat/completions\n{\"model\":\"static-one\"}",
 "POST /v1/chat/completions\n{\"model\":\"o3-mini\"}"]
--- more_headers
x-mock-echo: 1
--- error_code eval
[200, 404]
--- response_body eval
["POST /v1/chat/completions\nauthorization: Bearer sk-oai\n{\"model\":\"static-one\"}\n",
 '{"error":{"code":"DeploymentNotFound","message":"the deployment \"o3-mini\" does not exist on this gateway (it reads the deployment in the body\'s \"model\")","type":"not_found_error"}}']
--- no_error_log
[alert]
[crit]



=== TEST 28: routing, a source location exactly as documented: a POST that triggers the first fetch is answered
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_discovery_source /_src/aoai-doc zone=disc upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"o3-mini","messages":[]}
--- more_headers
x-mock-echo: 1
Content-Type: application/json
--- timeout: 5
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
{"model":"o3-mini","messages":[]}
--- no_error_log
[error]



=== TEST 29: keys: discovery lists only the static and discovered deployments the key's allow-list permits
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model o1-static created=1;
        foundry_model static-one created=1;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/arm zone=disc upstream=aoai;
    }
--- request
GET /gw/models
--- more_headers
api-key: pattern-key
--- response_body chomp
{"object":"list","data":[{"id":"o1-static","object":"model","created":1,"owned_by":"system"},{"id":"gpt-4o","object":"model","created":0,"owned_by":"system"},{"id":"o3-mini","object":"model","created":0,"owned_by":"system"}]}
--- no_error_log
[error]



=== TEST 30: keys: get of a discovered deployment the key may not use is a 404, of one it may use a 200
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/arm zone=disc upstream=aoai;
    }
--- pipelined_requests eval
["GET /gw/deployments", "GET /gw/deployments/gpt-4o", "GET /gw/deployments/gpt-4o-mini"]
--- more_headers
api-key: limited-key
--- error_code eval
[200, 404, 200]
--- response_body eval
['{"value":[{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}]}',
 '{"error":{"code":"DeploymentNotFound","message":"the deployment \"gpt-4o\" does not exist on this gateway","type":"not_found_error"}}',
 '{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}']
--- no_error_log
[error]



=== TEST 31: keys: inference to a discovered deployment the key may use is routed
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_discovery_source /_src/arm zone=disc upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini"}
--- more_headers
api-key: limited-key
x-mock-echo: 1
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
{"model":"gpt-4o-mini"}
--- no_error_log
[error]



=== TEST 32: keys: inference to a discovered deployment the key may not use is a 403 naming it, as for a static one
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_model static-one upstream=oai;
        foundry_discovery_source /_src/arm zone=disc upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
["POST /v1/chat/completions\n{\"model\":\"static-one\"}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\"}"]
--- more_headers
api-key: limited-key
x-mock-echo: 1
--- error_code eval
[403, 403]
--- response_body eval
['{"error":{"code":"Forbidden","message":"the key may not use the deployment \"static-one\"","type":"permission_error"}}',
 '{"error":{"code":"Forbidden","message":"the key may not use the deployment \"gpt-4o\"","type":"permission_error"}}']



=== TEST 33: bad source answer: not JSON
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/garbage zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/garbage\" failed: the source's answer is not valid JSON, the last good list is kept\n", ""]
--- no_error_log
[alert]
[crit]



=== TEST 34: bad source answer: JSON of the wrong shape
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/shape zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/shape\" failed: the source's answer has no \"data\" or \"value\" list, the last good list is kept\n", ""]
--- no_error_log
[alert]
[crit]



=== TEST 35: bad source answer: "data" and "value" that are not lists
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/not-a-list zone=disc upstream=aoai;
    }
--- request
GET /gw/models
--- response_headers
Content-Type: application/json
--- response_body chomp
{"object":"list","data":[{"id":"static-one","object":"model","created":1,"owned_by":"system"}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/not-a-list\" failed: the source's answer has no \"data\" or \"value\" list, the last good list is kept\n", ""]
--- no_error_log
[alert]
[crit]



=== TEST 36: bad source answer: larger than subrequest_output_buffer_size
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/huge zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/huge\" failed: the source's answer is too large, the last good list is kept\n", ""]
--- no_error_log
[alert]
[crit]



=== TEST 37: bad source answer: a 500
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/status500 zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/status500\" failed: the source did not answer 200, the last good list is kept\n", ""]
--- no_error_log
[alert]
[crit]



=== TEST 38: bad source answer: too slow (proxy_read_timeout)
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/slow zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/slow\" failed: the source did not answer 200, the last good list is kept\n", ""]
--- no_error_log
[alert]
[crit]



=== TEST 39: bad source answer: truncated JSON
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/truncated zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/truncated\" failed: the source's answer is not valid JSON, the last good list is kept\n", ""]
--- no_error_log
[alert]
[crit]



=== TEST 40: bad source answer: the connection closes after 20 bytes of the body
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/cut zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/cut\" failed: the source's answer is not valid JSON, the last good list is kept\n", ""]
--- no_error_log
[alert]
[crit]



=== TEST 41: bad source answer: an empty body
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/empty zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/empty\" failed: the source's answer is empty, the last good list is kept\n", ""]
--- no_error_log
[alert]
[crit]



=== TEST 42: bad source: nothing listens
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model static-one created=1;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
        foundry_discovery_source /_src/refused zone=disc upstream=aoai;
    }
--- request
GET /gw/deployments
--- response_headers
Content-Type: application/json
--- response_body chomp
{"value":[{"name":"static-one","properties":{"model":{"format":"OpenAI","name":"static-one","version":""}}}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/refused\" failed: the source did not answer 200, the last good list is kept\n", ""]
--- no_error_log
[alert]
[crit]



=== TEST 43: two sources, one failing: the other's list is answered
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/garbage zone=disc upstream=aoai;
        foundry_discovery_source /_src/file/second zone=disc upstream=oai;
    }
--- request
GET /gw/models
--- response_body chomp
{"object":"list","data":[{"id":"gpt-4o","object":"model","created":0,"owned_by":"system"},{"id":"only-second","object":"model","created":0,"owned_by":"system"}]}
--- grep_error_log eval
qr/foundry: discovery source "[^"]*" failed: [^,]*, the last good list is kept/
--- grep_error_log_out eval
["foundry: discovery source \"/_src/garbage\" failed: the source's answer is not valid JSON, the last good list is kept\n", ""]



=== TEST 44: configuration: a zone that is not declared
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_discovery_source /_src/aoai zone=nope;
    }
--- must_die
--- error_log
unknown foundry_discovery_zone "nope"



=== TEST 45: configuration: a zone of another kind
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_discovery_source /_src/aoai zone=keys;
    }
--- must_die
--- error_log
unknown foundry_discovery_zone "keys"



=== TEST 46: configuration: no zone=
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_discovery_source /_src/aoai upstream=aoai;
    }
--- must_die
--- error_log
"foundry_discovery_source" directive needs "zone="



=== TEST 47: configuration: an unknown upstream
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_discovery_source /_src/aoai zone=disc upstream=nope;
    }
--- must_die
--- error_log
unknown foundry_upstream "nope" of discovery source "/_src/aoai"



=== TEST 48: configuration: a uri that is not a path
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_discovery_source _src/aoai zone=disc;
    }
--- must_die
--- error_log
invalid uri "_src/aoai" in "foundry_discovery_source" directive, it must be the path of an internal location



=== TEST 49: configuration: a uri with arguments
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_discovery_source /_src/aoai?api-version=1 zone=disc;
    }
--- must_die
--- error_log
invalid uri "/_src/aoai?api-version=1" in "foundry_discovery_source" directive



=== TEST 50: configuration: a ttl that is not a time
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_discovery_source /_src/aoai zone=disc ttl=soon;
    }
--- must_die
--- error_log
invalid value "ttl=soon" in "foundry_discovery_source" directive



=== TEST 51: configuration: a zero ttl
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_discovery_source /_src/aoai zone=disc ttl=0s;
    }
--- must_die
--- error_log
invalid value "ttl=0s" in "foundry_discovery_source" directive



=== TEST 52: configuration: an unknown parameter
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_discovery_source /_src/aoai zone=disc refresh=1m;
    }
--- must_die
--- error_log
invalid parameter "refresh=1m" in "foundry_discovery_source" directive



=== TEST 53: configuration: a filter regex that does not compile
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_discovery_source /_src/aoai zone=disc;
        foundry_discovery_filter include=^gpt-( ;
    }
--- must_die
--- error_log eval
qr/pcre2?_compile\(\) failed: missing (closing parenthesis|\)) in "\^gpt-\("/



=== TEST 54: configuration: an unknown filter parameter
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_discovery_source /_src/aoai zone=disc;
        foundry_discovery_filter match=^gpt-;
    }
--- must_die
--- error_log
invalid parameter "match=^gpt-" in "foundry_discovery_filter" directive, expected "include=" or "exclude="



=== TEST 55: configuration: two filter directives in one location
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_discovery_source /_src/aoai zone=disc;
        foundry_discovery_filter include=^gpt-;
        foundry_discovery_filter exclude=-mini$;
    }
--- must_die
--- error_log
"foundry_discovery_filter" directive is duplicate



=== TEST 56: configuration: a zone without a size
--- http_config
    foundry_discovery_zone disc;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- must_die
--- error_log
invalid zone "disc" in "foundry_discovery_zone" directive, expected name:size



=== TEST 57: configuration: a zone too small
--- http_config
    foundry_discovery_zone disc:1k;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- must_die
--- error_log
zone "disc:1k" is too small



=== TEST 58: configuration: a zone declared twice
--- http_config
    foundry_discovery_zone disc:1m;
    foundry_discovery_zone disc:1m;
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
    }
--- must_die
--- error_log
duplicate zone "disc"



=== TEST 59: configuration: foundry_discovery_zone outside http
--- config
    location /gw/ {
        foundry_discovery_zone other:1m;
    }
--- must_die
--- error_log
"foundry_discovery_zone" directive is not allowed here
