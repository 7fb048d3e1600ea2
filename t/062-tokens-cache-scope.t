# The verified-token cache of foundry_jwt_zone is http-wide, but a token
# is remembered with the keys that verified it: a token verified in one
# location is not taken for verified in another that trusts the same
# "iss" with other keys.

use Crypt::JWT qw(encode_jwt);
use Test::Nginx::Socket;

our $SecretA = 'a' x 32 . '-secret-of-location-a';
our $SecretB = 'b' x 32 . '-secret-of-location-b';

sub main::token {
    my ($secret) = @_;

    return encode_jwt(
        payload => { iss => 'https://issuer.test/', aud => 'api://gw',
                     sub => 'agent', exp => time + 3600 },
        alg => 'HS256', key => $secret);
}

$ENV{TEST_NGINX_SECRET_A} = $SecretA;
$ENV{TEST_NGINX_SECRET_B} = $SecretB;
$ENV{TEST_NGINX_TOKEN_A} = main::token($SecretA);

repeat_each(1);
no_shuffle();
no_long_string();

# three requests a block, each with its status and its error log check
plan tests => repeat_each() * (blocks() * 6);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_');
    foundry_jwt_zone tokens:1m;
_EOC_

    $block->set_value('config', <<'_EOC_');
    location /a/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_jwt_issuer https://issuer.test/ audience=api://gw
                           secret=$TEST_NGINX_SECRET_A;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
    }

    location /b/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_jwt_issuer https://issuer.test/ audience=api://gw
                           secret=$TEST_NGINX_SECRET_B;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: verified in /a/, then refused in /b/ whose secret differs
--- pipelined_requests eval
["GET /a/models", "GET /b/models", "GET /a/models"]
--- more_headers eval
"Authorization: Bearer $ENV{TEST_NGINX_TOKEN_A}"
--- error_code eval
[200, 401, 200]
--- no_error_log
[alert]



=== TEST 2: the other way round: refused first in /b/, then verified in /a/
--- pipelined_requests eval
["GET /b/models", "GET /a/models", "GET /b/models"]
--- more_headers eval
"Authorization: Bearer $ENV{TEST_NGINX_TOKEN_A}"
--- error_code eval
[401, 200, 401]
--- no_error_log
[alert]
