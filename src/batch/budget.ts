// Token budgets bounded in time and in memory, as functions of a batch's padded length. A batch of
// n texts padded to L tokens may take n x L <= tokensAt(L) tokens, where tokensAt is the smallest of:
//   - the time budget: a batch should take about `targetMs` (so a high-priority call waits about
//     one batch), learned from finished batches as a fixed cost per run plus ms per unit of compute;
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
  /** Learned fixed ms of every run, whatever its size (submit, read back, messages); 0 until seen. Counted only from a quarter of the target time up. */
  readonly msPerRun: number;
}

/** How much of the old estimate a new batch leaves: quick to follow a change, calm over noise. */
const KEEP = 0.7;
/** Run costs must spread this much (coefficient of variation) before a fixed cost is told from a slope. */
const SPREAD_FOR_FIXED_COST = 0.25;
/** A fixed cost counts in the time budget from this share of the target batch time up. */
const FIXED_COST_COUNTS = 0.25;

/**
 * Batch time as msPerRun + msPerCost x compute, fitted by least squares over the recent batches
 * (older ones weigh less). A purely proportional model fails where each run has a large fixed cost
 * (a software GPU, a slow read back): small batches look expensive per token, so the budget
 * shrinks, which makes them look more expensive still, until every batch holds one text.
 */
function createTimeModel(minFixedMs: number) {
  let n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  let fitted = 0;
  let fittedPerCost = 0;
  let perRun = 0;
  let perCost: number | null = null;
  return {
    get perCost() { return perCost; },
    /** The fixed cost counted: the fitted one where it reaches `minFixedMs`, else 0. */
    get perRun() { return perRun; },
    get fitted() { return fitted; },
    /** The fit's time for a run of `cost` (fixed cost included, however small). */
    predict: (cost: number) => fitted + fittedPerCost * cost,
    add(cost: number, ms: number) {
      n = KEEP * n + 1; sx = KEEP * sx + cost; sy = KEEP * sy + ms;
      sxx = KEEP * sxx + cost * cost; sxy = KEEP * sxy + cost * ms;
      const meanX = sx / n, meanY = sy / n;
      const varX = sxx / n - meanX * meanX;
      if (varX > (SPREAD_FOR_FIXED_COST * meanX) ** 2) {
        const slope = (sxy / n - meanX * meanY) / varX;
        // A fixed cost can be neither negative nor most of the mean batch's time; noise that says
        // otherwise keeps the last fixed cost.
        const fixed = meanY - slope * meanX;
        if (slope > 0 && fixed >= 0 && fixed <= 0.9 * meanY) fitted = fixed;
      }
      // A small fixed cost is left to the proportional model, which already converges on batches
      // of the target time; two parameters fitted to noisy batches would only add error to the
      // longest batches' estimate, which bound a high-priority call's wait.
      fittedPerCost = Math.max(meanY - fitted, 0.1 * meanY) / meanX;
      perRun = fitted >= minFixedMs ? fitted : 0;
      perCost = Math.max(meanY - perRun, 0.1 * meanY) / meanX;
    },
  };
}

/** Creates a budget; pure apart from what `observe` is told. */
export function createBatchBudget(settings: BudgetSettings): BatchBudget {
  const time = createTimeModel(settings.targetMs === null ? Infinity : FIXED_COST_COUNTS * settings.targetMs);
  /** Tokens at `seq` that take the target time: where the fixed cost is over half the target, batches take twice the fixed cost, so at least half of each run's time is compute. */
  const timeTokens = (w: ModelWidths, seq: number) => (Math.max(settings.targetMs!, 2 * time.perRun) - time.perRun) / (time.perCost! * tokenCost(w, seq));
  const limits = (seq: number): [BudgetLimit, number][] => {
    const out: [BudgetLimit, number][] = [['maxBatchTokens', settings.maxTokens]];
    const w = settings.widths;
    if (w && settings.memoryBytes !== null) out.push(['memory', settings.memoryBytes / activationBytesPerToken(w, seq, settings.bytesPerValue)]);
    if (w && settings.targetMs !== null) out.push(time.perCost === null ? ['start', settings.startTokens] : ['time', timeTokens(w, seq)]);
    return out;
  };
  const smallest = (seq: number) => limits(seq).reduce((a, b) => (b[1] < a[1] ? b : a));
  return {
    tokensAt: (seq) => Math.max(seq, Math.floor(smallest(seq)[1])),
    limitAt: (seq) => smallest(seq)[0],
    observe(rows, seq, ms) {
      const w = settings.widths;
      if (!w || rows <= 0 || !(ms > 0)) return;
      const cost = rows * seq * tokenCost(w, seq);
      // A batch's wall time can include a stall that is not the device's (the thread that sees
      // it finish was busy, e.g. tokenizing a window): one sample counts at most twice the time
      // predicted, so a stall does not shrink the budget, while a device that really slowed is
      // followed within a few batches.
      time.add(cost, time.perCost === null ? ms : Math.min(ms, 2 * time.predict(cost)));
    },
    get msPerCost() {
      return time.perCost;
    },
    get msPerRun() {
      return time.fitted;
    },
  };
}
