import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ENV_OVERRIDES, loadConfig, type GatewayConfig } from '../gateway/src/config/index.js';
import { freePort } from './helpers/ports.js';
import { spawnGateway, type GatewayProcess } from './helpers/process.js';

/**
 * deploy/k8s cannot be applied here (no cluster), so this file checks it the two ways that are
 * left: every object against the Kubernetes API schema (kubernetes-models' validators, plus a
 * TypeScript excess-property check against its types, which catches misspelt field names the
 * validators let through), and every setting against the gateway it runs: the config it mounts
 * loads and starts a real gateway process, the probes are routes that gateway answers, the ports,
 * paths, environment and shutdown timing agree.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, 'deploy', 'k8s');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

// ---------------------------------------------------------------------------------------------------
// The manifests

interface Kustomization {
  apiVersion: string;
  kind: string;
  resources: string[];
  configMapGenerator: { name: string; files: string[] }[];
  images: { name: string; newName?: string; newTag?: string }[];
}
const kustomization = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

function objectsIn(file: string): K8sObject[] {
  const documents = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
  return (Array.isArray(documents) ? documents : [documents]).map((document) => {
    if (document.errors.length) throw new Error(`${file}: ${document.errors[0]?.message}`);
    return document.toJS() as K8sObject;
  });
}

const resources = kustomization.resources.flatMap((file) => objectsIn(file).map((object) => ({ file, object })));
function only<T>(kind: string): T {
  const found = resources.filter(({ object }) => object.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]?.object as T;
}

/** The ConfigMap kustomize generates (its name gets a content hash, which kustomize also writes into the Deployment). */
const generator = kustomization.configMapGenerator[0];
const generatedConfigMap: K8sObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: generator?.name ?? '' },
  data: Object.fromEntries((generator?.files ?? []).map((file) => [file, readFileSync(join(dir, file), 'utf8')])),
};
const secretTemplate = objectsIn('secret.example.yaml')[0] as K8sObject & { stringData: Record<string, string> };

interface Container {
  name: string;
  image: string;
  ports: { name: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  envFrom?: { secretRef?: { name: string }; configMapRef?: { name: string } }[];
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface DeploymentObject extends K8sObject {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        containers: Container[];
        volumes: { name: string; configMap?: { name: string }; emptyDir?: object }[];
      };
    };
  };
}
const deployment = only<DeploymentObject>('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0] as Container;

/** Where the Deployment mounts the generated ConfigMap. */
const configMount = (() => {
  const volume = pod.volumes.find((entry) => entry.configMap?.name === generator?.name);
  return container.volumeMounts?.find((mount) => mount.name === volume?.name);
})();

/** The container's environment: its own `env` and the Secret's keys through `envFrom`. */
const containerEnv = Object.fromEntries((container.env ?? []).map((entry) => [entry.name, entry.value ?? '']));

/** The gateway config the pods run with: the mounted gateway.yaml and the container's environment. */
function podConfig(): GatewayConfig {
  const mounted = join(dir, containerEnv.GATEWAY_CONFIG?.slice((configMount?.mountPath ?? '').length + 1) ?? '');
  return loadConfig({ file: mounted, env: { ...containerEnv, ...secretTemplate.stringData, NODE_ENV: 'production' } });
}

/** `sleep N` of the preStop hook, in seconds (exec form or the native sleep action). */
function preStopSeconds(): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const [command, seconds] = preStop?.exec?.command ?? [];
  return command === 'sleep' ? Number(seconds) : 0;
}

// ---------------------------------------------------------------------------------------------------
// Schema checks

const MODELS: Record<string, { model: new (data: never) => { validate(): void }; type: string; module: string }> = {
  'apps/v1/Deployment': { model: Deployment as never, type: 'IDeployment', module: 'kubernetes-models/apps/v1' },
  'v1/Service': { model: Service as never, type: 'IService', module: 'kubernetes-models/v1' },
  'v1/ConfigMap': { model: ConfigMap as never, type: 'IConfigMap', module: 'kubernetes-models/v1' },
  'v1/Secret': { model: Secret as never, type: 'ISecret', module: 'kubernetes-models/v1' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler as never,
    type: 'IHorizontalPodAutoscaler',
    module: 'kubernetes-models/autoscaling/v2',
  },
  'policy/v1/PodDisruptionBudget': {
    model: PodDisruptionBudget as never,
    type: 'IPodDisruptionBudget',
    module: 'kubernetes-models/policy/v1',
  },
};
const modelOf = (object: K8sObject) => MODELS[`${object.apiVersion}/${object.kind}`];

/**
 * Type-checks each object as an object literal of its kubernetes-models interface. TypeScript's
 * excess-property check reaches into nested literals, so a misspelt field anywhere (`livenesProbe`,
 * `targetport`) is an error, as it is for `kubectl apply` with strict field validation, while the
 * JSON-schema validators of kubernetes-models accept unknown fields.
 */
function typeErrors(objects: K8sObject[]): string[] {
  const file = join(root, 'test', '__k8s_manifests__.ts');
  const source = objects
    .map((object, index) => {
      const model = modelOf(object);
      return `import type { ${model?.type} as T${index} } from '${model?.module}';\nexport const object${index}: T${index} = ${JSON.stringify(object, null, 2)};\n`;
    })
    .join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest);
  host.fileExists = (name) => name === file || fileExists(name);
  host.readFile = (name) => (name === file ? source : readFile(name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const where =
      diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start) : undefined;
    const line = where ? source.split('\n')[where.line]?.trim() : '';
    return `${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')} (at ${line})`;
  });
}

describe('deploy/k8s: every object is valid Kubernetes', () => {
  const all = [...resources.map(({ object }) => object), generatedConfigMap, secretTemplate];

  it('holds a Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget, plus the generated ConfigMap', () => {
    expect(kustomization.kind).toBe('Kustomization');
    for (const file of [...kustomization.resources, ...(generator?.files ?? [])]) expect(existsSync(join(dir, file)), file).toBe(true);
    expect(resources.map(({ object }) => object.kind).sort()).toEqual([
      'Deployment',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'Service',
    ]);
    expect(kustomization.configMapGenerator).toHaveLength(1);
  });

  it('passes the schema validators of kubernetes-models', () => {
    for (const object of all) {
      const model = modelOf(object);
      expect(model, `${object.apiVersion} ${object.kind} has a model`).toBeDefined();
      expect(
        () => new (model as NonNullable<typeof model>).model(object as never).validate(),
        `${object.kind} ${object.metadata.name}`,
      ).not.toThrow();
    }
  });

  it('has only fields the API knows, of the right types (TypeScript check against the kubernetes-models types)', () => {
    expect(typeErrors(all)).toEqual([]);
  }, 60_000);

  it('would catch a misspelt field and a wrong type (the check itself works)', () => {
    const broken = structuredClone(deployment) as DeploymentObject;
    const brokenContainer = broken.spec.template.spec.containers[0] as unknown as Record<string, unknown>;
    brokenContainer.livenesProbe = brokenContainer.livenessProbe;
    delete brokenContainer.livenessProbe;
    // The validators let the unknown field through; the type check does not.
    expect(() => new Deployment(broken as never).validate()).not.toThrow();
    const errors = typeErrors([broken]);
    expect(errors.join('\n')).toMatch(/livenesProbe/);
    const wrongType = structuredClone(deployment) as DeploymentObject;
    (wrongType.spec as unknown as Record<string, unknown>).replicas = 'two';
    expect(() => new Deployment(wrongType as never).validate()).toThrow(/replicas/);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------
// Consistency with the gateway

describe('deploy/k8s: consistent with the gateway it runs', () => {
  const podLabels = deployment.spec.template.metadata.labels;
  const matches = (selector: Record<string, string>) => Object.entries(selector).every(([key, value]) => podLabels[key] === value);

  it('runs two replicas or more with every probe on the routes the gateway serves for them', () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(matches(deployment.spec.selector.matchLabels)).toBe(true);
    expect(container.livenessProbe?.httpGet?.path).toBe('/health');
    expect(container.readinessProbe?.httpGet?.path).toBe('/ready');
    expect(container.startupProbe?.httpGet?.path).toBe('/health');
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
      expect(probe?.httpGet?.port).toBe(container.ports[0]?.name);
    }
  });

  it('mounts the generated ConfigMap where GATEWAY_CONFIG and supergraph.path point, and the config loads', () => {
    expect(configMount?.readOnly).toBe(true);
    expect(containerEnv.GATEWAY_CONFIG).toBe(`${configMount?.mountPath}/gateway.yaml`);
    expect(generator?.files).toContain('gateway.yaml');
    const config = podConfig();
    expect(config.supergraph.path).toBe(`${configMount?.mountPath}/supergraph.graphql`);
    expect(generator?.files).toContain('supergraph.graphql');
    // The env the pods get gives the Redis URL; subgraph URLs come from the file.
    expect(config.redis.url).toBe(secretTemplate.stringData.REDIS_URL);
    expect(Object.keys(config.subgraphs).sort()).toEqual(['orders', 'products', 'users']);
  });

  it('ships the committed supergraph (the ConfigMap copy is schema/supergraph.graphql, byte for byte)', () => {
    expect(readFileSync(join(dir, 'supergraph.graphql'), 'utf8')).toBe(read('schema/supergraph.graphql'));
  });

  it('exposes the port the config listens on, through the Service, and tells Prometheus where /metrics is', () => {
    const config = podConfig();
    const port = container.ports[0];
    expect(port?.containerPort).toBe(config.server.port);
    const service = only<
      K8sObject & { spec: { selector: Record<string, string>; ports: { port: number; targetPort: string | number }[] } }
    >('Service');
    expect(matches(service.spec.selector)).toBe(true);
    expect(service.spec.ports.map((entry) => entry.targetPort)).toEqual([port?.name]);
    const annotations = deployment.spec.template.metadata.annotations ?? {};
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(Number(annotations['prometheus.io/port'])).toBe(config.server.port);
    expect(annotations['prometheus.io/path']).toBe(config.metrics.path);
  });

  it('lets a pod drain: grace period longer than the preStop sleep plus server.shutdownTimeoutMs', () => {
    const config = podConfig();
    const preStop = preStopSeconds();
    expect(preStop).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + config.server.shutdownTimeoutMs / 1000);
    // and the shutdown deadline itself outlasts the request deadline, as the config schema asks.
    expect(config.server.shutdownTimeoutMs).toBeGreaterThan(config.resilience.requestDeadlineMs);
  });

  it('sets only environment variables the gateway reads, and a Secret whose keys it reads', () => {
    const config = podConfig();
    const secretEnvNames = config.auth.jwt.issuers.flatMap((issuer) => (issuer.secretEnv ? [issuer.secretEnv] : []));
    // GATEWAY_CONFIG is read by gateway/src/main.ts (the config file), not an override of one key.
    expect(read('gateway/src/main.ts')).toContain('process.env.GATEWAY_CONFIG');
    const readByGateway = (name: string) => name in ENV_OVERRIDES || /^SUBGRAPH_[A-Z0-9_]+_URL$/.test(name) || name === 'GATEWAY_CONFIG';
    for (const name of Object.keys(containerEnv)) expect(readByGateway(name), `env ${name}`).toBe(true);
    for (const name of Object.keys(secretTemplate.stringData))
      expect(readByGateway(name) || secretEnvNames.includes(name), `secret key ${name}`).toBe(true);
    expect(container.envFrom?.map((entry) => entry.secretRef?.name)).toEqual([secretTemplate.metadata.name]);
  });

  it('commits no secret: the Secret is a template of placeholders, outside the kustomization and git-ignored as secret.yaml', () => {
    expect(kustomization.resources).not.toContain('secret.example.yaml');
    for (const [key, value] of Object.entries(secretTemplate.stringData)) expect(value, key).toContain('CHANGE_ME');
    expect(resources.some(({ object }) => object.kind === 'Secret')).toBe(false);
    expect(read('.gitignore').split('\n')).toContain('deploy/k8s/secret.yaml');
  });

  it('runs non-root on a read-only root filesystem with no capabilities, with requests and limits', () => {
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.runAsUser).not.toBe(0);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    for (const resource of ['cpu', 'memory']) {
      expect(container.resources?.requests?.[resource], `requests.${resource}`).toBeDefined();
      expect(container.resources?.limits?.[resource], `limits.${resource}`).toBeDefined();
    }
    // Nothing is written to the read-only filesystem: API keys live in Redis when redis.url is set
    // (auth.apiKeys.file is only used without Redis).
    expect(podConfig().redis.url).toBeDefined();
  });

  it("scales on CPU from the Deployment's replicas, and the disruption budget keeps one serving", () => {
    const hpa = only<
      K8sObject & {
        spec: {
          scaleTargetRef: { apiVersion: string; kind: string; name: string };
          minReplicas: number;
          maxReplicas: number;
          metrics: { type: string; resource?: { name: string } }[];
        };
      }
    >('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: deployment.apiVersion, kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(deployment.spec.replicas);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    expect(hpa.spec.metrics.some((metric) => metric.type === 'Resource' && metric.resource?.name === 'cpu')).toBe(true);
    const pdb = only<
      K8sObject & { spec: { maxUnavailable?: number; minAvailable?: number; selector: { matchLabels: Record<string, string> } } }
    >('PodDisruptionBudget');
    expect(matches(pdb.spec.selector.matchLabels)).toBe(true);
    const available = pdb.spec.minAvailable ?? hpa.spec.minReplicas - (pdb.spec.maxUnavailable ?? hpa.spec.minReplicas);
    expect(available).toBeGreaterThanOrEqual(1);
    expect(available).toBeLessThan(hpa.spec.minReplicas); // a drain can always make progress
  });

  it("runs the image the Dockerfile builds (compose's federation-gateway) at the package version", () => {
    const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as { services: { gateway: { image: string } } };
    const repository = compose.services.gateway.image.split(':')[0];
    expect(container.image).toBe(repository);
    const image = kustomization.images.find((entry) => entry.name === container.image);
    expect(image?.newTag).toBe((JSON.parse(read('package.json')) as { version: string }).version);
  });
});

// ---------------------------------------------------------------------------------------------------
// The pod's config and environment, run for real

describe('deploy/k8s: a gateway process started the way a pod starts', () => {
  let mount: string;
  let gateway: GatewayProcess | undefined;
  let url = '';

  beforeAll(async () => {
    // The ConfigMap "mounted" in a temporary directory: its files, with the mount path rewritten.
    mount = mkdtempSync(join(tmpdir(), 'gw-k8s-'));
    const mountPath = configMount?.mountPath ?? '';
    for (const [name, text] of Object.entries(generatedConfigMap.data as Record<string, string>)) {
      writeFileSync(join(mount, name), text.replaceAll(`${mountPath}/`, `${mount}/`));
    }
    // The Secret's values, but Redis on a port where nothing listens: the probes must not need it.
    const redisPort = await freePort();
    gateway = spawnGateway({
      ...Object.fromEntries(Object.entries(containerEnv).map(([name, value]) => [name, value.replaceAll(`${mountPath}/`, `${mount}/`)])),
      ...secretTemplate.stringData,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      NODE_ENV: 'production', // the image's ENV
    });
    url = await gateway.ready;
  }, 60_000);

  afterAll(async () => {
    if (gateway && gateway.child.exitCode === null) {
      gateway.child.kill('SIGKILL');
      await gateway.exited;
    }
    rmSync(mount, { recursive: true, force: true });
  });

  it('answers the startup, liveness and readiness probes and the scrape with 200, with Redis down', async () => {
    const paths = [container.startupProbe, container.livenessProbe, container.readinessProbe].map((probe) => probe?.httpGet?.path ?? '');
    paths.push(deployment.spec.template.metadata.annotations?.['prometheus.io/path'] ?? '');
    for (const path of paths) {
      const response = await fetch(`${url}${path}`);
      expect(response.status, path).toBe(200);
      await response.arrayBuffer();
    }
  });

  it('exits 0 on SIGTERM well within the grace period the Deployment gives it', async () => {
    const child = gateway?.child;
    expect(child?.pid).toBeDefined();
    const started = Date.now();
    child?.kill('SIGTERM');
    const exit = await gateway?.exited;
    expect(exit?.code).toBe(0);
    expect(Date.now() - started).toBeLessThan((pod.terminationGracePeriodSeconds - preStopSeconds()) * 1000);
  }, 60_000);
});
