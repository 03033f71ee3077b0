// Drives headless Chromium (Debian's /usr/bin/chromium) with playwright-core
// for tests/mesh/test_sockend.py: node drive.js URL SCREENSHOT PROFILE_DIR.
// Opens URL, waits (at most 30 s) for #status to read "done", saves a
// screenshot and prints one JSON line: {status, cells: {id: text},
// transports: [of "/", of "/py"], console}.
// Exits 0 even when the page did not finish: the test reads the status.
const { chromium } = require('playwright-core')

const [url, screenshot, profile] = process.argv.slice(2)

async function main() {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 60000,
    viewport: { width: 1100, height: 560 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  const messages = []
  try {
    const page = context.pages()[0] || await context.newPage()
    page.on('console', m => messages.push(m.type() + ': ' + m.text()))
    page.on('pageerror', e => messages.push('pageerror: ' + e.message))
    await page.goto(url, { timeout: 20000 })
    try {
      await page.waitForFunction(
        () => document.getElementById('status').textContent == 'done', null, { timeout: 30000 })
    } catch (e) {
      messages.push('wait: ' + e.message.split('\n')[0])
    }
    await page.screenshot({ path: screenshot, fullPage: true })
    const result = await page.evaluate(() => ({
      status: document.getElementById('status').textContent,
      cells: Object.fromEntries(
        [...document.querySelectorAll('td.value')].map(td => [td.id, td.textContent])),
      transports: [document.getElementById('transport-root').textContent,
        document.getElementById('transport-py').textContent],
    }))
    result.console = messages
    process.stdout.write(JSON.stringify(result) + '\n')
  } finally {
    await context.close()
  }
}

main().catch(e => {
  process.stdout.write(JSON.stringify({ status: 'driver failed', error: String(e.stack || e),
    console: [] }) + '\n')
  process.exit(1)
})
