# The examples of conf.d/, each loaded as it is and sent real requests.
#
# How an example is loaded (main::example): the file is read from
# conf.d/ and becomes the block's whole --- http_config, with only these
# changes:
#
#   * "127.0.0.1:8080" (the example's own listen) becomes
#     "127.0.0.1:$TEST_NGINX_SERVER_PORT".  Test::Nginx adds its own
#     server{} with "listen $TEST_NGINX_SERVER_PORT" (no address, so
#     *:port) and server_name localhost; nginx then binds *:port once and
#     chooses the server by the address a connection came to: every
#     request of the tests goes to 127.0.0.1, so the example's server
#     answers them all, and the --- config of the blocks (in Test::Nginx's
#     server) stays empty.  This works the same under the real
#     Test::Nginx and under t/runner/.
#   * "127.0.0.1:8081" (the model upstream) becomes the bundled mock's
#     port, "127.0.0.1:8082" (the second one of ptu-payg-spillover.conf)
#     a second mock's;
#   * an http:// address of the link-local range (Azure's instance metadata
#     endpoint) becomes the mock's;
#   * the files the example names relatively (foundry_proxy_params, its
#     keys, models and secrets files) become absolute paths into conf.d/;
#   * for the examples that fetch a JWKS from an identity provider, the
#     "location = /_jwks/..." block is swapped for one serving the JWKS of
#     a key pair made here (the tokens are signed with it, by Crypt::JWT);
#   * "/var/log/nginx/" (Debian's log directory) becomes "logs/";
#   * a block may change the access log's path to Test::Nginx's
#     logs/access.log, for --- access_log.
#
# Part 1 (plain Perl, before run_tests): ptu-payg-spillover.conf in an
# nginx of our own (t/lib/FoundryNginx.pm), for what a block cannot show:
# one call after another on the same nginx, and the spill log read
# between them.

use Cwd qw(cwd);
use File::Temp qw(tempdir);
use Time::HiRes ();
use JSON::PP ();
use Crypt::JWT qw(encode_jwt);
use Crypt::PK::RSA;
use Digest::SHA ();
use MIME::Base64 ();
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use FoundryIdentity ();
use Test::Nginx::Socket;

our $ConfD = cwd() . '/conf.d';

# the PTU (and every other) upstream, and the PAYG one of the spillover
# example: the PAYG mock names its model differently, so an answer says
# which of the two gave it

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_PAYG_PORT} = FoundryMock::start(deployments => [
    { name => 'gpt-4o', model => 'gpt-4o-payg', version => '2024-11-20' },
]);

# the identity provider's key pair: the JWKS file is what the examples'
# /_jwks/ locations serve in the tests

our $JwtDir = tempdir('foundry-examples-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $JwtDir;

our $Signer = Crypt::PK::RSA->new;
$Signer->generate_key(256, 65537);

{
    my $jwk = $Signer->export_key_jwk('public', 1);
    $jwk->{kid} = 'examples-1';
    $jwk->{use} = 'sig';
    $jwk->{alg} = 'RS256';

    open my $fh, '>', "$JwtDir/jwks.json" or die "$JwtDir/jwks.json: $!";
    print $fh JSON::PP->new->canonical->encode({ keys => [$jwk] });
    close $fh;
    chmod 0644, "$JwtDir/jwks.json";
}

# a signed token: iat, nbf and exp around now unless given

sub main::token {
    my (%claims) = @_;
    my $now = time;

    return encode_jwt(
        payload => { iat => $now, nbf => $now - 60, exp => $now + 3600,
                     %claims },
        alg => 'RS256',
        key => $Signer,
        extra_headers => { kid => 'examples-1', typ => 'JWT' },
    );
}

# the issuers and claims of the examples

our $Tenant = '11111111-2222-3333-4444-555555555555';
our $Project = '/subscriptions/00000000-0000-0000-0000-000000000000/'
    . 'resourceGroups/rg-agents/providers/Microsoft.CognitiveServices/'
    . 'accounts/contoso-foundry/projects/agents';

sub main::idp_token {
    return main::token(iss => 'https://idp.contoso.com/oauth2/default',
                       aud => 'api://foundry-gateway',
                       sub => 'foundry-agent-service',
                       client_id => 'foundry-agent-service',
                       roles => ['models.invoke'], @_);
}

sub main::entra_token {
    return main::token(iss => "https://sts.windows.net/$Tenant/",
                       aud => 'https://cognitiveservices.azure.com',
                       tid => $Tenant, oid => 'mi-object-id',
                       appid => 'mi-app-id', sub => 'mi-object-id',
                       idtyp => 'app', @_);
}

# an example as a block's http_config (see the top of this file);
# options: jwks => the location to serve the test JWKS at,
# log => an access log path to write to Test::Nginx's logs/access.log,
# listen => what 127.0.0.1:8080 becomes, and any 'from' => 'to' pair
# applied last

sub main::example {
    my ($file, %o) = @_;

    open my $fh, '<', "$ConfD/$file" or die "$ConfD/$file: $!";
    my $conf = do { local $/; <$fh> };
    close $fh;

    my $listen = delete $o{listen}
                 // '127.0.0.1:$TEST_NGINX_SERVER_PORT';

    $conf =~ s/\b127\.0\.0\.1:8080\b/$listen/g;

    # the examples log where Debian's nginx does; here, in the prefix
    $conf =~ s{/var/log/nginx/}{logs/}g;
    $conf =~ s/\b127\.0\.0\.1:8081\b/127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT}/g
        unless exists $o{'127.0.0.1:8081'};
    $conf =~ s/\b127\.0\.0\.1:8082\b/127.0.0.1:$ENV{TEST_NGINX_PAYG_PORT}/g
        unless exists $o{'127.0.0.1:8082'};

    # a link-local address (Azure's instance metadata endpoint) becomes
    # the mock's: a test reaches nothing but 127.0.0.1
    $conf =~ s{\bhttp://169\.254\.\d+\.\d+}
              {http://127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT}}g;

    # conf.d's other files, by absolute path

    opendir my $dh, $ConfD or die "$ConfD: $!";
    for my $f (grep { !/\.conf$/ && -f "$ConfD/$_" } readdir $dh) {
        $conf =~ s{(?<![\w./-])\Q$f\E(?![\w.-])}{$ConfD/$f}g;
    }
    closedir $dh;

    if (my $loc = delete $o{jwks}) {
        $conf =~ s{location = \Q$loc\E \{.*?\n    \}}
                  {location = $loc {
        internal;
        default_type application/json;
        alias $JwtDir/jwks.json;
    }}s
            or die "$file: no \"location = $loc\" block";
    }

    if (my $log = delete $o{log}) {
        $conf =~ s{access_log \Q$log\E }{access_log logs/access.log }
            or die "$file: no access log \"$log\"";
    }

    my $extra = delete $o{extra} // '';

    for my $from (sort keys %o) {
        my $n = $conf =~ s/\Q$from\E/$o{$from}/g;
        die "$file: no \"$from\"" unless $n;
    }

    return $conf . $extra;
}


#--------------------------------------------------------------------------
# 1. ptu-payg-spillover.conf in an nginx of our own
#--------------------------------------------------------------------------

our $OwnTests = 6;

sub own_tests {

    # the PTU deployment at capacity: a server of the same nginx that
    # answers every call with a 429, and counts them in its own log

    my $ptu = FoundryNginx::free_port();

    my $conf = main::example('ptu-payg-spillover.conf',
        listen => '127.0.0.1:$PORT',
        '127.0.0.1:8081' => "127.0.0.1:$ptu",
        extra => <<"_EOC_");

    # the PTU deployment at capacity (t/050)
    server {
        listen 127.0.0.1:$ptu;
        access_log logs/ptu.log;

        location / {
            default_type application/json;
            add_header Retry-After 20 always;
            return 429 '{"error":{"code":"429","message":"PTU capacity"}}';
        }
    }
_EOC_

    my $ngx = FoundryNginx->new(http => $conf);

    # a log line is written when nginx frees the request, which may be
    # after the client has read the whole answer (lingering close)
    my $lines = sub {
        my ($file, $n) = @_;
        my @got;
        for (1 .. 100) {
            push @got, $ngx->new_lines($file);
            last if @got >= $n;
            Time::HiRes::sleep(0.02);
        }
        return @got;
    };
    my $payg = $ENV{TEST_NGINX_PAYG_PORT};
    my $body = '{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}';
    my @h = ('api-key' => 'example-spillover-key',
             'Content-Type' => 'application/json');

    # the first call gets the 429, and goes on to PAYG

    my ($status, $headers, $answer) =
        $ngx->request('POST', '/v1/chat/completions', \@h, $body);

    Test::More::is("$status " . ($answer =~ /"model":"([^"]+)"/)[0],
                   '200 gpt-4o-payg',
                   'own: spillover: the 429 of PTU is answered by PAYG');

    my @log = $lines->('logs/ptu-payg-spillover.log', 1);

    Test::More::like($log[0] // '',
        qr/ 200 deployment=gpt-4o upstream_addr="127\.0\.0\.1:$ptu, 127\.0\.0\.1:$payg" upstream_status="429, 200" total_tokens=17$/,
        'own: spillover: the log says "429, 200"');

    # the next one goes straight to PAYG: the 429 took PTU out for
    # fail_timeout (10 s)

    ($status, $headers, $answer) =
        $ngx->request('POST', '/v1/chat/completions', \@h, $body);

    Test::More::is("$status " . ($answer =~ /"model":"([^"]+)"/)[0],
                   '200 gpt-4o-payg', 'own: spillover: the next call too');

    @log = $lines->('logs/ptu-payg-spillover.log', 1);

    Test::More::like($log[0] // '',
        qr/ 200 deployment=gpt-4o upstream_addr="127\.0\.0\.1:$payg" upstream_status="200" total_tokens=17$/,
        'own: spillover: without asking PTU');

    my @ptu = $lines->('logs/ptu.log', 2);

    Test::More::is(scalar @ptu, 1, 'own: spillover: PTU got one call');

    # no client key reached either

    Test::More::unlike($ngx->file('logs/ptu.log') . $ngx->error_log,
                       qr/example-spillover-key/,
                       'own: spillover: the key is in no log');

    $ngx->stop;
}


#--------------------------------------------------------------------------
# 2. the upstream credential examples of an app registration or workload
#    identity, each in an nginx of our own against a mock of its own that
#    plays Entra ID's token endpoint (the location's proxy_pass to
#    login.microsoftonline.com becomes the mock's) and the resource, which
#    refuses a bearer it did not issue
#--------------------------------------------------------------------------

our $IdentityTests = 3 * 9;

our %IdentityExamples = (
    'upstream-client-secret.conf' => sub {
        return (secret => 'EXAMPLE-CLIENT-SECRET-PLACEHOLDER');
    },
    'upstream-certificate.conf' => sub {
        my ($crt) = "$ConfD/upstream-certificate.crt";
        my $der = `openssl x509 -in $crt -outform DER`;
        open my $fh, '<', $crt or die "$crt: $!";
        my $pem = do { local $/; <$fh> };
        return (certificate => $pem,
                x5t => MIME::Base64::encode_base64url(
                           Digest::SHA::sha256($der)),
                audience => 'https://login.microsoftonline.com/'
                            . "$Tenant/oauth2/v2.0/token");
    },
    'upstream-workload-identity.conf' => sub {
        my $f = "$ConfD/upstream-workload-identity-token";
        open my $fh, '<', $f or die "$f: $!";
        my $jwt = do { local $/; <$fh> };
        $jwt =~ s/\s+\z//;
        return (federated => $jwt);
    },
);

sub identity_tests {
    for my $file (sort keys %IdentityExamples) {
        my $mock = FoundryMock::start();
        FoundryIdentity::token_set($mock, check => 1,
                                   $IdentityExamples{$file}->());

        my $conf = main::example($file,
            listen => '127.0.0.1:$PORT',
            '127.0.0.1:8081' => "127.0.0.1:$mock",
            'https://$entra_login/' => "http://127.0.0.1:$mock/");

        my $t = $conf;
        my $free = FoundryNginx::free_port();
        $t =~ s/\$PORT\b/$free/g;
        Test::More::like(FoundryIdentity::conf_error($t),
                         qr/test is successful/, "own: $file: nginx -t");

        my $ngx = FoundryNginx->new(workers => 2, http => $conf);
        my @h = ('api-key' => 'example-identity-key',
                 'Content-Type' => 'application/json',
                 'Authorization' => 'Bearer client-credential',
                 'x-mock-echo' => '1');
        my $path = '/openai/deployments/gpt-4o/chat/completions'
                   . '?api-version=2024-10-21';
        my $body = '{"messages":[{"role":"user","content":"Hello"}]}';

        my ($status, undef, $answer) = $ngx->request('POST', $path, \@h,
                                                     $body);
        Test::More::is($status, 200, "own: $file: the call passes");
        Test::More::like($answer,
                         qr/"authorization":"Bearer mock-token-1"/,
                         "own: $file: with the fetched token");

        ($status) = $ngx->request('POST', $path, \@h, $body) for 1 .. 3;
        Test::More::is($status, 200, "own: $file: more calls");

        my $state = FoundryIdentity::token_state($mock);
        Test::More::is($state->{issued}, 1, "own: $file: one fetch");

        my $form = $state->{form} // {};
        Test::More::is($form->{grant_type}, 'client_credentials',
                       "own: $file: client credentials");
        Test::More::like($form->{client_id} // '',
                         qr/\A00000000-0000-0000-0000-00000000000[123]\z/,
                         "own: $file: the example's client id");
        Test::More::is($form->{scope},
                       'https://cognitiveservices.azure.com/.default',
                       "own: $file: the default scope");

        Test::More::unlike($ngx->error_log,
                           qr/mock-token|EXAMPLE-CLIENT-SECRET|\[(?:alert|crit|emerg)\]/,
                           "own: $file: no token or secret in the log");
        $ngx->stop;
    }
}


Test::Nginx::Socket::plan(tests => $OwnTests + $IdentityTests + 153);

own_tests();

identity_tests();

no_shuffle();

run_tests();

__DATA__

=== TEST 1: model-gateway-static: the model list, OpenAI's format, key as a bearer
--- http_config eval: main::example('model-gateway-static.conf')
--- config
--- request
GET /v1/models
--- more_headers
Authorization: Bearer example-static-key
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"object":"list","data":\[\{"id":"gpt-4o","object":"model","created":\d+,"owned_by":"system"\},\{"id":"gpt-4o-mini","object":"model","created":\d+,"owned_by":"system"\},\{"id":"embeddings","object":"model","created":\d+,"owned_by":"system"\}\]\}$



=== TEST 2: model-gateway-static: gpt-4o goes to Azure OpenAI (classic)
--- http_config eval: main::example('model-gateway-static.conf')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}
--- more_headers
Authorization: Bearer example-static-key
Content-Type: application/json
--- response_headers
x-mock-route: classic
--- response_body_like: ^\{"choices":\[\{"finish_reason":"stop","index":0,"message":\{"content":"Hello from the mock upstream\.","role":"assistant"\}\}\],"created":1700000000,"id":"chatcmpl-mock-\d+","model":"gpt-4o","object":"chat\.completion","usage":\{.*"total_tokens":17\}\}$



=== TEST 3: model-gateway-static: a models file entry with an alias, on OpenAI
--- http_config eval: main::example('model-gateway-static.conf')
--- config
--- request
POST /v1/embeddings
{"model":"embeddings","input":"Hello"}
--- more_headers
Authorization: Bearer example-static-key
Content-Type: application/json
--- response_headers
x-mock-route: openai
--- response_body_like: "model":"text-embedding-3-small","object":"list"



=== TEST 4: model-gateway-static: what OpenAI gets: its own credential, never the client's key
--- http_config eval: main::example('model-gateway-static.conf')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini","messages":[]}
--- more_headers
Authorization: Bearer example-static-key
x-mock-echo: 1
--- response_body_like: "authorization":"Bearer OPENAI-KEY-PLACEHOLDER",.*"host":"api\.openai\.com",.*"path":"/v1/chat/completions"
--- response_body_unlike: example-static-key



=== TEST 5: model-gateway-static: a key limited to gpt-4o-mini
--- http_config eval: main::example('model-gateway-static.conf')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
Authorization: Bearer example-static-mini-key
--- error_code: 403
--- response_body chomp
{"error":{"code":"Forbidden","message":"the key may not use the deployment \"gpt-4o\"","type":"permission_error"}}



=== TEST 6: model-gateway-static: the key in api-key is not where the connection says
--- http_config eval: main::example('model-gateway-static.conf')
--- config
--- request
GET /v1/models
--- more_headers
api-key: example-static-key
--- error_code: 401
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: no key was sent","type":"authentication_error"}}



=== TEST 7: model-gateway-discovery: the first call is a POST, and fetches the list
--- http_config eval: main::example('model-gateway-discovery.conf')
--- config
--- request
POST /contoso/gateway/deployments/gpt-4o-mini/chat/completions
{"messages":[{"role":"user","content":"Hello"}]}
--- more_headers
api-key: example-discovery-key
Content-Type: application/json
--- response_headers
x-mock-route: classic
--- response_body_like: "model":"gpt-4o-mini","object":"chat\.completion"
--- timeout: 5



=== TEST 8: model-gateway-discovery: the list, filtered (no embeddings)
--- http_config eval: main::example('model-gateway-discovery.conf')
--- config
--- request
GET /contoso/gateway/deployments
--- more_headers
api-key: example-discovery-key
--- response_body chomp
{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":""}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":""}}}]}



=== TEST 9: model-gateway-discovery: a filtered deployment does not exist
--- http_config eval: main::example('model-gateway-discovery.conf')
--- config
--- request
GET /contoso/gateway/deployments/text-embedding-3-small
--- more_headers
api-key: example-discovery-key
--- error_code: 404
--- response_body_like: ^\{"error":\{"code":"DeploymentNotFound",



=== TEST 10: model-gateway-discovery: no key
--- http_config eval: main::example('model-gateway-discovery.conf')
--- config
--- request
GET /contoso/gateway/deployments
--- error_code: 401
--- response_body_like: "code":"Unauthorized"



=== TEST 11: apim-style: Ocp-Apim-Subscription-Key
--- http_config eval: main::example('apim-style.conf')
--- config
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21
{"messages":[{"role":"user","content":"Hello"}]}
--- more_headers
Ocp-Apim-Subscription-Key: example-apim-key
Content-Type: application/json
--- response_headers
x-mock-route: classic
--- response_body_like: "model":"gpt-4o","object":"chat\.completion"



=== TEST 12: apim-style: ?subscription-key=, the second api-version
--- http_config eval: main::example('apim-style.conf')
--- config
--- request
POST /openai/deployments/gpt-4o-mini/chat/completions?api-version=2025-01-01-preview&subscription-key=example-apim-key
{"messages":[]}
--- response_headers
x-mock-route: classic
--- response_body_like: "model":"gpt-4o-mini","object":"chat\.completion"



=== TEST 13: apim-style: the upstream gets its own api-version and key, not the subscription key
--- http_config eval: main::example('apim-style.conf')
--- config
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview&subscription-key=example-apim-key
{"messages":[]}
--- more_headers
x-mock-echo: 1
--- response_body_like: "api-key":"AZURE-OPENAI-KEY-PLACEHOLDER",.*"host":"myresource\.openai\.azure\.com",.*"path":"/openai/deployments/gpt-4o/chat/completions","query":"api-version=2024-10-21"\}$
--- response_body_unlike: example-apim-key



=== TEST 14: apim-style: an api-version the connection does not have
--- http_config eval: main::example('apim-style.conf')
--- config
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-02-01
{"messages":[]}
--- more_headers
api-key: example-apim-key
--- error_code: 400
--- response_body chomp
{"error":{"code":"UnsupportedApiVersion","message":"api-version \"2024-02-01\" is not supported, supported versions: 2024-10-21, 2025-01-01-preview","type":"invalid_request_error"}}



=== TEST 15: apim-style: discovery at /deployments with the deployment api-version
--- http_config eval: main::example('apim-style.conf')
--- config
--- request
GET /openai/deployments?api-version=2024-10-01
--- more_headers
api-key: example-apim-key
--- response_body chomp
{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}]}



=== TEST 16: apim-style: discovery without an api-version
--- http_config eval: main::example('apim-style.conf')
--- config
--- request
GET /openai/deployments/gpt-4o
--- more_headers
Ocp-Apim-Subscription-Key: example-apim-key
--- error_code: 400
--- response_body chomp
{"error":{"code":"MissingApiVersion","message":"the api-version query parameter is required, supported versions: 2024-10-01","type":"invalid_request_error"}}



=== TEST 17: oauth2-client-credentials: a token of the provider, for the client
--- http_config eval: main::example('oauth2-client-credentials.conf', jwks => '/_jwks/idp')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}
--- more_headers eval
"Authorization: Bearer " . main::idp_token() . "\nContent-Type: application/json"
--- response_headers
x-mock-route: v1
--- response_body_like: "model":"gpt-4o","object":"chat\.completion"
--- timeout: 5



=== TEST 18: oauth2-client-credentials: the token does not reach the upstream
--- http_config eval: main::example('oauth2-client-credentials.conf', jwks => '/_jwks/idp')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini","messages":[]}
--- more_headers eval
"Authorization: Bearer " . main::idp_token() . "\nx-mock-echo: 1"
--- response_body_like: "api-key":"AZURE-OPENAI-KEY-PLACEHOLDER",.*"path":"/openai/v1/chat/completions"
--- response_body_unlike: (?i)authorization



=== TEST 19: oauth2-client-credentials: another client of the provider
--- http_config eval: main::example('oauth2-client-credentials.conf', jwks => '/_jwks/idp')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers eval
"Authorization: Bearer " . main::idp_token(client_id => 'someone-else')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="wrong claim"
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: the token is not valid","type":"authentication_error"}}



=== TEST 20: oauth2-client-credentials: without the role
--- http_config eval: main::example('oauth2-client-credentials.conf', jwks => '/_jwks/idp')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers eval
"Authorization: Bearer " . main::idp_token(roles => ['reader'])
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="wrong claim"



=== TEST 21: oauth2-client-credentials: a token for another API
--- http_config eval: main::example('oauth2-client-credentials.conf', jwks => '/_jwks/idp')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers eval
"Authorization: Bearer " . main::idp_token(aud => 'api://something-else')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="wrong audience"



=== TEST 22: oauth2-client-credentials: an expired token
--- http_config eval: main::example('oauth2-client-credentials.conf', jwks => '/_jwks/idp')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers eval
"Authorization: Bearer " . main::idp_token(iat => time - 7200, nbf => time - 7200, exp => time - 3600)
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="token expired"



=== TEST 23: oauth2-client-credentials: no token
--- http_config eval: main::example('oauth2-client-credentials.conf', jwks => '/_jwks/idp')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
api-key: example-static-key
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body_like: "code":"Unauthorized"



=== TEST 24: entra-managed-identity: the project's managed identity (v1 token, resource id in another case)
--- http_config eval: main::example('entra-managed-identity.conf', jwks => '/_jwks/entra')
--- config
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21
{"messages":[{"role":"user","content":"Hello"}]}
--- more_headers eval
"Authorization: Bearer " . main::entra_token(xms_mirid => lc $main::Project) . "\nContent-Type: application/json"
--- response_headers
x-mock-route: classic
--- response_body_like: "model":"gpt-4o","object":"chat\.completion"
--- timeout: 5



=== TEST 25: entra-managed-identity: a v2 token, and discovery
--- http_config eval: main::example('entra-managed-identity.conf', jwks => '/_jwks/entra')
--- config
--- request
GET /openai/deployments/gpt-4o-mini
--- more_headers eval
"Authorization: Bearer " . main::entra_token(xms_mirid => $main::Project, iss => "https://login.microsoftonline.com/$main::Tenant/v2.0")
--- response_body chomp
{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}



=== TEST 26: entra-managed-identity: another project of the tenant
--- http_config eval: main::example('entra-managed-identity.conf', jwks => '/_jwks/entra')
--- config
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21
{"messages":[]}
--- more_headers eval
(my $other = $main::Project) =~ s/agents$/other/;
"Authorization: Bearer " . main::entra_token(xms_mirid => $other)
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="wrong claim"



=== TEST 27: entra-managed-identity: another tenant
--- http_config eval: main::example('entra-managed-identity.conf', jwks => '/_jwks/entra')
--- config
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21
{"messages":[]}
--- more_headers eval
"Authorization: Bearer " . main::entra_token(xms_mirid => $main::Project, iss => "https://sts.windows.net/99999999-2222-3333-4444-555555555555/")
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="wrong issuer"



=== TEST 28: entra-managed-identity: a key is not enough
--- http_config eval: main::example('entra-managed-identity.conf', jwks => '/_jwks/entra')
--- config
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21
{"messages":[]}
--- more_headers
api-key: example-apim-key
--- error_code: 401
--- response_body_like: "code":"Unauthorized"



=== TEST 29: key-or-token: the connection's key in api-key
--- http_config eval: main::example('key-or-token.conf', jwks => '/_jwks/entra')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
api-key: example-key-or-token-key
--- response_headers
x-mock-route: openai
--- response_body_like: "model":"gpt-4o","object":"chat\.completion"



=== TEST 30: key-or-token: the key as a bearer, as OpenAI SDKs send it
--- http_config eval: main::example('key-or-token.conf', jwks => '/_jwks/entra')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
Authorization: Bearer example-key-or-token-key
x-mock-echo: 1
--- response_body_like: "authorization":"Bearer OPENAI-KEY-PLACEHOLDER"
--- response_body_unlike: example-key-or-token-key



=== TEST 31: key-or-token: a workload's Entra token with the role, on its deployment
--- http_config eval: main::example('key-or-token.conf', jwks => '/_jwks/entra')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini","messages":[]}
--- more_headers eval
"Authorization: Bearer " . main::entra_token(iss => "https://login.microsoftonline.com/$main::Tenant/v2.0", roles => ['Gateway.Invoke'])
--- response_body_like: "model":"gpt-4o-mini","object":"chat\.completion"
--- timeout: 5



=== TEST 32: key-or-token: the token may not use gpt-4o
--- http_config eval: main::example('key-or-token.conf', jwks => '/_jwks/entra')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers eval
"Authorization: Bearer " . main::entra_token(roles => ['Gateway.Invoke'])
--- error_code: 403
--- response_body_like: "code":"Forbidden"



=== TEST 33: key-or-token: a token without the role
--- http_config eval: main::example('key-or-token.conf', jwks => '/_jwks/entra')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini","messages":[]}
--- more_headers eval
"Authorization: Bearer " . main::entra_token(roles => ['Other.Role'])
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="wrong claim"



=== TEST 34: key-or-token: a wrong key is not taken for a token
--- http_config eval: main::example('key-or-token.conf', jwks => '/_jwks/entra')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini","messages":[]}
--- more_headers
api-key: wrong-key
--- error_code: 401
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: the key is not valid","type":"authentication_error"}}



=== TEST 35: upstreams-side-by-side: gpt-4o on Azure OpenAI classic
--- http_config eval: main::example('upstreams-side-by-side.conf')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
api-key: example-side-by-side-key
x-mock-echo: 1
--- response_body_like: ^\{"body":"\{\\"model\\":\\"gpt-4o\\",\\"messages\\":\[\]\}",.*"api-key":"AZURE-OPENAI-EASTUS-KEY-PLACEHOLDER",.*"host":"myresource-eastus\.openai\.azure\.com",.*"path":"/openai/deployments/gpt-4o/chat/completions","query":"api-version=2024-10-21"\}$
--- response_body_unlike: example-side-by-side-key



=== TEST 36: upstreams-side-by-side: gpt-4o-mini on Azure OpenAI v1
--- http_config eval: main::example('upstreams-side-by-side.conf')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini","messages":[]}
--- more_headers
api-key: example-side-by-side-key
x-mock-echo: 1
--- response_body_like: ^\{"body":"\{\\"model\\":\\"gpt-4o-mini\\",\\"messages\\":\[\]\}",.*"api-key":"AZURE-OPENAI-SWEDEN-KEY-PLACEHOLDER",.*"host":"myresource-sweden\.openai\.azure\.com",.*"path":"/openai/v1/chat/completions","query":""\}$
--- response_body_unlike: example-side-by-side-key



=== TEST 37: upstreams-side-by-side: gpt-4.1 on OpenAI
--- http_config eval: main::example('upstreams-side-by-side.conf')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4.1","messages":[]}
--- more_headers
api-key: example-side-by-side-key
x-mock-echo: 1
--- response_body_like: ^\{"body":"\{\\"model\\":\\"gpt-4\.1\\",\\"messages\\":\[\]\}",.*"authorization":"Bearer OPENAI-KEY-PLACEHOLDER",.*"host":"api\.openai\.com",.*"path":"/v1/chat/completions","query":""\}$
--- response_body_unlike: example-side-by-side-key|api-key



=== TEST 38: upstreams-side-by-side: a stream from OpenAI
--- http_config eval: main::example('upstreams-side-by-side.conf')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4.1","messages":[],"stream":true}
--- more_headers
api-key: example-side-by-side-key
--- response_headers
Content-Type: text/event-stream
x-mock-route: openai
--- response_body_like: ^data: \{.*"model":"gpt-4\.1".*\n\ndata: \[DONE\]\n\n$



=== TEST 39: ptu-payg-spillover: PTU has capacity: it answers
--- http_config eval: main::example('ptu-payg-spillover.conf', log => 'logs/ptu-payg-spillover.log')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
api-key: example-spillover-key
--- response_body_like: "model":"gpt-4o","object":"chat\.completion"
--- access_log eval
qr/ 200 deployment=gpt-4o upstream_addr="127\.0\.0\.1:$ENV{TEST_NGINX_MOCK_PORT}" upstream_status="200" total_tokens=17$/



=== TEST 40: ptu-payg-spillover: PTU and PAYG both at capacity: PAYG's 429 reaches the client
--- http_config eval: main::example('ptu-payg-spillover.conf', log => 'logs/ptu-payg-spillover.log')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
api-key: example-spillover-key
x-mock-status: 429
x-mock-retry-after: 7
--- error_code: 429
--- response_headers
Retry-After: 7
--- access_log eval
qr/ 429 deployment=gpt-4o upstream_addr="127\.0\.0\.1:$ENV{TEST_NGINX_MOCK_PORT}, 127\.0\.0\.1:$ENV{TEST_NGINX_PAYG_PORT}" upstream_status="429, 429" total_tokens=-$/



=== TEST 41: ptu-payg-spillover: PTU cannot be reached: PAYG answers
--- http_config eval: main::example('ptu-payg-spillover.conf', '127.0.0.1:8081' => '127.0.0.1:$TEST_NGINX_RAND_PORT_1')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
api-key: example-spillover-key
--- response_body_like: "model":"gpt-4o-payg","object":"chat\.completion"
--- error_log
connect() failed (111: Connection refused) while connecting to upstream



=== TEST 42: limits-and-metrics: the trial key's 2 requests a minute
--- http_config eval: main::example('limits-and-metrics.conf')
--- config
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}"]
--- more_headers
api-key: example-limits-trial-key
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["x-ratelimit-limit-requests: 2\nx-ratelimit-remaining-requests: 1\nx-ratelimit-limit-tokens: 10000",
 "x-ratelimit-limit-requests: 2\nx-ratelimit-remaining-requests: 0",
 "x-ratelimit-limit-requests: 2\nx-ratelimit-remaining-requests: 0\nRetry-After: 3[01]"]
--- response_body_like eval
['"object":"chat\.completion"', '"object":"chat\.completion"',
 '^\{"error":\{"code":"RateLimitExceeded","message":"the requests per minute limit is reached, retry after 3[01] seconds","type":"rate_limit_error"\}\}$']



=== TEST 43: limits-and-metrics: the trial key's monthly 5,000 tokens
--- http_config eval: main::example('limits-and-metrics.conf')
--- config
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}"]
--- more_headers
api-key: example-limits-trial-key
x-mock-usage: 3000,1000
--- error_code eval
[200, 403]
--- response_body_like eval
['"total_tokens":4000\}\}$',
 '^\{"error":\{"code":"QuotaExceeded","message":"the tokens_per_month quota is spent, it resets in [1-9][0-9]* seconds","type":"permission_error"\}\}$']



=== TEST 44: limits-and-metrics: a team's key has room
--- http_config eval: main::example('limits-and-metrics.conf')
--- config
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}"]
--- more_headers
api-key: example-limits-key
--- error_code eval
[200, 200, 200]
--- response_headers_like eval
["x-ratelimit-limit-requests: 600\nx-ratelimit-remaining-requests: 599\nx-ratelimit-limit-tokens: 100000",
 "x-ratelimit-limit-requests: 600\nx-ratelimit-remaining-requests: 59[89]\nx-ratelimit-limit-tokens: 100000",
 "x-ratelimit-limit-requests: 600\nx-ratelimit-remaining-requests: 59[789]\nx-ratelimit-limit-tokens: 100000"]



=== TEST 45: limits-and-metrics: /metrics after a call and a refusal
--- http_config eval: main::example('limits-and-metrics.conf')
--- config
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-5\",\"messages\":[]}",
 "GET /metrics"]
--- more_headers
api-key: example-limits-key
x-mock-usage: 12,5
--- error_code eval
[200, 404, 200]
--- response_body_like eval
['"total_tokens":17\}\}$', '"code":"DeploymentNotFound"',
 '(?s)foundry_requests_total\{target="/v1",deployment="gpt-4o",status="200"\} 1\n.*foundry_tokens_total\{target="/v1",deployment="gpt-4o",key="lm-team-a",kind="prompt"\} 12\nfoundry_tokens_total\{target="/v1",deployment="gpt-4o",key="lm-team-a",kind="completion"\} 5\n.*foundry_zone_size_bytes\{zone="limits_per_key"\} 1048576\n']



=== TEST 46: limits-and-metrics: refusals are counted
--- http_config eval: main::example('limits-and-metrics.conf')
--- config
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[]}",
 "GET /metrics"]
--- more_headers
api-key: example-limits-trial-key
--- error_code eval
[200, 200, 429, 200]
--- response_body_like eval
['chat\.completion', 'chat\.completion', 'RateLimitExceeded',
 'foundry_limit_rejections_total\{target="/v1",limit="requests"\} 1\n']



=== TEST 47: json-access-log: a stream's usage, the key's team and the Foundry project
--- http_config eval: main::example('json-access-log.conf', log => 'logs/foundry-usage.json')
--- config
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}],"stream":true,"stream_options":{"include_usage":true}}
--- more_headers
api-key: example-json-log-key
x-foundry-project: research-agents
x-ms-foundry-agent-id: asst_abc123
openai-project: proj-1
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
Content-Type: application/json
--- response_headers
Content-Type: text/event-stream
--- response_body_like: "usage":\{"completion_tokens":7,.*\n\ndata: \[DONE\]\n\n$
--- access_log eval
qr/^\{"time":"[^"]+","request_id":"[0-9a-f]{32}","client":"127\.0\.0\.1","method":"POST","uri":"\/v1\/chat\/completions","status":200,"call":"inference","deployment":"gpt-4o","model":"gpt-4o","operation":"chat\/completions","stream":"1","upstream":"usage-aoai","upstream_model":"gpt-4o","key":"usage-research","team":"research","cost_center":"cc-4711","project":"research-agents","prompt_tokens":10,"completion_tokens":7,"total_tokens":17,"cached_tokens":0,"reasoning_tokens":0,"request_time":[0-9.]+,"upstream_time":"[0-9.]+","upstream_status":"200","agent":"asst_abc123","foundry_project":"proj-1","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"\}$/



=== TEST 48: json-access-log: a refused call: nulls, and no key in the line
--- http_config eval: main::example('json-access-log.conf', log => 'logs/foundry-usage.json')
--- config
--- request
POST /v1/chat/completions?subscription-key=not-a-key
{"model":"gpt-4o","messages":[]}
--- more_headers
api-key: example-wrong-key
--- error_code: 401
--- access_log eval
qr/"status":401,"call":"","deployment":"","model":"","operation":"","stream":"","upstream":"","upstream_model":"","key":"","team":"","cost_center":"","project":"","prompt_tokens":null,"completion_tokens":null,"total_tokens":null,"cached_tokens":null,"reasoning_tokens":null,"request_time":[0-9.]+,"upstream_time":"","upstream_status":"","agent":"","foundry_project":"","trace_id":""\}$/
--- no_access_log
example-wrong-key
not-a-key



=== TEST 49: upstream-managed-identity: the upstream gets the gateway's managed identity token
--- http_config eval: main::example('upstream-managed-identity.conf')
--- config
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21
{"messages":[{"role":"user","content":"Hello"}]}
--- more_headers
api-key: example-identity-key
x-mock-echo: 1
Content-Type: application/json
--- response_body_like: "authorization":"Bearer mock-token-\d+"
--- no_error_log
[error]
