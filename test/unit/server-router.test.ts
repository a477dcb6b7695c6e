import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Router } from '../../src/server/http.ts';
import { HttpError } from '../../src/server/http-errors.ts';
import { Params } from '../../src/server/params.ts';
import { seriesMatchers } from '../../src/server/query-routes.ts';

const a = () => {};
const b = () => {};

describe('router', () => {
  const router = new Router()
    .on(['GET', 'POST'], '/loki/api/v1/labels', a)
    .on('GET', '/loki/api/v1/label/:name/values', b);

  test('exact paths and methods; HEAD is served by GET', () => {
    const m = router.match('POST', '/loki/api/v1/labels');
    assert.ok(!(m instanceof HttpError));
    assert.equal(m.handler, a);
    const h = router.match('HEAD', '/loki/api/v1/label/x/values');
    assert.ok(!(h instanceof HttpError));
    assert.equal(h.handler, b);
  });

  test('path parameters are URL-decoded', () => {
    const m = router.match('GET', '/loki/api/v1/label/service%5Fname/values');
    assert.ok(!(m instanceof HttpError));
    assert.deepEqual(m.path, { name: 'service_name' });
  });

  test('unknown paths are 404, other methods 405 with the allowed list', () => {
    for (const path of [
      '/loki/api/v1/label//values',
      '/loki/api/v1/labels/',
      '/loki/api/v1/label/x/values/extra',
    ]) {
      const m = router.match('GET', path);
      assert.ok(m instanceof HttpError && m.status === 404, path);
    }
    const m = router.match('DELETE', '/loki/api/v1/labels');
    assert.ok(m instanceof HttpError);
    assert.equal(m.status, 405);
    assert.equal(m.headers.Allow, 'GET, POST');
  });
});

describe('series matchers', () => {
  const p = (q: string) => new Params([new URLSearchParams(q)]);

  test('match[] and match together, deduplicated and sorted', () => {
    assert.deepEqual(seriesMatchers(p('match[]={b="1"}&match={a="2"}&match[]={b="1"}')), [
      '{a="2"}',
      '{b="1"}',
    ]);
  });

  test('a lone {} means no matcher, as in Loki', () => {
    assert.deepEqual(seriesMatchers(p('match[]={ }')), []);
    assert.deepEqual(seriesMatchers(p('')), []);
  });
});
