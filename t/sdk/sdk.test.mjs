// The official openai npm SDK against the gateway of "make demo": what an
// application (or a Foundry agent) built on it does must work unchanged.
//
// FOUNDRY_GATEWAY is the gateway's base URL (tools/sdk-test sets it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { AzureOpenAI } from 'openai';

const base = process.env.FOUNDRY_GATEWAY || 'http://127.0.0.1:8080';
const messages = [{ role: 'user', content: 'Hello' }];

test('OpenAI client: models.list on the /v1 target', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'demo-key' });
  const ids = [];

  for await (const model of client.models.list()) {
    ids.push(model.id);
  }

  assert.deepEqual(ids.sort(), ['gpt-4o', 'gpt-4o-mini']);
});

test('OpenAI client: models.retrieve', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'demo-key' });
  const model = await client.models.retrieve('gpt-4o-mini');

  assert.equal(model.id, 'gpt-4o-mini');
  assert.equal(model.object, 'model');
});

test('OpenAI client: chat, deployment in the body', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'demo-key' });

  for (const model of ['gpt-4o', 'gpt-4o-mini']) {
    const r = await client.chat.completions.create({ model, messages });

    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, model);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.ok(r.usage.total_tokens > 0);
  }
});

test('OpenAI client: streamed chat with include_usage', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'demo-key' });

  const stream = await client.chat.completions.create({
    model: 'gpt-4o',
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });

  let text = '';
  let usage = null;

  for await (const chunk of stream) {
    if (chunk.choices.length) {
      text += chunk.choices[0].delta.content ?? '';
    }

    if (chunk.usage) {
      usage = chunk.usage;
    }
  }

  assert.ok(text.length > 0);
  assert.ok(usage && usage.total_tokens > 0);
});

test('OpenAI client: an unknown deployment is a 404', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'demo-key' });

  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-5', messages }),
    (err) => err.status === 404 && err.code === 'DeploymentNotFound');
});

test('AzureOpenAI client: chat, deployment in the path', async () => {
  const client = new AzureOpenAI({
    endpoint: base,
    apiVersion: '2024-10-21',
    deployment: 'gpt-4o',
    apiKey: 'demo-key',
  });

  const r = await client.chat.completions.create({ model: '', messages });

  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'gpt-4o');
});

test('AzureOpenAI client: streamed chat', async () => {
  const client = new AzureOpenAI({
    endpoint: base,
    apiVersion: '2024-10-21',
    deployment: 'gpt-4o-mini',
    apiKey: 'demo-key',
  });

  const stream = await client.chat.completions.create({
    model: '', messages, stream: true,
  });

  let chunks = 0;

  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
  }

  assert.ok(chunks > 1);
});

test('OpenAI client: a wrong key is a 401', async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong-key' });

  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o', messages }),
    (err) => err.status === 401 && err.code === 'Unauthorized');
});

// responses.create, stream and not, with both clients on both targets:
// the deployment travels in the body's "model" (the AzureOpenAI client
// sends POST {target}/responses?api-version=... on the path target too)

const clients = {
  'OpenAI client, /v1': () => new OpenAI({
    baseURL: `${base}/v1`, apiKey: 'demo-key',
  }),
  'AzureOpenAI client, /v1': () => new AzureOpenAI({
    baseURL: `${base}/v1`, apiVersion: '2025-03-01-preview',
    apiKey: 'demo-key',
  }),
  'OpenAI client, /openai': () => new OpenAI({
    baseURL: `${base}/openai`, apiKey: 'demo-key',
    defaultHeaders: { 'api-key': 'demo-key' },
    defaultQuery: { 'api-version': '2024-10-21' },
  }),
  'AzureOpenAI client, /openai': () => new AzureOpenAI({
    endpoint: base, apiVersion: '2024-10-21', apiKey: 'demo-key',
  }),
};

for (const [name, make] of Object.entries(clients)) {
  test(`${name}: responses.create`, async () => {
    const r = await make().responses.create({
      model: 'gpt-4o', input: 'Hello',
    });

    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.ok(r.output_text.length > 0);
    assert.ok(r.usage.total_tokens > 0);
  });

  test(`${name}: responses.create, streamed`, async () => {
    const stream = await make().responses.create({
      model: 'gpt-4o-mini', input: 'Hello', stream: true,
    });

    let text = '';
    let completed = null;

    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') {
        text += event.delta;
      }

      if (event.type === 'response.completed') {
        completed = event.response;
      }
    }

    assert.ok(text.length > 0);
    assert.ok(completed !== null);
    assert.ok(completed.usage.total_tokens > 0);
  });
}
