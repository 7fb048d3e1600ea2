package FoundryNginx;

# An nginx of a test's own, for what Test::Nginx blocks cannot express
# (reloads, files changed between requests, timing): a temporary prefix,
# a free port on 127.0.0.1, the module loaded, master and workers, stopped
# when the object goes away.
#
#   my $ngx = FoundryNginx->new(http => $conf, workers => 2,
#                               main => 'timer_resolution 100ms;');
#   my ($status, $headers, $body) = $ngx->request('GET', '/v1/models',
#                                                 ['api-key' => 'k']);
#   $ngx->reload; $ngx->stop;
#
# In $conf, "$PORT" is replaced by the port nginx listens on.

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

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
        binary  => $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx',
        modules => $ENV{TEST_NGINX_LOAD_MODULES} || '',
        prefix  => tempdir('foundry-nginx-XXXXXX', TMPDIR => 1,
                           CLEANUP => 1),
        port    => free_port(),
        workers => $args{workers} || 1,
        main    => $args{main} // '',
    }, $class;

    mkdir "$self->{prefix}/$_" for qw(conf logs tmp);

    $self->write_conf($args{http});
    $self->start;

    return $self;
}

sub write_conf {
    my ($self, $http) = @_;

    my $p = $self->{prefix};
    my $load = join '', map { "load_module $_;\n" }
                        split ' ', $self->{modules};

    $http =~ s/\$PORT\b/$self->{port}/g;

    open my $fh, '>', "$p/conf/nginx.conf" or die "$p/conf/nginx.conf: $!";
    print $fh <<"CONF";
${load}daemon on;
master_process on;
worker_processes $self->{workers};
$self->{main}
error_log $p/logs/error.log ${\($ENV{FOUNDRY_NGINX_LOG_LEVEL} || "info")};
pid $p/logs/nginx.pid;
events { worker_connections 256; }
http {
    access_log $p/logs/access.log;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
$http
}
CONF
    close $fh;
}

sub start {
    my ($self) = @_;

    my $p = $self->{prefix};

    system($self->{binary}, '-p', "$p/", '-c', "$p/conf/nginx.conf") == 0
        or die "nginx did not start: " . $self->error_log;

    $self->wait_port;

    # kept: the temporary prefix, pid file included, may go first at exit
    $self->{master} = $self->pid;
}

sub wait_port {
    my ($self) = @_;

    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}");
        return if $s;
        sleep 0.05;
    }

    die "nginx does not listen on $self->{port}";
}

sub pid {
    my ($self) = @_;

    open my $fh, '<', "$self->{prefix}/logs/nginx.pid"
        or return $self->{master};
    my $pid = <$fh>;
    chomp $pid if defined $pid;
    return $pid;
}

# a reload: HUP, then wait until the old workers are gone
sub reload {
    my ($self) = @_;

    my $pid = $self->pid or die "no nginx pid";
    my @old = $self->workers;

    kill 'HUP', $pid;

    my $deadline = time + 60;

    while (time < $deadline) {
        my %now = map { $_ => 1 } $self->workers;
        last unless grep { $now{$_} } @old;
        sleep 0.05;
    }

    sleep 0.1;
}

sub workers {
    my ($self) = @_;

    my $master = $self->pid or return ();
    my @w;

    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*?\) \S+ (\d+)/ or next;
        push @w, $pid if $ppid == $master;
    }

    return @w;
}

sub request {
    my ($self, $method, $path, $headers, $body) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}",
                                  Timeout => 5)
        or die "connect: $!";

    my @h = @{ $headers || [] };

    # "Host: localhost" unless the headers give one

    my $host = (grep { $_ % 2 == 0 && lc $h[$_] eq 'host' } 0 .. $#h)
               ? '' : "Host: localhost\r\n";

    my $req = "$method $path HTTP/1.1\r\n${host}Connection: close\r\n";

    while (my ($k, $v) = splice @h, 0, 2) {
        $req .= "$k: $v\r\n";
    }

    if (defined $body) {
        $req .= "Content-Length: " . length($body) . "\r\n";
    }

    $req .= "\r\n" . ($body // '');

    print $s $req;

    local $/;
    my $resp = <$s> // '';
    close $s;

    my ($head, $content) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    my %h;

    for my $line (split /\r\n/, $head // '') {
        $h{lc $1} = $2 if $line =~ /^([^:]+):\s*(.*)$/;
    }

    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($content =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($content, 0, $n, '');
            $content =~ s/^\r\n//;
        }
        $content = $out;
    }

    return ($status // 0, \%h, $content // '');
}

sub error_log {
    my ($self) = @_;

    open my $fh, '<', "$self->{prefix}/logs/error.log" or return '';
    local $/;
    return <$fh> // '';
}

sub stop {
    my ($self) = @_;

    my $pid = $self->pid or return;

    kill 'QUIT', $pid;

    for (1 .. 100) {
        last unless kill 0, $pid;
        sleep 0.05;
    }

    kill 'KILL', $pid if kill 0, $pid;
    unlink "$self->{prefix}/logs/nginx.pid";
    delete $self->{master};
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    $self->stop;
}

# the content of a file below the prefix, e.g. $ngx->file('logs/usage.log');
# '' when it does not exist

sub file {
    my ($self, $name) = @_;

    open my $fh, '<', "$self->{prefix}/$name" or return '';
    binmode $fh;
    local $/;
    return <$fh> // '';
}

# the lines of a log below the prefix written since the last call for the
# same file (all of them the first time)

sub new_lines {
    my ($self, $name) = @_;

    my $all = $self->file($name);
    my $from = $self->{log_offsets}{$name} // 0;

    $from = 0 if $from > length $all;
    $self->{log_offsets}{$name} = length $all;

    return split /\n/, substr($all, $from);
}

1;
