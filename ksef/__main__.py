"""Command line: ``python -m ksef emulator ...`` or ``python -m ksef demo ...``."""
import argparse
import sys
import time


def _emulator(argv):
    parser = argparse.ArgumentParser(prog="python -m ksef emulator",
                                     description="Run the local KSeF 2.0 emulator until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--schema-dir", default=None,
                        help="FA(3) XSD directory (default: the schema shipped in ksef/fa3/xsd)")
    parser.add_argument("--no-schema", action="store_true",
                        help="do not check received invoices against the FA(3) XSD")
    parser.add_argument("--db", default=None, help="SQLite file: state survives restarts")
    parser.add_argument("--rate-limits", default="off", choices=("off", "TEST", "TEST10", "PRD"))
    parser.add_argument("--processing-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    from .emulator import Emulator
    emu = Emulator(schema_dir=False if args.no_schema else args.schema_dir,
                   rate_limits=args.rate_limits, db_path=args.db,
                   processing_delay=args.processing_delay)
    url = emu.start(host=args.host, port=args.port)
    print("KSeF emulator listening on %s (Ctrl-C to stop)" % url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m ksef {emulator|demo} [options]")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "emulator":
        return _emulator(rest)
    if command == "demo":
        from .demo import main as demo_main
        return demo_main(rest)
    print("unknown command %r; use 'emulator' or 'demo'" % command, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
