package FoundryMock;

# Mock model upstream for the Foundry gateway test suite and `make demo`.
#
# Imitates Azure OpenAI (classic deployment routes and /openai/v1), OpenAI,
# OpenAI-compatible servers and the Azure Resource Manager deployment list,
# can echo requests back and inject faults.  Single process, non-blocking
# event loop (IO::Select + Time::HiRes timers), core Perl modules only.
#
# The contract (routes, headers, shapes) is documented in t/mock/README.md.

use strict;
use warnings;

use Carp qw(croak);
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use IO::Handle ();
use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 ();
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY SHUT_WR);
use Time::HiRes ();

our $VERSION = '1.00';

use constant {
    CREATED        => 1700000000,
    REPLY_TEXT     => 'Hello from the mock upstream.',
    MAX_HEADER     => 64 * 1024,          # request line + headers
    MAX_BODY       => 64 * 1024 * 1024,   # decoded request body
    MAX_CHUNK_LINE => 4096,
    MAX_RBUF_BUSY  => 1024 * 1024,        # pipelined bytes buffered while busy
    READ_SIZE      => 64 * 1024,
    IDLE_TIMEOUT   => 300,                # seconds, idle keep-alive connection
    LINGER_TIME    => 2,                  # seconds, lingering close
    MAX_DELAY_MS   => 600_000,
    MAX_CHUNKS     => 100_000,
    POLL_INTERVAL  => 0.2,                # seconds, parent liveness check
};

my @DEFAULT_DEPLOYMENTS = (
    { name => 'gpt-4o', model => 'gpt-4o',
      version => '2024-11-20', format => 'OpenAI' },
    { name => 'gpt-4o-mini', model => 'gpt-4o-mini',
      version => '2024-07-18', format => 'OpenAI' },
    { name => 'text-embedding-3-small', model => 'text-embedding-3-small',
      version => '1', format => 'OpenAI' },
);

my @EMBEDDING = (0.0023, -0.0091, 0.0154, -0.0042,
                 0.0087, -0.0131, 0.0065, -0.0019);

my $OPS_RE = qr{chat/completions|completions|embeddings|responses};
my %OPS = map { $_ => 1 } qw(chat/completions completions embeddings responses);

my %REASON = (
    200 => 'OK', 201 => 'Created', 202 => 'Accepted', 203 => 'Non-Authoritative Information',
    204 => 'No Content', 206 => 'Partial Content',
    300 => 'Multiple Choices', 301 => 'Moved Permanently', 302 => 'Found',
    303 => 'See Other', 304 => 'Not Modified', 307 => 'Temporary Redirect',
    308 => 'Permanent Redirect',
    400 => 'Bad Request', 401 => 'Unauthorized', 402 => 'Payment Required',
    403 => 'Forbidden', 404 => 'Not Found', 405 => 'Method Not Allowed',
    406 => 'Not Acceptable', 408 => 'Request Timeout', 409 => 'Conflict',
    410 => 'Gone', 411 => 'Length Required', 412 => 'Precondition Failed',
    413 => 'Content Too Large', 414 => 'URI Too Long',
    415 => 'Unsupported Media Type', 417 => 'Expectation Failed',
    422 => 'Unprocessable Content', 424 => 'Failed Dependency',
    425 => 'Too Early', 429 => 'Too Many Requests',
    431 => 'Request Header Fields Too Large',
    500 => 'Internal Server Error', 501 => 'Not Implemented', 502 => 'Bad Gateway',
    503 => 'Service Unavailable', 504 => 'Gateway Timeout',
    505 => 'HTTP Version Not Supported',
);

# Output: canonical (sorted keys) so bodies are byte-for-byte stable.
my $JSON_OUT = JSON::PP->new->utf8->canonical->allow_nonref;
my $JSON_IN  = JSON::PP->new->utf8->allow_nonref;

sub _now { Time::HiRes::time() }

# ---------------------------------------------------------------------------
# Test-file API: start() / stop()
# ---------------------------------------------------------------------------

my @CHILDREN;    # [ pid, pid of the process that started it ]
my $LAST_PORT;
my $LAST_PID;

sub start {
    my (%opts) = @_;

    # Bind in the parent: the port accepts connections (into the backlog)
    # before start() returns, so callers never race the child.
    my $srv = __PACKAGE__->new(%opts);
    my $port = $srv->port;
    my $parent = $$;

    # flush before forking, or the child would write buffered output again
    STDOUT->flush;
    STDERR->flush;

    my $pid = fork;
    croak "FoundryMock: fork failed: $!" unless defined $pid;

    if ($pid == 0) {
        eval {
            $SIG{INT} = $SIG{TERM} = sub { $srv->{stopping} = 1 };
            $SIG{HUP} = 'IGNORE';
            $SIG{PIPE} = 'IGNORE';
            $SIG{CHLD} = 'DEFAULT';
            $SIG{__DIE__} = 'DEFAULT';
            $SIG{__WARN__} = sub {};
            @CHILDREN = ();
            # do not hold the test harness's pipes open
            open STDIN, '<', '/dev/null';
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', '/dev/null';
            $srv->run(parent => $parent);
        };
        # never run the parent's END blocks (Test::More, Test::Nginx ...)
        POSIX::_exit(0);
    }

    # the parent keeps no copy of the listening socket / log handle
    $srv->{listener}->close;
    delete $srv->{logfh};

    push @CHILDREN, [ $pid, $$ ];
    $LAST_PORT = $port;
    $LAST_PID = $pid;
    return $port;
}

# a raw request to the control routes of the mock on $port (/__mock/...):
# its JSON answer, decoded

sub control {
    my ($port, $method, $path, $body) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 5) or die "mock: $!";
    my $req = "$method $path HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n";
    $req .= "Content-Type: application/json\r\nContent-Length: "
            . length($body) . "\r\n" if defined $body;
    print $s $req . "\r\n" . ($body // '');
    local $/;
    my $resp = <$s> // '';
    my ($head, $content) = split /\r\n\r\n/, $resp, 2;
    return JSON::PP::decode_json($content);
}

# the content checker's calls since the last reset, then a reset

sub content_calls {
    my ($port) = @_;

    my $c = control($port, 'GET', '/__mock/content')->{calls};
    control($port, 'PUT', '/__mock/content', '{"reset":true}');
    return $c;
}

# pid of the child started by the last start() call
sub pid { return $LAST_PID }

sub port {
    my ($self) = @_;
    return ref $self ? $self->{port} : $LAST_PORT;
}

sub stop {
    local ($?, $!, $@);
    # only the process that called start() stops its mocks (forked copies of
    # it, e.g. helpers exiting normally, must not)
    my @pids = map { $_->[0] } grep { $_->[1] == $$ } @CHILDREN;
    @CHILDREN = grep { $_->[1] != $$ } @CHILDREN;
    for my $pid (@pids) {
        kill 'TERM', $pid;
        my $deadline = _now() + 3;
        while (1) {
            my $r = waitpid($pid, POSIX::WNOHANG());
            last if $r == $pid || $r == -1;
            if (_now() > $deadline) {
                kill 'KILL', $pid;
                waitpid($pid, 0);
                last;
            }
            Time::HiRes::sleep(0.01);
        }
    }
    return;
}

END { stop() }

# ---------------------------------------------------------------------------
# Deployment table
# ---------------------------------------------------------------------------

sub default_deployments { return [ map { +{%$_} } @DEFAULT_DEPLOYMENTS ] }

sub normalize_deployments {
    my ($list) = @_;
    die "deployments must be a JSON array\n" unless ref $list eq 'ARRAY';
    my (@out, %seen);
    for my $d (@$list) {
        die "each deployment must be a JSON object\n" unless ref $d eq 'HASH';
        my $name = $d->{name};
        die "deployment 'name' must be a non-empty string without '/', '?' or '#'\n"
            unless defined $name && !ref $name && length $name
                   && $name !~ m{[/?#]};
        die "duplicate deployment name '$name'\n" if $seen{$name}++;
        for my $k (qw(model version format)) {
            die "deployment '$name': '$k' must be a string\n"
                if defined $d->{$k} && ref $d->{$k};
        }
        push @out, {
            name    => "$name",
            model   => defined $d->{model}   ? "$d->{model}"   : "$name",
            version => defined $d->{version} ? "$d->{version}" : '1',
            format  => defined $d->{format}  ? "$d->{format}"  : 'OpenAI',
        };
    }
    return \@out;
}

sub _find_deployment {
    my ($self, $name) = @_;
    for my $d (@{ $self->{deployments} }) {
        return $d if $d->{name} eq $name;
    }
    return;
}

# ---------------------------------------------------------------------------
# Server object
# ---------------------------------------------------------------------------

sub new {
    my ($class, %o) = @_;

    my $deps = eval { normalize_deployments($o{deployments} // \@DEFAULT_DEPLOYMENTS) };
    croak "FoundryMock: $@" unless $deps;

    my $port = $o{port} // 0;
    croak "FoundryMock: invalid port '$port'"
        unless $port =~ /^\d+$/ && $port < 65536;

    my $l = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => $port,
        Proto     => 'tcp',
        Listen    => 1024,
        ReuseAddr => 1,
    ) or croak "FoundryMock: cannot listen on 127.0.0.1:$port: "
               . ($@ || $!);
    $l->blocking(0);

    my $self = bless {
        listener    => $l,
        port        => $l->sockport,
        deployments => $deps,
        initial     => [ map { +{%$_} } @$deps ],
        next_id     => 0,
        stats       => { requests => 0, by_path => {} },
        token       => { expires_in => 3600, mode => 'ok', issued => 0,
                         check => 0, secret => 'mock-client-secret',
                         identity_header => 'mock-identity-header',
                         valid => {} },
        content     => { mode => 'ok', calls => [] },
        conns       => {},
        timers      => [],
        ready       => [],
        printer     => $o{printer},
        stopping    => 0,
    }, $class;

    if (defined $o{log}) {
        open my $fh, '>>', $o{log}
            or croak "FoundryMock: cannot open log '$o{log}': $!";
        binmode $fh;
        my $old = select $fh; $| = 1; select $old;
        $self->{logfh} = $fh;
    }

    return $self;
}

sub stop_loop { $_[0]{stopping} = 1 }

sub run {
    my ($self, %o) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $parent = $o{parent};

    while (!$self->{stopping}) {
        last if defined $parent && getppid() != $parent;

        my $now = _now();
        $self->_sweep($now);

        my $timeout = @{ $self->{ready} } ? 0 : POLL_INTERVAL;
        for my $t (@{ $self->{timers} }) {
            next if $t->{cancelled};
            my $d = $t->{at} - $now;
            $timeout = $d if $d < $timeout;
        }
        $timeout = 0 if $timeout < 0;

        my $rs = IO::Select->new($self->{listener});
        my $ws = IO::Select->new;
        for my $c (values %{ $self->{conns} }) {
            $rs->add($c->{fh}) if $self->_wants_read($c);
            $ws->add($c->{fh}) if length $c->{wbuf};
        }

        my ($r, $w) = IO::Select->select($rs, $ws, undef, $timeout);

        for my $fh (@{ $w || [] }) {
            my $c = $self->_conn_of($fh) or next;
            $self->_safely(sub { $self->_flush($c) }, $c);
        }
        for my $fh (@{ $r || [] }) {
            if ($fh == $self->{listener}) {
                $self->_accept_all;
                next;
            }
            my $c = $self->_conn_of($fh) or next;
            $self->_safely(sub { $self->_on_readable($c) }, $c);
        }
        $self->_run_timers;
        $self->_run_ready;
    }

    for my $c (values %{ $self->{conns} }) {
        $self->_close($c);
    }
    $self->{listener}->close if $self->{listener};
    return;
}

sub _conn_of {
    my ($self, $fh) = @_;
    my $fd = fileno $fh;
    return unless defined $fd;
    my $c = $self->{conns}{$fd};
    return unless $c && !$c->{closed} && $c->{fh} == $fh;
    return $c;
}

sub _accept_all {
    my ($self) = @_;
    while (my $fh = $self->{listener}->accept) {
        $fh->blocking(0);
        binmode $fh;
        setsockopt($fh, IPPROTO_TCP, TCP_NODELAY, 1);
        my $fd = fileno $fh;
        my $peer = eval { $fh->peerhost . ':' . $fh->peerport } // '?';
        $self->{conns}{$fd} = {
            fh => $fh, fd => $fd, peer => $peer,
            rbuf => '', wbuf => '', busy => 0, last => _now(),
        };
    }
    return;
}

sub _wants_read {
    my ($self, $c) = @_;
    return 0 if $c->{closed};
    return 1 if $c->{lingering};
    return 0 if $c->{eof} || $c->{noread};
    return 1 unless $c->{busy};
    return length($c->{rbuf}) < MAX_RBUF_BUSY;
}

sub _sweep {
    my ($self, $now) = @_;
    for my $c (values %{ $self->{conns} }) {
        if ($c->{lingering}) {
            $self->_close($c) if $now > $c->{lingering};
        } elsif (!$c->{busy} && !length $c->{wbuf}
                 && $now - $c->{last} > IDLE_TIMEOUT) {
            $self->_close($c);
        }
    }
    return;
}

# ---- timers / deferred callbacks ------------------------------------------

sub _add_timer {
    my ($self, $sec, $cb) = @_;
    my $t = { at => _now() + $sec, cb => $cb };
    push @{ $self->{timers} }, $t;
    return $t;
}

sub _cancel_timer {
    my ($t) = @_;
    return unless $t;
    $t->{cancelled} = 1;
    delete $t->{cb};
    return;
}

sub _run_timers {
    my ($self) = @_;
    return unless @{ $self->{timers} };
    my $now = _now();
    my (@due, @keep);
    for my $t (@{ $self->{timers} }) {
        next if $t->{cancelled};
        if ($t->{at} <= $now) { push @due, $t } else { push @keep, $t }
    }
    $self->{timers} = \@keep;
    for my $t (sort { $a->{at} <=> $b->{at} } @due) {
        next if $t->{cancelled};
        my $cb = delete $t->{cb};
        $self->_safely($cb);
    }
    return;
}

sub _run_ready {
    my ($self) = @_;
    # callbacks queued while these run wait for the next loop iteration
    my @r = @{ $self->{ready} };
    $self->{ready} = [];
    for my $item (@r) {
        my ($c, $cb) = @$item;
        next if $c->{closed};
        $self->_safely($cb, $c);
    }
    return;
}

# Run a callback; a bug in the mock must never take the server down: log it
# and drop the connection concerned.
sub _safely {
    my ($self, $cb, $c) = @_;
    return unless $cb;
    eval { $cb->(); 1 } or do {
        my $e = $@;
        $e =~ s/\s+\z//;
        $self->_logline("internal error: $e");
        $self->_close($c) if $c;
    };
    return;
}

# ---- I/O ------------------------------------------------------------------

sub _on_readable {
    my ($self, $c) = @_;
    my $n = sysread($c->{fh}, $c->{rbuf}, READ_SIZE, length $c->{rbuf});
    if (!defined $n) {
        return if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
        return $self->_close($c);
    }
    $c->{last} = _now();
    if ($c->{lingering}) {
        $c->{rbuf} = '';
        $self->_close($c) if $n == 0;
        return;
    }
    $c->{eof} = 1 if $n == 0;
    $self->_process($c);
    return;
}

sub _write {
    my ($self, $c, $data, $then) = @_;
    return if $c->{closed};
    $c->{wbuf} .= $data;
    $c->{on_drain} = $then;
    $self->_flush($c);
    return;
}

sub _flush {
    my ($self, $c) = @_;
    while (length $c->{wbuf}) {
        my $n = syswrite($c->{fh}, $c->{wbuf});
        if (!defined $n) {
            return if $! == EAGAIN || $! == EWOULDBLOCK;
            next if $! == EINTR;
            return $self->_close($c);
        }
        substr($c->{wbuf}, 0, $n, '');
        $c->{last} = _now();
    }
    if (my $cb = delete $c->{on_drain}) {
        push @{ $self->{ready} }, [ $c, $cb ];
    }
    return;
}

# Graceful close: FIN after all queued data, then drain the peer for a while
# so unread request bytes never turn into a RST that eats our response.
sub _linger_close {
    my ($self, $c) = @_;
    return if $c->{closed} || $c->{lingering};
    _cancel_timer(delete $c->{timer});
    delete $c->{stream};
    delete $c->{on_drain};
    shutdown($c->{fh}, SHUT_WR);
    $c->{rbuf} = '';
    $c->{lingering} = _now() + LINGER_TIME;
    return;
}

sub _close {
    my ($self, $c) = @_;
    return if $c->{closed};
    $c->{closed} = 1;
    _cancel_timer(delete $c->{timer});
    delete $c->{stream};
    delete $c->{on_drain};
    delete $self->{conns}{ $c->{fd} };
    close $c->{fh};
    return;
}

# ---------------------------------------------------------------------------
# HTTP request parsing (incremental, pipelining aware)
# ---------------------------------------------------------------------------

sub _process {
    my ($self, $c) = @_;
    while (!$c->{closed} && !$c->{busy} && !$c->{lingering}) {
        my ($kind, @rest) = $self->_parse($c);
        if ($kind eq 'need') {
            $self->_close($c) if $c->{eof};
            return;
        }
        if ($kind eq 'error') {
            $self->_dispatch_error($c, @rest);
            return;
        }
        $self->_dispatch($c, $rest[0]);
    }
    return;
}

my $TOKEN = qr/[!#\$%&'*+.^_`|~0-9A-Za-z-]+/;

sub _parse {
    my ($self, $c) = @_;
    my $req = $c->{req};

    if (!$req) {
        $c->{rbuf} =~ s/\A(?:\r?\n)+//;
        return 'need' unless length $c->{rbuf};
        if ($c->{rbuf} !~ /\r?\n\r?\n/) {
            return ('error', 431, 'Request header block too large')
                if length $c->{rbuf} > MAX_HEADER;
            return 'need';
        }
        $c->{rbuf} =~ s/\A(.*?)\r?\n\r?\n//s;
        my $head = $1;
        return ('error', 431, 'Request header block too large')
            if length $head > MAX_HEADER;

        my @lines = split /\r?\n/, $head, -1;
        my $rl = shift @lines;
        my ($method, $target, $major, $minor) =
            $rl =~ m{\A($TOKEN) ([^\s]+) HTTP/(\d)\.(\d)\z}
            or return ('error', 400, 'Malformed request line');
        return ('error', 505, 'HTTP version not supported') unless $major == 1;

        if ($target =~ m{\Ahttps?://[^/?#]*(.*)\z}is) {
            $target = length $1 ? $1 : '/';
            $target = "/$target" unless $target =~ m{\A/};
        }
        return ('error', 400, 'Malformed request target')
            unless $target =~ m{\A/} || ($method eq 'OPTIONS' && $target eq '*');

        my (@headers, %h);
        for my $line (@lines) {
            return ('error', 400, 'Obsolete header line folding is not supported')
                if $line =~ /\A[ \t]/;
            my ($n, $v) = $line =~ /\A($TOKEN):[ \t]*(.*?)[ \t]*\z/s
                or return ('error', 400, 'Malformed header line');
            return ('error', 400, 'Invalid character in header value')
                if $v =~ /[\x00\r\n]/;
            push @headers, [ $n, $v ];
            push @{ $h{ lc $n } }, $v;
        }

        my ($path, $query) = $target =~ /\A([^?#]*)(?:\?([^#]*))?/;
        $req = {
            method => $method, target => $target,
            path => $path, query => $query // '',
            major => 0 + $major, minor => 0 + $minor,
            headers => \@headers, h => \%h, body => '',
        };

        my %ctok = map { lc($_) => 1 }
                   map { split /\s*,\s*/ } @{ $h{connection} || [] };
        $req->{keepalive} = $minor >= 1 ? !$ctok{close} : !!$ctok{'keep-alive'};

        if ($h{'transfer-encoding'}) {
            my @codings = grep { length }
                          map { my $x = lc $_; $x =~ s/\A\s+|\s+\z//g; $x }
                          map { split /,/ } @{ $h{'transfer-encoding'} };
            return ('error', 400, 'Unsupported Transfer-Encoding')
                unless @codings && $codings[-1] eq 'chunked';
            return ('error', 501, 'Unsupported transfer coding')
                if grep { $_ ne 'chunked' } @codings;
            return ('error', 400, 'Transfer-Encoding requires HTTP/1.1')
                if $minor < 1;
            $req->{chunked} = 1;
            $req->{cstate} = 'size';
            # both framings present: use chunked, close afterwards
            $req->{keepalive} = 0 if $h{'content-length'};
        } elsif ($h{'content-length'}) {
            my %v = map { $_ => 1 }
                    map { my $x = $_; $x =~ s/\A\s+|\s+\z//g; $x }
                    map { split /,/ } @{ $h{'content-length'} };
            my @v = keys %v;
            return ('error', 400, 'Invalid Content-Length')
                unless @v == 1 && $v[0] =~ /\A\d{1,15}\z/;
            $req->{need} = 0 + $v[0];
            return ('error', 413, 'Request body too large')
                if $req->{need} > MAX_BODY;
        } else {
            $req->{need} = 0;
        }

        my $expect = lc($h{expect}[0] // '');
        if ($expect eq '100-continue' && $minor >= 1) {
            my $pending = $req->{chunked} ? !length $c->{rbuf}
                                          : length $c->{rbuf} < $req->{need};
            if ($pending) {
                $c->{wbuf} .= "HTTP/1.1 100 Continue\r\n\r\n";
                $self->_flush($c);
            }
        }
        $c->{req} = $req;
    }

    # ---- body ----
    if (!$req->{chunked}) {
        return 'need' if length $c->{rbuf} < $req->{need};
        $req->{body} = substr($c->{rbuf}, 0, $req->{need}, '');
        delete $c->{req};
        return ('req', $req);
    }

    while (1) {
        my $st = $req->{cstate};
        if ($st eq 'size') {
            my $i = index($c->{rbuf}, "\n");
            if ($i < 0) {
                return ('error', 400, 'Malformed chunk size line')
                    if length $c->{rbuf} > MAX_CHUNK_LINE;
                return 'need';
            }
            my $line = substr($c->{rbuf}, 0, $i + 1, '');
            $line =~ s/\r?\n\z//;
            my ($hex) = $line =~ /\A([0-9A-Fa-f]{1,15})[ \t]*(?:;.*)?\z/s
                or return ('error', 400, 'Malformed chunk size line');
            my $size = hex $hex;
            if ($size == 0) {
                $req->{cstate} = 'trailer';
                $req->{tlen} = 0;
                next;
            }
            return ('error', 413, 'Request body too large')
                if length($req->{body}) + $size > MAX_BODY;
            $req->{remaining} = $size;
            $req->{cstate} = 'data';
        } elsif ($st eq 'data') {
            return 'need' unless length $c->{rbuf};
            my $take = $req->{remaining} < length $c->{rbuf}
                     ? $req->{remaining} : length $c->{rbuf};
            $req->{body} .= substr($c->{rbuf}, 0, $take, '');
            $req->{remaining} -= $take;
            return 'need' if $req->{remaining} > 0;
            $req->{cstate} = 'crlf';
        } elsif ($st eq 'crlf') {
            return 'need' if $c->{rbuf} eq '' || $c->{rbuf} eq "\r";
            if ($c->{rbuf} =~ s/\A\r?\n//) {
                $req->{cstate} = 'size';
            } else {
                return ('error', 400, 'Missing CRLF after chunk data');
            }
        } else {    # trailer section
            my $i = index($c->{rbuf}, "\n");
            if ($i < 0) {
                return ('error', 400, 'Trailer section too large')
                    if length $c->{rbuf} > MAX_HEADER;
                return 'need';
            }
            my $line = substr($c->{rbuf}, 0, $i + 1, '');
            $line =~ s/\r?\n\z//;
            $req->{tlen} += length $line;
            return ('error', 400, 'Trailer section too large')
                if $req->{tlen} > MAX_HEADER;
            if ($line eq '') {
                delete @{$req}{qw(cstate remaining tlen)};
                delete $c->{req};
                return ('req', $req);
            }
            return ('error', 400, 'Malformed trailer field')
                unless $line =~ /\A$TOKEN:/;
        }
    }
}

# ---------------------------------------------------------------------------
# Dispatch and response writing
# ---------------------------------------------------------------------------

sub _dispatch_error {
    my ($self, $c, $status, $msg) = @_;
    $c->{busy} = 1;
    $c->{noread} = 1;
    $c->{rbuf} = '';
    delete $c->{req};
    my $req = {
        id => ++$self->{next_id}, method => '-', target => '-',
        major => 1, minor => 1, keepalive => 0,
    };
    my $resp = _err($status, $status == 431 ? 'RequestHeaderFieldsTooLarge'
                           : $status == 413 ? 'RequestEntityTooLarge'
                           : $status == 505 ? 'HTTPVersionNotSupported'
                           : $status == 501 ? 'NotImplemented'
                           : 'BadRequest', $msg);
    $resp->{route} = 'compat';
    $resp->{close} = 1;
    $self->_start_response($c, $req, $resp);
    return;
}

sub _dispatch {
    my ($self, $c, $req) = @_;
    $c->{busy} = 1;
    $req->{id} = ++$self->{next_id};
    $req->{peer} = $c->{peer};

    my $resp = eval { $self->_handle($req) };
    if (!$resp) {
        my $e = $@ || 'unknown error';
        $e =~ s/\s+\z//;
        $resp = _err(500, 'InternalServerError', "mock internal error: $e");
    }
    $resp->{route} //= 'compat';

    my $delay = $resp->{delay_ms} // 0;
    if ($delay > 0) {
        $c->{timer} = $self->_add_timer($delay / 1000, sub {
            delete $c->{timer};
            $self->_start_response($c, $req, $resp);
        });
    } else {
        $self->_start_response($c, $req, $resp);
    }
    return;
}

sub _http_date {
    return POSIX::strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime);
}

sub _start_response {
    my ($self, $c, $req, $resp) = @_;
    return if $c->{closed};

    my $status = $resp->{status};
    my $http11 = $req->{minor} >= 1;
    my $sse = $resp->{events} ? 1 : 0;
    my $chunked = $sse && $http11;
    my $keep = ($req->{keepalive} && !$resp->{close}) ? 1 : 0;
    $keep = 0 if $sse && !$http11;              # close-delimited body
    $keep = 0 if defined $resp->{reset_after};
    my $no_body = $status == 204 || $status == 304;

    my @h = (
        sprintf('HTTP/1.1 %d %s', $status, $REASON{$status} // 'Unknown'),
        'Date: ' . _http_date(),
        "Server: foundry-mock/$VERSION",
        "x-mock-request-id: $req->{id}",
        "x-mock-route: $resp->{route}",
    );
    push @h, "Content-Type: $resp->{ctype}"
        if defined $resp->{ctype} && !$no_body;
    push @h, @{ $resp->{headers} || [] };
    if ($sse) {
        push @h, 'Cache-Control: no-cache';
        push @h, 'Transfer-Encoding: chunked' if $chunked;
    } elsif (!$no_body) {
        push @h, 'Content-Length: ' . length($resp->{body} // '');
    }
    if ($http11) {
        push @h, 'Connection: close' unless $keep;
    } else {
        push @h, $keep ? 'Connection: keep-alive' : 'Connection: close';
    }
    $c->{keep} = $keep;

    $self->_log_request($c, $req, $status, $resp);

    my $head = join("\r\n", @h) . "\r\n\r\n";

    if (!$sse) {
        my $body = ($req->{method} eq 'HEAD' || $no_body) ? '' : ($resp->{body} // '');
        if (defined $resp->{reset_after}) {
            $self->_write($c, $head . substr($body, 0, $resp->{reset_after}),
                          sub { $self->_linger_close($c) });
        } else {
            $self->_write($c, $head . $body, sub { $self->_finish_response($c) });
        }
        return;
    }

    $c->{stream} = {
        events  => $resp->{events},
        i       => 0,
        delay   => ($resp->{chunk_delay_ms} // 0) / 1000,
        reset   => $resp->{reset_after},
        chunked => $chunked,
    };
    $self->_write($c, $head, sub { $self->_stream_step($c) });
    return;
}

sub _stream_step {
    my ($self, $c) = @_;
    return if $c->{closed};
    my $s = $c->{stream} or return;
    my $n = @{ $s->{events} };

    if (defined $s->{reset} && ($s->{i} >= $s->{reset} || $s->{i} >= $n)) {
        return $self->_linger_close($c);    # no terminating chunk
    }
    if ($s->{i} >= $n) {
        delete $c->{stream};
        if ($s->{chunked}) {
            $self->_write($c, "0\r\n\r\n", sub { $self->_finish_response($c) });
        } else {
            $self->_finish_response($c);
        }
        return;
    }
    if ($s->{i} > 0 && $s->{delay} > 0 && !$s->{waited}) {
        $s->{waited} = 1;
        $c->{timer} = $self->_add_timer($s->{delay}, sub {
            delete $c->{timer};
            $self->_stream_step($c);
        });
        return;
    }
    $s->{waited} = 0;
    my $ev = $s->{events}[ $s->{i}++ ];
    $self->_write($c,
        $s->{chunked} ? sprintf("%x\r\n%s\r\n", length $ev, $ev) : $ev,
        sub { $self->_stream_step($c) });
    return;
}

sub _finish_response {
    my ($self, $c) = @_;
    return if $c->{closed};
    $c->{busy} = 0;
    delete $c->{stream};
    return $self->_linger_close($c) unless $c->{keep};
    $self->_process($c);
    return;
}

# ---- logging ---------------------------------------------------------------

sub _logline {
    my ($self, $line) = @_;
    return unless $self->{printer} || $self->{logfh};
    $line =~ s/([\x00-\x1f\x7f])/sprintf('\\x%02x', ord $1)/ge;
    $self->{printer}->($line) if $self->{printer};
    print { $self->{logfh} } "$line\n" if $self->{logfh};
    return;
}

sub _log_request {
    my ($self, $c, $req, $status, $resp) = @_;
    return unless $self->{printer} || $self->{logfh};
    my $t = _now();
    my $ts = POSIX::strftime('%Y-%m-%dT%H:%M:%S', gmtime int $t)
           . sprintf('.%03dZ', int(($t - int $t) * 1000));
    $self->_logline(sprintf('%s #%d %s "%s %s HTTP/%d.%d" %d %s%s',
        $ts, $req->{id}, $c->{peer}, $req->{method}, $req->{target},
        $req->{major}, $req->{minor}, $status, $resp->{route},
        $resp->{events} ? ' sse' : ''));
    return;
}

# ---------------------------------------------------------------------------
# Request handling
# ---------------------------------------------------------------------------

sub _json_resp {
    my ($status, $data, %extra) = @_;
    return { status => $status, ctype => 'application/json',
             body => $JSON_OUT->encode($data), %extra };
}

sub _err {
    my ($status, $code, $msg, %extra) = @_;
    return _json_resp($status, { error => { code => $code, message => $msg } }, %extra);
}

sub _not_found {
    my ($req) = @_;
    return _err(404, 'NotFound', "Resource not found: $req->{method} $req->{path}");
}

sub _method_not_allowed {
    my ($req, $allow) = @_;
    return _err(405, 'MethodNotAllowed',
                "Method $req->{method} is not allowed on $req->{path}",
                headers => ["Allow: $allow"]);
}

sub _mock_error {
    my ($msg) = @_;
    return _err(400, 'MockError', $msg);
}

sub _hval {
    my ($req, $name) = @_;
    my $v = $req->{h}{$name};
    return $v ? $v->[0] : undef;
}

sub _truthy {
    my ($v) = @_;
    return defined $v && $v !~ /\A\s*(?:0|false|no|off|)\s*\z/i;
}

sub _is_true {
    my ($v) = @_;
    return JSON::PP::is_bool($v) && $v ? 1 : 0;
}

sub _is_string {
    my ($v) = @_;
    return 0 unless defined $v && !ref $v;
    require B;
    my $f = B::svref_2object(\$v)->FLAGS;
    return 0 if ($f & (B::SVp_IOK() | B::SVp_NOK())) && !($f & B::SVp_POK());
    return 1;
}

sub _unescape {
    my ($s) = @_;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    my $copy = $s;
    return utf8::decode($copy) ? $copy : $s;
}

sub _as_text {
    my ($s) = @_;
    my $copy = $s;
    return utf8::decode($copy) ? $copy : $s;   # invalid UTF-8: bytes as Latin-1
}

sub _query_param {
    my ($req, $name) = @_;
    for my $pair (split /&/, $req->{query}) {
        my ($k, $v) = split /=/, $pair, 2;
        $k =~ tr/+/ /;
        next unless _unescape($k) eq $name;
        $v //= '';
        $v =~ tr/+/ /;
        return _unescape($v);
    }
    return;
}

sub _has_api_version {
    my ($req) = @_;
    my $v = _query_param($req, 'api-version');
    return defined $v && length $v;
}

sub _classify {
    my ($path) = @_;
    return 'control'   if $path =~ m{\A/__mock(?:/|\z)};
    return 'token'     if $path eq '/metadata/identity/oauth2/token'
                       || $path eq '/msi/token'
                       || $path =~ m{\A/[^/]+/oauth2/v2\.0/token\z};
    return 'content'   if $path =~ m{\A/contentsafety/text:(?:analyze|shieldPrompt)\z}
                       || $path eq '/moderate';
    return 'arm'       if $path =~ m{\A/subscriptions/}i;
    return 'discovery' if $path =~ m{\A/openai/deployments(?:/[^/]+)?/?\z};
    return 'classic'   if $path =~ m{\A/openai/deployments/};
    return 'discovery' if $path =~ m{\A/openai/v1/models(?:/|\z)};
    return 'v1'        if $path =~ m{\A/openai/v1/};
    return 'discovery' if $path =~ m{\A/v1/models(?:/|\z)};
    return 'openai'    if $path =~ m{\A/v1/};
    return 'compat';
}

my @NUM_HEADERS = qw(x-mock-delay-ms x-mock-chunk-delay-ms x-mock-chunks
                     x-mock-reset-after);

sub _handle {
    my ($self, $req) = @_;
    my $route = _classify($req->{path});

    if ($route ne 'control') {
        $self->{stats}{requests}++;
        $self->{stats}{by_path}{ $req->{path} }++;
    }

    my %num;
    for my $name (@NUM_HEADERS) {
        my $v = _hval($req, $name);
        next unless defined $v;
        return { %{ _mock_error("invalid $name header: expected a non-negative integer") },
                 route => $route }
            unless $v =~ /\A\s*(\d{1,9})\s*\z/;
        $num{$name} = 0 + $1;
    }
    for my $name (qw(x-mock-delay-ms x-mock-chunk-delay-ms)) {
        return { %{ _mock_error("$name must be at most " . MAX_DELAY_MS) }, route => $route }
            if ($num{$name} // 0) > MAX_DELAY_MS;
    }
    return { %{ _mock_error('x-mock-chunks must be at most ' . MAX_CHUNKS) }, route => $route }
        if ($num{'x-mock-chunks'} // 0) > MAX_CHUNKS;

    # the upstream checks the bearer the gateway fetched for it
    if (($self->{token}{check}
         && $route =~ /\A(?:classic|v1|openai|compat|arm|discovery)\z/)
        || ($self->{token}{check_azure}
            && $req->{path} =~ m{\A/openai/deployments(?:/|\z)}))
    {
        my $auth = _hval($req, 'authorization') // '';
        my ($tok) = $auth =~ /\ABearer (\S+)\z/;
        return { %{ _err(401, 'Unauthorized',
                         'Access denied due to missing or invalid bearer token.') },
                 route => $route }
            unless defined $tok && $self->{token}{valid}{$tok};
    }

    my $resp;
    my $status = _hval($req, 'x-mock-status');
    if (defined $status) {
        return { %{ _mock_error('invalid x-mock-status header: expected 200-599') },
                 route => $route }
            unless $status =~ /\A\s*(\d{3})\s*\z/ && $1 >= 200 && $1 <= 599;
        my $code = 0 + $1;
        my $body = _hval($req, 'x-mock-body');
        $resp = {
            status => $code,
            ctype  => _hval($req, 'x-mock-content-type') // 'application/json',
            body   => defined $body ? $body : $JSON_OUT->encode(
                { error => { code => 'MockError', message => "mock status $code" } }),
        };
    } elsif (_truthy(_hval($req, 'x-mock-garbage'))) {
        $resp = { status => 200, ctype => 'application/json',
                  body => 'this is not json' };
    } elsif (_truthy(_hval($req, 'x-mock-echo'))) {
        $resp = $self->_echo($req);
        $route = 'echo';
    } else {
        $resp = $self->_route($req, $route, \%num);
    }
    $resp->{route} //= $route;

    my @extra;
    if (defined(my $ra = _hval($req, 'x-mock-retry-after'))) {
        push @extra, "Retry-After: $ra";
    }
    if (defined(my $ms = _hval($req, 'x-mock-retry-after-ms'))) {
        push @extra, "retry-after-ms: $ms", "x-ms-retry-after-ms: $ms";
    }
    push @{ $resp->{headers} }, @extra if @extra;

    $resp->{delay_ms}       = $num{'x-mock-delay-ms'} // $resp->{delay_ms} // 0;
    $resp->{chunk_delay_ms} = $num{'x-mock-chunk-delay-ms'} // 0;
    $resp->{reset_after}    = $num{'x-mock-reset-after'}
        if defined $num{'x-mock-reset-after'};
    return $resp;
}

sub _route {
    my ($self, $req, $route, $num) = @_;
    my $p = $req->{path};

    return $self->_control($req)   if $route eq 'control';
    return $self->_token($req)     if $route eq 'token';
    return $self->_content($req)   if $route eq 'content';
    return $self->_arm($req)       if $route eq 'arm';
    return $self->_discovery($req) if $route eq 'discovery';

    if ($route eq 'classic') {
        my ($dep, $op) = $p =~ m{\A/openai/deployments/([^/]+)/(.+)\z};
        return _not_found($req) unless defined $op && $OPS{$op};
        return _method_not_allowed($req, 'POST') unless $req->{method} eq 'POST';
        return _err(400, 'BadRequest',
                    "Missing required query parameter 'api-version'. "
                  . 'Provide a supported api-version, e.g. ?api-version=2024-10-21.')
            unless _has_api_version($req);
        my $d = $self->_find_deployment(_unescape($dep))
            or return _err(404, 'DeploymentNotFound',
                  'The API deployment for this resource does not exist. If you '
                . 'created the deployment within the last 5 minutes, please wait '
                . 'a moment and try again.');
        return $self->_inference($req, $op, $d->{model}, $num);
    }

    my $op;
    if ($route eq 'v1') {
        ($op) = $p =~ m{\A/openai/v1/(.+)\z};
    } elsif ($route eq 'openai') {
        ($op) = $p =~ m{\A/v1/(.+)\z};
    } else {
        ($op) = $p =~ m{(?:\A|/)($OPS_RE)\z};
    }
    return _not_found($req) unless defined $op && $OPS{$op};
    return _method_not_allowed($req, 'POST') unless $req->{method} eq 'POST';
    return $self->_inference($req, $op, undef, $num);
}

# ---- inference -------------------------------------------------------------

sub _pieces {
    my ($text, $k) = @_;
    my $len = length $text;
    return map {
        my $a = int($_ * $len / $k);
        my $b = int(($_ + 1) * $len / $k);
        substr($text, $a, $b - $a);
    } 0 .. $k - 1;
}

sub _sse {
    my ($obj, $event) = @_;
    my $data = 'data: ' . $JSON_OUT->encode($obj) . "\n\n";
    return defined $event ? "event: $event\n$data" : $data;
}

sub _inference {
    my ($self, $req, $op, $model, $num) = @_;

    my $body = eval { $JSON_IN->decode($req->{body}) };
    return _err(400, 'BadRequest', 'Request body must be a JSON object')
        unless ref $body eq 'HASH';

    if (!defined $model) {
        return _err(400, 'BadRequest',
                    "The 'model' field is required and must be a non-empty string")
            unless _is_string($body->{model}) && length $body->{model};
        $model = $body->{model};
    }

    my ($p, $cmp, $cached, $reasoning) = (10, 7, 0, 0);
    if (defined(my $u = _hval($req, 'x-mock-usage'))) {
        $u =~ /\A\s*(\d{1,9})\s*,\s*(\d{1,9})\s*(?:,\s*(\d{1,9})\s*(?:,\s*(\d{1,9})\s*)?)?\z/
            or return _mock_error('invalid x-mock-usage header: expected P,C[,cached[,reasoning]]');
        ($p, $cmp, $cached, $reasoning) = (0 + $1, 0 + $2, 0 + ($3 // 0), 0 + ($4 // 0));
    }

    my $x = {
        id => $req->{id}, model => "$model",
        p => $p, c => $cmp, cached => $cached, reasoning => $reasoning,
        chunks => $num->{'x-mock-chunks'} // 3,
        stream => _is_true($body->{stream}),
        include_usage => (ref $body->{stream_options} eq 'HASH'
                          && _is_true($body->{stream_options}{include_usage})) ? 1 : 0,
        body => $body,
        text => REPLY_TEXT,
    };

    # the answer's text chosen by the prompt (for the content check of
    # answers): DEMO-ANSWER:<WORD> adds DEMO-<WORD> to the answer's text,
    # DEMO-ANSWER-TOOL:<WORD> makes it a tool call whose arguments hold
    # DEMO-<WORD>, DEMO-ANSWER-REASONING:<WORD> adds a Responses reasoning
    # item that says DEMO-<WORD>, DEMO-ANSWER-PAD:<n> adds n bytes of text
    my $raw = $req->{body} // '';
    $x->{text} .= " DEMO-$1" while $raw =~ /DEMO-ANSWER:([A-Za-z0-9]+)/g;
    $x->{tool} = "DEMO-$1" if $raw =~ /DEMO-ANSWER-TOOL:([A-Za-z0-9]+)/;
    $x->{reasoning_text} = "DEMO-$1"
        if $raw =~ /DEMO-ANSWER-REASONING:([A-Za-z0-9]+)/;
    $x->{text} .= ' ' . ('x' x $1)
        if $raw =~ /DEMO-ANSWER-PAD:(\d{1,8})\b/;

    my $resp = $op eq 'chat/completions' ? $self->_chat($x)
             : $op eq 'completions'      ? $self->_completions($x)
             : $op eq 'embeddings'       ? $self->_embeddings($x)
             : $self->_responses($x);

    # x-mock-json-chunks: a JSON answer sent chunked (no Content-Length),
    # in x-mock-chunks pieces
    if (_truthy(_hval($req, 'x-mock-json-chunks')) && defined $resp->{body}
        && !$resp->{events})
    {
        $resp = { status => $resp->{status}, ctype => $resp->{ctype},
                  events => [ grep { length } _pieces($resp->{body}, $x->{chunks}) ] };
    }

    return $resp;
}

sub _chat_usage {
    my ($x) = @_;
    return {
        prompt_tokens => 0 + $x->{p},
        completion_tokens => 0 + $x->{c},
        total_tokens => $x->{p} + $x->{c},
        prompt_tokens_details => { cached_tokens => 0 + $x->{cached} },
        completion_tokens_details => { reasoning_tokens => 0 + $x->{reasoning} },
    };
}

sub _chat {
    my ($self, $x) = @_;
    my $id = "chatcmpl-mock-$x->{id}";

    if (!$x->{stream}) {
        my $m = { role => 'assistant', content => $x->{text} };
        if (defined $x->{tool}) {
            $m->{content} = undef;
            $m->{tool_calls} = [ { id => 'call_mock_1', type => 'function',
                                   function => { name => 'lookup',
                                                 arguments => $JSON_OUT->encode(
                                                     { q => $x->{tool} }) } } ];
        }
        return _json_resp(200, {
            id => $id, object => 'chat.completion', created => CREATED,
            model => $x->{model},
            choices => [ {
                index => 0,
                message => $m,
                finish_reason => defined $x->{tool} ? 'tool_calls' : 'stop',
            } ],
            usage => _chat_usage($x),
        });
    }

    my $chunk = sub {
        my ($choices, $usage) = @_;
        my %o = (id => $id, object => 'chat.completion.chunk', created => CREATED,
                 model => $x->{model}, choices => $choices);
        $o{usage} = $usage if $x->{include_usage};
        return _sse(\%o);
    };
    my @ev;
    push @ev, $chunk->([ { index => 0, delta => { role => 'assistant', content => '' },
                           finish_reason => undef } ], undef);
    push @ev, map { $chunk->([ { index => 0, delta => { content => $_ },
                                 finish_reason => undef } ], undef) }
              _pieces(REPLY_TEXT, $x->{chunks});
    push @ev, $chunk->([ { index => 0, delta => {}, finish_reason => 'stop' } ], undef);
    push @ev, $chunk->([], _chat_usage($x)) if $x->{include_usage};
    push @ev, "data: [DONE]\n\n";
    return { status => 200, ctype => 'text/event-stream', events => \@ev };
}

sub _completions {
    my ($self, $x) = @_;
    my $id = "cmpl-mock-$x->{id}";

    if (!$x->{stream}) {
        return _json_resp(200, {
            id => $id, object => 'text_completion', created => CREATED,
            model => $x->{model},
            choices => [ { index => 0, text => $x->{text}, logprobs => undef,
                           finish_reason => 'stop' } ],
            usage => _chat_usage($x),
        });
    }

    my $chunk = sub {
        my ($choices, $usage) = @_;
        my %o = (id => $id, object => 'text_completion', created => CREATED,
                 model => $x->{model}, choices => $choices);
        $o{usage} = $usage if $x->{include_usage};
        return _sse(\%o);
    };
    my @ev = map { $chunk->([ { index => 0, text => $_, logprobs => undef,
                                finish_reason => undef } ], undef) }
             _pieces(REPLY_TEXT, $x->{chunks});
    push @ev, $chunk->([ { index => 0, text => '', logprobs => undef,
                           finish_reason => 'stop' } ], undef);
    push @ev, $chunk->([], _chat_usage($x)) if $x->{include_usage};
    push @ev, "data: [DONE]\n\n";
    return { status => 200, ctype => 'text/event-stream', events => \@ev };
}

sub _embeddings {
    my ($self, $x) = @_;
    my $input = $x->{body}{input};
    my $n = 1;
    if (ref $input eq 'ARRAY' && @$input) {
        # a list of strings or a list of token arrays: one embedding each
        $n = @$input if !grep({ !_is_string($_) } @$input)
                     || !grep({ ref $_ ne 'ARRAY' } @$input);
    }
    my $b64 = defined $x->{body}{encoding_format} && !ref $x->{body}{encoding_format}
              && $x->{body}{encoding_format} eq 'base64';
    my @data = map {
        +{ object => 'embedding', index => 0 + $_,
           embedding => $b64 ? MIME::Base64::encode_base64(pack('f<*', @EMBEDDING), '')
                             : [ map { 0 + $_ } @EMBEDDING ] }
    } 0 .. $n - 1;
    return _json_resp(200, {
        object => 'list', data => \@data, model => $x->{model},
        usage => { prompt_tokens => 0 + $x->{p}, total_tokens => 0 + $x->{p} },
    });
}

sub _responses {
    my ($self, $x) = @_;
    my $id = "resp_mock_$x->{id}";
    my $usage = {
        input_tokens => 0 + $x->{p},
        output_tokens => 0 + $x->{c},
        total_tokens => $x->{p} + $x->{c},
        input_tokens_details => { cached_tokens => 0 + $x->{cached} },
        output_tokens_details => { reasoning_tokens => 0 + $x->{reasoning} },
    };
    my @output = ({ type => 'message', role => 'assistant',
                    content => [ { type => 'output_text', text => $x->{text} } ] });
    unshift @output, { type => 'reasoning', id => 'rs_mock_1',
                       summary => [ { type => 'summary_text',
                                      text => $x->{reasoning_text} } ] }
        if defined $x->{reasoning_text};
    push @output, { type => 'function_call', call_id => 'call_mock_1',
                    name => 'lookup',
                    arguments => $JSON_OUT->encode({ q => $x->{tool} }) }
        if defined $x->{tool};
    my $final = {
        id => $id, object => 'response', created_at => CREATED,
        model => $x->{model}, status => 'completed',
        output => \@output,
        usage => $usage,
    };
    return _json_resp(200, $final) unless $x->{stream};

    my $seq = 0;
    my @ev;
    push @ev, _sse({ type => 'response.created', sequence_number => $seq++,
                     response => { id => $id, object => 'response',
                                   created_at => CREATED, model => $x->{model},
                                   status => 'in_progress', output => [],
                                   usage => undef } },
                   'response.created');
    for my $piece (_pieces(REPLY_TEXT, $x->{chunks})) {
        push @ev, _sse({ type => 'response.output_text.delta',
                         sequence_number => $seq++,
                         item_id => "msg_mock_$x->{id}", output_index => 0,
                         content_index => 0, delta => $piece },
                       'response.output_text.delta');
    }
    push @ev, _sse({ type => 'response.completed', sequence_number => $seq++,
                     response => $final }, 'response.completed');
    return { status => 200, ctype => 'text/event-stream', events => \@ev };
}

# ---- discovery ----------------------------------------------------------------

sub _dataplane_deployment {
    my ($d) = @_;
    return {
        id => $d->{name}, model => $d->{model}, owner => 'organization-owner',
        object => 'deployment', status => 'succeeded',
        created_at => CREATED, updated_at => CREATED,
        scale_settings => { scale_type => 'standard' },
    };
}

sub _model_entry {
    my ($d) = @_;
    return { id => $d->{name}, object => 'model', created => CREATED,
             owned_by => 'system' };
}

sub _discovery {
    my ($self, $req) = @_;
    my $p = $req->{path};
    return _method_not_allowed($req, 'GET, HEAD')
        unless $req->{method} eq 'GET' || $req->{method} eq 'HEAD';

    my $need_api = sub {
        return _err(400, 'BadRequest',
                    "Missing required query parameter 'api-version'. "
                  . 'Provide a supported api-version, e.g. ?api-version=2024-10-21.');
    };

    if ($p =~ m{\A/openai/deployments/?\z}) {
        return $need_api->() unless _has_api_version($req);
        return _json_resp(200, {
            object => 'list',
            data => [ map { _dataplane_deployment($_) } @{ $self->{deployments} } ],
        });
    }
    if ($p =~ m{\A/openai/deployments/([^/]+)/?\z}) {
        return $need_api->() unless _has_api_version($req);
        my $d = $self->_find_deployment(_unescape($1))
            or return _err(404, 'DeploymentNotFound',
                           'The API deployment for this resource does not exist.');
        return _json_resp(200, _dataplane_deployment($d));
    }
    if ($p =~ m{\A(?:/openai)?/v1/models/?\z}) {
        return _json_resp(200, {
            object => 'list',
            data => [ map { _model_entry($_) } @{ $self->{deployments} } ],
        });
    }
    if ($p =~ m{\A(?:/openai)?/v1/models/(.+)\z}) {
        my $name = _unescape($1);
        my $d = $self->_find_deployment($name)
            or return _err(404, 'model_not_found', "The model '$name' does not exist");
        return _json_resp(200, _model_entry($d));
    }
    return _not_found($req);
}

# ---- Azure Resource Manager --------------------------------------------------

sub _arm {
    my ($self, $req) = @_;
    my $auth = _hval($req, 'authorization') // '';
    return _err(401, 'AuthenticationFailed',
                "Authentication failed. The 'Authorization' header is missing "
              . 'or is not a Bearer token.',
                headers => [ 'WWW-Authenticate: Bearer authorization_uri='
                           . '"https://login.microsoftonline.com/common", '
                           . 'error="invalid_token"' ])
        unless $auth =~ /\ABearer[ \t]+\S/i;

    my ($sub, $rg, $acct, $name) = $req->{path} =~ m{
        \A/subscriptions/([^/]+)/resourceGroups/([^/]+)
        /providers/Microsoft\.CognitiveServices/accounts/([^/]+)
        /deployments(?:/([^/]+))?/?\z }xi
        or return _err(404, 'InvalidResourceType',
                       'The resource type could not be found in the namespace.');

    return _method_not_allowed($req, 'GET, HEAD')
        unless $req->{method} eq 'GET' || $req->{method} eq 'HEAD';
    return _err(400, 'MissingApiVersionParameter',
                'The api-version query parameter (?api-version=) is required '
              . 'for all requests.')
        unless _has_api_version($req);

    my $prefix = "/subscriptions/$sub/resourceGroups/$rg/providers/"
               . "Microsoft.CognitiveServices/accounts/$acct/deployments/";
    my $entry = sub {
        my ($d) = @_;
        return {
            id => _as_text($prefix) . $d->{name}, name => $d->{name},
            type => 'Microsoft.CognitiveServices/accounts/deployments',
            sku => { name => 'Standard', capacity => 10 },
            properties => {
                model => { format => $d->{format}, name => $d->{model},
                           version => $d->{version} },
                provisioningState => 'Succeeded',
            },
        };
    };

    if (defined $name) {
        $name = _unescape($name);
        my $d = $self->_find_deployment($name)
            or return _err(404, 'DeploymentNotFound',
                           "Deployment '$name' could not be found.");
        return _json_resp(200, $entry->($d));
    }
    return _json_resp(200, { value => [ map { $entry->($_) } @{ $self->{deployments} } ] });
}

# ---- control -----------------------------------------------------------------

sub _control {
    my ($self, $req) = @_;
    my $p = $req->{path};
    my $m = $req->{method};
    my $get = $m eq 'GET' || $m eq 'HEAD';

    if ($p eq '/__mock/stats') {
        return _method_not_allowed($req, 'GET, HEAD') unless $get;
        my $s = $self->{stats};
        return _json_resp(200, {
            requests => 0 + $s->{requests},
            by_path => { map { $_ => 0 + $s->{by_path}{$_} } keys %{ $s->{by_path} } },
        });
    }
    if ($p eq '/__mock/reset') {
        return _method_not_allowed($req, 'POST') unless $m eq 'POST';
        $self->{stats} = { requests => 0, by_path => {} };
        $self->{next_id} = 0 if _truthy(_query_param($req, 'ids'));
        return _json_resp(200, { status => 'ok' });
    }
    if ($p eq '/__mock/deployments') {
        if ($get) {
            return _json_resp(200, $self->{deployments});
        }
        if ($m eq 'PUT') {
            my $list = eval { $JSON_IN->decode($req->{body}) };
            return _err(400, 'BadRequest', 'Body must be a JSON array of deployments')
                unless defined $list;
            my $deps = eval { normalize_deployments($list) };
            if (!$deps) {
                (my $e = $@) =~ s/\s+\z//;
                return _err(400, 'BadRequest', $e);
            }
            $self->{deployments} = $deps;
            return _json_resp(200, $deps);
        }
        if ($m eq 'DELETE') {
            $self->{deployments} = [ map { +{%$_} } @{ $self->{initial} } ];
            return _json_resp(200, $self->{deployments});
        }
        return _method_not_allowed($req, 'GET, HEAD, PUT, DELETE');
    }
    if ($p eq '/__mock/token') {
        my $t = $self->{token};
        if ($m eq 'PUT') {
            my $set = eval { $JSON_IN->decode($req->{body}) };
            return _err(400, 'BadRequest', 'Body must be a JSON object')
                unless ref $set eq 'HASH';
            for my $k (qw(expires_in mode check check_azure secret
                          identity_header delay_ms federated certificate x5t
                          audience)) {
                $t->{$k} = $set->{$k} if exists $set->{$k};
            }
        } elsif (!$get) {
            return _method_not_allowed($req, 'GET, HEAD, PUT');
        }
        return _json_resp(200, {
            map({ $_ => $t->{$_} } qw(expires_in mode check issued
                                      assertion assertions form)),
        });
    }
    if ($p eq '/__mock/content') {
        my $t = $self->{content};
        if ($m eq 'PUT') {
            my $set = eval { $JSON_IN->decode($req->{body}) };
            return _err(400, 'BadRequest', 'Body must be a JSON object')
                unless ref $set eq 'HASH';
            for my $k (qw(mode delay_ms key)) {
                $t->{$k} = $set->{$k} if exists $set->{$k};
            }
            $t->{calls} = [] if $set->{reset};
        } elsif (!$get) {
            return _method_not_allowed($req, 'GET, HEAD, PUT');
        }
        return _json_resp(200, { mode => $t->{mode}, calls => $t->{calls} });
    }
    if ($p eq '/__mock/health') {
        return _method_not_allowed($req, 'GET, HEAD') unless $get;
        return _json_resp(200, { status => 'ok' });
    }
    return _not_found($req);
}

# ---- content safety ------------------------------------------------------------

# Azure AI Content Safety (POST /contentsafety/text:analyze and
# /contentsafety/text:shieldPrompt, api-version 2024-09-01) and a generic
# checker (POST /moderate: {"text"} -> {"allowed","reason"}).  Verdicts by
# markers in the text: DEMO-UNSAFE is Violence 6, DEMO-HATE Hate 2,
# DEMO-SELFHARM SelfHarm 4, DEMO-BLOCKED a match of any blocklist asked
# for, DEMO-ATTACK an attack (in the user prompt or in a document).  Each
# call is recorded (GET /__mock/content: kind, characters, the args, the
# Authorization and Ocp-Apim-Subscription-Key headers seen, every header
# by its lower-case name, the connection's peer address); PUT sets a
# mode: down (500), garbage, slow (delay_ms), or a key the calls must send.

sub _content {
    my ($self, $req) = @_;
    my $t = $self->{content};
    my $p = $req->{path};

    return _method_not_allowed($req, 'POST') unless $req->{method} eq 'POST';

    my $in = eval { $JSON_IN->decode($req->{body} // '') };
    my $kind = $p eq '/moderate' ? 'generic'
             : $p =~ /shieldPrompt/ ? 'shield' : 'analyze';

    push @{ $t->{calls} }, {
        kind => $kind,
        args => $req->{query} // '',
        authorization => _hval($req, 'authorization') // '',
        key => _hval($req, 'ocp-apim-subscription-key') // '',
        headers => { map { lc($_->[0]) => $_->[1] } @{ $req->{headers} } },
        peer => $req->{peer},
        chars => ref $in eq 'HASH' && defined $in->{text}
                 ? length($in->{text})
                 : ref $in eq 'HASH' && defined $in->{userPrompt}
                 ? length($in->{userPrompt}) : -1,
        # the text itself (text:analyze's, shieldPrompt's user prompt)
        text => ref $in eq 'HASH' ? $in->{text} // $in->{userPrompt} : undef,
        documents => ref $in eq 'HASH' && ref $in->{documents} eq 'ARRAY'
                     ? [ map { length } @{ $in->{documents} } ] : [],
        categories => ref $in eq 'HASH' ? $in->{categories} : undef,
        blocklists => ref $in eq 'HASH' ? $in->{blocklistNames} : undef,
    };

    my $mode = $t->{mode} // 'ok';
    return _json_resp(500, { error => { code => 'InternalServerError',
                                        message => 'mock content safety down' } })
        if $mode eq 'down';
    return { status => 200, ctype => 'application/json',
             body => '{"categoriesAnalysis": [{"category": "Hate", "sev' }
        if $mode eq 'garbage';
    return _json_resp(401, { error => { code => '401',
                                        message => 'Access denied due to invalid subscription key.' } })
        if defined $t->{key}
           && (_hval($req, 'ocp-apim-subscription-key') // '') ne $t->{key};
    return _json_resp(400, { error => { code => 'InvalidRequestBody',
                                        message => 'The request body is invalid.' } })
        unless ref $in eq 'HASH';

    my $resp;
    if ($kind eq 'generic') {
        my $text = $in->{text} // '';
        my $bad = $text =~ /DEMO-UNSAFE|DEMO-ATTACK/;
        $resp = _json_resp(200, { allowed => $bad ? JSON::PP::false : JSON::PP::true,
                                  reason => $bad ? 'mock policy: unsafe marker' : 'ok' });
    } elsif ($kind eq 'shield') {
        return _json_resp(400, { error => { code => 'InvalidRequestBody',
                                            message => 'Too many documents.' } })
            if ref $in->{documents} eq 'ARRAY' && @{ $in->{documents} } > 5;
        my $u = $in->{userPrompt} // '';
        return _json_resp(400, { error => { code => 'InvalidRequestBody',
                                            message => 'The text is too long.' } })
            if length($u) > 10000;
        $resp = _json_resp(200, {
            userPromptAnalysis => { attackDetected => $u =~ /DEMO-ATTACK/
                                    ? JSON::PP::true : JSON::PP::false },
            documentsAnalysis => [ map {
                +{ attackDetected => /DEMO-ATTACK/ ? JSON::PP::true : JSON::PP::false }
            } @{ $in->{documents} // [] } ],
        });
    } else {
        my $text = $in->{text} // '';
        return _json_resp(400, { error => { code => 'InvalidRequestBody',
                                            message => 'The text is too long.' } })
            if length($text) > 10000;
        my %sev = (Hate => 0, SelfHarm => 0, Sexual => 0, Violence => 0);
        $sev{Violence} = 6 if $text =~ /DEMO-UNSAFE/;
        $sev{Hate} = 2 if $text =~ /DEMO-HATE/;
        $sev{SelfHarm} = 4 if $text =~ /DEMO-SELFHARM/;
        my @cats = @{ $in->{categories} // [ sort keys %sev ] };
        my @match;
        if ($text =~ /DEMO-BLOCKED/) {
            push @match, { blocklistName => $_, blocklistItemId => 'item-1',
                           blocklistItemText => 'DEMO-BLOCKED' }
                for @{ $in->{blocklistNames} // [] };
        }
        $resp = _json_resp(200, {
            blocklistsMatch => \@match,
            categoriesAnalysis => [ map { +{ category => $_, severity => $sev{$_} // 0 } } @cats ],
        });
    }
    $resp->{delay_ms} = $t->{delay_ms} // 0 if $mode eq 'slow';
    return $resp;
}

# ---- token endpoints ----------------------------------------------------------

# Azure managed identity (IMDS: GET /metadata/identity/oauth2/token with
# "Metadata: true"; App Service: GET /msi/token with X-IDENTITY-HEADER) and
# Entra ID client credentials (POST /{tenant}/oauth2/v2.0/token, form body).
# Each issued token is "mock-token-<n>"; the mode set with PUT /__mock/token
# makes answers fail: down (500), garbage, oversized, slow (delay_ms).

sub _token {
    my ($self, $req) = @_;
    my $t = $self->{token};
    my $p = $req->{path};
    my $resource;

    if ($p eq '/metadata/identity/oauth2/token' || $p eq '/msi/token') {
        return _method_not_allowed($req, 'GET') unless $req->{method} eq 'GET';
        if ($p eq '/msi/token') {
            my $h = _hval($req, 'x-identity-header') // '';
            return _json_resp(401, { error => 'invalid_request',
                                     error_description => 'bad X-IDENTITY-HEADER' })
                unless $h eq $t->{identity_header};
        } else {
            my $h = _hval($req, 'metadata') // '';
            return _json_resp(400, { error => 'invalid_request',
                                     error_description => 'Required metadata header not specified' })
                unless $h eq 'true';
        }
        $resource = _query_param($req, 'resource');
        return _json_resp(400, { error => 'invalid_resource' })
            unless defined $resource && length $resource && _has_api_version($req);
    } else {
        return _method_not_allowed($req, 'POST') unless $req->{method} eq 'POST';
        my %form;
        for my $pair (split /&/, $req->{body} // '') {
            my ($k, $v) = split /=/, $pair, 2;
            $v //= '';
            $v =~ tr/+/ /;
            $form{ _unescape($k) } = _unescape($v);
        }
        # what the last fetch sent, for the tests (no secret's value)
        $t->{form} = { %form };
        $t->{form}{client_secret} = '(set)' if exists $form{client_secret};
        return _json_resp(400, { error => 'unsupported_grant_type' })
            unless ($form{grant_type} // '') eq 'client_credentials';
        if (exists $form{client_assertion_type}) {
            my $bad = $self->_assertion(\%form);
            return _json_resp(401, { error => 'invalid_client',
                                     error_description => "AADSTS700027: $bad" })
                if defined $bad;
        } else {
            return _json_resp(401, { error => 'invalid_client',
                                     error_description => 'AADSTS7000215: Invalid client secret provided.' })
                unless ($form{client_secret} // '') eq $t->{secret}
                    && length($form{client_id} // '');
        }
        $resource = $form{scope} // $form{audience} // '';
    }

    my $mode = $t->{mode} // 'ok';
    return _json_resp(500, { error => 'temporarily_unavailable' }) if $mode eq 'down';
    return { status => 200, ctype => 'application/json',
             body => '{"access_token": "half' } if $mode eq 'garbage';

    my $n = ++$t->{issued};
    my $tok = "mock-token-$n";
    $t->{valid}{$tok} = 1;

    my $body = {
        access_token => $tok,
        token_type   => 'Bearer',
        expires_in   => "$t->{expires_in}",
        expires_on   => '' . (int(_now()) + $t->{expires_in}),
        resource     => $resource,
    };
    $body->{padding} = 'x' x (128 * 1024) if $mode eq 'oversized';

    my $resp = _json_resp(200, $body);
    $resp->{delay_ms} = $t->{delay_ms} // 0 if $mode eq 'slow';
    return $resp;
}

# A client assertion (RFC 7523): the federated token set with PUT
# /__mock/token {"federated": "..."} as it is, or a JWT signed by the key of
# {"certificate": PEM} whose header names it ({"x5t": x5t#S256}) and whose
# claims are aud = {"audience"}, iss = sub = client_id, a new jti and a
# life of at most 10 minutes.  Returns why it is refused, or undef.
sub _assertion {
    my ($self, $form) = @_;
    my $t = $self->{token};
    my $jwt = $form->{client_assertion} // '';
    $t->{assertion} = $jwt;
    $t->{assertions}++;

    return 'bad client_assertion_type'
        unless ($form->{client_assertion_type} // '') eq
               'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
    return 'no client_id' unless length($form->{client_id} // '');
    return 'a secret and an assertion' if exists $form->{client_secret};

    if (defined $t->{federated}) {
        return $jwt eq $t->{federated} ? undef : 'unknown federated token';
    }
    return 'no certificate registered' unless defined $t->{certificate};

    require Crypt::JWT;
    my ($hdr, $claims) = eval {
        Crypt::JWT::decode_jwt(token => $jwt, key => \$t->{certificate},
                               accepted_alg => qr/\A(?:RS256|PS256)\z/,
                               decode_header => 1, verify_exp => 0,
                               verify_nbf => 0);
    };
    return "signature: $@" unless ref $claims eq 'HASH';
    return 'unknown certificate'
        unless ($hdr->{'x5t#S256'} // '') eq ($t->{x5t} // '');
    return 'bad aud' unless ($claims->{aud} // '') eq ($t->{audience} // '');
    return 'bad iss or sub'
        unless ($claims->{iss} // '') eq $form->{client_id}
            && ($claims->{sub} // '') eq $form->{client_id};
    my $now = time;
    return 'bad lifetime'
        unless defined $claims->{exp} && defined $claims->{nbf}
            && $claims->{nbf} <= $now + 5 && $claims->{exp} > $now
            && $claims->{exp} - $claims->{nbf} <= 600;
    my $jti = $claims->{jti} // '';
    return 'jti replayed' if !length $jti || $t->{jti}{$jti}++;
    return undef;
}

# ---- echo --------------------------------------------------------------------

sub _echo {
    my ($self, $req) = @_;
    my %h;
    for my $pair (@{ $req->{headers} }) {
        my $n = lc $pair->[0];
        my $v = _as_text($pair->[1]);
        if (exists $h{$n}) {
            $h{$n} = [ $h{$n} ] unless ref $h{$n};
            push @{ $h{$n} }, $v;
        } else {
            $h{$n} = $v;
        }
    }
    my $body = $req->{body};
    my %out = (
        method => _as_text($req->{method}),
        path => _as_text($req->{path}),
        query => _as_text($req->{query}),
        http_version => "HTTP/$req->{major}.$req->{minor}",
        headers => \%h,
        body_length => 0 + length $body,
    );
    my $copy = $body;
    if (utf8::decode($copy)) {
        $out{body} = $copy;
    } else {
        $out{body} = MIME::Base64::encode_base64($body, '');
        $out{body_encoding} = 'base64';
    }
    return { %{ _json_resp(200, \%out) }, route => 'echo' };
}

1;
