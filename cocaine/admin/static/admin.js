// The dashboard page: draws /api/overview once, then every snapshot of
// /api/events (server-sent events); charts with plotly.js (served from the
// installed plotly package); actions POST JSON to /api/....
// With auth on (the API answers 401) it asks for a token once, keeps it in
// sessionStorage (this tab only), sends it as "Authorization: token ..."
// with every fetch, and POSTs /api/login for the cookie that opens the
// event stream (EventSource cannot send headers).
'use strict'

const TOKEN = 'cocaine-admin-token'
let token = sessionStorage.getItem(TOKEN)

// fetch() with the token; a 401 shows the login form
async function call(path, options) {
  const headers = Object.assign({}, (options || {}).headers)
  if (token) headers.Authorization = 'token ' + token
  const r = await fetch(path, Object.assign({}, options, { headers }))
  if (r.status === 401) askToken()
  return r
}

function askToken() {
  document.getElementById('login').hidden = false
  document.getElementById('token').focus()
}

// the event stream's session cookie; false when the token is refused
async function login() {
  const r = await call('/api/login', { method: 'POST' })
  if (!r.ok) {
    const answer = await r.json().catch(() => ({}))
    say('login: ' + (answer.error || r.statusText), false)
    return false
  }
  return true
}

const KEEP = 120 // chart points kept per app
const cards = new Map() // app name -> {el, running, charts}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
    else node.setAttribute(k, v)
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c))
  return node
}

function fixed(v, digits) { return v == null ? '–' : v.toFixed(digits) }
function ms(seconds) { return seconds == null ? '–' : (seconds * 1000).toFixed(1) + ' ms' }
function mib(bytes) { return bytes == null ? '–' : (bytes / 1048576).toFixed(1) + ' MiB' }
function duration(s) {
  if (s == null) return '–'
  if (s < 60) return Math.floor(s) + ' s'
  if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.floor(s % 60) + ' s'
  return Math.floor(s / 3600) + ' h ' + Math.floor(s % 3600 / 60) + ' min'
}

function say(text, ok) {
  const m = document.getElementById('message')
  m.textContent = text
  m.className = ok ? 'ok' : 'error'
}

async function act(path, body) {
  try {
    const r = await call('/api/' + path, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
    })
    const answer = await r.json()
    if (!r.ok) { say(answer.error || r.statusText, false); return null }
    say(path + ': done', true)
    return answer
  } catch (e) {
    say(path + ': ' + e, false)
    return null
  }
}

const app = name => encodeURIComponent(name)

// -- nodes ----------------------------------------------------------------

function drawNodes(nodes) {
  const body = document.querySelector('#nodes tbody')
  body.replaceChildren(...nodes.map(n => {
    const apps = n.apps == null ? 'no load report yet'
      : Object.entries(n.apps).map(([a, l]) =>
        a + ' ' + fixed(l.score, 2)).join(', ') || 'no apps'
    return el('tr', { 'data-node': n.uuid, class: n.self ? 'self' : '' },
      el('td', {}, n.uuid + (n.self ? ' (this node)' : '')),
      el('td', {}, n.endpoint ? n.endpoint.join(':') : '–'),
      el('td', { class: 'num' }, n.cpu == null ? '–' : fixed(n.cpu, 0) + ' %'),
      el('td', {}, apps))
  }))
}

// -- apps -----------------------------------------------------------------

function chart(div, traces, title) {
  if (typeof Plotly === 'undefined') {
    div.textContent = 'charts need the plotly package on the node'
    return false
  }
  Plotly.newPlot(div, traces.map(name => ({ x: [], y: [], name, mode: 'lines' })), {
    title: { text: title, font: { size: 13 } },
    margin: { l: 45, r: 10, t: 30, b: 30 }, height: 200, width: 460,
    legend: { orientation: 'h', y: -0.2 }, xaxis: { type: 'date', tickformat: '%H:%M:%S' },
    yaxis: { rangemode: 'tozero' },
  }, { displayModeBar: false, responsive: false })
  return true
}

function extend(card, points) {
  if (!card.charts || !points.length) return
  const x = points.map(p => new Date(p.t * 1000))
  const ys = keys => keys.map(k => points.map(p => p[k] == null ? null
    : (k.startsWith('p') ? p[k] * 1000 : p[k])))
  Plotly.extendTraces(card.rps, { x: [x, x], y: ys(['rps', 'eps']) }, [0, 1], KEEP)
  Plotly.extendTraces(card.latency, { x: [x, x], y: ys(['p50', 'p99']) }, [0, 1], KEEP)
}

function newCard(view) {
  const name = view.name
  const card = { running: view.running, lastT: null }
  const head = el('div', { class: 'app-head' }, el('h3', {}, name),
    el('span', { class: 'state' }))
  if (view.running) {
    const size = el('input', { class: 'pool-size', type: 'number', min: '0',
      title: 'pool size' })
    head.append(
      el('button', { class: 'pause', onclick: () => act('apps/' + app(name) + '/pause') },
        'pause'),
      el('label', {}, 'pool ', size),
      el('button', { class: 'resize', onclick: () => {
        if (size.value === '') { say('give a pool size', false); return }
        act('apps/' + app(name) + '/pool', { size: Number(size.value) })
      } }, 'resize'),
      el('button', { class: 'autoscale', onclick: () =>
        act('apps/' + app(name) + '/pool', { size: null }) }, 'scale by load'))
  } else {
    const profile = el('input', { class: 'profile', list: 'profiles',
      placeholder: view.local ? 'profile (as before)' : 'profile' })
    head.append(profile, el('button', { class: 'start', onclick: () => {
      const body = profile.value ? { profile: profile.value } : {}
      act('apps/' + app(name) + '/start', body)
    } }, 'start'))
  }
  card.el = el('section', { class: 'app', 'data-app': name }, head)
  if (view.running) {
    const figure = (cls, label) => el('div', { class: cls }, el('b', {}, '–'), el('small', {}, label))
    const pool = el('div', { class: 'pool' }, el('b', {}, '–'), el('small', {}, 'pool'),
      el('div', { class: 'poolbar' }, el('span', { class: 'active' }),
        el('span', { class: 'idle' }), el('span', { class: 'starting' })))
    card.el.append(el('div', { class: 'figures' }, pool, figure('queue', 'queue'),
      figure('rps', 'req/s'), figure('eps', 'errors/s'), figure('p50', 'p50'),
      figure('p99', 'p99')))
    card.rps = el('div', { class: 'chart chart-rps' })
    card.latency = el('div', { class: 'chart chart-latency' })
    card.el.append(el('div', { class: 'charts' }, card.rps, card.latency))
    card.el.append(el('table', { class: 'workers' }, el('thead', {}, el('tr', {},
      ...['pid', 'state', 'load', 'uptime', 'RSS', 'CPU'].map(h => el('th', {}, h)))),
    el('tbody')))
  }
  card.el.append(el('ul', { class: 'crashlogs' }))
  return card
}

function setFigure(card, cls, text) {
  card.el.querySelector('.' + cls + ' b').textContent = text
}

function drawApp(card, view) {
  const state = card.el.querySelector('.state')
  state.textContent = view.state
  state.className = 'state ' + view.state
  card.el.dataset.state = view.state
  if (view.running) {
    const p = view.pool
    const limit = p.capacity || 1
    setFigure(card, 'pool', `${p.active}/${p.idle}/${p.starting} of ${p.capacity}` +
      (p.pinned == null ? '' : ` (pinned ${p.pinned})`))
    card.el.querySelector('.pool small').textContent = 'pool: active/idle/starting'
    for (const k of ['active', 'idle', 'starting']) {
      card.el.querySelector('.poolbar .' + k).style.width = (100 * (p[k] || 0) / limit) + '%'
    }
    setFigure(card, 'queue', `${view.queue.depth} / ${view.queue.capacity}`)
    const r = view.rates || {}
    setFigure(card, 'rps', fixed(r.rps, 1))
    setFigure(card, 'eps', fixed(r.eps, 1))
    setFigure(card, 'p50', ms(r.p50))
    setFigure(card, 'p99', ms(r.p99))
    const points = (view.history || (view.rates ? [view.rates] : []))
      .filter(pt => card.lastT == null || pt.t > card.lastT)
    if (points.length) {
      card.lastT = points[points.length - 1].t
      extend(card, points)
    }
    card.el.querySelector('.workers tbody').replaceChildren(...view.workers.map(w =>
      el('tr', { 'data-pid': w.pid },
        el('td', { class: 'num' }, w.pid == null ? '–' : w.pid), el('td', {}, w.state),
        el('td', { class: 'num' }, w.load == null ? '–' : w.load),
        el('td', { class: 'num' }, duration(w.uptime)), el('td', { class: 'num' }, mib(w.rss)),
        el('td', { class: 'num' }, w.cpu == null ? '–' : fixed(w.cpu, 1) + ' %'))))
  }
  const logs = card.el.querySelector('.crashlogs')
  logs.replaceChildren(...view.crashlogs.map(c => el('li', { 'data-key': c.key },
    el('a', { onclick: () => showCrashlog(view.name, c.key) },
      'crashlog ' + (c.time || c.key) + (c.node ? ' node ' + c.node : '') +
      ' worker ' + c.uuid), ' ',
    el('button', { class: 'remove', onclick: () =>
      act('crashlogs/' + app(view.name) + '/' + encodeURIComponent(c.key) + '/remove')
    }, 'remove'))))
}

async function showCrashlog(name, key) {
  const r = await call('/api/crashlogs/' + app(name) + '/' + encodeURIComponent(key))
  const answer = await r.json()
  if (!r.ok) { say(answer.error, false); return }
  const dialog = document.getElementById('crashlog')
  dialog.querySelector('h3').textContent = `${name}: ${answer.time || key}`
  dialog.querySelector('pre').textContent = answer.lines.join('\n')
  dialog.showModal()
}

function drawApps(views) {
  const box = document.getElementById('apps')
  const names = new Set(views.map(v => v.name))
  for (const [name, card] of cards) {
    if (!names.has(name)) { card.el.remove(); cards.delete(name) }
  }
  if (!views.length) box.replaceChildren(el('p', { class: 'empty' }, 'no apps'))
  else box.querySelector('.empty')?.remove()
  for (const view of views) {
    let card = cards.get(view.name)
    if (card && card.running !== view.running) {
      card.el.remove()
      card = null
    }
    if (!card) {
      card = newCard(view)
      cards.set(view.name, card)
      box.append(card.el)
      if (view.running) {
        card.charts = chart(card.rps, ['req/s', 'errors/s'], 'requests per second') &&
          chart(card.latency, ['p50', 'p99'], 'latency (ms)')
      }
    }
    drawApp(card, view)
  }
  // keep the server's order
  for (const view of views) box.append(cards.get(view.name).el)
}

function draw(snapshot) {
  document.getElementById('node-uuid').textContent = snapshot.uuid
  document.getElementById('updated').textContent =
    'updated ' + new Date(snapshot.time * 1000).toLocaleTimeString()
  document.getElementById('profiles').replaceChildren(
    ...snapshot.profiles.map(p => el('option', { value: p })))
  drawNodes(snapshot.nodes)
  drawApps(snapshot.apps)
}

let events = null

function listen() {
  const status = document.getElementById('status')
  if (events) events.close()
  events = new EventSource('/api/events')
  events.onopen = () => { status.textContent = 'live'; status.className = 'status live' }
  events.onerror = async () => {
    status.textContent = 'offline'; status.className = 'status offline'
    // refused (its session ended): log in again and reopen
    if (events.readyState === EventSource.CLOSED && token) {
      await new Promise(done => setTimeout(done, 2000))
      if (await login()) listen()
    }
  }
  events.onmessage = m => draw(JSON.parse(m.data))
}

async function main() {
  let r
  try {
    r = await call('/api/overview')
    if (r.status === 401) {
      if (token) say('the token was refused: give another', false)
      return
    }
    draw(await r.json())
  } catch (e) {
    say('overview: ' + e, false)
  }
  if (token && !(await login())) return
  listen()
}

document.getElementById('login').addEventListener('submit', async e => {
  e.preventDefault()
  token = document.getElementById('token').value.trim()
  sessionStorage.setItem(TOKEN, token)
  document.getElementById('token').value = ''
  document.getElementById('login').hidden = true
  say('', true)
  await main()
})

main()
