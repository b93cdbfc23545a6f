"""The GPU kit's peer: sentence-transformers on CUDA over the same texts.

A BERT of the generated model's exact architecture (its config.json), randomly initialised
(throughput does not depend on the weights), with the model folder's own tokenizer.json, mean
pooling and normalisation: what a Python user would run on the same card. Rows are sized in
time like bench/gpu.ts (a warm-up measures the rate; measured runs take about --run-seconds)
and run in order of importance until --seconds are spent. Writes one JSON file.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import traceback

parser = argparse.ArgumentParser()
parser.add_argument('--models-dir', required=True)
parser.add_argument('--models', default='fixture-minilm,fixture-bert-base')
parser.add_argument('--corpora', required=True, help='JSON file: {"mixed": [...], "128 tokens": [...]}')
parser.add_argument('--out', required=True)
parser.add_argument('--work', default='/tmp/bulk-embed-st')
parser.add_argument('--seconds', type=float, default=90)
parser.add_argument('--run-seconds', type=float, default=5)
parser.add_argument('--runs', type=int, default=2)
args = parser.parse_args()
started = time.perf_counter()
result = {'rows': [], 'errors': [], 'skipped': []}


def elapsed():
    return time.perf_counter() - started


def save():
    result['secondsSpent'] = elapsed()
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)


try:
    import torch
    import transformers
    import sentence_transformers
    from sentence_transformers import SentenceTransformer, models
    result['versions'] = {'python': sys.version.split()[0], 'torch': torch.__version__, 'transformers': transformers.__version__,
                          'sentence_transformers': sentence_transformers.__version__,
                          'cuda': torch.version.cuda, 'device': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
except Exception:
    result['errors'].append('import: ' + traceback.format_exc())
    save()
    sys.exit(0)

corpora = json.load(open(args.corpora))


class GpuSampler:
    """nvidia-smi every 100 ms while a run lasts."""

    def __enter__(self):
        try:
            self.proc = subprocess.Popen(['nvidia-smi', '--query-gpu=utilization.gpu,memory.used', '--format=csv,noheader,nounits', '-lms', '100'],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError:
            self.proc = None
        return self

    def __exit__(self, *exc):
        self.result = None
        if not self.proc:
            return False
        self.proc.terminate()
        out, _ = self.proc.communicate()
        rows = []
        for line in out.splitlines():
            try:
                u, m = (float(x) for x in line.split(','))
                rows.append((u, m))
            except ValueError:
                pass
        if rows:
            self.result = {'meanUtilization': sum(r[0] for r in rows) / len(rows), 'samples': len(rows), 'peakMemoryMiB': max(r[1] for r in rows)}
        return False


def prepare(name):
    """Copies the tokenizer and config beside a randomly initialised torch BERT of the same shape."""
    src = os.path.join(args.models_dir, name)
    dst = os.path.join(args.work, name)
    if not os.path.exists(os.path.join(dst, 'config.json')):
        os.makedirs(dst, exist_ok=True)
        for f in ('config.json', 'tokenizer.json', 'tokenizer_config.json'):
            shutil.copy(os.path.join(src, f), dst)
        torch.manual_seed(0)
        config = transformers.BertConfig.from_pretrained(dst)
        transformers.BertModel(config).save_pretrained(dst)
    return dst


def load(path, dtype, max_seq):
    word = models.Transformer(path, max_seq_length=max_seq)
    pool = models.Pooling(word.get_word_embedding_dimension(), 'mean')
    model = SentenceTransformer(modules=[word, pool, models.Normalize()], device='cuda')
    if dtype == 'fp16':
        model.half()
    return model


def token_count(model, texts):
    total = 0
    for i in range(0, len(texts), 1024):
        total += int(model.tokenize(texts[i:i + 1024])['attention_mask'].sum())
    return total


plan = []
names = [n for n in args.models.split(',') if n]
for dtype in ('fp16', 'fp32'):
    for corpus in ('mixed', '128 tokens'):
        for batch in (32, 128):
            for i, name in enumerate(names):
                prio = (0 if dtype == 'fp16' else 2) + (0 if corpus == 'mixed' else 1) + (0 if batch == 32 else 4) + i * 0.5
                if dtype == 'fp32' and batch != 32:
                    continue
                plan.append((prio, name, dtype, corpus, batch))
plan.sort()

for _, name, dtype, corpus, batch in plan:
    label = f'{name} {dtype} {corpus} batch {batch}'
    if elapsed() + 10 + args.runs * args.run_seconds * 1.5 > args.seconds:
        result['skipped'].append(label)
        continue
    try:
        texts_all = corpora[corpus]
        model = load(prepare(name), dtype, 128 if corpus == '128 tokens' else 512)
        warm_texts = texts_all[:1000]
        t0 = time.perf_counter()
        model.encode(warm_texts, batch_size=batch)
        torch.cuda.synchronize()
        warm = time.perf_counter() - t0
        count = max(1000, min(len(texts_all), round(len(warm_texts) / warm * args.run_seconds)))
        texts = texts_all[:count]
        tokens = token_count(model, texts)
        runs = []
        for _r in range(args.runs):
            with GpuSampler() as sampler:
                t0 = time.perf_counter()
                model.encode(texts, batch_size=batch, convert_to_numpy=True)
                torch.cuda.synchronize()
                seconds = time.perf_counter() - t0
            runs.append({'seconds': seconds, 'gpu': sampler.result})
        seconds = statistics.median(r['seconds'] for r in runs)
        utils = [r['gpu']['meanUtilization'] for r in runs if r['gpu']]
        result['rows'].append({'model': name, 'dtype': dtype, 'corpus': corpus, 'batchSize': batch, 'texts': count, 'tokens': tokens,
                               'seconds': [r['seconds'] for r in runs], 'textsPerSec': count / seconds, 'tokensPerSec': tokens / seconds,
                               'gpuUtilization': statistics.median(utils) if utils else None,
                               'gpuMemoryMiB': max((r['gpu']['peakMemoryMiB'] for r in runs if r['gpu']), default=None)})
        print(f'[{elapsed():.0f} s] sentence-transformers {label}: {tokens / seconds:.0f} tokens/s', file=sys.stderr, flush=True)
        del model
        torch.cuda.empty_cache()
    except Exception:
        result['errors'].append(label + ': ' + traceback.format_exc())
        print(f'[{elapsed():.0f} s] FAILED {label}', file=sys.stderr, flush=True)
    save()
save()
