/** Events for the fleet tests: the recorded session as two sessions of one host, each with a planted write. */
import { normalize } from '../src/ingest/index.ts';
import type { Store } from '../src/store/index.ts';
import { fixturePayloads } from './helpers.ts';

export const T0 = Date.now() - 3_600_000;
let seq = 0;

/** The recorded hook calls as sessions `<host>-s1` and `<host>-s2`, each ending with a Write of one shared file. */
export function fill(store: Store, host: string): void {
  const payloads = fixturePayloads();
  const sessions = [`${host}-s1`, `${host}-s2`];
  const events = sessions.flatMap((session, k) => [
    ...payloads.map((p) => ({ ...p, session_id: session })),
    {
      session_id: session,
      hook_event_name: 'PreToolUse',
      tool_name: 'Write',
      tool_use_id: `w-${host}-${k}`,
      tool_input: { file_path: `/home/dev/project/shared-${host}.ts`, content: 'x' },
    },
  ]);
  store.insertBatch(
    events.map((p, i) => ({
      event: normalize(
        {
          name: `${1000 + i}.${host}.project`,
          path: '',
          mtimeMs: T0 + i * 10,
          scope: 'project',
          projectDir: '/home/dev/project',
          body: Buffer.from(JSON.stringify(p)),
        },
        { user: 'dev', host, telemetryVersion: '1.0.0', capture: 'metadata' },
      ),
      auditSeq: ++seq,
    })),
  );
}
