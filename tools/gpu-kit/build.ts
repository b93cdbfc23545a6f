// `npm run gpu:kit`: writes gpu-kit/, one folder that benchmarks the library on a bare Linux x86-64
// machine with an NVIDIA GPU, no network and no Node (`bash gpu-kit/run.sh`). It carries:
//   node.xz                 this Node binary, xz-compressed (unpacked at run time, by xz or python3's lzma)
//   libonnxruntime.so.1.xz  onnxruntime-node's Linux x64 runtime (CPU and WebGPU/Dawn providers)
//   app/                    the benchmarks (bench/gpu.ts, bench/gpu-families.ts, bench/pipeline.ts), the model generator and the report, bundled with the library
//                           and its runtime dependencies; onnxruntime-node's JS and binding beside them
//   app/gpu_st.py           the sentence-transformers peer (the device's own python3, torch and CUDA)
//   lib/                    Debian's Vulkan loader (libvulkan1) and glvnd's libraries (libglvnd0, libglx0,
//                           libegl1, libgl1, libopengl0, libgles2): the device machines have the NVIDIA
//                           Vulkan driver but neither the loader nor the glvnd libraries it needs
//   run.sh, README.md
// Usage: tsx tools/gpu-kit/build.ts [--out DIR]
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);

/** The kit's size limit: it must travel with a device call (64 MiB with the repository). */
export const KIT_LIMIT_BYTES = 60 * 2 ** 20;

/** Shared libraries the kit carries for the Vulkan loader, by soname. */
// NVIDIA's Vulkan driver lives in its GLX vendor library, which only initialises beside glvnd's
// dispatch libraries: with the loader alone, vkCreateInstance is not found ("Found no drivers").
const VULKAN_LIBS = ['libvulkan.so.1', 'libGLdispatch.so.0', 'libGLX.so.0', 'libEGL.so.1', 'libGL.so.1', 'libOpenGL.so.0', 'libGLESv2.so.2'];

/** Finds a shared library on this machine by soname (ldconfig's cache, then Debian's multiarch folder). */
function findLibrary(soname: string): string {
  const cache = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' });
  const line = cache.split('\n').find((l) => l.trim().startsWith(`${soname} (`) && l.includes('x86-64'));
  const path = line?.split('=>')[1]?.trim() ?? `/usr/lib/x86_64-linux-gnu/${soname}`;
  if (!existsSync(path)) throw new Error(`${soname} is not installed here: apt-get install libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libopengl0 libgles2 (Debian), then build the kit again`);
  return realpathSync(path);
}

/** The folder of an installed package as Node would find it from `from` (its exports may hide package.json). */
function packageFolder(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`${name} is not installed (needed by ${from})`);
  }
}

function xz(source: string, target: string): void {
  // Level 1: a third of level 3's time here (6 s against 18 for Node's binary) for 5 % more bytes;
  // unpacking is as fast, and the kit stays far under its limit. npm test builds it each run.
  execFileSync('sh', ['-c', 'xz -T0 -1 -c "$1" > "$2"', 'sh', source, target]);
}

function folderBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .reduce((sum, e) => sum + statSync(join(e.parentPath, e.name)).size, 0);
}

/** Builds the kit into `out` and returns its size in bytes. */
export async function buildKit(out = join(ROOT, 'gpu-kit')): Promise<number> {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`the kit carries this machine's Node and onnxruntime for Linux x64; this is ${process.platform} ${process.arch}`);
  rmSync(out, { recursive: true, force: true });
  const app = join(out, 'app');
  mkdirSync(app, { recursive: true });

  // The library and its dependencies in three ES modules; onnxruntime-node stays a package beside them (native binding).
  await build({
    entryPoints: {
      'bench-gpu': join(ROOT, 'bench', 'gpu.ts'),
      generate: join(ROOT, 'tools', 'gpu-kit', 'generate.ts'),
      report: join(ROOT, 'bench', 'gpu-report.ts'),
      pipeline: join(ROOT, 'bench', 'pipeline.ts'),
      families: join(ROOT, 'bench', 'gpu-families.ts'),
      // The tokenizer threads' script, found beside the bundle as tokenizer-worker.mjs.
      'tokenizer-worker': join(ROOT, 'src', 'node', 'tokenizer-worker.ts'),
    },
    outdir: app,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // vite is reached only by bench/shared.ts's demo server (dynamic import), which the kit never starts.
    external: ['onnxruntime-node', 'vite'],
    // Some bundled CommonJS code calls require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __kitRequire } from 'node:module'; const require = __kitRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  copyFileSync(join(ROOT, 'bench', 'gpu_st.py'), join(app, 'gpu_st.py'));

  const ortNode = dirname(require.resolve('onnxruntime-node/package.json'));
  const ortCommon = packageFolder('onnxruntime-common', ortNode);
  const ortTarget = join(app, 'node_modules', 'onnxruntime-node');
  const binDir = join('bin', 'napi-v6', 'linux', 'x64');
  mkdirSync(join(ortTarget, binDir), { recursive: true });
  copyFileSync(join(ortNode, 'package.json'), join(ortTarget, 'package.json'));
  cpSync(join(ortNode, 'dist'), join(ortTarget, 'dist'), { recursive: true, filter: (p) => !/\.(d\.ts|map)$/.test(p) });
  copyFileSync(join(ortNode, binDir, 'onnxruntime_binding.node'), join(ortTarget, binDir, 'onnxruntime_binding.node'));
  cpSync(ortCommon, join(app, 'node_modules', 'onnxruntime-common'), { recursive: true, filter: (p) => !/\.(d\.ts|map)$/.test(p) && !relative(ortCommon, p).startsWith('lib') });
  xz(join(ortNode, binDir, 'libonnxruntime.so.1'), join(out, 'libonnxruntime.so.1.xz'));
  xz(process.execPath, join(out, 'node.xz'));

  mkdirSync(join(out, 'lib'));
  for (const soname of VULKAN_LIBS) copyFileSync(findLibrary(soname), join(out, 'lib', soname));

  copyFileSync(join(ROOT, 'tools', 'gpu-kit', 'run.sh'), join(out, 'run.sh'));
  copyFileSync(join(ROOT, 'tools', 'gpu-kit', 'README.md'), join(out, 'README.md'));
  writeFileSync(join(out, 'kit.json'), JSON.stringify({ node: process.version, onnxruntimeNode: require('onnxruntime-node/package.json').version, built: new Date().toISOString() }, null, 2) + '\n');
  const bytes = folderBytes(out);
  if (bytes > KIT_LIMIT_BYTES) throw new Error(`the kit is ${(bytes / 2 ** 20).toFixed(1)} MiB, over its ${KIT_LIMIT_BYTES / 2 ** 20} MiB limit`);
  return bytes;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const at = process.argv.indexOf('--out');
  const out = at > 0 ? resolve(process.argv[at + 1]!) : join(ROOT, 'gpu-kit');
  const bytes = await buildKit(out);
  console.log(`GPU kit: ${out} (${(bytes / 2 ** 20).toFixed(1)} MiB). On the GPU machine: bash ${relative(process.cwd(), out) || '.'}/run.sh`);
}
