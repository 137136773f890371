import { once } from 'node:events'
import { Worker } from 'node:worker_threads'

/** Starts bench/server.js in a worker; returns its origin, its peak concurrency (reset on read), and a stop function. */
export async function startServerThread(
  delayMs: number,
): Promise<{ origin: string; peak(): Promise<number>; stop(): Promise<void> }> {
  const worker = new Worker(new URL('./server.js', import.meta.url), { workerData: { delayMs } })
  const [port] = (await once(worker, 'message')) as [number]
  return {
    origin: `http://127.0.0.1:${port}`,
    async peak() {
      worker.postMessage('peak')
      const [peak] = (await once(worker, 'message')) as [number]
      return peak
    },
    async stop() {
      worker.postMessage('stop')
      await once(worker, 'exit')
    },
  }
}
