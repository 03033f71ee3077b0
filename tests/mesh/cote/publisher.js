// A cote Publisher for the interop tests: publishes {n} under "news" every
// 100 ms until killed.
const cote = require('cote')
const { options, out } = require('./common')

const publisher = new cote.Publisher(
  { name: 'cote-publisher', key: process.env.COTE_KEY, namespace: process.env.COTE_NAMESPACE,
    broadcasts: ['news'] },
  options
)
let n = 0
publisher.sock.sock.on('bind', () => out({ event: 'ready' }))
setInterval(() => publisher.publish('news', { n: n++, from: 'cote' }), 100)
