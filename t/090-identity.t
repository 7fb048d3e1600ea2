# Upstream credentials fetched by the gateway (foundry_upstream_credential,
# issue 16): managed identity (IMDS, App Service) and Entra ID client
# secret.  Every token endpoint is the bundled mock on 127.0.0.1, which
# also plays the model upstream and refuses any request whose bearer is not
# a token it issued.  Each section runs its own nginx (two workers) and
# mock, so the credentials' states do not mix.
#
# Sections: first fetch and reuse (one fetch for N concurrent requests on
# two workers), client secret, App Service, refresh ahead of expiry, the
# endpoint down with a valid token and without one, malformed and
# oversized answers, a slow endpoint, a reload, configuration errors.
# Takes about 15 s (token lifetimes of a few seconds are waited out).

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);
use POSIX ();
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use FoundryIdentity qw(mock_call token_set issued chat bearer_seen
                       conf_error);

plan tests => 59;

my $Dir = tempdir('foundry-identity-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $SecretFile = "$Dir/client-secret";
my $Secret = 'mock-client-secret';

{
    open my $fh, '>', $SecretFile or die "$SecretFile: $!";
    print $fh "$Secret\n";
    close $fh;
}

$ENV{FOUNDRY_TEST_IDENTITY_HEADER} = 'mock-identity-header';

# the identity tests' helpers (t/lib/FoundryIdentity.pm); the gateway
# of these tests asks the IMDS path by default
sub gateway {
    my ($mock, $credential, %o) = @_;
    return FoundryIdentity::gateway($mock, $credential,
        path => '/metadata/identity/oauth2/token', %o);
}

my $IMDS = 'foundry_upstream_credential cred source=imds token=/_token '
           . 'client_id=11111111-2222-3333-4444-555555555555;';


# 1. IMDS: the first request fetches; N concurrent requests on two workers
#    share that one token

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1);
    my $ngx = gateway($mock, $IMDS);

    my ($st, $h, $b) = chat($ngx);
    is($st, 200, 'imds: first request passes with a fetched token');
    is($h->{'x-credential'}, 'fetched', 'imds: state "fetched"');
    is(issued($mock), 1, 'imds: one fetch');

    is(bearer_seen($ngx), 'Bearer mock-token-1',
       'imds: the upstream gets the fetched token, not the client\'s');

    my @pids;
    for my $i (1 .. 8) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($s) = chat($ngx);
            POSIX::_exit($s == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $bad = 0;
    for (@pids) { waitpid $_, 0; $bad++ if $? }
    is($bad, 0, 'imds: 8 concurrent requests pass');
    is(issued($mock), 1, 'imds: still one fetch for all of them');

    ($st, $h) = chat($ngx);
    is($h->{'x-credential'}, 'cached', 'imds: state "cached"');

    my $log = $ngx->error_log;
    unlike($log, qr/mock-token/, 'imds: no token in the error log');
    unlike($log, qr/\[(?:alert|crit|emerg)\]/, 'imds: no alert');
}


# 2. concurrent first requests: one fetch, the others wait for it

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1, mode => 'slow', delay_ms => 300);
    my $ngx = gateway($mock, $IMDS);

    my @pids;
    for my $i (1 .. 6) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($s) = chat($ngx);
            POSIX::_exit($s == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $bad = 0;
    for (@pids) { waitpid $_, 0; $bad++ if $? }
    is($bad, 0, 'first requests together: all pass');
    is(issued($mock), 1, 'first requests together: one fetch');
}


# 3. client secret: a POST form to the Entra v2 endpoint

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1);
    my $ngx = gateway($mock, 'foundry_upstream_credential cred '
                      . 'source=client-secret token=/_token '
                      . 'client_id=app-1 '
                      . "secret_file=$SecretFile;",
                      path => '/tenant-1/oauth2/v2.0/token');

    my ($st, $h) = chat($ngx);
    is($st, 200, 'client-secret: request passes');
    is(issued($mock), 1, 'client-secret: one fetch');
    is(bearer_seen($ngx), 'Bearer mock-token-1',
       'client-secret: the upstream gets the token');

    # a wrong secret: the endpoint refuses, 503 and a log line that names
    # the credential, never the secret

    token_set($mock, secret => 'another-secret');
    my $ngx2 = gateway($mock, 'foundry_upstream_credential cred '
                       . 'source=client-secret token=/_token '
                       . 'client_id=app-2 '
                       . "secret_file=$SecretFile;",
                       path => '/tenant-1/oauth2/v2.0/token');

    my $b;
    ($st, $h, $b) = chat($ngx2);
    is($st, 503, 'client-secret refused: 503');
    my $err = eval { JSON::PP::decode_json($b) } || {};
    is($err->{error}{code}, 'UpstreamCredentialUnavailable',
       'client-secret refused: OpenAI-style JSON code');
    like($h->{'content-type'} // '', qr{application/json},
         'client-secret refused: JSON');
    my $log = $ngx2->error_log;
    like($log, qr/credential "cred" \(client-secret\) from "\/_token" failed: the token endpoint did not answer 200/,
         'client-secret refused: the log names the credential');
    like($log, qr/credential "cred" has no valid token/,
         'client-secret refused: the 503 is logged');
    unlike($log, qr/\Q$Secret\E/, 'client-secret: the secret is not logged');
}


# 4. App Service / Container Apps: X-IDENTITY-HEADER from the environment

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1);
    my $ngx = gateway($mock, 'foundry_upstream_credential cred '
                      . 'source=app-service token=/_token '
                      . 'secret_env=FOUNDRY_TEST_IDENTITY_HEADER;',
                      path => '/msi/token');

    my ($st) = chat($ngx);
    is($st, 200, 'app-service: request passes');
    is(issued($mock), 1, 'app-service: one fetch');
}


# 5. refresh ahead of expiry: a 3 s token is refreshed after 1.5 s by the
#    first request that sees it due

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1, expires_in => 3);
    my $ngx = gateway($mock, $IMDS);

    is(bearer_seen($ngx), 'Bearer mock-token-1', 'refresh: first token');
    is(bearer_seen($ngx), 'Bearer mock-token-1', 'refresh: reused');
    sleep 1.7;
    is(bearer_seen($ngx), 'Bearer mock-token-2', 'refresh: a new token');
    is(issued($mock), 2, 'refresh: two fetches');
    is(bearer_seen($ngx), 'Bearer mock-token-2', 'refresh: the new one reused');
    is(issued($mock), 2, 'refresh: still two fetches');
}


# 6. the endpoint down with a valid token: requests go on with it; once it
#    expired, 503

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1, expires_in => 4);
    my $ngx = gateway($mock, $IMDS);
    my $t0 = time;

    is(bearer_seen($ngx), 'Bearer mock-token-1', 'down: first token');
    token_set($mock, mode => 'down');
    sleep 2.2 - (time - $t0) if time - $t0 < 2.2;

    my ($st, $h) = chat($ngx);
    is($st, 200, 'down, token valid: the request passes');
    is($h->{'x-credential'}, 'stale', 'down, token valid: state "stale"');
    ($st, $h) = chat($ngx);
    is($st, 200, 'down, token valid: the next one too');
    is($h->{'x-credential'}, 'cached', 'down: no refetch during backoff');

    my $log = $ngx->error_log;
    like($log, qr/the current token is kept until it expires/,
         'down, token valid: logged');

    sleep 4 - (time - $t0) if time - $t0 < 4;

    my $b;
    ($st, $h, $b) = chat($ngx);
    is($st, 503, 'down, token expired: 503');
    like($b, qr/"code":"UpstreamCredentialUnavailable"/,
         'down, token expired: the JSON code');

    # the endpoint back: the next fetch after the backoff succeeds
    token_set($mock, mode => 'ok');
    sleep 2.1;
    ($st) = chat($ngx);
    is($st, 200, 'back: a new token after the backoff');
}


# 7. no token and the endpoint down: 503 at once, and backoff (one fetch)

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1, mode => 'down');
    my $ngx = gateway($mock, $IMDS);

    my ($st, $h, $b) = chat($ngx);
    is($st, 503, 'down, no token: 503');
    like($b, qr/"code":"UpstreamCredentialUnavailable"/,
         'down, no token: the JSON code');
    is($h->{'x-credential'}, 'unavailable', 'down: state "unavailable"');
    ($st) = chat($ngx);
    is($st, 503, 'down, no token: 503 again');
    my $by = mock_call($mock, 'GET', '/__mock/stats')->{by_path};
    is($by->{'/metadata/identity/oauth2/token'}, 1,
       'down, no token: no second fetch during the backoff');
    like($ngx->error_log,
         qr/its upstreams get 503 until a fetch succeeds/,
         'down, no token: logged');
}


# 8. malformed and oversized answers

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1, mode => 'garbage');
    my $ngx = gateway($mock, $IMDS);

    my ($st) = chat($ngx);
    is($st, 503, 'malformed answer: 503');
    like($ngx->error_log, qr/failed: the answer is not JSON/,
         'malformed answer: logged');

    my $mock2 = FoundryMock::start();
    token_set($mock2, check => 1, mode => 'oversized');
    my $ngx2 = gateway($mock2, $IMDS);

    ($st) = chat($ngx2);
    is($st, 503, 'oversized answer: 503');
    like($ngx2->error_log, qr/failed: the answer is too large/,
         'oversized answer: logged');
}


# 9. a slow endpoint: the location's timeout ends the fetch, 503

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1, mode => 'slow', delay_ms => 3000);
    my $ngx = gateway($mock, $IMDS, timeout => '1s');

    my ($st, $h, $b) = chat($ngx);
    is($st, 503, 'slow endpoint: 503');
    like($b, qr/"code":"UpstreamCredentialUnavailable"/,
         'slow endpoint: the JSON code');
    like($ngx->error_log, qr/timed out/, 'slow endpoint: the timeout logged');
}


# 10. a reload keeps the token

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1);
    my $ngx = gateway($mock, $IMDS);

    my ($st) = chat($ngx);
    is($st, 200, 'reload: before');
    is(issued($mock), 1, 'reload: one fetch');
    $ngx->reload;
    my $h;
    ($st, $h) = chat($ngx);
    is($st, 200, 'reload: after');
    is($h->{'x-credential'}, 'cached', 'reload: the token was kept');
    is(issued($mock), 1, 'reload: no new fetch');
}


# 11. configuration errors

like(conf_error('foundry_upstream_credential c source=imds token=/t;'),
     qr/"foundry_upstream_credential" needs a "foundry_upstream_credential_zone"/,
     'conf: the zone is needed');
like(conf_error("foundry_upstream_credential_zone z:1m;\n"
                . 'foundry_upstream u kind=openai url=http://x credential=nope;'),
     qr/unknown credential "nope" of foundry upstream "u"/,
     'conf: an unknown credential');
like(conf_error("foundry_upstream_credential_zone z:1m;\n"
                . 'foundry_upstream_credential c source=client-secret token=/t;'),
     qr/source "client-secret" needs "client_id=" and "secret_file=" or "secret_env="/,
     'conf: client-secret needs its secret');
like(conf_error("foundry_upstream_credential_zone z:1m;\n"
                . "foundry_upstream_credential c source=imds token=/t;\n"
                . 'foundry_upstream u kind=openai url=http://x credential=c '
                . 'bearer=x;'),
     qr/"credential=" excludes "api_key=" and "bearer="/,
     'conf: credential= and bearer= exclude each other');
