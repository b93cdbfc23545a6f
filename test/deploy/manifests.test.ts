// The Kubernetes manifests in deploy/, validated offline against Kubernetes' published API: the
// JSON schemas of its OpenAPI spec as compiled by kubernetes-models (types, enums, required
// fields, formats), and, since that schema lets unknown fields through while kubectl's strict
// validation refuses them, the same package's TypeScript declarations of the API (a misspelt field
// is an excess property there). Deliberately broken copies must fail, naming the field. The
// Containerfile's steps must be README's install.
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const ROOT = resolve(import.meta.dirname, '../..');
const DEPLOY = join(ROOT, 'deploy');
const JOB = readFileSync(join(DEPLOY, 'indexed-job.yaml'), 'utf8');

type Manifest = { apiVersion: string; kind: string; [field: string]: unknown };

/** The documents of a YAML file, or a problem naming the YAML error. */
function documents(text: string): Manifest[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length) throw new Error(`YAML: ${doc.errors[0]!.message}`);
    return doc.toJS() as Manifest;
  });
}

/**
 * The schema problems of one manifest: the published schema of its apiVersion and kind (as
 * kubernetes-models compiles it), e.g. "data/spec/completionMode must be equal to one of the allowed values".
 */
async function schemaProblems(manifest: Manifest): Promise<string[]> {
  // kubernetes-models lays out one module a kind: batch/v1/Job, v1/Pod...
  const module = (await import(/* @vite-ignore */ `kubernetes-models/${manifest.apiVersion}/${manifest.kind}`)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = module[manifest.kind];
  if (!Model) return [`no published schema for ${manifest.apiVersion} ${manifest.kind}`];
  try {
    new Model(manifest).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

/**
 * Fields the API does not have, per manifest: each manifest is type-checked as an object literal of
 * the kind's TypeScript interface (kubernetes-models' IJob...), in one program for all of them.
 */
function unknownFields(manifests: Record<string, Manifest>): Record<string, string[]> {
  const files = new Map(Object.entries(manifests).map(([name, m]) => [join(ROOT, 'test', 'deploy', `__${name}__.ts`), [name, m] as const]));
  const sources = new Map([...files].map(([file, [, m]]) => [file,
    `import type { I${m.kind} } from 'kubernetes-models/${m.apiVersion}/${m.kind}';\nexport const manifest: I${m.kind} = ${JSON.stringify(m, null, 1)};\n`]));
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists } = host;
  host.getSourceFile = (name, language, ...rest) => (sources.has(name)
    ? ts.createSourceFile(name, sources.get(name)!, language)
    : getSourceFile.call(host, name, language, ...rest));
  host.fileExists = (name) => sources.has(name) || fileExists.call(host, name);
  const program = ts.createProgram([...sources.keys()], options, host);
  const found: Record<string, string[]> = Object.fromEntries(Object.keys(manifests).map((name) => [name, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const [name] = files.get(d.file?.fileName ?? '') ?? [];
    if (name === undefined) throw new Error(`type-checking the manifests: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    found[name]!.push(ts.flattenDiagnosticMessageText(d.messageText, ' '));
  }
  return found;
}

/** This project's own rules for its Indexed Job: one completion a shard, --shards equal to it, a retry that resumes. */
function shardProblems(job: Manifest): string[] {
  const spec = job.spec as { completionMode?: string; completions?: number; template: { spec: { restartPolicy?: string; containers: { args?: string[] }[] } } };
  const args = spec.template.spec.containers[0]?.args ?? [];
  const shards = args[args.indexOf('--shards') + 1];
  const problems = [];
  if (spec.completionMode !== 'Indexed') problems.push('completionMode must be Indexed: JOB_COMPLETION_INDEX is the shard');
  if (!args.includes('--shards') || String(spec.completions) !== shards) problems.push(`--shards ${shards} must equal completions ${spec.completions}`);
  if (!args.includes('--resume')) problems.push('--resume is needed for a retried pod to continue its part');
  return problems;
}

describe('deploy/ Kubernetes manifests', () => {
  const manifests = readdirSync(DEPLOY).filter((f) => /\.ya?ml$/.test(f));

  it('every manifest is valid against the published schema of its kind, with no field the API lacks', { timeout: 60_000 }, async () => {
    expect(manifests).toContain('indexed-job.yaml');
    const all: Record<string, Manifest> = {};
    for (const file of manifests) documents(readFileSync(join(DEPLOY, file), 'utf8')).forEach((m, i) => (all[`${file.replace(/\W/g, '_')}_${i}`] = m));
    for (const [name, manifest] of Object.entries(all)) expect(await schemaProblems(manifest), name).toEqual([]);
    for (const [name, problems] of Object.entries(unknownFields(all))) expect(problems, name).toEqual([]);
    const [job] = documents(JOB);
    expect(job).toMatchObject({ apiVersion: 'batch/v1', kind: 'Job' });
    expect(shardProblems(job!)).toEqual([]);
  });

  it('fails on deliberately broken manifests, naming what is wrong', { timeout: 60_000 }, async () => {
    const broken = (from: string, to: string): Manifest => {
      expect(JOB).toContain(from);
      return documents(JOB.replace(from, to))[0]!;
    };
    const cases = {
      enum: broken('completionMode: Indexed', 'completionMode: Index'),
      type: broken('completions: 8 ', 'completions: eight '),
      required: broken('        - name: embed\n          image: bulk-embed:latest\n', '        - image: bulk-embed:latest\n'),
      misspelt: broken('backoffLimitPerIndex: 3', 'backoffLimitPerIdex: 3'),
      nested: broken('restartPolicy: Never', 'restartPolicy: Sometimes'),
    };
    expect(await schemaProblems(cases.enum)).toEqual(['data/spec/completionMode must be equal to one of the allowed values']);
    expect(await schemaProblems(cases.type)).toEqual(['data/spec/completions must be integer']);
    expect(await schemaProblems(cases.required)).toEqual(['data/spec/template/spec/containers/0 must have required property name']);
    expect(await schemaProblems(cases.nested)).toEqual(['data/spec/template/spec/restartPolicy must be equal to one of the allowed values']);
    // The published schema lets an unknown field through (Kubernetes' OpenAPI sets no additionalProperties: false) ...
    expect(await schemaProblems(cases.misspelt)).toEqual([]);
    // ... the API's declared fields do not.
    const fields = unknownFields({ misspelt: cases.misspelt, valid: documents(JOB)[0]! });
    expect(fields.valid).toEqual([]);
    expect(fields.misspelt!.join('\n')).toMatch(/'"?backoffLimitPerIdex"?' does not exist in type 'IJobSpec'/);
    // And this project's rule: --shards must equal completions.
    expect(shardProblems(broken('completions: 8 ', 'completions: 6 '))).toEqual(['--shards 8 must equal completions 6']);
  });
});

describe('deploy/Containerfile', () => {
  const containerfile = readFileSync(join(DEPLOY, 'Containerfile'), 'utf8');
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

  it('installs what README\'s install for Node and the CLI installs, the same way', () => {
    // README: `npm install bulk-embed onnxruntime-node   # Node and the `embed` CLI`, with ONNXRUNTIME_NODE_INSTALL=skip.
    const readmeInstall = /^npm install (.+?)\s+# Node and the `embed` CLI$/m.exec(readme);
    expect(readmeInstall, 'README\'s install line for Node and the CLI').not.toBeNull();
    expect(readme).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
    expect(readme).toContain('`npm install parquet-wasm`'); // the optional peer `embed export --format parquet` needs
    const run = /^RUN npm install -g (.+?) &&/m.exec(containerfile);
    expect(run, 'the Containerfile\'s npm install').not.toBeNull();
    // The image installs the packed tarball in place of the registry's bulk-embed.
    const installed = run![1]!.split(/\s+/).map((p) => (p.startsWith('/tmp/bulk-embed-') ? 'bulk-embed' : p));
    expect(installed).toEqual([...readmeInstall![1]!.split(/\s+/), 'parquet-wasm']);
    expect(containerfile).toMatch(/^ENV ONNXRUNTIME_NODE_INSTALL=skip$/m);
    // The base image's Node satisfies package.json's engines (>=20.19; node:20 images are the latest 20.x).
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('>=20.19');
    expect(containerfile).toMatch(/^FROM node:(2[0-9])-bookworm-slim$/m);
    expect(containerfile).toMatch(/^ENTRYPOINT \["embed"\]$/m);
  });
});
