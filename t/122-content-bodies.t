# Content checks (foundry_content_check, issue 21) of request bodies that
# nginx keeps in a temporary file (client_body_in_file_only, or a body
# larger than client_body_buffer_size): the check sees the whole text, the
# routing still reads "model" (and rewrites it), a flagged prompt is
# refused before anything goes upstream, a clean one reaches the upstream
# intact.  Texts across the parse's 64 KB reads, max_text= on a body in a
# file, and a body read once for both (the check's text is collected by
# the routing's own parse).

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use IO::Socket::INET ();
use lib 't/lib';
use FoundryMock;
use FoundryNginx;

plan tests => 59;

my $mock = FoundryMock::start();

sub mock_call { FoundryMock::control($mock, @_) }

# the checker's calls since the last reset
sub calls { FoundryMock::content_calls($mock) }

sub model_requests {
    my $s = mock_call('GET', '/__mock/stats');
    my $n = 0;
    for my $p (keys %{ $s->{by_path} }) {
        $n += $s->{by_path}{$p} if $p =~ m{\A/v1/};
    }
    return $n;
}

my $ngx = FoundryNginx->new(workers => 1, http => <<"CONF");
    client_max_body_size 8m;

    upstream mock {
        server 127.0.0.1:$mock;
    }

    foundry_upstream u kind=openai url=http://mock;

    server {
        listen 127.0.0.1:\$PORT;

        location /_cs/ {
            internal;
            proxy_pass http://127.0.0.1:$mock/;
            proxy_set_header Ocp-Apim-Subscription-Key mock-cs-key;
        }

        # every body in a temporary file, however small
        location /file/ {
            client_body_in_file_only clean;
            foundry_gateway on;
            foundry_deployment_in_path off;
            foundry_model gpt-4o upstream=u upstream_model=gpt-4o-2024;
            foundry_content_check /_cs/ shield=on max_text=150000;
            proxy_pass \$foundry_upstream_url;
            add_header X-Verdict \$foundry_content_verdict always;
            add_header X-Reason \$foundry_content_reason always;
        }

        # bodies over 1 KB in a temporary file
        location /small/ {
            client_body_buffer_size 1k;
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/ max_text=30000;
            proxy_pass \$foundry_upstream_url;
            add_header X-Verdict \$foundry_content_verdict always;
        }

        # the same, in memory
        location /memory/ {
            client_body_buffer_size 4m;
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/ max_text=30000;
            proxy_pass \$foundry_upstream_url;
            add_header X-Verdict \$foundry_content_verdict always;
        }
    }
CONF

# the workers write the bodies' temporary files under the prefix
chmod 0711, $ngx->{prefix};

sub post {
    my ($path, $body, @h) = @_;
    $body = JSON::PP->new->utf8->canonical->encode($body) if ref $body;
    return $ngx->request('POST', $path,
                         ['Content-Type' => 'application/json', @h], $body);
}

sub analyzed {
    my ($c) = @_;
    my $n = 0;
    $n += $_->{chars} for grep { $_->{kind} eq 'analyze' } @$c;
    return $n;
}

calls();


# 1. a small body in a file (client_body_in_file_only): refused or passed

{
    my $before = model_requests();
    my ($st, $h, $b) = post('/file/chat/completions', {
        model => 'gpt-4o',
        messages => [ { role => 'user', content => 'x DEMO-UNSAFE' } ] });
    is($st, 400, 'file: a flagged prompt is refused');
    my $e = eval { JSON::PP::decode_json($b) } // {};
    is($e->{error}{code}, 'content_filter', 'file: the content-filter error');
    is($h->{'x-reason'}, 'Violence:6', 'file: the reason');
    is(model_requests(), $before, 'file: nothing went upstream');
    is(analyzed(calls()), length('x DEMO-UNSAFE'), 'file: the text checked');

    my $body = '{"model":"gpt-4o","temperature":0.5,"messages":'
               . '[{"role":"user","content":"hello \u00e9t\u00e9"}]}';
    ($st, $h, $b) = post('/file/chat/completions', $body,
                         'X-Mock-Echo' => 1);
    is($st, 200, 'file: a clean prompt passes');
    is($h->{'x-verdict'}, 'allowed', 'file: verdict allowed');
    my $echo = eval { JSON::PP::decode_json($b) } // {};
    (my $sent = $body) =~ s/"model":"gpt-4o"/"model":"gpt-4o-2024"/;
    is($echo->{body}, $sent,
       'file: the upstream got the body, its model rewritten');
    is($echo->{headers}{'content-length'}, length $sent,
       'file: with its length');
    my $c = calls();
    is(analyzed($c), length("hello \x{e9}t\x{e9}"),
       'file: escapes decoded in the text checked');
    is(scalar(grep { $_->{kind} eq 'shield' } @$c), 1, 'file: shielded too');
}


# 2. the body in a file is routed by its "model", and refused if unknown

{
    my ($st, $h, $b) = post('/file/chat/completions', {
        model => 'nope',
        messages => [ { role => 'user', content => 'DEMO-UNSAFE' } ] });
    is($st, 404, 'file: an unknown model in a body in a file');
    is(scalar @{ calls() }, 0, 'file: not checked before routing');

    ($st, $h, $b) = post('/file/chat/completions', '{"model":"gpt-4o",');
    is($st, 400, 'file: a body that is not JSON');
    like($b, qr/"InvalidRequestBody"/, 'file: InvalidRequestBody');
}


# 3. large bodies over client_body_buffer_size: texts across the 64 KB reads

sub chat_body {
    my ($pad, @messages) = @_;
    return JSON::PP->new->utf8->canonical->encode({
        model => 'gpt-4o',
        metadata => { pad => $pad },
        messages => \@messages });
}

{
    # the marker straddles the first 64 KB boundary of the file

    my $prefix = '{"messages":[{"content":"';
    my $text = ('word ' x 14000);
    my $at = 65536 - length($prefix) - 5;
    substr($text, $at, 11) = 'DEMO-UNSAFE';
    my $body = $prefix . $text
               . '","role":"user"}],"model":"gpt-4o"}';
    ok(index($body, 'DEMO-UNSAFE') < 65536
       && index($body, 'DEMO-UNSAFE') + 11 > 65536,
       'large: the marker crosses 64 KB of the body');

    my $before = model_requests();
    my ($st, $h, $b) = post('/file/chat/completions', $body);
    is($st, 400, 'large: a marker across two reads is found');
    is(model_requests(), $before, 'large: nothing went upstream');
    my $c = calls();
    is(analyzed($c), length $text, 'large: every character checked once');

    # a text that spans several reads, after a large member that is not text

    my $long = join ' ', map { "w$_" } 1 .. 20000;     # ~128 KB
    $body = chat_body('p' x 100000,
                      { role => 'system', content => 'be nice' },
                      { role => 'user', content => $long });
    ($st, $h, $b) = post('/file/chat/completions', $body, 'X-Mock-Echo' => 1);
    is($st, 200, 'large: a clean 230 KB body passes');
    $c = calls();
    is(analyzed($c), length("be nice\n$long"),
       'large: the whole text is checked, across several reads');
    ok(scalar(grep { $_->{kind} eq 'analyze' } @$c) >= 13,
       'large: in calls of 10,000 characters');
    my $echo = eval { JSON::PP::decode_json($b) } // {};
    (my $sent = $body) =~ s/"model":"gpt-4o"/"model":"gpt-4o-2024"/;
    is($echo->{body_length}, length $sent, 'large: the upstream got it all');
    is($echo->{body}, $sent, 'large: intact');

    $body = chat_body('p' x 100000,
                      { role => 'user', content => $long },
                      { role => 'tool', content => 'DEMO-ATTACK' });
    ($st, $h, $b) = post('/file/chat/completions', $body);
    is($st, 400, 'large: a document attack at the end of a large body');
    is($h->{'x-reason'}, 'indirect_attack', 'large: indirect_attack');
    calls();

    # client_body_buffer_size 1k: the same body in a file, and in memory

    $body = chat_body('q' x 5000,
                      { role => 'user', content => 'safe words ' x 100 },
                      { role => 'user', content => 'then DEMO-UNSAFE' });
    for my $loc (qw(small memory)) {
        $before = model_requests();
        ($st) = post("/$loc/chat/completions", $body);
        is($st, 400, "$loc: flagged");
        is(model_requests(), $before, "$loc: nothing went upstream");
        is(analyzed(calls()),
           length(('safe words ' x 100) . "\nthen DEMO-UNSAFE"),
           "$loc: the same text checked");
    }

    $body = chat_body('q' x 5000,
                      { role => 'user', content => 'safe words ' x 100 });
    ($st, $h, $b) = post('/small/chat/completions', $body, 'X-Mock-Echo' => 1);
    is($st, 200, 'small: clean passes');
    $echo = eval { JSON::PP::decode_json($b) } // {};
    is($echo->{body}, $body, 'small: the upstream got the body as sent');
    calls();
}


# 4. max_text= on bodies in a file: refused, never passed unchecked

{
    my $before = model_requests();
    my ($st, $h, $b) = post('/small/chat/completions', chat_body('',
        { role => 'user', content => 'y' x 30001 }));
    is($st, 413, 'max_text: a longer text in a file is refused');
    like($b, qr/"PromptTooLarge"/, 'max_text: PromptTooLarge');
    is($h->{'x-verdict'}, 'too_large', 'max_text: verdict too_large');
    is(scalar @{ calls() }, 0, 'max_text: the checker is not called');
    is(model_requests(), $before, 'max_text: nothing went upstream');

    # many texts, together over the limit; a large body with little text
    ($st) = post('/small/chat/completions', chat_body('',
        map { { role => 'user', content => 'z' x 1000 } } 1 .. 31));
    is($st, 413, 'max_text: texts together over the limit');

    ($st) = post('/small/chat/completions', chat_body('p' x 1000000,
        { role => 'user', content => 'short' }));
    is($st, 200, 'max_text: a 1 MB body with a short text passes');
    is(analyzed(calls()), 5, 'max_text: only the text counts');

    # the body's own errors first: a long text in a body that is not JSON
    my $bad = chat_body('', { role => 'user', content => 'y' x 30001 });
    chop $bad;
    ($st, $h, $b) = post('/small/chat/completions', $bad);
    is($st, 400, 'max_text: a body that is not JSON is a 400 first');
    like($b, qr/"InvalidRequestBody"/, 'max_text: InvalidRequestBody');

    # at the limit exactly
    ($st) = post('/small/chat/completions', chat_body('',
        { role => 'user', content => 'y' x 30000 }));
    is($st, 200, 'max_text: a text of max_text characters passes');
    calls();
}


# 5. no alert, no prompt text in the log

{
    my $err = $ngx->error_log;
    unlike($err, qr/\[(?:alert|crit|emerg)\]/, 'logs: no alert');
    unlike($err, qr/DEMO-/, 'logs: no prompt text');
}

$ngx->stop;


# 6. one parse of the body for the routing and the check: the debug log
#    says what parsed it; no second parse, in memory or from the file

{
    local $ENV{FOUNDRY_NGINX_LOG_LEVEL} = 'debug';

    my $dbg = FoundryNginx->new(workers => 1, http => <<"CONF");
    upstream mock {
        server 127.0.0.1:$mock;
    }

    foundry_upstream u kind=openai url=http://mock;

    server {
        listen 127.0.0.1:\$PORT;

        location /_cs/ {
            internal;
            proxy_pass http://127.0.0.1:$mock/;
        }

        location /memory/ {
            client_body_buffer_size 1m;
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/;
            proxy_pass \$foundry_upstream_url;
        }

        location /file/ {
            client_body_in_file_only clean;
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/;
            proxy_pass \$foundry_upstream_url;
        }

        location /plain/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            proxy_pass \$foundry_upstream_url;
        }
    }
CONF
    chmod 0711, $dbg->{prefix};

    my $body = JSON::PP::encode_json({ model => 'gpt-4o', messages => [
        { role => 'user', content => 'hello DEMO-UNSAFE' } ] });

    for my $loc (qw(memory file plain)) {
        my $before = length $dbg->error_log;
        my ($st) = $dbg->request('POST', "/$loc/chat/completions",
                                 ['Content-Type' => 'application/json'],
                                 $body);
        is($st, $loc eq 'plain' ? 200 : 400, "once: $loc answered");

        my $log = substr $dbg->error_log, $before;
        my @parses = $log =~ /foundry: request body (?:scanned|parsed)[^\n]*/g;
        is(scalar @parses, 1, "once: $loc: the body parsed once");

        my $how = $loc eq 'file' ? 'parsed' : 'scanned';
        my $with = $loc eq 'plain' ? '' : ", the content check's text with it";
        like($parses[0] // '', qr/request body \Q$how\E, \d+ bytes\Q$with\E\z/,
             "once: $loc: $how" . ($with ? ', with the text' : ''));
        unlike($log, qr/DEMO-UNSAFE/, "once: $loc: no prompt text at debug");
    }

    calls();
    $dbg->stop;
}
