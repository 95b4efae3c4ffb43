"""Screenshots of the main screens for README.md, taken in headless Chromium from the Odoo demo
(run by `bash scripts/demo.sh --odoo --screenshots`, which sets the demo up, serves it, runs
this with Odoo's Python (it has websocket-client) and stops it).

Usage: screenshots.py URL DB OUT_DIR
Each screen is opened as a user opens it (logged in as admin, the demo company), waited for
until its content is on the page, and saved as OUT_DIR/<name>.png.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests
import websocket

WIDTH, HEIGHT = 1440, 900


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """Just enough of the Chrome DevTools protocol: navigate, evaluate, wait, screenshot."""

    def __init__(self):
        binary = shutil.which("chromium") or shutil.which("google-chrome") or shutil.which("chrome")
        if not binary:
            sys.exit("screenshots: Chromium is not installed (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="ksef-shots-")
        port = free_port()
        self.process = subprocess.Popen([  # noqa: S603 - our own arguments
            binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", "--user-data-dir=%s" % self.profile,
            "--remote-debugging-port=%d" % port, "--window-size=%d,%d" % (WIDTH, HEIGHT),
            "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _attempt in range(100):
            try:
                targets = requests.get("http://127.0.0.1:%d/json" % port, timeout=2).json()
                page = next(t for t in targets if t.get("type") == "page")
                break
            except (requests.RequestException, StopIteration, ValueError):
                time.sleep(0.2)
        else:
            sys.exit("screenshots: Chromium did not start")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        self.ids = 0
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT,
                  deviceScaleFactor=1, mobile=False)

    def call(self, method, **params):
        self.ids += 1
        self.ws.send(json.dumps({"id": self.ids, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.ids:
                if "error" in message:
                    raise RuntimeError("%s: %s" % (method, message["error"]))
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression, timeout=60, what=""):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.evaluate("!!(%s)" % expression):      # a DOM node has no JSON value
                return
            time.sleep(0.3)
        where = self.evaluate("location.href + ' | ' + document.title + ' | ' + "
                              "(document.body ? document.body.innerText.slice(0, 300) : '')")
        raise RuntimeError("screenshots: timed out waiting for %s (page: %s)" % (what or expression, where))

    def goto(self, url, ready, what):
        self.call("Page.navigate", url=url)
        time.sleep(0.5)
        self.wait_for(ready, what=what)
        time.sleep(1.0)     # fonts, images (QR codes), the last layout pass

    def shot(self, path, full=False):
        params = {"format": "png"}
        if full:        # a report: the whole page, not just the window
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={
                "x": 0, "y": 0, "width": WIDTH, "height": min(int(size["height"]) + 20, 2400), "scale": 1})
        data = self.call("Page.captureScreenshot", **params)["data"]
        import base64

        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))
        print("screenshot: %s" % path)

    def close(self):
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            self.process.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)


def rpc_session(url, db):
    session = requests.Session()
    session.post(url + "/web/session/authenticate", timeout=30, json={
        "jsonrpc": "2.0", "params": {"db": db, "login": "admin", "password": "admin"}}).raise_for_status()

    def search(model, domain, fields=("id",), limit=1):
        answer = session.post(url + "/web/dataset/call_kw", timeout=60, json={
            "jsonrpc": "2.0", "params": {"model": model, "method": "search_read", "args": [domain],
                                         "kwargs": {"fields": list(fields), "limit": limit}}}).json()
        return answer["result"]
    return search


def main(url, db, out):
    os.makedirs(out, exist_ok=True)
    search = rpc_session(url, db)
    offline = search("account.move", [("l10n_pl_ksef_mode", "=", "offline24")])[0]["id"]
    accepted = search("account.move", [("l10n_pl_ksef_state", "=", "accepted"),
                                       ("move_type", "=", "out_invoice")])[0]["id"]
    bill = search("account.move", [("l10n_pl_ksef_imported", "=", True)])[0]["id"]
    config = search("l10n_pl_ksef.config", [("state", "=", "connected")])[0]["id"]
    menu = search("ir.model.data", [("module", "=", "account"), ("name", "=", "menu_finance")],
                  ("res_id",))[0]["res_id"]       # the Invoicing app in the navbar
    browser = Browser()
    try:
        browser.goto(url + "/web/login?db=%s" % db, "document.querySelector('input[name=login]')",
                     "the login form")
        browser.evaluate("""(() => {
            document.querySelector('input[name=login]').value = 'admin';
            document.querySelector('input[name=password]').value = 'admin';
            document.querySelector('form').submit(); return true; })()""")
        browser.wait_for("document.querySelector('.o_main_navbar')", what="the web client")
        listed = "document.querySelectorAll('.o_list_view .o_data_row').length > 3"
        browser.goto(url + "/odoo/action-account.action_move_out_invoice_type?menu_id=%d" % menu, listed,
                     "the invoices list")
        browser.shot(os.path.join(out, "invoices-list.png"))
        form = "document.querySelector('.o_form_view .o_field_widget[name=l10n_pl_ksef_status]')"
        invoices = url + "/odoo/action-account.action_move_out_invoice_type"
        browser.goto(invoices + "/%d?menu_id=%d" % (offline, menu), form,
                     "the offline invoice")
        browser.shot(os.path.join(out, "invoice-offline.png"))
        qr = "document.querySelectorAll('[data-ksef-code] img').length >= 2"
        browser.goto(url + "/report/html/account.report_invoice/%d" % offline, qr,
                     "the offline invoice's QR codes")
        browser.shot(os.path.join(out, "invoice-offline-pdf.png"), full=True)
        browser.goto(url + "/report/html/account.report_invoice/%d" % accepted,
                     "document.querySelector('[data-ksef-code] img')", "the accepted invoice's QR code")
        browser.shot(os.path.join(out, "invoice-accepted-pdf.png"), full=True)
        settings = ("document.querySelector("
                    "'.o_form_view button[name=action_l10n_pl_ksef_open_connect_wizard]')")
        browser.goto(url + "/odoo/action-l10n_pl_ksef.l10n_pl_ksef_config_action/%d?menu_id=%d"
                     % (config, menu), settings,
                     "the KSeF settings")
        browser.shot(os.path.join(out, "ksef-settings.png"))
        browser.evaluate(settings + ".click() || true")
        browser.wait_for("document.querySelector('.modal .o_form_view')", what="the connect wizard")
        time.sleep(1.0)
        browser.shot(os.path.join(out, "connect-wizard.png"))
        browser.goto(url + "/report/html/l10n_pl_ksef.report_ksef_invoice_visualisation/%d" % bill,
                     "document.querySelector('.o_l10n_pl_ksef_visualisation table')",
                     "the FA(3) visualisation")
        browser.shot(os.path.join(out, "bill-visualisation.png"), full=True)
    finally:
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
