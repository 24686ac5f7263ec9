import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { EndpointClassifier, pathTemplate } from '../../src/compare/endpoints';

function table(cases: Array<[string, string]>): void {
  for (const [target, want] of cases) assert.equal(pathTemplate(target), want, `pathTemplate(${JSON.stringify(target)})`);
}

describe('pathTemplate', () => {
  it('example from the design', () => {
    table([['/users/123/orders/9f86d081884c7d659a2feaa0c55ad015?x=1', '/users/{id}/orders/{hex}']]);
  });

  it('integers → {id} (not a short version right after /api/)', () => {
    table([
      ['/users/123', '/users/{id}'],
      ['/posts/0042/comments/7', '/posts/{id}/comments/{id}'],
      ['/statuses/1793712345678901234', '/statuses/{id}'], // snowflake
      ['/repos/nodejs/node/issues/51234/comments', '/repos/nodejs/node/issues/{id}/comments'],
      ['/rest/api/2/issue/10001', '/rest/api/2/issue/{id}'], // Jira REST v2
      ['/rest/api/3/search', '/rest/api/3/search'],
      ['/api/12345', '/api/{id}'], // long numbers after /api are ids
      ['/1', '/{id}'],
    ]);
  });

  it('UUIDs of any version, with or without braces/dashes → {uuid}', () => {
    table([
      ['/accounts/550e8400-e29b-41d4-a716-446655440000', '/accounts/{uuid}'], // v4
      ['/accounts/6ba7b810-9dad-11d1-80b4-00c04fd430c8/keys', '/accounts/{uuid}/keys'], // v1
      ['/events/018f3e2a-7c4b-7d2e-9a1b-3c4d5e6f7a8b', '/events/{uuid}'], // v7
      ['/x/00000000-0000-0000-0000-000000000000', '/x/{uuid}'], // nil
      ['/x/550E8400-E29B-41D4-A716-446655440000', '/x/{uuid}'], // upper case
      ['/x/{550e8400-e29b-41d4-a716-446655440000}', '/x/{uuid}'], // braces
      ['/x/%7B550e8400-e29b-41d4-a716-446655440000%7D', '/x/{uuid}'], // encoded braces
      ['/x/{550e8400e29b41d4a716446655440000}', '/x/{uuid}'], // braced, no dashes
      // bare 32-hex cannot be told from an MD5 digest: {hex}
      ['/x/550e8400e29b41d4a716446655440000', '/x/{hex}'],
    ]);
  });

  it('hex of ≥ 8 chars with a digit → {hex}; hex-letter words stay', () => {
    table([
      ['/repos/torvalds/linux/commits/a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', '/repos/torvalds/linux/commits/{hex}'], // sha1
      ['/blobs/sha256/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', '/blobs/sha256/{hex}'],
      ['/objects/507f1f77bcf86cd799439011', '/objects/{hex}'], // Mongo ObjectId
      ['/commit/3f2a9c1', '/commit/3f2a9c1'], // 7 chars: too short
      ['/commit/3f2a9c1d', '/commit/{hex}'],
      ['/ETAG/DEADBEEF01', '/ETAG/{hex}'],
      ['/deadbeef/facade/decade', '/deadbeef/facade/decade'],
    ]);
  });

  it('dates → {date}', () => {
    table([
      ['/reports/2024-05-01', '/reports/{date}'],
      ['/reports/2024-05-01/summary', '/reports/{date}/summary'],
      ['/ts/2024-05-01T10:00:00Z', '/ts/{date}'],
      ['/ts/2024-05-01T10:00:00.123%2B02:00', '/ts/{date}'],
      ['/x/2024-13-01', '/x/2024-13-01'], // not a month
    ]);
  });

  it('emails → {email}', () => {
    table([
      ['/users/john.doe@example.com', '/users/{email}'],
      ['/users/john.doe%40example.com/roles', '/users/{email}/roles'],
      ['/users/a+tag@mail.example.co.uk', '/users/{email}'],
      ['/@babel/core', '/@babel/core'], // npm scope, not an email
      ['/by/@handle', '/by/@handle'],
    ]);
  });

  it('long tokens (base64, base64url, JWT, API keys) → {token}; slugs stay', () => {
    table([
      [
        '/auth/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
        '/auth/{token}',
      ],
      ['/keys/AKIAIOSFODNN7EXAMPLE', '/keys/{token}'], // AWS access key id
      ['/invite/dGhpcyBpcyBhIHRva2VuMTIz', '/invite/{token}'], // base64
      ['/invite/dGhpcyBpcyBh%2BIHRva2VuMTIz%3D%3D', '/invite/{token}'], // base64 with +, = encoded
      ['/reset/k3j4h5k6j7h8k9j0h1g2', '/reset/{token}'], // lowercase, no separators
      ['/s/Ab3-dE6_fG9hIj2kLm5nOp8', '/s/{token}'], // base64url with - and _
      ['/blog/how-to-train-your-dragon', '/blog/how-to-train-your-dragon'], // slug
      ['/blog/top-10-things-to-do-in-paris', '/blog/top-10-things-to-do-in-paris'], // slug with a number
      ['/docs/getting-started-with-kubernetes', '/docs/getting-started-with-kubernetes'],
      ['/x/shortMixed123', '/x/shortMixed123'], // < 20 chars, no affix
    ]);
  });

  it('affixes: item-12345 → item-{id}; API versions stay', () => {
    table([
      ['/v2/items/item-12345', '/v2/items/item-{id}'],
      ['/browse/PROJ-123', '/browse/PROJ-{id}'], // Jira key
      ['/questions/12345-how-do-i-exit-vim', '/questions/{id}-how-do-i-exit-vim'],
      ['/v1/customers/cus_NffrFeUfNV2Hib', '/v1/customers/cus_{token}'], // Stripe
      ['/v1/charges/ch_3MmlLrLkdIwHu7ix0snN0B15', '/v1/charges/ch_{token}'],
      ['/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa/confirm', '/v1/payment_intents/pi_{token}/confirm'],
      ['/u/user-550e8400-e29b-41d4-a716-446655440000', '/u/user-{uuid}'],
      ['/img/img_9f86d081884c', '/img/img_{hex}'],
      ['/blog/how-to-train-your-dragon-22', '/blog/how-to-train-your-dragon-{id}'],
      ['/orders/order12345', '/orders/order{id}'],
      ['/v1/v2/v10/v2024', '/v1/v2/v10/v2024'], // versions are not ids
      ['/oauth2/h264/ipv6/utf-8/page-2/s3/ec2', '/oauth2/h264/ipv6/utf-8/page-2/s3/ec2'],
      ['/api/2.0/clusters/list', '/api/2.0/clusters/list'], // Databricks
      ['/api/v1.2/x', '/api/v1.2/x'],
    ]);
  });

  it('realistic APIs end to end', () => {
    table([
      ['/repos/octocat/Hello-World/pulls/1347/files?per_page=100', '/repos/octocat/Hello-World/pulls/{id}/files'],
      ['/v1/customers/cus_NffrFeUfNV2Hib/sources/card_1MvoiELkdIwHu7ixOeFh0bsH', '/v1/customers/cus_{token}/sources/card_{token}'],
      ['/2/tweets/1460323737035677698/liking_users', '/{id}/tweets/{id}/liking_users'],
      ['/v1.0/me/messages/AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W967B7TKBjgx9rVEURBwAiIsqMbYjsT5e-T7KzowPTAAAAAAEMAAAiIsqMbYjsT5e-T7KzowPTAAAYbvZHAAA=', '/v1.0/me/messages/{token}'],
      ['/storage/v1/b/my-bucket/o/folder%2Ffile.txt', '/storage/v1/b/my-bucket/o/folder%2Ffile.txt'],
      ['/wp-json/wp/v2/posts/4321', '/wp-json/wp/v2/posts/{id}'],
      ['/api/v4/projects/278964/merge_requests/42/notes', '/api/v4/projects/{id}/merge_requests/{id}/notes'],
      ['/users/%F0%9F%98%80', '/users/%F0%9F%98%80'],
      ['/bad/%E0%A4%A', '/bad/%E0%A4%A'], // malformed escape: classified raw, kept
    ]);
  });

  it('target forms: absolute-form, *, empty, authority-form, fragments', () => {
    table([
      ['http://example.com:8080/a/1?x=2', '/a/{id}'],
      ['HTTPS://Example.COM/users/42', '/users/{id}'],
      ['http://example.com', '/'],
      ['http://example.com?x=1', '/'],
      ['http://example.com/', '/'],
      ['*', '*'],
      ['', '/'],
      ['/', '/'],
      ['/?q=1', '/'],
      ['example.com:443', '{authority}'],
      ['/a/1#frag', '/a/{id}'],
    ]);
  });

  it('trailing slashes are kept distinct; empty inner segments kept; matrix params dropped', () => {
    table([
      ['/users/', '/users/'],
      ['/users', '/users'],
      ['/users/42/', '/users/{id}/'],
      ['/a//b', '/a//b'],
      ['/cars;color=red/5;jsessionid=ABC123', '/cars/{id}'],
      ['/login;jsessionid=0123456789ABCDEF', '/login'],
    ]);
  });

  it('is stable: same input, same output; templates are idempotent', () => {
    const paths = ['/users/123/orders/9f86d081884c7d659a2feaa0c55ad015', '/v1/customers/cus_NffrFeUfNV2Hib', '/x/2024-05-01'];
    for (const p of paths) {
      const t = pathTemplate(p);
      assert.equal(pathTemplate(p), t);
      assert.equal(pathTemplate(t), t);
    }
  });
});

describe('EndpointClassifier', () => {
  it('method + template, method upper-cased', () => {
    const c = new EndpointClassifier();
    assert.equal(c.classify('GET', '/users/123?x=1'), 'GET /users/{id}');
    assert.equal(c.classify('post', '/users/9/orders'), 'POST /users/{id}/orders');
    assert.equal(c.classify('OPTIONS', '*'), 'OPTIONS *');
  });

  it('route overrides beat templates; first match wins; method filter; name', () => {
    const c = new EndpointClassifier([
      { method: 'GET', pattern: '/users/:id/orders/:orderId' },
      { pattern: '/static/*', name: 'static' },
      { method: 'post', pattern: '/users/:name' },
      { pattern: '/users/:any' },
      { pattern: '/users/me' }, // shadowed by the previous route
    ]);
    assert.equal(c.classify('GET', '/users/abc/orders/xyz?q'), 'GET /users/:id/orders/:orderId');
    assert.equal(c.classify('PUT', '/users/abc/orders/xyz'), 'PUT /users/abc/orders/xyz'); // GET-only route
    assert.equal(c.classify('GET', '/static/js/app.9f86d081.js'), 'GET static');
    assert.equal(c.classify('GET', '/static'), 'GET static'); // '*' matches zero segments too
    assert.equal(c.classify('GET', 'http://cdn.example/static/a/b/c'), 'GET static');
    assert.equal(c.classify('POST', '/users/jane'), 'POST /users/:name');
    assert.equal(c.classify('GET', '/users/me'), 'GET /users/:any');
    assert.equal(c.classify('GET', '/users/me/'), 'GET /users/:any'); // overrides ignore one trailing slash
    assert.equal(c.classify('GET', '/users/me;v=1'), 'GET /users/:any'); // matrix params ignored
    assert.equal(c.classify('GET', '/users'), 'GET /users'); // ':any' needs a segment
    assert.equal(c.classify('GET', '/userz/1'), 'GET /userz/{id}');
  });

  it('overrides match percent-decoded literals and a mid-pattern * as one segment', () => {
    const c = new EndpointClassifier([{ pattern: '/files/*/caf%C3%A9' }, { pattern: '/q/a b' }]);
    assert.equal(c.classify('GET', '/files/x/caf%c3%a9'), 'GET /files/*/caf%C3%A9');
    assert.equal(c.classify('GET', '/files/x/y/caf%C3%A9'), 'GET /files/x/y/caf%C3%A9');
    assert.equal(c.classify('GET', '/q/a%20b'), 'GET /q/a b');
  });

  it('bounded: beyond maxEndpoints new endpoints fold into {other} and are counted', () => {
    const c = new EndpointClassifier([], { maxEndpoints: 3 });
    assert.equal(c.classify('GET', '/a'), 'GET /a');
    assert.equal(c.classify('GET', '/b'), 'GET /b');
    assert.equal(c.classify('POST', '/a'), 'POST /a');
    assert.equal(c.overflowed, 0);
    assert.equal(c.classify('GET', '/c'), 'GET {other}');
    assert.equal(c.classify('DELETE', '/d'), 'DELETE {other}');
    assert.equal(c.classify('BREW', '/pot'), 'OTHER {other}'); // garbage methods cannot grow keys
    assert.equal(c.overflowed, 3);
    assert.equal(c.classify('GET', '/b?x=1'), 'GET /b'); // known endpoints still resolve
    assert.equal(c.overflowed, 3);
    assert.equal(c.size, 3);
  });

  it('default bound is 1000 distinct endpoints', () => {
    const c = new EndpointClassifier();
    const keys = new Set<string>();
    for (let i = 0; i < 5000; i++) keys.add(c.classify('GET', `/page-p${i}/x`));
    assert.equal(c.size, 1000);
    assert.equal(c.overflowed, 4000);
    assert.equal(keys.size, 1001);
    assert.ok(keys.has('GET {other}'));
  });

  it('rejects a bad maxEndpoints', () => {
    assert.throws(() => new EndpointClassifier([], { maxEndpoints: -1 }), RangeError);
  });

  it('speed (diagnostic)', () => {
    const targets = [
      '/users/123/orders/9f86d081884c7d659a2feaa0c55ad015?x=1',
      '/api/v1/products/4711',
      '/v1/customers/cus_NffrFeUfNV2Hib',
      '/static/js/main.js',
      '/health',
      '/repos/octocat/Hello-World/pulls/1347/files?per_page=100',
      '/accounts/550e8400-e29b-41d4-a716-446655440000/settings',
    ];
    const c = new EndpointClassifier([{ pattern: '/static/*' }]);
    const n = 300_000;
    let sink = 0;
    for (let i = 0; i < 20_000; i++) sink += pathTemplate(targets[i % targets.length]).length; // warm up
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += pathTemplate(targets[i % targets.length]).length;
    const tplNs = Number(process.hrtime.bigint() - t0) / n;
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += c.classify('GET', targets[i % targets.length]).length;
    const clsNs = Number(process.hrtime.bigint() - t0) / n;
    assert.ok(sink > 0);
    console.log(`# pathTemplate ${tplNs.toFixed(0)} ns/call, classify (1 route) ${clsNs.toFixed(0)} ns/call (mixed paths)`);
  });
});
