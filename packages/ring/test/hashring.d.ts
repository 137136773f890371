// Types for the peer we test against (hashring@3 ships none); only what the tests and bench use.
declare module 'hashring' {
  export default class HashRing {
    constructor(
      servers: string[] | Record<string, number | { weight: number }>,
      algorithm?: string,
      options?: Record<string, unknown>,
    )
    get(key: string): string
    range(key: string, size?: number, unique?: boolean): string[]
    add(servers: string | string[]): this
    remove(server: string): this
  }
}
