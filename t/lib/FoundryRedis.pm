package FoundryRedis;

# A redis-server of a test's own: 127.0.0.1, a free port, no persistence
# (--save '' --appendonly no), in a temporary directory; stopped when the
# object goes away.  stop/start keep the port (a Redis restarted, empty);
# stall/resume stop and continue the process (a Redis that hangs).
#
#   my $redis = FoundryRedis->new;
#   $redis->{port}; $redis->cmd('GET', 'k'); $redis->stop; $redis->start;
#
# Also a server of the test's own on a free port that answers every
# command with the same bytes (garbage, error replies):
#
#   my ($port, $pid) = FoundryRedis::liar("-ERR no\r\n");
#
# And, for the nodes: FoundryRedis::node(...) starts a gateway node whose
# limit zone is synced, FoundryRedis::call($node, $tenant) makes a limited
# call on it, FoundryRedis::wait_metrics($node, qr/.../) waits (15 s at
# most) until a node's /metrics page matches.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FoundryNginx ();
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

our @Liars;

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  Proto => 'tcp')
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub new {
    my ($class, %args) = @_;

    my $self = bless {
        binary => $ENV{TEST_REDIS_BINARY} || 'redis-server',
        dir    => tempdir('foundry-redis-XXXXXX', TMPDIR => 1, CLEANUP => 1),
        port   => $args{port} || free_port(),
        args   => $args{args} || [],
    }, $class;

    $self->start;

    return $self;
}

sub start {
    my ($self) = @_;

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDOUT, '>', "$self->{dir}/redis.log";
        open STDERR, '>&', \*STDOUT;
        { exec $self->{binary}, '--port', $self->{port}, '--bind', '127.0.0.1',
             '--save', '', '--appendonly', 'no', '--dir', $self->{dir},
             '--daemonize', 'no', @{ $self->{args} } };
        POSIX::_exit(127);
    }

    $self->{pid} = $pid;

    for (1 .. 200) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}");
        return if $s;
        sleep 0.025;
    }

    die "redis-server does not listen on $self->{port}";
}

sub stop {
    my ($self) = @_;

    my $pid = delete $self->{pid} or return;

    kill 'CONT', $pid;
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

sub stall {
    my ($self) = @_;
    kill 'STOP', $self->{pid};
}

sub resume {
    my ($self) = @_;
    kill 'CONT', $self->{pid};
}

# a command, its reply: a string, an integer, undef (nil), an array ref,
# or "ERR ..." for an error
sub cmd {
    my ($self, @args) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}",
                                  Timeout => 5)
        or die "redis connect: $!";

    print $s '*' . @args . "\r\n"
             . join('', map { '$' . length($_) . "\r\n$_\r\n" } @args);

    my $r = read_reply($s);
    close $s;

    return $r;
}

sub read_reply {
    my ($s) = @_;

    my $line = <$s> // die "redis: no reply";
    $line =~ s/\r\n$//;

    my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));

    return $rest if $t eq '+' || $t eq '-' || $t eq ':';

    if ($t eq '$') {
        return undef if $rest < 0;
        my $data = '';
        read($s, $data, $rest + 2) == $rest + 2 or die "redis: short read";
        return substr($data, 0, $rest);
    }

    if ($t eq '*') {
        return undef if $rest < 0;
        return [ map { read_reply($s) } 1 .. $rest ];
    }

    die "redis: unexpected reply $line";
}

# the values of the keys matching a pattern: { key => value }
sub values_of {
    my ($self, $pattern) = @_;

    my $keys = $self->cmd('KEYS', $pattern);
    return { map { $_ => $self->cmd('GET', $_) } @$keys };
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    $self->stop;
}

# a server that reads whatever comes and answers it with $reply, once per
# read; FoundryRedis::stop_liars() ends them (a test's END)
sub liar {
    my ($reply) = @_;

    my $l = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                  Proto => 'tcp', ReuseAddr => 1)
        or die "listen: $!";
    my $port = $l->sockport;
    my $parent = $$;

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        local $SIG{ALRM} = sub { POSIX::_exit(0) };

        # not the test's output: a harness waits for it to close
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        setpgrp(0, 0);

        while (1) {
            POSIX::_exit(0) if getppid() != $parent;
            alarm 60;
            my $c = $l->accept or next;
            my $child = fork;
            next if !defined $child;
            if ($child) {
                1 while waitpid(-1, POSIX::WNOHANG()) > 0;
                close $c;
                next;
            }
            close $l;
            while (sysread $c, my $buf, 65536) {
                syswrite $c, $reply;
            }
            POSIX::_exit(0);
        }
    }

    close $l;

    push @Liars, $pid;

    return ($port, $pid);
}

sub stop_liars {
    kill 'KILL', -$_ for @Liars;
    waitpid $_, 0 for @Liars;
    @Liars = ();
}

# a node's /metrics page matching $re within 15 s (a sync's state changes
# at its own interval)
sub wait_metrics {
    my ($node, $re) = @_;
    my $deadline = time + 15;
    while (time < $deadline) {
        my (undef, undef, $body) = $node->request('GET', '/metrics');
        return 1 if $body =~ $re;
        sleep 0.1;
    }
    return 0;
}

# a gateway node: one worker, gpt-4o on the mock at $a{mock}, the limit
# zone $a{zone} synced by "foundry_limit_sync zone=ZONE $a{sync}", a daily
# token limit per x-tenant header on /v1/, /metrics

sub node {
    my (%a) = @_;

    return FoundryNginx->new(workers => 1, http => <<"CONF");
    foundry_upstream oai kind=openai url=http://127.0.0.1:$a{mock};
    foundry_limit_zone $a{zone}:1m;
    foundry_limit_sync zone=$a{zone} $a{sync}
                       interval=200ms timeout=500ms;
    foundry_metrics_zone metrics:1m;

    server {
        listen 127.0.0.1:\$PORT;

        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=oai;
            foundry_limit zone=$a{zone} key=\$http_x_tenant
                          tokens_per_day=100000;
            include $a{params};
        }

        location = /metrics {
            foundry_metrics;
        }
    }
CONF
}

# a limited call on a node as $tenant: its status

sub call {
    my ($node, $tenant) = @_;

    my ($status) = $node->request('POST', '/v1/chat/completions',
        ['x-tenant' => $tenant, 'x-mock-usage' => '60,40'],
        '{"model":"gpt-4o","max_tokens":88,"messages":[]}');
    return $status;
}

1;
