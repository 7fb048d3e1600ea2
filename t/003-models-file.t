# Static deployments loaded from a JSON file shaped like a Foundry
# connection's "models" metadata.

use Cwd qw(cwd);
use Test::Nginx::Socket;

$ENV{TEST_NGINX_DATA_DIR} = cwd() . '/t/data';

repeat_each(1);

plan tests => repeat_each() * (2 * blocks());

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a models array
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_models_file $TEST_NGINX_DATA_DIR/models.json;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /gw/deployments
--- response_body chomp
{"value":[{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"claude-sonnet","properties":{"model":{"format":"Anthropic","name":"claude-sonnet-4-5","version":""}}},{"name":"deepseek-r1","properties":{"model":{"format":"DeepSeek","name":"DeepSeek-R1","version":""}}}]}



=== TEST 2: a connection object whose "models" is a JSON string, plus a directive
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_models_file $TEST_NGINX_DATA_DIR/models-connection.json;
        foundry_model extra version=1;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
    }
--- request
GET /gw/models
--- response_body_like chomp
^\{"object":"list","data":\[\{"id":"gpt-4o-mini","object":"model","created":\d+,"owned_by":"system"\},\{"id":"extra",



=== TEST 3: an ARM list
--- config
    location /gw/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_models_file $TEST_NGINX_DATA_DIR/models-arm.json;
        foundry_model_discovery list=/deployments
                                "get=/deployments/{deploymentName}";
    }
--- request
GET /gw/deployments/o3-mini
--- response_body chomp
{"name":"o3-mini","properties":{"model":{"format":"OpenAI","name":"o3-mini","version":"2025-01-31"}}}



=== TEST 4: truncated JSON
--- config
    location /gw/ {
        foundry_models_file $TEST_NGINX_DATA_DIR/models-truncated.json;
    }
--- request
GET /gw/deployments
--- must_die
--- error_log eval
qr{invalid JSON in models file "\S+/t/data/models-truncated.json": }



=== TEST 5: a bad deployment name in the file
--- config
    location /gw/ {
        foundry_models_file $TEST_NGINX_DATA_DIR/models-badname.json;
    }
--- request
GET /gw/deployments
--- must_die
--- error_log eval
qr{invalid model #1 in models file "\S+/models-badname.json": "name" is not a valid deployment name}



=== TEST 6: no array
--- config
    location /gw/ {
        foundry_models_file $TEST_NGINX_DATA_DIR/models-noarray.json;
    }
--- request
GET /gw/deployments
--- must_die
--- error_log eval
qr{models file "\S+/models-noarray.json" must hold an array of models, or an object with a "models", "value" or "staticModels" array}



=== TEST 7: a version that is not a string
--- config
    location /gw/ {
        foundry_models_file $TEST_NGINX_DATA_DIR/models-badversion.json;
    }
--- request
GET /gw/deployments
--- must_die
--- error_log eval
qr{invalid model #1 in models file "\S+/models-badversion.json": "properties.model.version" is not a string}



=== TEST 8: a file deployment clashing with a directive
--- config
    location /gw/ {
        foundry_model gpt-4o;
        foundry_models_file $TEST_NGINX_DATA_DIR/models.json;
    }
--- request
GET /gw/deployments
--- must_die
--- error_log eval
qr{duplicate deployment "gpt-4o", first defined in \S+nginx.conf:\d+}



=== TEST 9: a model name too long (once crashed nginx -t)
--- config
    location /gw/ {
        foundry_models_file $TEST_NGINX_DATA_DIR/models-longmodel.json;
    }
--- request
GET /gw/deployments
--- must_die
--- error_log eval
qr{invalid model #1 in models file "\S+/models-longmodel.json": "properties.model.name" is too long}
