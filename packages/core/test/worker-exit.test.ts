import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Worker } from 'node:worker_threads'
import { onWorkerExit } from '../src/index.js'

function run(code: string): Worker {
  const worker = new Worker(code, { eval: true })
  worker.on('error', () => {})
  return worker
}

/** Resolves on 'exit' whatever the worker did before (events.once would reject on its 'error'). */
function exited(worker: Worker): Promise<void> {
  return new Promise((resolve) => worker.once('exit', () => setImmediate(resolve)))
}

test('onWorkerExit reports the threadId of a worker that ends, throws or is terminated', async () => {
  const target = {}
  const seen: number[] = []
  const stop = onWorkerExit(target, (t, id) => {
    assert.equal(t, target)
    seen.push(id)
  })
  const ends = run('')
  const throws = run('throw new Error("boom")')
  const hangs = run('setInterval(() => {}, 1000)')
  const ids = [ends.threadId, throws.threadId, hangs.threadId]
  await Promise.all([exited(ends), exited(throws), exited(hangs), hangs.terminate()])
  assert.deepEqual(seen.sort(), ids.sort())
  stop()
  const after = run('')
  await exited(after)
  assert.equal(seen.length, 3, 'a stopped listener is not called again')
})

test('onWorkerExit holds its target weakly', async () => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  let calls = 0
  ;(() => {
    onWorkerExit({}, () => calls++)
  })()
  // Collection needs the turn in which the WeakRef was made to end first.
  await new Promise((resolve) => setTimeout(resolve, 10))
  gc()
  await exited(run(''))
  assert.equal(calls, 0, 'the listener of a collected target ran')
})
