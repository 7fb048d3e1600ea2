# The shipped proxy settings (conf.d/foundry_proxy_params) verify the
# model upstream's TLS certificate and its name: an upstream whose
# certificate no trusted CA signed, or that names another host, never
# gets the request (nor the upstream credential in it).
#
# The upstream is a TLS server of the tested nginx itself (a certificate
# of a CA made here, for the name "aoai.test") that proxies to the
# bundled mock.  The trusted CA is the system's bundle as shipped; for
# the blocks that trust the test CA, a copy of foundry_proxy_params with
# only its proxy_ssl_trusted_certificate line changed is included.

use Cwd qw(cwd);
use File::Temp qw(tempdir);
use lib 't/lib';
use FoundryCerts;
use FoundryNginx;
use FoundryMock;
use Test::Nginx::Socket;

my $ConfD = cwd() . '/conf.d';
my $Dir = tempdir('foundry-tls-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $Dir;

# a CA, and a certificate for aoai.test it signs

FoundryCerts::server_cert($Dir, 'aoai.test');

# the shipped settings, trusting the test CA instead of the system's

FoundryCerts::params_trusting("$ConfD/foundry_proxy_params",
                              "$Dir/test_ca_proxy_params", "$Dir/ca.crt")
    or die "foundry_proxy_params has no proxy_ssl_trusted_certificate";

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_TLS_PORT} = FoundryNginx::free_port();
$ENV{TEST_NGINX_TLS_DIR} = $Dir;
$ENV{TEST_NGINX_CONF_D} = $ConfD;

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', <<'_EOC_');
    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
        server_name aoai.test;

        ssl_certificate     $TEST_NGINX_TLS_DIR/server.crt;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/server.key;

        location / {
            proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT;
        }
    }

    foundry_upstream good kind=openai url=https://127.0.0.1:$TEST_NGINX_TLS_PORT
                     host=aoai.test api_key=upstream-secret;
    foundry_upstream misnamed kind=openai
                     url=https://127.0.0.1:$TEST_NGINX_TLS_PORT
                     host=other.test api_key=upstream-secret;
_EOC_
    }

    if (!defined $block->request) {
        $block->set_value('request', <<'_EOC_');
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
_EOC_
    }
});

repeat_each(1);

plan tests => repeat_each() * (3 * blocks());

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the shipped settings: a certificate of a CA the system does not trust is refused, 502 as JSON
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=good;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- error_code: 502
--- response_body_like: ^\{"error":\{"code":"BadGateway",
--- error_log
upstream SSL certificate verify error



=== TEST 2: the shipped settings trusting the upstream's CA: verified, answered
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=good;
        include $TEST_NGINX_TLS_DIR/test_ca_proxy_params;
    }
--- error_code: 200
--- response_body_like: "object":"chat.completion"
--- no_error_log
[error]



=== TEST 3: a trusted certificate for another name than the upstream's host= is refused
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=misnamed;
        include $TEST_NGINX_TLS_DIR/test_ca_proxy_params;
    }
--- error_code: 502
--- response_body_like: ^\{"error":\{"code":"BadGateway",
--- error_log
upstream SSL certificate does not match "other.test"
