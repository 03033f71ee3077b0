// A cote Responder for the interop tests: "add" answers a + b (a promise),
// "fail" rejects with an Error, "hang" never answers (and says so on
// stdout); runs until killed.
const cote = require('cote')
const { options, out } = require('./common')

const responder = new cote.Responder(
  { name: 'cote-responder', key: process.env.COTE_KEY, namespace: process.env.COTE_NAMESPACE },
  options
)
responder.on('add', req => Promise.resolve(req.a + req.b))
responder.on('fail', () => Promise.reject(new Error('cote says no')))
responder.on('hang', () => {
  out({ event: 'hanging' })
  return new Promise(() => {})
})
responder.sock.on('bind', () => out({ event: 'ready', port: responder.advertisement.port }))
