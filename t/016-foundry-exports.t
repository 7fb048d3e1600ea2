# The exports Foundry's own templates and validators take as they are.
#
# Part 1 (plain Perl, before run_tests): each example of conf.d/ with a
# foundry_export location, in an nginx of our own (t/lib/FoundryNginx.pm),
# loaded as t/050-examples.t loads them.  For each:
#
#   * format=bicep read back as the parameters file of the Foundry
#     samples' template (microsoft-foundry/foundry-samples,
#     infrastructure/infrastructure-setup-bicep/01-connections/):
#     model-gateway/connection-modelgateway.bicep for a ModelGateway
#     target, apim/connection-apim.bicep for an ApiManagement one.  Every
#     parameter is one the template declares (ARM refuses a parameters
#     file with others), of the type it declares (strings, isSharedToAll
#     a boolean, staticModels an array, authConfig and customHeaders
#     objects: the templates serialise them with string()), and the
#     template's authType is one of its @allowed values.
#   * the checks of the samples' validators, model-gateway/
#     test_model_gateway_connection.py and apim/test_apim_connection.py,
#     redone here on that file (they need Python's "requests", which
#     Debian 12's CI image does not have): parameter validation (targetUrl,
#     or apimResourceId, apiName and connectionName; exactly one of
#     staticModels and the three discovery parameters; a static entry's
#     name and properties.model.name; deploymentProvider AzureOpenAI or
#     OpenAI; getModelEndpoint with {deploymentName}; OAuth2's clientId and
#     tokenUrl), then, for a key's connection, their calls to the gateway
#     built as they build them: the list (200, "value" or "data" not
#     empty), the get (200, properties.model.name and format, or id), the
#     deployment in the static list, and a chat completion (200), each
#     with the authConfig header (or api-key) and the customHeaders.
#     For an OAuth2 connection (demo.conf's /v1 and its token service,
#     exported with &client_id=), the validator's token request first, as
#     it makes it: a POST to tokenUrl, form grant_type=client_credentials,
#     client_id, client_secret and scope (the scopes joined by spaces),
#     the access_token of the answer then sent as "Authorization: Bearer"
#     on the same calls.
#     With FOUNDRY_SAMPLES (a checkout of the samples) and Python's
#     requests, the validators themselves run too, and must exit 0.
#   * format=terraform: the azapi_resource's properties and metadata read
#     back from the HCL (string literals unescaped) equal the connection
#     JSON's, exactly; with "terraform" on the PATH, "terraform fmt
#     -check" accepts the file as it is.
#
# Part 2 (blocks): authType AAD and ProjectManagedIdentity by
# foundry_auth, OAuth2's client settings, escaping for HCL, refusals.

use Cwd qw(cwd);
use File::Temp qw(tempdir);
use JSON::PP ();
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use Test::Nginx::Socket;

our $ConfD = cwd() . '/conf.d';

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();

our $Tmp = tempdir('foundry-exports-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub example {
    my ($file) = @_;

    open my $fh, '<', "$ConfD/$file" or die "$ConfD/$file: $!";
    my $conf = do { local $/; <$fh> };
    close $fh;

    $conf =~ s/\b127\.0\.0\.1:8080\b/127.0.0.1:\$PORT/g;
    $conf =~ s/\b127\.0\.0\.1:808[12]\b/127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT}/g;
    $conf =~ s{/var/log/nginx/}{logs/}g;

    opendir my $dh, $ConfD or die "$ConfD: $!";
    for my $f (grep { !/\.conf$/ && -f "$ConfD/$_" } readdir $dh) {
        $conf =~ s{(?<![\w./-])\Q$f\E(?![\w.-])}{$ConfD/$f}g;
    }
    closedir $dh;

    return $conf;
}

# the parameters each template declares, and their types

our %Template = (
    ModelGateway => {
        projectResourceId => 'string', targetUrl => 'string',
        gatewayName => 'string', connectionName => 'string',
        authType => 'string', isSharedToAll => 'bool', apiKey => 'string',
        clientId => 'string', clientSecret => 'string',
        tokenUrl => 'string', scopes => 'array',
        deploymentInPath => 'string', inferenceAPIVersion => 'string',
        deploymentAPIVersion => 'string', listModelsEndpoint => 'string',
        getModelEndpoint => 'string', deploymentProvider => 'string',
        staticModels => 'array', customHeaders => 'object',
        authConfig => 'object',
    },
    ApiManagement => {
        projectResourceId => 'string', apimResourceId => 'string',
        apiName => 'string', connectionName => 'string',
        apimSubscriptionName => 'string', authType => 'string',
        isSharedToAll => 'bool', deploymentInPath => 'string',
        inferenceAPIVersion => 'string', deploymentAPIVersion => 'string',
        listModelsEndpoint => 'string', getModelEndpoint => 'string',
        deploymentProvider => 'string', staticModels => 'array',
        customHeaders => 'object', authConfig => 'object',
    },
);

our %Allowed = (
    ModelGateway => qr/^(ApiKey|OAuth2)$/,
    ApiManagement => qr/^(ApiKey|ProjectManagedIdentity)$/,
);

sub type_of {
    my ($v) = @_;
    return 'array' if ref $v eq 'ARRAY';
    return 'object' if ref $v eq 'HASH';
    return 'bool' if JSON::PP::is_bool($v);
    return 'string' if defined $v && !ref $v;
    return 'null';
}

# the template's rules: the list of what breaks them

sub template_check {
    my ($category, $file) = @_;
    my @bad;

    my $t = $Template{$category};
    my $p = $file->{parameters};

    push @bad, 'schema' unless ($file->{'$schema'} // '') eq
        'https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#'
        && ($file->{contentVersion} // '') eq '1.0.0.0';

    for my $k (sort keys %$p) {
        if (!$t->{$k}) {
            push @bad, "undeclared $k";
            next;
        }

        push @bad, "$k not {value}"
            unless ref $p->{$k} eq 'HASH' && join(',', keys %{$p->{$k}}) eq 'value';
        push @bad, "$k is not a $t->{$k}"
            unless type_of($p->{$k}{value}) eq $t->{$k};
    }

    push @bad, 'authType not allowed'
        unless ($p->{authType}{value} // '') =~ $Allowed{$category};

    push @bad, 'deploymentInPath'
        unless ($p->{deploymentInPath}{value} // '') =~ /^(true|false)$/;

    return @bad;
}

# the validators' parameter checks

sub validator_params {
    my ($category, $p, $key, $dep) = @_;
    my @bad;

    my %v = map { $_ => $p->{$_}{value} } keys %$p;

    if ($category eq 'ModelGateway') {
        push @bad, 'targetUrl' unless $v{targetUrl};
        push @bad, 'authType' unless lc($v{authType} // '') =~ /^(apikey|oauth2)$/;

        if (lc($v{authType} // '') eq 'oauth2') {
            push @bad, 'OAuth2 settings' unless $v{clientId} && $v{tokenUrl};

            # the validator also needs the secret (--client-secret)
            push @bad, 'clientSecret'
                if ref $key eq 'HASH' && !length($key->{secret} // '');
        }

    } else {
        push @bad, "$_" for grep { !$v{$_} } qw(apimResourceId apiName connectionName);
        push @bad, 'authType' unless ($v{authType} // '') eq 'ApiKey' || !$key;
    }

    my $static = ref $v{staticModels} eq 'ARRAY' && @{$v{staticModels}};
    my $dynamic = $v{listModelsEndpoint} && $v{getModelEndpoint}
                  && $v{deploymentProvider};
    my $partial = $v{listModelsEndpoint} || $v{getModelEndpoint}
                  || $v{deploymentProvider};

    push @bad, 'static and dynamic' if $static && $dynamic;
    push @bad, 'partial dynamic' if $partial && !$dynamic;
    push @bad, 'no discovery' if !$static && !$dynamic;

    if ($static) {
        for my $m (@{$v{staticModels}}) {
            push @bad, 'static entry'
                unless ref $m eq 'HASH' && $m->{name}
                    && ref $m->{properties} eq 'HASH'
                    && ref $m->{properties}{model} eq 'HASH'
                    && $m->{properties}{model}{name};
        }

        push @bad, "$dep not in staticModels"
            unless grep { $_->{name} eq $dep } @{$v{staticModels}};
    }

    if ($dynamic) {
        push @bad, 'deploymentProvider'
            unless $v{deploymentProvider} =~ /^(AzureOpenAI|OpenAI)$/;
        push @bad, 'getModelEndpoint'
            unless index($v{getModelEndpoint}, '{deploymentName}') >= 0;
        push @bad, 'listModelsEndpoint' unless $v{listModelsEndpoint} =~ m{^/};
    }

    return @bad;
}

# the validators' calls to the gateway, built as they build them

sub validator_calls {
    my ($ngx, $target, $p, $key, $dep) = @_;
    my @bad;

    my %v = map { $_ => $p->{$_}{value} } keys %$p;

    my @h = ('Content-Type' => 'application/json');

    my $path = sub {
        my ($url) = @_;
        $url =~ s{^https?://[^/]+}{} or return undef;
        return $url;
    };

    if (lc($v{authType} // '') eq 'oauth2') {

        # get_oauth_token(): the form, the scopes joined by spaces

        my $esc = sub {
            my ($t) = @_;
            $t =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
            return $t;
        };
        my @form = (grant_type => 'client_credentials',
                    client_id => $v{clientId},
                    client_secret => $key->{secret});
        push @form, scope => join(' ', @{$v{scopes}})
            if ref $v{scopes} eq 'ARRAY' && @{$v{scopes}};
        my $form = '';
        while (my ($k, $val) = splice @form, 0, 2) {
            $form .= ($form eq '' ? '' : '&') . "$k=" . $esc->($val);
        }

        my $url = $path->($v{tokenUrl}) // return ('tokenUrl');
        my ($s, undef, $b) = $ngx->request('POST', $url,
            ['Content-Type' => 'application/x-www-form-urlencoded'], $form);
        my $j = eval { JSON::PP->new->decode($b) } || {};

        return ("token $s") unless $s == 200 && $j->{access_token};

        push @h, 'Authorization' => "Bearer $j->{access_token}";

    } elsif (ref $v{authConfig} eq 'HASH' && %{$v{authConfig}}) {
        my $f = $v{authConfig}{format} // '{api_key}';
        $f =~ s/\{api_key\}/$key/;
        push @h, ($v{authConfig}{name} // 'api-key') => $f;

    } else {
        push @h, 'api-key' => $key;
    }

    push @h, %{$v{customHeaders}} if ref $v{customHeaders} eq 'HASH';

    my $base = $path->($target) // return ('target');
    $base =~ s{/+$}{};

    my $dv = $v{deploymentAPIVersion} ? "?api-version=$v{deploymentAPIVersion}" : '';

    if ($v{listModelsEndpoint}) {
        my ($s, undef, $b) = $ngx->request('GET', "$base$v{listModelsEndpoint}$dv", \@h);
        my $j = eval { JSON::PP->new->decode($b) } || {};
        my $list = $v{deploymentProvider} eq 'AzureOpenAI' ? $j->{value} : $j->{data};

        push @bad, "list $s" unless $s == 200 && ref $list eq 'ARRAY' && @$list;

        my $get = $v{getModelEndpoint};
        $get =~ s/\{deploymentName\}/$dep/;

        ($s, undef, $b) = $ngx->request('GET', "$base$get$dv", \@h);
        $j = eval { JSON::PP->new->decode($b) } || {};

        if ($v{deploymentProvider} eq 'AzureOpenAI') {
            push @bad, "get $s" unless $s == 200
                && $j->{properties}{model}{name} && $j->{properties}{model}{format};

        } else {
            push @bad, "get $s" unless $s == 200 && $j->{id}
                && !($j->{properties} && $j->{properties}{model});
        }
    }

    my $in_path = ($v{deploymentInPath} // '') eq 'true';
    my $url = $in_path ? "$base/deployments/$dep/chat/completions"
                       : "$base/chat/completions";
    $url .= "?api-version=$v{inferenceAPIVersion}" if $v{inferenceAPIVersion};

    my $body = { messages => [{ role => 'user', content => 'Hello!' }] };
    $body->{model} = $dep unless $in_path;

    my ($s) = $ngx->request('POST', $url, \@h, JSON::PP->new->encode($body));

    push @bad, "chat $s" unless $s == 200;

    return @bad;
}

# the HCL of format=terraform: the attributes "name = "string"" of a
# block, by its path ("properties", "metadata")

sub hcl_unquote {
    my ($s) = @_;
    my $out = '';

    while (length $s) {
        if ($s =~ s/^\\u([0-9a-fA-F]{4})//) { $out .= chr hex $1 }
        elsif ($s =~ s/^\\n//) { $out .= "\n" }
        elsif ($s =~ s/^\\r//) { $out .= "\r" }
        elsif ($s =~ s/^\\t//) { $out .= "\t" }
        elsif ($s =~ s/^\\(["\\])//) { $out .= $1 }
        elsif ($s =~ s/^\\//) { return undef }
        elsif ($s =~ s/^\$\$\{//) { $out .= '${' }
        elsif ($s =~ s/^%%\{//) { $out .= '%{' }
        elsif ($s =~ s/^(\$\{|%\{)//) { return undef }
        elsif ($s =~ s/^"//) { return undef }
        else { $s =~ s/^(.)//s; $out .= $1 }
    }

    return $out;
}

sub hcl_block {
    my ($hcl, $name) = @_;
    my %a;

    my ($block) = $hcl =~ /^(\s*)\Q$name\E = \{\n(.*?)^\1\}\n/ms
        ? ($2) : (undef);

    return undef unless defined $block;

    for my $line (split /\n/, $block) {
        next unless $line =~ /^\s+(\w+)\s+= "((?:[^"\\]|\\.)*)"$/;
        $a{$1} = hcl_unquote($2);
    }

    return \%a;
}

# TEST 7's view: the resource's name and two strings, unquoted

sub main::hcl_view {
    my ($hcl) = @_;

    my ($id) = $hcl =~ /^resource "azapi_resource" "([^"]+)"/m;
    my ($name) = $hcl =~ /^  name\s+= "((?:[^"\\]|\\.)*)"$/m;
    my $meta = hcl_block($hcl, 'metadata') || {};

    return "resource: " . ($id // 'NONE') . "\n"
           . "name: " . (hcl_unquote($name // '') // 'BAD') . "\n"
           . "customHeaders: " . ($meta->{customHeaders} // 'NONE') . "\n";
}

our @Examples = (
    # file, target, key (undef: a token's connection), deployment
    ['model-gateway-static.conf', '/v1', 'example-static-key', 'gpt-4o'],
    ['model-gateway-discovery.conf', '/contoso/gateway',
     'example-discovery-key', 'gpt-4o'],
    ['apim-style.conf', '/openai', 'example-apim-key', 'gpt-4o'],
    ['json-access-log.conf', '/v1', 'example-json-log-key', 'gpt-4o'],
    ['key-or-token.conf', '/v1', 'example-key-or-token-key', 'gpt-4o'],
    ['limits-and-metrics.conf', '/v1', 'example-limits-key', 'gpt-4o'],
    ['ptu-payg-spillover.conf', '/v1', 'example-spillover-key', 'gpt-4o'],
    ['upstreams-side-by-side.conf', '/v1', 'example-side-by-side-key',
     'gpt-4o'],
    ['oauth2-client-credentials.conf', '/v1', undef, 'gpt-4o'],
    ['entra-managed-identity.conf', '/openai', undef, 'gpt-4o'],

    # an OAuth2 connection of the gateway's own token service: the key is
    # the client, exported with &client_id=
    ['demo.conf', '/v1', { id => 'demo-client', secret => 'demo-secret' },
     'gpt-4o'],
);

our $Terraform = grep { -x "$_/terraform" } split /:/, $ENV{PATH} // '';

our $Samples = $ENV{FOUNDRY_SAMPLES}
    && -d "$ENV{FOUNDRY_SAMPLES}/infrastructure/infrastructure-setup-bicep"
    && system('python3 -c "import requests" 2>/dev/null') == 0
    ? "$ENV{FOUNDRY_SAMPLES}/infrastructure/infrastructure-setup-bicep/01-connections"
    : undef;

our $OwnTests = 5 * @Examples;

sub own_tests {
    for my $e (@Examples) {
        my ($file, $target, $key, $dep) = @$e;

        my $ngx = FoundryNginx->new(http => example($file));
        my @host = (Host => "127.0.0.1:$ngx->{port}");

        # an OAuth2 connection names its client
        my $client = ref $key eq 'HASH' ? "&client_id=$key->{id}" : '';

        my ($s, undef, $b) = $ngx->request('GET',
            "/foundry/export?target=$target$client", \@host);
        my $conn = eval { JSON::PP->new->decode($b) } || {};
        my $category = $conn->{properties}{category} // '';

        ($s, undef, $b) = $ngx->request('GET',
            "/foundry/export?target=$target$client&format=bicep", \@host);
        my $params = eval { JSON::PP->new->decode($b) } || {};

        Test::More::is(join(', ', "$s $category",
                            template_check($category, $params)),
                       "200 $category",
                       "$file: format=bicep is a parameters file of the "
                       . "$category template");

        Test::More::is(join(', ', validator_params($category,
                                      $params->{parameters} || {},
                                      $key, $dep)),
                       '', "$file: the validator's parameter checks");

        # the validators' calls, for a key's connection; the target of an
        # ApiManagement file is the APIM API's (the validator is given it)

        my $url = $category eq 'ApiManagement'
                  ? "http://127.0.0.1:$ngx->{port}$target"
                  : $params->{parameters}{targetUrl}{value} // '';

        Test::More::is(join(', ', $key ? validator_calls($ngx, $url,
                                             $params->{parameters}, $key,
                                             $dep)
                                       : ()),
                       '', "$file: the validator's calls"
                           . ($key ? '' : ' (none: a token connection)'));

        my $pf = "$Tmp/$file.parameters.json";
        open my $fh, '>', $pf or die "$pf: $!";
        print $fh $b;
        close $fh;

        if ($Samples && $key) {
            my @cmd = $category eq 'ApiManagement'
                ? ('python3', "$Samples/apim/test_apim_connection.py",
                   '--params', $pf, '--api-key', $key,
                   '--deployment-name', $dep, '--target-url', $url)
                : ('python3',
                   "$Samples/model-gateway/test_model_gateway_connection.py",
                   '--params', $pf,
                   (ref $key ? ('--client-secret', $key->{secret})
                             : ('--api-key', $key)),
                   '--deployment-name', $dep);

            my $out = `@{[ join ' ', map { quotemeta } @cmd ]} 2>&1`;
            my $rc = $? >> 8;
            Test::More::is($rc, 0, "$file: the samples' validator passes")
                or Test::More::diag($out);
        } else {
            Test::More::pass("$file: the samples' validator "
                             . ($key ? '(not run: FOUNDRY_SAMPLES and '
                                       . 'Python requests needed)'
                                     : '(none for a token connection)'));
        }

        # the Terraform form: the same properties and metadata

        ($s, undef, $b) = $ngx->request('GET',
            "/foundry/export?target=$target$client&format=terraform",
            \@host);

        my $props = hcl_block($b, 'properties') || {};
        my $meta = hcl_block($b, 'metadata') || {};
        my $want = $conn->{properties} || {};
        my @bad;

        for my $k (qw(category target authType)) {
            push @bad, $k unless ($props->{$k} // '') eq ($want->{$k} // 'x');
        }

        push @bad, 'metadata keys'
            unless join(',', sort keys %$meta)
                   eq join(',', sort keys %{$want->{metadata} || {}});

        for my $k (sort keys %{$want->{metadata} || {}}) {
            push @bad, "metadata.$k"
                unless ($meta->{$k} // "\0") eq $want->{metadata}{$k};
        }

        # an OAuth2 client's settings: the variables' defaults

        if (my $cred = $client && $want->{credentials}) {
            my %d;
            while ($b =~ /^variable "(oauth2_\w+)" \{\n(?:  .*\n)*?  default = (.*)\n/mg) {
                $d{$1} = $2;
            }
            push @bad, 'oauth2_client_id'
                unless ($d{oauth2_client_id} // '') eq "\"$cred->{clientId}\"";
            push @bad, 'oauth2_token_url'
                unless ($d{oauth2_token_url} // '') eq "\"$cred->{tokenUrl}\"";
            push @bad, 'oauth2_scopes'
                unless ($d{oauth2_scopes} // '') eq '['
                    . join(', ', map { "\"$_\"" } @{$cred->{scopes}}) . ']';
        }

        if ($Terraform) {
            my $tf = "$Tmp/$file.tf";
            open $fh, '>', $tf or die "$tf: $!";
            print $fh $b;
            close $fh;

            push @bad, 'terraform fmt'
                if system("terraform fmt -check $tf >/dev/null 2>&1") != 0;
        }

        Test::More::is(join(', ', $s, @bad), '200',
                       "$file: format=terraform holds the connection's "
                       . "strings exactly");

        $ngx->stop;
    }
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', <<"EOF");
upstream mock { server 127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT}; }
foundry_upstream up kind=openai url=http://mock bearer=UPSTREAM-KEY-X;
foundry_keys_zone k:1m file=$ConfD/apim-style-keys.json;
foundry_jwt_zone jwt:1m;
EOF
    }
});

Test::Nginx::Socket::plan(tests => $OwnTests + 21);

own_tests();

no_shuffle();

run_tests();

__DATA__

=== TEST 1: foundry_auth AAD: the connection says AAD
--- config
    location = /_jwks { return 200 '{"keys":[]}'; }
    location /openai/ {
        foundry_gateway on;
        foundry_category ApiManagement;
        foundry_connection_name aad-gw;
        foundry_entra tenant=72f988bf-86f1-41af-91ab-2d7cd011db47 jwks=/_jwks;
        foundry_auth AAD;
        foundry_model gpt-4o model=gpt-4o version=2024-11-20 upstream=up;
        proxy_pass $foundry_upstream_url;
    }
    location = /export { foundry_export base_url=https://gw.example.com; }
--- request
GET /export?target=/openai
--- response_body_like: "authType": "AAD"
--- no_error_log
[error]



=== TEST 2: foundry_auth AAD: the APIM template's name for it
--- config
    location = /_jwks { return 200 '{"keys":[]}'; }
    location /openai/ {
        foundry_gateway on;
        foundry_category ApiManagement;
        foundry_entra tenant=72f988bf-86f1-41af-91ab-2d7cd011db47 jwks=/_jwks;
        foundry_auth AAD;
        foundry_model gpt-4o model=gpt-4o version=2024-11-20 upstream=up;
        proxy_pass $foundry_upstream_url;
    }
    location = /export { foundry_export; }
--- request
GET /export?target=/openai&format=bicep
--- response_body_like: "authType": \{\s+"value": "ProjectManagedIdentity"\s+\}
--- no_error_log
[error]



=== TEST 3: foundry_auth AAD: Terraform, with the audience and no credential
--- config
    location = /_jwks { return 200 '{"keys":[]}'; }
    location /openai/ {
        foundry_gateway on;
        foundry_category ApiManagement;
        foundry_entra tenant=72f988bf-86f1-41af-91ab-2d7cd011db47 jwks=/_jwks;
        foundry_auth AAD;
        foundry_model gpt-4o model=gpt-4o version=2024-11-20 upstream=up;
        proxy_pass $foundry_upstream_url;
    }
    location = /export { foundry_export; }
--- request
GET /export?target=/openai&format=terraform
--- response_headers
Content-Type: text/plain; charset=utf-8
--- response_body_like: authType      = "AAD"\n      isSharedToAll = false\n      audience      = "https://cognitiveservices.azure.com"\n      credentials   = \{\}\n



=== TEST 4: foundry_auth ProjectManagedIdentity on a ModelGateway target
--- config
    location = /_jwks { return 200 '{"keys":[]}'; }
    location /v1/ {
        foundry_gateway on;
        foundry_entra tenant=72f988bf-86f1-41af-91ab-2d7cd011db47 jwks=/_jwks;
        foundry_auth ProjectManagedIdentity;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /v1/models
--- must_die
--- error_log
"foundry_auth ProjectManagedIdentity" is the authType of ApiManagement connections: it needs "foundry_category ApiManagement" (a ModelGateway connection takes ApiKey or OAuth2)



=== TEST 5: an authType's case matters, as in Foundry
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth aad;
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /v1/models
--- must_die
--- error_log
invalid value "aad" in "foundry_auth" directive, it must be "off", "key", "token", "key_or_token", or a connection's authType: "ApiKey", "OAuth2", "ProjectManagedIdentity" or "AAD" (case sensitive)



=== TEST 6: foundry_auth ApiKey takes keys; OAuth2 exports the client settings to fill
--- config
    location = /_jwks { return 200 '{"keys":[]}'; }
    location /v1/ {
        foundry_gateway on;
        foundry_jwt_issuer https://idp.example.com/ jwks=/_jwks
                           audience=api://gw;
        foundry_auth OAuth2;
        foundry_model gpt-4o model=gpt-4o version=2024-11-20 upstream=up;
        proxy_pass $foundry_upstream_url;
    }
    location = /export { foundry_export; }
--- request
GET /export?target=/v1&format=bicep
--- response_body_like: "clientId": \{\s+"value": "FILL-IN-CLIENT-ID"\s+\},\s+"tokenUrl": \{\s+"value": "FILL-IN-TOKEN-URL"\s+\},\s+"scopes": \{\s+"value": \[\s*\]\s+\}



=== TEST 7: Terraform strings: quotes, backslashes and template sequences escaped
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys k;
        foundry_auth ApiKey;
        foundry_connection_name 'odd"${name}';
        foundry_custom_header x-route '%{a}\${b}"c';
        foundry_model gpt-4o model=gpt-4o version=2024-11-20 upstream=up;
        proxy_pass $foundry_upstream_url;
    }
    location = /export { foundry_export; }
--- request
GET /export?target=/v1&format=terraform
--- response_body_filters eval: \&main::hcl_view
--- response_body
resource: odd___name_
name: odd"${name}
customHeaders: {"x-route":"%{a}\\${b}\"c"}



=== TEST 8: an unknown format
--- config
    location = /export { foundry_export; }
--- request
GET /export?target=/v1&format=arm
--- error_code: 400
--- response_body chomp
{"error":{"code":"BadRequest","message":"the format is \"json\", \"bicep\", \"terraform\" or \"bicep-metadata\"","type":"invalid_request_error"}}



=== TEST 9: foundry_auth OAuth2 without a token service: Terraform variables to fill, no default
--- config
    location = /_jwks { return 200 '{"keys":[]}'; }
    location /v1/ {
        foundry_gateway on;
        foundry_jwt_issuer https://idp.example.com/ jwks=/_jwks
                           audience=api://gw;
        foundry_auth OAuth2;
        foundry_model gpt-4o model=gpt-4o version=2024-11-20 upstream=up;
        proxy_pass $foundry_upstream_url;
    }
    location = /export { foundry_export; }
--- request
GET /export?target=/v1&client_id=someone&format=terraform
--- response_body_like: \nvariable "oauth2_client_id" \{\n  type = string\n\}\n\nvariable "oauth2_client_secret" \{\n  type      = string\n  sensitive = true\n\}\n\nvariable "oauth2_token_url" \{\n  type = string\n\}\n\nvariable "oauth2_scopes" \{\n  type    = list\(string\)\n  default = \[\]\n\}\n
