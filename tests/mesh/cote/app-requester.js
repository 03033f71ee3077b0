// A cote Requester asking a Cocaine app bridged by services/mesh_bridge.py
// (the echo example): "ping", "echo" with a body, and "fail"; prints each
// outcome as one JSON line, exits.
const cote = require('cote')
const { options, out, giveUp } = require('./common')

const requester = new cote.Requester({ name: 'cote-app-requester' }, options)
giveUp(+(process.env.COTE_GIVE_UP || 30))
async function main() {
  out({ event: 'result', type: 'ping', result: await requester.send({ type: 'ping' }) })
  out({ event: 'result', type: 'echo',
        result: await requester.send({ type: 'echo', a: [1, 'two'], b: { c: null } }) })
  try {
    await requester.send({ type: 'fail' })
    out({ event: 'result', type: 'fail', result: 'no error' })
  } catch (err) {
    out({ event: 'error', type: 'fail', code: err.code, message: err.message })
  }
  process.exit(0)
}
main()
