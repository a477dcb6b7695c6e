/**
 * What the analysis knows about individual commands: which ones wrap another command, which read,
 * write or delete their operands, which talk to the network, which options take a value (so the value
 * is not mistaken for an operand), and the long options GNU-style parsers accept abbreviated.
 */
import type { Access } from '../facts.ts';

/** Shells that run `-c STRING`, a script operand, or commands from stdin. */
export const SHELLS = new Set([
  'sh',
  'bash',
  'zsh',
  'dash',
  'ksh',
  'mksh',
  'fish',
  'ash',
  'rbash',
  'busybox',
]);

/** Interpreters and the options that take inline code. */
export const INTERPRETERS: Record<string, string[]> = {
  python: ['-c'],
  python2: ['-c'],
  python3: ['-c'],
  pypy: ['-c'],
  pypy3: ['-c'],
  node: ['-e', '--eval', '-p', '--print'],
  nodejs: ['-e', '--eval', '-p', '--print'],
  bun: ['-e', '--eval', '-p', '--print'],
  deno: ['eval'],
  perl: ['-e', '-E'],
  ruby: ['-e'],
  php: ['-r'],
  lua: ['-e'],
  luajit: ['-e'],
  Rscript: ['-e'],
  osascript: ['-e'],
  pwsh: ['-c', '-command', '-Command'],
  powershell: ['-c', '-command', '-Command'],
  tclsh: [],
  groovy: ['-e'],
  julia: ['-e'],
  elixir: ['-e'],
};

/** Commands whose output is their (file or stdin) input, possibly transformed. */
export const READERS = new Set([
  'cat',
  'tac',
  'nl',
  'less',
  'more',
  'most',
  'head',
  'tail',
  'bat',
  'batcat',
  'xxd',
  'od',
  'hexdump',
  'hd',
  'strings',
  'base64',
  'base32',
  'basenc',
  'uuencode',
  'sort',
  'uniq',
  'cut',
  'paste',
  'column',
  'fold',
  'fmt',
  'rev',
  'tr',
  'wc',
  'md5sum',
  'sha1sum',
  'sha256sum',
  'sha512sum',
  'cksum',
  'diff',
  'cmp',
  'comm',
  'jq',
  'yq',
  'gzip',
  'gunzip',
  'zcat',
  'bzip2',
  'xz',
  'zstd',
  'tar',
  'zip',
  'gpg',
  'openssl',
  'iconv',
  'view',
  'vim',
  'vi',
  'nvim',
  'nano',
  'emacs',
  'code',
  'open',
  'xdg-open',
  'source',
  '.',
  'grep',
  'egrep',
  'fgrep',
  'rg',
  'ag',
  'ack',
  'awk',
  'gawk',
  'mawk',
  'sed',
  'dd',
  'pr',
  'expand',
  'look',
  'tee',
]);

/** Commands that only look at metadata (names, sizes, permissions), never contents. */
export const METADATA = new Set([
  'ls',
  'll',
  'la',
  'stat',
  'file',
  'du',
  'df',
  'test',
  '[',
  '[[',
  'realpath',
  'readlink',
  'tree',
  'exa',
  'eza',
  'lsd',
  'find',
  'fd',
  'fdfind',
  'locate',
  'namei',
  'cd',
  'pushd',
  'dirname',
  'basename',
]);

export const DELETERS = new Set(['rm', 'rmdir', 'unlink', 'shred', 'srm', 'wipe', 'trash', 'trash-put']);
export const WRITERS = new Set(['touch', 'mkdir', 'truncate', 'install', 'mkfifo', 'mknod', 'tee']);
export const PERMS = new Set(['chmod', 'chown', 'chgrp', 'chattr', 'setfacl']);

export const NETWORK_TOOLS = new Set([
  'curl',
  'wget',
  'http',
  'https',
  'xh',
  'xhs',
  'curlie',
  'httpie',
  'aria2c',
  'axel',
  'nc',
  'ncat',
  'netcat',
  'telnet',
  'socat',
  'ssh',
  'scp',
  'sftp',
  'rsync',
  'ftp',
  'lftp',
  'tftp',
  'rcp',
  'openssl',
]);
export const DNS_TOOLS = new Set(['dig', 'nslookup', 'host', 'drill', 'kdig', 'resolvectl']);
export const CLIPBOARD = new Set(['pbcopy', 'xclip', 'xsel', 'wl-copy', 'clip.exe', 'clip']);
/** Produce the environment (secrets often live there). */
export const ENV_DUMPERS = new Set(['env', 'printenv', 'set', 'export', 'declare', 'typeset', 'compgen']);
/** Commands whose output identifies the machine or user (used to tag DNS/URL exfiltration). */
export const IDENTITY = new Set(['whoami', 'id', 'hostname', 'uname', 'groups', 'ifconfig', 'ip']);

/** Short options that take a value, per command (the value is not an operand). */
const SHORT_VALUE: Record<string, string> = {
  git: 'Cc',
  curl: 'dFHToXuAeEKbcrwmyYzQxUC',
  wget: 'OoPaeTtUiQ',
  head: 'nc',
  tail: 'nc',
  grep: 'efmABCd',
  egrep: 'efmABCd',
  rg: 'egtTmABCMj',
  sed: 'ef',
  awk: 'fvF',
  gawk: 'fvF',
  sort: 'tkoST',
  cut: 'dfcb',
  xargs: 'IndPELsa',
  find: '',
  ssh: 'bcDEeFIiJLlmOopQRSWw',
  scp: 'cFiJloPS',
  nc: 'epsiwqIOTXx',
  ncat: 'epsiwcx',
  tar: 'fCT',
  chmod: '',
  docker: 'evwpu',
  kubectl: 'nfcl',
  timeout: 'sk',
  sudo: 'ugpChDrtTU',
  doas: 'uC',
  su: 'cs',
  env: 'uCS',
  nice: 'n',
  ionice: 'cnp',
  stdbuf: 'ioe',
  'ssh-keygen': 'tfbCNnIOPZ',
  psql: 'cdfhUpv',
  mysql: 'eDhuPp',
  sqlite3: '',
  gpg: 'ourk',
  openssl: '',
  base64: 'w',
  dd: '',
  npm: 'w',
  aws: '',
  rsync: 'e',
  tee: '',
  cp: 'tS',
  mv: 'tS',
  ln: 'tS',
  install: 'mogt',
  diff: 'xXI',
  jq: '',
  zip: '',
  unzip: 'dx',
  crontab: 'u',
  systemctl: 'HMpt',
  dig: 'bfkpqtxy',
  mkfs: 'tL',
  parallel: 'jS',
  watch: 'nd',
  flock: 'wE',
};

/** Long options that take a separate value (`--output file`), per command. */
const LONG_VALUE: Record<string, string[]> = {
  curl: [
    '--data',
    '--data-binary',
    '--data-raw',
    '--data-urlencode',
    '--data-ascii',
    '--json',
    '--form',
    '--form-string',
    '--header',
    '--upload-file',
    '--output',
    '--user',
    '--request',
    '--url',
    '--cookie',
    '--cookie-jar',
    '--user-agent',
    '--referer',
    '--proxy',
    '--config',
    '--connect-timeout',
    '--max-time',
    '--retry',
    '--resolve',
    '--cacert',
    '--cert',
    '--key',
    '--write-out',
  ],
  wget: [
    '--output-document',
    '--post-data',
    '--post-file',
    '--body-file',
    '--body-data',
    '--header',
    '--method',
  ],
  git: ['--git-dir', '--work-tree', '--namespace', '--exec-path'],
  grep: ['--regexp', '--file', '--include', '--exclude', '--exclude-dir', '--max-count', '--context'],
  rg: ['--regexp', '--glob', '--type', '--type-not', '--max-count', '--context', '--iglob', '--max-depth'],
  timeout: ['--signal', '--kill-after'],
  sudo: ['--user', '--group', '--prompt', '--chdir', '--host'],
  xargs: ['--replace', '--max-args', '--max-procs', '--delimiter', '--arg-file'],
  kubectl: ['--namespace', '--context', '--filename'],
  docker: ['--env', '--volume', '--publish', '--user', '--name', '--workdir'],
  tar: ['--file', '--directory'],
};

export function shortTakesValue(cmd: string, letter: string): boolean {
  return (SHORT_VALUE[cmd] ?? '').includes(letter);
}

export function longTakesValue(cmd: string, opt: string): boolean {
  return (LONG_VALUE[cmd] ?? []).includes(opt);
}

/**
 * Long options that GNU getopt and git accept abbreviated (`rm --rec`, `git reset --har`), per
 * command or `git <subcommand>`. An abbreviation is expanded only when it is unambiguous.
 */
const LONG_OPTIONS: Record<string, string[]> = {
  rm: [
    '--recursive',
    '--force',
    '--interactive',
    '--dir',
    '--verbose',
    '--no-preserve-root',
    '--preserve-root',
    '--one-file-system',
  ],
  chmod: ['--recursive', '--reference', '--verbose', '--changes', '--silent', '--quiet'],
  chown: ['--recursive', '--reference', '--verbose', '--dereference', '--from'],
  cp: ['--recursive', '--force', '--archive', '--no-clobber', '--target-directory'],
  shred: ['--remove', '--zero', '--iterations', '--force', '--verbose', '--size', '--exact'],
  'git reset': ['--hard', '--soft', '--mixed', '--merge', '--keep', '--quiet', '--patch', '--no-refresh'],
  'git clean': ['--force', '--dry-run', '--quiet', '--interactive', '--exclude'],
  'git push': [
    '--force',
    '--force-with-lease',
    '--force-if-includes',
    '--mirror',
    '--delete',
    '--all',
    '--tags',
    '--set-upstream',
    '--dry-run',
    '--prune',
    '--atomic',
    '--follow-tags',
    '--no-verify',
    '--verbose',
    '--quiet',
    '--porcelain',
    '--progress',
    '--repo',
    '--push-option',
    '--signed',
    '--thin',
    '--no-thin',
    '--receive-pack',
    '--exec',
    '--recurse-submodules',
    '--ipv4',
    '--ipv6',
  ],
  'git checkout': [
    '--force',
    '--quiet',
    '--merge',
    '--detach',
    '--orphan',
    '--track',
    '--patch',
    '--ours',
    '--theirs',
  ],
  'git restore': [
    '--staged',
    '--worktree',
    '--source',
    '--patch',
    '--quiet',
    '--ours',
    '--theirs',
    '--merge',
  ],
  'git stash': ['--keep-index', '--include-untracked', '--all', '--quiet', '--patch', '--message'],
  'git branch': ['--delete', '--force', '--move', '--copy', '--list', '--all', '--remotes', '--verbose'],
  'git worktree': ['--force'],
  'git gc': ['--prune', '--aggressive', '--auto', '--quiet', '--force'],
  'git reflog': ['--expire', '--expire-unreachable', '--all', '--rewrite', '--updateref'],
};

/** Expands an unambiguous abbreviation of a long option; returns the option unchanged otherwise. */
export function expandLongOption(key: string, opt: string): string {
  const known = LONG_OPTIONS[key];
  if (known === undefined || known.includes(opt)) return opt;
  const hits = known.filter((k) => k.startsWith(opt));
  return hits.length === 1 ? (hits[0] as string) : opt;
}

/** The access a command has to its path operands. */
export function operandAccess(cmd: string): Access {
  if (DELETERS.has(cmd)) return 'delete';
  if (WRITERS.has(cmd)) return 'write';
  if (PERMS.has(cmd)) return 'perm';
  if (METADATA.has(cmd)) return 'metadata';
  if (READERS.has(cmd)) return 'read';
  if (SHELLS.has(cmd) || cmd in INTERPRETERS) return 'exec';
  return 'unknown';
}

/** Commands that are plain data producers: their arguments are text, never paths or commands. */
export const DATA_ONLY = new Set(['echo', 'printf', 'true', 'false', ':', 'exit', 'return', 'shift']);

/** Private, loopback or local host names: requests there do not leave the machine or the LAN. */
export function isLocalHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === '' || h === 'localhost' || h.endsWith('.localhost') || h === '::1' || h === '0.0.0.0')
    return true;
  const m = /^(\d{1,3})\.(\d{1,3})\.\d{1,3}\.\d{1,3}$/.exec(h);
  if (!m)
    return h.startsWith('fc') || h.startsWith('fd')
      ? /^f[cd][0-9a-f]{2}:/.test(h) && h !== 'fd00:ec2::254'
      : false;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}
