/** The dashboards and the files they are written to, in grafana/dashboards/. */
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard'
import { loadProtection } from './load-protection.js'
import { mailboxes } from './mailboxes.js'
import { overview } from './overview.js'

export interface DashboardFile {
  /** File name under grafana/dashboards/. */
  file: string
  build(): Dashboard
}

export const DASHBOARDS: readonly DashboardFile[] = [
  { file: 'beamline-overview.json', build: overview },
  { file: 'beamline-mailboxes.json', build: mailboxes },
  { file: 'beamline-load-protection.json', build: loadProtection },
]

/** The exact text written to disk (and compared with the checked-in file by the tests). */
export function dashboardJson(d: Dashboard): string {
  return `${JSON.stringify(d, null, 2)}\n`
}
