/**
 * The federation layer behind the same Loki routes, under /federated: a Grafana Loki datasource pointed at
 * http://127.0.0.1:3100/federated queries every configured instance at once. Responses carry an extra
 * `instances` array (which instance answered, how fast, and why one did not), which Loki clients ignore.
 */
import type { QueryResponse } from '../query/api.ts';
import type { Federation, InstanceReport } from '../query/federation.ts';
import type { ApiEngine } from './engine.ts';
import { HttpError } from './http-errors.ts';

export const FEDERATED_PREFIX = '/federated';

type WithInstances = QueryResponse & { instances: InstanceReport[] };

export function federatedEngine(fed: Federation): ApiEngine {
  return {
    async rangeQuery(req) {
      const r = await fed.queryRange(req);
      return { status: 'success', data: r.data, instances: r.instances } as WithInstances;
    },
    async instantQuery(req) {
      const r = await fed.query(req);
      return { status: 'success', data: r.data, instances: r.instances } as WithInstances;
    },
    async labels(req) {
      return (await fed.labels(req)).data;
    },
    async labelValues(name, req) {
      return (await fed.labelValues(name, req)).data;
    },
    async series(req) {
      return (await fed.series(req)).data;
    },
    indexStats() {
      throw new HttpError(404, 'index/stats is not federated: ask each instance');
    },
    tail() {
      throw new HttpError(404, 'tail is not federated: tail each instance');
    },
  };
}
