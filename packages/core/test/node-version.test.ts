import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MIN_NODE_VERSION, unsupportedNode } from '../src/index.js'

test('unsupportedNode names the version it needs and the one it got, from 22.12 on nothing', () => {
  assert.equal(unsupportedNode('20.20.2'), 'beamline needs Node ≥ 22.12 (this is 20.20.2)')
  assert.equal(unsupportedNode('22.11.0'), 'beamline needs Node ≥ 22.12 (this is 22.11.0)')
  assert.equal(unsupportedNode('18.0.0'), 'beamline needs Node ≥ 22.12 (this is 18.0.0)')
  for (const supported of [MIN_NODE_VERSION, '22.12.1', '22.20.0', '23.0.0', '24.9.0', '30.1.2'])
    assert.equal(unsupportedNode(supported), undefined, supported)
  // The running Node passed the check, or this file could not have been evaluated.
  assert.equal(unsupportedNode(), undefined)
})
