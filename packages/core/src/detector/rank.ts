import type { Driver, ProbeResult } from '../driver/driver.js';
import type { Candidate, Detection, DetectionOverride } from './detection.js';
import type { ProbeOutcome } from './probe-cache.js';

/** One probed driver, before ranking. */
export interface Probed {
  /** The driver. */
  readonly driver: Driver;
  /** Its probe's outcome. */
  readonly outcome: ProbeOutcome;
}

/**
 * Chooses the winner among probed drivers and explains every loser.
 *
 * With an override, the first driver of that name wins if it is installed and healthy,
 * whatever its score; otherwise nothing wins. Without one, the installed, healthy driver
 * with the highest score above 0 wins, the earliest in `probed` on a tie.
 */
export function rankCandidates(probed: readonly Probed[], override?: DetectionOverride): Detection {
  const usable = (p: ProbeResult) => p.installed && p.healthy;
  let chosen: Probed | undefined;
  let requested: Probed | undefined;
  if (override) {
    requested = probed.find((p) => p.driver.name === override.name);
    if (requested && usable(requested.outcome.probe)) chosen = requested;
  } else {
    for (const p of probed) {
      const { probe } = p.outcome;
      if (usable(probe) && probe.score > 0 && (!chosen || probe.score > chosen.outcome.probe.score))
        chosen = p;
    }
  }

  const verdict = (p: Probed): string | undefined => {
    if (p === chosen) return undefined;
    const { probe } = p.outcome;
    if (override && p !== requested) {
      return `not requested (${override.source === 'env' ? 'CVMWEB_DRIVER' : 'prefer'}=${override.name})`;
    }
    if (!probe.installed) return `not installed: ${probe.reason ?? 'no reason given'}`;
    if (!probe.healthy) return `unhealthy: ${probe.reason ?? 'no reason given'}`;
    if (probe.score <= 0) return `score ${probe.score}: selected only explicitly`;
    const best = chosen!;
    const bestScore = best.outcome.probe.score;
    return probe.score < bestScore
      ? `lower score (${probe.score}) than ${best.driver.name} (${bestScore})`
      : `same score (${probe.score}) as ${best.driver.name}, which comes first`;
  };

  const rank = (p: Probed): number => {
    if (p === chosen || (override && p === requested)) return 0;
    const { probe } = p.outcome;
    if (usable(probe)) return 1;
    return probe.installed ? 2 : 3;
  };

  const candidates: Candidate[] = probed.map((p) => {
    const rejected = verdict(p);
    return {
      driver: p.driver,
      name: p.driver.name,
      probe: p.outcome.probe,
      durationMs: p.outcome.durationMs,
      cached: p.outcome.cached,
      selected: p === chosen,
      ...(rejected === undefined ? {} : { rejected }),
    };
  });
  const order = new Map(candidates.map((c, i) => [c, probed[i]!] as const));
  candidates.sort((a, b) => {
    const pa = order.get(a)!;
    const pb = order.get(b)!;
    const byRank = rank(pa) - rank(pb);
    if (byRank !== 0 || rank(pa) !== 1) return byRank;
    return b.probe.score - a.probe.score;
  });

  const winner = candidates.find((c) => c.selected);
  return {
    ...(winner ? { winner } : {}),
    candidates,
    ...(override ? { override } : {}),
  };
}
