/**
 * The load test's plan, shared by the bench (bench/webhooks.ts) and its load generators
 * (bench/webhooks/load.ts): the stages (k6-style ramps, holds and a soak), when each delivery is
 * due, and what it is (a `/bisect` command or a comment the App acknowledges and ignores, and for
 * which installation). Both sides compute the same plan from the same inputs, so the bench knows
 * which comments to seed in the GitHub double and which comment id a dispatch answers.
 */

/** One stage: the rate goes linearly from `fromRate` to `toRate` (deliveries/s) over `seconds`. */
export interface Stage {
  name: string;
  kind: "ramp" | "hold" | "soak";
  fromRate: number;
  toRate: number;
  seconds: number;
}

/** What the deliveries are: one in `commandEvery` is a `/bisect` command, spread over the installations. */
export interface Mix {
  /** Every n-th delivery (0, n, 2n, …) is a command; 0: none. */
  commandEvery: number;
  installations: number;
}

/** Deliveries due in a stage: the integral of its rate, rounded down. */
export function stageCount(stage: Stage): number {
  return Math.floor(((stage.fromRate + stage.toRate) / 2) * stage.seconds + 1e-9);
}

/** Seconds from the start of the plan to the start of each stage, and the plan's end last. */
export function stageOffsets(stages: Stage[]): number[] {
  const offsets = [0];
  for (const stage of stages) offsets.push(offsets.at(-1)! + stage.seconds);
  return offsets;
}

/**
 * When each delivery is due, in seconds from the start of the plan, with its stage: the k-th
 * delivery of a stage goes when the stage's integral of rate reaches k (open loop).
 */
export function schedule(stages: Stage[]): { at: Float64Array; stage: Uint16Array } {
  const total = stages.reduce((n, s) => n + stageCount(s), 0);
  const at = new Float64Array(total);
  const stageOf = new Uint16Array(total);
  const offsets = stageOffsets(stages);
  let i = 0;
  stages.forEach((stage, index) => {
    const count = stageCount(stage);
    const slope = (stage.toRate - stage.fromRate) / stage.seconds;
    for (let k = 0; k < count; k++) {
      // r0·t + slope·t²/2 = k, solved for t (linear when the rate is constant).
      const t = Math.abs(slope) < 1e-12 ? k / stage.fromRate : (-stage.fromRate + Math.sqrt(stage.fromRate * stage.fromRate + 2 * slope * k)) / slope;
      at[i] = offsets[index]! + t;
      stageOf[i] = index;
      i++;
    }
  });
  return { at, stage: stageOf };
}

/**
 * Delivery i: a command or an ignored comment, the installation (index) it is for, and its place
 * among the deliveries of its kind (`nth`: the command's number, or the ignored comment's).
 */
export function deliveryKind(i: number, mix: Mix): { command: boolean; installation: number; nth: number } {
  if (mix.commandEvery > 0 && i % mix.commandEvery === 0) {
    const command = i / mix.commandEvery;
    return { command: true, installation: command % mix.installations, nth: command };
  }
  const ignored = mix.commandEvery > 0 ? i - Math.floor(i / mix.commandEvery) - 1 : i;
  return { command: false, installation: ignored % mix.installations, nth: ignored };
}

/**
 * The instance (of `instances`) a load balancer sends delivery i to: round robin, commands and
 * ignored comments each in turn. (Plain `i % instances` would send every command to the same
 * instances whenever `commandEvery` shares a factor with their number: with 1 in 10 and two
 * instances, all to the first.)
 */
export function targetOf(i: number, mix: Mix, instances: number): number {
  return deliveryKind(i, mix).nth % instances;
}

/** The issue the n-th command comments on (within its installation): one issue per 50 commands, so issues stay short. */
export function issueOf(commandIndex: number, mix: Mix): number {
  return 1 + Math.floor(commandIndex / (mix.installations * 50));
}

/** The stages of a run: ramp to each hold rate and hold it, then ramp to the soak rate and soak. */
export function plan(options: { holdRates: number[]; rampSeconds: number; holdSeconds: number; soakRate: number; soakSeconds: number }): Stage[] {
  const stages: Stage[] = [];
  let rate = 0;
  for (const target of options.holdRates) {
    stages.push({ name: `ramp ${rate}→${target}/s`, kind: "ramp", fromRate: rate, toRate: target, seconds: options.rampSeconds });
    stages.push({ name: `hold ${target}/s`, kind: "hold", fromRate: target, toRate: target, seconds: options.holdSeconds });
    rate = target;
  }
  if (options.soakSeconds > 0) {
    if (options.soakRate !== rate) {
      stages.push({ name: `ramp ${rate}→${options.soakRate}/s`, kind: "ramp", fromRate: rate, toRate: options.soakRate, seconds: options.rampSeconds });
    }
    stages.push({ name: `soak ${options.soakRate}/s`, kind: "soak", fromRate: options.soakRate, toRate: options.soakRate, seconds: options.soakSeconds });
  }
  return stages.filter((s) => s.seconds > 0);
}
