/**
 * Loki's read endpoints over the LogQL engine: query_range, query, labels, label values, series, index/stats.
 * Parameters are parsed here exactly as Loki parses them; the engine gets typed requests and answers with
 * Loki's response shapes, which are sent as they are.
 */
import type { IncomingMessage } from 'node:http';
import type { ApiEngine } from './engine.ts';
import { formParams, type RouteContext, sendJson } from './http.ts';
import { HttpError } from './http-errors.ts';
import {
  bounds,
  checkIntervalParam,
  directionParam,
  limitParam,
  nowNs,
  type Params,
  stepParamMs,
  timestampParam,
} from './params.ts';

/** True when the client asked for `categorize-labels` (Grafana does): metadata apart from stream labels. */
export function wantsCategorizedLabels(req: IncomingMessage): boolean {
  const h = req.headers['x-loki-response-encoding-flags'];
  const values = Array.isArray(h) ? h : typeof h === 'string' ? [h] : [];
  return values.some((v) => v.split(',').some((flag) => flag.trim() === 'categorize-labels'));
}

/** Series matchers: `match[]` and `match`, deduplicated and sorted; a lone `{}` means none (as in Loki). */
export function seriesMatchers(params: Params): string[] {
  const all = [...new Set([...params.getAll('match[]'), ...params.getAll('match')])].sort();
  if (all.length === 1 && (all[0] as string).replace(/\s+/g, '') === '{}') return [];
  return all;
}

function optionalQuery(params: Params): string | undefined {
  const q = params.get('query');
  return q === '' ? undefined : q;
}

export function queryRoutes(engine: ApiEngine, maxBodyBytes: number) {
  const form = (ctx: RouteContext) => formParams(ctx.req, ctx.url, maxBodyBytes);
  return {
    async queryRange(ctx: RouteContext): Promise<void> {
      const params = await form(ctx);
      const b = bounds(params);
      if (b.end < b.start) throw new HttpError(400, 'end timestamp must not be before start time');
      const limit = limitParam(params);
      const direction = directionParam(params);
      const stepMs = stepParamMs(params, b);
      checkIntervalParam(params);
      const out = await engine.rangeQuery({
        query: params.get('query'),
        start: b.start,
        end: b.end,
        limit,
        direction,
        stepMs,
        categorizeLabels: wantsCategorizedLabels(ctx.req),
      });
      await sendJson(ctx.req, ctx.res, out);
    },

    async instantQuery(ctx: RouteContext): Promise<void> {
      const params = await form(ctx);
      const limit = limitParam(params);
      const time = timestampParam(params, 'time', nowNs());
      const direction = directionParam(params);
      const out = await engine.instantQuery({
        query: params.get('query'),
        time,
        limit,
        direction,
        categorizeLabels: wantsCategorizedLabels(ctx.req),
      });
      await sendJson(ctx.req, ctx.res, out);
    },

    async labels(ctx: RouteContext): Promise<void> {
      const params = await form(ctx);
      const b = bounds(params);
      const data = await engine.labels({ ...b, query: optionalQuery(params) });
      await sendJson(ctx.req, ctx.res, { status: 'success', data });
    },

    async labelValues(ctx: RouteContext): Promise<void> {
      const params = await form(ctx);
      const b = bounds(params);
      const data = await engine.labelValues(ctx.path.name as string, { ...b, query: optionalQuery(params) });
      await sendJson(ctx.req, ctx.res, { status: 'success', data });
    },

    async series(ctx: RouteContext): Promise<void> {
      const params = await form(ctx);
      const b = bounds(params);
      const data = await engine.series({ ...b, match: seriesMatchers(params) });
      await sendJson(ctx.req, ctx.res, { status: 'success', data });
    },

    async indexStats(ctx: RouteContext): Promise<void> {
      const params = await form(ctx);
      const b = bounds(params);
      const out = await engine.indexStats({ ...b, query: params.get('query') });
      await sendJson(ctx.req, ctx.res, out);
    },
  };
}
