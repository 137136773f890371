import { ConfigError } from './errors.js'

/** A parsed target: where to connect and the `target` label it is reported under. */
export interface Target {
  /** As given, normalised: `unix:/abs/path.sock` or `http://host:port`. The `target` label. */
  readonly url: string
  /** Origin undici connects to (`http://localhost` for Unix sockets, where only the socket matters). */
  readonly origin: string
  readonly socketPath?: string
  /** Picked up from `--discover-dir` (and dropped when its socket goes away), rather than configured. */
  readonly discovered: boolean
}

/** Parses `unix:/path.sock` or `http://host:port`; throws `ConfigError` naming `where`. */
export function parseTarget(value: string, where: string, discovered = false): Target {
  if (value.startsWith('unix:')) {
    const socketPath = value.slice('unix:'.length).replace(/^\/\/(?=\/)/, '')
    if (!socketPath.startsWith('/')) {
      throw new ConfigError(
        where,
        `${JSON.stringify(value)}: a Unix socket target needs an absolute path, e.g. unix:/run/beamline/app.sock`,
      )
    }
    return { url: `unix:${socketPath}`, origin: 'http://localhost', socketPath, discovered }
  }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError(
      where,
      `${JSON.stringify(value)} is not a URL; use unix:/path.sock or http://host:port`,
    )
  }
  if (url.protocol !== 'http:') {
    throw new ConfigError(
      where,
      `${JSON.stringify(value)}: unsupported scheme '${url.protocol}'; use unix:/path.sock or http://host:port`,
    )
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new ConfigError(
      where,
      `${JSON.stringify(value)}: give only http://host:port; the snapshot path is fixed`,
    )
  }
  return { url: url.origin, origin: url.origin, discovered }
}
