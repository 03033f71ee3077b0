// Drives headless Chromium (Debian's /usr/bin/chromium) with playwright-core
// for tests/integration/test_admin_browser.py:
//   node admin.js URL SCREENSHOT PROFILE_DIR APP
// Opens the dashboard at URL and, each step waiting at most 60 s: sees APP
// running; sees its req/s chart draw a point above zero (the test sends
// requests meanwhile); pins its pool at 1 with the pool input and sees the
// page show it; saves a screenshot; pauses APP and sees it stopped.
// Prints one JSON line: {status, steps: [names done], rps: [chart values],
// pool, state, console}. Exits 0 even when a step failed: the test reads it.
// With $ADMIN_TOKEN (a node with auth on): sees the login form, gives it
// the token, sees APP running and pauses it (steps loaded, login, running,
// paused), and checks the token stayed in sessionStorage only.
const { chromium } = require('playwright-core')

const [url, screenshot, profile, app] = process.argv.slice(2)
const card = `[data-app="${app}"]`

async function main() {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 60000,
    viewport: { width: 1200, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  const messages = []
  const result = { status: 'failed', steps: [] }
  try {
    const page = context.pages()[0] || await context.newPage()
    page.on('console', m => messages.push(m.type() + ': ' + m.text()))
    page.on('pageerror', e => messages.push('pageerror: ' + e.message))
    const step = async (name, action) => {
      await action()
      result.steps.push(name)
    }
    await step('loaded', () => page.goto(url, { timeout: 30000 }))
    if (process.env.ADMIN_TOKEN) {
      await step('login', async () => {
        await page.waitForSelector('#login:not([hidden])', { timeout: 30000 })
        await page.fill('#token', process.env.ADMIN_TOKEN)
        await page.click('#login button[type="submit"]')
      })
      await step('running', () => page.waitForSelector(card + '[data-state="running"]',
        { timeout: 60000 }))
      await page.waitForSelector('#status.live', { timeout: 30000 })
      result.live = true
      result.stored = await page.evaluate(() => ({
        session: sessionStorage.getItem('cocaine-admin-token') !== null,
        local: localStorage.length, cookie: document.cookie }))
      await step('paused', async () => {
        await page.click(card + ' button.pause')
        await page.waitForSelector(card + '[data-state="stopped"]', { timeout: 60000 })
      })
      result.state = await page.getAttribute(card, 'data-state')
      result.status = 'done'
      return
    }
    await step('running', () => page.waitForSelector(card + '[data-state="running"]',
      { timeout: 60000 }))
    await step('chart moves', () => page.waitForFunction(
      sel => {
        const chart = document.querySelector(sel + ' .chart-rps')
        return chart && chart.data && chart.data[0].y.some(v => v > 0)
      }, card, { timeout: 60000 }))
    result.rps = await page.evaluate(
      sel => document.querySelector(sel + ' .chart-rps').data[0].y, card)
    await step('resized', async () => {
      await page.fill(card + ' input.pool-size', '1')
      await page.click(card + ' button.resize')
      await page.waitForFunction(
        sel => document.querySelector(sel + ' .pool b').textContent.includes('pinned 1'),
        card, { timeout: 60000 })
    })
    result.pool = await page.textContent(card + ' .pool b')
    // a few more points on the charts before the picture
    await page.waitForTimeout(3000)
    await page.screenshot({ path: screenshot, fullPage: true })
    await step('paused', async () => {
      await page.click(card + ' button.pause')
      await page.waitForSelector(card + '[data-state="stopped"]', { timeout: 60000 })
    })
    result.state = await page.getAttribute(card, 'data-state')
    result.message = await page.textContent('#message')
    result.status = 'done'
  } catch (e) {
    result.error = e.message.split('\n')[0]
  } finally {
    result.console = messages
    process.stdout.write(JSON.stringify(result) + '\n')
    await context.close()
  }
}

main().catch(e => {
  process.stdout.write(JSON.stringify({ status: 'driver failed', error: String(e.stack || e),
    console: [] }) + '\n')
  process.exit(1)
})
