import { ancestorSums } from "./ancestor-sums.js";
import type { CommitGraph } from "./graph.js";

export interface PlanInput {
  graph: CommitGraph;
  /** Commits that can still hold the culprit (a convex set). */
  member: Uint8Array;
  /** Weight of each member: 1 for counting, posterior mass in flaky mode. */
  mass: Float64Array;
  /** Whether a commit may be probed now (untested, not skipped, not running). */
  eligible: (i: number) => boolean;
  /** Probes still running: they already split the range, so new probes fill the other parts. */
  pending: readonly number[];
  /** How many new probes to choose. */
  count: number;
}

/**
 * Chooses up to `count` probes that split the range into parts of (nearly) equal mass,
 * counting running probes as dividers — LUCI's n-section, generalised to a DAG.
 *
 * The members are grouped by which running probes they are ancestors of. Each new probe goes to
 * the group whose parts would stay largest (mass / (probes + 1)); inside a group, the t-th of d
 * probes is the commit whose ancestors in that group weigh closest to t/(d+1) of it. With one
 * probe and nothing running, this is git's rule: maximise min(w, N − w).
 */
export function planProbes(input: PlanInput): number[] {
  const { graph, member, mass, eligible, pending, count } = input;
  const n = graph.size;
  if (count <= 0) return [];

  // Group members by their signature over (at most 30) running probes.
  const groupOf = new Int32Array(n).fill(-1);
  const signatureGroup = new Map<number, number>();
  const groupMass: number[] = [];
  const groupEligible: number[] = [];
  const dividers = pending.slice(0, 30);
  const inAncestors = dividers.map((p) => graph.ancestors([p]));
  for (let i = 0; i < n; i++) {
    if (!member[i]) continue;
    let signature = 0;
    inAncestors.forEach((a, b) => {
      if (a[i]) signature |= 1 << b;
    });
    let g = signatureGroup.get(signature);
    if (g === undefined) {
      g = groupMass.length;
      signatureGroup.set(signature, g);
      groupMass.push(0);
      groupEligible.push(0);
    }
    groupOf[i] = g;
    groupMass[g]! += mass[i]!;
    if (eligible(i)) groupEligible[g]!++;
  }

  // Hand out the probes, largest remaining part first.
  const probesIn = groupMass.map(() => 0);
  for (let t = 0; t < count; t++) {
    let best = -1;
    for (let g = 0; g < groupMass.length; g++) {
      if (probesIn[g]! >= groupEligible[g]!) continue;
      if (best < 0 || groupMass[g]! / (probesIn[g]! + 1) > groupMass[best]! / (probesIn[best]! + 1)) best = g;
    }
    if (best < 0 || groupMass[best]! <= 0) break;
    probesIn[best]!++;
  }

  const chosen: number[] = [];
  probesIn.forEach((d, g) => {
    if (d === 0) return;
    const inGroup = new Uint8Array(n);
    const groupWeights = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      if (groupOf[i] === g) {
        inGroup[i] = 1;
        groupWeights[i] = mass[i]!;
      }
    }
    const below = ancestorSums(graph, inGroup, groupWeights);
    const taken = new Set<number>();
    for (let t = 1; t <= d; t++) {
      const target = (t * groupMass[g]!) / (d + 1);
      let best = -1;
      let bestGap = Infinity;
      for (let i = 0; i < n; i++) {
        if (!inGroup[i] || taken.has(i) || !eligible(i)) continue;
        const gap = Math.abs(below[i]! - target);
        // On a tie, prefer the commit nearer the bad end (as git's list order does).
        if (gap < bestGap || (gap === bestGap && i > best)) {
          best = i;
          bestGap = gap;
        }
      }
      if (best < 0) break;
      taken.add(best);
      chosen.push(best);
    }
  });
  return chosen;
}
