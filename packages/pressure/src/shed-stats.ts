/**
 * Refusals counted by (route, reason), with a bounded label set so that a metric exported from it
 * cannot grow without limit: after `maxRoutes` distinct routes every new one counts as 'other', and
 * likewise for reasons (signal names, plus whatever callers of `recordShed` pass). Labels are also
 * cut to 100 characters.
 */
export const OTHER = 'other'
const MAX_LABEL = 100
const MAX_REASONS = 32

export interface ShedStat {
  route: string
  reason: string
  count: number
}

export class ShedCounter {
  readonly #byRoute = new Map<string, Map<string, number>>()
  readonly #reasons = new Set<string>()
  readonly #maxRoutes: number

  constructor(maxRoutes: number) {
    this.#maxRoutes = maxRoutes
  }

  record(route: string, reason: string): void {
    let label = String(route).slice(0, MAX_LABEL)
    let byReason = this.#byRoute.get(label)
    if (!byReason) {
      if (this.#byRoute.size >= this.#maxRoutes) label = OTHER
      byReason = this.#byRoute.get(label)
      if (!byReason) this.#byRoute.set(label, (byReason = new Map()))
    }
    let why = String(reason).slice(0, MAX_LABEL)
    if (!this.#reasons.has(why)) {
      if (this.#reasons.size >= MAX_REASONS) why = OTHER
      this.#reasons.add(why)
    }
    byReason.set(why, (byReason.get(why) ?? 0) + 1)
  }

  stats(): ShedStat[] {
    const out: ShedStat[] = []
    for (const [route, byReason] of this.#byRoute) {
      for (const [reason, count] of byReason) out.push({ route, reason, count })
    }
    return out
  }
}
