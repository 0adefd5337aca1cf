// Reads the few Dockerfile instructions our images use, so that a test can replay a build without
// Docker. Anything else is refused, so that a new instruction cannot be skipped unnoticed. Of a
// multi-stage file, the first stage is the build that is replayed; the last stage's
// `COPY --from=<first stage>` sources are what the image takes from it.

export type BuildStep = { kind: 'copy'; sources: string[]; destination: string } | { kind: 'run'; command: string[] };

export interface DockerfileSteps {
  /** ENV, in order (a later value wins). */
  env: Record<string, string>;
  /** COPY and RUN, in order. */
  build: BuildStep[];
  /** CMD, in its JSON (exec) form. */
  cmd: string[];
  /** The replayed stage's WORKDIR. */
  workdir: string;
  /** Paths the last stage copies from the replayed stage (`COPY --from=<its name>`). */
  copiedFromBuild: string[];
}

const words = (text: string) => text.split(/\s+/).map((word) => word.replace(/^"(.*)"$/, '$1'));

export function dockerfileSteps(text: string): DockerfileSteps {
  const steps: DockerfileSteps = { env: {}, build: [], cmd: [], workdir: '/', copiedFromBuild: [] };
  let stage = 0;
  let buildStage: string | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const line of lines.map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const [instruction = '', ...rest] = line.split(/\s+/);
    const argument = rest.join(' ');
    const name = instruction.toUpperCase();
    if (name === 'FROM') {
      stage += 1;
      if (stage === 1) buildStage = /\sAS\s+(\S+)$/i.exec(line)?.[1];
      continue;
    }
    if (stage > 1) {
      // A later stage: only what it takes from the replayed one matters here.
      const from = /^COPY\s+--from=(\S+)\s+(\S+)\s+\S+$/i.exec(line);
      if (from && from[1] === buildStage) steps.copiedFromBuild.push(from[2] ?? '');
      else if (name !== 'COPY' && name !== 'CMD' && name !== 'EXPOSE') throw new Error(`unsupported in a later stage: ${line}`);
      continue;
    }
    switch (name) {
      case 'WORKDIR':
        steps.workdir = argument;
        break;
      case 'USER':
      case 'EXPOSE':
        break;
      case 'ENV':
        for (const pair of rest) {
          const at = pair.indexOf('=');
          if (at <= 0) throw new Error(`ENV in the form NAME=value only: ${line}`);
          steps.env[pair.slice(0, at)] = pair.slice(at + 1);
        }
        break;
      case 'COPY': {
        const parts = words(argument);
        if (parts.some((part) => part.startsWith('--')) || parts.length < 2) throw new Error(`unsupported COPY: ${line}`);
        steps.build.push({ kind: 'copy', sources: parts.slice(0, -1), destination: parts.at(-1) ?? '' });
        break;
      }
      case 'RUN':
        if (/[;&|<>$`]/.test(argument)) throw new Error(`RUN with shell syntax is not replayed: ${line}`);
        steps.build.push({ kind: 'run', command: words(argument) });
        break;
      case 'ARG':
        // Build arguments: unset in the replay, as in a build that passes none.
        break;
      case 'CMD':
        steps.cmd = JSON.parse(argument) as string[];
        break;
      default:
        throw new Error(`Dockerfile instruction not replayed by the test: ${line}`);
    }
  }
  return steps;
}
