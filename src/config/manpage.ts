// The man page and the bash completion, made from the same option tables as --help:
// `node dist/src/config/manpage.js man VERSION > shadowtap.1` and
// `node dist/src/config/manpage.js bash > shadowtap` (packaging/build-deb.sh does both).

import { PROGRAM_DESCRIPTION, commandHelp, commandOptions } from './commands';
import type { OptionRow } from './options';
import { readmeDefault } from './readme-table';

type CommandName = keyof typeof commandOptions;
const commands = Object.keys(commandOptions) as CommandName[];

/** '-p, --port <port>' → ['-p', '--port'] and '<port>' (null for a switch). */
const namesOf = (row: OptionRow): string[] => row.flag.split(/\s+[<[]/)[0].split(/,\s*/);
const argumentOf = (row: OptionRow): string | null => /\s([<[].*)$/.exec(row.flag)?.[1] ?? null;

/** Options whose value is a path: the completion offers files. */
const PATH_FLAGS = new Set(['--file', '--config', '--summary-json', '--out', '--output', '--html', '--redact-key-file', '--shadow-ca']);

/** roff-escaped text: backslashes, hyphens, a leading dot or quote that would read as a
 * request, and non-ASCII characters as groff's \[uXXXX]. */
const roff = (text: string): string => text.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^[.']/gm, '\\&$&')
  .replace(/[^\x00-\x7f]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`);

/** Markdown code spans and links as plain text. */
const plain = (text: string): string => text.replace(/\[([^\]]+)\]\([^)]+\)/g, '$1').replace(/`([^`]*)`/g, '$1');

function optionEntry(row: OptionRow): string {
  const arg = argumentOf(row);
  const names = namesOf(row).map((n) => `\\fB${roff(n)}\\fR`).join(', ');
  const dflt = readmeDefault(row);
  const env = row.cliOnly ? '' : ` (config key ${row.key}, environment ${row.env})`;
  const text = plain(row.readme ?? row.help);
  return `.TP\n${names}${arg !== null ? ` \\fI${roff(arg)}\\fR` : ''}\n${roff(/[.!?)]$/.test(text) ? text : `${text}.`)}` +
    `${dflt !== '' && dflt !== 'none' ? ` Default: ${roff(plain(dflt))}.` : ''}${roff(env)}\n`;
}

export function manPage(version: string): string {
  const out = [
    `.TH SHADOWTAP 1 "" "shadowtap ${roff(version)}" "User Commands"`,
    '.SH NAME', `shadowtap \\- ${roff(PROGRAM_DESCRIPTION.replace(/\.$/, ''))}`,
    '.SH SYNOPSIS', ...commands.map((c) => `\\fBshadowtap ${roff(c)}\\fR [\\fIoptions\\fR]${commandHelp[c].argument ? ` \\fI${roff(commandHelp[c].argument!.replace(/[<>]/g, '').toUpperCase())}\\fR` : ''}\n.br`),
    '\\fBshadowtap \\-\\-version\\fR',
    '.SH DESCRIPTION',
    roff('Option values come from flags, then SHADOWTAP_* environment variables, then the --config file, then the defaults. ' +
      'The full documentation is /usr/share/doc/shadowtap/README.md.'),
    '.SH COMMANDS',
  ];
  for (const c of commands) {
    out.push(`.SS ${roff(c)}`, roff(`${commandHelp[c].description}.`));
    const seen = new Set<string>();
    for (const row of commandOptions[c]) {
      if (seen.has(row.flag)) continue;
      seen.add(row.flag);
      out.push(optionEntry(row).trimEnd());
    }
  }
  out.push('.SH EXIT STATUS',
    '.TP\n0\ndone.',
    `.TP\n1\n${roff('a failure at run time (the capture failed, a recording could not be written); verdict: not fit to promote; check-config: problems found.')}`,
    `.TP\n2\n${roff('usage or configuration: an unknown option, a bad value, an invalid --filter, a missing input file, an output path that cannot be written, a shadow that is production itself.')}`,
    `.TP\n3\n${roff('the environment: no such interface, capture without root or CAP_NET_RAW, a shadow name that does not resolve.')}`,
    '.SH FILES', '.TP\n/etc/shadowtap/shadowtap.yaml\nthe configuration read by shadowtap.service.',
    '.SH SEE ALSO', '\\fBpcap\\-filter\\fR(7), \\fBsystemctl\\fR(1), \\fBjournalctl\\fR(1)');
  return `${out.join('\n')}\n`;
}

/** A bash completion: commands, each command's flags, choices, interfaces and files. */
export function bashCompletion(): string {
  const cases = commands.map((c) => {
    const flags = [...new Set(commandOptions[c].flatMap(namesOf))];
    return `    ${c}) opts="${[...flags, '--help'].join(' ')}" ;;`;
  });
  const rows = commands.flatMap((c) => commandOptions[c]);
  const choices = [...new Map(rows.filter((r) => r.type === 'string' && r.choices !== undefined).map((r) => [r.long, r])).values()]
    .map((r) => `    ${r.long}) COMPREPLY=($(compgen -W "${(r.type === 'string' ? r.choices ?? [] : []).join(' ')}" -- "$cur")); return ;;`);
  const valued = [...new Set(rows.filter((r) => argumentOf(r)?.startsWith('<') === true).flatMap(namesOf))];
  const paths = [...PATH_FLAGS].filter((f) => valued.includes(f));
  return `# bash completion for shadowtap (generated from its option tables)
_shadowtap() {
  local cur prev cmd opts i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) cmd="\${COMP_WORDS[i]}"; break ;; esac
  done
  if [ -z "$cmd" ]; then
    COMPREPLY=($(compgen -W "${commands.join(' ')} --version --help" -- "$cur"))
    return
  fi
  case "$prev" in
${choices.join('\n')}
    -i|--interface) COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null) any" -- "$cur")); return ;;
    ${paths.join('|')}) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return ;;
    ${valued.filter((f) => !paths.includes(f) && f !== '-i' && f !== '--interface').join('|')}) return ;;
  esac
  case "$cmd" in
${cases.join('\n')}
    *) return ;;
  esac
  if [[ "$cur" == -* ]] || [ -z "$cur" ]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [ "$cmd" = report ] || [ "$cmd" = verdict ]; then
    COMPREPLY=($(compgen -d -- "$cur")); compopt -o filenames 2>/dev/null
  fi
}
complete -F _shadowtap shadowtap
`;
}

if (require.main === module) {
  const [what, version] = process.argv.slice(2);
  if (what === 'man') process.stdout.write(manPage(version ?? 'unknown'));
  else if (what === 'bash') process.stdout.write(bashCompletion());
  else {
    process.stderr.write('usage: manpage.js man VERSION | bash\n');
    process.exitCode = 2;
  }
}
