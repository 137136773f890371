import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'

/** A socket file seen in the discovery directory; `id` changes when the file is recreated. */
export interface FoundSocket {
  readonly path: string
  readonly id: string
}

/**
 * Lists the Unix sockets in `dir`. Rescanned every poll cycle rather than watched: a readdir of a
 * small directory costs microseconds, and unlike fs.watch it behaves the same on every file system
 * (including the shared volumes of Kubernetes pods). A missing directory is an empty one.
 */
export async function scanSockets(dir: string): Promise<FoundSocket[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return []
  }
  const found: FoundSocket[] = []
  for (const name of names) {
    const path = join(dir, name)
    try {
      const st = await lstat(path)
      if (st.isSocket()) found.push({ path, id: `${st.ino}:${st.mtimeMs}` })
    } catch {
      // Removed between readdir and lstat.
    }
  }
  return found
}
