/**
 * The federation layer behind the same Loki routes, under /federated: a Grafana Loki datasource pointed at
 * http://127.0.0.1:3100/federated queries every configured instance at once. Responses carry an extra
 * `instances` array (which instance answered, how fast, and why one did not), which Loki clients ignore.
 *
 * The fleet routes (src/agents/federated.ts): /api/fleet/agents and /api/fleet/conflicts answer for this
 * collector's store (what its peers ask); under /federated they merge this collector's answer with its peers'.
 */
import {
  FLEET_AGENTS_PATH,
  FLEET_CONFLICTS_PATH,
  type FleetSource,
  fleetAgents,
  fleetConflicts,
  instanceBody,
  localAgents,
  localConflicts,
  parseFleetParams,
} from '../agents/federated.ts';
import type { QueryResponse } from '../query/api.ts';
import type { Federation, InstanceReport } from '../query/federation.ts';
import type { ApiEngine } from './engine.ts';
import { type Router, sendJson } from './http.ts';
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

function fleetQuery(url: URL) {
  try {
    return parseFleetParams(url.searchParams);
  } catch (err) {
    throw new HttpError(400, (err as Error).message);
  }
}

/** The fleet routes: this collector's own answer, and with peers the merged one under /federated. */
export function fleetRoutes(router: Router, src: FleetSource, peers?: Federation): Router {
  router
    .on('GET', FLEET_AGENTS_PATH, ({ req, res, url }) =>
      sendJson(req, res, instanceBody('agents', localAgents(src, fleetQuery(url)))),
    )
    .on('GET', FLEET_CONFLICTS_PATH, ({ req, res, url }) =>
      sendJson(req, res, instanceBody('conflicts', localConflicts(src, fleetQuery(url)))),
    );
  if (!peers) return router;
  return router
    .on('GET', `${FEDERATED_PREFIX}${FLEET_AGENTS_PATH}`, async ({ req, res, url }) => {
      const r = await fleetAgents(src, peers, fleetQuery(url));
      return sendJson(req, res, { agents: r.rows, instances: r.instances, partial: r.partial });
    })
    .on('GET', `${FEDERATED_PREFIX}${FLEET_CONFLICTS_PATH}`, async ({ req, res, url }) => {
      const r = await fleetConflicts(src, peers, fleetQuery(url));
      return sendJson(req, res, { conflicts: r.rows, instances: r.instances, partial: r.partial });
    });
}
