// A cote Monitor for the interop tests (screen disabled): prints "ready" once
// listening, then every status message it receives as one JSON line; runs
// until killed.
const cote = require('cote')
const { options, out } = require('./common')

const monitor = new cote.Monitor({ name: 'cote-monitor', key: process.env.COTE_KEY },
  { ...options, disableScreen: true })
monitor.sock.sock.on('bind', () => out({ event: 'ready', port: monitor.advertisement.port }))
monitor.on('status', status => out({ event: 'status', status }))
