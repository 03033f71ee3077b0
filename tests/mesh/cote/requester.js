// A cote Requester for the interop tests: asks "add" and "fail" of whatever
// responder it discovers, prints each outcome as one JSON line, exits.
const cote = require('cote')
const { options, out, giveUp } = require('./common')

const requester = new cote.Requester(
  { name: 'cote-requester', key: process.env.COTE_KEY, namespace: process.env.COTE_NAMESPACE },
  options
)
giveUp(+(process.env.COTE_GIVE_UP || 20))
async function main() {
  const sum = await requester.send({ type: 'add', a: 2, b: 3 })
  out({ event: 'result', type: 'add', result: sum })
  try {
    await requester.send({ type: 'fail' })
    out({ event: 'result', type: 'fail', result: 'no error' })
  } catch (err) {
    out({ event: 'error', type: 'fail', error: err })
  }
  if (!process.env.COTE_STAY) process.exit(0) // COTE_STAY: keep reporting to monitors
}
main()
