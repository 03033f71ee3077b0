// A cote Subscriber for the interop tests: prints the first publication on
// "news" as one JSON line and exits.
const cote = require('cote')
const { options, out, giveUp } = require('./common')

const subscriber = new cote.Subscriber(
  { name: 'cote-subscriber', key: process.env.COTE_KEY, namespace: process.env.COTE_NAMESPACE,
    subscribesTo: ['news'] },
  options
)
giveUp(+(process.env.COTE_GIVE_UP || 20))
subscriber.on('news', data => {
  out({ event: 'publication', topic: 'news', data })
  process.exit(0)
})
