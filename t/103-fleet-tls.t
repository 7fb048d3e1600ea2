# A fleet's Redis over TLS (foundry_limit_sync ... tls): a redis-server of
# the test's own with a TLS port and a certificate of a CA made here; a
# node that trusts the CA (tls_ca=) syncs, by the address or by the name
# (tls_name=, sent as SNI), its counters reach Redis; a
# node that expects another name, and one that trusts only the system's
# CAs, refuse the server (one log line each) and keep serving from their
# own zone; "tls" without "redis=" fails nginx -t.

use strict;
use warnings;

use Cwd qw(cwd);
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use FoundryRedis;

my $dir = tempdir('foundry-tls-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub openssl {
    system('openssl', @_) == 0 or die "openssl @_ failed";
}

# a CA, and a certificate of the server for 127.0.0.1 and redis.test

open my $ext, '>', "$dir/ext.cnf" or die;
print $ext "subjectAltName=IP:127.0.0.1,DNS:redis.test\n";
close $ext;

openssl(qw(req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
           -days 2 -subj /CN=foundry-test-ca -keyout), "$dir/ca.key",
        '-out', "$dir/ca.crt");
openssl(qw(req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
           -subj /CN=redis.test -keyout), "$dir/redis.key",
        '-out', "$dir/redis.csr");
openssl(qw(x509 -req -days 2 -CAcreateserial -in), "$dir/redis.csr",
        '-CA', "$dir/ca.crt", '-CAkey', "$dir/ca.key",
        '-extfile', "$dir/ext.cnf", '-out', "$dir/redis.crt");

my $mock = FoundryMock::start();
my $tport = FoundryRedis::free_port();
my $redis = FoundryRedis->new(args => [
    '--tls-port', $tport, '--tls-cert-file', "$dir/redis.crt",
    '--tls-key-file', "$dir/redis.key", '--tls-ca-cert-file', "$dir/ca.crt",
    '--tls-auth-clients', 'no',
]);
my $params = cwd() . '/conf.d/foundry_proxy_params';

our @Nodes;

END {
    local $?;
    $_->stop for grep { $_ } @Nodes;
}

sub node {
    my ($sync) = @_;

    return FoundryRedis::node(mock => $mock, zone => 'fleet',
                              sync => "redis=127.0.0.1:$tport $sync",
                              params => $params);
}


sub call { FoundryRedis::call($_[0], 'tls') }

plan tests => 10;

my $good = node("tls tls_ca=$dir/ca.crt");
my $other = node("tls tls_ca=$dir/ca.crt tls_name=other.test");
my $system = node('tls');
my $named = node("tls tls_ca=$dir/ca.crt tls_name=redis.test");
@Nodes = ($good, $other, $system, $named);

ok(FoundryRedis::wait_metrics($good, qr/^foundry_limit_sync_up\{zone="fleet"\} 1$/m),
   'the node that trusts the CA syncs over TLS');

ok(FoundryRedis::wait_metrics($named, qr/^foundry_limit_sync_up\{zone="fleet"\} 1$/m),
   'tls_name=redis.test, the certificate\'s DNS name (and SNI): it syncs');

is(call($good), 200, 'a call on it');

my $deadline = time + 10;
my $keys = {};
while (time < $deadline) {
    $keys = $redis->values_of('foundry:{fleet}:d:*');
    last if %$keys;
    sleep 0.1;
}
is_deeply([values %$keys], [100], 'its usage reached Redis over TLS');

ok(FoundryRedis::wait_metrics($other,
                qr/^foundry_limit_sync_failures_total\{zone="fleet"\} [1-9]/m),
   'tls_name=other.test: the syncs fail');
like($other->error_log, qr/sync with redis 127\.0\.0\.1:$tport failed \(TLS certificate of another name\)/,
     'tls_name=other.test: the log line says why');

ok(FoundryRedis::wait_metrics($system,
                qr/^foundry_limit_sync_failures_total\{zone="fleet"\} [1-9]/m),
   'the system CAs only: the syncs fail');
like($system->error_log, qr/failed \(TLS certificate not verified\)/,
     'the system CAs only: the log line says why');

is(call($other), 200, 'a node whose sync fails serves from its own zone');

# nginx -t: tls needs redis=

my $bad = eval {
    FoundryNginx->new(http => <<"CONF");
    foundry_limit_zone one:1m;
    foundry_limit_sync zone=one state=$dir/one.state tls;
    server { listen 127.0.0.1:\$PORT; }
CONF
};
$bad->stop if $bad;

ok(!$bad && $@ =~ /nginx did not start/,
   'nginx -t: tls without redis= is refused');
