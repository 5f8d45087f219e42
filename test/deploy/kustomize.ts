/**
 * Test support: `kustomize build`, for the subset deploy/k8s uses, so the tests see the objects
 * `kubectl apply -k` would send without a kustomize binary. It follows `resources:` (files and
 * directories, recursively) and `components:` (each a `kind: Component` directory, applied after
 * the resources, in order), applies `patches:` that delete an object (`$patch: delete`), and
 * `images:` (newName, newTag, digest) to every container. Anything else kustomize knows is
 * refused by name, never ignored, so a manifest the tests pass is one they understood; and as
 * kustomize does, it fails on two objects with one id and on a patch that matches nothing.
 */
import { readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { z } from "zod";

/** A Kubernetes object as YAML gives it: its identity checked, the rest left to the schemas. */
export const k8sObjectSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().optional() }),
});
export type K8sObject = z.infer<typeof k8sObjectSchema>;

const imageSchema = z.strictObject({
  name: z.string().min(1),
  newName: z.string().min(1).optional(),
  newTag: z.string().min(1).optional(),
  digest: z.string().startsWith("sha256:").optional(),
});

const fields = {
  resources: z.array(z.string().min(1)).default([]),
  components: z.array(z.string().min(1)).default([]),
  patches: z.array(z.strictObject({ path: z.string().min(1) })).default([]),
  images: z.array(imageSchema).default([]),
};

/** kustomization.yaml: the fields this renderer knows; any other is an error (strict). */
export const kustomizationSchema = z.discriminatedUnion("kind", [
  z.strictObject({ apiVersion: z.literal("kustomize.config.k8s.io/v1beta1"), kind: z.literal("Kustomization"), ...fields }),
  z.strictObject({ apiVersion: z.literal("kustomize.config.k8s.io/v1alpha1"), kind: z.literal("Component"), ...fields }),
]);
export type Kustomization = z.infer<typeof kustomizationSchema>;

/** The only patch deploy/k8s needs: remove an object the base made (KEDA's component removes the HPA). */
export const deletePatchSchema = z.strictObject({
  $patch: z.literal("delete"),
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.strictObject({ name: z.string().min(1), namespace: z.string().optional() }),
});

/** Every YAML document of a file, as plain data; a syntax error or a duplicate key throws, naming the file. */
export function readYamlDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, "utf8"), { prettyErrors: true });
  // parseAllDocuments answers an EmptyStream (no documents), or the documents.
  const list = Array.isArray(docs) ? docs : [];
  return list.map((doc, i) => {
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) throw new Error(`${file} (document ${i + 1}): ${problem.message}`);
    const value: unknown = doc.toJS();
    return value;
  });
}

/** Reads `<dir>/kustomization.yaml`; a field this renderer does not know throws, naming it. */
export function readKustomization(dir: string): Kustomization {
  const file = join(dir, "kustomization.yaml");
  const [doc, ...more] = readYamlDocuments(file);
  if (more.length > 0) throw new Error(`${file}: one document expected, found ${more.length + 1}`);
  const parsed = kustomizationSchema.safeParse(doc);
  if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The id kustomize matches objects by: group, kind, namespace and name (not the version). */
export function objectId(o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string | undefined } }): string {
  const group = o.apiVersion.includes("/") ? o.apiVersion.slice(0, o.apiVersion.lastIndexOf("/")) : "core";
  return `${group}/${o.kind}/${o.metadata.namespace ?? "~default"}/${o.metadata.name}`;
}

/** `value[key]` when value is an object (the very object, not a parsed copy: the images transformer edits it in place). */
function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? Object.getOwnPropertyDescriptor(value, key)?.value : undefined;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** Every container and init container of a workload's pod template (Deployment, Job, …) or of a Pod. */
function containersOf(o: K8sObject): Record<string, unknown>[] {
  const spec = field(o, "spec");
  const podSpec = field(field(spec, "template"), "spec") ?? spec;
  return ["containers", "initContainers"].flatMap((key) => {
    const list = field(podSpec, key);
    return Array.isArray(list) ? list.filter(isRecord) : [];
  });
}

/** kustomize's images transformer: a container image whose name (before `:` or `@`) matches is rewritten. */
function applyImages(objects: K8sObject[], images: Kustomization["images"]): void {
  for (const o of objects) {
    for (const container of containersOf(o)) {
      const image = container.image;
      if (typeof image !== "string") continue;
      const name = image.replace(/@.*$/, "").replace(/:[^:/]*$/, "");
      const rule = images.find((i) => i.name === name);
      if (!rule) continue;
      const tag = image.slice(name.length);
      const suffix = rule.digest ? `@${rule.digest}` : rule.newTag ? `:${rule.newTag}` : tag;
      container.image = `${rule.newName ?? name}${suffix}`;
    }
  }
}

function addAll(into: Map<string, K8sObject>, objects: K8sObject[], where: string): void {
  for (const o of objects) {
    const id = objectId(o);
    if (into.has(id)) throw new Error(`${where}: ${o.kind} '${o.metadata.name}' is defined twice (kustomize refuses duplicate ids)`);
    into.set(id, o);
  }
}

function readResourceFile(file: string): K8sObject[] {
  return readYamlDocuments(file)
    .filter((doc) => doc !== null)
    .map((doc, i) => {
      const parsed = k8sObjectSchema.safeParse(doc);
      if (!parsed.success) throw new Error(`${file} (document ${i + 1}) is not a Kubernetes object: ${z.prettifyError(parsed.error)}`);
      return parsed.data;
    });
}

/** Applies one kustomization's (or component's) own resources, components, patches and images to `into`. */
function build(dir: string, kind: Kustomization["kind"], into: Map<string, K8sObject>, root: string): void {
  const k = readKustomization(dir);
  const where = relative(root, join(dir, "kustomization.yaml")) || "kustomization.yaml";
  if (k.kind !== kind) throw new Error(`${where}: expected kind ${kind}, found ${k.kind} (components go under components:, kustomizations under resources:)`);
  for (const entry of k.resources) {
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) {
      const inner = new Map<string, K8sObject>();
      build(path, "Kustomization", inner, root);
      addAll(into, [...inner.values()], where);
    } else {
      addAll(into, readResourceFile(path), where);
    }
  }
  for (const entry of k.components) build(resolve(dir, entry), "Component", into, root);
  for (const patch of k.patches) {
    const file = resolve(dir, patch.path);
    const [doc] = readYamlDocuments(file);
    const parsed = deletePatchSchema.safeParse(doc);
    if (!parsed.success) throw new Error(`${relative(root, file)}: only '$patch: delete' patches are understood here: ${z.prettifyError(parsed.error)}`);
    const id = objectId(parsed.data);
    if (!into.delete(id))
      throw new Error(`${relative(root, file)}: no ${parsed.data.kind} '${parsed.data.metadata.name}' to delete (kustomize fails on a patch without a target)`);
  }
  applyImages([...into.values()], k.images);
}

/**
 * The objects `kustomize build <dir>` would print, in the order they were added.
 *
 * @example
 * const objects = renderKustomization("deploy/k8s/overlays/keda");
 * objects.filter((o) => o.kind === "ScaledObject");
 */
export function renderKustomization(dir: string): K8sObject[] {
  const into = new Map<string, K8sObject>();
  build(resolve(dir), "Kustomization", into, resolve(dir));
  return [...into.values()];
}
