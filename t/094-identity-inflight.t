# A credential's token refreshed while requests are in flight (issue 16):
# each worker keeps one copy of "Bearer <token>" per credential and hands
# it to the requests; a request keeps the copy it took until it ends, so
# what went upstream and what $foundry_upstream_authorization gives at the
# log phase are the same whole token, the old or the new one, never a mix
# or freed memory, however many refreshes happen meanwhile.  The token
# endpoint and the model upstream are the bundled mock on 127.0.0.1 (it
# echoes the Authorization it received); the access log writes the
# variable at the end of each request.
#
# Takes about 10 s (token lifetimes of 2 s are waited out).

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use FoundryIdentity qw(token_set issued gateway_conf chat);

plan tests => 11;

my $IMDS = 'foundry_upstream_credential cred source=imds token=/_token;';

my $LOG = <<'CONF';
    log_format inflight '$http_x_req $foundry_upstream_authorization';
    access_log logs/inflight.log inflight;
CONF

# one worker: the refresh and the requests in flight share its copies
sub gateway {
    my ($mock) = @_;
    return FoundryNginx->new(workers => 1, http => gateway_conf($mock, $IMDS,
                             path => '/metadata/identity/oauth2/token',
                             extra => $LOG));
}

# a request named "id": the bearer the upstream received (by the mock's
# echo), after "delay" ms
sub seen {
    my ($ngx, $id, $delay) = @_;
    my ($st, $h, $b) = chat($ngx, 'x-req' => $id, 'x-mock-echo' => '1',
                            'x-mock-delay-ms' => $delay // 0,
                            'Authorization' => 'Bearer client-credential');
    return "status $st" unless $st == 200;
    return JSON::PP::decode_json($b)->{headers}{authorization} // 'none';
}

# in a child: the bearer seen, written to "file"
sub seen_in_child {
    my ($ngx, $id, $delay, $file) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    my $seen = eval { seen($ngx, $id, $delay) } // "error $@";
    open my $fh, '>', $file or POSIX::_exit(1);
    print $fh $seen;
    close $fh;
    POSIX::_exit(0);
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

# the access log: request name => the variable's value at the log phase,
# once the lines of "ids" are there (a line may follow the answer a little)
sub logged {
    my ($ngx, @ids) = @_;
    my %v;
    for my $try (1 .. 50) {
        %v = ();
        for (split /\n/, $ngx->file('logs/inflight.log')) {
            my ($id, $auth) = /\A(\S+) (.*)\z/ or next;
            $v{$id} = $auth;
        }
        last unless grep { !exists $v{$_} } @ids;
        sleep 0.1;
    }
    return \%v;
}


# 1. a slow request keeps the token it took while another request of the
#    same worker refreshes it and later ones take the new one

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1, expires_in => 2);
    my $ngx = gateway($mock);
    my $dir = $ngx->{prefix};

    my $t0 = time;
    my $slow = seen_in_child($ngx, 'slow', 3000, "$dir/slow.seen");

    # the token is due after 1 s: a request then refreshes it
    sleep 1.2;
    my ($fresh, $n) = ('', 0);
    while ($n++ < 20 && time - $t0 < 2.8) {
        $fresh = seen($ngx, "fast-$n");
        last if $fresh eq 'Bearer mock-token-2';
        sleep 0.1;
    }
    is($fresh, 'Bearer mock-token-2',
       'in flight: a later request refreshes the token');
    my $after = seen($ngx, 'after');
    is($after, 'Bearer mock-token-2', 'in flight: the next takes the new one');

    waitpid $slow, 0;
    my $old = slurp("$dir/slow.seen");
    is($old, 'Bearer mock-token-1',
       'in flight: the slow request sent the token it took');

    my $log = logged($ngx, 'slow', 'after');
    is($log->{slow}, 'Bearer mock-token-1',
       'in flight: its log phase sees the same token');
    is($log->{after}, 'Bearer mock-token-2',
       'in flight: the later request logs the new one');
    is(issued($mock), 2, 'in flight: two fetches');
    unlike($ngx->error_log, qr/\[(?:alert|crit|emerg)\]/,
           'in flight: no alert');
}


# 2. requests overlapping over several refreshes: each sends and logs one
#    whole token, the same one

{
    my $mock = FoundryMock::start();
    token_set($mock, check => 1, expires_in => 2);
    my $ngx = gateway($mock);
    my $dir = $ngx->{prefix};

    my %pid;
    for my $i (1 .. 14) {
        $pid{$i} = seen_in_child($ngx, "r$i", 1100, "$dir/r$i.seen");
        sleep 0.35;
    }
    waitpid $_, 0 for values %pid;

    my $log = logged($ngx, map { "r$_" } 1 .. 14);
    my (@bad, %tokens);
    for my $i (1 .. 14) {
        my $seen = slurp("$dir/r$i.seen");
        my $logged = $log->{"r$i"} // 'no line';
        push @bad, "r$i: sent \"$seen\", logged \"$logged\""
            unless $seen =~ /\ABearer mock-token-\d+\z/ && $seen eq $logged;
        $tokens{$seen}++;
    }
    is(join('; ', @bad), '', 'overlapping: each logs the whole token it sent');
    cmp_ok(scalar keys %tokens, '>=', 2,
           'overlapping: the requests span refreshes');
    cmp_ok(issued($mock), '>=', 2, 'overlapping: tokens were refreshed');
    unlike($ngx->error_log, qr/\[(?:alert|crit|emerg)\]/,
           'overlapping: no alert');
}
