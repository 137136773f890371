// express 5 ships no types and @types/express is not installed; the tests use this much of it.
declare module 'express' {
  import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'

  type Handler = (
    req: IncomingMessage,
    res: ServerResponse & { send(body: string): void },
    next: () => void,
  ) => void
  interface App extends RequestListener {
    use(handler: Handler): void
    get(path: string, handler: Handler): void
  }
  export default function express(): App
}
