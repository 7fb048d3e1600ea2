# Every source of foundry_upstream_credential through the same cases
# (issue 16's "Done when"): IMDS, App Service, client secret, generic
# OAuth2, certificate and workload identity, each against the bundled mock
# on 127.0.0.1 as its token endpoint (which also plays the model upstream
# and refuses a bearer it did not issue).  t/090 and t/091 test each
# source's own form and the details of each case on one source; this file
# runs the cases on all of them:
#
#   first fetch, and one fetch for concurrent requests on two workers;
#   refresh ahead of expiry; the endpoint down with a valid token (the
#   request goes on with it) and without one (503 JSON); malformed and
#   oversized answers; a slow endpoint (the worker answers other requests
#   meanwhile, then the fetch times out: 503); a reload keeps the token;
#   no secret, assertion or token in the error log.
#
# Takes about 40 s (token lifetimes of a few seconds are waited out).

use strict;
use warnings;

use Test::More;
use Cwd qw(cwd);
use File::Temp qw(tempdir);
use Digest::SHA qw(sha256);
use MIME::Base64 qw(encode_base64url);
use POSIX ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use FoundryIdentity;

system('openssl version >/dev/null 2>&1') == 0
    or plan skip_all => 'needs the openssl command';

my $Dir = tempdir('foundry-identity-sources-XXXXXX', TMPDIR => 1,
                  CLEANUP => 1);

# the workers (user nobody when run as root) read the federated token file
chmod 0755, $Dir;

sub spew {
    my ($f, $text) = @_;
    open my $fh, '>:raw', $f or die "$f: $!";
    print $fh $text;
    close $fh;
    chmod 0644, $f;
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

my $Secret = 'mock-client-secret';
spew("$Dir/secret", "$Secret\n");

$ENV{FOUNDRY_TEST_IDENTITY_HEADER} = 'mock-identity-header';

# the example's placeholder certificate (conf.d/): public, fine for a test
my $Crt = cwd() . '/conf.d/upstream-certificate.crt';
my $Key = cwd() . '/conf.d/upstream-certificate.key';
my $X5t = encode_base64url(sha256(
              scalar `openssl x509 -in $Crt -outform DER`));
my $TokenUrl = 'https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token';

my $Federated = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291'
                . 'bnQ6YWk6Z2F0ZXdheSJ9.c2lnbmF0dXJl';
spew("$Dir/federated", "$Federated\n");

my $Entra = '/tenant-1/oauth2/v2.0/token';

# source => [credential's parameters, the mock's path, the mock's settings]
my @Sources = (
    [imds => 'source=imds client_id=11111111-2222-3333-4444-555555555555',
     '/metadata/identity/oauth2/token', {}],
    ['app-service' => 'source=app-service '
                      . 'secret_env=FOUNDRY_TEST_IDENTITY_HEADER',
     '/msi/token', {}],
    ['client-secret' => "source=client-secret client_id=app-1 "
                        . "secret_file=$Dir/secret", $Entra, {}],
    [oauth2 => "source=oauth2 client_id=gateway-app scope=models.invoke "
               . "audience=https://models.example secret_file=$Dir/secret",
     '/idp/oauth2/v2.0/token', {}],
    [certificate => "source=certificate client_id=app-2 token_url=$TokenUrl "
                    . "certificate=$Crt certificate_key=$Key", $Entra,
     { certificate => slurp($Crt), x5t => $X5t, audience => $TokenUrl }],
    ['workload-identity' => "source=workload-identity client_id=app-3 "
                            . "token_file=$Dir/federated", $Entra,
     { federated => $Federated }],
);

plan tests => 18 * @Sources;

# a mock set up for the source, and a gateway of it (options: workers,
# timeout)
sub setup {
    my ($src, %set) = @_;
    my ($name, $params, $path, $mockset) = @$src;

    my $timeout = delete $set{timeout} // '5s';

    my $mock = FoundryMock::start();
    token_set($mock, check => 1, %$mockset, %set);

    my $http = gateway_conf($mock,
        "foundry_upstream_credential cred token=/_token $params;",
        path => $path, timeout => $timeout,
        server => "location = /ping { return 200 'pong'; }");

    return ($mock, $http);
}

# the error log kept, nginx ended at once (TERM: a graceful stop waits
# for the backoff's timers)
sub finish {
    my ($ngx) = @_;
    my $log = $ngx->error_log;
    kill 'TERM', $ngx->pid;
    $ngx->stop;
    return $log;
}

sub together {
    my ($ngx, $n) = @_;
    my @pids;
    for (1 .. $n) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($s) = chat($ngx);
            POSIX::_exit($s == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $bad = 0;
    for (@pids) { waitpid $_, 0; $bad++ if $? }
    return $bad;
}

for my $src (@Sources) {
    my $name = $src->[0];
    my $logs = '';

    # first fetch; concurrent requests on two workers: still one fetch; a
    # reload keeps the token; refresh ahead of expiry (a 3 s token, after
    # 1.5 s)

    {
        my ($mock, $http) = setup($src, expires_in => 3);
        my $ngx = FoundryNginx->new(workers => 2, http => $http);
        my $t0 = time;

        my ($st, $h) = chat($ngx);
        is("$st " . ($h->{'x-credential'} // ''), '200 fetched',
           "$name: the first request fetches");
        is(together($ngx, 8), 0, "$name: 8 concurrent requests pass");
        is(issued($mock), 1, "$name: one fetch for all of them");

        $ngx->reload;
        ($st, $h) = chat($ngx);
        is("$st " . ($h->{'x-credential'} // ''), '200 cached',
           "$name: after a reload, the token kept");
        is(bearer_seen($ngx), 'Bearer mock-token-1',
           "$name: no fetch for the reload");

        sleep 1.7 - (time - $t0) if time - $t0 < 1.7;
        is(bearer_seen($ngx), 'Bearer mock-token-2',
           "$name: refreshed ahead of expiry");
        is(issued($mock), 2, "$name: two fetches");

        $logs .= finish($ngx);
    }

    # the endpoint down with a valid token: the request goes on with it

    {
        my ($mock, $http) = setup($src, expires_in => 4);
        my $ngx = FoundryNginx->new(workers => 2, http => $http);
        my $t0 = time;

        my ($st) = chat($ngx);
        token_set($mock, mode => 'down');
        sleep 2.2 - (time - $t0) if time - $t0 < 2.2;

        my $h;
        ($st, $h) = chat($ngx);
        is("$st " . ($h->{'x-credential'} // ''), '200 stale',
           "$name: down, token valid: the request passes with it");
        like($ngx->error_log,
             qr/credential "cred" \(\Q$name\E\) from "\/_token" failed: the token endpoint did not answer 200/,
             "$name: down: logged, naming the credential and source");

        $logs .= finish($ngx);
    }

    # down without a token, malformed, oversized: 503 JSON

    for my $case (['down', qr/the token endpoint did not answer 200/],
                  ['garbage', qr/the answer is not JSON/],
                  ['oversized', qr/the answer is too large/])
    {
        my ($mode, $why) = @$case;
        my ($mock, $http) = setup($src, mode => $mode);
        my $ngx = FoundryNginx->new(workers => 2, http => $http);

        my ($st, $h, $b) = chat($ngx);
        like("$st $b", qr/^503 .*"code":"UpstreamCredentialUnavailable"/,
             "$name: $mode, no token: 503 JSON");
        like($ngx->error_log, qr/failed: $why/, "$name: $mode: logged");

        $logs .= finish($ngx);
    }

    # a slow endpoint: one worker, which answers another request while
    # the fetch waits, then the location's timeout ends it: 503

    {
        my ($mock, $http) = setup($src, mode => 'slow', delay_ms => 3000,
                                  timeout => '1500ms');
        my $ngx = FoundryNginx->new(workers => 1, http => $http);

        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($s, undef, $b) = chat($ngx);
            POSIX::_exit($s == 503
                         && $b =~ /"code":"UpstreamCredentialUnavailable"/
                         ? 0 : 1);
        }

        sleep 0.4;
        my $t = time;
        my ($st) = $ngx->request('GET', '/ping');
        my $took = time - $t;
        ok($st == 200 && $took < 1,
           "$name: slow endpoint: the worker answers meanwhile "
           . sprintf('(%d in %.2f s)', $st, $took));

        waitpid $pid, 0;
        is($?, 0, "$name: slow endpoint: then 503 JSON");

        $logs .= finish($ngx);
    }

    unlike($logs, qr/mock-token|\Q$Secret\E|mock-identity-header|\Q$Federated\E|PRIVATE KEY|\[(?:alert|crit|emerg)\]/,
           "$name: no token, secret or assertion in the logs, no alert");
}
