# A fleet's Redis that asks for a password (foundry_limit_sync ...
# password_file=): a redis-server of the test's own with a password for its
# default user and an ACL user of its own; a node with the password, one
# with "user password", sync and their counters reach Redis; a node with a
# wrong password and one with none fail (one log line that names the zone
# and the server, never the password) and keep serving from their own zone.

use strict;
use warnings;

use Cwd qw(cwd);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use FoundryRedis;

my $dir = tempdir('foundry-auth-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub write_file {
    my ($name, $text) = @_;
    open my $f, '>', "$dir/$name" or die "$name: $!";
    print $f $text;
    close $f;
    return "$dir/$name";
}

my $mock = FoundryMock::start();
my $redis = FoundryRedis->new(args => [
    '--requirepass', 'default-Secret-7f3a',
    '--user', 'gateway', 'on', '>gateway-Secret-91c2', '~*', '&*', '+@all',
]);
my $params = cwd() . '/conf.d/foundry_proxy_params';

# a command as the ACL user, on a connection of its own

sub authed {
    my (@args) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$redis->{port}",
                                  Timeout => 5)
        or die "redis connect: $!";
    for my $c (['AUTH', 'gateway', 'gateway-Secret-91c2'], [@args]) {
        print $s '*' . @$c . "\r\n"
                 . join('', map { '$' . length($_) . "\r\n$_\r\n" } @$c);
    }
    my $ok = FoundryRedis::read_reply($s);
    die "AUTH: $ok" unless $ok eq 'OK';
    my $r = FoundryRedis::read_reply($s);
    close $s;
    return $r;
}

our @Nodes;

END {
    local $?;
    $_->stop for grep { $_ } @Nodes;
}

sub node {
    my ($zone, $auth) = @_;

    return FoundryRedis::node(mock => $mock, zone => $zone,
                              sync => "redis=127.0.0.1:$redis->{port} $auth",
                              params => $params);
}


sub call { FoundryRedis::call($_[0], 'auth') }

plan tests => 12;

my $pass = node('bypass', 'password_file='
                . write_file('default', "default-Secret-7f3a\n"));
my $user = node('byuser', 'password_file='
                . write_file('user', "gateway gateway-Secret-91c2\n"));
my $wrong = node('wrong', 'password_file='
                 . write_file('wrong', "not-the-Secret-0000\n"));
my $none = node('none', '');
@Nodes = ($pass, $user, $wrong, $none);

ok(FoundryRedis::wait_metrics($pass, qr/^foundry_limit_sync_up\{zone="bypass"\} 1$/m),
   'the default user\'s password: the node syncs');
ok(FoundryRedis::wait_metrics($user, qr/^foundry_limit_sync_up\{zone="byuser"\} 1$/m),
   '"user password", an ACL user: the node syncs');

is(call($pass), 200, 'a call on the first node');
is(call($user), 200, 'a call on the second node');

my $deadline = time + 10;
my ($a, $b);
while (time < $deadline) {
    $a = authed('KEYS', 'foundry:{bypass}:d:*');
    $b = authed('KEYS', 'foundry:{byuser}:d:*');
    last if @$a && @$b;
    sleep 0.1;
}
is(scalar(@$a), 1, 'the first node\'s usage reached Redis');
is(scalar(@$b), 1, 'the second node\'s usage reached Redis');

ok(FoundryRedis::wait_metrics($wrong,
                qr/^foundry_limit_sync_failures_total\{zone="wrong"\} [1-9]/m),
   'a wrong password: the syncs fail');
like($wrong->error_log,
     qr/"wrong".*redis 127\.0\.0\.1:$redis->{port}|redis 127\.0\.0\.1:$redis->{port}.*"wrong"/,
     'a wrong password: the log line names the zone and the server');

ok(FoundryRedis::wait_metrics($none,
                qr/^foundry_limit_sync_failures_total\{zone="none"\} [1-9]/m),
   'no password: the syncs fail');

is(call($wrong), 200, 'a node whose sync fails serves from its own zone');

my $logs = join '', map { $_->error_log } @Nodes;
unlike($logs, qr/Secret/, 'no password in any log line');

# nginx -t: a password file that cannot be read

my $bad = eval {
    FoundryNginx->new(http => <<"CONF");
    foundry_limit_zone one:1m;
    foundry_limit_sync zone=one redis=127.0.0.1:$redis->{port}
                       password_file=$dir/missing;
    server { listen 127.0.0.1:\$PORT; }
CONF
};
$bad->stop if $bad;

ok(!$bad && $@ =~ /nginx did not start/,
   'nginx -t: a password file that cannot be read is refused');
