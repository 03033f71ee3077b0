// Discovery options shared by the cote helpers of tests/mesh/test_interop.py:
// loopback broadcast only (the tests run them inside a network namespace with
// only lo up), fast hellos, the secret from COTE_SECRET and a multicast
// group from COTE_MULTICAST when set.
const options = {
  broadcast: '127.255.255.255',
  port: +(process.env.COTE_DISCOVERY_PORT || 12345),
  helloInterval: 200,
  checkInterval: 1000,
  nodeTimeout: 2000,
  masterTimeout: 3000,
  log: false,
  statusLogsEnabled: false,
  statusInterval: +(process.env.COTE_STATUS_INTERVAL || 5000),
}
if (process.env.COTE_SECRET) options.key = process.env.COTE_SECRET
if (process.env.COTE_MULTICAST) {
  delete options.broadcast
  options.multicast = process.env.COTE_MULTICAST
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function giveUp(seconds) {
  setTimeout(() => {
    out({ event: 'gave-up' })
    process.exit(2)
  }, seconds * 1000)
}

module.exports = { options, out, giveUp }
