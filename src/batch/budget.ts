// Token budgets bounded in time and in memory, as functions of a batch's padded length. A batch of
// n texts padded to L tokens may take n x L <= tokensAt(L) tokens, where tokensAt is the smallest of:
//   - the time budget: a batch should take about `targetMs` (so a high-priority call waits about
//     one batch), learned from finished batches in ms per unit of compute;
//   - the memory budget: activations of n x L tokens within `memoryBytes`;
//   - a fixed cap (maxBatchTokens).
// Cost and memory both grow with L (attention is quadratic), so long batches get fewer tokens.

/** What the budgets need to know of a model: its widths (BERT naming). */
export interface ModelWidths {
  hidden: number;
  intermediate: number;
  heads: number;
}

/** Compute of one token in a batch padded to `seq` (one layer's multiply-adds, x2): dense layers plus attention. */
export function tokenCost({ hidden: h, intermediate: m }: ModelWidths, seq: number): number {
  return 2 * (4 * h * h + 2 * h * m) + 4 * seq * h;
}

/**
 * Peak activation bytes of one token padded to `seq`, for one layer at a time (ONNX Runtime reuses
 * buffers across layers): about six hidden-wide buffers (input, Q, K, V, context, output), the
 * feed-forward's two intermediate-wide ones and attention's scores and softmax, heads x seq each.
 */
export function activationBytesPerToken({ hidden: h, intermediate: m, heads }: ModelWidths, seq: number, bytesPerValue: number): number {
  return bytesPerValue * (6 * h + 2 * m + 2 * heads * seq);
}

/** Settings of a budget; every limit may be absent. */
export interface BudgetSettings {
  widths: ModelWidths | null;
  /** Wanted time per batch (ms); null: no time bound. */
  targetMs: number | null;
  /** Activation memory per batch (bytes); null: no memory bound. */
  memoryBytes: number | null;
  /** 4 for fp32 activations, 2 for fp16. */
  bytesPerValue: number;
  /** Fixed cap in padded tokens. */
  maxTokens: number;
  /** Tokens a batch may take before any batch was timed (the first window's batches: a fast first vector). */
  startTokens: number;
}

/** Which limit sets the budget, for info.reasons. */
export type BudgetLimit = 'time' | 'memory' | 'maxBatchTokens' | 'start';

/** A token budget that learns from timed batches. */
export interface BatchBudget {
  /** Tokens a batch padded to `seq` may take (at least `seq`: a batch of one always fits). */
  tokensAt(seq: number): number;
  /** Which limit decides at `seq` now. */
  limitAt(seq: number): BudgetLimit;
  /** Records a finished batch: rows x seq tokens in `ms` of wall time. */
  observe(rows: number, seq: number, ms: number): void;
  /** Learned ms per unit of compute (null until a batch was timed). */
  readonly msPerCost: number | null;
}

/** Weight of the newest batch in the running estimate: quick to follow a change, calm over noise. */
const EWMA = 0.3;

/** Creates a budget; pure apart from what `observe` is told. */
export function createBatchBudget(settings: BudgetSettings): BatchBudget {
  let msPerCost: number | null = null;
  const limits = (seq: number): [BudgetLimit, number][] => {
    const out: [BudgetLimit, number][] = [['maxBatchTokens', settings.maxTokens]];
    const w = settings.widths;
    if (w && settings.memoryBytes !== null) out.push(['memory', settings.memoryBytes / activationBytesPerToken(w, seq, settings.bytesPerValue)]);
    if (w && settings.targetMs !== null) {
      out.push(msPerCost === null ? ['start', settings.startTokens] : ['time', settings.targetMs / (msPerCost * tokenCost(w, seq))]);
    }
    return out;
  };
  const smallest = (seq: number) => limits(seq).reduce((a, b) => (b[1] < a[1] ? b : a));
  return {
    tokensAt: (seq) => Math.max(seq, Math.floor(smallest(seq)[1])),
    limitAt: (seq) => smallest(seq)[0],
    observe(rows, seq, ms) {
      const w = settings.widths;
      if (!w || rows <= 0 || !(ms > 0)) return;
      let sample = ms / (rows * seq * tokenCost(w, seq));
      // A batch's wall time can include a stall that is not the device's (the thread that sees
      // it finish was busy, e.g. tokenizing a window): one sample moves the estimate at most 2x,
      // so a stall does not shrink the budget, while a device that really slowed is followed
      // within a few batches.
      if (msPerCost !== null) sample = Math.min(sample, 2 * msPerCost);
      msPerCost = msPerCost === null ? sample : (1 - EWMA) * msPerCost + EWMA * sample;
    },
    get msPerCost() {
      return msPerCost;
    },
  };
}
