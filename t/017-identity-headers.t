# The agent service's identity headers (x-ms-foundry-agent-id,
# x-ms-foundry-project-id, openai-project, x-ms-foundry-model-id) and the
# W3C trace context (traceparent): the variables, refused values, a
# generated traceparent (foundry_traceparent on) and what reaches the
# upstream through foundry_proxy_params, per-agent limits
# (foundry_limit key=$foundry_agent_id), and metric labels bounded per
# zone (foundry_metrics_zone labels= label_values=).  The JSON access log
# of conf.d/json-access-log.conf is tested in t/050-examples.t.

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';

our $Vars = 'agent=[$foundry_agent_id] project_id=[$foundry_project_id] '
    . 'openai=[$foundry_openai_project] project=[$foundry_project] '
    . 'model=[$foundry_model_id] tp=[$foundry_traceparent] '
    . 'trace=[$foundry_trace_id]';

our $Chat = "POST /v1/chat/completions\n"
            . '{"model":"gpt-4o","messages":[]}';

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config',
            FoundryConf::mock() . FoundryConf::upstreams('oai'));
    }
});

plan tests => repeat_each() * (2 * blocks()) + 27;

no_shuffle();

run_tests();

__DATA__

=== TEST 1: the variables, from the headers
--- request
GET /vars
--- config eval
"location = /vars { return 200 \"$main::Vars\\n\"; }"
--- more_headers
x-ms-foundry-agent-id: asst_abc123
x-ms-foundry-project-id: /subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/projects/p1
openai-project: proj_9
x-ms-foundry-model-id: gpt-4o@2024-11-20
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
--- response_body
agent=[asst_abc123] project_id=[/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/projects/p1] openai=[proj_9] project=[/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/projects/p1] model=[gpt-4o@2024-11-20] tp=[00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01] trace=[4bf92f3577b34da6a3ce929d0e0e4736]



=== TEST 2: $foundry_project falls back on openai-project; nothing without headers
--- config eval
"location = /vars { return 200 \"$main::Vars\\n\"; }"
--- request
GET /vars
--- more_headers
openai-project: proj_9
--- response_body
agent=[] project_id=[] openai=[proj_9] project=[proj_9] model=[] tp=[] trace=[]



=== TEST 3: values that are not identifiers, traceparents that are not valid: empty
--- config eval
"location = /vars { return 200 \"$main::Vars\\n\"; }"
--- request
GET /vars
--- more_headers eval
"x-ms-foundry-agent-id: asst \"x\"\n"
. "x-ms-foundry-project-id: " . ('p' x 257) . "\n"
. "openai-project: a,b\n"
. "x-ms-foundry-model-id: m\\\\n\n"
. "traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01\n"
--- response_body
agent=[] project_id=[] openai=[] project=[] model=[] tp=[] trace=[]



=== TEST 4: other invalid traceparents: uppercase, version ff, zero parent, version 00 too long
--- config eval
"location = /vars { return 200 \"tp=[\$foundry_traceparent]\\n\"; }"
--- pipelined_requests eval
["GET /vars", "GET /vars", "GET /vars", "GET /vars", "GET /vars"]
--- more_headers eval
["traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
 "traceparent: ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
 "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
 "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
 "traceparent: 01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"]
--- response_body eval
["tp=[]\n", "tp=[]\n", "tp=[]\n", "tp=[]\n",
 "tp=[01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future]\n"]



=== TEST 5: foundry_traceparent on: one made when none is valid, the same all the request
--- config
    foundry_traceparent on;
    location = /vars {
        return 200 "tp=[$foundry_traceparent] again=[$foundry_traceparent] trace=[$foundry_trace_id]\n";
    }
--- request
GET /vars
--- more_headers
traceparent: not-a-traceparent
--- response_body_like: ^tp=\[00-([0-9a-f]{32})-[0-9a-f]{16}-01\] again=\[(00-\1-[0-9a-f]{16}-01)\] trace=\[\1\]\n$



=== TEST 6: a valid traceparent is kept with foundry_traceparent on
--- config
    foundry_traceparent on;
    location = /vars { return 200 "tp=[$foundry_traceparent]\n"; }
--- request
GET /vars
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00
--- response_body
tp=[00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00]



=== TEST 7: the upstream gets the caller's traceparent through foundry_proxy_params
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request eval
$main::Chat
--- more_headers
x-mock-echo: 1
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
--- response_body_like: "traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"



=== TEST 8: foundry_traceparent on: the upstream gets a new one for an invalid one
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_traceparent on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
        add_header x-trace $foundry_trace_id always;
    }
--- request eval
$main::Chat
--- more_headers
x-mock-echo: 1
traceparent: 00-zz
--- response_headers_like
x-trace: ^[0-9a-f]{32}$
--- response_body_like: "traceparent":"00-[0-9a-f]{32}-[0-9a-f]{16}-01"



=== TEST 9: per-agent limits: key=$foundry_agent_id
--- http_config eval
FoundryConf::mock() . FoundryConf::upstreams('oai')
. "    foundry_limit_zone agents:1m;\n"
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=agents key=$foundry_agent_id rpm=1;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[$main::Chat, $main::Chat, $main::Chat, $main::Chat]
--- more_headers eval
["x-ms-foundry-agent-id: asst_a", "x-ms-foundry-agent-id: asst_a",
 "x-ms-foundry-agent-id: asst_b", "x-ms-foundry-agent-id: asst a"]
--- error_code eval
[200, 429, 200, 200]
--- response_body_like eval
['"object":"chat.completion"', '"code":"RateLimitExceeded"',
 '"object":"chat.completion"', '"object":"chat.completion"']



=== TEST 10: metric labels: agent and project, at most label_values values each
--- http_config eval
FoundryConf::mock() . FoundryConf::upstreams('oai')
. "    foundry_metrics_zone m:1m labels=agent,project label_values=2;\n"
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
    location = /metrics { foundry_metrics; }
--- pipelined_requests eval
[$main::Chat, $main::Chat, $main::Chat, $main::Chat, $main::Chat,
 "GET /metrics"]
--- more_headers eval
["x-ms-foundry-agent-id: a1\nx-ms-foundry-project-id: p1",
 "x-ms-foundry-agent-id: a2\nopenai-project: p2",
 "x-ms-foundry-agent-id: a3\nx-ms-foundry-project-id: p3",
 "x-ms-foundry-agent-id: a1\nx-ms-foundry-project-id: p1",
 "", ""]
--- response_body_like eval
['', '', '', '', '',
 qr/\Afoundry_requests_total\{target="\/v1",deployment="gpt-4o",status="200",agent="a1",project="p1"\} 2\nfoundry_requests_total\{target="\/v1",deployment="gpt-4o",status="200",agent="a2",project="p2"\} 1\nfoundry_requests_total\{target="\/v1",deployment="gpt-4o",status="200",agent="_other",project="_other"\} 1\nfoundry_requests_total\{target="\/v1",deployment="gpt-4o",status="200",agent="",project=""\} 1\n/m
 ]
--- response_body_filters eval
[ (sub { $_[0] }) x 5,
  sub { CORE::join "", grep { /^foundry_(requests|tokens)_total\{/ } split /^/m, $_[0] } ]



=== TEST 11: metric labels: tokens too; without labels= no identity label
--- http_config eval
FoundryConf::mock() . FoundryConf::upstreams('oai')
. "    foundry_metrics_zone m:1m labels=agent;\n"
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
    location = /metrics { foundry_metrics; }
--- pipelined_requests eval
[$main::Chat, "GET /metrics"]
--- more_headers eval
["x-ms-foundry-agent-id: a1\nx-ms-foundry-project-id: p1\nx-mock-usage: 10,20", ""]
--- response_body_like eval
['', qr/foundry_tokens_total\{target="\/v1",deployment="gpt-4o",key="",kind="prompt",agent="a1"\} 10\n/]



=== TEST 12: a bad labels= parameter
--- http_config eval
FoundryConf::mock() . FoundryConf::upstreams('oai')
. "    foundry_metrics_zone m:1m labels=agent,team;\n"
--- config
--- request
GET /
--- must_die
--- error_log
invalid parameter "labels=agent,team" in "foundry_metrics_zone" directive, expected "labels=" with "agent" and/or "project" (comma separated), or "label_values=" from 1 to 100000



=== TEST 13: label_values= without labels=
--- http_config eval
FoundryConf::mock() . FoundryConf::upstreams('oai')
. "    foundry_metrics_zone m:1m label_values=5;\n"
--- config
--- request
GET /
--- must_die
--- error_log
"label_values=" needs "labels=" in "foundry_metrics_zone" directive
