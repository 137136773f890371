/**
 * Open-loop load generator, forked by the demo: requests are sent on a fixed schedule whatever the
 * service does (a closed loop would slow down with the service and hide the overload), and latency
 * is measured from the scheduled send time, so queueing in the client counts too.
 *
 * IPC in: `{ start: LoadPlan }`. IPC out: `{ phase }` when a phase starts, `{ second }` after each
 * second, `{ done: { totals } }` at the end (per phase, by send time).
 */
import { performance } from 'node:perf_hooks'
import { Pool } from 'undici'
import { DEVICES } from '../messages.js'
import type { Phase } from './scenario.js'

export interface LoadPlan {
  target: string
  phases: Phase[]
  timeoutMs: number
  /** Distinct rooms the traffic spreads over (each is a mailbox of the service). Default 200. */
  rooms?: number
}

/** One second of the run, by scheduled time for `offered`, by completion time for the rest. */
export interface SecondStats {
  t: number
  phase: string
  offered: number
  /** 2xx */
  ok: number
  /** 503 / 429: refused by the service, quickly */
  shed: number
  /** other statuses, connection errors */
  failed: number
  /** no answer within the client timeout */
  timedOut: number
  /** Latency (ms) of each 2xx finished in this second. */
  latencies: number[]
}

/** Outcomes of the requests *sent* during one phase, whenever they finished. */
export interface PhaseTotals {
  offered: number
  ok: number
  shed: number
  failed: number
  timedOut: number
  /** still unanswered when the run ended */
  unfinished: number
  latencies: number[]
}

const ROOMS = 200

function run(plan: LoadPlan): void {
  const rooms = plan.rooms ?? ROOMS
  const pool = new Pool(plan.target, { connections: 512, keepAliveTimeout: 30_000 })
  const phaseEnds: number[] = []
  let end = 0
  for (const p of plan.phases) phaseEnds.push((end += p.seconds * 1000))
  const phaseIndexAt = (ms: number) => {
    const i = phaseEnds.findIndex((e) => ms < e)
    return i < 0 ? plan.phases.length - 1 : i
  }
  const seconds: SecondStats[] = []
  const bucket = (ms: number) => {
    const t = Math.min(Math.floor(ms / 1000), Math.ceil(end / 1000) - 1)
    seconds[t] ??= {
      t,
      phase: plan.phases[phaseIndexAt(t * 1000)]!.name,
      offered: 0,
      ok: 0,
      shed: 0,
      failed: 0,
      timedOut: 0,
      latencies: [],
    }
    return seconds[t]
  }
  const totals: PhaseTotals[] = plan.phases.map(() => ({
    offered: 0,
    ok: 0,
    shed: 0,
    failed: 0,
    timedOut: 0,
    unfinished: 0,
    latencies: [],
  }))
  const inFlight = new Map<AbortController, PhaseTotals>()
  let ended = false
  const start = performance.now()
  let sent = 0
  let phaseShown = -1
  let reported = 0
  let seq = 0

  function send(scheduledMs: number): void {
    const n = seq++
    // 10 % of the traffic goes to one hot room, the rest spreads over the plan's rooms.
    const room = n % 10 === 0 ? 'lobby' : `r${(n * 7919) % rooms}`
    const user = `u${(n * 104729) % 5000}`
    const body = JSON.stringify({ from: user, text: 'hello', device: DEVICES[n % DEVICES.length] })
    const abort = new AbortController()
    const phase = totals[phaseIndexAt(scheduledMs)]!
    inFlight.set(abort, phase)
    bucket(scheduledMs).offered++
    phase.offered++
    const timer = setTimeout(
      () => abort.abort(),
      Math.max(1, plan.timeoutMs - (performance.now() - start - scheduledMs)),
    )
    pool
      .request({
        path: `/rooms/${room}/messages`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: abort.signal,
      })
      .then(
        async ({ statusCode, body }) => {
          await body.dump()
          if (ended) return
          const now = performance.now() - start
          const s = bucket(now)
          if (statusCode < 300) {
            const latency = Math.round((now - scheduledMs) * 10) / 10
            s.ok++
            s.latencies.push(latency)
            phase.ok++
            phase.latencies.push(latency)
          } else if (statusCode === 503 || statusCode === 429) {
            s.shed++
            phase.shed++
          } else {
            s.failed++
            phase.failed++
          }
        },
        () => {
          if (ended) return
          const s = bucket(performance.now() - start)
          if (abort.signal.aborted) {
            s.timedOut++
            phase.timedOut++
          } else {
            s.failed++
            phase.failed++
          }
        },
      )
      .finally(() => {
        clearTimeout(timer)
        inFlight.delete(abort)
      })
  }

  /** Requests due by `ms` since the start: the integral of the rate over the phases. */
  function dueBy(ms: number): number {
    let due = 0
    let from = 0
    for (const p of plan.phases) {
      const to = from + p.seconds * 1000
      due += (p.rps * (Math.min(ms, to) - from)) / 1000
      if (ms <= to) break
      from = to
    }
    return Math.floor(due)
  }

  const tick = setInterval(() => {
    const now = Math.min(performance.now() - start, end)
    const i = phaseIndexAt(now)
    if (i !== phaseShown && now < end) {
      phaseShown = i
      process.send!({ phase: plan.phases[i]!.name })
    }
    // Spread the sends due since the last tick evenly over their scheduled times.
    const due = dueBy(now)
    const rate = plan.phases[i]!.rps
    for (; sent < due; sent++) send(Math.max(0, now - (due - sent - 1) * (1000 / rate)))
    // A second is reported once it is over (its completions are all counted by then).
    while (reported < Math.floor(now / 1000) || (now >= end && reported * 1000 < end)) {
      process.send!({ second: bucket(reported * 1000) })
      reported++
    }
    if (now >= end) {
      clearInterval(tick)
      // Whatever is still waiting now is abandoned: count it, do not wait for it.
      ended = true
      for (const [abort, phase] of inFlight) {
        phase.unfinished++
        abort.abort()
      }
      process.send!({ done: { totals } })
      void pool.destroy()
    }
  }, 2)
}

process.once('message', (msg: { start: LoadPlan }) => run(msg.start))
const stop = () => process.exit(0)
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
process.once('disconnect', stop)
