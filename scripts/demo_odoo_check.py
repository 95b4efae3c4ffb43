"""The Odoo demo's check (scripts/demo_odoo.sh --check): the served Odoo answers, admin logs in,
the invoices page loads, and the demo data is what README promises. Exit 1 otherwise.
Usage: demo_odoo_check.py URL DB"""
import sys
import time

import requests


def main(url, db):
    session = requests.Session()
    for _attempt in range(120):
        try:
            if session.get(url + "/web/login", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(1)
    else:
        sys.exit("demo check: Odoo did not answer on %s/web/login" % url)
    login = session.post(url + "/web/session/authenticate", timeout=30, json={
        "jsonrpc": "2.0", "params": {"db": db, "login": "admin", "password": "admin"}}).json()
    if not (login.get("result") or {}).get("uid"):
        sys.exit("demo check: admin / admin cannot log in: %s" % login.get("error"))
    page = session.get(url + "/odoo/action-account.action_move_out_invoice_type", timeout=60)
    if page.status_code != 200:
        sys.exit("demo check: the invoices page answered %s" % page.status_code)

    def search_read(model, domain, fields):
        answer = session.post(url + "/web/dataset/call_kw", timeout=60, json={
            "jsonrpc": "2.0", "params": {"model": model, "method": "search_read", "args": [domain],
                                         "kwargs": {"fields": fields}}}).json()
        if "error" in answer:
            sys.exit("demo check: %s" % answer["error"])
        return answer["result"]

    sales = search_read("account.move", [("move_type", "in", ("out_invoice", "out_refund"))],
                        ["name", "l10n_pl_ksef_state", "l10n_pl_ksef_mode", "l10n_pl_ksef_number"])
    accepted = [m for m in sales if m["l10n_pl_ksef_state"] == "accepted" and m["l10n_pl_ksef_number"]]
    offline = [m for m in sales if m["l10n_pl_ksef_mode"] == "offline24"]
    bills = search_read("account.move", [("l10n_pl_ksef_imported", "=", True)], ["name"])
    print("demo check: %d invoices accepted by KSeF, %d issued offline, %d bills imported"
          % (len(accepted), len(offline), len(bills)))
    if len(accepted) < 3 or not offline or not bills:
        sys.exit("demo check: the demo data is incomplete")
    print("demo check: passed")


if __name__ == "__main__":
    main(*sys.argv[1:3])
