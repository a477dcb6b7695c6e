import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Everything the product keeps lives under one data dir (mode 0700). */
export interface DataPaths {
  home: string;
  spool: string;
  spoolTmp: string;
  spoolNew: string;
  quarantine: string;
  audit: string;
  store: string;
  storeFile: string;
  keys: string;
  logs: string;
  run: string;
  pidFile: string;
  logFile: string;
  statusFile: string;
  config: string;
  bin: string;
  hook: string;
  projectsFile: string;
}

export function dataHome(env: NodeJS.ProcessEnv = process.env): string {
  const h = env.CLAUDE_TELEMETRY_HOME;
  return h && h.trim() !== '' ? resolve(h) : join(homedir(), '.claude-telemetry');
}

export function dataPaths(home: string = dataHome()): DataPaths {
  const spool = join(home, 'spool');
  return {
    home,
    spool,
    spoolTmp: join(spool, 'tmp'),
    spoolNew: join(spool, 'new'),
    quarantine: join(home, 'quarantine'),
    audit: join(home, 'audit'),
    store: join(home, 'store'),
    storeFile: join(home, 'store', 'events.db'),
    keys: join(home, 'keys'),
    logs: join(home, 'logs'),
    run: join(home, 'run'),
    pidFile: join(home, 'run', 'collector.pid'),
    logFile: join(home, 'logs', 'collector.log'),
    statusFile: join(home, 'run', 'collector.json'),
    config: join(home, 'config.yaml'),
    bin: join(home, 'bin'),
    hook: join(home, 'bin', 'capture-hook.sh'),
    projectsFile: join(home, 'projects.json'),
  };
}
