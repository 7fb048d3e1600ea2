# Content checks of the model's answers (foundry_content_check answers=on,
# issue 21 item 4): the whole answer of a non-streamed inference call is
# held until the checker's verdict (at most answer_max bytes), then goes on
# unchanged or is replaced by the content-filter error (flagged) or a 503
# (the check failed, fail=closed).  The bundled mock plays the model and
# the checker; the model's answer says what the prompt asks for:
# DEMO-ANSWER:UNSAFE makes it say DEMO-UNSAFE (Violence 6), the prompt
# itself staying clean; DEMO-ANSWER-TOOL:<W> makes it a tool call,
# DEMO-ANSWER-REASONING:<W> adds a Responses reasoning item,
# DEMO-ANSWER-PAD:<n> n more bytes.
#
# Sections: chat, tool calls, completions, Responses flagged and allowed;
# the allowed answer byte for byte; its length; the same with
# proxy_buffering off (foundry_proxy_params'); thresholds; the generic
# shape; what is not held (streams, other statuses and types, embeddings,
# locations without answers=on); answer_max and max_text; the checker
# failing with both fail modes, an answer cut short, a client that leaves;
# the cache (and prompts' keys apart); usage counted whatever the verdict;
# variables, metrics, logs; a keepalive connection; the debug log;
# configuration errors.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use IO::Socket::INET ();
use Time::HiRes qw(sleep);
use File::Temp qw(tempdir);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;

plan tests => 190;

my $Secret = 'SECRETANSWERWORD';

my $mock = FoundryMock::start();

sub mock_call { FoundryMock::control($mock, @_) }

sub calls { FoundryMock::content_calls($mock) }

sub content_mode {
    my (%set) = @_;
    return mock_call('PUT', '/__mock/content',
                     JSON::PP::encode_json({ reset => 1, %set }));
}

sub model_requests {
    my $s = mock_call('GET', '/__mock/stats');
    my $n = 0;
    for my $p (keys %{ $s->{by_path} }) {
        $n += $s->{by_path}{$p} if $p =~ m{\A/v1/};
    }
    return $n;
}

# a closed port: the checker that refuses connections
my $closed = do {
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "listen: $!";
    my $p = $l->sockport;
    close $l;
    $p;
};

sub loc {
    my ($name, $check, $extra) = @_;
    $extra //= '';
    return <<"LOC";
        location /$name/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_model emb upstream=u;
            $check
            proxy_pass \$foundry_upstream_url;
            add_header X-Verdict \$foundry_content_verdict always;
            add_header X-AVerdict \$foundry_content_answer_verdict always;
            add_header X-AReason \$foundry_content_answer_reason always;
            $extra
        }
LOC
}

my $locs = join '',
    loc('v1', 'foundry_content_check /_cs/ answers=on shield=on;'),
    loc('plain', ''),
    loc('off', 'foundry_content_check /_cs/;'),
    loc('strict', 'foundry_content_check /_cs/ answers=on Hate=2 Violence=7;'),
    loc('generic', 'foundry_content_check /_moderate shape=generic answers=on;'),
    loc('small', 'foundry_content_check /_cs/ answers=on answer_max=1k;'),
    loc('small-open',
        'foundry_content_check /_cs/ answers=on answer_max=1k fail=open;'),
    loc('maxtext', 'foundry_content_check /_cs/ answers=on max_text=200;'),
    loc('closed', 'foundry_content_check /_cs/ answers=on timeout=500ms;'),
    loc('open',
        'foundry_content_check /_cs/ answers=on fail=open timeout=500ms;'),
    loc('gone-closed', 'foundry_content_check /_gone/ answers=on;'),
    loc('gone-open', 'foundry_content_check /_gone/ answers=on fail=open;'),
    loc('nostream', 'foundry_content_check /_cs/ answers=on streams=refuse;'),
    # proxy_buffering off, as foundry_proxy_params sets it: the upstream's
    # buffers reach the hold as they are read, not through the event pipe
    loc('unbuf', 'foundry_content_check /_cs/ answers=on;',
        'proxy_buffering off;'),
    loc('unbuf-small', 'foundry_content_check /_cs/ answers=on answer_max=1k;',
        'proxy_buffering off;'),
    loc('unbuf-small-open',
        'foundry_content_check /_cs/ answers=on answer_max=1k fail=open;',
        'proxy_buffering off;'),
    loc('cached',
        'foundry_content_check /_cs/ answers=on cache=verdicts ttl=30s;',
        'add_header X-Cache $foundry_content_cache always;');

my $ngx = FoundryNginx->new(workers => 1, http => <<"CONF");
    foundry_content_cache_zone verdicts:1m;
    foundry_metrics_zone metrics:1m;

    log_format answers '\$request \$status \$foundry_content_answer_verdict '
                       '"\$foundry_content_answer_reason" '
                       'c=\$foundry_completion_tokens';

    upstream mock {
        server 127.0.0.1:$mock;
    }

    foundry_upstream u kind=openai url=http://mock;

    server {
        listen 127.0.0.1:\$PORT;

        access_log logs/answers.log answers;

        location /_cs/ {
            internal;
            proxy_pass http://127.0.0.1:$mock/;
            proxy_set_header Ocp-Apim-Subscription-Key mock-cs-key;
            proxy_read_timeout 10s;
        }

        location = /_moderate {
            internal;
            proxy_pass http://127.0.0.1:$mock/moderate;
        }

        location /_gone/ {
            internal;
            proxy_pass http://127.0.0.1:$closed/;
        }

$locs
        location = /metrics {
            foundry_metrics;
        }
    }
CONF

sub post {
    my ($path, $body, @h) = @_;
    $body = JSON::PP->new->utf8->canonical->encode($body) if ref $body;
    return $ngx->request('POST', $path,
                         ['Content-Type' => 'application/json', @h], $body);
}

sub chat {
    my ($prefix, $text, @h) = @_;
    return post("$prefix/chat/completions",
                { model => 'gpt-4o',
                  messages => [ { role => 'user', content => $text } ] }, @h);
}

sub err_of {
    my ($b) = @_;
    return eval { JSON::PP::decode_json($b) } // {};
}

calls();


# 1. chat: a flagged answer is dropped for the content-filter error

{
    my ($st, $h, $b) = chat('/v1', "tell me DEMO-ANSWER:UNSAFE $Secret");
    is($st, 400, 'chat: a flagged answer is refused');
    is($h->{'x-verdict'}, 'allowed', 'chat: the prompt itself was allowed');
    is($h->{'x-averdict'}, 'flagged', 'chat: the answer flagged');
    is($h->{'x-areason'}, 'Violence:6', 'chat: the reason');
    my $e = err_of($b);
    is($e->{error}{code}, 'content_filter', 'chat: code content_filter');
    is($e->{error}{message},
       "The model's answer was filtered by the gateway's content policy.",
       'chat: the message says the answer');
    is($e->{error}{param}, 'completion', 'chat: param completion');
    my $r = $e->{error}{innererror}{content_filter_result} // {};
    is($r->{violence}{severity}, 'high', 'chat: violence high');
    ok(!exists $r->{jailbreak}, 'chat: no prompt-attack result for answers');
    unlike($b, qr/DEMO-|Hello from|$Secret/, 'chat: nothing of the answer');
    like($h->{'content-type'}, qr{application/json}, 'chat: JSON');
    is($h->{'content-length'}, length $b, 'chat: its length');

    my $c = calls();
    my @an = grep { $_->{kind} eq 'analyze' } @$c;
    my @sh = grep { $_->{kind} eq 'shield' } @$c;
    is(scalar @an, 2, 'chat: one analyze for the prompt, one for the answer');
    is(scalar @sh, 1, 'chat: shieldPrompt for the prompt only');
    like($an[-1]{text} // '', qr/DEMO-UNSAFE/, 'chat: the answer\'s text sent');
}

{
    my ($st, $h, $b) = chat('/v1', 'DEMO-ANSWER-TOOL:UNSAFE please');
    is($st, 400, 'tool call: flagged arguments are refused');
    is($h->{'x-averdict'}, 'flagged', 'tool call: flagged');
    my $c = calls();
    my ($a) = grep { $_->{kind} eq 'analyze' } reverse @$c;
    is($a->{text}, '{"q":"DEMO-UNSAFE"}', 'tool call: its arguments checked');

    ($st, $h, $b) = chat('/v1', 'DEMO-ANSWER-TOOL:FINE please');
    is($st, 200, 'tool call: fine arguments pass');
    like($b, qr/"tool_calls"/, 'tool call: the answer');
}


# 2. completions and Responses

{
    my ($st, $h, $b) = post('/v1/completions',
                            { model => 'gpt-4o', prompt => 'DEMO-ANSWER:UNSAFE' });
    is($st, 400, 'completions: flagged');
    is(err_of($b)->{error}{param}, 'completion', 'completions: the error');

    ($st, $h, $b) = post('/v1/completions',
                         { model => 'gpt-4o', prompt => 'DEMO-ANSWER:HATE' });
    is($st, 200, 'completions: hate 2 under the default threshold passes');
    is($h->{'x-averdict'}, 'allowed', 'completions: allowed');
    like($b, qr/DEMO-HATE/, 'completions: the answer itself');

    ($st, $h, $b) = post('/v1/responses',
                         { model => 'gpt-4o', input => 'DEMO-ANSWER:SELFHARM' });
    is($st, 400, 'responses: flagged output_text');
    is($h->{'x-areason'}, 'SelfHarm:4', 'responses: the reason');

    ($st, $h, $b) = post('/v1/responses',
                         { model => 'gpt-4o', input => 'DEMO-ANSWER-TOOL:UNSAFE' });
    is($st, 400, 'responses: flagged function_call arguments');

    calls();
    ($st, $h, $b) = post('/v1/responses',
                         { model => 'gpt-4o',
                           input => 'DEMO-ANSWER-REASONING:UNSAFE' });
    is($st, 200, 'responses: a reasoning item is not the answer');
    my ($a) = grep { $_->{kind} eq 'analyze' } reverse @{ calls() };
    is($a->{text}, 'Hello from the mock upstream.',
       'responses: only the message\'s text is sent');
}


# 2b. answers of every shape the text is read from, and members that are
#     not the answer (the mock sends the body given)

{
    my @shapes = (
        [ 'chat, content parts', 400, '/v1/chat/completions',
          { choices => [ { message => { role => 'assistant', content => [
              { type => 'text', text => 'x' },
              { type => 'text', text => 'DEMO-UNSAFE' } ] } } ] } ],
        [ 'chat, refusal', 400, '/v1/chat/completions',
          { choices => [ { message => { content => undef,
                                        refusal => 'DEMO-UNSAFE' } } ] } ],
        [ 'chat, a second choice', 400, '/v1/chat/completions',
          { choices => [ { message => { content => 'fine' } },
                         { message => { content => 'DEMO-UNSAFE' } } ] } ],
        [ 'chat, logprobs are not the answer', 200, '/v1/chat/completions',
          { choices => [ { message => { content => 'fine' },
                           logprobs => { content => [
                               { token => 'DEMO-UNSAFE' } ] } } ] } ],
        [ 'chat, other members are not', 200, '/v1/chat/completions',
          { id => 'DEMO-UNSAFE', model => 'DEMO-UNSAFE',
            choices => [ { message => { role => 'DEMO-UNSAFE',
                                        content => 'fine' },
                           finish_reason => 'DEMO-UNSAFE' } ] } ],
        [ 'responses, refusal part', 400, '/v1/responses',
          { output => [ { type => 'message', content => [
              { type => 'refusal', refusal => 'DEMO-UNSAFE' } ] } ] } ],
        [ 'responses, type after content', 400, '/v1/responses',
          { output => [ { content => [
              { type => 'output_text', text => 'DEMO-UNSAFE' } ],
              type => 'message' } ] } ],
        [ 'responses, a web search call is not', 200, '/v1/responses',
          { output => [ { type => 'web_search_call',
                          content => [ { text => 'DEMO-UNSAFE' } ] },
                        { type => 'message', content => [
                            { type => 'output_text', text => 'fine' } ] } ] } ],
    );

    for my $c (@shapes) {
        my ($name, $want, $path, $answer) = @$c;
        my ($st) = post($path, { model => 'gpt-4o', input => 'hi',
                                 messages => [ { role => 'user',
                                                 content => 'hi' } ] },
                        'x-mock-status' => 200,
                        'x-mock-body' => JSON::PP->new->canonical
                                                 ->encode($answer));
        is($st, $want, "shape: $name");
    }

    my ($st, $h) = post('/v1/chat/completions',
                        { model => 'gpt-4o',
                          messages => [ { role => 'user', content => 'hi' } ] },
                        'x-mock-status' => 200,
                        'x-mock-body' => '{"choices":[{"message":'
                                         . '{"content":null}}]}');
    is($st, 200, 'shape: no text at all');
    is($h->{'x-areason'}, 'no text', 'shape: no text, no call');
}


# 3. the allowed answer, byte for byte, with its length

{
    for my $case (['chat', '/chat/completions',
                   { model => 'gpt-4o',
                     messages => [ { role => 'user', content => 'hi' } ] }],
                  ['completions', '/completions',
                   { model => 'gpt-4o', prompt => 'hi' }],
                  ['responses', '/responses',
                   { model => 'gpt-4o', input => 'hi' }])
    {
        my ($name, $op, $body) = @$case;
        my ($st, $h, $b) = post("/v1$op", $body);
        my ($st0, $h0, $b0) = post("/plain$op", $body);
        is($st, 200, "identical: $name allowed");
        my $strip = sub { (my $x = shift) =~ s/"(?:id|created)":"?[\w-]+"?//g; $x };
        is($strip->($b), $strip->($b0),
           "identical: $name the same bytes as without the check");
        is($h->{'content-length'}, length $b, "identical: $name length");
    }

    # an answer without Content-Length (chunked, in pieces) gets one
    my ($st, $h, $b) = chat('/v1', 'hi', 'x-mock-json-chunks' => 1,
                            'x-mock-chunks' => 5, 'x-mock-chunk-delay-ms' => 20);
    is($st, 200, 'length: a chunked answer allowed');
    is($h->{'content-length'}, length $b, 'length: Content-Length set');
    ok(!defined $h->{'transfer-encoding'}, 'length: not chunked');
    like($b, qr/"Hello from the mock upstream\."/, 'length: the whole answer');

    ($st, $h, $b) = chat('/v1', 'DEMO-ANSWER:UNSAFE', 'x-mock-json-chunks' => 1,
                         'x-mock-chunks' => 5);
    is($st, 400, 'length: a chunked flagged answer refused');
}


# 3b. the same with proxy_buffering off (foundry_proxy_params' setting)

{
    my ($st, $h, $b) = chat('/unbuf', "tell me DEMO-ANSWER:UNSAFE");
    is($st, 400, 'unbuffered: a flagged answer refused');
    is(err_of($b)->{error}{code}, 'content_filter', 'unbuffered: content_filter');
    unlike($b, qr/DEMO-|Hello from/, 'unbuffered: nothing of the answer');
    is($h->{'content-length'}, length $b, 'unbuffered: the error\'s length');

    for my $case (['chat', '/chat/completions',
                   { model => 'gpt-4o',
                     messages => [ { role => 'user', content => 'hi' } ] }],
                  ['responses', '/responses',
                   { model => 'gpt-4o', input => 'hi' }])
    {
        my ($name, $op, $body) = @$case;
        my ($st1, $h1, $b1) = post("/unbuf$op", $body);
        my ($st0, $h0, $b0) = post("/plain$op", $body);
        my $strip = sub { (my $x = shift) =~ s/"(?:id|created)":"?[\w-]+"?//g; $x };
        is($st1, 200, "unbuffered: $name allowed");
        is($strip->($b1), $strip->($b0), "unbuffered: $name the same bytes");
        is($h1->{'x-averdict'}, 'allowed', "unbuffered: $name verdict");
    }

    ($st, $h, $b) = chat('/unbuf', 'hi', 'x-mock-json-chunks' => 1,
                         'x-mock-chunks' => 5, 'x-mock-chunk-delay-ms' => 20);
    is($st, 200, 'unbuffered: a chunked answer allowed');
    is($h->{'content-length'}, length $b, 'unbuffered: its Content-Length');
    like($b, qr/"Hello from the mock upstream\."/, 'unbuffered: whole');

    ($st, $h, $b) = chat('/unbuf', 'DEMO-ANSWER:UNSAFE',
                         'x-mock-json-chunks' => 1, 'x-mock-chunks' => 5,
                         'x-mock-chunk-delay-ms' => 20);
    is($st, 400, 'unbuffered: a chunked flagged answer refused');

    ($st, $h, $b) = chat('/unbuf', 'hi', 'x-mock-reset-after' => 200);
    is($st, 502, 'unbuffered: an answer cut short is a 502');
    unlike($b, qr/Hello|choices/, 'unbuffered: nothing of it');

    ($st, $h, $b) = chat('/unbuf-small', 'DEMO-ANSWER-PAD:2000',
                         'x-mock-json-chunks' => 1, 'x-mock-chunks' => 8,
                         'x-mock-chunk-delay-ms' => 10);
    is($st, 503, 'unbuffered: over answer_max while read, closed: 503');
    is($h->{'x-averdict'}, 'too_large', 'unbuffered: too_large');
    unlike($b, qr/xxxx/, 'unbuffered: nothing of the answer');

    ($st, $h, $b) = chat('/unbuf-small-open', 'DEMO-ANSWER:UNSAFE DEMO-ANSWER-PAD:2000',
                         'x-mock-json-chunks' => 1, 'x-mock-chunks' => 8,
                         'x-mock-chunk-delay-ms' => 10);
    is($st, 200, 'unbuffered: over answer_max, open: passed');
    my $j = eval { JSON::PP::decode_json($b) };
    ok($j && $j->{choices}[0]{message}{content} =~ /DEMO-UNSAFE x{2000}/,
       'unbuffered: open, the whole answer, what was held then the rest');
    is($h->{'x-averdict'}, 'too_large', 'unbuffered: open, too_large');
}


# 4. thresholds and the generic shape

{
    my ($st, $h) = chat('/strict', 'DEMO-ANSWER:HATE');
    is($st, 400, 'thresholds: Hate=2 refuses an answer of hate 2');
    ($st) = chat('/strict', 'DEMO-ANSWER:UNSAFE');
    is($st, 200, 'thresholds: Violence=7 lets severity 6 through');

    my $b;
    ($st, $h, $b) = chat('/generic', 'DEMO-ANSWER:UNSAFE');
    is($st, 400, 'generic: denied');
    is($h->{'x-areason'}, 'denied:mock policy: unsafe marker',
       'generic: the reason');
    ($st, $h) = chat('/generic', 'hello');
    is($st, 200, 'generic: allowed');
    my @g = grep { $_->{kind} eq 'generic' } @{ calls() };
    is($g[-1]{text}, 'Hello from the mock upstream.',
       'generic: {"text": the answer}');
}


# 5. what is not held

{
    calls();
    my ($st, $h, $b) = post('/v1/chat/completions', {
        model => 'gpt-4o', stream => JSON::PP::true,
        messages => [ { role => 'user', content => 'DEMO-ANSWER:UNSAFE' } ] });
    is($st, 200, 'stream: passes');
    like($b, qr/data: \[DONE\]/, 'stream: the stream');
    ok(!defined $h->{'x-averdict'} || $h->{'x-averdict'} eq '',
       'stream: no answer verdict');
    is(scalar(grep { $_->{kind} eq 'analyze' } @{ calls() }), 1,
       'stream: only the prompt checked');

    ($st, $h, $b) = chat('/v1', 'hi', 'x-mock-status' => 429);
    is($st, 429, 'status: another status passes');
    ok(!$h->{'x-averdict'}, 'status: not checked');

    ($st, $h, $b) = chat('/v1', 'hi', 'x-mock-status' => 200,
                         'x-mock-content-type' => 'text/plain',
                         'x-mock-body' => 'DEMO-UNSAFE plain');
    is($st, 200, 'type: a text/plain answer passes');
    is($b, 'DEMO-UNSAFE plain', 'type: untouched');
    ok(!$h->{'x-averdict'}, 'type: not checked');

    # the type's parameters do not matter, another type with the same start
    # is not JSON
    my $answer = '{"choices":[{"message":{"content":"DEMO-UNSAFE"}}]}';
    ($st, $h, $b) = chat('/v1', 'hi', 'x-mock-status' => 200,
                         'x-mock-content-type' => 'Application/JSON; charset=utf-8',
                         'x-mock-body' => $answer);
    is($st, 400, 'type: application/json with parameters held and checked');
    ($st, $h, $b) = chat('/v1', 'hi', 'x-mock-status' => 200,
                         'x-mock-content-type' => 'application/json-seq',
                         'x-mock-body' => $answer);
    is($st, 200, 'type: application/json-seq passes');
    ok(!$h->{'x-averdict'}, 'type: json-seq not checked');

    ($st, $h, $b) = post('/v1/embeddings', { model => 'emb', input => 'x' });
    is($st, 200, 'embeddings: pass');
    ok(!$h->{'x-averdict'}, 'embeddings: not checked');

    # streams=refuse: a streamed request, whose answer would not be
    # checked, is refused before it goes upstream or to the checker
    calls();
    my $before = model_requests();
    ($st, $h, $b) = post('/nostream/chat/completions', {
        model => 'gpt-4o', stream => JSON::PP::true,
        messages => [ { role => 'user', content => 'DEMO-ANSWER:UNSAFE' } ] });
    is($st, 400, 'streams=refuse: a stream refused');
    my $e = err_of($b)->{error} // {};
    is($e->{code}, 'StreamNotAllowed', 'streams=refuse: its code');
    like($e->{message} // '', qr/without "stream": true/,
         'streams=refuse: its message says what to do');
    is($h->{'x-verdict'}, 'stream_refused', 'streams=refuse: the verdict');
    is(model_requests(), $before, 'streams=refuse: nothing upstream');
    is(scalar @{ calls() }, 0, 'streams=refuse: no checker call');
    ($st, $h, $b) = post('/nostream/chat/completions', {
        model => 'gpt-4o', stream => JSON::PP::false,
        messages => [ { role => 'user', content => 'DEMO-ANSWER:UNSAFE' } ] });
    is($st, 400, 'streams=refuse: not streamed, the answer checked');
    is($h->{'x-averdict'}, 'flagged', 'streams=refuse: and flagged');
    ($st, $h) = chat('/nostream', 'hi');
    is($st, 200, 'streams=refuse: a request without stream passes');
    is($h->{'x-averdict'}, 'allowed', 'streams=refuse: its answer allowed');

    calls();
    ($st, $h) = chat('/off', 'DEMO-ANSWER:UNSAFE');
    is($st, 200, 'answers=off: the answer passes');
    is(scalar @{ calls() }, 1, 'answers=off: the prompt only');
    ($st, $h) = chat('/plain', 'DEMO-ANSWER:UNSAFE');
    is($st, 200, 'no check: passes');
    is(scalar @{ calls() }, 0, 'no check: no call');
}


# 6. answer_max and max_text

{
    my ($st, $h, $b) = chat('/small', 'DEMO-ANSWER-PAD:2000');
    is($st, 503, 'answer_max: closed, a larger answer is dropped');
    is(err_of($b)->{error}{code}, 'ContentCheckUnavailable',
       'answer_max: ContentCheckUnavailable');
    like(err_of($b)->{error}{message}, qr/answer_max=1024 bytes/,
         'answer_max: the bound named');
    is($h->{'x-averdict'}, 'too_large', 'answer_max: verdict too_large');

    ($st, $h, $b) = chat('/small', 'DEMO-ANSWER-PAD:2000',
                         'x-mock-json-chunks' => 1, 'x-mock-chunks' => 8);
    is($st, 503, 'answer_max: closed, found while reading');

    ($st, $h, $b) = chat('/small-open', 'DEMO-ANSWER-PAD:2000 DEMO-ANSWER:UNSAFE');
    is($st, 200, 'answer_max: open passes it unchecked');
    like($b, qr/x{2000}"/, 'answer_max: open, the whole answer');
    is($h->{'x-averdict'}, 'too_large', 'answer_max: open, too_large');

    ($st, $h, $b) = chat('/small-open', 'DEMO-ANSWER-PAD:2000',
                         'x-mock-json-chunks' => 1, 'x-mock-chunks' => 8);
    is($st, 200, 'answer_max: open, found while reading, passed on');
    my $ok = eval { JSON::PP::decode_json($b) };
    ok($ok && $ok->{choices}[0]{message}{content} =~ /x{2000}\z/,
       'answer_max: open, held part flushed then the rest');

    ($st, $h, $b) = chat('/small', 'short');
    is($st, 200, 'answer_max: a short answer is checked');

    ($st, $h, $b) = chat('/maxtext', 'DEMO-ANSWER-PAD:300');
    is($st, 503, 'max_text: a longer answer text is dropped');
    like(err_of($b)->{error}{message}, qr/max_text=200 characters/,
         'max_text: the bound named');
}


# 7. the checker failing, both fail modes: a prompt without text (an image
# only) asks nothing of the checker, the answer is the first thing asked

sub image_only {
    my ($prefix, $marker, @h) = @_;
    return post("$prefix/chat/completions", {
        model => 'gpt-4o',
        messages => [ { role => 'user', content => [
            { type => 'image_url',
              image_url => { url => "http://i/$marker.png" } } ] } ] }, @h);
}

{
    for my $mode (['down', mode => 'down'],
                  ['garbage', mode => 'garbage'],
                  ['slow', mode => 'slow', delay_ms => 1500])
    {
        my ($name, @set) = @$mode;

        content_mode(@set);
        my ($st, $h, $b) = image_only('/closed', "DEMO-ANSWER:$Secret");
        is($st, 503, "checker $name: closed drops the answer");
        is(err_of($b)->{error}{message}, "the gateway's content check is "
           . "unavailable, the model's answer was not sent",
           "checker $name: closed, the error");
        is($h->{'x-averdict'}, 'refused', "checker $name: closed, refused");
        ($st, $h, $b) = image_only('/open', "DEMO-ANSWER:UNSAFE");
        is($st, 200, "checker $name: open passes the answer unchecked");
        like($b, qr/DEMO-UNSAFE/, "checker $name: open, the answer itself");
        is($h->{'x-averdict'}, 'unchecked', "checker $name: unchecked");
    }
    content_mode(mode => 'ok');

    my ($st, $h, $b) = image_only('/gone-closed', 'x');
    is($st, 503, 'gone: closed');
    ($st, $h, $b) = image_only('/gone-open', 'x');
    is($st, 200, 'gone: open');
    is($h->{'x-averdict'}, 'unchecked', 'gone: open, unchecked');

    # the upstream's connection ends before the answer does: a 502, never
    # the part held
    ($st, $h, $b) = chat('/v1', 'hi', 'x-mock-reset-after' => 200);
    is($st, 502, 'cut: an answer cut short is a 502');
    unlike($b, qr/Hello|choices/, 'cut: nothing of the answer');

    # the model's answer not JSON
    ($st, $h, $b) = chat('/closed', 'hi', 'x-mock-garbage' => 1);
    is($st, 503, 'not JSON: closed refuses');
    ($st, $h, $b) = chat('/open', 'hi', 'x-mock-garbage' => 1);
    is($b, 'this is not json', 'not JSON: open passes it');

    # the client gone while the answer is held: nothing left behind
    content_mode(mode => 'slow', delay_ms => 1500);
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ngx->{port}")
        or die "connect: $!";
    my $body = '{"model":"gpt-4o","messages":[{"role":"user","content":'
             . '[{"type":"image_url","image_url":{"url":"http://i/x.png"}}]}]}';
    print $s "POST /closed/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
           . "Content-Type: application/json\r\nContent-Length: "
           . length($body) . "\r\n\r\n$body";
    sleep 0.2;
    close $s;
    sleep 0.6;
    content_mode(mode => 'ok');
    ($st) = chat('/closed', 'hi');
    is($st, 200, 'client gone: the next request is fine');

    my $log = $ngx->error_log;
    like($log, qr/content checker "\/_cs\/" answered 500 on the model's answer, the answer goes to the client unchecked \(fail=open\)/,
         'logs: a failure names the checker and the answer');
    like($log, qr/timed out \(timeout=\) on the model's answer, the answer is dropped \(fail=closed\)/,
         'logs: a timeout');
    like($log, qr/the model's answer is larger than answer_max=1024 bytes/,
         'logs: answer_max');
}


# 8. the cache: answers' verdicts kept, apart from prompts'

{
    calls();
    my $text = 'Hello from the mock upstream.';
    my ($st, $h) = chat('/cached', $text);
    is($st, 200, 'cache: allowed');
    is(scalar @{ calls() }, 2,
       'cache: a prompt and an answer of the same text are two keys');
    ($st, $h) = chat('/cached', $text);
    is($h->{'x-cache'}, 'hit', 'cache: the prompt from the cache');
    is(scalar @{ calls() }, 0, 'cache: the answer from the cache too');

    ($st) = chat('/cached', 'DEMO-ANSWER:UNSAFE');
    is($st, 400, 'cache: flagged');
    ($st, $h) = chat('/cached', 'DEMO-ANSWER:UNSAFE again');
    is($st, 400, 'cache: the same answer flagged');
    is(scalar @{ calls() }, 3, 'cache: the second answer from the cache');
}


# 9. usage, metrics, logs

{
    my ($st) = chat('/v1', 'DEMO-ANSWER:UNSAFE', 'x-mock-usage' => '11,23');
    is($st, 400, 'usage: flagged');

    # the access log's line is written after the answer went: wait for it
    my $acc;
    for (1 .. 50) {
        $acc = $ngx->file('logs/answers.log');
        last if $acc =~ m{POST /v1/chat/completions HTTP/1.1 400 flagged "Violence:6" c=\S+\n\z};
        sleep 0.1;
    }
    like($acc, qr{POST /v1/chat/completions HTTP/1.1 400 flagged "Violence:6" c=23\n\z},
         'usage: the tokens of the dropped answer counted');

    my ($s, $hh, $b) = $ngx->request('GET', '/metrics');
    like($b, qr/# TYPE foundry_content_answer_checks_total counter/,
         'metrics: TYPE');
    like($b, qr/# HELP foundry_content_answer_checks_total /, 'metrics: HELP');
    like($b, qr/foundry_content_answer_checks_total\{checker="\/_cs\/",outcome="flagged"\} \d+/,
         'metrics: flagged');
    like($b, qr/foundry_content_answer_checks_total\{checker="\/_cs\/",outcome="allowed_cached"\} \d+/,
         'metrics: cache hits');
    like($b, qr/foundry_content_answer_checks_total\{checker="\/_cs\/",outcome="too_large"\} \d+/,
         'metrics: too_large');
    like($b, qr/foundry_content_answer_checks_total\{checker="\/_cs\/",outcome="unchecked"\} \d+/,
         'metrics: unchecked');
    like($b, qr/foundry_content_checks_total\{checker="\/_cs\/",outcome="stream_refused"\} 1\b/,
         'metrics: a stream refused');

    my $err = $ngx->error_log;
    unlike($err, qr/$Secret|DEMO-|Hello from/, 'logs: no answer text in the error log');
    unlike($acc, qr/$Secret|DEMO-|Hello from/, 'logs: none in the access log');
    like($err, qr/content check "\/_cs\/" refused the model's answer: Violence:6/,
         'logs: the refusal at info, with its reason');
    unlike($err, qr/\[(?:alert|crit|emerg)\]/, 'logs: no alert');
    like($acc, qr{POST /closed/chat/completions HTTP/1.1 499 },
         'logs: the client that left while its answer was held');
}


# 10. one keepalive connection: a flagged answer, then an allowed one, then
#     a chunked one; each answer whole and alone

{
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ngx->{port}",
                                  Timeout => 5) or die "connect: $!";
    my @got;
    for my $case (['DEMO-ANSWER:UNSAFE', ''], ['hello', ''],
                  ['hello again', "x-mock-json-chunks: 1\r\n"])
    {
        my ($text, $extra) = @$case;
        my $body = JSON::PP::encode_json({ model => 'gpt-4o', messages => [
            { role => 'user', content => $text } ] });
        print $s "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
               . "Content-Type: application/json\r\n$extra"
               . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
        my $head = '';
        while ($head !~ /\r\n\r\n\z/) {
            my $n = sysread($s, my $c, 1) or last;
            $head .= $c;
        }
        my ($st) = $head =~ m{^HTTP/1\.1 (\d+)};
        my ($len) = $head =~ /^Content-Length: (\d+)/mi;
        my $b = '';
        while (defined $len && length $b < $len) {
            my $n = sysread($s, my $c, $len - length $b) or last;
            $b .= $c;
        }
        push @got, [$st // 0, $b];
    }
    close $s;

    is($got[0][0], 400, 'keepalive: the flagged answer refused');
    is(err_of($got[0][1])->{error}{code}, 'content_filter',
       'keepalive: its error whole');
    is($got[1][0], 200, 'keepalive: then an allowed one on the same connection');
    like($got[1][1], qr/\A\{.*"Hello from the mock upstream\."/s,
         'keepalive: its answer whole');
    is($got[2][0], 200, 'keepalive: then a chunked one, with its length');
    ok(eval { JSON::PP::decode_json($got[2][1]) }, 'keepalive: whole JSON');
}


# 11. no answer text in the debug log either

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

${\ loc('v1', 'foundry_content_check /_cs/ answers=on;')}
    }
CONF

    my ($st) = $dbg->request('POST', '/v1/chat/completions',
                             ['Content-Type' => 'application/json'],
                             '{"model":"gpt-4o","messages":[{"role":"user",'
                             . '"content":[{"type":"image_url","image_url":'
                             . '{"url":"http://i/DEMO-ANSWER:UNSAFE'
                             . ' DEMO-ANSWER:SECRETWORDS.png"}}]}]}');
    is($st, 400, 'debug: the answer flagged');
    ($st) = $dbg->request('POST', '/v1/chat/completions',
                          ['Content-Type' => 'application/json'],
                          '{"model":"gpt-4o","messages":[{"role":"user",'
                          . '"content":[{"type":"image_url","image_url":'
                          . '{"url":"http://i/DEMO-ANSWER:SECRETWORDS.png"}}]}]}');
    is($st, 200, 'debug: the answer allowed');
    my $log = $dbg->error_log;
    like($log, qr/the model's answer held for the content check/,
         'debug: the hold said');
    unlike($log, qr/DEMO-SECRETWORDS|DEMO-UNSAFE|Hello from/,
           'debug: no answer text at debug');
    $dbg->stop;
}


# 12. configuration errors

sub conf_error {
    my ($directive) = @_;
    my $dir = tempdir('foundry-answers-conf-XXXXXX', TMPDIR => 1,
                      CLEANUP => 1);
    my $load = join '', map { "load_module $_;\n" }
                        split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
    open my $fh, '>', "$dir/nginx.conf" or die;
    print $fh "${load}error_log stderr;\nevents {}\nhttp {\n" . <<"CONF" . "}\n";
    foundry_upstream u kind=openai url=http://127.0.0.1:1;
    server {
        listen 127.0.0.1:1;
        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            $directive
            proxy_pass \$foundry_upstream_url;
        }
    }
CONF
    close $fh;
    my $bin = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
    my $out = `$bin -t -p $dir -c $dir/nginx.conf 2>&1`;
    return $out =~ /test is successful/ ? '' : $out;
}

like(conf_error('foundry_content_check /_cs answers=maybe;'),
     qr/invalid parameter "answers=maybe" of "foundry_content_check" in \S+nginx\.conf:\d+/,
     'conf: answers=');
like(conf_error('foundry_content_check /_cs answers=on answer_max=17m;'),
     qr/answer_max is a size from 1k to 16m in \S+:\d+/, 'conf: answer_max too large');
like(conf_error('foundry_content_check /_cs answer_max=512;'),
     qr/answer_max is a size from 1k to 16m/, 'conf: answer_max too small');
like(conf_error('foundry_content_check /_cs answer_max=lots;'),
     qr/answer_max is a size from 1k to 16m/, 'conf: answer_max not a size');
like(conf_error('foundry_content_check /_cs streams=refuse;'),
     qr/"streams=refuse" is for the answers checked \("answers=on"\).* in \S+nginx\.conf:\d+/,
     'conf: streams=refuse without answers=on');
like(conf_error('foundry_content_check /_cs answers=on streams=maybe;'),
     qr/invalid parameter "streams=maybe" of "foundry_content_check"/,
     'conf: streams=');
is(conf_error('foundry_content_check /_cs answers=on answer_max=16m;'), '',
   'conf: answers=on answer_max=16m');
