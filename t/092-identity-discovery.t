# The upstream credential's token on the discovery sources' fetches (issue
# 16): a foundry_discovery_source whose upstream= has a credential= gets
# its token in $foundry_upstream_authorization, for the data-plane list
# and the ARM list.  The mock checks every bearer (check=1): the lists are
# refused without a token it issued.  Without a token, the source is not
# fetched and its last good list is kept.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use FoundryIdentity;

plan tests => 20;

my $Arm = '/subscriptions/s/resourceGroups/g/providers/'
          . 'Microsoft.CognitiveServices/accounts/a/deployments'
          . '?api-version=2024-10-01';

sub gateway_sources {
    my ($mock) = @_;

    return FoundryNginx->new(workers => 2, http => <<"CONF");
    foundry_upstream_credential_zone upstream_tokens:1m;
    foundry_discovery_zone disc:1m;

    foundry_upstream_credential cred source=imds token=/_token;

    upstream mock {
        server 127.0.0.1:$mock;
    }

    foundry_upstream aoai kind=azure-openai url=http://mock
                     api_version=2024-10-21 credential=cred;

    server {
        listen 127.0.0.1:\$PORT;

        location = /_token {
            internal;
            proxy_pass http://mock/metadata/identity/oauth2/token;
        }

        location = /_src/aoai {
            internal;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_pass http://mock/openai/deployments?api-version=2024-10-21;
            proxy_set_header Authorization \$foundry_upstream_authorization;
            subrequest_output_buffer_size 64k;
        }

        location = /_src/arm {
            internal;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_pass http://mock$Arm;
            proxy_set_header Authorization \$foundry_upstream_authorization;
            subrequest_output_buffer_size 64k;
        }

        location /gw/ {
            foundry_gateway on;
            foundry_deployment_in_path on;
            foundry_model_discovery list=/deployments
                                    "get=/deployments/{deploymentName}";
            foundry_discovery_source /_src/aoai zone=disc upstream=aoai;
            proxy_pass \$foundry_upstream_url;
            proxy_set_header Authorization \$foundry_upstream_authorization;
        }

        location /arm/ {
            foundry_gateway on;
            foundry_model_discovery list=/deployments
                                    "get=/deployments/{deploymentName}";
            foundry_discovery_source /_src/arm zone=disc upstream=aoai;
            proxy_pass \$foundry_upstream_url;
        }
    }
CONF
}

sub names {
    my ($body) = @_;
    my $j = eval { JSON::PP::decode_json($body) } || {};
    return join ',', map { $_->{name} } @{ $j->{value} || [] };
}


# 1. the data-plane list and the ARM list, fetched with the token

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1);
    my $ngx = gateway_sources($mock);

    my ($st, $h, $b) = $ngx->request('GET', '/gw/deployments');
    is($st, 200, 'data plane: the list answers');
    like(names($b), qr/\bgpt-4o\b/,
         'data plane: the source was fetched with the token');
    is(issued($mock), 1, 'data plane: one token fetch');

    ($st, $h, $b) = $ngx->request('GET', '/arm/deployments');
    is($st, 200, 'ARM: the list answers');
    like(names($b), qr/\bgpt-4o\b/, 'ARM: fetched with the token');
    is(issued($mock), 1, 'ARM: the same token, no new fetch');

    # an inference call to a discovered deployment: the same token
    ($st) = $ngx->request('POST', '/gw/deployments/gpt-4o/chat/completions'
                          . '?api-version=2024-10-21',
                          ['Content-Type' => 'application/json'],
                          $FoundryIdentity::Body);
    is($st, 200, 'inference to a discovered deployment');
    is(issued($mock), 1, 'inference: still one token fetch');

    my $log = $ngx->error_log;
    unlike($log, qr/mock-token/, 'no token in the error log');
    unlike($log, qr/\[error\]/, 'no error');
}


# 2. no token: the source is not fetched, the list is empty; the token
#    endpoint back, the next list has the deployments

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1, mode => 'down');
    my $ngx = gateway_sources($mock);

    my ($st, $h, $b) = $ngx->request('GET', '/gw/deployments');
    is($st, 200, 'no token: the list answers');
    is(names($b), '', 'no token: no discovered deployment');
    my $by = mock_call($mock, 'GET', '/__mock/stats')->{by_path};
    ok(!$by->{'/openai/deployments'}, 'no token: the source not fetched');
    like($ngx->error_log,
         qr/discovery source "\/_src\/aoai": credential "cred" has no valid token: the token endpoint failed, the last good list is kept/,
         'no token: logged, naming the source and the credential');
    unlike($ngx->error_log, qr/\[alert\]|\[crit\]/, 'no token: no alert');

    token_set($mock, mode => 'ok');
    sleep 1.2;
    ($st, $h, $b) = $ngx->request('GET', '/gw/deployments');
    is($st, 200, 'token back: the list answers');
    like(names($b), qr/\bgpt-4o\b/, 'token back: the deployments listed');
}


# 3. the first request is an inference call to a deployment only a source
#    lists: the source's token, then the upstream's (the same, cached)

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1);
    my $ngx = gateway_sources($mock);

    my ($st, $h, $b) = $ngx->request('POST',
                                     '/gw/deployments/gpt-4o/chat/completions'
                                     . '?api-version=2024-10-21',
                                     ['Content-Type' => 'application/json',
                                      'x-mock-echo' => '1'],
                                     $FoundryIdentity::Body);
    is($st, 200, 'first call to a discovered deployment');
    my $j = eval { JSON::PP::decode_json($b) } || {};
    is($j->{headers}{authorization}, 'Bearer mock-token-1',
       'the upstream gets the token');
    is(issued($mock), 1, 'one token fetch for the source and the upstream');
}
