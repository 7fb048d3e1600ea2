package FoundryIdentity;

# Shared by the upstream credential tests (t/091-identity-certs.t,
# t/092-identity-discovery.t): the mock's token controls, a gateway with
# one upstream "u" of the credential "cred", requests, and "nginx -t" of
# a configuration.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use JSON::PP ();
use FoundryMock ();
use FoundryNginx;

our @EXPORT = qw(mock_call token_set token_state issued gateway
                 gateway_conf chat bearer_seen conf_error);

our $Body = '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}';

# a raw request to the mock (control routes)
sub mock_call { FoundryMock::control(@_) }

sub token_set {
    my ($port, %set) = @_;
    return mock_call($port, 'PUT', '/__mock/token',
                     JSON::PP::encode_json(\%set));
}

sub token_state { return mock_call($_[0], 'GET', '/__mock/token') }

sub issued { return token_state($_[0])->{issued} }

# a gateway with one upstream "u" of the credential "cred"; "extra" goes
# in the http block, "server" in the server block
sub gateway {
    return FoundryNginx->new(workers => 2, http => gateway_conf(@_));
}

# its http block
sub gateway_conf {
    my ($mock, $credential, %o) = @_;

    my $timeout = $o{timeout} // '5s';
    my $path = $o{path} // '/tenant-1/oauth2/v2.0/token';
    my $extra = $o{extra} // '';
    my $server = $o{server} // '';

    return <<"CONF";
    foundry_upstream_credential_zone upstream_tokens:1m;

    $credential

    upstream mock {
        server 127.0.0.1:$mock;
    }

    foundry_upstream u kind=openai url=http://mock credential=cred;

    $extra

    server {
        listen 127.0.0.1:\$PORT;

        location = /_token {
            internal;
            proxy_pass http://127.0.0.1:$mock$path;
            proxy_connect_timeout $timeout;
            proxy_read_timeout $timeout;
        }

        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            proxy_pass \$foundry_upstream_url;
            proxy_set_header Authorization \$foundry_upstream_authorization;
            add_header X-Credential \$foundry_upstream_credential always;
        }

        $server
    }
CONF
}

sub chat {
    my ($ngx, @h) = @_;
    return $ngx->request('POST', '/v1/chat/completions',
                         ['Content-Type' => 'application/json', @h], $Body);
}

# the bearer the upstream received, by the mock's echo
sub bearer_seen {
    my ($ngx) = @_;
    my ($st, $h, $b) = chat($ngx, 'x-mock-echo' => '1',
                            'Authorization' => 'Bearer client-credential');
    return $st == 200 ? JSON::PP::decode_json($b)->{headers}{authorization}
                      : "status $st";
}

# "nginx -t" of an http block: its output
sub conf_error {
    my ($http) = @_;
    my $dir = tempdir('foundry-identity-conf-XXXXXX', TMPDIR => 1,
                      CLEANUP => 1);
    mkdir "$dir/logs";
    my $load = join '', map { "load_module $_;\n" }
                        split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
    open my $fh, '>', "$dir/nginx.conf" or die;
    print $fh "${load}error_log stderr;\nevents {}\nhttp {\n$http\n}\n";
    close $fh;
    my $bin = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
    return scalar `$bin -t -p $dir -c $dir/nginx.conf 2>&1`;
}

1;
