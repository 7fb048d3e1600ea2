package Test::Nginx::Socket;

# A small, self-contained subset of openresty's Test::Nginx::Socket.
#
# It is written from scratch for this project and only needs Test::Base
# (libtest-base-perl) plus core Perl modules.  The data-driven .t files
# written for the real Test::Nginx::Socket run unchanged with it, and the
# number of TAP tests each block produces is the same as with the real one.
# See t/runner/README.md for what is (and is not) supported.

use strict;
use warnings;

# "-base" (lowercase) makes us a Test::Base subclass without Spiffy's
# source filter.  Users then get Test::Base's (and Test::More's) exports
# plus our own @EXPORT, and "use Test::Nginx::Socket 'no_plan'" /
# "tests => N" are handled by Test::Base::import.
use Test::Base -base;

use Carp ();
use Cwd ();
use Encode ();
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(shuffle min max);
use POSIX qw(WNOHANG);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep time);

our $VERSION = '0.1';

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_test_cleanup_handler
    add_cleanup_handler add_response_body_check
);

#--------------------------------------------------------------------------
# Settings (package variables so that .t files may poke at them)
#--------------------------------------------------------------------------

our $RepeatEach           = 1;
our $NoShuffle            = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $Workers              = 1;
our $WorkerConnections    = 64;
our $LogLevel             = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $ServerAddr           = '127.0.0.1';
our $ServerName           = 'localhost';
our $ServerPort           = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient  = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $NoRootLocation       = 0;
our $NoLongString;
our $Timeout              = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep       = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $UseValgrind          = $ENV{TEST_NGINX_USE_VALGRIND};
our $LoadModules          = $ENV{TEST_NGINX_LOAD_MODULES};
our $Randomize            = $ENV{TEST_NGINX_RANDOMIZE};
our $NoClean              = $ENV{TEST_NGINX_NO_CLEAN};
our $CheckAccumErrLog     = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $EventType            = $ENV{TEST_NGINX_EVENT_TYPE};
our $Verbose              = $ENV{TEST_NGINX_VERBOSE};
our $ConfigPreamble       = '';
our $NginxBinary          = $ENV{TEST_NGINX_BINARY} || find_in_path('nginx') || '/usr/sbin/nginx';

our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers,
     @TestCleanupHandlers, @ResponseBodyChecks);

our ($NginxVersion, $NginxV);      # canonical version number, `nginx -V` text
our ($NginxPid, $PrevConfig, $PrevBlock, $ErrLogPos, $RandPorts);
our $FirstStart = 1;
our $FastStop = $ENV{TEST_NGINX_FAST_SHUTDOWN};
our $MainPid = $$;

srand($$ ^ int(time * 1000));

if ($Randomize) {
    $ServerPort = $ServerPortForClient = pick_free_port({});
}

our $ServRoot = $Randomize
    ? File::Spec->rel2abs("t/servroot_$$")
    : File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
our $StderrFile = "$LogDir/nginx.stderr";

$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
    if $Randomize || !defined $ENV{TEST_NGINX_SERVER_PORT};

#--------------------------------------------------------------------------
# Small exported helpers
#--------------------------------------------------------------------------

sub _getset { my ($ref, @v) = @_; $$ref = $v[0] if @v; return $$ref }

sub repeat_each (@)            { _getset(\$RepeatEach, @_) }
sub workers (@)                { _getset(\$Workers, @_) }
sub worker_connections (@)     { _getset(\$WorkerConnections, @_) }
sub log_level (@)              { _getset(\$LogLevel, @_) }
sub server_name (@)            { _getset(\$ServerName, @_) }
sub server_addr (@)            { _getset(\$ServerAddr, @_) }
sub server_port (@)            { _getset(\$ServerPort, @_) }
sub server_port_for_client (@) { _getset(\$ServerPortForClient, @_) }
sub timeout (@)                { _getset(\$Timeout, @_) }
sub no_shuffle ()              { $NoShuffle = 1 }
sub no_root_location ()        { $NoRootLocation = 1 }
sub no_long_string ()          { $NoLongString = 1 }
sub master_on ()               { $MasterProcessEnabled = 'on' }
sub master_off ()              { $MasterProcessEnabled = 'off' }
sub check_accum_error_log ()   { $CheckAccumErrLog = 1 }
sub config_preamble ($)        { $ConfigPreamble = shift }
sub html_dir ()                { $HtmlDir }
sub server_root ()             { $ServRoot }
sub use_hup ()                 { }    # not supported: nginx is always restarted
sub no_nginx_manager ()        { }    # not supported

sub master_process_enabled (@) {
    $MasterProcessEnabled = $_[0] ? 'on' : 'off' if @_;
    return $MasterProcessEnabled;
}

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)      { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }
sub add_response_body_check ($)  { push @ResponseBodyChecks, shift }

sub env_to_nginx (@) {
    for my $v (@_) {
        Carp::croak("env_to_nginx: bad argument value: $v")
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return is($got, $expected, $desc);
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

sub find_in_path {
    my $cmd = shift;
    return (-f $cmd && -x _) ? $cmd : undef if $cmd =~ m{/};
    for my $dir (split /:/, $ENV{PATH} || '') {
        next unless length $dir;
        return "$dir/$cmd" if -f "$dir/$cmd" && -x _;
    }
    return undef;
}

sub fail_no_ending {
    Test::More->builder->no_ending(1);
    Test::More::fail($_[0]);
}

sub trim_str {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\s+/ /g;
    return $s;
}

sub fmt_str {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub parse_time {
    my $t = shift;
    return undef unless defined $t;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $t =~ /^\s*([\d.]+)\s*s?\s*$/;
    return $t;
}

#--------------------------------------------------------------------------
# Ports and $TEST_NGINX_* expansion
#--------------------------------------------------------------------------

sub port_is_free {
    my $port = shift;
    my $s = IO::Socket::INET->new(LocalAddr => '0.0.0.0', LocalPort => $port,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or return 0;
    close $s;
    return 1;
}

# A random unused port below the usual ephemeral range (32768+), so that
# outgoing connections made during the tests cannot grab it.
sub pick_free_port {
    my $used = shift;
    for (1 .. 1000) {
        my $port = 10000 + int rand 22000;
        next if $used->{$port};
        return $port if port_is_free($port);
    }
    bail_out("cannot find a free TCP port");
}

# Same rule as the real module: $TEST_NGINX_RAND_PORT_N gets a fresh random
# port per block, any other $TEST_NGINX_FOO must be set in the environment.
sub expand_env_in_text {
    my ($text, $name) = @_;
    return $text unless defined $text && !ref $text;
    $RandPorts ||= {};
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $RandPorts->{$var} = pick_free_port(
                { $ServerPort => 1, map { $_ => 1 } values %$RandPorts })
                unless defined $RandPorts->{$var};
            $RandPorts->{$var};
        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $ENV{$var};
        }
    }ge;
    return $text;
}

#--------------------------------------------------------------------------
# Server root, config file, nginx process management
#--------------------------------------------------------------------------

sub nginx_version {
    return $NginxVersion if defined $NginxVersion;
    bail_out("Cannot find the nginx executable ($NginxBinary)")
        unless find_in_path($NginxBinary);
    $NginxV = `$NginxBinary -V 2>&1`;
    if ($? != 0 || $NginxV !~ m{/(\d+)\.(\d+)\.(\d+)}) {
        bail_out("Failed to get the version of $NginxBinary: $NginxV");
    }
    return $NginxVersion = sprintf "%d.%03d%03d", $1, $2, $3;
}

sub read_pid_file {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    close $in;
    return undef unless defined $pid && $pid =~ /^\s*(\d+)\s*$/;
    return $1;
}

sub looks_like_nginx {
    my $pid = shift;
    open my $in, '<', "/proc/$pid/cmdline" or return 1;   # no /proc: trust it
    my $cmd = do { local $/; <$in> } // '';
    return $cmd =~ /nginx|valgrind|memcheck/;
}

# kill(0) also succeeds for zombies, which nobody may reap when the init
# process of a container does not: look at /proc as well.
sub pid_alive {
    my $pid = shift;
    return 0 unless kill 0, $pid;
    open my $in, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$in> // '';
    return $stat !~ /^\d+ \(.*\) Z/;
}

# An nginx left behind by a crashed run with the same server root.
sub kill_stale_nginx {
    my $pid = read_pid_file() or return;
    return if $pid == $$ || !pid_alive($pid) || !looks_like_nginx($pid);
    warn "WARNING: killing stale nginx process $pid from $PidFile\n";
    for my $sig (qw(QUIT TERM KILL)) {
        kill $sig, $pid;
        for (1 .. 100) { last unless pid_alive($pid); sleep 0.02 }
        last unless pid_alive($pid);
    }
}

sub setup_server_root {
    if ($FirstStart) {
        kill_stale_nginx();
        undef $FirstStart;
    }
    # Only remove what we create ourselves, in case TEST_NGINX_SERVROOT
    # points somewhere unexpected.
    remove_tree($ConfDir, $LogDir, $HtmlDir, "$ServRoot/cache",
                glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
    make_path($ServRoot, $LogDir, $HtmlDir, $ConfDir);
    bail_out("Cannot create $ServRoot") unless -d $ConfDir;
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;
}

sub write_user_files {
    my $block = shift;
    my $name  = $block->name;
    my $files = $block->user_files or return;
    if (!ref $files) {
        my @list;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    }
    bail_out("$name - user_files must be a string or an ARRAY") if ref $files ne 'ARRAY';
    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        make_path($1) if $path =~ m{(.*)/} && !-d $1;
        open my $out, '>', $path or bail_out("$name - Cannot open $path for writing: $!");
        binmode $out;
        print $out expand_env_in_text($body // '', $name);
        close $out;
        system("TZ=GMT touch -t '$date' '$path'") if $date;
    }
}

sub write_config_file {
    my ($block, $config) = @_;
    my $name = $block->name;
    nginx_version();
    my $http_config      = expand_env_in_text($block->http_config // '', $name);
    my $main_config      = expand_env_in_text($block->main_config // '', $name);
    my $post_main_config = expand_env_in_text($block->post_main_config // '', $name);
    my $err_log_file     = expand_env_in_text($block->error_log_file || $ErrLogFile, $name);
    my $server_name      = $block->server_name // $ServerName;
    $server_name =~ s/([\\'])/\\$1/g;

    my $modules = join '', map { "load_module $_;\n" } grep { length } split /\s+/,
                  $LoadModules // '';
    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" }
              qw(LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS UBSAN_OPTIONS), @EnvToNginx;
    my $user = $> == 0 ? "user root;\n" : '';

    my $temp = '';
    for my $t (qw(client_body proxy fastcgi scgi uwsgi)) {
        next if $NginxV =~ /--without-http_${t}_module/;
        next if $http_config =~ /\b${t}_temp_path\b/;
        $temp .= "    ${t}_temp_path $ServRoot/${t}_temp;\n";
    }
    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    my $use_events = $EventType ? "    use $EventType;\n" : '';

    open my $out, '>', $ConfFile or bail_out("Can't open $ConfFile for writing: $!");
    print $out <<"_EOC_";
# generated by t/runner Test::Nginx::Socket for: $name
${modules}worker_processes  $Workers;
daemon off;
master_process $MasterProcessEnabled;
error_log $err_log_file $LogLevel;
pid       $PidFile;
$user$env
$main_config

http {
    access_log $AccLogFile;
$temp
    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config

    server {
        listen          $ServerPort;
        server_name     '$server_name';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
$use_events}
_EOC_
    close $out;
}

sub find_valgrind_suppress {
    my @dirs = (Cwd::getcwd());
    my $dir = File::Spec->rel2abs($0);
    while ($dir =~ s{/[^/]*$}{} && length $dir) { push @dirs, $dir }
    for my $d (@dirs) {
        return "$d/valgrind.suppress" if -f "$d/valgrind.suppress";
    }
    return undef;
}

sub valgrind_cmd {
    my @cmd = ('valgrind', '-q', "--log-file=$LogDir/valgrind.%p.log");
    if ($UseValgrind =~ /^\d+$/) {
        my $callers = $UseValgrind > 1 ? $UseValgrind : 50;
        push @cmd, '--tool=memcheck', '--leak-check=full', '--show-possibly-lost=no',
                   '--keep-debuginfo=yes', "--num-callers=$callers", '--gen-suppressions=all';
        my $supp = find_valgrind_suppress();
        push @cmd, "--suppressions=$supp" if $supp;
    } else {
        push @cmd, split ' ', $UseValgrind;    # custom valgrind options
    }
    return @cmd;
}

# Starts nginx in the foreground as our child (daemon off).  Returns
# ('running') once it has written its pid file, or ('exited', $status).
sub spawn_nginx {
    my ($use_valgrind) = @_;
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    push @cmd, '-e', $ErrLogFile if nginx_version() >= 1.019005;
    unshift @cmd, valgrind_cmd() if $use_valgrind;
    warn "starting: @cmd\n" if $Verbose;

    unlink $PidFile, $StderrFile;
    my $pid = fork;
    bail_out("fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        setpgrp(0, 0);    # Ctrl-C goes to us; we then stop the whole group
        open STDIN,  '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $StderrFile;
        { no warnings "exec"; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }

    my $deadline = time + ($use_valgrind ? 120 : 20);
    my $step = 0.002;
    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            return ('exited', $?);
        }
        my $p = read_pid_file();
        if (defined $p && $p == $pid) {
            $NginxPid = $pid;
            return ('running', 0);
        }
        if (time > $deadline) {
            $NginxPid = $pid;
            stop_nginx();
            return ('exited', -1);
        }
        sleep $step;
        $step *= 1.5 if $step < 0.05;
    }
}

# Is our nginx child still running?  Remembers how it ended if it is not.
our $NginxDied;
sub nginx_alive {
    return 0 unless $NginxPid;
    my $r = waitpid($NginxPid, WNOHANG);
    return 1 if $r == 0;
    $NginxDied = $r == $NginxPid ? ($? & 127 ? "signal " . ($? & 127) : "exit code " . ($? >> 8))
                                 : 'unknown status';
    undef $NginxPid;
    return 0;
}

# Stops our nginx child: SIGQUIT (graceful; SIGTERM first when
# TEST_NGINX_FAST_SHUTDOWN is set or we were interrupted), then SIGTERM,
# then SIGKILL to its whole process group.  Returns its wait status, or
# undef if it was not running.
sub stop_nginx {
    my $pid = $NginxPid or return undef;
    undef $NginxPid;
    my $r = waitpid($pid, WNOHANG);
    return $r == $pid ? $? : undef if $r != 0;    # it died on its own
    my $slow = $UseValgrind ? 10 : 1;
    my @steps = $FastStop ? (['TERM', 3 * $slow]) : (['QUIT', 2 * $slow], ['TERM', 3 * $slow]);
    for my $step (@steps) {
        my ($sig, $limit) = @$step;
        kill $sig, $pid;
        my $deadline = time + $limit;
        my $nap = 0.002;
        while (time < $deadline) {
            return $? if waitpid($pid, WNOHANG) == $pid;
            sleep $nap;
            $nap *= 1.5 if $nap < 0.05;
        }
    }
    warn "WARNING: nginx $pid did not exit in time; killing it\n";
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return $?;
}

sub stderr_lines {
    open my $in, '<', $StderrFile or return [];
    my @lines = <$in>;
    return \@lines;
}

sub tail_file {
    my ($file, $n) = @_;
    open my $in, '<', $file or return '';
    my @l = <$in>;
    return join '', @l[max(0, @l - $n) .. $#l];
}

sub error_log_data {
    sleep $TestNginxSleep * 3;    # let log-phase messages hit the file
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 if !$CheckAccumErrLog && $ErrLogPos;
    my @lines = <$in>;
    $ErrLogPos = tell $in unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub access_log_data {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or return [];
    my @lines = <$in>;
    return \@lines;
}

sub check_valgrind_log {
    my $name = shift;
    my $report = '';
    for my $file (sort glob("$LogDir/valgrind.*.log")) {
        open my $in, '<', $file or next;
        my $text = do { local $/; <$in> } // '';
        close $in;
        unlink $file;
        # with -q valgrind only prints real problems; ignore its warnings
        next unless grep { /^==\d+== (?!Warning:)\S/ } split /\n/, $text;
        $report .= $text;
    }
    return unless length $report;
    Test::More::fail("$name - valgrind reported memory errors or leaks");
    Test::More::diag($report);
}

sub cleanup {
    $_->() for @CleanupHandlers;
    @CleanupHandlers = ();
    stop_nginx() unless $NoClean && !$UseValgrind;
}

#--------------------------------------------------------------------------
# Building requests
#--------------------------------------------------------------------------

sub parse_more_headers {
    my $in = shift // '';
    my ($out, $is_chunked) = ('', 0);
    for my $line (split /\n+/, $in) {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $val //= '';
        $is_chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# $packets: list of {value => ..., delay_before => ...}.  The first line of
# the joined text is "METHOD [URI [VERSION]]" and the rest is the body.
# Returns the packets rewritten into a complete HTTP request.
sub build_request {
    my ($name, $more_headers, $conn, $packets) = @_;
    my $full = join '', map { $_->{value} } @$packets;
    my ($first, $content) = $full =~ /\A([^\n]*\n?)(.*)\z/s;
    $first =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' but got \"$first\".");
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    my ($hdrs, $is_chunked) = parse_more_headers($more_headers);

    my ($trim_head, $trim_tail, $len_header) = (0, 0, '');
    if (!$is_chunked && length $content && $hdrs !~ /(?:^|\n)Content-Length:/) {
        $trim_head = length($1) if $content =~ /\A(\s+)/;
        $trim_tail = length($1) if $content =~ /(\s+)\z/ && $trim_head < length $content;
        my $len = max(0, length($content) - $trim_head - $trim_tail);
        $len_header = "Content-Length: $len\r\n";
    }
    my $head = "$meth $url $ver\r\n";
    $head .= "Host: $ServerName\r\n" if $hdrs !~ /(?:^|\n)Host:/i;
    $head .= "Connection: $conn\r\n" if $hdrs !~ /(?:^|\n)Connection/i;
    $head .= "$hdrs$len_header\r\n";

    # Re-split the new request at the original packet boundaries; a
    # boundary inside the request line moves to the end of the header.
    my $body = substr($content, $trim_head, length($content) - $trim_head - $trim_tail);
    my ($off, $prev, @out) = (0, 0);
    for my $i (0 .. $#$packets) {
        $off += length $packets->[$i]{value};
        my $c = $off - length $first;
        my $end = $i == $#$packets ? length($body)
                : min(max($c - $trim_head, 0), length $body);
        my $piece = substr($body, $prev, $end - $prev);
        $piece = $head . $piece if $i == 0;
        push @out, { %{ $packets->[$i] }, value => $piece };
        $prev = $end;
    }
    return \@out;
}

sub to_packets {
    my ($name, $r) = @_;
    return [{ value => $r }] unless ref $r;
    bail_out("$name - Invalid syntax. $r should be a string or an array of packets.")
        if ref $r ne 'ARRAY';
    return [ map { ref $_ eq 'HASH' ? {%$_} : { value => $_ } } @$r ];
}

# Returns a list of requests, each a list of packets.
sub get_req_from_block {
    my $block = shift;
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        return [ to_packets($name, $raw) ];
    }

    my $more = $block->more_headers // '';
    my $hdr_for = sub {
        my $i = shift;
        return $more unless ref $more eq 'ARRAY';
        bail_out("--- more_headers lacks data for request $i") unless defined $more->[$i];
        return $more->[$i];
    };

    if (my $reqs = $block->pipelined_requests) {
        bail_out("$name - invalid entries in --- pipelined_requests") if ref $reqs ne 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$reqs) {
            my $r = expand_env_in_text($reqs->[$i], $name);
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            $all .= build_request($name, $hdr_for->($i), $conn, [{ value => $r }])->[0]{value};
        }
        return [ [{ value => $all }] ];
    }

    my $request = $block->request;
    if (defined $block->request_eval) {
        $request = eval $block->request_eval;
        warn $@ if $@;
    }
    bail_out("$name - request empty") unless defined $request;
    if (!ref $request) {
        1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
        return [ build_request($name, $hdr_for->(0), 'close', [{ value => $request }]) ];
    }
    bail_out("$name - invalid ---request : MUST be string or array of requests")
        if ref $request ne 'ARRAY';
    my @list;
    for my $i (0 .. $#$request) {
        push @list, build_request($name, $hdr_for->($i), 'close',
                                  to_packets($name, $request->[$i]));
    }
    return \@list;
}

#--------------------------------------------------------------------------
# HTTP client
#--------------------------------------------------------------------------

sub send_request {
    my ($packets, $timeout, $block) = @_;
    my $name = $block->name;
    my $addr = $block->server_addr_for_client // $ServerAddr;
    my @queue = map { {%$_} } @$packets;
    my $head_req = (join '', map { $_->{value} } @queue) =~ /^\s*HEAD\s+/ ? 1 : 0;
    my $middle_delay = $block->raw_request_middle_delay;

    my $sock;
    for (my $try = 1; ; $try++) {
        $sock = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        my $err = $!;
        my $dead = defined $NginxPid && !nginx_alive();
        if ($dead || $try >= 40) {
            warn tail_file($ErrLogFile, 10);
            fail_no_ending("$name - Can't connect to $addr:$ServerPortForClient: $err (aborted)"
                           . ($dead ? " - nginx died ($NginxDied)" : '') . "\n");
            return (undef, $head_req);
        }
        sleep min(0.01 * $try, 0.5);
    }
    $sock->blocking(0);

    my $resp = '';
    my $wbuf = (shift @queue)->{value};
    my $woff = 0;
    my $writing = 1;
    local $SIG{PIPE} = 'IGNORE';

    while (1) {
        my $rsel = IO::Select->new($sock);
        my $wsel = $writing ? IO::Select->new($sock) : undef;
        $! = 0;
        my ($r, $w) = IO::Select->select($rsel, $wsel, undef, $timeout);
        if (!$r && !$w) {
            next if $! == EINTR;
            close $sock;
            if (defined $block->abort) {
                sleep 0.005;
            } else {
                fail_no_ending("ERROR: client socket timed out - $name\n");
            }
            last;
        }
        if ($w && @$w) {
            while ($writing) {
                if ($woff < length $wbuf) {
                    my $n = syswrite($sock, $wbuf, length($wbuf) - $woff, $woff);
                    if (!defined $n) {
                        last if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                        warn "WARNING: $name - write failed: $!\n";
                        $writing = 0;
                        last;
                    }
                    $woff += $n;
                    next;
                }
                my $next = shift @queue;
                if (!$next) {
                    $writing = 0;
                    if (defined(my $how = $block->shutdown)) {
                        shutdown($sock, $how =~ /^\s*$/ ? 1 : $how);
                    }
                    last;
                }
                my $delay = $next->{delay_before} // $middle_delay;
                sleep $delay if $delay;
                ($wbuf, $woff) = ($next->{value}, 0);
            }
        }
        if ($r && @$r) {
            my $n = sysread($sock, my $buf, 65536);
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                warn "WARNING: $name - HTTP response read failure: $!\n";
                close $sock;
                last;
            }
            if ($n == 0) { close $sock; last }
            $resp .= $buf;
        }
    }
    return ($resp, $head_req);
}

# A tiny response object: code, status line, headers (in order) and body.
package Test::Nginx::Socket::Response;

sub new     { my ($class, %a) = @_; bless { headers => [], content => '', %a }, $class }
sub code    { $_[0]{code} }
sub content { my $s = shift; $s->{content} = shift if @_; $s->{content} }

sub header {
    my ($self, $key) = @_;
    (my $k = lc $key) =~ tr/_/-/;
    my @v = map { $_->[1] } grep { my $h = lc $_->[0]; $h eq lc $key || $h eq $k }
            @{ $self->{headers} };
    return wantarray ? @v : @v ? join(', ', @v) : undef;
}

package Test::Nginx::Socket;

sub parse_response {
    my ($name, $raw, $head_req) = @_;
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';

    # status line and header fields, in the same lenient way LWP does it
    my $status_line;
    if ($raw =~ /\G(.*)\n/gc) {
        $status_line = $1;
    } else {
        $status_line = $raw;
        pos($raw) = length $raw;
    }
    $status_line =~ s/\r\z//;
    my @hdrs;
    while (1) {
        if ($raw =~ /\G([^\s:]+)[ \t]*: ?(.*)\n?/gc) {
            push @hdrs, [$1, $2];
        } elsif (@hdrs && $raw =~ /\G([ \t].*)\n?/gc) {
            $hdrs[-1][1] .= "\n$1";
        } else {
            $raw =~ /\G\r?\n/gc;
            last;
        }
        $hdrs[-1][1] =~ s/\r\z//;
    }
    my $body = substr($raw, pos($raw) // 0);
    my (undef, $code) = $status_line =~ /^\d{3} / ? (undef, split ' ', $status_line)
                                                   : split ' ', $status_line, 3;
    undef $code if defined $code && $code !~ /^\d+$/;
    my $res = Test::Nginx::Socket::Response->new(code => $code, headers => \@hdrs,
                                                  content => $body);
    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $left;
    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    if (defined $enc && $enc eq 'chunked') {
        my @trailers = $res->header('Trailer');
        my $decoded = '';
        pos($body) = 0;
        while (1) {
            if ($body =~ /\G0[ \t]*\r\n/gc) {
                for my $t (@trailers) {
                    if ($body !~ /\G\Q$t\E: [^\n]*\r\n/gc) {
                        fail_no_ending("$name - invalid trailer data received (expected $t).");
                        return;
                    }
                }
                if ($body !~ /\G\r\n/gc) {
                    fail_no_ending("$name - invalid chunked data received (expected CRLF).");
                    return;
                }
                $left = substr($body, pos $body) if pos($body) < length $body;
                last;
            }
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
                my $size = hex $1;
                my $start = pos $body;
                if (length($body) - $start < $size) {
                    fail_no_ending("$name - invalid chunked data received "
                                   . "(not enought octets for the data section)");
                    return;
                }
                $decoded .= substr($body, $start, $size);
                pos($body) = $start + $size;
                if ($body !~ /\G\r\n/gc) {
                    fail_no_ending("$name - invalid chunked data received (expected CRLF).");
                    return;
                }
            } elsif ($body =~ /\G(.+)/gcs) {
                fail_no_ending("$name - invalid chunked body received: $1");
                return;
            } else {
                fail_no_ending("$name - no last chunk found - $body");
                return;
            }
        }
        $res->content($decoded);
    } elsif (defined $len && $len =~ /^\d+$/) {
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got ",
                 length $body, "\n" unless $head_req;
        } elsif (length $body > $len) {
            $left = substr($body, $len);
            $res->content(substr($body, 0, $len));
        }
    }
    return ($res, $raw_headers, $left);
}

#--------------------------------------------------------------------------
# Checks (each produces exactly as many tests as the real module)
#--------------------------------------------------------------------------

sub get_indexed_value {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results should be arrays as well.");
    }
    return ref $value eq 'ARRAY' ? $value->[0] : $value;
}

sub check_error_code {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $pat = get_indexed_value($name, $block->error_code_like, $idx, $need_array);
        Test::More::like($got, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        Test::More::is($got, get_indexed_value($name, $block->error_code, $idx, $need_array),
                       "$name - status code ok");
    } else {
        Test::More::is($got, 200, "$name - status code ok");
    }
}

sub parse_headers {
    my $s = shift // '';
    my (%h, @order);
    for (split /\n/, $s) {
        s/^\s+|\s+$//g;
        my ($key, $val);
        if (s/^!\s*//) { $key = $_ } else { ($key, $val) = split /\s*:\s*/, $_, 2 }
        $key //= '';
        push @order, $key unless exists $h{$key};
        $h{$key} = $val;
    }
    return map { [$_, $h{$_}] } @order;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    for my $which (qw(like unlike)) {
        my $sec = "raw_response_headers_$which";
        my $v = $block->$sec;
        next unless defined $v;
        my $pat = get_indexed_value($name, $v, $idx, $need_array);
        no strict 'refs';
        &{"Test::More::$which"}($raw_headers, qr/$pat/s, "$name - raw resp headers $which");
    }
    if (defined $block->response_headers) {
        my $spec = get_indexed_value($name, $block->response_headers, $idx, $need_array);
        for my $h (parse_headers($spec)) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $got = $res ? $res->header($key) : undef;
            Test::More::is($got // '', $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $spec = get_indexed_value($name, $block->response_headers_like, $idx, $need_array);
        for my $h (parse_headers($spec)) {
            my ($key, $val) = @$h;
            my $got = $res ? $res->header($key) : undef;
            Test::More::like($got // '', qr/^$val$/, "$name - header $key like ok");
        }
    }
}

sub transform_response_body {
    my ($block, $res, $idx) = @_;
    my $filters = $block->response_body_filters;
    return unless defined $filters && $res;
    my $name = $block->name;
    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//g;
        $filters = [split /\s+/, $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$idx]
            // bail_out("$name - no response_body_filters for request $idx");
    }
    my %builtin = (
        uc => sub { uc $_[0] }, lc => sub { lc $_[0] }, length => sub { length $_[0] },
        ucfirst => sub { ucfirst $_[0] }, lcfirst => sub { lcfirst $_[0] },
        md5_hex => sub { require Digest::MD5; Digest::MD5::md5_hex($_[0]) },
        sha1_hex => sub { require Digest::SHA; Digest::SHA::sha1_hex($_[0]) },
    );
    my $content = $res->content;
    for my $f (@$filters) {
        my $code = ref $f eq 'CODE' ? $f : $builtin{$f}
            or bail_out("$name - unknown filter, \"$f\", specified in the --- response_body_filters section");
        $content = $code->($content);
    }
    $res->content($content);
}

sub check_response_body {
    my ($block, $res, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;
    if (defined $content) {
        $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
        $content =~ s/^Connection: TE, close\r\n//gms;
    }
    if (defined(my $file = $block->write_resp_body_file)) {
        if (open my $out, '>', $file) { print $out $content // ''; close $out }
    }

    if (defined $block->response_body || defined $block->response_body_eval) {
        if (defined $block->response_body_json_sort && defined $content) {
            require JSON::PP;
            my $js = JSON::PP->new->canonical(1);
            my $obj = eval { $js->loose(1)->decode($content) };
            $content = $js->encode($obj) . "\n" if $obj;
        }
        my $expected;
        if ($block->response_body_eval) {
            $expected = eval get_indexed_value($name, $block->response_body_eval, $idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = get_indexed_value($name, $block->response_body, $idx, $need_array);
        }
        Encode::from_to($expected, 'UTF-8', $block->charset) if $block->charset;
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected = expand_env_in_text($expected, $name);
        }
        if (ref $expected) {
            Test::More::like($content, $expected,
                "$name - response_body - like (repeated req $rep, req $idx)");
        } else {
            is($content, $expected,
               "$name - response_body - response is expected (repeated req $rep, req $idx)");
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $sec = "response_body_$type";
        my $pat = get_indexed_value($name, $block->$sec, $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        my $summary = trim_str($content) // '';
        no strict 'refs';
        &{"Test::More::$type"}($content, qr/$pat/s,
            "$name - response_body_$type - response is expected ($summary)");
    }

    $_->($block, $res ? $res->content : undef, $idx, $rep, 0) for @ResponseBodyChecks;
}

sub log_patterns {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub pat_matches {
    my ($line, $pat) = @_;
    return (ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/;
}

# "--- error_log" style: each pattern must match some line (one test each).
sub check_log_present {
    my ($name, $pats, $lines, $file, $suffix) = @_;
    $pats = log_patterns($pats);
    for my $line (@$lines) {
        for my $pat (@$pats) {
            next unless defined $pat && pat_matches($line, $pat);
            Test::More::pass("$name - pattern \"$pat\" matches a line in $file$suffix");
            undef $pat;
        }
    }
    for my $pat (grep { defined } @$pats) {
        Test::More::fail("$name - pattern \"$pat\" should match a line in $file$suffix");
    }
}

# "--- no_error_log" style: one pass per pattern, or one fail per matching line.
sub check_log_absent {
    my ($name, $pats, $lines, $file, $suffix) = @_;
    $pats = log_patterns($pats);
    my %found;
    for my $i (0 .. $#$lines) {
        my $line = $lines->[$i];
        for my $pat (@$pats) {
            next unless defined $pat && pat_matches($line, $pat);
            Test::More->builder->no_ending(1) if $found{$pat}++;
            my @more = @$lines[$i + 1 .. min($i + 9, $#$lines - 1)];
            Test::More::fail("$name - pattern \"" . fmt_str($pat)
                . "\" should not match any line in $file but matches line \""
                . fmt_str($line) . "\"$suffix\n" . join '', @more);
        }
    }
    for my $pat (@$pats) {
        next if !defined $pat || $found{$pat};
        Test::More::pass("$name - pattern \"" . fmt_str($pat) . "\" does not match a line in $file$suffix");
    }
}

sub value_contains {
    my ($val, $str) = @_;
    return scalar grep { !ref $_ || ref $_ eq 'Regexp' ? "$_" =~ /\Q$str\E/ : 0 }
                  ref $val eq 'ARRAY' ? @$val : ($val);
}

# $extra: more lines to match patterns against (nginx's stderr for must_die)
sub check_error_log {
    my ($block, $rep, $lines, $extra) = @_;
    my $name = $block->name;
    my $suffix = " (req $rep)";

    if (defined(my $grep = $block->grep_error_log)) {
        $grep = $grep->[$rep] if ref $grep eq 'ARRAY';
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            unless defined $expected;
        $expected = expand_env_in_text($expected, $name);
        $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
        $lines ||= error_log_data();
        my $matched = '';
        for my $line (@$lines) {
            if ((ref $grep && $line =~ /$grep/) || $line =~ /\Q$grep\E/) {
                $matched .= "$&\n" if $& !~ /\n/;
            }
        }
        if (ref $expected eq 'Regexp') {
            Test::More::like($matched, $expected, "$name - grep_error_log_out (req $rep)");
        } else {
            is($matched, $expected, "$name - grep_error_log_out (req $rep)");
        }
    }

    my %quiet;
    for my $sec (qw(error_log no_error_log)) {
        my $pats = $block->$sec;
        next unless defined $pats;
        for my $lvl (qw(alert crit emerg)) {
            $quiet{$lvl} = 1 if value_contains($pats, "[$lvl");
        }
        $lines ||= error_log_data();
        my $all = $extra ? [@$lines, @$extra] : $lines;
        if ($sec eq 'error_log') {
            check_log_present($name, $pats, $all, 'error.log', $suffix);
        } else {
            check_log_absent($name, $pats, $all, 'error.log', $suffix);
        }
    }

    $lines ||= error_log_data();
    for my $line (@$lines) {
        if ($line =~ /\[(alert|crit|emerg)\]/ && !$quiet{$1}) {
            warn "WARNING: $name - " . fmt_str($line) . "\n";
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            (my $l = $line) =~ s/\n\z//;
            fail_no_ending("$name - $l\n");
        }
    }
}

sub check_access_log {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $lines;
    if (defined $block->access_log) {
        $lines ||= access_log_data();
        check_log_present($name, $block->access_log, $lines, 'access.log', " (req $rep)");
    }
    if (defined $block->no_access_log) {
        $lines ||= access_log_data();
        check_log_absent($name, $block->no_access_log, $lines, 'access.log', " (req $rep)");
    }
}

sub check_shutdown_error_log {
    my $block = shift or return;
    return unless defined $block->shutdown_error_log || defined $block->no_shutdown_error_log;
    my $lines = error_log_data();
    check_log_present($block->name, $block->shutdown_error_log, $lines, 'error.log', '')
        if defined $block->shutdown_error_log;
    check_log_absent($block->name, $block->no_shutdown_error_log, $lines, 'error.log', '')
        if defined $block->no_shutdown_error_log;
}

#--------------------------------------------------------------------------
# Running blocks
#--------------------------------------------------------------------------

sub run_test_helper {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") unless @$reqs;
    my $timeout = parse_time($block->timeout) // $Timeout;

    my $npipe = $block->pipelined_requests ? scalar @{ $block->pipelined_requests } : 0;
    my $need_array = $npipe ? 1 : @$reqs > 1;
    my $idx = 0;

    for my $r (0 .. $#$reqs) {
        my ($raw, $head_req) = send_request($reqs->[$r], $timeout, $block);
        $raw //= '';
        # a pipelined connection carries several responses, one after another
        for my $k (0 .. ($npipe ? $npipe - 1 : 0)) {
            my ($res, $raw_headers, $left);
            if (!defined $block->ignore_response) {
                if (defined $block->http09) {
                    $res = Test::Nginx::Socket::Response->new(code => 200, content => $raw);
                    $raw_headers = '';
                } else {
                    ($res, $raw_headers, $left) = parse_response($name, $raw, $head_req);
                }
                $raw_headers //= '';
                if ($npipe) {
                    $raw = $left // '';
                } elsif (defined $left) {
                    (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                    warn "WARNING: $name - unexpected extra bytes after last chunk in response: \"$l\"\n";
                }
                check_error_code($block, $res, $idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $idx, $need_array);
                transform_response_body($block, $res, $idx);
                check_response_body($block, $res, $idx, $rep, $need_array);
            }
            my $last = $r == $#$reqs && $k == ($npipe ? $npipe - 1 : 0);
            if (!$last) {
                sleep parse_time($block->wait) if $block->wait;
                check_error_log($block, $rep);
                check_access_log($block, $rep) unless defined $block->ignore_response;
            }
            $idx++;
        }
    }

    sleep parse_time($block->wait) if $block->wait;
    check_error_log($block, $rep);
    check_access_log($block, $rep) unless defined $block->ignore_response;
}

sub skip_info {
    my $block = shift;
    my $name = $block->name;
    my ($n, $skip, $reason);
    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            ($n, $reason) = ($1, 'skip_eval');
            $skip = eval $2;
            bail_out("$name - skip_eval - failed to eval the Perl code \"$2\": $@") if $@;
        }
    }
    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        $n = $1;
        $reason = $6 || "nginx version $2 $3.$4.$5";
        my $ver = sprintf "%d.%03d%03d", $3, $4, $5;
        $skip = 1 if eval "nginx_version() $2 $ver";
    }
    if (defined(my $spec = $block->todo)) {
        $spec =~ /^\s*(\d+)\s*:\s*(.*)/s or bail_out("$name - Invalid --- todo spec: $spec");
        return (todo => $1, $2);
    }
    return $skip ? (skip => $n, $reason || 'various reasons') : ();
}

sub start_nginx_or_bail {
    my $name = shift;
    for my $try (1 .. 5) {
        my ($state, $status) = spawn_nginx($UseValgrind);
        return if $state eq 'running';
        my $why = join '', @{ stderr_lines() };
        # another process may still be releasing the port: retry a little
        if ($why =~ /Address already in use/ && $try < 5) {
            sleep 0.2 * $try;
            next;
        }
        bail_out("$name - Cannot start nginx using $NginxBinary (status $status):\n$why"
                 . tail_file($ErrLogFile, 10));
    }
}

sub run_must_die {
    my ($block, $must_die) = @_;
    my $name = $block->name;
    $ErrLogPos = 0;
    for my $rep (0 .. $RepeatEach - 1) {
        my ($state, $status) = spawn_nginx(0);
        my $exit = $state eq 'running' ? 0 : $status >> 8;
        if ($state eq 'exited' && ($status & 128)) {
            Test::More::fail("$name - nginx core dumped");
        } elsif (looks_like_number($must_die)) {
            Test::More::is($must_die, $exit, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($state eq 'running' ? 0 : $status, 0, "$name - die as expected");
        }
        # what nginx printed while starting: the error log plus its stderr
        my $stderr = stderr_lines();
        print STDERR @$stderr;
        check_error_log($block, $rep, error_log_data(), $stderr);
        if ($state eq 'running') {
            warn "WARNING: $name - nginx must die but it does not; killing it (req $rep)\n";
            stop_nginx();
        }
    }
}

sub run_test {
    my $block = shift;
    return if defined $block->SKIP;
    my $name = $block->name;

    local $RandPorts = {};
    local $LogLevel = $block->log_level || $LogLevel;
    # scalar: a missing section is an empty list in list context
    my $config = expand_env_in_text(scalar $block->config, $name);
    my $must_die = $block->must_die;
    my ($mode, $ntests, $reason) = skip_info($block);
    $mode //= '';

    if ($mode ne 'skip') {
        if (defined $config) {
            if ($NginxPid) {
                stop_nginx();
                check_shutdown_error_log($PrevBlock);
            }
            $PrevConfig = $config;
            setup_server_root();
            if ($block->post_setup_server_root) {
                eval $block->post_setup_server_root;
                bail_out("$name - post_setup_server_root failed: $@") if $@;
            }
            write_user_files($block);
            write_config_file($block, $config);
            if (defined $must_die) {
                run_must_die($block, $must_die);
                return;
            }
            start_nginx_or_bail($name);
        } else {
            # like the real module: no config means "keep the previous nginx"
            bail_out("$name - No '--- config' section specified and could not get previous one.")
                unless defined $PrevConfig;
            start_nginx_or_bail($name) unless nginx_alive();
        }
    }

    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogPos = 0;
    for my $rep (0 .. $RepeatEach - 1) {
        write_user_files($block) if $rep > 0;
        if ($mode eq 'skip') {
            SKIP: { Test::More::skip("$name - $reason", $ntests) }
        } elsif ($mode eq 'todo') {
            TODO: { Test::More::todo_skip("$name - $reason", $ntests) }
        } else {
            run_test_helper($block, $rep);
        }
    }

    if ($NginxPid && !nginx_alive()) {
        # not something the real module checks, but a crash must not go unnoticed
        fail_no_ending("$name - nginx died unexpectedly ($NginxDied)\n" . tail_file($ErrLogFile, 10));
    }

    if ($UseValgrind && $mode ne 'skip') {
        # under valgrind every block gets its own nginx so that leaks are
        # reported per block (and errors even if nginx crashed)
        if ($NginxPid) {
            stop_nginx();
            check_shutdown_error_log($block);
        }
        check_valgrind_log($name);
    }
}

sub run_tests () {
    nginx_version();
    for my $sig (qw(INT TERM HUP)) {
        $SIG{$sig} = sub { warn "caught SIG$sig, stopping nginx\n"; $FastStop = 1; exit 1 }
            if !defined $SIG{$sig} || $SIG{$sig} eq '' || $SIG{$sig} eq 'DEFAULT';
    }
    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
        $PrevBlock = $block;
    }
    cleanup();
    check_shutdown_error_log($PrevBlock) unless $UseValgrind;
    undef $PrevBlock;
}

END {
    if ($$ == $MainPid) {
        local $?;
        cleanup();
        check_shutdown_error_log($PrevBlock) if $PrevBlock;
        if ($Randomize && !$NoClean && $ServRoot =~ m{/t/servroot_\d+$} && -d $ServRoot) {
            remove_tree($ServRoot);
        }
    }
}

1;
__END__

=head1 NAME

Test::Nginx::Socket - minimal, dependency-light subset of openresty's
Test::Nginx::Socket (see t/runner/README.md)

=cut
