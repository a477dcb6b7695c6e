/**
 * Forwarding routes: which sinks get an event, by agent, project and host (globs). Routes are tried in order and
 * the first one whose conditions all match decides; with routes configured, an event no route matches goes to no
 * sink (counted as skipped in each sink's status). Without routes, every sink gets every event.
 */
import picomatch from 'picomatch';
import type { TelemetryEvent } from '../types.ts';
import type { RouteConfig } from './config.ts';

type Test = (event: TelemetryEvent) => boolean;

function globTest(pattern: string, values: (e: TelemetryEvent) => (string | undefined | null)[]): Test {
  const isMatch = picomatch(pattern, { dot: true });
  return (e) => values(e).some((v) => typeof v === 'string' && isMatch(v));
}

function compile(route: RouteConfig): Test[] {
  const tests: Test[] = [];
  // An agent is named by its type (Explore, general-purpose...) or its id; the main agent has neither.
  if (route.agent !== undefined) tests.push(globTest(route.agent, (e) => [e.agent_type, e.agent_id]));
  // A pattern with a '/' is about the project's path, otherwise about its name.
  if (route.project !== undefined) {
    const byPath = route.project.includes('/');
    tests.push(globTest(route.project, (e) => [byPath ? e.project_path : e.project_name]));
  }
  if (route.host !== undefined) tests.push(globTest(route.host, (e) => [e.metadata?.host]));
  return tests;
}

/** Returns the sink names an event goes to. */
export function compileRoutes(
  routes: readonly RouteConfig[],
  allSinks: readonly string[],
): (e: TelemetryEvent) => ReadonlySet<string> {
  const all: ReadonlySet<string> = new Set(allSinks);
  if (routes.length === 0) return () => all;
  const compiled = routes.map((r) => ({ tests: compile(r), sinks: new Set(r.sinks) as ReadonlySet<string> }));
  const none: ReadonlySet<string> = new Set();
  return (e) => compiled.find((r) => r.tests.every((t) => t(e)))?.sinks ?? none;
}
