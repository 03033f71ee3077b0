// The cote side of tests/mesh/test_sockend.py: a Responder that a Sockend
// exposes (it advertises respondsTo: "add" answers a + b, "fail" rejects
// with an Error, which cote sends as {}), and a Publisher of "news" (it
// advertises broadcasts) publishing {n, from} every 100 ms; both in the
// namespace COTE_NAMESPACE (default: none). Runs until killed.
const cote = require('cote')
const { options, out } = require('./common')

const namespace = process.env.COTE_NAMESPACE
const responder = new cote.Responder(
  { name: 'cote-sockend-responder', namespace, respondsTo: ['add', 'fail'] },
  options
)
responder.on('add', req => Promise.resolve(req.a + req.b))
responder.on('fail', () => Promise.reject(new Error('cote says no')))

const publisher = new cote.Publisher(
  { name: 'cote-sockend-publisher', namespace, broadcasts: ['news'] },
  options
)
let n = 0
setInterval(() => publisher.publish('news', { n: n++, from: 'cote' }), 100)

let bound = 0
const ready = () => { if (++bound == 2) out({ event: 'ready' }) }
responder.sock.on('bind', ready)
publisher.sock.sock.on('bind', ready)
