// @wmfs/statebox (Node ASL interpreter, in-memory DAO, nothing durable): time one benchmark shape.
//
//   node statebox_shapes.js chain N            one execution of an N-state chain of Pass states
//   node statebox_shapes.js concurrent E L     E executions of an L-state Pass chain, started together
//   node statebox_shapes.js map N              one execution of a Map over N items, iterator = one Pass
//
// Needs @wmfs/statebox on NODE_PATH (bench/engine/run.py sets it). Statebox knows only the legacy
// Map syntax (`Iterator`, no `ItemProcessor`) and has no MaxConcurrency.
// Prints one JSON line: {peer, shape, setup_s, seconds, units, ok, ...}; exits 1 if a check fails.
const Statebox = require('@wmfs/statebox')

function passChain (n) {
  const states = {}
  for (let i = 0; i < n; i++) {
    states[`S${i}`] = { Type: 'Pass', ...(i === n - 1 ? { End: true } : { Next: `S${i + 1}` }) }
  }
  return { StartAt: 'S0', States: states }
}

function mapFlow () {
  return {
    StartAt: 'Fan',
    States: {
      Fan: {
        Type: 'Map',
        ItemsPath: '$.items',
        Iterator: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } },
        End: true
      }
    }
  }
}

const sameJson = (a, b) => JSON.stringify(a) === JSON.stringify(b)

async function main () {
  const [shape, a, b] = process.argv.slice(2)
  const t0 = process.hrtime.bigint()
  const statebox = new Statebox({})
  await statebox.ready
  let definition, input, executions, units
  if (shape === 'chain') {
    const n = parseInt(a || '1000', 10)
    definition = passChain(n); input = { n: 0, tag: 'chain' }; executions = 1; units = n
  } else if (shape === 'concurrent') {
    const e = parseInt(a || '100', 10); const l = parseInt(b || '20', 10)
    definition = passChain(l); input = { n: 0, tag: 'concurrent' }; executions = e; units = e * l
  } else if (shape === 'map') {
    const n = parseInt(a || '10000', 10)
    definition = mapFlow(); input = { items: Array.from({ length: n }, (_, i) => i) }; executions = 1; units = n
  } else {
    throw new Error(`unknown shape ${shape}`)
  }
  await statebox.createStateMachines({ bench: definition }, {})
  const setup = Number(process.hrtime.bigint() - t0) / 1e9

  const t = process.hrtime.bigint()
  const started = []
  for (let i = 0; i < executions; i++) {
    started.push(await statebox.startExecution(input, 'bench', {}))
  }
  const done = await Promise.all(started.map(s => statebox.waitUntilStoppedRunning(s.executionName)))
  const seconds = Number(process.hrtime.bigint() - t) / 1e9

  let ok = done.every(d => d.status === 'SUCCEEDED')
  if (shape === 'map') {
    ok = ok && sameJson(done[0].ctx, input.items)
  } else {
    ok = ok && done.every(d => sameJson(d.ctx, input))
  }
  console.log(JSON.stringify({
    peer: 'statebox',
    shape,
    executions,
    units,
    setup_s: +setup.toFixed(4),
    seconds: +seconds.toFixed(4),
    statuses: [...new Set(done.map(d => d.status))],
    ok
  }))
  if (!ok) {
    console.error('check failed; first result:', JSON.stringify(done[0]).slice(0, 500))
    process.exit(1)
  }
}

main().catch(err => { console.error(err); process.exit(1) })
