// cote 1.2.0 as a peer of bench.compare: a Responder answering `echo`,
// and a Requester load generator printing the JSON line of
// bench/compare/stats.py. cote has no streaming replies.
//
//   node cote_peer.js server
//   node cote_peer.js client --size BYTES --requests N --inflight K
//
// Run inside a network namespace with only lo up: discovery broadcasts to
// 127.255.255.255.
const cote = require('cote')
const opts = { broadcast: '127.255.255.255', log: false, statusLogsEnabled: false }
const now = () => Number(process.hrtime.bigint()) / 1e9

function arg (name, fallback) {
  const at = process.argv.indexOf('--' + name)
  return at < 0 ? fallback : Number(process.argv[at + 1])
}

function server () {
  const rep = new cote.Responder({ name: 'compare-rep', respondsTo: ['echo'] }, opts)
  rep.on('echo', req => Promise.resolve(req.payload))
  rep.sock.on('bind', () => process.stdout.write('ready\n'))
}

function percentile (ordered, fraction) {
  return ordered[Math.min(ordered.length - 1, Math.floor(ordered.length * fraction))]
}

function keepInFlight (call, requests, window) {
  return new Promise(resolve => {
    const latencies = []
    let sent = 0; let ended = 0; let errors = 0; let first = null
    const began = now()
    const finish = () => {
      ended++
      if (sent < requests) send()
      else if (ended === requests) {
        const elapsed = now() - began
        latencies.sort((a, b) => a - b)
        resolve({
          requests, errors, elapsed, rate: requests / elapsed,
          p50_us: percentile(latencies, 0.5) * 1e6,
          p99_us: percentile(latencies, 0.99) * 1e6,
          first_error: first
        })
      }
    }
    const send = () => {
      sent++
      const start = now()
      call().then(() => { latencies.push(now() - start); finish() },
        err => { errors++; if (first === null) first = String(err && err.message); finish() })
    }
    for (let i = 0; i < Math.min(window, requests); i++) send()
  })
}

async function client () {
  const size = arg('size', 16); const requests = arg('requests', 10000)
  const inflight = arg('inflight', 1)
  const payload = 'x'.repeat(size)
  const req = new cote.Requester({ name: 'compare-req', requests: ['echo'] }, opts)
  const call = () => req.send({ type: 'echo', payload }).then(reply => {
    if (reply !== payload) throw new Error('echo answered ' + typeof reply)
  })
  await call()
  const warm = Math.min(1000, Math.max(Math.floor(requests / 10), 10))
  for (let i = 0; i < warm; i++) await call()
  if (process.argv.includes('--announce')) process.stdout.write('timed\n')
  const result = await keepInFlight(call, requests, inflight)
  process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(0)
}

if (process.argv[2] === 'server') server()
else client()
