package FoundryIntrospect;

# An OAuth 2.0 token introspection endpoint (RFC 7662) for the tests of
# foundry_token_introspection, on 127.0.0.1 with a free port: a process
# that forks one child per connection, so that a slow answer does not hold
# the others.  Core Perl modules only.
#
#   my $srv = FoundryIntrospect->new;          # started
#   $srv->port;
#   $srv->answer('tok-1' => { json => { active => JSON::PP::true,
#                                       exp => time + 60 } });
#   $srv->answer('tok-2' => { raw => 'not json', status => 200,
#                             delay_ms => 3000 });
#   $srv->calls;        # the calls so far, each { token, authorization,
#                       # content_type, accept, method, path, body }
#   $srv->calls_for('tok-1');
#
# An unknown token is answered {"active":false}.  Answers are read from a
# file at each call, so they may change between requests.

use strict;
use warnings;

use Fcntl qw(:flock);
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

my @SERVERS;

sub new {
    my ($class) = @_;

    my $dir = tempdir('foundry-introspect-XXXXXX', TMPDIR => 1,
                      CLEANUP => 1);

    my $listen = IO::Socket::INET->new(Listen => 64,
                                       LocalAddr => '127.0.0.1',
                                       Proto => 'tcp', ReuseAddr => 1)
        or die "FoundryIntrospect: listen: $!";

    my $self = bless { dir => $dir, port => $listen->sockport,
                       owner => $$ }, $class;

    $self->_write_answers({});

    open my $fh, '>', "$dir/calls.log" or die "$dir/calls.log: $!";
    close $fh;

    STDOUT->flush;
    STDERR->flush;

    my $pid = fork // die "FoundryIntrospect: fork: $!";

    if ($pid == 0) {
        $SIG{CHLD} = 'IGNORE';
        $SIG{PIPE} = 'IGNORE';
        $SIG{TERM} = sub { POSIX::_exit(0) };
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';

        for (;;) {
            my $c = $listen->accept or next;
            my $child = fork;

            if (defined $child && $child == 0) {
                eval { $self->_serve($c) };
                POSIX::_exit(0);
            }

            close $c;
        }
    }

    close $listen;

    $self->{pid} = $pid;
    push @SERVERS, $self;

    return $self;
}

sub port { $_[0]{port} }

sub answer {
    my ($self, %set) = @_;

    my $all = $self->_read_answers;
    @$all{keys %set} = values %set;
    $self->_write_answers($all);
}

sub calls {
    my ($self) = @_;

    open my $fh, '<', "$self->{dir}/calls.log" or return [];
    flock $fh, LOCK_SH;
    my @calls = map { JSON::PP::decode_json($_) } grep { /\S/ } <$fh>;
    close $fh;

    return \@calls;
}

sub calls_for {
    my ($self, $token) = @_;

    return scalar grep { ($_->{token} // '') eq $token } @{ $self->calls };
}

sub stop {
    my ($self) = @_;

    return unless $self->{pid} && $self->{owner} == $$;

    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    $self->stop;
}

END {
    local ($?, $!, $@);
    $_->stop for @SERVERS;
}

sub _read_answers {
    my ($self) = @_;

    open my $fh, '<', "$self->{dir}/answers.json" or return {};
    local $/;
    my $text = <$fh>;
    close $fh;

    return JSON::PP::decode_json($text);
}

sub _write_answers {
    my ($self, $all) = @_;

    my $tmp = "$self->{dir}/answers.json.$$";

    open my $fh, '>', $tmp or die "$tmp: $!";
    print $fh JSON::PP->new->canonical->encode($all);
    close $fh;

    rename $tmp, "$self->{dir}/answers.json" or die "rename: $!";
}

sub _unescape {
    my ($s) = @_;

    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;

    return $s;
}

sub _serve {
    my ($self, $c) = @_;

    binmode $c;
    my $buf = '';

    while ($buf !~ /\r\n\r\n/) {
        my $n = sysread $c, $buf, 65536, length $buf;
        return unless $n;
    }

    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($method, $path) = $head =~ m{^(\S+) (\S+)};
    my %h;

    for my $line (split /\r\n/, $head) {
        $h{lc $1} = $2 if $line =~ /^([^:]+):\s*(.*)$/;
    }

    my $len = $h{'content-length'} // 0;

    while (length $body < $len) {
        my $n = sysread $c, $body, 65536, length $body;
        last unless $n;
    }

    my %form = map { my ($k, $v) = split /=/, $_, 2;
                     (_unescape($k) => _unescape($v // '')) }
               split /&/, $body;

    my $call = { method => $method, path => $path, body => $body,
                 token => $form{token}, hint => $form{token_type_hint},
                 authorization => $h{authorization},
                 content_type => $h{'content-type'},
                 accept => $h{accept}, cookie => $h{cookie} };

    open my $log, '>>', "$self->{dir}/calls.log" or die;
    flock $log, LOCK_EX;
    print $log JSON::PP->new->canonical->encode($call), "\n";
    close $log;

    my $a = $self->_read_answers->{ $form{token} // '' }
            // { json => { active => JSON::PP::false } };

    Time::HiRes::sleep($a->{delay_ms} / 1000) if $a->{delay_ms};

    my $status = $a->{status} // 200;
    my $out = exists $a->{raw} ? $a->{raw}
              : JSON::PP->new->canonical->encode($a->{json});

    print $c "HTTP/1.1 $status X\r\nContent-Type: application/json\r\n"
             . "Content-Length: " . length($out) . "\r\n"
             . "Connection: close\r\n\r\n$out";
    close $c;
}

1;
